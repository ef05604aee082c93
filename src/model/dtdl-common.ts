// Small things the DTDL readers share: how values are shown in messages, JSON paths, suggestions, and the checks
// every DTDL element gets (its "@id", its display strings).
import { dtmiProblem, isDtmi } from './dtmi.js';
import { limitOf, limitSource, type DtdlVersion, type LimitName } from './limits.js';

export type Json = Record<string, unknown>;

/** Throws a ModelError at a JSON path of the document being read. */
export type Fail = (path: string, detail: string) => never;

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value DTDL allows as one item or a list of them, as a list. */
export function listOf(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [v];
}

export function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}

/** "missing", or "got …": what was there instead of what was expected. */
export function found(v: unknown): string {
  return v === undefined ? 'missing' : `got ${show(v)}`;
}

export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

function isSubsequence(short: string, long: string): boolean {
  let i = 0;
  for (const ch of long) if (ch === short[i]) i++;
  return i === short.length;
}

/** " (did you mean "double"?)" for typos, abbreviations and wrong case; '' when nothing is close. */
export function didYouMean(got: string, candidates: Iterable<string>): string {
  const lower = got.toLowerCase();
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const cl = c.toLowerCase();
    let score: number;
    if (cl === lower) score = 0;
    else {
      const d = editDistance(lower, cl);
      if (d <= Math.max(1, Math.floor(c.length / 3))) score = d;
      else if (lower.length >= 3 && isSubsequence(lower, cl)) score = 10 + cl.length - lower.length;
      else continue;
    }
    if (score < bestScore) {
      bestScore = score;
      best = c;
    }
  }
  return best === undefined ? '' : ` (did you mean "${best}"?)`;
}

const NAME = /^[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?$/;

/** A DTDL "name": letters, digits and underscores, starting with a letter, not ending with "_", not too long. */
export function checkName(v: unknown, p: string, version: DtdlVersion, fail: Fail): string {
  if (typeof v !== 'string') return fail(p, `${found(v)}: expected a name such as "temperature"`);
  if (!NAME.test(v)) {
    fail(
      p,
      `"${v}" is not a valid DTDL name: letters, digits and underscores only, ` +
        'starting with a letter and not ending with "_"',
    );
  }
  const max = limitOf(version, 'name')!;
  if (v.length > max) {
    fail(p, pastLimit(version, 'name', `"${v.slice(0, 20)}…" is ${v.length} characters long`));
  }
  return v;
}

/** "`what`; DTDL v3 allows 512 (the DTDL v3 limit, DTDL.v3.md: …)": a limit passed, and where it is written. */
export function pastLimit(version: DtdlVersion, limit: LimitName, what: string): string {
  return `${what}; DTDL v${version} allows ${limitOf(version, limit)}${limitSource(version, limit)}`;
}

/** A DTMI that names something ("@id", a reference): valid in this version and within `limit`. */
export function checkDtmi(id: string, p: string, version: DtdlVersion, fail: Fail, limit: LimitName = 'dtmi'): void {
  if (!isDtmi(id, version)) {
    fail(p, `expected a DTMI such as "dtmi:com:example:Thermostat;1", got ${show(id)}${dtmiProblem(id, version)}`);
  }
  const max = limitOf(version, limit)!;
  if (id.length > max) {
    const what = limit === 'interfaceId' ? 'an Interface @id' : 'a DTMI';
    fail(p, `${what} may have at most ${max} characters, this one has ${id.length}${limitSource(version, limit)}`);
  }
}

/** Text of a localizable property: a string, a language map {"en": …}, or a list of {"@language", "@value"}. */
function localized(v: unknown): string[] | undefined {
  if (typeof v === 'string') return [v];
  if (isObject(v)) {
    const texts = Object.values(v);
    return texts.every((t) => typeof t === 'string') ? texts : undefined;
  }
  if (!Array.isArray(v)) return undefined;
  const texts: string[] = [];
  for (const item of v) {
    if (typeof item === 'string') texts.push(item);
    else if (isObject(item) && typeof item['@value'] === 'string') texts.push(item['@value']);
    else return undefined;
  }
  return texts;
}

/** What every element may carry besides its own properties: "@id", displayName, description, comment. */
export function checkElement(el: Json, p: string, version: DtdlVersion, fail: Fail): void {
  const id = el['@id'];
  if (id !== undefined) {
    if (typeof id !== 'string') fail(join(p, '@id'), `expected a DTMI, got ${show(id)}`);
    checkDtmi(id, join(p, '@id'), version, fail);
  }
  for (const key of ['displayName', 'description'] as const) {
    if (el[key] === undefined) continue;
    const texts = localized(el[key]);
    if (texts === undefined) {
      fail(join(p, key), `expected text or a language map such as {"en": "…"}, got ${show(el[key])}`);
    }
    const max = limitOf(version, key)!;
    const long = texts.find((t) => t.length > max);
    if (long !== undefined) {
      fail(join(p, key), pastLimit(version, key, `a text of ${long.length} characters`));
    }
  }
  const comment = el.comment;
  if (comment === undefined) return;
  if (typeof comment !== 'string') fail(join(p, 'comment'), `expected text, got ${show(comment)}`);
  const max = limitOf(version, 'comment')!;
  if (comment.length > max) {
    fail(join(p, 'comment'), pastLimit(version, 'comment', `a text of ${comment.length} characters`));
  }
}

/** The English (or first) display name. */
export function displayName(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (!isObject(v)) return undefined;
  const en = v.en ?? Object.values(v)[0];
  return typeof en === 'string' ? en : undefined;
}
