import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatJUnit, writeJUnit, type JUnitSuite } from '../../src/report/junit.js';

/**
 * A strict little XML reader, enough for JUnit: well-formedness (balanced tags, quoted attributes, no raw
 * "<" or stray "&" in text or attributes) and entity decoding, so the test can read back what was written.
 */
interface Node {
  name: string;
  attrs: Record<string, string>;
  children: Node[];
  text: string;
}

function decode(s: string): string {
  if (/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(s)) throw new Error(`stray & in ${JSON.stringify(s)}`);
  if (s.includes('<')) throw new Error(`raw < in ${JSON.stringify(s)}`);
  return s.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) =>
    e === 'amp'
      ? '&'
      : e === 'lt'
        ? '<'
        : e === 'gt'
          ? '>'
          : e === 'quot'
            ? '"'
            : e === 'apos'
              ? "'"
              : String.fromCodePoint(e.startsWith('#x') ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)),
  );
}

function parseXml(xml: string): Node {
  const body = xml.replace(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n/, '');
  if (body === xml) throw new Error('no XML declaration');
  // eslint-disable-next-line no-control-regex -- the control characters XML 1.0 forbids are what this looks for
  if (/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/.test(body))
    throw new Error('character not allowed in XML 1.0');
  const root: Node = { name: '#root', attrs: {}, children: [], text: '' };
  const stack = [root];
  const re = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"]*")*)\s*(\/?)>|([^<]+)|(<)/g;
  for (const m of body.matchAll(re)) {
    const top = stack[stack.length - 1]!;
    if (m[6]) throw new Error(`malformed markup at ${m.index}: ${body.slice(m.index, m.index + 40)}`);
    if (m[5] !== undefined) {
      top.text += decode(m[5]);
      continue;
    }
    const [, close, name, attrText, selfClose] = m;
    if (close) {
      if (top.name !== name) throw new Error(`</${name}> closes <${top.name}>`);
      stack.pop();
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of attrText!.matchAll(/([A-Za-z_][\w.-]*)="([^"]*)"/g)) {
      if (a[1]! in attrs) throw new Error(`duplicate attribute ${a[1]}`);
      attrs[a[1]!] = decode(a[2]!);
    }
    const node: Node = { name: name!, attrs, children: [], text: '' };
    top.children.push(node);
    if (!selfClose) stack.push(node);
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  const elements = root.children;
  if (elements.length !== 1) throw new Error('expected one root element');
  return elements[0]!;
}

const SUITES: JUnitSuite[] = [
  {
    name: 'edgefleet',
    cases: [
      { name: 'telemetry.p99 < 200ms', classname: 'thresholds', timeSeconds: 0.0004 },
      {
        name: 'errors.rate < 1%',
        classname: 'thresholds',
        failure: {
          message: 'errors.rate was 2.5% (limit 1%): 25 of 1000 "requests" failed & <more>',
          detail: 'auth 20\r\nthrottled 5\n</failure>]]>',
        },
      },
      { name: 'ledger.lost == 0', failure: { message: 'lost 3' } },
    ],
  },
  {
    name: 'smoke',
    cases: [
      { name: 'transparent gateway: downstream telemetry reaches the hub', timeSeconds: 12.3456 },
      {
        name: "identity translation 'module' <x>",
        skipped: { message: 'no identity translation group in the scenario' },
      },
    ],
  },
];

describe('formatJUnit', () => {
  const xml = formatJUnit(SUITES, { timestamp: new Date(Date.UTC(2026, 10, 26, 21, 40, 5)) });
  const doc = parseXml(xml);

  it('writes testsuites named edgefleet with counts derived from the cases', () => {
    expect(doc.name).toBe('testsuites');
    expect(doc.attrs).toMatchObject({
      name: 'edgefleet',
      tests: '5',
      failures: '2',
      errors: '0',
      skipped: '1',
      time: '12.346',
    });
    const [a, b] = doc.children;
    expect(a!.attrs).toMatchObject({
      name: 'edgefleet',
      tests: '3',
      failures: '2',
      skipped: '0',
      timestamp: '2026-11-26T21:40:05',
    });
    expect(b!.attrs).toMatchObject({ name: 'smoke', tests: '2', failures: '0', skipped: '1', time: '12.346' });
  });

  it('writes one testcase per check, with failure and skipped elements', () => {
    const cases = doc.children.flatMap((s) => s.children);
    expect(cases.map((c) => c.name)).toEqual(['testcase', 'testcase', 'testcase', 'testcase', 'testcase']);
    expect(cases.map((c) => c.attrs.name)).toEqual(SUITES.flatMap((s) => s.cases.map((c) => c.name)));
    expect(cases.map((c) => c.attrs.classname)).toEqual(['thresholds', 'thresholds', 'edgefleet', 'smoke', 'smoke']);
    expect(cases[0]!.attrs.time).toBe('0.000');
    expect(cases[0]!.children).toEqual([]);
    expect(cases[2]!.attrs.time).toBeUndefined();

    const failure = cases[1]!.children[0]!;
    expect(failure.name).toBe('failure');
    // Read back exactly: quotes, ampersands, angle brackets, and line breaks in both text and attributes.
    expect(failure.attrs.message).toBe(SUITES[0]!.cases[1]!.failure!.message);
    expect(failure.text).toBe(SUITES[0]!.cases[1]!.failure!.detail);
    expect(cases[2]!.children[0]!.text).toBe('');
    expect(cases[4]!.children[0]).toMatchObject({
      name: 'skipped',
      attrs: { message: 'no identity translation group in the scenario' },
    });
  });

  it('keeps line breaks in attributes as character references and replaces characters XML forbids', () => {
    const x = formatJUnit([
      {
        name: 's',
        cases: [
          {
            name: 'a\nb\t"c"',
            failure: { message: 'bell\u0007 esc\u001b nul\u0000 lone\uD800 ok😀', detail: 'x\u000by' },
          },
        ],
      },
    ]);
    const d = parseXml(x);
    const c = d.children[0]!.children[0]!;
    expect(c.attrs.name).toBe('a\nb\t"c"');
    expect(c.children[0]!.attrs.message).toBe('bell\uFFFD esc\uFFFD nul\uFFFD lone\uFFFD ok😀');
    expect(c.children[0]!.text).toBe('x\uFFFDy');
    expect(x).toContain('a&#10;b&#9;&quot;c&quot;');
  });

  it('writes an empty but valid document when there are no checks', () => {
    const d = parseXml(formatJUnit([]));
    expect(d.attrs).toMatchObject({ tests: '0', failures: '0' });
    expect(d.children).toEqual([]);
  });

  it('the reader used here rejects what a CI parser would', () => {
    expect(() => parseXml('<?xml version="1.0" encoding="UTF-8"?>\n<a x="1 & 2"/>')).toThrow(/stray &/);
    expect(() => parseXml('<?xml version="1.0" encoding="UTF-8"?>\n<a><b></a>')).toThrow(/closes/);
    expect(() => parseXml('<?xml version="1.0" encoding="UTF-8"?>\n<a>x < y</a>')).toThrow(/malformed/);
  });

  it('writeJUnit puts junit.xml in the run folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgefleet-junit-'));
    try {
      const path = await writeJUnit(dir, SUITES);
      expect(path).toBe(join(dir, 'junit.xml'));
      expect(parseXml(await readFile(path, 'utf8')).attrs.tests).toBe('5');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
