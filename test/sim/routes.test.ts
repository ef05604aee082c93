import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  bodyParseCount,
  compileRoute,
  compileRoutes,
  DEFAULT_ROUTE_PRIORITY,
  RouteError,
  routeMessage,
  type RouteMessage,
  type RouteSource,
  type RouteSpec,
} from '../../src/sim/edge/routes.js';

// ---- message builders

function msg(
  source: RouteSource,
  properties: Record<string, string | null> = {},
  systemProperties: Record<string, string | undefined> = {},
  body: Buffer = Buffer.alloc(0),
): RouteMessage {
  return { source, properties, systemProperties, body };
}
const fromModule = (
  moduleId: string,
  output: string,
  props?: Record<string, string | null>,
  sys?: Record<string, string>,
) =>
  msg({ kind: 'module', moduleId, output }, props, {
    connectionDeviceId: 'edge1',
    connectionModuleId: moduleId,
    ...sys,
  });
const fromDevice = (deviceId: string, props?: Record<string, string | null>, sys?: Record<string, string>) =>
  msg({ kind: 'device', deviceId }, props, { connectionDeviceId: deviceId, ...sys });
const twinChange = () => msg({ kind: 'twinChangeNotification', deviceId: 'edge1', moduleId: 'Sensor' });

const weather = {
  Weather: {
    Temperature: 50,
    Time: '2017-03-09T00:00:00.000Z',
    PrevTemperatures: [20, 30, 40],
    IsEnabled: true,
    NullValue: null,
    Location: { Street: 'One Microsoft Way', City: 'Redmond', State: 'WA' },
    HistoricalData: [
      { Month: 'Feb', Temperature: 40 },
      { Month: 'Jan', Temperature: 30 },
    ],
  },
};
function jsonMsg(
  value: unknown,
  encoding = 'utf-8',
  contentType: string | null = 'application/json',
  props: Record<string, string> = {},
): RouteMessage {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const body =
    encoding.toLowerCase() === 'utf-16'
      ? Buffer.from(text, 'utf16le')
      : encoding.toLowerCase() === 'utf-32'
        ? utf32le(text)
        : Buffer.from(text, 'utf8');
  const sys: Record<string, string> = { connectionDeviceId: 'leaf1', contentEncoding: encoding };
  if (contentType !== null) sys.contentType = contentType;
  return msg({ kind: 'device', deviceId: 'leaf1' }, props, sys, body);
}
function utf32le(text: string): Buffer {
  const cps = [...text].map((ch) => ch.codePointAt(0)!);
  const b = Buffer.alloc(cps.length * 4);
  cps.forEach((cp, i) => b.writeUInt32LE(cp, i * 4));
  return b;
}

/** Compiles `FROM /* WHERE <cond> INTO $upstream` and returns the WHERE result for the message. */
function where(condition: string, message: RouteMessage = fromDevice('leaf1')): boolean | undefined {
  return compileRoute('r', `FROM /* WHERE ${condition} INTO $upstream`).evaluate(message);
}
function routeError(spec: string | RouteSpec, name = 'r'): RouteError {
  try {
    compileRoute(name, spec);
  } catch (e) {
    expect(e).toBeInstanceOf(RouteError);
    return e as RouteError;
  }
  throw new Error(`expected a RouteError for ${JSON.stringify(spec)}`);
}
const columnOf = (text: string, fragment: string) => text.indexOf(fragment) + 1;

// ---- sources

describe('sources', () => {
  const messages = {
    leaf: fromDevice('leaf1'),
    sensorTemp: fromModule('Sensor', 'temp'),
    sensorOther: fromModule('Sensor', 'other'),
    sensorNoOutput: fromModule('Sensor', ''),
    sensor2: fromModule('Sensor2', 'temp'),
    filter: fromModule('Filter', 'alerts'),
    twin: twinChange(),
  };
  type Name = keyof typeof messages;
  const all = Object.keys(messages) as Name[];
  const cases: [string, Name[]][] = [
    ['/*', all],
    ['/messages/*', all.filter((n) => n !== 'twin')],
    ['/messages', all.filter((n) => n !== 'twin')],
    ['/messages/modules/*', ['sensorTemp', 'sensorOther', 'sensorNoOutput', 'sensor2', 'filter']],
    ['/messages/modules/Sensor/*', ['sensorTemp', 'sensorOther', 'sensorNoOutput']],
    ['/messages/modules/Sensor', ['sensorTemp', 'sensorOther', 'sensorNoOutput']],
    ['/messages/modules/Sensor/outputs/*', ['sensorTemp', 'sensorOther']],
    ['/messages/modules/Sensor/outputs/temp', ['sensorTemp']],
    ['/MESSAGES/Modules/sensor/OUTPUTS/TEMP', ['sensorTemp']], // edgeHub matches sources ignoring case
    ['/twinChangeNotifications', ['twin']],
  ];
  it.each(cases)('FROM %s', (source, expected) => {
    const route = compileRoute('r', `FROM ${source} INTO $upstream`);
    expect(route.warnings).toEqual([]);
    expect(all.filter((n) => route.matches(messages[n]))).toEqual(expected);
  });

  it('normalises the source the way edgeHub does', () => {
    expect(compileRoute('r', 'FROM /* INTO $upstream').source).toBe('/');
    expect(compileRoute('r', 'FROM /messages/* INTO $upstream').source).toBe('/messages/');
    expect(compileRoute('r', 'FROM /messages/modules/m/outputs/o INTO $upstream').source).toBe(
      '/messages/modules/m/outputs/o/',
    );
    expect(compileRoute('r', 'FROM / messages / * INTO $upstream').source).toBe('/messages/'); // whitespace between tokens
  });

  it('accepts SELECT * and keywords in any case', () => {
    for (const text of [
      'SELECT * FROM /messages/* WHERE true INTO $upstream',
      'select * from /messages/* where true into $UPSTREAM',
      'From /messages/* Where true Into $Upstream',
    ]) {
      expect(compileRoute('r', text).matches(messages.leaf)).toBe(true);
    }
  });

  it('warns about sources edgeHub accepts but that never match as intended', () => {
    const midStar = compileRoute('r', 'FROM /messages/modules/*/outputs/temp INTO $upstream');
    expect(midStar.warnings.join()).toMatch(/wildcard only at the end/);
    expect(all.some((n) => midStar.matches(messages[n]))).toBe(false);

    const typo = compileRoute('r', 'FROM /message/* INTO $upstream');
    expect(typo.warnings.join()).toMatch(/never matches/);
    expect(all.some((n) => typo.matches(messages[n]))).toBe(false);

    const partial = compileRoute('r', 'FROM /messages/modules/Sens* INTO $upstream');
    expect(partial.warnings.join()).toMatch(/no partial-name wildcards/);
    expect(partial.matches(messages.sensorTemp)).toBe(false);
    expect(partial.matches(fromModule('Sens', 'x'))).toBe(true);
  });
});

// ---- the leaf route and the fixture

describe('leaf-device route', () => {
  const leaf = compileRoute('leafToCloud', 'FROM /messages/* WHERE NOT IS_DEFINED($connectionModuleId) INTO $upstream');

  it('takes device messages and not module messages', () => {
    expect(leaf.matches(fromDevice('leaf1'))).toBe(true);
    expect(leaf.matches(fromModule('Sensor', 'temp'))).toBe(false);
    expect(leaf.matches(twinChange())).toBe(false); // source is /messages only
  });

  it('knows a module message by its source even without connectionModuleId in systemProperties', () => {
    expect(leaf.matches(msg({ kind: 'module', moduleId: 'Sensor', output: 'temp' }))).toBe(false);
    expect(leaf.matches(msg({ kind: 'device', deviceId: 'leaf1' }))).toBe(true);
  });
});

describe('gateway-filter manifest', () => {
  const manifest = JSON.parse(
    readFileSync(new URL('../fixtures/gateway-filter.manifest.json', import.meta.url), 'utf8'),
  ) as {
    modulesContent: { $edgeHub: { 'properties.desired': { routes: Record<string, string | RouteSpec> } } };
  };
  const routes = compileRoutes(manifest.modulesContent.$edgeHub['properties.desired'].routes);

  it('compiles the four routes with their priorities, TTLs and sinks', () => {
    expect(routes.map((r) => [r.name, r.priority, r.timeToLiveSecs, r.sink])).toEqual([
      [
        'sensorToFilter',
        DEFAULT_ROUTE_PRIORITY,
        undefined,
        { kind: 'moduleInput', moduleId: 'HighTempFilter', input: 'input1' },
      ],
      ['filterToCloud', 0, 86400, { kind: 'upstream' }],
      ['modbusToCloud', 1, undefined, { kind: 'upstream' }],
      ['leafToCloud', 2, 600, { kind: 'upstream' }],
    ]);
    expect(routes.every((r) => r.warnings.length === 0)).toBe(true);
  });

  it('routes each kind of traffic to its sink', () => {
    const names = (m: RouteMessage) => routeMessage(routes, m).map((r) => r.name);
    expect(names(fromModule('SimulatedTemperatureSensor', 'temperatureOutput'))).toEqual(['sensorToFilter']);
    expect(names(fromModule('SimulatedTemperatureSensor', 'somethingElse'))).toEqual([]);
    expect(names(fromModule('HighTempFilter', 'output1'))).toEqual(['filterToCloud']);
    expect(names(fromModule('ModbusTranslator', 'telemetry'))).toEqual(['modbusToCloud']);
    expect(names(fromDevice('leaf1'))).toEqual(['leafToCloud']);
  });
});

describe('routeMessage', () => {
  const routes = compileRoutes({
    all: 'FROM /messages/* INTO $upstream',
    modules: { route: 'FROM /messages/modules/* INTO $upstream', priority: 3 },
    toModule: { route: 'FROM /* INTO BrokeredEndpoint("/modules/m/inputs/i")', priority: 1 },
    toModuleAgain: { route: "FROM /* INTO BrokeredEndpoint('/modules/m/inputs/i')", priority: 1 },
  });

  it('delivers once per sink, keeping the highest-priority route, in priority order', () => {
    expect(routeMessage(routes, fromModule('Sensor', 'temp')).map((r) => r.name)).toEqual(['toModule', 'modules']);
    expect(routeMessage(routes, fromDevice('leaf1')).map((r) => r.name)).toEqual(['toModule', 'all']);
  });

  it('keeps different inputs of one module apart', () => {
    const two = compileRoutes({
      a: 'FROM /* INTO BrokeredEndpoint("/modules/m/inputs/a")',
      b: 'FROM /* INTO BrokeredEndpoint("/modules/m/inputs/b")',
    });
    expect(routeMessage(two, fromDevice('d')).map((r) => r.name)).toEqual(['a', 'b']);
  });
});

// ---- conditions

describe('precedence', () => {
  const abc = (a: string, b: string, c: string) => fromDevice('d', { a, b, c });

  it('AND binds tighter than OR', () => {
    const cond = "a = '1' OR b = '2' AND c = '3'";
    expect(where(cond, abc('1', 'x', 'x'))).toBe(true); // (a OR b) AND c would be false
    expect(where(cond, abc('x', '2', 'x'))).toBe(false);
    expect(where(cond, abc('x', '2', '3'))).toBe(true);
  });

  it('arithmetic: * before +, left-associative', () => {
    expect(where('2 + 3 * 4 = 14')).toBe(true);
    expect(where('(2 + 3) * 4 = 20')).toBe(true);
    expect(where('10 - 4 - 3 = 3')).toBe(true);
    expect(where('7 % 4 = 3 AND 2 * 3 > 5')).toBe(true);
  });

  it('NOT binds tighter than a comparison, as in the grammar', () => {
    expect(where("NOT (a = 'x')", abc('y', '', ''))).toBe(true);
    expect(routeError("FROM /* WHERE NOT a = 'x' INTO $upstream").message).toMatch(
      /NOT needs a boolean.*write NOT \(a = b\)/,
    );
  });

  it('?? binds loosest of all', () => {
    expect(where("(missing ?? 'd') = 'd'")).toBe(true);
    expect(where("(a ?? 'd') = 'x'", abc('x', '', ''))).toBe(true);
    expect(routeError("FROM /* WHERE missing ?? 'd' = 'd' INTO $upstream").message).toMatch(
      /'\?\?' needs operands of one type/,
    );
  });

  it('a minus sign glued to a number is a negative literal', () => {
    expect(where('3 - 1 = 2')).toBe(true);
    expect(where('-(3 + 4) = -7')).toBe(true);
    expect(routeError('FROM /* WHERE 3 -1 = 2 INTO $upstream').message).toMatch(/expected INTO but found "-1"/);
  });
});

describe('undefined and null', () => {
  const m = fromDevice('d', { present: 'x', empty: null });

  it('comparisons with a missing property are undefined, and undefined does not route', () => {
    expect(where("missing = 'x'", m)).toBeUndefined();
    expect(where("missing != 'x'", m)).toBeUndefined();
    expect(where("NOT (missing = 'x')", m)).toBeUndefined();
    expect(compileRoute('r', "FROM /* WHERE missing != 'x' INTO $upstream").matches(m)).toBe(false);
  });

  it('three-valued AND/OR', () => {
    expect(where("missing = 'x' OR true", m)).toBe(true);
    expect(where("missing = 'x' OR false", m)).toBeUndefined();
    expect(where("missing = 'x' AND false", m)).toBe(false);
    expect(where("missing = 'x' AND true", m)).toBeUndefined();
    expect(where('undefined OR true')).toBe(true);
    expect(where('false AND undefined')).toBe(false);
  });

  it('a property sent without a value is defined and null', () => {
    expect(where('IS_DEFINED(empty)', m)).toBe(true);
    expect(where('IS_NULL(empty)', m)).toBe(true);
    expect(where('IS_NULL(present)', m)).toBe(false);
    expect(where("empty = 'x'", m)).toBeUndefined();
    expect(where("'a' || empty || 'b' = 'ab'", m)).toBe(true);
  });

  it('non-boolean conditions never route; null counts as false', () => {
    expect(where('3')).toBeUndefined();
    expect(where("'yes'")).toBeUndefined();
    expect(where('null')).toBe(false);
    expect(where('NOT null')).toBe(true); // edgeHub's Null: NOT null is true
    expect(where('null = null')).toBe(true);
    expect(where('IS_DEFINED(undefined)')).toBe(false);
    expect(where('undefined = undefined')).toBeUndefined();
  });

  it('a number that is NaN is undefined', () => {
    expect(where('IS_DEFINED(3 % 0)')).toBe(false);
    expect(where('IS_DEFINED(1 / 0)')).toBe(true);
    expect(where("(AS_NUMBER('abc') ?? 7) = 7")).toBe(true);
  });
});

describe('properties', () => {
  it('application properties: bare names, case-insensitive', () => {
    const m = fromDevice('d', { Level: 'hot' });
    expect(where("level = 'hot'", m)).toBe(true);
    expect(where("LEVEL = 'hot'", m)).toBe(true);
    expect(where("level = 'HOT'", m)).toBe(false);
    expect(where("level > 'cold'", m)).toBe(true); // ordinal string comparison
  });

  it('system properties by $name and {$name}', () => {
    const m = fromModule(
      'Sensor',
      'temp',
      {},
      {
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        messageId: 'm1',
        correlationId: 'c1',
        userId: 'u1',
      },
    );
    expect(where("$connectionModuleId = 'Sensor'", m)).toBe(true);
    expect(where("$connectionDeviceId = 'edge1'", m)).toBe(true);
    expect(where("$contentType = 'application/json' AND $contentEncoding = 'utf-8'", m)).toBe(true);
    expect(where("$messageId = 'm1' AND $correlationId = 'c1' AND $userId = 'u1'", m)).toBe(true);
    expect(where("$MessageID = 'm1'", m)).toBe(true);
    expect(where("{$messageId} = 'm1'", m)).toBe(true);
    expect(where("{ $messageId } = 'm1'", m)).toBe(true);
    expect(where("$outputName = 'temp'", m)).toBe(true); // from the source
    expect(where("$connectionDeviceId = 'leaf9'", msg({ kind: 'device', deviceId: 'leaf9' }))).toBe(true);
  });

  it('an application property named $x wins over the system property; {$x} reads only the system property', () => {
    const m = fromDevice('d', { $messageId: 'app' }, { messageId: 'sys' });
    expect(where("$messageId = 'app'", m)).toBe(true);
    expect(where("{$messageId} = 'sys'", m)).toBe(true);
  });

  it('properties are strings: comparing one with a number is a RouteError, AS_NUMBER converts', () => {
    const e = routeError('FROM /messages/* WHERE temperature > 30 INTO $upstream', 'hot');
    expect(e.message).toBe(
      'route "hot": operator \'>\' cannot compare string with number at column 36 (properties are strings: use AS_NUMBER(prop) to compare as numbers, or compare with a quoted string)',
    );
    const hot = compileRoute('hot', 'FROM /messages/* WHERE AS_NUMBER(temperature) > 30 INTO $upstream');
    expect(hot.matches(fromDevice('d', { temperature: '31.5' }))).toBe(true);
    expect(hot.matches(fromDevice('d', { temperature: '29' }))).toBe(false);
    expect(hot.evaluate(fromDevice('d', { temperature: 'warm' }))).toBeUndefined();
    expect(where("temperature > '30'", fromDevice('d', { temperature: '4' }))).toBe(true); // string order, as documented
  });
});

describe('$body', () => {
  const m = jsonMsg(weather);

  it('reads JSON paths when contentType is application/json and the encoding is UTF-8/16/32', () => {
    expect(where('$body.Weather.Temperature > 40', m)).toBe(true);
    expect(where('$body.Weather.Temperature = 40 + 10', m)).toBe(true);
    expect(where("$body.Weather.HistoricalData[0].Month = 'Feb'", m)).toBe(true);
    expect(where('$body.Weather.PrevTemperatures[1] = 30', m)).toBe(true);
    expect(where('$body.Weather.IsEnabled', m)).toBe(true);
    expect(where('NOT $body.Weather.IsEnabled', m)).toBe(false);
    expect(where('LENGTH($body.Weather.Location.State) = 2', m)).toBe(true);
    expect(where("$BODY.Weather.Location.City = 'Redmond'", m)).toBe(true);
    expect(where('$body.Weather.Temperature = 50', jsonMsg(weather, 'UTF-16'))).toBe(true);
    expect(where('$body.Weather.Temperature = 50', jsonMsg(weather, 'utf-32'))).toBe(true);
    expect(where('$body.Weather.Temperature = 50', jsonMsg(weather, 'utf-8', 'APPLICATION/JSON'))).toBe(true);
  });

  it('is undefined without a JSON content type, a supported encoding, or a JSON object', () => {
    const route = compileRoute('r', 'FROM /* WHERE $body.Weather.Temperature = 50 INTO $upstream');
    expect(route.evaluate(jsonMsg(weather, 'utf-8', null))).toBeUndefined();
    expect(route.evaluate(jsonMsg(weather, 'utf-8', 'text/plain'))).toBeUndefined();
    expect(route.evaluate(jsonMsg(weather, 'utf-8', 'application/json; charset=utf-8'))).toBeUndefined();
    expect(route.evaluate(jsonMsg(weather, 'latin1'))).toBeUndefined();
    expect(route.evaluate(jsonMsg('{not json', 'utf-8'))).toBeUndefined();
    expect(route.evaluate(jsonMsg('[1,2]', 'utf-8'))).toBeUndefined();
    expect(route.matches(jsonMsg(weather, 'utf-8', null))).toBe(false);
    expect(route.matches(jsonMsg(weather))).toBe(true);
  });

  it('follows edgeHub for missing paths, objects, types and dates', () => {
    expect(where('$body.Weather.Nope = null', m)).toBe(true); // a path that selects nothing is null
    expect(where('$body.weather.temperature = 50', m)).toBe(false); // names are case-sensitive
    expect(where('IS_NULL($body.Weather.NullValue)', m)).toBe(true);
    expect(where('IS_NULL($body.Weather.Temperature)', m)).toBe(true); // edgeHub's IS_NULL: see route-builtins.test.ts
    expect(where('IS_NULL($body.Weather.Nope)', m)).toBe(false);
    expect(where('$body.Weather.Location = null', m)).toBeUndefined(); // objects are not comparable
    expect(where("$body.Weather.Temperature = '50'", m)).toBe(false); // no implicit conversion
    expect(where("$body.Weather.Temperature <> '50'", m)).toBe(true);
    expect(where("$body.Weather.Time = '2017-03-09T00:00:00.000Z'", m)).toBeUndefined(); // Newtonsoft reads dates
    expect(where('IS_STRING($body.Weather.Location.Street)', m)).toBe(true);
    expect(where('AS_NUMBER($body.Weather.Temperature) % 7 = 1', m)).toBe(true);
    expect(routeError('FROM /* WHERE $body.Weather.Temperature % 7 = 1 INTO $upstream').message).toMatch(
      /'%' cannot be applied/,
    );
  });

  it('an application property spelled $body.x wins; {$body.x} always reads the body', () => {
    const withProp = jsonMsg(weather, 'utf-8', 'application/json', { '$body.Weather.Temperature': '100' });
    expect(where("$body.Weather.Temperature = '100'", withProp)).toBe(true);
    expect(where('{$body.Weather.Temperature} = 50', withProp)).toBe(true);
  });

  it('parses the body lazily, once per message, however many routes read it', () => {
    const routes = compileRoutes({
      a: 'FROM /messages/* WHERE $body.Weather.Temperature > 40 INTO $upstream',
      b: 'FROM /messages/* WHERE $body.Weather.IsEnabled INTO BrokeredEndpoint("/modules/f/inputs/i")',
      c: { route: "FROM /messages/* WHERE $body.Weather.Location.State = 'WA' INTO $upstream", priority: 0 },
      twins: 'FROM /twinChangeNotifications WHERE $body.x = 1 INTO $upstream',
      plain: 'FROM /messages/* INTO BrokeredEndpoint("/modules/g/inputs/i")',
    });
    const before = bodyParseCount();
    expect(routeMessage(routes, jsonMsg(weather)).map((r) => r.name)).toEqual(['c', 'b', 'plain']);
    expect(bodyParseCount() - before).toBe(1);
    routeMessage(routes, jsonMsg(weather));
    expect(bodyParseCount() - before).toBe(2); // a new message is parsed again
    const noBodyRoutes = compileRoutes({ plain: 'FROM /messages/* INTO $upstream' });
    routeMessage(noBodyRoutes, jsonMsg(weather));
    expect(bodyParseCount() - before).toBe(2);
  });

  it('rejects paths edgeHub rejects', () => {
    expect(routeError('FROM /* WHERE $body.a[] = 1 INTO $upstream').message).toMatch(
      /invalid \$body path "\$body.a\[\]"/,
    );
    expect(routeError('FROM /* WHERE $body.a[1:2] = 1 INTO $upstream').message).toMatch(/unexpected character ":"/);
    expect(routeError('FROM /* WHERE $body. = 1 INTO $upstream').message).toMatch(/invalid \$body path/);
  });
});

describe('functions', () => {
  const m = fromDevice('d', { key1: 'value1', key2: '3', key3: 'VALUE3' });
  const cases: [string, boolean | undefined][] = [
    ['ABS(-12) = 12', true],
    ['abs(AS_NUMBER(key2)) = 3', true],
    ['EXP(0) = 1', true],
    ['POWER(2, 3) = 8', true],
    ['SQUARE(3) = 9', true],
    ['SQRT(4) = 2', true],
    ['SQRT(-4) = -2', undefined],
    ['CEILING(2.1) = 3', true],
    ['FLOOR(-2.1) = -3', true],
    ['SIGN(-2.5) = -1', true],
    ['SIGN(0) = 0', true],
    ["AS_NUMBER('3') = 3", true],
    ["AS_NUMBER(' 1,000 ') = 1000", true], // .NET NumberStyles.Any
    ["AS_NUMBER('10e1000') = 1 / 0", true],
    ['AS_NUMBER(key1) = 3', undefined],
    ['IS_BOOL(true)', true],
    ['IS_BOOL(key1)', false],
    ['IS_DEFINED(key1)', true],
    ['IS_DEFINED(key9)', false],
    ['IS_NULL(null)', true],
    ['IS_NULL(key9)', false],
    ['IS_NUMBER(12.34)', true],
    ['IS_NUMBER(1 / 0)', false],
    ['IS_NUMBER(key2)', false],
    ['IS_STRING(key1)', true],
    ['IS_STRING(key9)', false],
    ["CONCAT('a', key1, 'd') = 'avalue1d'", true],
    ["'a' || 'b' || 'c' = 'abc'", true],
    ["IS_DEFINED(CONCAT('a', key9))", false],
    ['LENGTH(key3) = 6', true],
    ["LOWER(key3) = 'value3'", true],
    ["UPPER(key1) = 'VALUE1'", true],
    ["SUBSTRING('abc', 1) = 'bc'", true],
    ["SUBSTRING('abc', 3) = ''", true],
    ["SUBSTRING('abc', 4) = ''", undefined],
    ["SUBSTRING('hello', 1, 3) = 'ell'", true],
    ["SUBSTRING('abc', 1, 5) = 'bc'", undefined],
    ["INDEX_OF('abcdef', 'cd') = 2", true],
    ["INDEX_OF('abc', 'x') = -1", true],
    ["STARTS_WITH(key1, 'val')", true],
    ["ENDS_WITH(key1, 'e1')", true],
    ["CONTAINS(key1, 'lue')", true],
    ["CONTAINS(key9, 'lue')", undefined],
    ["contains(KEY1, 'LUE')", false],
    ["is_defined(key1) and starts_with(key1, 'v')", true],
  ];
  it.each(cases)('%s', (cond, expected) => {
    expect(where(cond, m)).toBe(expected);
  });

  it('rejects unknown functions, IoT-Hub-only functions and wrong arguments', () => {
    expect(routeError('FROM /* WHERE FOO(1) INTO $upstream').message).toMatch(
      /unknown function FOO at column 15 \(edgeHub has ABS,/,
    );
    expect(routeError('FROM /* WHERE IS_OBJECT($body.a) INTO $upstream').message).toMatch(
      /IS_OBJECT is an IoT Hub routing function that edgeHub does not implement/,
    );
    expect(routeError('FROM /* WHERE LOWER(3) INTO $upstream').message).toMatch(
      /invalid arguments to LOWER\(number\): expected LOWER\(string\)/,
    );
    expect(routeError("FROM /* WHERE CONCAT('a') = 'a' INTO $upstream").message).toMatch(/invalid arguments to CONCAT/);
    expect(routeError('FROM /* WHERE ABS(key1) = 1 INTO $upstream').message).toMatch(/AS_NUMBER/);
  });
});

describe('lexical rules', () => {
  it('literals: hex, reals, escapes; true/false/null are lower-case only', () => {
    expect(where('0x1F = 31')).toBe(true);
    expect(where('1.5e1 = 15 AND .5 = 0.5')).toBe(true);
    expect(where(String.raw`'it\'s' = "it's"`)).toBe(true);
    expect(where(String.raw`'\u0041' = 'A'`)).toBe(true);
    expect(where('true AND NOT false')).toBe(true);
    expect(where('TRUE', fromDevice('d', { TRUE: 'x' }))).toBeUndefined(); // TRUE is a property name
  });

  it('identifiers swallow operator characters, as in edgeHub; a warning says so', () => {
    const route = compileRoute('r', "FROM /* WHERE a-b = 'x' INTO $upstream");
    expect(route.matches(fromDevice('d', { 'a-b': 'x' }))).toBe(true);
    expect(route.warnings.join()).toMatch(/"a-b" at column 15 is read as one property name/);
  });

  it('skips /* comments */, which start at any /* — even the one of a FROM /* source', () => {
    expect(compileRoute('r', 'FROM /messages WHERE /* always */ true INTO $upstream').matches(fromDevice('d'))).toBe(
      true,
    );
    expect(routeError('FROM /* WHERE /* always */ true INTO $upstream').message).toMatch(/expected a source path/);
  });
});

// ---- errors

describe('RouteError', () => {
  it('missing FROM', () => {
    const e = routeError('/messages/* INTO $upstream', 'leafToCloud');
    expect(e.message).toMatch(/^route "leafToCloud": expected FROM but found "\/" at column 1/);
    expect(e).toMatchObject({ routeName: 'leafToCloud', column: 1, expected: ['FROM'], found: '/' });
  });

  it('missing INTO', () => {
    const text = 'FROM /messages/* WHERE NOT IS_DEFINED($connectionModuleId) $upstream';
    const e = routeError(text, 'leafToCloud');
    expect(e.message).toBe(
      `route "leafToCloud": expected INTO but found "$upstream" at column ${columnOf(text, '$upstream')}`,
    );
    expect(routeError('FROM /messages/*').message).toMatch(/expected WHERE or INTO but the route ended at column 17/);
  });

  it('missing source, bad path and missing sink', () => {
    expect(routeError('FROM messages/* INTO $upstream').message).toMatch(
      /expected a source path such as \/messages\/\* but found "messages" at column 6/,
    );
    expect(routeError('FROM /messages/ INTO $upstream').message).toMatch(
      /expected a path segment \(a name or \*\) after '\/' but found "INTO"/,
    );
    expect(routeError('FROM /messages/* INTO').message).toMatch(/expected a sink/);
  });

  it('unknown sinks', () => {
    expect(routeError('FROM /* INTO $cloud').message).toMatch(
      /unknown sink "\$cloud" at column 14 \(a sink is \$upstream or BrokeredEndpoint/,
    );
    expect(routeError('FROM /* INTO upstream').message).toMatch(/did you mean \$upstream\?/);
    expect(routeError('FROM /* INTO EventHub("x")').message).toMatch(/unknown sink "EventHub"/);
  });

  it('unterminated strings and bad escapes', () => {
    const text = "FROM /* WHERE a = 'oops INTO $upstream";
    const e = routeError(text);
    expect(e.message).toMatch(/unterminated string: no closing ' for 'oops INTO/);
    expect(e.column).toBe(columnOf(text, "'oops"));
    expect(routeError('FROM /* INTO BrokeredEndpoint("/modules/m/inputs/i)').message).toMatch(/unterminated string/);
    expect(routeError(String.raw`FROM /* WHERE a = 'x\n' INTO $upstream`).message).toMatch(
      /invalid escape sequence "\\n" in string at column 21/,
    );
  });

  it('BrokeredEndpoint addresses', () => {
    for (const bad of [
      '/modules/m',
      '/module/m/inputs/i',
      '/modules//inputs/i',
      '/modules/m/outputs/i',
      '/modules/m/inputs/i/x',
    ]) {
      expect(routeError(`FROM /* INTO BrokeredEndpoint("${bad}")`).message).toMatch(
        /BrokeredEndpoint address ".*" is not \/modules\/\{module\}\/inputs\/\{input\} at column 31/,
      );
    }
    for (const good of [
      'BrokeredEndpoint("/modules/m/inputs/i")',
      "BrokeredEndpoint('/modules/m/inputs/i')",
      'brokeredendpoint("modules/m/inputs/i/")',
    ]) {
      expect(compileRoute('r', `FROM /* INTO ${good}`).sink).toEqual({
        kind: 'moduleInput',
        moduleId: 'm',
        input: 'i',
      });
    }
  });

  it('syntax details: parentheses, stray characters, trailing text, empty route', () => {
    expect(routeError("FROM /* WHERE (a = 'x' INTO $upstream").message).toMatch(
      /expected '\)' but found "INTO" at column 24 \(to close the '\(' at column 15\)/,
    );
    expect(routeError("FROM /* WHERE a = 'x'; INTO $upstream").message).toMatch(
      /unexpected character ";" at column 22/,
    );
    expect(routeError('FROM /* INTO $upstream now').message).toMatch(/expected the end of the route but found "now"/);
    expect(routeError('   ').message).toMatch(/route is empty/);
    expect(routeError('FROM /* WHERE a[0] = 1 INTO $upstream').message).toMatch(/"a\[0\]" is not a valid name/);
    expect(routeError('FROM /* WHERE INTO $upstream').message).toMatch(/expected an expression but found "INTO"/);
  });

  it('reports the line too for multi-line routes', () => {
    const e = routeError('FROM /messages/*\nWHERE a = \n INTO $upstream');
    expect(e).toMatchObject({ line: 3, column: 2 });
    expect(e.message).toMatch(/at line 3, column 2/);
  });

  it('spec objects: route name, priority and TTL', () => {
    expect(routeError('FROM /* INTO $upstream', 'bad.name').message).toMatch(/route name/);
    expect(routeError({ route: 'FROM /* INTO $upstream', priority: 10 }).message).toMatch(
      /priority must be an integer from 0 \(highest\) to 9/,
    );
    expect(routeError({ route: 'FROM /* INTO $upstream', timeToLiveSecs: -1 }).message).toMatch(/timeToLiveSecs/);
    expect(routeError({ priority: 1 } as unknown as RouteSpec).message).toMatch(/string "route"/);
    expect(compileRoute('r', { route: 'FROM /* INTO $upstream', timeToLiveSecs: 0 }).timeToLiveSecs).toBeUndefined();
    expect(compileRoute('r', { route: 'FROM /* INTO $upstream' }).priority).toBe(DEFAULT_ROUTE_PRIORITY);
  });
});
