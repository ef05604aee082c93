// Every function and operator of edgeHub's route conditions, each with arguments from the JSON body, from
// application properties and from system properties, and with undefined, null and values of the wrong type.
// 'refused' means edgeHub's compiler rejects the route (a RouteError here).
//
// Expectations come from Azure/iotedge at commit 55353a649ea9d624a684428fab2d925a81bcda07, files under
// edge-hub/core/src/Microsoft.Azure.Devices.Routing.Core/ (named in each describe): query/builtins/*.cs with
// Builtin.cs, Args.cs, VarArgs.cs and AnyArgs.cs for argument matching; query/ConditionVisitor.cs for operand rules;
// query/types/QueryValue.cs, query/Bool.cs, query/Null.cs, query/Undefined.cs, query/ComparisonOperators.cs for
// values; JsonMessageQueryValueProvider.cs and query/builtins/BodyQuery.cs for $body. Where edgeHub's own tests
// state a case (edge-hub/core/test/Microsoft.Azure.Devices.Routing.Core.Test/query/BodyQueryTest.cs) it is marked.
// .NET facts: dotnet/runtime Number.Parsing.cs (AS_NUMBER) and pal_casing.c (LOWER, UPPER); which JSON strings are
// dates: JamesNK/Newtonsoft.Json at 09bb545d72969ad7fb4ea07db0d5c34f4fc07877, Utilities/DateTimeUtils.cs and
// Utilities/DateTimeParser.cs.
import { describe, expect, it } from 'vitest';
import { compileRoute, RouteError, type RouteMessage } from '../../src/sim/edge/routes.js';

const BODY = {
  s: 'Hello',
  e: '',
  num: '12.5',
  n: 42,
  neg: -2.5,
  frac: 2.5,
  zero: 0,
  t: true,
  f: false,
  nul: null,
  obj: { a: 1 },
  arr: [1, 2],
  date: '2026-01-02T03:04:05Z',
};

function message(body: string | Buffer = JSON.stringify(BODY), sys: Record<string, string> = {}): RouteMessage {
  return {
    source: { kind: 'module', moduleId: 'Sensor', output: 'out' },
    properties: { str: 'Hello', num: '12.5', empty: null },
    systemProperties: { messageId: 'msg-1', contentType: 'application/json', contentEncoding: 'utf-8', ...sys },
    body: typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
  };
}

type Expected = boolean | undefined | 'refused';

/** The WHERE result of `condition` for the message, or 'refused' when the route does not compile. */
function evaluate(condition: string, m: RouteMessage = message()): Expected {
  let route;
  try {
    route = compileRoute('r', `FROM /* WHERE ${condition} INTO $upstream`);
  } catch (e) {
    if (e instanceof RouteError) return 'refused';
    throw e;
  }
  return route.evaluate(m);
}

const table = (rows: [string, Expected][]) =>
  it.each(rows)('%s → %s', (condition, expected) => {
    expect(evaluate(condition)).toBe(expected);
  });

describe('math: Abs.cs, Exp.cs, Ceiling.cs, Floor.cs, Sign.cs, Sqrt.cs, Square.cs, Power.cs', () => {
  table([
    ['ABS($body.neg) = 2.5', true], // BodyQueryTest: abs($body…FreezingTemperature) = 50.4
    ['ABS(-3) = 3', true],
    ['ABS(AS_NUMBER(num)) = 12.5', true],
    ['IS_DEFINED(ABS($body.s))', false], // a $body string: undefined
    ['IS_DEFINED(ABS($body.nul))', false],
    ['IS_DEFINED(ABS($body.missing))', false],
    ['IS_DEFINED(ABS($body.obj))', false],
    ['ABS(num) = 12.5', 'refused'], // application properties are strings
    ['ABS($messageId) = 1', 'refused'],
    ['ABS(null) = 0', 'refused'],
    ['ABS(undefined) = 0', 'refused'],
    ['ABS(true) = 1', 'refused'],
    ['EXP($body.zero) = 1', true],
    ['IS_DEFINED(EXP($body.t))', false],
    ['CEILING($body.neg) = -2', true],
    ['FLOOR($body.neg) = -3', true],
    ['FLOOR($body.frac) = 2', true],
    ['SIGN($body.neg) = -1', true],
    ['SIGN($body.zero) = 0', true],
    ['IS_DEFINED(SIGN($body.zero / $body.zero))', false], // NaN: Sign.cs checks IsDefined
    ['SQRT($body.n * $body.n) = 42', true],
    ['IS_DEFINED(SQRT($body.neg))', false], // NaN
    ['SQUARE($body.n) = 1764', true],
    ['SQUARE(str) = 1', 'refused'],
    ['POWER($body.n, 2) = 1764', true],
    ['POWER(2, $body.zero) = 1', true],
    ['POWER(1, $body.zero / $body.zero) = 1', true], // Math.Pow(1, NaN) is 1
    ['IS_DEFINED(POWER(1, 0 / 0))', false], // a NaN literal is undefined before Pow sees it
    ['IS_DEFINED(POWER($body.s, 2))', false],
    ['POWER(num, 2) = 1', 'refused'],
    ['POWER(2) = 1', 'refused'],
  ]);
});

describe('AS_NUMBER: AsNumber.cs (a string, a number or a $body value; double.TryParse with NumberStyles.Any)', () => {
  table([
    ['AS_NUMBER(num) = 12.5', true],
    ['AS_NUMBER($body.num) = 12.5', true],
    ['AS_NUMBER($body.n) = 42', true],
    ['AS_NUMBER(7) = 7', true],
    ['IS_DEFINED(AS_NUMBER($body.t))', false],
    ['IS_DEFINED(AS_NUMBER($body.nul))', false],
    ['IS_DEFINED(AS_NUMBER($body.s))', false],
    ['IS_DEFINED(AS_NUMBER(empty))', false],
    ['IS_DEFINED(AS_NUMBER(missing))', false],
    ['IS_DEFINED(AS_NUMBER($messageId))', false],
    ['AS_NUMBER(null) = 0', 'refused'],
    ['AS_NUMBER(undefined) = 0', 'refused'],
    ['AS_NUMBER(true) = 1', 'refused'],
    ["AS_NUMBER(' (1,234.5) ') = -1234.5", true], // white space, parentheses, group separators
    ["AS_NUMBER('5-') = -5", true], // a trailing sign
    ["AS_NUMBER('¤5') = 5", true], // the invariant currency sign
    ["AS_NUMBER('-¤ 5') = -5", true],
    ["AS_NUMBER('1e3') = 1000", true],
    ["AS_NUMBER('.5') = 0.5", true],
    ["AS_NUMBER('-Infinity') < -1000000", true],
    ["AS_NUMBER(' infinity ') > 1000000", true],
    ["IS_DEFINED(AS_NUMBER('- 5'))", false], // no white space after a bare sign
    ["IS_DEFINED(AS_NUMBER('(5'))", false],
    ["IS_DEFINED(AS_NUMBER(',5'))", false],
    ["IS_DEFINED(AS_NUMBER('1e'))", false],
    ["IS_DEFINED(AS_NUMBER('0x10'))", false],
    ["IS_DEFINED(AS_NUMBER('NaN'))", false],
  ]);
});

describe('IS_BOOL: IsBool.cs (typed for bools and $body values, false for everything else)', () => {
  table([
    ['IS_BOOL($body.t)', true],
    ['IS_BOOL($body.f)', true],
    ['IS_BOOL($body.s)', false],
    ['IS_BOOL($body.nul)', false],
    ['IS_BOOL($body.missing)', false],
    ['IS_BOOL($body.obj)', undefined], // an undefined $body value
    ['IS_BOOL(true)', true],
    ["IS_BOOL(str = 'x')", true],
    ["IS_BOOL(missing = 'x')", undefined], // an undefined bool becomes an undefined QueryValue
    ['IS_BOOL(str)', false],
    ['IS_BOOL($messageId)', false],
    ['IS_BOOL(null)', false],
    ['IS_BOOL(undefined)', false],
    ['IS_BOOL(1)', false],
  ]);
});

describe('IS_DEFINED: IsDefined.cs (anything; false only for undefined)', () => {
  table([
    ['IS_DEFINED($body.s)', true], // BodyQueryTest: is_defined($body…Street)
    ['IS_DEFINED($body.nul)', true],
    ['IS_DEFINED($body.missing)', true], // a path that selects nothing is null, which is defined
    ['IS_DEFINED($body.obj)', false],
    ['IS_DEFINED($body.arr)', false],
    ['IS_DEFINED($body.date)', false], // Newtonsoft reads it as a date: a QueryValue object
    ['IS_DEFINED($body.zero / $body.zero)', true], // NaN from $body arithmetic is a number
    ['IS_DEFINED(str)', true],
    ['IS_DEFINED(empty)', true],
    ['IS_DEFINED(missing)', false],
    ['IS_DEFINED($messageId)', true],
    ['IS_DEFINED($correlationId)', false],
    ['IS_DEFINED({$connectionModuleId})', true],
    ['IS_DEFINED(null)', true],
    ['IS_DEFINED(undefined)', false],
    ['IS_DEFINED(1 / 0)', true],
    ['IS_DEFINED(0 / 0)', false],
  ]);

  it('a message without a JSON body has no $body values at all', () => {
    const text = message(JSON.stringify(BODY), { contentType: 'text/plain' });
    expect(evaluate('IS_DEFINED($body.missing)', text)).toBe(false);
    expect(evaluate('IS_DEFINED($body.s)', message('{"s": "Hello"'))).toBe(false);
  });
});

describe('IS_NULL: IsNull.cs (a string, a $body value, null; everything else false)', () => {
  table([
    ['IS_NULL($body.nul)', true], // BodyQueryTest: is_null($body…NullValue)
    ['IS_NULL($body.missing)', false], // the QueryValue.Null instance: edgeHub's reference comparison says false
    ['IS_NULL($body.n)', true], // ... and every other instance true, numbers and strings included
    ['IS_NULL($body.s)', true],
    ['IS_NULL($body.obj)', undefined],
    ['IS_NULL(empty)', true], // a property sent without a value
    ['IS_NULL(str)', false],
    ['IS_NULL(missing)', false],
    ['IS_NULL($messageId)', false],
    ['IS_NULL(null)', true],
    ['IS_NULL(undefined)', false],
    ['IS_NULL(1)', false],
    ['IS_NULL(true)', false],
    ['$body.nul = null', true], // what tests for null: BodyQueryTest has both of these
    ['$body.missing = null', true],
    ['$body.n = null', false],
  ]);

  it('warns that IS_NULL of a $body value does not test for null', () => {
    const route = compileRoute('r', 'FROM /* WHERE IS_NULL($body.x) INTO $upstream');
    expect(route.warnings.join()).toMatch(/IS_NULL at column 15 is given a \$body value: .* compare: \$body.x = null/);
  });
});

describe('IS_NUMBER: IsNumber.cs (typed for numbers and $body values; finite numbers only)', () => {
  table([
    ['IS_NUMBER($body.n)', true],
    ['IS_NUMBER($body.num)', false],
    ['IS_NUMBER($body.nul)', false],
    ['IS_NUMBER($body.obj)', false], // undefined is not a number: false, not undefined
    ['IS_NUMBER($body.n / $body.zero)', false], // infinity
    ['IS_NUMBER(num)', false],
    ['IS_NUMBER(AS_NUMBER(num))', true],
    ['IS_NUMBER(1 / 0)', false],
    ['IS_NUMBER(null)', false],
    ['IS_NUMBER(undefined)', false],
    ['IS_NUMBER(true)', false],
  ]);
});

describe('IS_STRING: IsString.cs (typed for strings and $body values)', () => {
  table([
    ['IS_STRING($body.s)', true], // BodyQueryTest: is_string($body…Street)
    ['IS_STRING($body.e)', true],
    ['IS_STRING($body.n)', false],
    ['IS_STRING($body.date)', false],
    ['IS_STRING($body.missing)', false],
    ['IS_STRING(str)', true],
    ['IS_STRING(empty)', false],
    ['IS_STRING(missing)', false],
    ['IS_STRING($messageId)', true],
    ['IS_STRING(null)', false],
    ['IS_STRING(undefined)', false],
    ['IS_STRING(1)', false],
  ]);
});

describe('CONCAT and ||: Concat.cs (two or more strings or $body values)', () => {
  table([
    ["CONCAT($body.s, '-', str) = 'Hello-Hello'", true],
    ["CONCAT($connectionModuleId, '/', $outputName) = 'Sensor/out'", true],
    ["CONCAT('a', empty, 'b') = 'ab'", true], // a property without a value is a null string: ""
    ["IS_DEFINED(CONCAT('a', missing))", false],
    ['IS_DEFINED(CONCAT($body.s, $body.n))', false],
    ['IS_DEFINED(CONCAT($body.s, $body.nul))', false],
    ["CONCAT('a') = 'a'", 'refused'],
    ["CONCAT('a', 1) = 'a1'", 'refused'],
    ["CONCAT('a', null) = 'a'", 'refused'],
    ["$body.s || '!' = 'Hello!'", true],
    ["str || $body.e = 'Hello'", true],
    ["IS_DEFINED($body.n || 'x')", false],
    ["'a' || 1 = 'a1'", 'refused'],
  ]);
});

describe('LENGTH, LOWER, UPPER: Length.cs, Lower.cs, Upper.cs (a string or a $body value)', () => {
  table([
    ['LENGTH($body.s) = 5', true], // BodyQueryTest: length($body…State) = 2
    ['LENGTH($body.e) = 0', true],
    ['IS_DEFINED(LENGTH($body.n))', false],
    ['IS_DEFINED(LENGTH($body.date))', false],
    ['IS_DEFINED(LENGTH($body.nul))', false],
    ['IS_DEFINED(LENGTH($body.missing))', false],
    ['LENGTH(str) = 5', true],
    ['IS_DEFINED(LENGTH(empty))', false],
    ['IS_DEFINED(LENGTH(missing))', false],
    ['LENGTH($connectionModuleId) = 6', true],
    ['LENGTH(5) = 1', 'refused'],
    ['LENGTH(null) = 0', 'refused'],
    ['LENGTH(undefined) = 0', 'refused'],
    ["LOWER($body.s) = 'hello'", true],
    ["UPPER(str) = 'HELLO'", true],
    ["UPPER($contentType) = 'APPLICATION/JSON'", true],
    ['IS_DEFINED(UPPER($body.n))', false],
    ["UPPER('straße') = 'STRAßE'", true], // simple case mapping: no ß → SS
    ["LOWER('ΑΣ') = 'ασ'", true], // no final sigma
    ["UPPER('ı') = 'ı'", true], // the invariant culture keeps the dotless i
    ["LOWER('İ') = 'İ'", true],
    ['LOWER(1) = 1', 'refused'],
  ]);
});

describe('SUBSTRING: Substring.cs (a string or $body value, then numbers or $body values)', () => {
  table([
    ["SUBSTRING($body.s, 1) = 'ello'", true], // BodyQueryTest: substring($body…, length(…) - 3) = 'Way'
    ["SUBSTRING(str, 1, 3) = 'ell'", true],
    ["SUBSTRING($body.s, $body.zero, 2) = 'He'", true],
    ["SUBSTRING($body.s, 5) = ''", true], // start may equal the length with two arguments…
    ['IS_DEFINED(SUBSTRING($body.s, 5, 0))', false], // … but not with three
    ['IS_DEFINED(SUBSTRING($body.s, 6))', false],
    ['IS_DEFINED(SUBSTRING($body.s, 1, 5))', false],
    ["SUBSTRING('abc', 1.9) = 'bc'", true], // (int) truncates
    ['IS_DEFINED(SUBSTRING($body.n, 1))', false],
    ['IS_DEFINED(SUBSTRING($body.s, $body.s))', false],
    ['IS_DEFINED(SUBSTRING(empty, 0))', false],
    ["SUBSTRING(str, num) = 'x'", 'refused'],
    ["SUBSTRING(null, 1) = 'x'", 'refused'],
    ["SUBSTRING('abc') = 'x'", 'refused'],
  ]);
});

describe('INDEX_OF, STARTS_WITH, ENDS_WITH, CONTAINS: IndexOf.cs, StartsWith.cs, EndsWith.cs, Contains.cs', () => {
  table([
    ["INDEX_OF($body.s, 'l') = 2", true], // BodyQueryTest: index_of($body…, 'Way') > 6
    ["INDEX_OF(str, 'x') = -1", true],
    ["INDEX_OF($body.s, '') = 0", true],
    ["IS_DEFINED(INDEX_OF($body.n, '4'))", false],
    ['INDEX_OF($body.s, 1) = 0', 'refused'],
    ["STARTS_WITH($body.s, 'He')", true], // BodyQueryTest: starts_with($body…Street, 'One')
    ["STARTS_WITH($body.s, 'he')", false],
    ["STARTS_WITH($body.date, '2026')", undefined], // a date, not a string
    ["STARTS_WITH($body.n, '4')", undefined],
    ['STARTS_WITH(str, $body.s)', true],
    ["STARTS_WITH(empty, '')", undefined],
    ["STARTS_WITH(missing, '')", undefined],
    ["STARTS_WITH($connectionModuleId, 'Sen')", true],
    ["ENDS_WITH($body.s, 'lo')", true],
    ["ENDS_WITH($outputName, 'ut')", true],
    ["CONTAINS($body.s, 'ell')", true],
    ["CONTAINS($body.nul, 'x')", undefined],
    ["CONTAINS(missing, 'x')", undefined],
    ['STARTS_WITH(str, 1)', 'refused'],
    ["STARTS_WITH(null, 'a')", 'refused'],
  ]);
});

describe('functions edgeHub does not have: ConditionVisitor.Builtins, TwinChangeIncludes.cs', () => {
  table([
    ['IS_OBJECT($body.obj)', 'refused'],
    ['IS_ARRAY($body.arr)', 'refused'],
    ['IS_PRIMITIVE($body.s)', 'refused'],
    ['TWIN_CHANGE_INCLUDES(properties.desired)', 'refused'], // only valid for IoT Hub's twin-change source
    ['ROUND($body.n) = 42', 'refused'],
  ]);
});

describe('comparisons: ComparisonOperators.cs, QueryValue.CompareTo', () => {
  table([
    ['$body.n = 42', true],
    ["$body.n = '42'", false], // BodyQueryTest: no implicit cross type conversion
    ["$body.n < '0'", true], // types order bool < number < string < null
    ['$body.t < 0', true],
    ['$body.s < null', true],
    ['$body.missing = $body.nul', true],
    ['$body.obj = null', undefined],
    ['$body.s = str', true],
    ['$body.s > empty', true], // a property without a value is a null string, below every other
    ['$body.s = empty', false],
    ["str < 'a'", true], // ordinal: upper case first
    ["missing = 'x'", undefined],
    ["empty = 'x'", undefined],
    ['$body.zero / $body.zero = $body.zero / $body.zero', true], // double.CompareTo: NaN equals NaN…
    ['$body.zero / $body.zero < $body.neg', true], // … and is below every number
    ['0 / 0 = 0 / 0', undefined], // a NaN double is undefined
    ['null = null', true],
    ['undefined = undefined', undefined],
    ['true > false', true],
    ['str = null', 'refused'],
    ["1 = '1'", 'refused'],
    ['$body.n = undefined', 'refused'],
  ]);
});

describe('arithmetic: ConditionVisitor.VisitMulDivMod/VisitAddSubConcat, QueryValue operators', () => {
  table([
    ['$body.n + 1 = 43', true], // BodyQueryTest: $body… = 40 + 10
    ['$body.n * $body.frac = 105', true],
    ['$body.n / $body.zero > 1000000', true],
    ['0 - $body.n = -42', true],
    ['IS_DEFINED($body.s + 1)', false],
    ['IS_DEFINED($body.nul + 1)', false],
    ['7 % 4 = 3', true],
    ['$body.n % 5 = 2', 'refused'], // QueryValue has no %
    ['-$body.n = -42', 'refused'], // nor a unary minus
    ['str + 1 = 1', 'refused'],
    ['null + 1 = 1', 'refused'],
  ]);
});

describe('AND, OR, NOT: Bool.cs, Null.cs, Undefined.cs, ConditionVisitor.CheckBooleanOperands', () => {
  table([
    ['$body.t AND true', true], // BodyQueryTest: $body…IsEnabled AND $body…IsEnabled
    ['$body.t AND $body.f', false],
    ['$body.f OR $body.t', true],
    ['$body.t OR $body.missing', undefined], // QueryValue | gives a result for two bools only
    ['true AND $body.t', 'refused'], // a $body value on the right needs one on the left
    ['IS_DEFINED(str) OR $body.t', 'refused'],
    ["$body.t AND 'x'", undefined], // accepted after a $body value, never true
    ['$body.t AND null', 'refused'],
    ['$body.t OR null', undefined],
    ['NOT $body.f', true],
    ['NOT $body.s', undefined],
    ["false AND missing = 'x'", false],
    ["missing = 'x' OR true", true],
    ["missing = 'x' AND true", undefined],
    ['null AND true', false], // null AND x is null, and a null condition is false
    ['null OR true', true],
    ['NOT null', true],
    ['undefined AND null', 'refused'],
    ['NOT undefined', 'refused'],
    ["NOT 'x'", 'refused'],
    ['NOT str', 'refused'],
    ['1 AND true', 'refused'],
  ]);

  it('says why a $body value right of AND is refused, and warns about a condition that is never true', () => {
    expect(() => compileRoute('r', 'FROM /* WHERE true AND $body.t INTO $upstream')).toThrow(
      new RegExp(
        'AND needs boolean operands, got bool and \\$body value at column 20 \\(edgeHub takes a \\$body value ' +
          'on the right of AND only when the left operand is a \\$body value too',
      ),
    );
    const route = compileRoute('r', "FROM /* WHERE $body.t AND 'x' INTO $upstream");
    expect(route.warnings.join()).toMatch(/AND at column 23 joins a \$body value with string: edgeHub accepts it, but/);
  });
});

describe('??: ConditionVisitor.VisitCoalesce (the left side when IS_DEFINED, else the right)', () => {
  table([
    ["(missing ?? 'd') = 'd'", true],
    ["(empty ?? 'd') = 'd'", undefined], // a null string is defined
    ['($body.obj ?? 5) = 5', true],
    ['($body.missing ?? 5) = 5', false], // null is defined: null = 5 is false
    ['(AS_NUMBER(missing) ?? 3) = 3', true],
    ['IS_DEFINED(undefined ?? undefined)', false],
    ['(undefined ?? 3) = 3', 'refused'], // the two sides must have one type
    ['(str ?? 1) = 1', 'refused'],
  ]);
});

describe('properties: ConditionVisitor.VisitProperty, VisitSysProperty(Escaped); RoutingEdgeHub.cs', () => {
  table([
    ["str = 'Hello'", true],
    ["STR = 'Hello'", true], // property bags ignore case
    ["$connectionModuleId = 'Sensor'", true],
    ["{$connectionModuleId} = 'Sensor'", true],
    ["$outputName = 'out'", true],
    ["$contentEncoding = 'utf-8'", true],
    ["$edgeHubOriginInterface = 'internal'", true], // stamped by edgeHub on what its modules send
    ['$messageid = $MessageId', true],
    ["$body = 'x'", undefined], // not a body query: the system property "body"
    ["$x[0] = 'x'", 'refused'], // brackets make it undefined-typed
  ]);

  it('a downstream device is "downstream", and an application property named $x or $body.x wins', () => {
    const leaf: RouteMessage = {
      ...message(),
      source: { kind: 'device', deviceId: 'leaf1' },
      properties: { '$body.s': 'prop', $messageId: 'app' },
    };
    expect(evaluate("$edgeHubOriginInterface = 'downstream'", leaf)).toBe(true);
    expect(evaluate("$body.s = 'prop'", leaf)).toBe(true); // BodyQueryTest: BodyQuery_SysPropertyConflict
    expect(evaluate("{$body.s} = 'Hello'", leaf)).toBe(true);
    expect(evaluate("$messageId = 'app' AND {$messageId} = 'msg-1'", leaf)).toBe(true);
  });
});

describe('$body: BodyQuery.cs, JsonMessageQueryValueProvider.cs, Newtonsoft JSONPath and dates', () => {
  const date = (text: string) => evaluate(`IS_STRING($body.d)`, message(JSON.stringify({ d: text })));
  it.each([
    ['2026-01-02T03:04:05Z', false],
    ['2026-01-02T03:04:05', false],
    ['2026-01-02T03:04:05.1234567+01:00', false],
    ['2026-01-02T03:04:05+0100', false],
    ['2026-01-02T24:00:00', false],
    ['2026-01-02T03:04:05:', false], // Newtonsoft's zone parser takes a lone ':'
    ['2024-02-29T00:00:00Z', false],
    ['/Date(1234567890)/', false],
    ['/Date(1234567890+0100)/', false],
    ['2026-01-02T03:04:05.12345678Z', true], // eight fraction digits: not a date, a string
    ['2025-02-29T00:00:00Z', true],
    ['2026-01-02 03:04:05', true],
    ['2026-01-02T03:04:05 ', true],
    ['/Date(abc)/', true],
    ['/Date(123+5)/', true],
  ])('%s is a string: %s', (text, isString) => {
    expect(date(text)).toBe(isString);
  });

  it("a date out of .NET's range makes the whole body unreadable", () => {
    expect(evaluate('IS_DEFINED($body.s)', message(JSON.stringify({ s: 'x', d: '9999-12-31T24:00:00' })))).toBe(false);
    const farAway = message(JSON.stringify({ s: 'x', d: '/Date(999999999999999)/' }));
    expect(evaluate('IS_DEFINED($body.s)', farAway)).toBe(false);
    // Microsoft's JSON writes "\/Date(…)\/": the same string once decoded.
    expect(evaluate('IS_DEFINED($body.s)', message(String.raw`{"s":"x","d":"\/Date(999999999999999)\/"}`))).toBe(false);
    expect(evaluate('IS_STRING($body.d)', message(String.raw`{"d":"\/Date(1234567890)\/"}`))).toBe(false);
    expect(evaluate('IS_STRING($body.d)', message(String.raw`{"d":"\/Dat(1234567890)\/"}`))).toBe(true);
  });

  table([
    ['$body.$.s = $body.s', true], // a leading $ is the root
    ['$body.obj.* = 1', true], // Newtonsoft's wildcard: one match
    ['IS_DEFINED($body.*)', false], // several matches: an object, undefined
    ['IS_DEFINED($body.arr[5])', true], // past the end: nothing selected, null
    ['IS_DEFINED($body.arr[2147483648])', false], // beyond int: Newtonsoft throws, undefined
    ['$body.arr[1] = 2', true],
    ['IS_DEFINED($body.s[0])', true], // indexing a string selects nothing
    ['$body.a[] = 1', 'refused'], // BodyQueryTest: BodyQuery_RouteCompilation
  ]);

  it('reads UTF-8, UTF-16 and UTF-32 (little-endian) only, with no byte order mark', () => {
    const text = JSON.stringify(BODY);
    const utf16 = Buffer.from(text, 'utf16le');
    expect(evaluate("$body.s = 'Hello'", message(utf16, { contentEncoding: 'UTF-16' }))).toBe(true);
    const oddLength = Buffer.concat([utf16, Buffer.from([0x20])]);
    expect(evaluate("$body.s = 'Hello'", message(oddLength, { contentEncoding: 'utf-16' }))).toBeUndefined();
    expect(evaluate("$body.s = 'Hello'", message(`\ufeff${text}`))).toBeUndefined();
    expect(evaluate("$body.s = 'Hello'", message(text, { contentEncoding: 'ascii' }))).toBeUndefined();
    const withCharset = message(text, { contentType: 'application/json; charset=utf-8' });
    expect(evaluate("$body.s = 'Hello'", withCharset)).toBeUndefined();
  });
});
