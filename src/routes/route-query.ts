/**
 * The WHERE part of an edgeHub route: parsed once into an AST, type-checked, then compiled to closures.
 *
 * The reference is edgeHub's own compiler and runtime. Facts were taken from Azure/iotedge at commit
 * 55353a649ea9d624a684428fab2d925a81bcda07, edge-hub/core/src/Microsoft.Azure.Devices.Routing.Core/:
 * - grammar/Condition.g4, grammar/GrammarLexer.g4: syntax and precedence;
 * - query/ConditionVisitor.cs: static types, which operands each operator takes (CheckOperands,
 *   CheckBooleanOperands), how properties, system properties and `$body` are looked up, the builtin table;
 * - query/Bool.cs, query/Null.cs, query/Undefined.cs, query/ComparisonOperators.cs, query/types/QueryValue.cs,
 *   query/types/QueryValueType.cs: three-valued logic, comparisons, `$body` value semantics;
 * - query/builtins/*.cs (Abs, AsNumber, Ceiling, Concat, Contains, EndsWith, Exp, Floor, IndexOf, IsBool,
 *   IsDefined, IsNull, IsNumber, IsString, Length, Lower, Power, Sign, Sqrt, Square, StartsWith, Substring,
 *   TwinChangeIncludes, Upper) with Builtin.cs, Args.cs, VarArgs.cs, AnyArgs.cs: which arguments each function
 *   accepts (IsQueryValueSupported lets a `$body` value stand for any plain type) and what it returns for
 *   undefined, null and values of the wrong type;
 * - query/RouteCompiler.cs, Evaluator.cs: a route matches only when its condition is exactly true.
 * How `$body` is read is in route-body.ts, the .NET parsing and casing rules in route-dotnet.ts, property lookups
 * in route-message.ts.
 *
 * The rules, briefly:
 * - Static types as in edgeHub: application and system properties are strings (`temperature > 30` is a compile
 *   error there and a RouteError here, with a hint to write `AS_NUMBER(temperature) > 30`); numbers, bools, null
 *   and undefined literals have their own types; `$body.x` is dynamically typed (QueryValue, 'any' here) and is
 *   accepted wherever a number, string, bool or null is.
 * - Undefined is three-valued logic's unknown: comparisons with it are undefined, `false AND undefined` is false,
 *   `true OR undefined` is true. A number that is NaN is undefined, but a `$body` computation may yield NaN.
 * - A `$body` path that selects nothing is null (so IS_DEFINED of it is true); an object, an array, several
 *   matches, a date string (Newtonsoft reads ISO date-times as dates) or a message without a JSON body is undefined.
 * - `$body` values of different types are never equal and order by type: bool < number < string < null.
 * - Precedence, tightest first: unary `-` and NOT, `* / %`, `+ - ||`, `< <= > >=`, `= != <>`, AND, OR, `??`.
 *   NOT binds tighter than comparisons, so `NOT a = 'x'` is `(NOT a) = 'x'` (a type error), as in the grammar.
 * Where edgeHub's behaviour is surprising (IS_NULL of a `$body` value, a `$body` value right of AND/OR), the
 * simulator still does what edgeHub does and says so in a warning or in the error.
 */

import { RouteProblem } from './route-error.js';
import { type Cursor, type Token, type TokenKind, unterminated } from './route-lexer.js';
import { compileBodyPath, MISSING, readBody } from './route-body.js';
import { dotnetPow, invariantCase, parseDotnetDouble } from './route-dotnet.js';
import { equalsIgnoreCase, lookupIgnoreCase, readSystemProperty } from './route-message.js';
import type { RouteMessage } from './route-message.js';

export { bodyParseCount } from './route-body.js';

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
  EQ: 4,
  NE: 4,
  LTGT: 4,
  LT: 5,
  LE: 5,
  GT: 5,
  GE: 5,
  PLUS: 6,
  MINUS: 6,
  CONCAT: 6,
  STAR: 7,
  SLASH: 7,
  PERCENT: 7,
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
    case 'TRUE':
    case 'FALSE':
    case 'NULL':
    case 'UNDEFINED':
    case 'STRING':
    case 'INTEGER':
    case 'HEX':
    case 'REAL':
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
 * A string property sent without a value, once it is a QueryValue: still of the string type (it sorts before every
 * other string and concatenates as ""), which JSON null is not.
 */
const NULL_STRING: unique symbol = Symbol('a property without a value');

/** What a `$body` (QueryValue) expression yields. NaN is a number here: QueryValue arithmetic keeps it. */
type AnyValue = undefined | null | typeof MISSING | typeof NULL_STRING | boolean | number | string;

/**
 * Runtime values by static type: bool → true | false | undefined; number → number (NaN is undefined, as in edgeHub);
 * string → string | null (a property sent with no value) | undefined; null → null; undefined → undefined;
 * any → AnyValue.
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
      return call(
        e.tok,
        e.args.map((a) => compileExpr(a, ctx)),
        ctx,
      );
    case 'unary':
      return unary(e.op, compileExpr(e.e, ctx));
    case 'bin':
      return binary(e.op, compileExpr(e.l, ctx), compileExpr(e.r, ctx), ctx);
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
    case 'TRUE':
      return constant('bool', true);
    case 'FALSE':
      return constant('bool', false);
    case 'NULL':
      return constant('null', null);
    case 'UNDEFINED':
      return UNDEFINED;
    case 'STRING':
      return constant('string', unescape(tok.text.slice(1, -1)));
    case 'HEX':
      return numberConstant(parseHex(tok.text.slice(2)));
    default:
      return numberConstant(Number(tok.text));
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
    if (escaped || text.includes('[') || text.includes(']')) return body;
    // An application property spelled "$body.x" wins over the body, as in edgeHub, and is a string there.
    const bf = body.f;
    return {
      t: 'any',
      f: (m) => {
        const v = lookupIgnoreCase(m.properties, text);
        return v === undefined ? bf(m) : (v ?? NULL_STRING);
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

function bodyQuery(tok: Token, path: string): Compiled {
  const select = compileBodyPath(path);
  if (select === undefined) {
    throw new RouteProblem(tok.start, `invalid $body path ${JSON.stringify(tok.text)}`, {
      hint: 'write $body.a.b or $body.a[0].b',
    });
  }
  return {
    t: 'any',
    f: (m) => readBody(m, readSystemProperty(m, 'contentType'), readSystemProperty(m, 'contentEncoding'), select),
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
const isLogical = (t: Ty): boolean => t === 'bool' || t === 'null' || t === 'undefined';

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

function binary(op: Token, l: Compiled, r: Compiled, ctx: CompileContext): Compiled {
  switch (op.kind) {
    case 'STAR':
    case 'SLASH':
    case 'PERCENT':
    case 'PLUS':
    case 'MINUS':
      return arithmetic(op, l, r);
    case 'CONCAT':
      if (!isStringy(l.t) || !isStringy(r.t)) {
        throw new RouteProblem(op.start, `operator '||' needs strings, got ${typeName(l.t)} and ${typeName(r.t)}`);
      }
      return concat([l, r]);
    case 'AND':
    case 'OR':
      return logical(op, l, r, ctx);
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
  const apply = ARITHMETIC[op.kind]!;
  if (l.t === 'number' && r.t === 'number') {
    const a = l.f as (m: RouteMessage) => number;
    const b = r.f as (m: RouteMessage) => number;
    return { t: 'number', f: (m) => apply(a(m), b(m)) };
  }
  // QueryValue has + - * / but no %, so edgeHub fails to compile `$body.x % 2`.
  if (op.kind === 'PERCENT') {
    throw new RouteProblem(op.start, "operator '%' cannot be applied to a $body value", {
      hint: 'convert first: AS_NUMBER($body.x) % 2',
    });
  }
  const a = toAny(l);
  const b = toAny(r);
  // QueryValue arithmetic: two numbers give a number (NaN and infinities included), anything else undefined.
  return {
    t: 'any',
    f: (m) => {
      const x = a(m);
      if (typeof x !== 'number') return undefined;
      const y = b(m);
      return typeof y === 'number' ? apply(x, y) : undefined;
    },
  };
}

// C# double arithmetic is JavaScript's, `%` included (the sign of the dividend).
const ARITHMETIC: Partial<Record<TokenKind, (x: number, y: number) => number>> = {
  STAR: (x, y) => x * y,
  SLASH: (x, y) => x / y,
  PERCENT: (x, y) => x % y,
  PLUS: (x, y) => x + y,
  MINUS: (x, y) => x - y,
};

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
  return sameTypeComparison(l.t, l.f, r.f, test);
}

/** A comparison of two operands of type `t`: strings in ordinal order, numbers, bools as 0 and 1, nulls equal. */
function sameTypeComparison(t: Ty, lf: Eval, rf: Eval, test: Op): Compiled {
  switch (t) {
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

/**
 * AND / OR as ConditionVisitor.CheckBooleanOperands checks them: each side a bool, null or undefined, or a $body
 * value; but a $body value on the right is accepted only when the left is one too (the check tests the left
 * operand's type twice), and then the right may be anything. With a $body value on either side both become
 * QueryValues, whose & and | give a result only for two booleans.
 */
function logical(op: Token, l: Compiled, r: Compiled, ctx: CompileContext): Compiled {
  const name = op.text.toUpperCase();
  const leftOk = isLogical(l.t) || l.t === 'any';
  const rightOk = isLogical(r.t) || l.t === 'any';
  if (!leftOk || !rightOk) {
    const bodyRight = leftOk && r.t === 'any';
    throw new RouteProblem(op.start, `${name} needs boolean operands, got ${typeName(l.t)} and ${typeName(r.t)}`, {
      hint: bodyRight
        ? `edgeHub takes a $body value on the right of ${name} only when the left operand is a $body value too: ` +
          'swap the operands, or compare it (x = true)'
        : "compare the value, e.g. x = 'true'",
    });
  }
  const isAnd = op.kind === 'AND';
  if (l.t === 'any' || r.t === 'any') return logicalAny(op, l, r, ctx);
  if ((l.t === 'undefined' && r.t === 'null') || (l.t === 'null' && r.t === 'undefined')) {
    throw new RouteProblem(op.start, `edgeHub has no ${name} between undefined and null`);
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

function logicalAny(op: Token, l: Compiled, r: Compiled, ctx: CompileContext): Compiled {
  const name = op.text.toUpperCase();
  const isAnd = op.kind === 'AND';
  // The result of AND with a null operand has edgeHub's Null type, to which a QueryValue does not convert.
  if (isAnd && r.t === 'null') {
    throw new RouteProblem(op.start, `edgeHub cannot compile ${name} of a $body value and null`);
  }
  if (r.t !== 'bool' && r.t !== 'any') {
    ctx.warnings.push(
      `${name} at column ${op.start + 1} joins a $body value with ${typeName(r.t)}: ` +
        'edgeHub accepts it, but it is never true',
    );
  }
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

function coalesce(op: Token, l: Compiled, r: Compiled): Compiled {
  if (!sameOrAny(l.t, r.t)) {
    throw new RouteProblem(
      op.start,
      `operator '??' needs operands of one type, got ${typeName(l.t)} and ${typeName(r.t)}`,
      {
        hint: '?? binds loosest of all operators: write (a ?? b) = c',
      },
    );
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
    // Negate is defined for double only; QueryValue has no unary minus.
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
      return {
        t: 'bool',
        f: (m) => {
          const v = f(m);
          return v === undefined ? undefined : !v;
        },
      };
    case 'any':
      return {
        t: 'bool',
        f: (m) => {
          const v = f(m);
          return typeof v === 'boolean' ? !v : undefined;
        },
      };
    default:
      throw new RouteProblem(op.start, `NOT needs a boolean, got ${typeName(e.t)}`, {
        hint: 'NOT binds tighter than comparisons: write NOT (a = b)',
      });
  }
}

/** Converts a typed value the way C# converts it to QueryValue: NaN and undefined become undefined. */
function toAny(c: Compiled): (m: RouteMessage) => AnyValue {
  const f = c.f;
  switch (c.t) {
    case 'number':
      return (m) => {
        const v = f(m) as number;
        return Number.isNaN(v) ? undefined : v;
      };
    case 'string':
      return (m) => {
        const v = f(m) as string | null | undefined;
        return v === null ? NULL_STRING : v;
      };
    default:
      return f as (m: RouteMessage) => AnyValue;
  }
}

// QueryValueType order, used when values of different types are compared.
const BOOL_RANK = 1;
const NUMBER_RANK = 2;
const STRING_RANK = 3;
const NULL_RANK = 4;

function rankOf(v: Exclude<AnyValue, undefined>): number {
  switch (typeof v) {
    case 'boolean':
      return BOOL_RANK;
    case 'number':
      return NUMBER_RANK;
    case 'string':
      return STRING_RANK;
    default:
      return v === NULL_STRING ? STRING_RANK : NULL_RANK; // null and a missing path
  }
}

/** QueryValue.CompareTo, for two defined values. */
function compareAny(x: AnyValue, y: AnyValue): number | undefined {
  if (x === undefined || y === undefined) return undefined;
  const rx = rankOf(x);
  const ry = rankOf(y);
  if (rx !== ry) return rx - ry;
  switch (rx) {
    case BOOL_RANK:
      return Number(x) - Number(y);
    case NUMBER_RANK:
      return compareDoubles(x as number, y as number);
    case STRING_RANK:
      return compareStrings(x as string | typeof NULL_STRING, y as string | typeof NULL_STRING);
    default:
      return 0;
  }
}

/** double.CompareTo: NaN equals NaN and is below every other number. */
function compareDoubles(a: number, b: number): number {
  if (a < b) return -1;
  if (a > b) return 1;
  if (a === b) return 0;
  return Number.isNaN(a) ? (Number.isNaN(b) ? 0 : -1) : 1;
}

/** string.Compare(a, b, Ordinal): UTF-16 code units; a null string is below every other. */
function compareStrings(a: string | typeof NULL_STRING, b: string | typeof NULL_STRING): number {
  if (a === NULL_STRING || b === NULL_STRING) return a === b ? 0 : a === NULL_STRING ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function isDefinedTest(t: Ty): (v: unknown) => boolean {
  switch (t) {
    case 'number':
      return (v) => !Number.isNaN(v);
    case 'null':
      return () => true;
    case 'undefined':
      return () => false;
    default:
      return (v) => v !== undefined;
  }
}

// ---- built-in functions (edgeHub's ConditionVisitor.Builtins; names are case-insensitive)
//
// Builtin.Get takes the first executor whose argument types match. An executor marked IsQueryValueSupported also
// matches a $body value for any of its plain parameter types, and then receives every argument as a QueryValue:
// a missing property, a NaN number or an undefined bool becomes undefined, a property without a value a null string.

type Builtin = (args: readonly Compiled[], tok: Token, ctx: CompileContext) => Compiled;

/** ABS, EXP, … (Args(double), QueryValue supported): a number or a $body number, else undefined. */
const math =
  (fn: (x: number) => number): Builtin =>
  (args, tok) => {
    expectArgs(tok, args, ['number'], (t) => args.length === 1 && isNumeric(t[0]!));
    const x = numberArg(args[0]!);
    return { t: 'number', f: (m) => fn(x(m)) };
  };

/** STARTS_WITH, ENDS_WITH, CONTAINS (Args(string, string), QueryValue supported): ordinal, needs two strings. */
const stringTest =
  (fn: (s: string, frag: string) => boolean): Builtin =>
  (args, tok) => {
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

const stringMap =
  (fn: (s: string) => string): Builtin =>
  (args, tok) => {
    expectArgs(tok, args, ['string'], (t) => args.length === 1 && isStringy(t[0]!));
    const s = stringArg(args[0]!);
    return {
      t: 'string',
      f: (m) => {
        const v = s(m);
        return v === undefined ? undefined : fn(v);
      },
    };
  };

/**
 * IS_BOOL / IS_NUMBER / IS_STRING: a typed executor (QueryValue supported) for the matching type, which tests the
 * value; any other argument matches AnyArgs(1) and is false.
 */
const typeTest =
  (accepts: (t: Ty) => boolean, test: (v: AnyValue) => boolean | undefined): Builtin =>
  (args, tok) => {
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
    // As QueryValues: a NaN number is undefined, but NaN from $body arithmetic is a number (and NaN^0 is 1).
    const x = toAny(args[0]!);
    const y = toAny(args[1]!);
    return {
      t: 'number',
      f: (m) => {
        const a = x(m);
        const b = y(m);
        return typeof a === 'number' && typeof b === 'number' ? dotnetPow(a, b) : NaN;
      },
    };
  },
  as_number: (args, tok) => {
    // Args(string) with QueryValue support first, then Args(double) as is: a bool, null or undefined is refused.
    expectArgs(tok, args, ['string'], (t) => args.length === 1 && (isStringy(t[0]!) || t[0] === 'number'));
    const a = args[0]!;
    if (a.t === 'number') return a;
    const f = toAny(a);
    return {
      t: 'number',
      f: (m) => {
        const v = f(m);
        return typeof v === 'string' ? parseDotnetDouble(v) : typeof v === 'number' ? v : NaN;
      },
    };
  },
  is_bool: typeTest(
    (t) => t === 'bool' || t === 'any',
    (v) => (v === undefined ? undefined : typeof v === 'boolean'),
  ),
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
  is_null: isNull,
  concat: (args, tok) => {
    expectArgs(tok, args, ['string', 'string', '...'], (t) => args.length >= 2 && t.every(isStringy));
    return concat(args);
  },
  length: (args, tok) => {
    expectArgs(tok, args, ['string'], (t) => args.length === 1 && isStringy(t[0]!));
    const s = stringArg(args[0]!);
    return {
      t: 'number',
      f: (m) => {
        const v = s(m);
        return v === undefined ? NaN : v.length;
      },
    };
  },
  lower: stringMap((s) => invariantCase(s, false)),
  upper: stringMap((s) => invariantCase(s, true)),
  substring,
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

/**
 * IS_NULL: a property is null when sent without a value; the null literal is; a $body value is undefined when
 * undefined and otherwise "not the QueryValue.Null instance", edgeHub's reference comparison: false for a path that
 * selects nothing, true for everything else (JSON null and every present value). Anything else is false.
 */
function isNull(args: readonly Compiled[], tok: Token, ctx: CompileContext): Compiled {
  expectArgs(tok, args, ['any value'], () => args.length === 1);
  const a = args[0]!;
  const f = a.f;
  switch (a.t) {
    case 'null':
      return constant('bool', true);
    case 'string':
      return { t: 'bool', f: (m) => f(m) === null };
    case 'any':
      ctx.warnings.push(
        `IS_NULL at column ${tok.start + 1} is given a $body value: in edgeHub that is true for every value that is ` +
          'present (null or not) and false where the path selects nothing; to test for null or a missing path, ' +
          'compare: $body.x = null',
      );
      return {
        t: 'bool',
        f: (m) => {
          const v = f(m);
          return v === undefined ? undefined : v !== MISSING;
        },
      };
    default:
      return constant('bool', false);
  }
}

/**
 * SUBSTRING(s, start) keeps start within 0…length; SUBSTRING(s, start, count) needs start < length and
 * start + count within the string; both truncate the numbers toward zero, as (int) does.
 */
function substring(args: readonly Compiled[], tok: Token): Compiled {
  expectArgs(
    tok,
    args,
    ['string', 'number', '[number]'],
    (t) => (args.length === 2 || args.length === 3) && isStringy(t[0]!) && t.slice(1).every(isNumeric),
  );
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
      if (v === undefined || !(i >= 0 && i < v.length && n >= 0 && n <= v.length - i)) return undefined;
      const from = Math.trunc(i);
      return v.substring(from, from + Math.trunc(n));
    },
  };
}

// In the IoT Hub routing docs but not in edgeHub's builtin table: edgeHub rejects these routes at deployment.
const HUB_ONLY = new Set(['is_array', 'is_object', 'is_primitive']);

function call(tok: Token, args: readonly Compiled[], ctx: CompileContext): Compiled {
  const key = tok.text.toLowerCase();
  const builtin = Object.prototype.hasOwnProperty.call(BUILTINS, key) ? BUILTINS[key] : undefined;
  if (builtin === undefined) {
    if (HUB_ONLY.has(key)) {
      throw new RouteProblem(
        tok.start,
        `${tok.text.toUpperCase()} is an IoT Hub routing function that edgeHub does not implement`,
      );
    }
    if (key === 'twin_change_includes') {
      // Its IsValidMessageSource wants IoT Hub's twin-change source; an edgeHub route's source never is one.
      throw new RouteProblem(tok.start, 'TWIN_CHANGE_INCLUDES is refused in every edgeHub route (IoT Hub has it)');
    }
    throw new RouteProblem(tok.start, `unknown function ${tok.text}`, {
      hint: `edgeHub has ${Object.keys(BUILTINS)
        .map((n) => n.toUpperCase())
        .join(', ')}`,
    });
  }
  return builtin(args, tok, ctx);
}

function expectArgs(
  tok: Token,
  args: readonly Compiled[],
  shape: readonly string[],
  ok: (types: readonly Ty[]) => boolean,
): void {
  const types = args.map((a) => a.t);
  if (!ok(types)) {
    const name = tok.text.toUpperCase();
    throw new RouteProblem(
      tok.start,
      `invalid arguments to ${name}(${types.map(typeName).join(', ')}): expected ${name}(${shape.join(', ')})`,
      {
        hint:
          types.includes('string') && shape.includes('number')
            ? 'properties are strings: convert with AS_NUMBER(prop)'
            : undefined,
      },
    );
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

/** String argument: undefined unless a real string (edgeHub's IsNullOrUndefined). */
function stringArg(c: Compiled): (m: RouteMessage) => string | undefined {
  const f = c.f;
  return (m) => {
    const v = f(m);
    return typeof v === 'string' ? v : undefined;
  };
}

/** CONCAT and `||`: undefined unless every part is a string; a property without a value counts as "". */
function concat(args: readonly Compiled[]): Compiled {
  const parts = args.map(toAny);
  return {
    t: 'string',
    f: (m) => {
      let out = '';
      for (const part of parts) {
        const v = part(m);
        if (typeof v === 'string') out += v;
        else if (v !== NULL_STRING) return undefined;
      }
      return out;
    },
  };
}
