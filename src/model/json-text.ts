// JSON text read with the position of every object and array, which JSON.parse does not give: syntax errors get a
// line and column on every Node release, and DTDL's 1 MiB limit on an Interface's text is measured on the text.

export type Span = readonly [start: number, end: number];

export class JsonSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly column: number,
    readonly detail: string,
  ) {
    super(`not valid JSON (line ${line}, column ${column}): ${detail}`);
  }
}

/** Where reading stopped, and why when it is not a syntax error; parseJsonText turns it into a JsonSyntaxError. */
class ReadStop extends Error {
  constructor(
    readonly at: number,
    readonly detail?: string,
  ) {
    super(detail ?? `stopped at ${at}`);
  }
}

/** Deeper than any model needs; deeper JSON would overflow the reader's stack. */
const MAX_NESTING = 512;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// eslint-disable-next-line no-control-regex -- a JSON string holds no raw U+0000 to U+001F: the class leaves them out
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;

/** Where every object and array read from a text is in that text, for as long as the value lives. */
const spans = new WeakMap<object, Span>();

/** Where an object or array read by parseJsonText is in its text; undefined for values made otherwise. */
export function textSpanOf(node: object): Span | undefined {
  return spans.get(node);
}

class Reader {
  private i = 0;
  private depth = 0;

  constructor(private readonly text: string) {}

  document(): unknown {
    const value = this.value();
    this.space();
    if (this.i < this.text.length) this.fail();
    return value;
  }

  private fail(): never {
    throw new ReadStop(this.i);
  }

  private space(): void {
    const t = this.text;
    while (this.i < t.length) {
      const c = t.charCodeAt(this.i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      this.i++;
    }
  }

  private value(): unknown {
    this.space();
    const c = this.text[this.i];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (this.text.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.text);
    if (m === null) this.fail();
    this.i += m[0].length;
    return Number(m[0]);
  }

  private string(): string {
    STRING.lastIndex = this.i;
    const m = STRING.exec(this.text);
    if (m === null) this.scanBadString();
    this.i += m[0].length;
    return JSON.parse(m[0]) as string;
  }

  /** Moves to the character that breaks the string, for the error's position. */
  private scanBadString(): never {
    const t = this.text;
    this.i++;
    while (this.i < t.length && t[this.i] !== '"' && t.charCodeAt(this.i) >= 0x20) {
      if (t[this.i] === '\\') {
        const next = t[this.i + 1] ?? '';
        const hex = t.slice(this.i + 2, this.i + 6);
        const valid = next === 'u' ? /^[0-9a-fA-F]{4}$/.test(hex) : '"\\/bfnrt'.includes(next);
        if (!valid) this.fail();
        this.i += next === 'u' ? 6 : 2;
      } else this.i++;
    }
    this.fail();
  }

  private enter(): number {
    if (++this.depth > MAX_NESTING) {
      throw new ReadStop(this.i, `objects and arrays nested more than ${MAX_NESTING} levels deep`);
    }
    return this.i++;
  }

  private object(): Record<string, unknown> {
    const start = this.enter();
    const out: Record<string, unknown> = {};
    this.space();
    if (this.text[this.i] === '}') return this.close(out, start);
    for (;;) {
      this.space();
      if (this.text[this.i] !== '"') this.fail();
      const key = this.string();
      this.space();
      if (this.text[this.i] !== ':') this.fail();
      this.i++;
      // An own property, as JSON.parse makes it, even for "__proto__".
      Object.defineProperty(out, key, { value: this.value(), enumerable: true, writable: true, configurable: true });
      this.space();
      if (this.text[this.i] === ',') {
        this.i++;
        continue;
      }
      if (this.text[this.i] === '}') return this.close(out, start);
      this.fail();
    }
  }

  private array(): unknown[] {
    const start = this.enter();
    const out: unknown[] = [];
    this.space();
    if (this.text[this.i] === ']') return this.close(out, start);
    for (;;) {
      out.push(this.value());
      this.space();
      if (this.text[this.i] === ',') {
        this.i++;
        continue;
      }
      if (this.text[this.i] === ']') return this.close(out, start);
      this.fail();
    }
  }

  private close<T extends object>(node: T, start: number): T {
    this.i++;
    this.depth--;
    spans.set(node, [start, this.i]);
    return node;
  }
}

/**
 * Parses JSON text (a leading byte-order mark is skipped) as JSON.parse does, remembering where its objects and arrays
 * are (textSpanOf); throws JsonSyntaxError with the line and column.
 */
export function parseJsonText(raw: string): unknown {
  const text = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
  const reader = new Reader(text);
  try {
    return reader.document();
  } catch (thrown) {
    if (!(thrown instanceof ReadStop)) throw thrown;
    const { at, detail } = thrown;
    const before = text.slice(0, at);
    const line = before.split('\n').length;
    const column = at - before.lastIndexOf('\n');
    const next = JSON.stringify(text.slice(at, at + 12));
    const unexpected = at >= text.length ? 'unexpected end of file' : `unexpected ${next}`;
    const what = detail ?? unexpected;
    throw new JsonSyntaxError(line, column, what);
  }
}
