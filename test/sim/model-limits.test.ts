// DTDL's limits as the specifications state them (DTDL.v2.md, DTDL.v3.md, DTDL.v4.md) and the official parser
// (DTDLParser) counts them: each at the limit (the model loads) and one past it (refused, naming the limit and where it
// is written). And models in the shapes the public device models repository publishes load.
import { describe, expect, it } from 'vitest';
import { ModelError, parseModel, parseModelText, type DeviceModel } from '../../src/model/dtdl.js';

type Json = Record<string, unknown>;
const CONTEXT = { 2: 'dtmi:dtdl:context;2', 3: 'dtmi:dtdl:context;3', 4: 'dtmi:dtdl:context;4' } as const;
type Version = keyof typeof CONTEXT;

function iface(version: Version, extra: Json = {}, id = 'dtmi:com:example:Limits;1'): Json {
  return { '@context': CONTEXT[version], '@id': id, '@type': 'Interface', ...extra };
}

const telemetry = (name: string, schema: unknown = 'double', extra: Json = {}) => ({
  '@type': 'Telemetry',
  name,
  schema,
  ...extra,
});
const letters = (n: number) => `a${'b'.repeat(n - 1)}`;

function refusal(json: unknown, rootId?: string): ModelError {
  try {
    parseModel(json, { file: 'm.json', ...(rootId === undefined ? {} : { rootId }) });
  } catch (err) {
    expect(err).toBeInstanceOf(ModelError);
    return err as ModelError;
  }
  throw new Error('the model loaded: expected it to be refused');
}

/** Refused at `path`, and the message names the limit's DTDL version and the words of its specification. */
function expectRefused(json: unknown, path: string, version: Version, words: string, rootId?: string): void {
  const err = refusal(json, rootId);
  expect(err.path).toBe(path);
  expect(err.detail).toContain(`(the DTDL v${version} limit, DTDL.v${version}.md: ${words}`);
}

const loads = (json: unknown, rootId?: string): DeviceModel =>
  parseModel(json, { file: 'm.json', ...(rootId === undefined ? {} : { rootId }) });

/** Complex schemas nested `levels` deep, innermost `inner`. */
function nested(kind: 'Array' | 'Object' | 'Map', levels: number, inner: unknown = 'double'): unknown {
  let schema = inner;
  for (let i = 0; i < levels; i++) {
    if (kind === 'Array') schema = { '@type': 'Array', elementSchema: schema };
    else if (kind === 'Object') schema = { '@type': 'Object', fields: [{ name: 'f', schema }] };
    else schema = { '@type': 'Map', mapKey: { name: 'k', schema: 'string' }, mapValue: { name: 'v', schema } };
  }
  return schema;
}

const ENUM = { '@type': 'Enum', valueSchema: 'integer', enumValues: [{ name: 'one', enumValue: 1 }] };

describe('names, display strings and identifiers', () => {
  it.each([
    [2, 64],
    [3, 512],
    [4, 512],
  ] as const)('DTDL v%i: a name of %i characters loads, one more is refused', (v, max) => {
    loads(iface(v, { contents: [telemetry(letters(max))] }));
    expectRefused(
      iface(v, { contents: [telemetry(letters(max + 1))] }),
      'contents[0].name',
      v,
      `"name": max ${max} characters`,
    );
  });

  it.each([
    [2, 64],
    [3, 512],
  ] as const)('DTDL v%i: displayName of %i characters, as text, language map or @value list', (v, max) => {
    for (const form of [
      (t: string) => t,
      (t: string) => ({ en: 'ok', de: t }),
      (t: string) => [{ '@language': 'en', '@value': t }],
    ]) {
      loads(iface(v, { contents: [telemetry('t', 'double', { displayName: form('x'.repeat(max)) })] }));
      const past = iface(v, { contents: [telemetry('t', 'double', { displayName: form('x'.repeat(max + 1)) })] });
      expectRefused(past, 'contents[0].displayName', v, `"displayName": max ${max} characters`);
    }
  });

  it.each([2, 3] as const)('DTDL v%i: description and comment of 512 characters', (v) => {
    for (const key of ['description', 'comment']) {
      loads(iface(v, { [key]: 'x'.repeat(512) }));
      expectRefused(iface(v, { [key]: 'x'.repeat(513) }), key, v, `"${key}": max 512 characters`);
    }
  });

  it.each([2, 3] as const)('DTDL v%i: an Interface @id of 128 characters, and any other @id of 2048', (v) => {
    const id = (length: number, tail = ';1') =>
      `dtmi:com:${'x'.repeat(length - 'dtmi:com:'.length - tail.length)}${tail}`;
    loads(iface(v, {}, id(128)));
    expectRefused(iface(v, {}, id(129)), '@id', v, 'Interface "@id": max 128 characters');
    const withId = (length: number) => iface(v, { contents: [telemetry('t', 'double', { '@id': id(length) })] });
    loads(withId(2048));
    expectRefused(withId(2049), 'contents[0].@id', v, '"@id": max 2048 characters');
  });

  it('a DTMI version has at most 9 digits, a minor version at most 6 (v3)', () => {
    loads(iface(3, {}, 'dtmi:com:example:Limits;999999999.999999'));
    for (const bad of ['dtmi:com:example:Limits;1000000000', 'dtmi:com:example:Limits;1.1000000']) {
      expect(refusal(iface(3, {}, bad)).detail).toContain('a version has at most 9 digits, a minor version at most 6');
    }
    loads(iface(2, {}, 'dtmi:com:example:Limits;999999999'));
    expect(refusal(iface(2, {}, 'dtmi:com:example:Limits;1000000000')).path).toBe('@id');
  });
});

describe('nesting of complex schemas, as DTDLParser counts it', () => {
  it.each([
    [2, 5],
    [3, 5],
    [4, 8],
  ] as const)('DTDL v%i: %i levels of Arrays, Objects or Maps load; one more is refused', (v, max) => {
    for (const kind of ['Array', 'Object', 'Map'] as const) {
      // Arrays in a Property need v3; Telemetry takes every kind in every version.
      loads(iface(v, { contents: [telemetry('t', nested(kind, max))] }));
      const step = { Array: '.elementSchema', Object: '.fields[0].schema', Map: '.mapValue.schema' }[kind];
      expectRefused(
        iface(v, { contents: [telemetry('t', nested(kind, max + 1))] }),
        `contents[0].schema${step.repeat(max)}`,
        v,
        `"the maximum depth of nested complex schemas is ${max} levels"`,
      );
    }
  });

  it('an Enum holds no schema, so it may sit one level below the deepest (DTDLParser does not count it)', () => {
    loads(iface(2, { contents: [telemetry('t', nested('Array', 5, ENUM))] }));
    loads(iface(3, { contents: [telemetry('t', nested('Object', 5, { '@type': 'Object', fields: [] }))] }));
  });

  it("a reusable schema's depth counts where it is used", () => {
    const deep = { '@id': 'dtmi:com:example:Limits:deep;1', ...(nested('Array', 3) as Json) };
    const schemas = [deep];
    loads(iface(3, { schemas, contents: [telemetry('t', nested('Array', 2, deep['@id']))] }));
    const err = refusal(iface(3, { schemas, contents: [telemetry('t', nested('Array', 3, deep['@id']))] }));
    expect(err.detail).toContain('nested more than 5 levels');
  });
});

describe('extends', () => {
  /** Interfaces I0 extends I1 … extends In: a chain of n extends. */
  function chain(v: Version, n: number): Json[] {
    return Array.from({ length: n + 1 }, (_, i) =>
      iface(
        v,
        {
          ...(i < n ? { extends: `dtmi:com:example:I${i + 1};1` } : {}),
          contents: [telemetry(`t${i}`)],
        },
        `dtmi:com:example:I${i};1`,
      ),
    );
  }

  it.each([
    [2, 10],
    [3, 10],
    [4, 12],
  ] as const)('DTDL v%i: a chain of %i extends loads, one more is refused', (v, max) => {
    expect(loads(chain(v, max), 'dtmi:com:example:I0;1').telemetry).toHaveLength(max + 1);
    expectRefused(
      chain(v, max + 1),
      '[0].extends',
      v,
      `Interface "extends": max depth of ${max} levels`,
      'dtmi:com:example:I0;1',
    );
  });

  it('DTDL v2: an Interface extends at most 2 Interfaces', () => {
    const bases = (n: number) =>
      Array.from({ length: n }, (_, i) => iface(2, { contents: [telemetry(`b${i}`)] }, `dtmi:com:example:B${i};1`));
    const root = (n: number) => iface(2, { extends: bases(n).map((b) => b['@id']) });
    loads([root(2), ...bases(2)], 'dtmi:com:example:Limits;1');
    expectRefused(
      [root(3), ...bases(3)],
      '[0].extends',
      2,
      'Interface "extends": max 2 Interfaces in set',
      'dtmi:com:example:Limits;1',
    );
  });

  it('DTDL v3: at most 1024 Interfaces in the extends hierarchy', () => {
    const bases = (n: number) => Array.from({ length: n }, (_, i) => iface(3, {}, `dtmi:com:example:B${i};1`));
    const root = (n: number) => iface(3, { extends: bases(n).map((b) => b['@id']) });
    loads([root(1024), ...bases(1024)], 'dtmi:com:example:Limits;1');
    expectRefused(
      [root(1025), ...bases(1025)],
      '[0].extends',
      3,
      'Interface "extends": max 1024 Interfaces in hierarchy',
      'dtmi:com:example:Limits;1',
    );
  });

  it('a base reached twice (a diamond) is inherited once', () => {
    const d = iface(3, { contents: [telemetry('shared')] }, 'dtmi:com:example:D;1');
    const b = iface(3, { extends: 'dtmi:com:example:D;1', contents: [telemetry('fromB')] }, 'dtmi:com:example:B;1');
    const c = iface(3, { extends: 'dtmi:com:example:D;1', contents: [telemetry('fromC')] }, 'dtmi:com:example:C;1');
    const a = iface(3, { extends: ['dtmi:com:example:B;1', 'dtmi:com:example:C;1'] }, 'dtmi:com:example:A;1');
    expect(loads([a, b, c, d]).telemetry.map((t) => t.name)).toEqual(['shared', 'fromB', 'fromC']);
  });
});

describe('how much an Interface holds', () => {
  it('DTDL v2: 300 contents, inherited ones included', () => {
    const contents = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => telemetry(`${prefix}${i}`));
    const base = iface(2, { contents: contents(100, 'b') }, 'dtmi:com:example:Base;1');
    loads([iface(2, { extends: 'dtmi:com:example:Base;1', contents: contents(200, 'own') }), base]);
    expectRefused(
      [iface(2, { extends: 'dtmi:com:example:Base;1', contents: contents(201, 'own') }), base],
      '[0].contents',
      2,
      'Interface "contents": max 300 Contents in set, including those imported via extends',
    );
  });

  it('DTDL v2: 30 Object fields, 100 Enum values, 300 Relationship properties and maxMultiplicity 500', () => {
    const object = (n: number) => ({
      '@type': 'Object',
      fields: Array.from({ length: n }, (_, i) => ({ name: `f${i}`, schema: 'double' })),
    });
    loads(iface(2, { contents: [telemetry('o', object(30))] }));
    expectRefused(
      iface(2, { contents: [telemetry('o', object(31))] }),
      'contents[0].schema.fields',
      2,
      'Object "fields": max 30 Fields in set',
    );
    const values = (n: number) => ({
      '@type': 'Enum',
      valueSchema: 'integer',
      enumValues: Array.from({ length: n }, (_, i) => ({ name: `v${i}`, enumValue: i })),
    });
    loads(iface(2, { contents: [telemetry('e', values(100))] }));
    expectRefused(
      iface(2, { contents: [telemetry('e', values(101))] }),
      'contents[0].schema.enumValues',
      2,
      'Enum "enumValues": max 100 EnumValues in set',
    );
    const relationship = (props: number, extra: Json = {}) => ({
      '@type': 'Relationship',
      name: 'r',
      ...extra,
      properties: Array.from({ length: props }, (_, i) => ({ '@type': 'Property', name: `p${i}`, schema: 'string' })),
    });
    loads(iface(2, { contents: [relationship(300, { maxMultiplicity: 500 })] }));
    expectRefused(
      iface(2, { contents: [relationship(301)] }),
      'contents[0].properties',
      2,
      'Relationship "properties": max 300 Properties in set',
    );
    expectRefused(
      iface(2, { contents: [relationship(1, { maxMultiplicity: 501 })] }),
      'contents[0].maxMultiplicity',
      2,
      'Relationship "maxMultiplicity": must be <= 500',
    );
    // v3 lifted these set limits for the count of elements below.
    loads(
      iface(3, {
        contents: [
          telemetry('o', object(31)),
          telemetry('e', values(101)),
          relationship(301, { maxMultiplicity: 501 }),
        ],
      }),
    );
  });

  it('DTDL v3: 100,000 elements under contents, counted through Components as DTDLParser counts them', () => {
    // One Telemetry with an Enum of n values: 1 + 1 + n elements. Each Component of it: 1 + (n + 2).
    const n = 24_996;
    const big = iface(
      3,
      {
        contents: [
          telemetry('state', {
            '@type': 'Enum',
            valueSchema: 'integer',
            enumValues: Array.from({ length: n }, (_, i) => ({ name: `v${i}`, enumValue: i })),
          }),
        ],
      },
      'dtmi:com:example:Big;1',
    );
    const components = [1, 2, 3, 4].map((i) => ({
      '@type': 'Component',
      name: `c${i}`,
      schema: 'dtmi:com:example:Big;1',
    }));
    const atLimit = loads([iface(3, { contents: components }), big]); // 4 × (n + 4) = 100,000
    expect(atLimit.telemetry).toHaveLength(4);
    expectRefused(
      [iface(3, { contents: [...components, { '@type': 'Relationship', name: 'r' }] }), big],
      '[0].contents',
      3,
      'Interface "contents": max 100,000 elements in hierarchy, including those imported via extends',
    );
  });

  it('DTDL v3: an Interface has at most 1 MiB of text, not counting Interfaces inline in it; not in v2', () => {
    const sized = (v: Version, length: number, extra: Json = {}) => {
      const text = JSON.stringify(iface(v, { contents: [telemetry('t')], ...extra }));
      return `${text.slice(0, -1)}${' '.repeat(length - text.length)}}`;
    };
    expect(sized(3, 1_048_576).length).toBe(1_048_576);
    parseModelText(sized(3, 1_048_576), { file: 'm.json' });
    const err = (() => {
      try {
        parseModelText(sized(3, 1_048_577), { file: 'm.json' });
      } catch (e) {
        return e as ModelError;
      }
      throw new Error('expected a refusal');
    })();
    expect(err.detail).toContain('is 1048577 characters long');
    expect(err.detail).toContain(
      '(the DTDL v3 limit, DTDL.v3.md: "The text of each Interface is limited to 1 MiByte")',
    );
    parseModelText(sized(2, 2_000_000), { file: 'm.json' });
    // An Interface written inline (a Component's schema) is measured on its own, not as part of the one holding it.
    const inner = sized(3, 900_000).replace('"dtmi:com:example:Limits;1"', '"dtmi:com:example:Inner;1"');
    const component = `{"@type":"Component","name":"c","schema":${inner}}`;
    const outer = `${JSON.stringify(iface(3)).slice(0, -1)},"contents":[${component}]${' '.repeat(200_000)}}`;
    expect(outer.length).toBeGreaterThan(1_048_576);
    expect(parseModelText(outer, { file: 'm.json' }).components).toEqual([
      { name: 'c', modelId: 'dtmi:com:example:Inner;1' },
    ]);
  });
});

describe('models in the shapes the public device models repository publishes', () => {
  it('DTDL v2: IoT Central context, semantic types, units, language maps, components, extends, relationships', () => {
    const base = {
      '@context': ['dtmi:iotcentral:context;2', 'dtmi:dtdl:context;2'],
      '@id': 'dtmi:com:example:edgefleet:DeviceBase;1',
      '@type': 'Interface',
      displayName: { en: 'Device base', fr: 'Base de l’appareil' },
      contents: [
        {
          '@id': 'dtmi:com:example:edgefleet:DeviceBase:uptime;1',
          '@type': ['Telemetry', 'TimeSpan'],
          name: 'uptime',
          schema: 'double',
          unit: 'second',
        },
        {
          '@type': ['Telemetry', 'Event'],
          name: 'alarm',
          schema: 'string',
          displayName: { en: 'Alarm' },
          description: { en: 'Raised when …' },
        },
      ],
    };
    const sensor = {
      '@context': 'dtmi:dtdl:context;2',
      '@id': 'dtmi:com:example:edgefleet:Sensor;1',
      '@type': 'Interface',
      comment: 'Written for the edgefleet tests in the shape of published models.',
      schemas: [
        {
          '@id': 'dtmi:com:example:edgefleet:Sensor:mode;1',
          '@type': 'Enum',
          valueSchema: 'string',
          enumValues: [
            { name: 'eco', enumValue: 'eco', displayName: { en: 'Eco' } },
            { name: 'boost', enumValue: 'boost', displayName: { en: 'Boost' } },
          ],
        },
      ],
      contents: [
        {
          '@type': ['Telemetry', 'Temperature'],
          name: 'temperature',
          schema: 'double',
          unit: 'degreeCelsius',
          displayName: { en: 'Temperature' },
        },
        {
          '@type': ['Property', 'Temperature'],
          name: 'targetTemperature',
          schema: 'double',
          unit: 'degreeCelsius',
          writable: true,
        },
        { '@type': 'Property', name: 'mode', schema: 'dtmi:com:example:edgefleet:Sensor:mode;1', writable: true },
        {
          '@type': 'Property',
          name: 'labels',
          schema: {
            '@type': 'Map',
            mapKey: { name: 'key', schema: 'string' },
            mapValue: { name: 'value', schema: 'string' },
          },
        },
        { '@type': ['Telemetry', 'Location'], name: 'position', schema: 'geopoint' },
        {
          '@type': 'Command',
          name: 'getMaxMinReport',
          displayName: { en: 'Get max-min report' },
          commandType: 'synchronous',
          request: {
            '@type': 'CommandPayload',
            name: 'since',
            schema: 'dateTime',
            description: { en: 'Period start' },
          },
          response: {
            '@type': 'CommandPayload',
            name: 'report',
            schema: {
              '@type': 'Object',
              fields: [
                { name: 'maxTemp', schema: 'double', displayName: { en: 'Max' } },
                { name: 'startTime', schema: 'dateTime' },
              ],
            },
          },
        },
      ],
    };
    const device = {
      '@context': ['dtmi:iotcentral:context;2', 'dtmi:dtdl:context;2'],
      '@id': 'dtmi:com:example:edgefleet:Controller;1',
      '@type': ['Interface', 'NamedInterface'],
      extends: 'dtmi:com:example:edgefleet:DeviceBase;1',
      contents: [
        {
          '@type': 'Component',
          name: 'sensor1',
          schema: 'dtmi:com:example:edgefleet:Sensor;1',
          displayName: { en: 'Sensor 1' },
        },
        { '@type': 'Component', name: 'sensor2', schema: 'dtmi:com:example:edgefleet:Sensor;1' },
        { '@type': ['Property', 'Cloud', 'StringValue'], name: 'customerName', schema: 'string' },
        {
          '@type': 'Relationship',
          name: 'site',
          target: 'dtmi:com:example:edgefleet:Site;1',
          maxMultiplicity: 1,
          properties: [{ '@type': 'Property', name: 'since', schema: 'dateTime' }],
        },
      ],
    };
    const m = loads([device, base, sensor]);
    expect(m.components.map((c) => c.name)).toEqual(['sensor1', 'sensor2']);
    expect(m.telemetry.map((t) => `${t.component ?? ''}.${t.name}:${t.semanticType ?? ''}`)).toEqual([
      '.uptime:TimeSpan',
      '.alarm:Event',
      'sensor1.temperature:Temperature',
      'sensor1.position:Location',
      'sensor2.temperature:Temperature',
      'sensor2.position:Location',
    ]);
    expect(m.commands.map((c) => `${c.component}*${c.name}`)).toEqual([
      'sensor1*getMaxMinReport',
      'sensor2*getMaxMinReport',
    ]);
  });

  it('DTDL v3 with an extension context, major.minor versions, Arrays in properties and geospatial schemas', () => {
    const m = loads({
      '@context': [
        'dtmi:dtdl:context;3',
        'dtmi:dtdl:extension:quantitativeTypes;1',
        'dtmi:dtdl:extension:historization;1',
      ],
      '@id': 'dtmi:com:example:edgefleet:Tracker;2.1',
      '@type': 'Interface',
      displayName: 'Tracker',
      contents: [
        { '@type': ['Telemetry', 'Velocity', 'Historized'], name: 'speed', schema: 'double', unit: 'metrePerSecond' },
        { '@type': 'Property', name: 'route', schema: 'lineString', writable: true },
        { '@type': 'Property', name: 'stops', schema: { '@type': 'Array', elementSchema: 'point' } },
        { '@type': 'Telemetry', name: 'status', schema: { '@type': 'Enum', valueSchema: 'integer', enumValues: [] } },
      ],
    });
    expect(m.properties.map((p) => p.name)).toEqual(['route', 'stops']);
  });
});
