/**
 * `$body.path` as edgeHub reads it: the body is decoded with the message's contentEncoding and parsed by Newtonsoft
 * (JObject.Parse) only when contentType is application/json; the path is a Newtonsoft JSONPath restricted by
 * edgeHub's JsonPath.g4 (names separated by '.', each with at most one [index]).
 *
 * Sources (facts only): Azure/iotedge at 55353a649ea9d624a684428fab2d925a81bcda07,
 * edge-hub/core/src/Microsoft.Azure.Devices.Routing.Core/ Message.cs, IMessageQueryValueProvider.cs,
 * JsonMessageQueryValueProvider.cs, Constants.cs, query/builtins/BodyQuery.cs, query/types/QueryValue.cs,
 * query/jsonpath/JsonPath.g4; JamesNK/Newtonsoft.Json at 09bb545d72969ad7fb4ea07db0d5c34f4fc07877,
 * Src/Newtonsoft.Json/ Linq/JObject.cs (Parse), JsonTextReader.cs, Linq/JsonPath/JPath.cs,
 * Utilities/DateTimeUtils.cs and Utilities/DateTimeParser.cs (which strings become dates).
 */

import { equalsIgnoreCase } from './route-message.js';
import type { RouteMessage } from './route-message.js';

/**
 * What edgeHub's JsonMessageQueryValueProvider returns for a path that selects nothing: the QueryValue.Null
 * instance. It is null everywhere, except that IS_NULL compares with that very instance and so says false.
 */
export const MISSING: unique symbol = Symbol('no value at this $body path');

/** A $body value: undefined (no JSON body, an object, an array, a date, several matches), null, or a leaf. */
export type BodyValue = undefined | null | typeof MISSING | boolean | number | string;

interface PathStep {
  /** '*' selects every value of an object (Newtonsoft's wildcard); '$' as the first step is the root. */
  readonly name: string;
  readonly index: number | undefined;
}

/** What a `$body.` path selects in a parsed body. */
export type BodySelector = (root: object) => BodyValue;

// JsonPath.g4: IDENTIFIER ('[' INT ']')?, IDENTIFIER = one or more of anything but ()<>@,;:\"/[]?={}. and \t\n\r.
const PATH_STEP = /^([^()<>@,;:\\"/[\]?={}.\t\n\r]+)(?:\[([0-9]+)\])?$/;
// Newtonsoft reads an index with Convert.ToInt32: a larger one throws, and edgeHub turns the error into undefined.
const INT32_MAX = 2147483647;

/** The selector of a `$body.` path, or undefined when edgeHub's grammar refuses the path. */
export function compileBodyPath(path: string): BodySelector | undefined {
  const steps: PathStep[] = [];
  for (const part of path.split('.')) {
    const m = PATH_STEP.exec(part);
    if (!m) return undefined;
    steps.push({ name: m[1]!, index: m[2] === undefined ? undefined : Number(m[2]) });
  }
  if (steps.some((s) => s.index !== undefined && s.index > INT32_MAX)) return () => undefined;
  // The usual path names one value at most: walked without building lists of matches.
  const special = steps.some((s, k) => s.name === '*' || (k === 0 && s.name === '$'));
  return special ? (root) => selectTokens(root, steps) : (root) => selectOne(root, steps);
}

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function selectOne(root: object, steps: readonly PathStep[]): BodyValue {
  let cur: unknown = root;
  for (const { name, index } of steps) {
    if (!isObject(cur) || !hasOwn(cur, name)) return MISSING;
    cur = cur[name];
    if (index !== undefined) {
      if (!Array.isArray(cur) || index >= cur.length) return MISSING;
      cur = cur[index];
    }
  }
  return leaf(cur);
}

/** SelectTokens with wildcards: several matches make a QueryValue object, which BodyQuery turns into undefined. */
function selectTokens(root: object, steps: readonly PathStep[]): BodyValue {
  let current: unknown[] = [root];
  for (let k = 0; k < steps.length; k++) {
    const { name, index } = steps[k]!;
    let next: unknown[] = [];
    if (k === 0 && name === '$') next = current;
    else if (name === '*')
      for (const t of current) {
        if (isObject(t)) next.push(...Object.values(t));
      }
    else
      for (const t of current) {
        if (isObject(t) && hasOwn(t, name)) next.push(t[name]);
      }
    if (index !== undefined) {
      next = next.filter((t) => Array.isArray(t) && index < t.length).map((t) => (t as unknown[])[index]);
    }
    current = next;
  }
  if (current.length === 0) return MISSING;
  return current.length > 1 ? undefined : leaf(current[0]);
}

/** QueryValue.Create, then BodyQuery: a leaf is its value; objects, arrays and dates are undefined. */
function leaf(v: unknown): BodyValue {
  if (v === null || typeof v === 'boolean' || typeof v === 'number') return v;
  if (typeof v === 'string') return newtonsoftReadsAsDate(v) ? undefined : v;
  return undefined;
}

// ---- which JSON strings Newtonsoft turns into dates (DateParseHandling.DateTime, its default)

/** TryParseDateTime: "/Date(ticks[±hhmm])/" or an ISO 8601 date-time of 19 to 40 characters with 'T' at 10. */
export function newtonsoftReadsAsDate(s: string): boolean {
  if (s.length === 0) return false;
  if (s[0] === '/') return s.length >= 9 && s.startsWith('/Date(') && s.endsWith(')/') && microsoftDate(s);
  return s.length >= 19 && s.length <= 40 && isDigit(s.charCodeAt(0)) && s[10] === 'T' && isoDateTime(s);
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

function twoDigits(s: string, at: number): number | undefined {
  if (at + 1 >= s.length) return undefined;
  const a = s.charCodeAt(at);
  const b = s.charCodeAt(at + 1);
  return isDigit(a) && isDigit(b) ? (a - 48) * 10 + (b - 48) : undefined;
}

/**
 * DateTimeParser.Parse: yyyy-MM-ddTHH:mm:ss, an optional fraction, then Z, ±hh, ±hh:mm or ±hhmm, and nothing else.
 */
function isoDateTime(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})/.exec(s);
  if (m === null) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as Six;
  const daysInMonth = new Date(Date.UTC(2000, month, 0)).getUTCDate() - (month === 2 && !leapYear(year) ? 1 : 0);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth) return false;
  if (hour > 24 || minute > 59 || second > 59 || (hour === 24 && (minute !== 0 || second !== 0))) return false;
  let at = 19;
  if (s[at] === '.') {
    let n = 0;
    let fraction = 0;
    while (++at < s.length && n < 7 && isDigit(s.charCodeAt(at))) {
      fraction = fraction * 10 + (s.charCodeAt(at) - 48);
      n++;
    }
    if (n === 0 || (hour === 24 && fraction !== 0)) return false;
  }
  if (!zone(s, at)) return false;
  // 24:00:00 on the last day there is: Newtonsoft adds a day to DateTime.MaxValue's date and throws.
  return !(hour === 24 && year === 9999 && month === 12 && day === 31) || throwsOnParse();
}

type Six = [number, number, number, number, number, number];

function leapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

/** ParseZone, as written: the zone must end the string. */
function zone(s: string, start: number): boolean {
  let at = start;
  if (at < s.length) {
    const ch = s[at];
    if (ch === 'Z' || ch === 'z') {
      at++;
    } else {
      if (at + 2 < s.length && twoDigits(s, at + 1) !== undefined && (ch === '-' || ch === '+')) at += 3;
      if (at < s.length) {
        if (s[at] === ':') at++;
        if (at + 1 < s.length && twoDigits(s, at) !== undefined) at += 2;
      }
    }
  }
  return at === s.length;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
// DateTime's range in JavaScript milliseconds (0001-01-01 to 9999-12-31T23:59:59.999).
const MIN_DATE_MS = -62135596800000n;
const MAX_DATE_MS = 253402300799999n;
const int32Text = (t: string): boolean => /^-?\d+$/.test(t);

/**
 * TryParseMicrosoftDate: "/Date(" ticks [+|- two-digit hours [two-digit minutes]] ... ")/", the ticks a long; ticks
 * out of DateTime's range make the whole parse fail.
 */
function microsoftDate(s: string): boolean {
  let sign = s.indexOf('+', 7);
  if (sign === -1) sign = s.indexOf('-', 7);
  let ticksEnd = s.length - 2;
  if (sign !== -1) {
    if (!int32Text(s.slice(sign + 1, sign + 3))) return false;
    if (s.length - sign > 5 && !int32Text(s.slice(sign + 3, sign + 5))) return false;
    ticksEnd = sign;
  }
  const ticks = s.slice(6, ticksEnd);
  if (!/^-?\d+$/.test(ticks)) return false;
  const ms = BigInt(ticks);
  if (ms < INT64_MIN || ms > INT64_MAX) return false;
  return ms >= MIN_DATE_MS && ms <= MAX_DATE_MS ? true : throwsOnParse();
}

/** Newtonsoft throws while parsing: edgeHub then has no body at all, which readBody reports as undefined. */
function throwsOnParse(): never {
  throw new UnreadableBody();
}

class UnreadableBody extends Error {}

// ---- decoding and parsing, once per message

const NO_BODY: unique symbol = Symbol('no JSON body');

// One-entry cache: routeMessage evaluates every route against one message in turn, so the body is parsed at most
// once per message however many routes look at it. Identity plus content type and encoding form the key.
let cachedMessage: RouteMessage | undefined;
let cachedBuffer: Buffer | undefined;
let cachedType: string | undefined;
let cachedEncoding: string | undefined;
let cachedRoot: object | typeof NO_BODY = NO_BODY;
let parses = 0;

/** How many message bodies have been decoded and parsed (for tests of the lazy, once-per-message parse). */
export function bodyParseCount(): number {
  return parses;
}

/** The value `select` finds in the message's JSON body, or undefined when edgeHub would have no body to read. */
export function readBody(
  m: RouteMessage,
  type: string | undefined,
  encoding: string | undefined,
  select: BodySelector,
): BodyValue {
  if (!(m === cachedMessage && m.body === cachedBuffer && type === cachedType && encoding === cachedEncoding)) {
    cachedRoot = parseBody(m.body, type, encoding);
    cachedMessage = m;
    cachedBuffer = m.body;
    cachedType = type;
    cachedEncoding = encoding;
  }
  return cachedRoot === NO_BODY ? undefined : select(cachedRoot);
}

/**
 * Constants.ContentEncodings: utf-8, utf-16 (little-endian) and utf-32 (little-endian), compared ignoring case and
 * with no parameters allowed, like the content type. Encoding.GetString keeps a byte order mark, which Newtonsoft
 * then refuses; a partial character at the end decodes as U+FFFD.
 */
function parseBody(body: Buffer, type: string | undefined, encoding: string | undefined): object | typeof NO_BODY {
  if (type === undefined || encoding === undefined || !equalsIgnoreCase(type, 'application/json')) return NO_BODY;
  let text: string;
  if (equalsIgnoreCase(encoding, 'utf-8')) text = body.toString('utf8');
  else if (equalsIgnoreCase(encoding, 'utf-16')) text = body.toString('utf16le') + (body.length % 2 ? '\ufffd' : '');
  else if (equalsIgnoreCase(encoding, 'utf-32')) text = decodeUtf32le(body);
  else return NO_BODY;
  parses++;
  try {
    const root: unknown = JSON.parse(text);
    if (!isObject(root)) return NO_BODY;
    // Only such dates make Newtonsoft throw; most bodies have no text that could be one (or an escape hiding one).
    if (/T24|\/Date\(|\\[u/]/.test(text)) checkDates(root);
    return root;
  } catch {
    return NO_BODY;
  }
}

/** Finds the date strings that make Newtonsoft throw (out of DateTime's range), as its parse would. */
function checkDates(v: unknown): void {
  if (typeof v === 'string') newtonsoftReadsAsDate(v);
  else if (Array.isArray(v)) for (const item of v) checkDates(item);
  else if (isObject(v)) for (const item of Object.values(v)) checkDates(item);
}

function decodeUtf32le(body: Buffer): string {
  let out = '';
  for (let i = 0; i + 3 < body.length; i += 4) {
    const cp = body.readUInt32LE(i);
    out += cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff) ? String.fromCodePoint(cp) : '\ufffd';
  }
  return body.length % 4 === 0 ? out : `${out}\ufffd`;
}
