// The part of IoT Hub's query language the emulator answers (docs/protocol.md §8): `SELECT * FROM devices` or
// `FROM devices.modules`, with a WHERE of comparisons (=, !=, <>, <, >, <=, >=) between property paths and literals,
// AND, OR, NOT, parentheses and IS_DEFINED(path). Anything else is refused with a HubQueryError naming it.
// Pure: a parser and an evaluator over plain JSON documents.

/** A query the emulator cannot evaluate, or one that is not valid; the message says which part. */
export class HubQueryError extends Error {}

export type QueryValue = null | boolean | number | string | QueryValue[] | { [key: string]: QueryValue };

type CompareOp = '=' | '!=' | '<' | '>' | '<=' | '>=';

export type QueryOperand = { kind: 'path'; path: string[] } | { kind: 'literal'; value: QueryValue };

export type QueryCondition =
  | { kind: 'and' | 'or'; left: QueryCondition; right: QueryCondition }
  | { kind: 'not'; operand: QueryCondition }
  | { kind: 'compare'; op: CompareOp; left: QueryOperand; right: QueryOperand }
  | { kind: 'defined'; path: string[] };

export interface HubQuery {
  /** `devices`: device twins; `devices.modules`: module twins. */
  from: 'devices' | 'devices.modules';
  where?: QueryCondition;
}

/** The longest query accepted, in characters (IoT Hub's own limit is larger; a filter this long is a mistake). */
export const MAX_QUERY_LENGTH = 8192;

type Token =
  | { type: 'word'; text: string; at: number }
  | { type: 'string'; value: string; at: number }
  | { type: 'number'; value: number; at: number }
  | { type: 'symbol'; text: string; at: number };

const SYMBOLS = ['<=', '>=', '!=', '<>', '=', '<', '>', '(', ')', '*', '.', ',', '[', ']'];

function readString(text: string, start: number): { value: string; end: number } {
  const quote = text[start] as string;
  let value = '';
  let i = start + 1;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '\\' && i + 1 < text.length) {
      value += text[i + 1];
      i += 2;
    } else if (c === quote && text[i + 1] === quote) {
      value += quote;
      i += 2;
    } else if (c === quote) {
      return { value, end: i + 1 };
    } else {
      value += c;
      i += 1;
    }
  }
  throw new HubQueryError(`the string starting at character ${start + 1} is not closed`);
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const rest = text.slice(i);
    const space = /^\s+/.exec(rest);
    const word = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(rest);
    const number = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(rest);
    const symbol = SYMBOLS.find((s) => rest.startsWith(s));
    if (space !== null) {
      i += space[0].length;
    } else if (text[i] === "'" || text[i] === '"') {
      const { value, end } = readString(text, i);
      tokens.push({ type: 'string', value, at: i });
      i = end;
    } else if (number !== null) {
      tokens.push({ type: 'number', value: Number(number[0]), at: i });
      i += number[0].length;
    } else if (word !== null) {
      tokens.push({ type: 'word', text: word[0], at: i });
      i += word[0].length;
    } else if (symbol !== undefined) {
      tokens.push({ type: 'symbol', text: symbol, at: i });
      i += symbol.length;
    } else {
      throw new HubQueryError(`unexpected character "${text[i]}" at ${i + 1}`);
    }
  }
  return tokens;
}

const KEYWORDS = new Set(['select', 'from', 'where', 'and', 'or', 'not', 'true', 'false', 'null', 'is_defined']);
/** Parts of the language the emulator does not evaluate, named in the refusal. */
const UNSUPPORTED_WORDS: Record<string, string> = {
  top: 'SELECT TOP',
  group: 'GROUP BY',
  order: 'ORDER BY',
  in: 'IN',
  nin: 'NIN',
  as: 'AS',
  count: 'COUNT()',
  startswith: 'STARTSWITH()',
  endswith: 'ENDSWITH()',
  is_array: 'IS_ARRAY()',
  is_bool: 'IS_BOOL()',
  is_null: 'IS_NULL()',
  is_number: 'IS_NUMBER()',
  is_object: 'IS_OBJECT()',
  is_primitive: 'IS_PRIMITIVE()',
  is_string: 'IS_STRING()',
  array_contains: 'ARRAY_CONTAINS()',
};

const notSupported = (what: string) =>
  new HubQueryError(
    `${what} is not supported by the emulator; it answers SELECT * FROM devices (or devices.modules) with a WHERE ` +
      'of =, !=, <, >, <=, >= on property paths and literals, AND, OR, NOT, parentheses and IS_DEFINED(path)',
  );

class Parser {
  private i = 0;

  constructor(private readonly tokens: Token[]) {}

  private peek(): Token | undefined {
    return this.tokens[this.i];
  }

  private describe(t: Token | undefined): string {
    if (t === undefined) return 'the end of the query';
    const text = t.type === 'string' ? `'${t.value}'` : t.type === 'number' ? String(t.value) : t.text;
    return `"${text}" at ${t.at + 1}`;
  }

  private isWord(word: string, t = this.peek()): boolean {
    return t?.type === 'word' && t.text.toLowerCase() === word;
  }

  private isSymbol(symbol: string, t = this.peek()): boolean {
    return t?.type === 'symbol' && t.text === symbol;
  }

  private expectWord(word: string): void {
    const t = this.peek();
    if (t?.type === 'word' && UNSUPPORTED_WORDS[t.text.toLowerCase()] !== undefined && !this.isWord(word)) {
      throw notSupported(UNSUPPORTED_WORDS[t.text.toLowerCase()] as string);
    }
    if (!this.isWord(word)) throw new HubQueryError(`expected ${word.toUpperCase()}, found ${this.describe(t)}`);
    this.i += 1;
  }

  private expectSymbol(symbol: string): void {
    if (!this.isSymbol(symbol)) throw new HubQueryError(`expected "${symbol}", found ${this.describe(this.peek())}`);
    this.i += 1;
  }

  query(): HubQuery {
    this.expectWord('select');
    if (!this.isSymbol('*')) {
      const t = this.peek();
      const word = t?.type === 'word' ? UNSUPPORTED_WORDS[t.text.toLowerCase()] : undefined;
      throw notSupported(word ?? `SELECT ${this.describe(t)} (a projection)`);
    }
    this.i += 1;
    this.expectWord('from');
    const from = this.source();
    let where: QueryCondition | undefined;
    if (this.isWord('where')) {
      this.i += 1;
      where = this.or();
    }
    const t = this.peek();
    if (t !== undefined) {
      const word = t.type === 'word' ? UNSUPPORTED_WORDS[t.text.toLowerCase()] : undefined;
      if (word !== undefined) throw notSupported(word);
      throw new HubQueryError(`unexpected ${this.describe(t)}`);
    }
    return where === undefined ? { from } : { from, where };
  }

  private source(): HubQuery['from'] {
    const path = this.path();
    const name = path.join('.').toLowerCase();
    if (name === 'devices' || name === 'devices.modules') return name;
    throw notSupported(`FROM ${path.join('.')}`);
  }

  private or(): QueryCondition {
    let left = this.and();
    while (this.isWord('or')) {
      this.i += 1;
      left = { kind: 'or', left, right: this.and() };
    }
    return left;
  }

  private and(): QueryCondition {
    let left = this.not();
    while (this.isWord('and')) {
      this.i += 1;
      left = { kind: 'and', left, right: this.not() };
    }
    return left;
  }

  private not(): QueryCondition {
    if (this.isWord('not')) {
      this.i += 1;
      return { kind: 'not', operand: this.not() };
    }
    return this.primary();
  }

  private primary(): QueryCondition {
    if (this.isSymbol('(')) {
      this.i += 1;
      const inner = this.or();
      this.expectSymbol(')');
      return inner;
    }
    if (this.isWord('is_defined')) {
      this.i += 1;
      this.expectSymbol('(');
      const path = this.path();
      this.expectSymbol(')');
      return { kind: 'defined', path };
    }
    const left = this.operand();
    const t = this.peek();
    if (t?.type === 'word' && UNSUPPORTED_WORDS[t.text.toLowerCase()] !== undefined) {
      throw notSupported(UNSUPPORTED_WORDS[t.text.toLowerCase()] as string);
    }
    if (t?.type !== 'symbol' || !['=', '!=', '<>', '<', '>', '<=', '>='].includes(t.text)) {
      throw new HubQueryError(
        `expected a comparison (=, !=, <, >, <=, >=) after the operand, found ${this.describe(t)}`,
      );
    }
    this.i += 1;
    const op = (t.text === '<>' ? '!=' : t.text) as CompareOp;
    return { kind: 'compare', op, left, right: this.operand() };
  }

  private operand(): QueryOperand {
    const t = this.peek();
    if (t?.type === 'string' || t?.type === 'number') {
      this.i += 1;
      return { kind: 'literal', value: t.value };
    }
    if (t?.type === 'word') {
      const lower = t.text.toLowerCase();
      const literal: Record<string, QueryValue> = { true: true, false: false, null: null };
      if (lower in literal) {
        this.i += 1;
        return { kind: 'literal', value: literal[lower] as QueryValue };
      }
      if (UNSUPPORTED_WORDS[lower] !== undefined) throw notSupported(UNSUPPORTED_WORDS[lower]);
      return { kind: 'path', path: this.path() };
    }
    if (this.isSymbol('[')) throw notSupported('an array literal');
    throw new HubQueryError(`expected a property path or a literal, found ${this.describe(t)}`);
  }

  private path(): string[] {
    const parts: string[] = [];
    for (;;) {
      const t = this.peek();
      if (t?.type !== 'word' || (KEYWORDS.has(t.text.toLowerCase()) && parts.length === 0)) {
        throw new HubQueryError(`expected a property name, found ${this.describe(t)}`);
      }
      parts.push(t.text);
      this.i += 1;
      if (this.isSymbol('[')) throw notSupported('a bracketed property or index ([...])');
      if (!this.isSymbol('.')) return parts;
      this.i += 1;
    }
  }
}

/** Parses a query; throws HubQueryError naming what is wrong or not supported. */
export function parseHubQuery(text: string): HubQuery {
  if (text.length > MAX_QUERY_LENGTH) throw new HubQueryError(`the query is over ${MAX_QUERY_LENGTH} characters`);
  if (text.trim() === '') throw new HubQueryError('the query is empty');
  return new Parser(tokenize(text)).query();
}

// ---- evaluation -----------------------------------------------------------------------------------------

/** Three-valued: a comparison with something missing, or between different types, is neither true nor false. */
type Truth = boolean | undefined;

const isObject = (v: unknown): v is Record<string, QueryValue> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The value at a path; a leading `devices.` (or `devices.modules.`) names the document itself. */
function resolve(doc: QueryValue, path: string[], from: HubQuery['from']): QueryValue | undefined {
  let parts = path;
  const prefix = from === 'devices' ? ['devices'] : ['devices', 'modules'];
  if (parts.length > prefix.length && prefix.every((p, i) => parts[i]?.toLowerCase() === p)) {
    parts = parts.slice(prefix.length);
  }
  let value: QueryValue | undefined = doc;
  for (const part of parts) {
    if (!isObject(value) || !Object.hasOwn(value, part)) return undefined;
    value = value[part];
  }
  return value;
}

function compare(op: CompareOp, a: QueryValue | undefined, b: QueryValue | undefined): Truth {
  if (a === undefined || b === undefined) return undefined;
  if (op === '=' || op === '!=') {
    const same = typeof a === typeof b ? JSON.stringify(a) === JSON.stringify(b) : false;
    return op === '=' ? same : !same;
  }
  if (!((typeof a === 'number' && typeof b === 'number') || (typeof a === 'string' && typeof b === 'string'))) {
    return undefined;
  }
  switch (op) {
    case '<':
      return a < b;
    case '>':
      return a > b;
    case '<=':
      return a <= b;
    default:
      return a >= b;
  }
}

function truth(c: QueryCondition, doc: QueryValue, from: HubQuery['from']): Truth {
  const value = (o: QueryOperand) => (o.kind === 'literal' ? o.value : resolve(doc, o.path, from));
  switch (c.kind) {
    case 'compare':
      return compare(c.op, value(c.left), value(c.right));
    case 'defined':
      return resolve(doc, c.path, from) !== undefined;
    case 'not': {
      const inner = truth(c.operand, doc, from);
      return inner === undefined ? undefined : !inner;
    }
    case 'and': {
      const [l, r] = [truth(c.left, doc, from), truth(c.right, doc, from)];
      return l === false || r === false ? false : l === undefined || r === undefined ? undefined : true;
    }
    case 'or': {
      const [l, r] = [truth(c.left, doc, from), truth(c.right, doc, from)];
      return l === true || r === true ? true : l === undefined || r === undefined ? undefined : false;
    }
  }
}

/** Whether a twin document (as the query answers it) is selected by the query. */
export function matchesHubQuery(query: HubQuery, doc: QueryValue): boolean {
  return query.where === undefined || truth(query.where, doc, query.from) === true;
}
