/**
 * .NET behaviours that edgeHub's route functions inherit and JavaScript does not share: how AS_NUMBER parses
 * (double.TryParse with NumberStyles.Any and the invariant culture), how LOWER and UPPER change case
 * (ToLowerInvariant / ToUpperInvariant), and Math.Pow's special cases.
 *
 * Sources (facts only, no code taken): dotnet/runtime
 * src/libraries/System.Private.CoreLib/src/System/Number.Parsing.cs (TryParseNumber, TryParseFloat) and
 * src/native/libs/System.Globalization.Native/pal_casing.c (ChangeCaseInvariant).
 */

// NumberFormatInfo.InvariantInfo
const CURRENCY = '¤';
const POSITIVE_INFINITY = 'infinity';
const NEGATIVE_INFINITY = '-infinity';

/** .NET's IsWhite for number parsing: space and \t \n \v \f \r. */
const isWhite = (c: string | undefined): boolean => c === ' ' || (c !== undefined && c >= '\t' && c <= '\r');
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

interface Cursor {
  s: string;
  i: number;
  negative: boolean;
  sign: boolean;
  parens: boolean;
  currency: boolean;
}

/**
 * AS_NUMBER's parse: double.TryParse(s, NumberStyles.Any, CultureInfo.InvariantCulture). Accepts white space
 * around, one sign before or after, parentheses for a negative, one '¤', ',' between integer digits, a decimal
 * point and an exponent; else "Infinity", "-Infinity", "NaN" (any case, optionally signed). NaN means "no number".
 */
export function parseDotnetDouble(input: string): number {
  const c: Cursor = { s: input, i: 0, negative: false, sign: false, parens: false, currency: false };
  leading(c);
  const mantissa = digits(c);
  if (mantissa === undefined) return specialValue(input);
  const exponent = exponentPart(c);
  trailing(c);
  // Trailing NUL characters are accepted "for compatibility".
  if (c.parens || !/^\0*$/.test(input.slice(c.i))) return specialValue(input);
  const v = Number(`${mantissa}${exponent}`);
  return c.negative ? -v : v;
}

/** Before the digits: white space (not after a bare sign), a sign, '(' and '¤', in any order, once each. */
function leading(c: Cursor): void {
  for (;;) {
    const ch = c.s[c.i];
    if (isWhite(ch) && (!c.sign || c.currency)) {
      c.i++;
    } else if (!c.sign && (ch === '+' || ch === '-')) {
      c.sign = true;
      c.negative = ch === '-';
      c.i++;
    } else if (!c.sign && ch === '(') {
      c.sign = true;
      c.parens = true;
      c.negative = true;
      c.i++;
    } else if (!c.currency && ch === CURRENCY) {
      c.currency = true;
      c.i++;
    } else {
      return;
    }
  }
}

/** Integer digits with ',' group separators after the first digit, then '.' and fraction digits. */
function digits(c: Cursor): string | undefined {
  let text = '';
  let seenDigit = false;
  let seenPoint = false;
  for (;;) {
    const ch = c.s[c.i];
    if (isDigit(ch)) {
      seenDigit = true;
      text += ch;
    } else if (ch === '.' && !seenPoint) {
      seenPoint = true;
      text += '.';
    } else if (ch === ',' && seenDigit && !seenPoint) {
      // a group separator: skipped
    } else {
      break;
    }
    c.i++;
  }
  if (!seenDigit) return undefined;
  return text.startsWith('.') ? `0${text}` : text.endsWith('.') ? text.slice(0, -1) : text;
}

/** `e`/`E`, an optional sign and digits; without digits the `e` is not consumed (and then fails as trailing text). */
function exponentPart(c: Cursor): string {
  const ch = c.s[c.i];
  if (ch !== 'e' && ch !== 'E') return '';
  let j = c.i + 1;
  let sign = '';
  if (c.s[j] === '+' || c.s[j] === '-') sign = c.s[j++]!;
  const start = j;
  while (isDigit(c.s[j])) j++;
  if (j === start) return '';
  c.i = j;
  return `e${sign}${c.s.slice(start, j)}`;
}

/** After the digits: white space, a sign (if none before), ')' closing a '(' and '¤' (if none before). */
function trailing(c: Cursor): void {
  for (;;) {
    const ch = c.s[c.i];
    if (isWhite(ch)) {
      c.i++;
    } else if (!c.sign && (ch === '+' || ch === '-')) {
      c.sign = true;
      c.negative = ch === '-';
      c.i++;
    } else if (ch === ')' && c.parens) {
      c.parens = false;
      c.i++;
    } else if (!c.currency && ch === CURRENCY) {
      c.currency = true;
      c.i++;
    } else {
      return;
    }
  }
}

// char.IsWhiteSpace, which string.Trim() uses: JavaScript's trim() also drops U+FEFF, .NET's does not.
const DOTNET_SPACE = '\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const DOTNET_TRIM = new RegExp(`^[${DOTNET_SPACE}]+|[${DOTNET_SPACE}]+$`, 'g');

/**
 * TryParseFloat's fallback once the number syntax failed: the invariant culture's infinity symbols, trimmed, in
 * any case ("NaN" parses too, but as NaN it is undefined to the route all the same).
 */
function specialValue(input: string): number {
  const s = input.replace(DOTNET_TRIM, '').toLowerCase();
  if (s === POSITIVE_INFINITY || s === `+${POSITIVE_INFINITY}`) return Infinity;
  if (s === NEGATIVE_INFINITY) return -Infinity;
  return NaN;
}

/** Math.Pow (IEEE 754 pow): 1 to any power is 1, and so is -1 to an infinite power, where JavaScript says NaN. */
export function dotnetPow(x: number, y: number): number {
  if (x === 1) return 1;
  if (x === -1 && (y === Infinity || y === -Infinity)) return 1;
  return Math.pow(x, y);
}

// Greek letters with ypogegrammeni: JavaScript's full case mapping expands them, their simple mapping adds 8
// (U+1F80 → U+1F88) or goes to the capital with prosgegrammeni.
const GREEK_IOTA_UPPER = new Map<number, number>([
  [0x1fb3, 0x1fbc],
  [0x1fc3, 0x1fcc],
  [0x1ff3, 0x1ffc],
]);

function simpleUpper(cp: number): number {
  if (cp >= 0x1f80 && cp <= 0x1faf) return (cp & 0xf) < 8 ? cp + 8 : cp;
  const greek = GREEK_IOTA_UPPER.get(cp);
  if (greek !== undefined) return greek;
  const full = String.fromCodePoint(cp).toUpperCase();
  const mapped = full.codePointAt(0)!;
  // Several code points: a special (full) mapping with no simple one (ß, ligatures…), which .NET leaves as is.
  return full.length === String.fromCodePoint(mapped).length ? mapped : cp;
}

function simpleLower(cp: number): number {
  const full = String.fromCodePoint(cp).toLowerCase();
  const mapped = full.codePointAt(0)!;
  return full.length === String.fromCodePoint(mapped).length ? mapped : cp;
}

/**
 * ToUpperInvariant / ToLowerInvariant: one code point at a time, simple case mappings only (no ß → SS, no final
 * sigma), and the dotless ı and the dotted İ keep their case, as on Windows.
 */
export function invariantCase(s: string, upper: boolean): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x80) {
      out += upper ? ch.toUpperCase() : ch.toLowerCase();
      continue;
    }
    const keep = upper ? cp === 0x131 : cp === 0x130;
    out += String.fromCodePoint(keep ? cp : upper ? simpleUpper(cp) : simpleLower(cp));
  }
  return out;
}
