/**
 * The WHERE part of an edgeHub route: parsed once into an AST, type-checked, then compiled to closures.
 *
 * Semantics follow edgeHub's own compiler (Azure/iotedge `Routing.Core/query/ConditionVisitor.cs` and friends), which
 * is statically typed:
 * - Application and system properties are strings. Comparing one with a number (`temperature > 30`) is a compile
 *   error in edgeHub ("Invalid operands to binary operator"), so it is a RouteError here too, with a hint to write
 *   `AS_NUMBER(temperature) > 30`. The IoT Hub docs only say application properties are strings; edgeHub's code and
 *   tests are the precise source, and coercing silently would accept routes that a real device rejects.
 * - `$body.x` values are dynamically typed (edgeHub's QueryValue): they compare with anything; values of different
 *   types are never equal and order by type (bool < number < string < null), as QueryValue.CompareTo does.
 * - Undefined is three-valued logic's unknown: comparisons with it are undefined, `false AND undefined` is false,
 *   `true OR undefined` is true. A route matches only when its condition is exactly true.
 * - Precedence, tightest first: unary `-` and NOT, `* / %`, `+ - ||`, `< <= > >=`, `= != <>`, AND, OR, `??`.
 *   NOT binds tighter than comparisons, so `NOT a = 'x'` is `(NOT a) = 'x'` (a type error), as in the grammar.
 */

import { RouteProblem } from './route-error.js';
import { type Cursor, type Token, type TokenKind, unterminated } from './route-lexer.js';
import type { RouteMessage } from './routes.js';

// ---------------------------------------------------------------------------------------------------------------
// Parsing

export type Expr =
  | { k: 'lit'; tok: Token }
  | { k: 'prop'; tok: Token }
  | { k: 'sys'; tok: Token; escaped: boolean }
  | { k: 'call'; tok: Token; args: Expr[] }
  | { k: 'unary'; op: Token; e: Expr }
  | { k: 'bin'; op: Token; l: Expr; r: Expr };

// Binary precedence levels from Condition.g4's alternative order (listed first = binds tighter).
const LEVEL: Partial<Record<TokenKind, number>> = {
  COALESCE: 1,
  OR: 2,
  AND: 3,
  EQ: 4, NE: 4, LTGT: 4,
  LT: 5, LE: 5, GT: 5, GE: 5,
  PLUS: 6, MINUS: 6, CONCAT: 6,
  STAR: 7, SLASH: 7, PERCENT: 7,
};

export function parseCondition(c: Cursor): Expr {
  return parseBinary(c, 1);
}

function parseBinary(c: Cursor, minLevel: number): Expr {
  let left = parseUnary(c);
  for (;;) {
    const level = LEVEL[c.peek().kind];
    if (level === undefined || level < minLevel) return left;
    const op = c.next();
    const right = parseBinary(c, level + 1); // left-associative
    left = { k: 'bin', op, l: left, r: right };
  }
}

function parseUnary(c: Cursor): Expr {
  const t = c.peek();
  if (t.kind === 'MINUS' || t.kind === 'NOT') {
    c.next();
    return { k: 'unary', op: t, e: parseUnary(c) };
  }
  return parsePrimary(c);
}

const EXPRESSION = ['an expression'];

function parsePrimary(c: Cursor): Expr {
  const t = c.peek();
  switch (t.kind) {
    case 'LPAREN': {
      c.next();
      const e = parseBinary(c, 1);
      c.expect('RPAREN', ["')'"], `to close the '(' at column ${t.start + 1}`);
      return e;
    }
    case 'TRUE': case 'FALSE': case 'NULL': case 'UNDEFINED':
    case 'STRING': case 'INTEGER': case 'HEX': case 'REAL':
      c.next();
      return { k: 'lit', tok: t };
    case 'UNTERMINATED_STRING':
      throw unterminated(c.text, t);
    case 'SYS_PROP':
      c.next();
      return { k: 'sys', tok: t, escaped: false };
    case 'LBRACE': {
      c.next();
      const prop = c.expect('SYS_PROP', ['a $property inside { }']);
      c.expect('RBRACE', ["'}'"]);
      return { k: 'sys', tok: prop, escaped: true };
    }
    case 'ID': {
      c.next();
      if (!c.accept('LPAREN')) return { k: 'prop', tok: t };
      const args: Expr[] = [];
      if (!c.accept('RPAREN')) {
        do args.push(parseBinary(c, 1));
        while (c.accept('COMMA'));
        c.expect('RPAREN', ["','", "')'"], `to close the call to ${t.text}`);
      }
      return { k: 'call', tok: t, args };
    }
    default:
      throw c.unexpected(EXPRESSION);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Typing and compiling

/** Static types of edgeHub's compiler: C# string, double, Bool, Null, Undefined and QueryValue ('any'). */
export type Ty = 'bool' | 'number' | 'string' | 'null' | 'undefined' | 'any';

/**
 * Runtime values by static type: bool → true | false | undefined; number → number (NaN is undefined, as in edgeHub);
 * string → string | null (a property sent with no value) | undefined; null → null; undefined → undefined;
 * any → undefined | null | boolean | number | string.
 */
export type Eval = (m: RouteMessage) => unknown;

export interface Compiled {
  readonly t: Ty;
  readonly f: Eval;
}

export interface CompileContext {
  readonly warnings: string[];
}

export function compileExpr(e: Expr, ctx: CompileContext): Compiled {
  switch (e.k) {
    case 'lit':
      return literal(e.tok);
    case 'prop':
      return appProperty(e.tok, ctx);
    case 'sys':
      return sysProperty(e.tok, e.escaped);
    case 'call':
      return call(e.tok, e.args.map((a) => compileExpr(a, ctx)));
    case 'unary':
      return unary(e.op, compileExpr(e.e, ctx));
    case 'bin':
      return binary(e.op, compileExpr(e.l, ctx), compileExpr(e.r, ctx));
  }
}

/** Turns a compiled condition into edgeHub's Bool: only a bool (or a $body bool) can be true; null counts as false. */
export function toCondition(c: Compiled): (m: RouteMessage) => boolean | undefined {
  const f = c.f;
  switch (c.t) {
    case 'bool':
      return f as (m: RouteMessage) => boolean | undefined;
    case 'any':
      return (m) => {
        const v = f(m);
        return typeof v === 'boolean' ? v : undefined;
      };
    case 'null':
      return () => false;
    default:
      return () => undefined;
  }
}

const constant = (t: Ty, v: unknown): Compiled => ({ t, f: () => v });
const UNDEFINED: Compiled = constant('undefined', undefined);

function literal(tok: Token): Compiled {
  switch (tok.kind) {
    case 'TRUE': return constant('bool', true);
    case 'FALSE': return constant('bool', false);
    case 'NULL': return constant('null', null);
    case 'UNDEFINED': return UNDEFINED;
    case 'STRING': return constant('string', unescape(tok.text.slice(1, -1)));
    case 'HEX': return numberConstant(parseHex(tok.text.slice(2)));
    default: return numberConstant(Number(tok.text));
  }
}

// edgeHub turns a number it cannot parse (e.g. `e5`, which the lexer reads as a real) into an undefined constant.
function numberConstant(n: number): Compiled {
  return Number.isNaN(n) ? UNDEFINED : constant('number', n);
}

// Same two passes, in the same order, as edgeHub's Unescape: \uXXXX first, then \" \' \\.
function unescape(s: string): string {
  return s
    .replace(/\\[Uu]([0-9A-Fa-f]{4})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    .replace(/\\(["'\\])/g, '$1');
}

// C# long.TryParse(hex, HexNumber): at most 16 significant digits, two's complement above 2^63.
function parseHex(digits: string): number {
  const significant = digits.replace(/^0+/, '');
  if (significant.length > 16) return NaN;
  let v = BigInt(`0x${digits}`);
  if (v >= 1n << 63n) v -= 1n << 64n;
  return Number(v);
}

// Characters that are operators elsewhere but legal inside an ID token: `a-b` or `x!` is one property name.
const SWALLOWED_OPERATOR = /[-+*%!|&']/;

function appProperty(tok: Token, ctx: CompileContext): Compiled {
  const name = tok.text;
  if (SWALLOWED_OPERATOR.test(name)) {
    ctx.warnings.push(
      `"${name}" at column ${tok.start + 1} is read as one property name (edgeHub allows - + * % ! | & ' in names); put spaces around operators if that was not meant`,
    );
  }
  return { t: 'string', f: (m) => lookupIgnoreCase(m.properties, name) };
}

const BODY_PREFIX = '$body.';

function sysProperty(tok: Token, escaped: boolean): Compiled {
  const text = tok.text;
  const isBody = text.length >= BODY_PREFIX.length && equalsIgnoreCase(text.slice(0, BODY_PREFIX.length), BODY_PREFIX);
  if (isBody) {
    const body = bodyQuery(tok, text.slice(BODY_PREFIX.length));
    if (escaped || text.includes('[')) return body;
    // An application property spelled "$body.x" wins over the body, as in edgeHub.
    const bf = body.f;
    return {
      t: 'any',
      f: (m) => {
        const v = lookupIgnoreCase(m.properties, text);
        return v !== undefined ? v : bf(m);
      },
    };
  }
  if (text.includes('[') || text.includes(']')) return UNDEFINED; // no property name has brackets
  const name = text.slice(1);
  if (escaped) return { t: 'string', f: (m) => readSystemProperty(m, name) };
  // `$x` is the application property "$x" if the message has one, else the system property "x" (docs and code agree).
  return {
    t: 'string',
    f: (m) => {
      const v = lookupIgnoreCase(m.properties, text);
      return v !== undefined ? v : readSystemProperty(m, name);
    },
  };
}

// ---- operators

type Op = (c: number) => boolean;
const COMPARE: Partial<Record<TokenKind, Op>> = {
  EQ: (c) => c === 0,
  NE: (c) => c !== 0,
  LTGT: (c) => c !== 0,
  LT: (c) => c < 0,
  LE: (c) => c <= 0,
  GT: (c) => c > 0,
  GE: (c) => c >= 0,
};

const isNumeric = (t: Ty): boolean => t === 'number' || t === 'any';
const isStringy = (t: Ty): boolean => t === 'string' || t === 'any';
const isLogical = (t: Ty): boolean => t === 'bool' || t === 'null' || t === 'undefined' || t === 'any';

/** edgeHub's operand rule for comparisons and `??`: same static type, or a $body value against a plain value. */
function sameOrAny(l: Ty, r: Ty): boolean {
  return l === r || (l === 'any' && r !== 'undefined') || (r === 'any' && l !== 'undefined');
}

function typeName(t: Ty): string {
  return t === 'any' ? '$body value' : t;
}

function operandHint(l: Ty, r: Ty): string | undefined {
  if ((l === 'string' && r === 'number') || (l === 'number' && r === 'string')) {
    return 'properties are strings: use AS_NUMBER(prop) to compare as numbers, or compare with a quoted string';
  }
  if (l === 'undefined' || r === 'undefined' || l === 'null' || r === 'null') {
    return 'use IS_DEFINED(x) or IS_NULL(x) to test for undefined or null';
  }
  return undefined;
}

function binary(op: Token, l: Compiled, r: Compiled): Compiled {
  switch (op.kind) {
    case 'STAR': case 'SLASH': case 'PERCENT': case 'PLUS': case 'MINUS':
      return arithmetic(op, l, r);
    case 'CONCAT':
      if (!isStringy(l.t) || !isStringy(r.t)) {
        throw new RouteProblem(op.start, `operator '||' needs strings, got ${typeName(l.t)} and ${typeName(r.t)}`);
      }
      return concat([l, r]);
    case 'AND': case 'OR':
      return logical(op, l, r);
    case 'COALESCE':
      return coalesce(op, l, r);
    default:
      return comparison(op, l, r);
  }
}

function arithmetic(op: Token, l: Compiled, r: Compiled): Compiled {
  if (!isNumeric(l.t) || !isNumeric(r.t)) {
    throw new RouteProblem(op.start, `operator '${op.text}' needs numbers, got ${typeName(l.t)} and ${typeName(r.t)}`, {
      hint: l.t === 'string' || r.t === 'string' ? 'properties are strings: convert with AS_NUMBER(prop)' : undefined,
    });
  }
  const lf = l.f;
  const rf = r.f;
  if (l.t === 'number' && r.t === 'number') {
    const a = lf as (m: RouteMessage) => number;
    const b = rf as (m: RouteMessage) => number;
    switch (op.kind) {
      case 'STAR': return { t: 'number', f: (m) => a(m) * b(m) };
      case 'SLASH': return { t: 'number', f: (m) => a(m) / b(m) };
      case 'PERCENT': return { t: 'number', f: (m) => a(m) % b(m) };
      case 'PLUS': return { t: 'number', f: (m) => a(m) + b(m) };
      default: return { t: 'number', f: (m) => a(m) - b(m) };
    }
  }
  // QueryValue has + - * / but no %, so edgeHub fails to compile `$body.x % 2`.
  if (op.kind === 'PERCENT') {
    throw new RouteProblem(op.start, "operator '%' cannot be applied to a $body value", { hint: 'convert first: AS_NUMBER($body.x) % 2' });
  }
  const a = toAny(l);
  const b = toAny(r);
  const apply: (x: number, y: number) => number =
    op.kind === 'STAR' ? (x, y) => x * y : op.kind === 'SLASH' ? (x, y) => x / y : op.kind === 'PLUS' ? (x, y) => x + y : (x, y) => x - y;
  return {
    t: 'any',
    f: (m) => {
      const x = a(m);
      if (typeof x !== 'number') return undefined;
      const y = b(m);
      if (typeof y !== 'number') return undefined;
      const v = apply(x, y);
      return Number.isNaN(v) ? undefined : v;
    },
  };
}

function comparison(op: Token, l: Compiled, r: Compiled): Compiled {
  const test = COMPARE[op.kind]!;
  if (!sameOrAny(l.t, r.t)) {
    throw new RouteProblem(op.start, `operator '${op.text}' cannot compare ${typeName(l.t)} with ${typeName(r.t)}`, {
      hint: operandHint(l.t, r.t),
    });
  }
  if (l.t === 'any' || r.t === 'any') {
    const a = toAny(l);
    const b = toAny(r);
    return {
      t: 'bool',
      f: (m) => {
        const c = compareAny(a(m), b(m));
        return c === undefined ? undefined : test(c);
      },
    };
  }
  const lf = l.f;
  const rf = r.f;
  switch (l.t) {
    case 'string':
      return {
        t: 'bool',
        f: (m) => {
          const x = lf(m);
          if (typeof x !== 'string') return undefined; // null and undefined strings compare to undefined
          const y = rf(m);
          if (typeof y !== 'string') return undefined;
          return test(x < y ? -1 : x > y ? 1 : 0); // UTF-16 code unit order = .NET Ordinal
        },
      };
    case 'number':
      return {
        t: 'bool',
        f: (m) => {
          const x = lf(m) as number;
          const y = rf(m) as number;
          if (Number.isNaN(x) || Number.isNaN(y)) return undefined;
          return test(x < y ? -1 : x > y ? 1 : 0);
        },
      };
    case 'bool':
      return {
        t: 'bool',
        f: (m) => {
          const x = lf(m);
          const y = rf(m);
          if (x === undefined || y === undefined) return undefined;
          return test(Number(x) - Number(y));
        },
      };
    case 'null':
      return constant('bool', test(0)); // null = null is true, null < null false
    default:
      return constant('bool', undefined);
  }
}

function logical(op: Token, l: Compiled, r: Compiled): Compiled {
  if (!isLogical(l.t) || !isLogical(r.t)) {
    throw new RouteProblem(op.start, `${op.text.toUpperCase()} needs boolean operands, got ${typeName(l.t)} and ${typeName(r.t)}`, {
      hint: 'compare the value, e.g. x = \'true\'',
    });
  }
  const isAnd = op.kind === 'AND';
  if (l.t === 'any' || r.t === 'any') {
    // QueryValue & and |: defined only when both sides are booleans.
    const a = toAny(l);
    const b = toAny(r);
    return {
      t: 'bool',
      f: (m) => {
        const x = a(m);
        const y = b(m);
        if (typeof x !== 'boolean' || typeof y !== 'boolean') return undefined;
        return isAnd ? x && y : x || y;
      },
    };
  }
  const lf = l.f;
  const rf = r.f;
  if (isAnd) {
    if (l.t === 'null' || r.t === 'null') return constant('null', null); // edgeHub: null AND x is null
    return {
      t: 'bool',
      f: (m) => {
        const x = lf(m);
        if (x === false) return false;
        const y = rf(m);
        if (y === false) return false;
        return x === undefined || y === undefined ? undefined : true;
      },
    };
  }
  if (l.t === 'null' && r.t === 'null') return constant('null', null);
  if (l.t === 'null') return r.t === 'bool' ? r : UNDEFINED_BOOL; // null OR x is x
  if (r.t === 'null') return l.t === 'bool' ? l : UNDEFINED_BOOL;
  return {
    t: 'bool',
    f: (m) => {
      const x = lf(m);
      if (x === true) return true;
      const y = rf(m);
      if (y === true) return true;
      return x === undefined || y === undefined ? undefined : false;
    },
  };
}

const UNDEFINED_BOOL: Compiled = constant('bool', undefined);

function coalesce(op: Token, l: Compiled, r: Compiled): Compiled {
  if (!sameOrAny(l.t, r.t)) {
    throw new RouteProblem(op.start, `operator '??' needs operands of one type, got ${typeName(l.t)} and ${typeName(r.t)}`, {
      hint: '?? binds loosest of all operators: write (a ?? b) = c',
    });
  }
  if (l.t === 'undefined') return r;
  if (l.t === 'any' || r.t === 'any') {
    const a = toAny(l);
    const b = toAny(r);
    return {
      t: 'any',
      f: (m) => {
        const x = a(m);
        return x !== undefined ? x : b(m);
      },
    };
  }
  const lf = l.f;
  const rf = r.f;
  const defined = isDefinedTest(l.t);
  return {
    t: l.t,
    f: (m) => {
      const x = lf(m);
      return defined(x) ? x : rf(m);
    },
  };
}

function unary(op: Token, e: Compiled): Compiled {
  const f = e.f;
  if (op.kind === 'MINUS') {
    if (e.t !== 'number') {
      throw new RouteProblem(op.start, `unary '-' needs a number, got ${typeName(e.t)}`, {
        hint: e.t === 'any' ? 'write 0 - $body.x' : e.t === 'string' ? 'convert with AS_NUMBER(prop)' : undefined,
      });
    }
    return { t: 'number', f: (m) => -(f(m) as number) };
  }
  switch (e.t) {
    case 'null':
      return constant('bool', true); // NOT null is true in edgeHub
    case 'bool':
      return { t: 'bool', f: (m) => { const v = f(m); return v === undefined ? undefined : !v; } };
    case 'any':
      return { t: 'bool', f: (m) => { const v = f(m); return typeof v === 'boolean' ? !v : undefined; } };
    default:
      throw new RouteProblem(op.start, `NOT needs a boolean, got ${typeName(e.t)}`, {
        hint: 'NOT binds tighter than comparisons: write NOT (a = b)',
      });
  }
}

/** Converts a typed value the way C# converts it to QueryValue: NaN and undefined become undefined. */
function toAny(c: Compiled): Eval {
  const f = c.f;
  switch (c.t) {
    case 'number':
      return (m) => {
        const v = f(m) as number;
        return Number.isNaN(v) ? undefined : v;
      };
    default:
      return f;
  }
}

// QueryValueType order, used when values of different types are compared.
function typeRank(v: unknown): number {
  switch (typeof v) {
    case 'boolean': return 1;
    case 'number': return 2;
    case 'string': return 3;
    default: return 4; // null
  }
}

function compareAny(x: unknown, y: unknown): number | undefined {
  if (x === undefined || y === undefined) return undefined;
  const rx = typeRank(x);
  const ry = typeRank(y);
  if (rx !== ry) return rx - ry;
  if (x === null) return 0;
  if (typeof x === 'boolean') return Number(x) - Number(y);
  return (x as number | string) < (y as number | string) ? -1 : (x as number | string) > (y as number | string) ? 1 : 0;
}

function isDefinedTest(t: Ty): (v: unknown) => boolean {
  switch (t) {
    case 'number': return (v) => !Number.isNaN(v as number);
    case 'null': return () => true;
    case 'undefined': return () => false;
    default: return (v) => v !== undefined;
  }
}

// ---- built-in functions (edgeHub's ConditionVisitor.Builtins; names are case-insensitive)

type Builtin = (args: readonly Compiled[], tok: Token) => Compiled;

/** A one-argument math function: numbers or $body values; anything non-numeric gives undefined. */
const math = (fn: (x: number) => number): Builtin => (args, tok) => {
  expectArgs(tok, args, ['number'], (t) => args.length === 1 && isNumeric(t[0]!));
  const x = numberArg(args[0]!);
  return { t: 'number', f: (m) => fn(x(m)) };
};

const stringTest = (fn: (s: string, frag: string) => boolean): Builtin => (args, tok) => {
  expectArgs(tok, args, ['string', 'string'], (t) => args.length === 2 && isStringy(t[0]!) && isStringy(t[1]!));
  const s = stringArg(args[0]!);
  const frag = stringArg(args[1]!);
  return {
    t: 'bool',
    f: (m) => {
      const a = s(m);
      const b = frag(m);
      return a === undefined || b === undefined ? undefined : fn(a, b);
    },
  };
};

const stringMap = (fn: (s: string) => string): Builtin => (args, tok) => {
  expectArgs(tok, args, ['string'], (t) => args.length === 1 && isStringy(t[0]!));
  const s = stringArg(args[0]!);
  return { t: 'string', f: (m) => { const v = s(m); return v === undefined ? undefined : fn(v); } };
};

/** IS_BOOL / IS_NUMBER / IS_STRING: false for any other static type, checked at run time for the matching one. */
const typeTest = (accepts: (t: Ty) => boolean, test: (v: unknown) => boolean | undefined): Builtin => (args, tok) => {
  expectArgs(tok, args, ['any value'], () => args.length === 1);
  const a = args[0]!;
  if (!accepts(a.t)) return constant('bool', false);
  const f = toAny(a);
  return { t: 'bool', f: (m) => test(f(m)) };
};

const BUILTINS: Readonly<Record<string, Builtin>> = {
  abs: math(Math.abs),
  exp: math(Math.exp),
  ceiling: math(Math.ceil),
  floor: math(Math.floor),
  sign: math((x) => (Number.isNaN(x) ? NaN : x > 0 ? 1 : x < 0 ? -1 : 0)),
  sqrt: math(Math.sqrt),
  square: math((x) => x * x),
  power: (args, tok) => {
    expectArgs(tok, args, ['number', 'number'], (t) => args.length === 2 && isNumeric(t[0]!) && isNumeric(t[1]!));
    const x = numberArg(args[0]!);
    const y = numberArg(args[1]!);
    return { t: 'number', f: (m) => dotnetPow(x(m), y(m)) };
  },
  as_number: (args, tok) => {
    expectArgs(tok, args, ['string'], (t) => args.length === 1 && (isStringy(t[0]!) || t[0] === 'number'));
    const a = args[0]!;
    if (a.t === 'number') return a;
    const f = a.f;
    return {
      t: 'number',
      f: (m) => {
        const v = f(m);
        return typeof v === 'string' ? parseDotnetDouble(v) : typeof v === 'number' ? v : NaN;
      },
    };
  },
  is_bool: typeTest((t) => t === 'bool' || t === 'any', (v) => (v === undefined ? undefined : typeof v === 'boolean')),
  is_number: typeTest(isNumeric, (v) => typeof v === 'number' && Number.isFinite(v)),
  is_string: typeTest(isStringy, (v) => typeof v === 'string'),
  is_defined: (args, tok) => {
    expectArgs(tok, args, ['any value'], () => args.length === 1);
    const a = args[0]!;
    const test = isDefinedTest(a.t);
    if (a.t === 'undefined' || a.t === 'null') return constant('bool', test(undefined));
    const f = a.f;
    return { t: 'bool', f: (m) => test(f(m)) };
  },
  is_null: (args, tok) => {
    expectArgs(tok, args, ['any value'], () => args.length === 1);
    const a = args[0]!;
    if (a.t === 'null') return constant('bool', true);
    const f = a.f;
    if (a.t === 'string') return { t: 'bool', f: (m) => f(m) === null };
    // edgeHub compares a $body value with its null singleton by reference, which makes every value other than a
    // missing path "null"; this follows the evident intent instead: JSON null or a missing path.
    if (a.t === 'any') return { t: 'bool', f: (m) => { const v = f(m); return v === undefined ? undefined : v === null; } };
    return constant('bool', false);
  },
  concat: (args, tok) => {
    expectArgs(tok, args, ['string', 'string', '...'], (t) => args.length >= 2 && t.every(isStringy));
    return concat(args);
  },
  length: (args, tok) => {
    expectArgs(tok, args, ['string'], (t) => args.length === 1 && isStringy(t[0]!));
    const s = stringArg(args[0]!);
    return { t: 'number', f: (m) => { const v = s(m); return v === undefined ? NaN : v.length; } };
  },
  lower: stringMap((s) => s.toLowerCase()),
  upper: stringMap((s) => s.toUpperCase()),
  substring: (args, tok) => {
    expectArgs(tok, args, ['string', 'number', '[number]'], (t) =>
      (args.length === 2 || args.length === 3) && isStringy(t[0]!) && t.slice(1).every(isNumeric));
    const s = stringArg(args[0]!);
    const start = numberArg(args[1]!);
    if (args.length === 2) {
      return {
        t: 'string',
        f: (m) => {
          const v = s(m);
          const i = start(m);
          return v !== undefined && i >= 0 && i <= v.length ? v.substring(Math.trunc(i)) : undefined;
        },
      };
    }
    const len = numberArg(args[2]!);
    return {
      t: 'string',
      f: (m) => {
        const v = s(m);
        const i = start(m);
        const n = len(m);
        // edgeHub's bounds: start < length here (<= with two arguments) and start + count within the string.
        if (v === undefined || !(i >= 0 && i < v.length && n >= 0 && n <= v.length - i)) return undefined;
        const from = Math.trunc(i);
        return v.substring(from, from + Math.trunc(n));
      },
    };
  },
  index_of: (args, tok) => {
    expectArgs(tok, args, ['string', 'string'], (t) => args.length === 2 && isStringy(t[0]!) && isStringy(t[1]!));
    const s = stringArg(args[0]!);
    const frag = stringArg(args[1]!);
    return {
      t: 'number',
      f: (m) => {
        const a = s(m);
        const b = frag(m);
        return a === undefined || b === undefined ? NaN : a.indexOf(b);
      },
    };
  },
  starts_with: stringTest((s, f) => s.startsWith(f)),
  ends_with: stringTest((s, f) => s.endsWith(f)),
  contains: stringTest((s, f) => s.includes(f)),
};

// In the IoT Hub routing docs but not in edgeHub's builtin table: edgeHub rejects these routes at deployment.
const HUB_ONLY = new Set(['is_array', 'is_object', 'is_primitive', 'twin_change_includes']);

function call(tok: Token, args: readonly Compiled[]): Compiled {
  const key = tok.text.toLowerCase();
  const builtin = Object.prototype.hasOwnProperty.call(BUILTINS, key) ? BUILTINS[key] : undefined;
  if (builtin === undefined) {
    if (HUB_ONLY.has(key)) {
      throw new RouteProblem(tok.start, `${tok.text.toUpperCase()} is an IoT Hub routing function that edgeHub does not implement`);
    }
    throw new RouteProblem(tok.start, `unknown function ${tok.text}`, {
      hint: `edgeHub has ${Object.keys(BUILTINS).map((n) => n.toUpperCase()).join(', ')}`,
    });
  }
  return builtin(args, tok);
}

function expectArgs(tok: Token, args: readonly Compiled[], shape: readonly string[], ok: (types: readonly Ty[]) => boolean): void {
  const types = args.map((a) => a.t);
  if (!ok(types)) {
    const name = tok.text.toUpperCase();
    throw new RouteProblem(tok.start, `invalid arguments to ${name}(${types.map(typeName).join(', ')}): expected ${name}(${shape.join(', ')})`, {
      hint: types.includes('string') && shape.includes('number') ? 'properties are strings: convert with AS_NUMBER(prop)' : undefined,
    });
  }
}

/** Number argument: NaN when undefined or not a number (what the C# QueryValue overloads return as undefined). */
function numberArg(c: Compiled): (m: RouteMessage) => number {
  const f = c.f;
  if (c.t === 'number') return f as (m: RouteMessage) => number;
  return (m) => {
    const v = f(m);
    return typeof v === 'number' ? v : NaN;
  };
}

/** String argument: undefined unless a real string (edgeHub treats null and undefined strings alike here). */
function stringArg(c: Compiled): (m: RouteMessage) => string | undefined {
  const f = c.f;
  return (m) => {
    const v = f(m);
    return typeof v === 'string' ? v : undefined;
  };
}

function concat(args: readonly Compiled[]): Compiled {
  // A property sent without a value (null string) concatenates as ""; a $body null makes the result undefined.
  const parts = args.map((a) => ({ f: a.f, nullIsEmpty: a.t === 'string' }));
  return {
    t: 'string',
    f: (m) => {
      let out = '';
      for (let i = 0; i < parts.length; i++) {
        const p = parts[i]!;
        const v = p.f(m);
        if (typeof v === 'string') out += v;
        else if (!(v === null && p.nullIsEmpty)) return undefined;
      }
      return out;
    },
  };
}

// .NET Math.Pow returns 1 for (±1)^±∞ where JavaScript gives NaN.
function dotnetPow(x: number, y: number): number {
  if ((x === 1 || x === -1) && !Number.isFinite(y) && !Number.isNaN(y)) return 1;
  return Math.pow(x, y);
}

/**
 * AS_NUMBER's parse: edgeHub uses .NET double.TryParse(s, NumberStyles.Any, InvariantCulture), which also accepts
 * surrounding white space, a trailing sign, parentheses for negatives, ',' group separators in the integer part,
 * the currency sign '¤', and "Infinity"/"NaN". This approximates it.
 */
export function parseDotnetDouble(input: string): number {
  let s = input.replace(/^[\t-\r ]+|[\t-\r ]+$/g, '');
  let negative = false;
  if (s.startsWith('(') && s.endsWith(')')) {
    negative = true;
    s = s.slice(1, -1);
  }
  s = s.replace(/^¤|¤$/g, '');
  const lead = /^[+-]/.exec(s);
  const trail = /[+-]$/.exec(s);
  if (lead && trail && s.length > 1) return NaN;
  if (lead) s = s.slice(1);
  else if (trail) s = s.slice(0, -1);
  const sign = lead?.[0] ?? trail?.[0];
  if (sign === '-') negative = !negative;
  let v: number;
  if (/^infinity$/i.test(s)) v = Infinity;
  else if (/^nan$/i.test(s)) v = NaN;
  else {
    const m = /^((?:[0-9][0-9,]*)?)(\.[0-9]*)?([eE][+-]?[0-9]+)?$/.exec(s);
    if (!m || !/[0-9]/.test((m[1] ?? '') + (m[2] ?? ''))) return NaN;
    v = Number(`${(m[1] ?? '').replace(/,/g, '')}${m[2] ?? ''}${m[3] ?? ''}`);
  }
  return negative ? -v : v;
}

// ---------------------------------------------------------------------------------------------------------------
// Message access

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** Ordinal case-insensitive equality (edgeHub's property bags use StringComparer.OrdinalIgnoreCase). */
export function equalsIgnoreCase(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x < 128 && y < 128) {
      const lx = x | 0x20;
      if (lx < 97 || lx > 122 || lx !== (y | 0x20)) return false;
    } else if (a[i]!.toUpperCase() !== b[i]!.toUpperCase()) {
      return false;
    }
  }
  return true;
}

/** Case-insensitive property read without allocating: exact key first, then a scan. */
export function lookupIgnoreCase(bag: Readonly<Record<string, string | null | undefined>>, name: string): string | null | undefined {
  if (hasOwn(bag, name)) {
    const v = bag[name];
    if (v !== undefined) return v;
  }
  for (const key in bag) {
    if (key !== name && equalsIgnoreCase(key, name) && hasOwn(bag, key)) {
      const v = bag[key];
      if (v !== undefined) return v;
    }
  }
  return undefined;
}

/**
 * A system property by its route-query name. The message's own systemProperties come first; identity that the
 * source already states fills the gaps, because in edgeHub the source is derived from those very properties
 * (RoutingMessageConverter), so they cannot disagree.
 */
export function readSystemProperty(m: RouteMessage, name: string): string | undefined {
  const v = lookupIgnoreCase(m.systemProperties, name);
  if (typeof v === 'string') return v;
  const src = m.source;
  switch (src.kind) {
    case 'module':
      if (equalsIgnoreCase(name, 'connectionModuleId')) return src.moduleId;
      if (equalsIgnoreCase(name, 'outputName') && src.output !== '') return src.output;
      return undefined;
    case 'device':
      return equalsIgnoreCase(name, 'connectionDeviceId') ? src.deviceId : undefined;
    case 'twinChangeNotification':
      if (equalsIgnoreCase(name, 'connectionDeviceId')) return src.deviceId;
      if (equalsIgnoreCase(name, 'connectionModuleId')) return src.moduleId;
      if (equalsIgnoreCase(name, 'messageType')) return 'twinChangeNotification';
      return undefined;
    default:
      return undefined;
  }
}

// ---- $body

type PathStep = { readonly name: string; readonly index: number | undefined };

// edgeHub validates the path with its JsonPath.g4: dot-separated names, each optionally followed by one [index].
const PATH_STEP = /^([^()<>@,;:\\"/[\]?={}.\t\n\r]+)(?:\[([0-9]+)\])?$/;

function bodyQuery(tok: Token, path: string): Compiled {
  const steps: PathStep[] = [];
  for (const part of path.split('.')) {
    const m = PATH_STEP.exec(part);
    if (!m) {
      throw new RouteProblem(tok.start, `invalid $body path ${JSON.stringify(tok.text)}`, {
        hint: 'write $body.a.b or $body.a[0].b',
      });
    }
    steps.push({ name: m[1]!, index: m[2] === undefined ? undefined : Number(m[2]) });
  }
  return { t: 'any', f: (m) => readBodyPath(m, steps) };
}

/**
 * edgeHub's body lookup (Newtonsoft SelectTokens): a path that selects nothing is null, an object or array is
 * undefined (not comparable), a leaf is its value. Strings Newtonsoft reads as dates are undefined too.
 */
function readBodyPath(m: RouteMessage, steps: readonly PathStep[]): unknown {
  const root = bodyRoot(m);
  if (root === NO_BODY) return undefined;
  let cur: unknown = root;
  for (const step of steps) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !hasOwn(cur, step.name)) return null;
    cur = (cur as Record<string, unknown>)[step.name];
    if (step.index !== undefined) {
      if (!Array.isArray(cur) || step.index >= cur.length) return null;
      cur = cur[step.index];
    }
  }
  if (cur === null || typeof cur === 'boolean' || typeof cur === 'number') return cur;
  if (typeof cur === 'string') return looksLikeNewtonsoftDate(cur) ? undefined : cur;
  return undefined;
}

/** Newtonsoft's default DateParseHandling turns ISO 8601 date-times and "/Date(...)/" strings into dates. */
export function looksLikeNewtonsoftDate(s: string): boolean {
  if (s.startsWith('/Date(') && s.endsWith(')/')) return true;
  if (s.length < 19 || s.length > 40 || s.charCodeAt(10) !== 84 /* T */) return false;
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,7})?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?$/.exec(s);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour < 24 && minute < 60 && second < 60;
}

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

function bodyRoot(m: RouteMessage): object | typeof NO_BODY {
  const type = readSystemProperty(m, 'contentType');
  const encoding = readSystemProperty(m, 'contentEncoding');
  if (m === cachedMessage && m.body === cachedBuffer && type === cachedType && encoding === cachedEncoding) return cachedRoot;
  cachedRoot = parseBody(m.body, type, encoding);
  cachedMessage = m;
  cachedBuffer = m.body;
  cachedType = type;
  cachedEncoding = encoding;
  return cachedRoot;
}

/**
 * edgeHub reads the body only with contentType "application/json" and contentEncoding utf-8, utf-16 or utf-32 (both
 * compared case-insensitively, no parameters allowed) and only when the JSON is an object; otherwise every $body
 * query is undefined. .NET's "utf-16"/"utf-32" encodings are little-endian.
 */
function parseBody(body: Buffer, type: string | undefined, encoding: string | undefined): object | typeof NO_BODY {
  if (type === undefined || encoding === undefined || !equalsIgnoreCase(type, 'application/json')) return NO_BODY;
  let text: string;
  if (equalsIgnoreCase(encoding, 'utf-8')) text = body.toString('utf8');
  else if (equalsIgnoreCase(encoding, 'utf-16')) text = body.toString('utf16le');
  else if (equalsIgnoreCase(encoding, 'utf-32')) text = decodeUtf32le(body);
  else return NO_BODY;
  parses++;
  try {
    const root: unknown = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    return root !== null && typeof root === 'object' && !Array.isArray(root) ? root : NO_BODY;
  } catch {
    return NO_BODY;
  }
}

function decodeUtf32le(body: Buffer): string {
  let out = '';
  for (let i = 0; i + 3 < body.length; i += 4) {
    const cp = body.readUInt32LE(i);
    out += cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff) ? String.fromCodePoint(cp) : '\ufffd';
  }
  return out;
}
