import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadModelFile, parseModel, type DeviceModel, type TelemetryDef } from '../../src/sim/model/dtdl.js';
import {
  commandResponseFor,
  createGenerator,
  createTelemetrySource,
  defaultGeneratorFor,
  GeneratorSpecError,
  seedFor,
  type Generator,
  type GeneratorSpec,
} from '../../src/sim/model/generators.js';
import { conformsTo, type Schema } from '../../src/sim/model/schema.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
const T0 = 1_700_000_000; // epoch seconds, as the telemetry pacer passes them

function run(g: Generator, n: number, t0 = T0, dt = 1): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) out.push(g.next(t0 + i * dt));
  return out;
}

function numbers(g: Generator, n: number, t0 = T0, dt = 1): number[] {
  return run(g, n, t0, dt) as number[];
}

describe('seedFor', () => {
  it('is a stable 32-bit hash: pinned values, so another process (or a later version) seeds identically', () => {
    expect(seedFor()).toBe(2872998923);
    expect(seedFor('device-1')).toBe(489740702);
    expect(seedFor('device-2')).toBe(2180367875);
    expect(seedFor('fleet', 7, 'temperature')).toBe(2541996232);
  });

  it('separates parts, treats numbers as their text, and stays unsigned', () => {
    expect(seedFor('ab', 'c')).not.toBe(seedFor('a', 'bc'));
    expect(seedFor(7)).toBe(seedFor('7'));
    const seeds = new Set<number>();
    for (let i = 0; i < 10_000; i++) {
      const s = seedFor('device', i);
      expect(Number.isInteger(s) && s >= 0 && s < 2 ** 32).toBe(true);
      seeds.add(s);
    }
    expect(seeds.size).toBe(10_000);
  });
});

describe('createGenerator', () => {
  it('pins the PRNG: uniform with seed 42 gives the same numbers in every process', () => {
    expect(numbers(createGenerator({ kind: 'uniform', min: 0, max: 1 }, 42), 3)).toEqual([
      0.6011037519201636, 0.44829055899754167, 0.8524657934904099,
    ]);
  });

  it('constant returns its value every tick', () => {
    const g = createGenerator({ kind: 'constant', value: { mode: 'eco' } }, 1);
    expect(run(g, 3)).toEqual([{ mode: 'eco' }, { mode: 'eco' }, { mode: 'eco' }]);
  });

  it('sine stays in [min, max], covers the range, repeats with its period, and keeps noise inside the range', () => {
    const spec: GeneratorSpec = { kind: 'sine', min: 15, max: 30, periodSeconds: 60 };
    const v = numbers(createGenerator(spec, 5), 600);
    expect(Math.min(...v)).toBeGreaterThanOrEqual(15);
    expect(Math.max(...v)).toBeLessThanOrEqual(30);
    expect(Math.min(...v)).toBeLessThan(15.2);
    expect(Math.max(...v)).toBeGreaterThan(29.8);
    const g = createGenerator(spec, 5);
    expect(g.next(T0 + 60)).toBeCloseTo(g.next(T0) as number, 9);
    expect(g.next(T0 + 30)).not.toBeCloseTo(g.next(T0) as number, 3);

    const noisy = numbers(createGenerator({ ...spec, noise: 2 }, 5), 5000);
    expect(Math.min(...noisy)).toBeGreaterThanOrEqual(15);
    expect(Math.max(...noisy)).toBeLessThanOrEqual(30);
    // Noise is there: consecutive samples at the same phase differ.
    const ng = createGenerator({ ...spec, noise: 2 }, 5);
    expect(ng.next(T0)).not.toBe(ng.next(T0));
  });

  it('sine phases differ between seeds, so a fleet does not peak together', () => {
    const a = createGenerator({ kind: 'sine', min: 0, max: 1, periodSeconds: 100 }, 1).next(T0);
    const b = createGenerator({ kind: 'sine', min: 0, max: 1, periodSeconds: 100 }, 2).next(T0);
    expect(a).not.toBeCloseTo(b as number, 3);
  });

  it('randomWalk starts at start, moves at most one step per call and stays within bounds', () => {
    const v = numbers(createGenerator({ kind: 'randomWalk', start: 50, step: 3, min: 40, max: 60 }, 9), 20_000);
    expect(v[0]).toBe(50);
    for (let i = 1; i < v.length; i++) expect(Math.abs(v[i]! - v[i - 1]!)).toBeLessThanOrEqual(3 + 1e-9);
    expect(Math.min(...v)).toBeGreaterThanOrEqual(40);
    expect(Math.max(...v)).toBeLessThanOrEqual(60);
    // It explores the range rather than sticking to the start.
    expect(Math.min(...v)).toBeLessThan(42);
    expect(Math.max(...v)).toBeGreaterThan(58);
    // Defaults: start in the middle of the bounds; a step wider than the range still stays inside.
    expect(createGenerator({ kind: 'randomWalk', step: 1, min: 0, max: 10 }, 1).next(T0)).toBe(5);
    const wide = numbers(createGenerator({ kind: 'randomWalk', step: 100, min: 0, max: 1 }, 3), 1000);
    expect(wide.every((x) => x >= 0 && x <= 1)).toBe(true);
  });

  it('step walks through its values every `everySeconds`, as a function of time', () => {
    const g = createGenerator({ kind: 'step', values: ['idle', 'heating', 'cooling'], everySeconds: 10 }, 1);
    expect([0, 9, 10, 19.5, 20, 29, 30, 45].map((t) => g.next(t))).toEqual([
      'idle',
      'idle',
      'heating',
      'heating',
      'cooling',
      'cooling',
      'idle',
      'heating',
    ]);
    expect(g.next(-1)).toBe('cooling'); // no negative index before the epoch
  });

  it('uniform stays in range; integer gives integers reaching both ends', () => {
    const v = numbers(createGenerator({ kind: 'uniform', min: -5, max: 5 }, 4), 10_000);
    expect(v.every((x) => x >= -5 && x < 5)).toBe(true);
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    expect(Math.abs(mean)).toBeLessThan(0.15);
    const ints = numbers(createGenerator({ kind: 'uniform', min: 1, max: 6, integer: true }, 4), 10_000);
    expect(ints.every((x) => Number.isInteger(x) && x >= 1 && x <= 6)).toBe(true);
    expect(new Set(ints)).toEqual(new Set([1, 2, 3, 4, 5, 6]));
  });

  it('faker calls the named method, deterministically, whatever other generators do in between', () => {
    const lat = numbers(createGenerator({ kind: 'faker', method: 'location.latitude' }, 11), 100);
    expect(lat.every((x) => typeof x === 'number' && x >= -90 && x <= 90)).toBe(true);

    const alone = run(createGenerator({ kind: 'faker', method: 'string.uuid' }, 11), 5);
    const a = createGenerator({ kind: 'faker', method: 'string.uuid' }, 11);
    const b = createGenerator({ kind: 'faker', method: 'commerce.productName' }, 12);
    const interleaved: unknown[] = [];
    for (let i = 0; i < 5; i++) {
      b.next(T0 + i);
      interleaved.push(a.next(T0 + i));
      b.next(T0 + i);
    }
    expect(interleaved).toEqual(alone);
    expect(
      alone.every((u) => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(u as string)),
    ).toBe(true);
    expect(new Set(alone).size).toBe(5);

    const withArgs = numbers(
      createGenerator({ kind: 'faker', method: 'number.int', args: [{ min: 3, max: 4 }] }, 1),
      50,
    );
    expect(new Set(withArgs)).toEqual(new Set([3, 4]));
    // Dates come from the tick's time, not the wall clock, and serialize as ISO strings.
    const recent = createGenerator({ kind: 'faker', method: 'date.recent' }, 1).next(T0) as string;
    expect(Date.parse(recent)).toBeLessThanOrEqual(T0 * 1000);
    expect(Date.parse(recent)).toBeGreaterThan((T0 - 2 * 86400) * 1000);

    expect(() => createGenerator({ kind: 'faker', method: 'location.latitud' }, 1)).toThrow(
      'faker has no method "location.latitud" (did you mean "latitude"?)',
    );
    expect(() => createGenerator({ kind: 'faker', method: 'seed' }, 1)).toThrow(GeneratorSpecError);
  });

  it('poisson: a value on some ticks only, at the configured average rate', () => {
    const ratePerMinute = 6;
    const g = createGenerator({ kind: 'poisson', ratePerMinute, value: { kind: 'constant', value: 'door-open' } }, 21);
    const ticks = 36_000; // ten hours at one tick per second
    const v = run(g, ticks);
    expect(v[0]).toBeUndefined(); // no interval before the first tick
    const events = v.filter((x) => x !== undefined);
    expect(new Set(events)).toEqual(new Set(['door-open']));
    // At most one event per tick: P(event) = 1 − e^(−λΔt). ±5 % is about 3 standard deviations here.
    const expected = ticks * (1 - Math.exp(-ratePerMinute / 60));
    expect(Math.abs(events.length - expected) / expected).toBeLessThan(0.05);

    // With ticks much shorter than the mean gap, the count matches the nominal rate.
    const slow = run(createGenerator({ kind: 'poisson', ratePerMinute: 2 }, 22), 20 * 3600, T0, 0.5);
    const n = slow.filter((x) => x !== undefined).length;
    expect(Math.abs(n - 2 * 60 * 10) / (2 * 60 * 10)).toBeLessThan(0.08);
    expect(slow.find((x) => x !== undefined)).toBe(true); // no value spec, no fallback: true
    expect(run(createGenerator({ kind: 'poisson', ratePerMinute: 0 }, 1), 1000).every((x) => x === undefined)).toBe(
      true,
    );
  });

  it('same seed → identical values; different seed → different values, for every kind that draws', () => {
    const specs: GeneratorSpec[] = [
      { kind: 'sine', min: 0, max: 10, periodSeconds: 30, noise: 1 },
      { kind: 'randomWalk', step: 1 },
      { kind: 'uniform', min: 0, max: 100 },
      { kind: 'faker', method: 'commerce.productName' },
      { kind: 'poisson', ratePerMinute: 30, value: { kind: 'uniform', min: 0, max: 1 } },
    ];
    for (const spec of specs) {
      const a = run(createGenerator(spec, 1234), 200);
      const b = run(createGenerator(spec, 1234), 200);
      const c = run(createGenerator(spec, 1235), 200);
      expect(a, spec.kind).toEqual(b);
      expect(a, spec.kind).not.toEqual(c);
    }
  });

  it('rejects malformed specs with a message saying what is wrong', () => {
    const bad: [unknown, string][] = [
      [{ kind: 'sine', min: 10, max: 0, periodSeconds: 1 }, 'sine: min (10) is greater than max (0)'],
      [{ kind: 'sine', min: 0, max: 1, periodSeconds: 0 }, 'sine.periodSeconds must be > 0'],
      [{ kind: 'randomWalk', step: 1, start: 20, min: 0, max: 10 }, 'randomWalk.start (20) is outside [0, 10]'],
      [{ kind: 'step', values: [], everySeconds: 1 }, 'step.values must be a non-empty array'],
      [{ kind: 'uniform', min: 0.2, max: 0.8, integer: true }, 'no integer between 0.2 and 0.8'],
      [{ kind: 'poisson', ratePerMinute: -1 }, 'poisson.ratePerMinute must be ≥ 0'],
      [{ kind: 'gaussian' }, 'unknown generator kind "gaussian"'],
      [{ kind: 'uniform', min: '1', max: 2 }, 'uniform.min must be a finite number, got "1"'],
    ];
    for (const [spec, message] of bad) expect(() => createGenerator(spec as GeneratorSpec, 1)).toThrow(message);
  });
});

/** A model with one telemetry per schema kind, to check that defaults fit their schema. */
const everything: DeviceModel = parseModel({
  '@context': ['dtmi:dtdl:context;4'],
  '@id': 'dtmi:x:Everything;1',
  '@type': 'Interface',
  contents: [
    ...[
      'boolean',
      'date',
      'dateTime',
      'double',
      'duration',
      'float',
      'integer',
      'long',
      'string',
      'time',
      'byte',
      'bytes',
      'decimal',
      'short',
      'uuid',
      'unsignedByte',
      'unsignedShort',
      'unsignedInteger',
      'unsignedLong',
      'point',
      'multiPoint',
      'lineString',
      'multiLineString',
      'polygon',
      'multiPolygon',
      'geopoint',
      'vector',
    ].map((s) => ({ '@type': 'Telemetry', name: `v_${s}`, schema: s })),
    {
      '@type': 'Telemetry',
      name: 'state',
      schema: {
        '@type': 'Enum',
        valueSchema: 'integer',
        enumValues: [
          { name: 'off', enumValue: 0 },
          { name: 'on', enumValue: 1 },
          { name: 'fault', enumValue: 7 },
        ],
      },
    },
    {
      '@type': 'Telemetry',
      name: 'mode',
      schema: {
        '@type': 'Enum',
        valueSchema: 'string',
        enumValues: [
          { name: 'eco', enumValue: 'ECO' },
          { name: 'boost', enumValue: 'BOOST' },
        ],
      },
    },
    {
      '@type': 'Telemetry',
      name: 'reading',
      schema: {
        '@type': 'Object',
        fields: [
          { name: 'temp', schema: 'integer' },
          { name: 'tags', schema: { '@type': 'Array', elementSchema: 'string' } },
          {
            name: 'levels',
            schema: {
              '@type': 'Map',
              mapKey: { name: 'sensor', schema: 'string' },
              mapValue: { name: 'level', schema: 'double' },
            },
          },
          { name: 'at', schema: 'dateTime' },
        ],
      },
    },
    { '@type': 'Telemetry', name: 'humidity', schema: 'double' },
    { '@type': 'Telemetry', name: 'temperature', schema: 'integer', unit: 'degreeFahrenheit' },
  ],
});

describe('defaultGeneratorFor', () => {
  it('produces values that fit every schema, tick after tick', () => {
    for (const def of everything.telemetry) {
      const g = defaultGeneratorFor(def, seedFor('dev', def.name));
      for (let i = 0; i < 50; i++) {
        const v = g.next(T0 + i * 5);
        expect(conformsTo(v, def.schema), `${def.name} = ${JSON.stringify(v)}`).toBe(true);
      }
    }
  });

  it('gives temperature-like doubles 15..30, humidity 30..70, integers for integer schemas, declared enum values', () => {
    const temp: TelemetryDef = {
      name: 'temperature',
      schema: 'double',
      semanticType: 'Temperature',
      unit: 'degreeCelsius',
    };
    const t = numbers(defaultGeneratorFor(temp, 1), 2000, T0, 5);
    expect(Math.min(...t)).toBeGreaterThanOrEqual(15);
    expect(Math.max(...t)).toBeLessThanOrEqual(30);
    expect(Math.max(...t) - Math.min(...t)).toBeGreaterThan(10);
    const h = numbers(
      defaultGeneratorFor(
        everything.telemetry.find((d) => d.name === 'humidity')!,
        1,
      ),
      2000,
      T0,
      5,
    );
    expect(Math.min(...h)).toBeGreaterThanOrEqual(30);
    expect(Math.max(...h)).toBeLessThanOrEqual(70);
    const f = numbers(
      defaultGeneratorFor(
        everything.telemetry.find((d) => d.name === 'temperature')!,
        1,
      ),
      500,
      T0,
      5,
    );
    expect(f.every((x) => Number.isInteger(x) && x >= 59 && x <= 86)).toBe(true);
    const states = run(
      defaultGeneratorFor(
        everything.telemetry.find((d) => d.name === 'state')!,
        1,
      ),
      2000,
    );
    expect(new Set(states)).toEqual(new Set([0, 1, 7]));
  });

  it('dateTime is the tick time; a startTime-like field is earlier', () => {
    expect(defaultGeneratorFor({ name: 'lastSeen', schema: 'dateTime' }, 1).next(T0)).toBe('2023-11-14T22:13:20.000Z');
    expect(defaultGeneratorFor({ name: 'startTime', schema: 'dateTime' }, 1).next(T0)).toBe('2023-11-14T21:13:20.000Z');
    expect(defaultGeneratorFor({ name: 'd', schema: 'date' }, 1).next(T0)).toBe('2023-11-14');
    expect(defaultGeneratorFor({ name: 'tm', schema: 'time' }, 1).next(T0)).toBe('22:13:20');
  });

  it('identity-like strings stay the same for a device; a geopoint wanders slowly', () => {
    const serial = run(defaultGeneratorFor({ name: 'serialNumber', schema: 'string', writable: false }, 3), 5);
    expect(new Set(serial).size).toBe(1);
    expect(serial[0]).toMatch(/^[0-9A-Z]{12}$/);
    const geo = run(defaultGeneratorFor({ name: 'location', schema: 'geopoint' }, 3), 100) as {
      lat: number;
      lon: number;
    }[];
    for (let i = 1; i < geo.length; i++) {
      expect(Math.abs(geo[i]!.lat - geo[i - 1]!.lat)).toBeLessThan(0.001);
      expect(Math.abs(geo[i]!.lon - geo[i - 1]!.lon)).toBeLessThan(0.001);
    }
  });

  it('IoT Central Event telemetry is occasional', () => {
    const v = run(defaultGeneratorFor({ name: 'doorOpened', schema: 'boolean', semanticType: 'Event' }, 1), 600);
    const n = v.filter((x) => x !== undefined).length;
    expect(n).toBeGreaterThan(2);
    expect(n).toBeLessThan(25); // about 1 a minute over 10 minutes
  });
});

describe('createTelemetrySource', () => {
  it('makes one body per component, root without a component key, and none for components without telemetry', async () => {
    const model = await loadModelFile(fixture('temperature-controller.v3.dtdl.json'));
    const src = createTelemetrySource(model, {}, seedFor('device-1'));
    const msgs = src.tick(T0);
    expect(msgs.map((m) => m.component)).toEqual([undefined, 'thermostat1', 'thermostat2']);
    expect('component' in msgs[0]!).toBe(false);
    expect(Object.keys(msgs[0]!.body)).toEqual(['workingSet']);
    for (const m of msgs.slice(1)) {
      expect(Object.keys(m.body)).toEqual(['temperature']);
      expect(m.body.temperature).toBeGreaterThanOrEqual(15);
      expect(m.body.temperature).toBeLessThanOrEqual(30);
    }
    // The two thermostats are seeded apart; the same device seed repeats itself.
    expect(msgs[1]!.body.temperature).not.toBe(msgs[2]!.body.temperature);
    const seq = (seed: number): unknown[] => {
      const s = createTelemetrySource(model, {}, seed);
      return Array.from({ length: 20 }, (_, i) => s.tick(T0 + i));
    };
    expect(seq(seedFor('device-1'))).toEqual(seq(seedFor('device-1')));
    expect(seq(seedFor('device-1'))).not.toEqual(seq(seedFor('device-2')));
  });

  it('applies overrides by "component.name" or by "name" for every component, fitted to the schema', async () => {
    const model = await loadModelFile(fixture('temperature-controller.v3.dtdl.json'));
    const one = createTelemetrySource(model, { 'thermostat1.temperature': { kind: 'constant', value: 21.5 } }, 1).tick(
      T0,
    );
    expect(one[1]).toEqual({ component: 'thermostat1', body: { temperature: 21.5 } });
    expect(one[2]!.body.temperature).not.toBe(21.5);
    const both = createTelemetrySource(
      model,
      { temperature: { kind: 'constant', value: 19 }, 'thermostat2.temperature': { kind: 'constant', value: 23 } },
      1,
    ).tick(T0);
    expect(both.map((m) => m.body.temperature)).toEqual([undefined, 19, 23]);

    // Integer schemas get integers even from a sine.
    const intModel = parseModel({
      '@context': 'dtmi:dtdl:context;2',
      '@id': 'dtmi:x:Counter;1',
      '@type': 'Interface',
      contents: [
        { '@type': 'Telemetry', name: 'count', schema: 'integer' },
        { '@type': 'Telemetry', name: 'label', schema: 'string' },
      ],
    });
    const src = createTelemetrySource(intModel, { count: { kind: 'sine', min: 0, max: 10, periodSeconds: 20 } }, 1);
    for (let i = 0; i < 40; i++) {
      const v = src.tick(T0 + i)[0]!.body.count;
      expect(Number.isInteger(v)).toBe(true);
    }

    expect(() =>
      createTelemetrySource(model, { 'thermostat3.temperature': { kind: 'constant', value: 1 } }, 1),
    ).toThrow(
      'override "thermostat3.temperature": no such telemetry in dtmi:com:example:TemperatureController;2; it has "workingSet", "thermostat1.temperature", "thermostat2.temperature"',
    );
    expect(() => createTelemetrySource(intModel, { label: { kind: 'uniform', min: 0, max: 1 } }, 1)).toThrow(
      'a uniform generator makes numbers, but label is "string"',
    );
    expect(() =>
      createTelemetrySource(intModel, { count: { kind: 'step', values: [1, 'two'], everySeconds: 5 } }, 1),
    ).toThrow('"two" does not fit count\'s schema, "integer"');
    expect(() =>
      createTelemetrySource(intModel, { count: { kind: 'sine', min: 0, max: 1, periodSeconds: -1 } }, 1),
    ).toThrow('override "count": sine.periodSeconds must be > 0');
  });

  it('Poisson overrides leave out ticks with no event, and the component message when its body is empty', async () => {
    const model = await loadModelFile(fixture('thermostat.dtdl.json'));
    const src = createTelemetrySource(model, { temperature: { kind: 'poisson', ratePerMinute: 10 } }, 5);
    let empty = 0;
    let full = 0;
    for (let i = 0; i < 600; i++) {
      const msgs = src.tick(T0 + i);
      if (msgs.length === 0) empty++;
      else {
        full++;
        expect(msgs).toHaveLength(1);
        // The fallback value is the schema's default generator: a temperature.
        expect(conformsTo(msgs[0]!.body.temperature, 'double')).toBe(true);
        expect(msgs[0]!.body.temperature).toBeGreaterThanOrEqual(15);
      }
    }
    expect(full).toBeGreaterThan(60);
    expect(full).toBeLessThan(140);
    expect(empty).toBeGreaterThan(400);
  });
});

describe('commandResponseFor', () => {
  it("answers the Thermostat's getMaxMinReport with an object that fits, min ≤ avg ≤ max, start before end", async () => {
    const model = await loadModelFile(fixture('thermostat.dtdl.json'));
    const cmd = model.commands[0]!;
    for (let seed = 0; seed < 50; seed++) {
      const r = commandResponseFor(cmd, seed, T0) as {
        maxTemp: number;
        minTemp: number;
        avgTemp: number;
        startTime: string;
        endTime: string;
      };
      expect(conformsTo(r, cmd.response!.schema)).toBe(true);
      expect(r.minTemp).toBeLessThanOrEqual(r.avgTemp);
      expect(r.avgTemp).toBeLessThanOrEqual(r.maxTemp);
      expect(Date.parse(r.startTime)).toBeLessThan(Date.parse(r.endTime));
      expect(r.endTime).toBe('2023-11-14T22:13:20.000Z');
    }
    expect(commandResponseFor(cmd, 7, T0)).toEqual(commandResponseFor(cmd, 7, T0));
    expect(commandResponseFor(cmd, 7, T0)).not.toEqual(commandResponseFor(cmd, 8, T0));
  });

  it('fits other response schemas, and gives undefined when the command declares no response', async () => {
    const model = await loadModelFile(fixture('temperature-controller.v3.dtdl.json'));
    expect(
      commandResponseFor(
        model.commands.find((c) => c.name === 'reboot')!,
        1,
        T0,
      ),
    ).toBeUndefined();
    const schemas: Schema[] = [
      'integer',
      'string',
      'boolean',
      'duration',
      { kind: 'enum', valueSchema: 'string', values: [{ name: 'ok', value: 'OK' }] },
      { kind: 'array', elementSchema: { kind: 'object', fields: [{ name: 'count', schema: 'long' }] } },
    ];
    for (const schema of schemas) {
      const r = commandResponseFor({ name: 'c', response: { name: 'result', schema } }, 3, T0);
      expect(conformsTo(r, schema), JSON.stringify(r)).toBe(true);
    }
  });
});

describe('conformsTo (the checker the tests above rely on)', () => {
  it('rejects values that do not fit', () => {
    expect(conformsTo(1.5, 'integer')).toBe(false);
    expect(conformsTo(2 ** 31, 'integer')).toBe(false);
    expect(conformsTo(-1, 'unsignedByte')).toBe(false);
    expect(conformsTo('2023-11-14 22:13', 'dateTime')).toBe(false);
    expect(conformsTo('1', 'double')).toBe(false);
    expect(conformsTo(3, { kind: 'enum', valueSchema: 'integer', values: [{ name: 'a', value: 1 }] })).toBe(false);
    expect(
      conformsTo(
        { maxTemp: 1 },
        {
          kind: 'object',
          fields: [
            { name: 'maxTemp', schema: 'double' },
            { name: 'minTemp', schema: 'double' },
          ],
        },
      ),
    ).toBe(false);
    expect(conformsTo({ lat: 91, lon: 0 }, 'geopoint')).toBe(false);
    expect(
      conformsTo(
        {
          type: 'Polygon',
          coordinates: [
            [
              [0, 0],
              [1, 0],
              [1, 1],
              [0, 1],
            ],
          ],
        },
        'polygon',
      ),
    ).toBe(false); // ring not closed
  });
});
