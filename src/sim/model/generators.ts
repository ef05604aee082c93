// Deterministic value generators for telemetry, read-only properties and command responses. Same seed and same
// sequence of next(t) calls → same values in any process: every generator draws from its own mulberry32 state,
// and time comes only from the caller's `t` (seconds; the pacer passes epoch seconds of the intended send time).
import type { Faker } from '@faker-js/faker';
// The English instance only: the package's index loads every locale (some 80 files at once in each worker thread,
// enough to exhaust a small limit of open files, and megabytes to parse); its class and data make ours.
import { faker as english } from '@faker-js/faker/locale/en';
import type { CommandDef, DeviceModel, PropertyDef, TelemetryDef } from '../../model/dtdl.js';
import { Prng, seedFor } from './random.js';
import type {
  ArraySchema,
  ComplexSchema,
  EnumSchema,
  GeospatialSchema,
  MapSchema,
  ObjectSchema,
  Schema,
} from '../../model/schema.js';
import { fitInteger, isIntegerSchema, isNumericSchema } from '../../model/schema.js';
import { fakerMethodProblem, generatorProblem } from '../../config/generators.js';
import { overrideKeyOf, overrideProblem, unknownOverridesProblem } from '../../config/model-values.js';

export { seedFor } from './random.js';

export type GeneratorSpec =
  | { kind: 'constant'; value: unknown }
  /** Between min and max; `noise` is a ± amplitude carved out of the range, so values never leave it. */
  | { kind: 'sine'; min: number; max: number; periodSeconds: number; noise?: number }
  /** One ±step move per call, reflected at min/max. */
  | { kind: 'randomWalk'; start?: number; step: number; min?: number; max?: number }
  /** values[floor(t / everySeconds) mod n]: a function of time only, so a fleet can step in sync. */
  | { kind: 'step'; values: unknown[]; everySeconds: number }
  /** [min, max) for numbers; [min, max] when `integer`. */
  | { kind: 'uniform'; min: number; max: number; integer?: boolean }
  | { kind: 'faker'; method: string; args?: unknown[] }
  /** At most one event per call, with probability 1 − e^(−rate·Δt); the first call has no Δt and never fires. */
  | { kind: 'poisson'; ratePerMinute: number; value?: GeneratorSpec };

type PoissonSpec = Extract<GeneratorSpec, { kind: 'poisson' }>;

export interface Generator {
  /** The value at `timeSeconds`, or undefined when there is nothing this tick (Poisson). */
  next(timeSeconds: number): unknown;
}

export class GeneratorSpecError extends Error {
  override readonly name = 'GeneratorSpecError';
}

// ---------------------------------------------------------------------------------------------------------------
// Faker: one shared instance whose randomizer reads from whichever generator is calling. Measured on this machine
// (Node 20, faker 10.6): `new Faker({locale:[en,base]})` ≈ 116 µs and ≈ 29 KiB each (10,000 devices × fields would
// be hundreds of MiB); re-seeding a shared instance with faker.seed() ≈ 38 µs per call (Mersenne Twister re-init);
// this proxy costs only the method itself: ≈ 0.2–0.6 µs (location.latitude), 2–3.4 µs (string.uuid), ≈ 4.5 µs
// (commerce.productName) per next(), measured through createGenerator.

let activeRng: Prng | undefined;
let refDateMs = 0;
let sharedFaker: Faker | undefined;

function fakerInstance(): Faker {
  if (sharedFaker === undefined) {
    const FakerClass = english.constructor as typeof Faker;
    sharedFaker = new FakerClass({
      locale: english.rawDefinitions,
      randomizer: {
        next: () => (activeRng ?? fallbackRng).next(),
        seed: () => {},
      },
    });
    // faker.date.* default to "now"; tie them to the tick's time instead, so they are reproducible too.
    sharedFaker.setDefaultRefDate(() => new Date(refDateMs));
  }
  return sharedFaker;
}
const fallbackRng = new Prng(0);

function resolveFaker(method: string): (...args: unknown[]) => unknown {
  const faker = fakerInstance();
  const problem = fakerMethodProblem(faker, method);
  if (problem !== undefined) throw new GeneratorSpecError(problem);
  const [moduleName, name] = method.split('.') as [string, string];
  const owner = (faker as unknown as Record<string, Record<string, unknown>>)[moduleName]!;
  return (owner[name] as (...a: unknown[]) => unknown).bind(owner);
}

/** What a run refuses about a spec: the same check the scenario gate makes (src/config/generators.ts). */
function specProblem(spec: unknown): string | undefined {
  return generatorProblem(spec, (method) => fakerMethodProblem(fakerInstance(), method))?.message;
}

function fakerGenerator(method: string, args: unknown[], seed: number): Generator {
  const fn = resolveFaker(method);
  const rng = new Prng(seed);
  return {
    next(t) {
      activeRng = rng;
      refDateMs = t * 1000;
      try {
        const v = fn(...args);
        return v instanceof Date ? v.toISOString() : v;
      } finally {
        activeRng = undefined;
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------

/** Builds a generator; `fallback` is what a Poisson without `value` emits (default: true). */
export function createGenerator(spec: GeneratorSpec, seed: number, fallback?: Generator): Generator {
  const problem = specProblem(spec);
  if (problem !== undefined) throw new GeneratorSpecError(problem);
  switch (spec.kind) {
    case 'constant': {
      const value = spec.value;
      return { next: () => value };
    }
    case 'sine':
      return sineGenerator(spec, seed);
    case 'randomWalk':
      return randomWalkGenerator(spec, seed);
    case 'step': {
      const { values, everySeconds: every } = spec;
      const n = values.length;
      return {
        next(t) {
          const i = Math.floor(t / every) % n;
          return values[i < 0 ? i + n : i];
        },
      };
    }
    case 'uniform': {
      const rng = new Prng(seed);
      if (spec.integer === true) {
        const lo = Math.ceil(spec.min);
        const hi = Math.floor(spec.max);
        return { next: () => rng.int(lo, hi) };
      }
      return { next: () => rng.range(spec.min, spec.max) };
    }
    case 'faker':
      return fakerGenerator(spec.method, spec.args ?? [], seed);
    case 'poisson':
      return poissonGenerator(spec, seed, fallback);
  }
}

function sineGenerator(spec: Extract<GeneratorSpec, { kind: 'sine' }>, seed: number): Generator {
  const { min, max, periodSeconds: period } = spec;
  const noise = spec.noise ?? 0;
  const rng = new Prng(seed);
  const phase = rng.next() * 2 * Math.PI; // devices of a fleet do not peak together
  const mid = (min + max) / 2;
  const amp = Math.max(0, (max - min) / 2 - noise);
  const w = (2 * Math.PI) / period;
  return {
    next(t) {
      // t % period is exact; w * t for epoch seconds (~1.7e9) would lose ~1e-8 rad of phase.
      let v = mid + amp * Math.sin(w * (t % period) + phase);
      if (noise > 0) v += noise * (2 * rng.next() - 1);
      return v < min ? min : v > max ? max : v;
    },
  };
}

function randomWalkGenerator(spec: Extract<GeneratorSpec, { kind: 'randomWalk' }>, seed: number): Generator {
  const { step } = spec;
  const min = spec.min ?? -Infinity;
  const max = spec.max ?? Infinity;
  const start =
    spec.start !== undefined
      ? spec.start
      : Number.isFinite(min) && Number.isFinite(max)
        ? (min + max) / 2
        : Number.isFinite(min)
          ? min
          : Number.isFinite(max)
            ? max
            : 0;
  const rng = new Prng(seed);
  let x = start;
  return {
    next() {
      const v = x;
      x += step * (2 * rng.next() - 1);
      if (x > max) x = 2 * max - x;
      if (x < min) x = 2 * min - x;
      if (x > max) x = max; // a step wider than the range
      return v;
    },
  };
}

function poissonGenerator(spec: PoissonSpec, seed: number, fallback?: Generator): Generator {
  const inner = spec.value !== undefined ? createGenerator(spec.value, seedFor(seed, 'value'), fallback) : fallback;
  const rng = new Prng(seed);
  const perSecond = spec.ratePerMinute / 60;
  let last = NaN;
  return {
    next(t) {
      const dt = t - last;
      last = t;
      if (!(dt > 0)) return undefined; // first call, or time going backwards
      if (rng.next() >= 1 - Math.exp(-perSecond * dt)) return undefined;
      return inner === undefined ? true : inner.next(t);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Defaults from the schema and the name.

export interface Hints {
  name: string;
  semanticType?: string | undefined;
  unit?: string | undefined;
}

function round(v: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(v * f) / f;
}

/** A numeric profile from the name, semantic type and unit: what a reader of the dashboard expects to see. */
export function numericProfile(h: Hints, seed: number): { spec: GeneratorSpec; decimals: number } {
  const n = h.name.toLowerCase();
  const sem = (h.semanticType ?? '').toLowerCase();
  const unit = (h.unit ?? '').toLowerCase();
  const start = new Prng(seedFor(seed, 'start'));
  if (sem === 'temperature' || /temp/.test(n) || unit.startsWith('degree') || unit === 'kelvin') {
    if (unit === 'degreefahrenheit')
      return { spec: { kind: 'sine', min: 59, max: 86, periodSeconds: 600, noise: 0.3 }, decimals: 2 };
    if (unit === 'kelvin')
      return { spec: { kind: 'sine', min: 288, max: 303, periodSeconds: 600, noise: 0.2 }, decimals: 2 };
    return { spec: { kind: 'sine', min: 15, max: 30, periodSeconds: 600, noise: 0.2 }, decimals: 2 };
  }
  if (sem.includes('humidity') || /humid/.test(n))
    return { spec: { kind: 'sine', min: 30, max: 70, periodSeconds: 900, noise: 0.5 }, decimals: 2 };
  if (sem === 'pressure' || /pressure/.test(n)) {
    const [lo, hi] = unit === 'kilopascal' ? [99, 103] : unit === 'bar' ? [0.99, 1.03] : [990, 1030];
    return { spec: { kind: 'sine', min: lo, max: hi, periodSeconds: 1800, noise: (hi - lo) / 100 }, decimals: 2 };
  }
  if (/batt/.test(n))
    return { spec: { kind: 'randomWalk', start: start.range(40, 100), step: 0.5, min: 0, max: 100 }, decimals: 1 };
  if (/^lat(itude)?$/.test(n))
    return { spec: { kind: 'randomWalk', start: start.range(-55, 65), step: 0.0005, min: -90, max: 90 }, decimals: 6 };
  if (/^(lon|lng|long|longitude)$/.test(n))
    return {
      spec: { kind: 'randomWalk', start: start.range(-179, 179), step: 0.0005, min: -180, max: 180 },
      decimals: 6,
    };
  if (/^alt(itude)?$/.test(n))
    return { spec: { kind: 'randomWalk', start: start.range(0, 500), step: 1, min: 0, max: 2000 }, decimals: 1 };
  if (/co2/.test(n))
    return { spec: { kind: 'sine', min: 400, max: 1200, periodSeconds: 1800, noise: 10 }, decimals: 0 };
  if (/volt/.test(n) || unit === 'volt')
    return { spec: { kind: 'sine', min: 220, max: 240, periodSeconds: 300, noise: 0.5 }, decimals: 2 };
  if (/speed|velocity/.test(n))
    return { spec: { kind: 'sine', min: 0, max: 120, periodSeconds: 600, noise: 2 }, decimals: 1 };
  if (/workingset|memory|storage/.test(n) || sem === 'datasize') {
    return {
      spec: { kind: 'randomWalk', start: start.range(2000, 8000), step: 50, min: 500, max: 16000 },
      decimals: 0,
    };
  }
  if (unit === 'percent' || /percent|level/.test(n))
    return { spec: { kind: 'sine', min: 0, max: 100, periodSeconds: 600, noise: 1 }, decimals: 1 };
  return { spec: { kind: 'sine', min: 0, max: 100, periodSeconds: 600, noise: 1 }, decimals: 2 };
}

/** Rounds to an integer within the schema's range (numbers only; other values pass through). */
function integerFitter(schema: Schema): ((v: unknown) => unknown) | undefined {
  return isIntegerSchema(schema) ? (v) => fitInteger(schema, v) : undefined;
}

function mapGen(g: Generator, f: (v: unknown) => unknown): Generator {
  return {
    next(t) {
      const v = g.next(t);
      return v === undefined ? undefined : f(v);
    },
  };
}

/** Keeps its value and changes it with probability `p` per call: states and flags that do not flicker. */
function sticky<T>(rng: Prng, p: number, pick: () => T): Generator {
  let value = pick();
  return {
    next() {
      if (rng.next() < p) value = pick();
      return value;
    },
  };
}

/** Computed once per generator: identity-like strings (serial number, manufacturer…) do not change per tick. */
function once(g: Generator): Generator {
  let value: unknown;
  let done = false;
  return {
    next(t) {
      if (!done) {
        value = g.next(t);
        done = true;
      }
      return value;
    },
  };
}

function pickList(rng: Prng, list: readonly string[]): Generator {
  const v = list[rng.int(0, list.length - 1)]!;
  return { next: () => v };
}

function stringGenerator(h: Hints, seed: number): Generator {
  const n = h.name.toLowerCase();
  const rng = new Prng(seed);
  const f = (method: string, ...args: unknown[]): Generator => fakerGenerator(method, args, seed);
  if (/serial/.test(n)) return once(f('string.alphanumeric', { length: 12, casing: 'upper' }));
  if (/processorarch|architecture|arch$/.test(n)) return pickList(rng, ['x86_64', 'arm64', 'armv7l']);
  if (/processor|cpu/.test(n)) return pickList(rng, ['Intel', 'AMD', 'ARM', 'Qualcomm', 'NXP']);
  if (/manufacturer|vendor|make|company/.test(n)) return once(f('company.name'));
  if (/^os|osname|operatingsystem/.test(n))
    return pickList(rng, ['Linux', 'Ubuntu 22.04', 'Windows 10 IoT Enterprise', 'Azure Sphere OS']);
  if (/version|firmware|fw|sw/.test(n)) return once(f('system.semver'));
  if (/model|product/.test(n)) return once(f('commerce.productName'));
  if (/email/.test(n)) return once(f('internet.email'));
  if (/^ip|ipaddress|ipv4/.test(n)) return once(f('internet.ipv4'));
  if (/mac/.test(n)) return once(f('internet.mac'));
  if (/url|uri|endpoint/.test(n)) return once(f('internet.url'));
  if (/host/.test(n)) return once(f('internet.domainName'));
  if (/city/.test(n)) return once(f('location.city'));
  if (/country/.test(n)) return once(f('location.country'));
  if (/address|street/.test(n)) return once(f('location.streetAddress'));
  if (/user|owner|operator|person|technician/.test(n)) return once(f('person.fullName'));
  if (/name/.test(n)) return once(f('commerce.productName'));
  if (/(^|[a-z])(id|guid|uuid)$/.test(n)) return once(uuidGenerator(seed));
  if (/status|state/.test(n))
    return sticky(rng, 0.05, () => (['ok', 'ok', 'ok', 'warning', 'error'] as const)[rng.int(0, 4)]);
  if (/message|description|text|note|comment|reason|alert/.test(n)) return f('lorem.sentence');
  return f('lorem.word');
}

function uuidGenerator(seed: number): Generator {
  const rng = new Prng(seed);
  const hex = (bits: number, n: number): string => bits.toString(16).padStart(n, '0');
  return {
    next() {
      const a = (rng.next() * 0x100000000) >>> 0;
      const b = (rng.next() * 0x100000000) >>> 0;
      const c = (rng.next() * 0x100000000) >>> 0;
      const d = (rng.next() * 0x100000000) >>> 0;
      // RFC 4122 version 4, variant 10xx.
      const s =
        hex(a, 8) + hex(((b >>> 16) & 0x0fff) | 0x4000, 4) + hex((b & 0x3fff) | 0x8000, 4) + hex(c, 8) + hex(d, 8);
      return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
    },
  };
}

/** A device's home position plus a slow wander around it. */
function positionWalker(seed: number): { step(): [number, number]; rng: Prng } {
  const rng = new Prng(seed);
  const homeLat = rng.range(-55, 65);
  const homeLon = rng.range(-179, 179);
  let dLat = 0;
  let dLon = 0;
  const r = 0.05;
  const out: [number, number] = [0, 0];
  return {
    rng,
    step() {
      dLat += 0.0005 * (2 * rng.next() - 1);
      dLon += 0.0005 * (2 * rng.next() - 1);
      if (dLat > r || dLat < -r) dLat = Math.sign(dLat) * r;
      if (dLon > r || dLon < -r) dLon = Math.sign(dLon) * r;
      out[0] = round(homeLon + dLon, 6);
      out[1] = round(homeLat + dLat, 6);
      return out;
    },
  };
}

function geospatialGenerator(schema: GeospatialSchema, seed: number): Generator {
  const w = positionWalker(seed);
  const d = 0.001;
  const around = (lon: number, lat: number, i: number): number[] => [
    round(lon + d * i, 6),
    round(lat + d * (i % 2), 6),
  ];
  const line = (lon: number, lat: number): number[][] => [0, 1, 2].map((i) => around(lon, lat, i));
  const ring = (lon: number, lat: number): number[][] => {
    const a = [round(lon - d, 6), round(lat - d, 6)];
    return [
      a,
      [round(lon + d, 6), round(lat - d, 6)],
      [round(lon + d, 6), round(lat + d, 6)],
      [round(lon - d, 6), round(lat + d, 6)],
      [...a],
    ];
  };
  const types: Record<GeospatialSchema, [string, (lon: number, lat: number) => unknown]> = {
    point: ['Point', (lon, lat) => [lon, lat]],
    multiPoint: ['MultiPoint', line],
    lineString: ['LineString', line],
    multiLineString: ['MultiLineString', (lon, lat) => [line(lon, lat), line(lon + 2 * d, lat + 2 * d)]],
    polygon: ['Polygon', (lon, lat) => [ring(lon, lat)]],
    multiPolygon: ['MultiPolygon', (lon, lat) => [[ring(lon, lat)], [ring(lon + 4 * d, lat + 4 * d)]]],
  };
  const [type, coords] = types[schema];
  return {
    next() {
      const [lon, lat] = w.step();
      return { type, coordinates: coords(lon, lat) };
    },
  };
}

const STAT_ROLES: Record<string, number> = { min: 0, minimum: 0, avg: 1, average: 1, mean: 1, max: 2, maximum: 2 };

/** Fields such as maxTemp/minTemp/avgTemp (or tempMin…) get values in order: min ≤ avg ≤ max. */
export function statGroups(schema: ObjectSchema): string[][] {
  const groups = new Map<string, { name: string; rank: number }[]>();
  for (const f of schema.fields) {
    if (!isNumericSchema(f.schema)) continue;
    const m =
      /^(min|minimum|max|maximum|avg|average|mean)(.*)$/i.exec(f.name) ??
      /^(.*?)(min|minimum|max|maximum|avg|average|mean)$/i.exec(f.name);
    if (m === null) continue;
    const prefixForm = STAT_ROLES[m[1]!.toLowerCase()] !== undefined;
    const role = (prefixForm ? m[1]! : m[2]!).toLowerCase();
    const rest = (prefixForm ? m[2]! : m[1]!).toLowerCase();
    const list = groups.get(rest) ?? [];
    list.push({ name: f.name, rank: STAT_ROLES[role]! });
    groups.set(rest, list);
  }
  return [...groups.values()]
    .filter((g) => g.length > 1)
    .map((g) => g.sort((a, b) => a.rank - b.rank).map((x) => x.name));
}

function schemaGenerator(schema: Schema, h: Hints, seed: number): Generator {
  if (typeof schema !== 'string') {
    switch (schema.kind) {
      case 'enum':
        return enumGenerator(schema, seed);
      case 'object':
        return objectGenerator(schema, seed);
      case 'array':
        return arrayGenerator(schema, h, seed);
      case 'map':
        return mapGenerator(schema, seed);
    }
  }

  if (isNumericSchema(schema)) {
    const { spec, decimals } = numericProfile(h, seed);
    const g = createGenerator(spec, seed);
    const fit = integerFitter(schema);
    return mapGen(g, fit ?? ((v) => round(v as number, decimals)));
  }
  return scalarGenerator(schema, h, seed);
}

function enumGenerator(schema: EnumSchema, seed: number): Generator {
  const values = schema.values;
  if (values.length === 0) return { next: () => undefined };
  const rng = new Prng(seed);
  return sticky(rng, 0.1, () => values[rng.int(0, values.length - 1)]!.value);
}

/** Each field by its own schema and name; related statistics (min ≤ avg ≤ max) kept in order. */
function objectGenerator(schema: ObjectSchema, seed: number): Generator {
  const fields = schema.fields.map((f) => ({
    name: f.name,
    gen: schemaGenerator(f.schema, { name: f.name }, seedFor(seed, f.name)),
  }));
  const stats = statGroups(schema);
  const sorted: number[] = [];
  return {
    next(t) {
      const o: Record<string, unknown> = {};
      for (const f of fields) {
        const v = f.gen.next(t);
        if (v !== undefined) o[f.name] = v;
      }
      for (const g of stats) {
        sorted.length = 0;
        for (const name of g) if (typeof o[name] === 'number') sorted.push(o[name]);
        if (sorted.length !== g.length) continue;
        sorted.sort((a, b) => a - b);
        g.forEach((name, i) => (o[name] = sorted[i]));
      }
      return o;
    },
  };
}

/** One to three elements, each its own generator. */
function arrayGenerator(schema: ArraySchema, h: Hints, seed: number): Generator {
  const rng = new Prng(seed);
  const n = rng.int(1, 3);
  const items = Array.from({ length: n }, (_, i) => schemaGenerator(schema.elementSchema, h, seedFor(seed, i)));
  return {
    next(t) {
      const a: unknown[] = [];
      for (const g of items) {
        const v = g.next(t);
        if (v !== undefined) a.push(v);
      }
      return a;
    },
  };
}

/** Two or three entries named after the map's key ("{key}1", "{key}2", ...). */
function mapGenerator(schema: MapSchema, seed: number): Generator {
  const rng = new Prng(seed);
  const n = rng.int(2, 3);
  const entries = Array.from({ length: n }, (_, i) => ({
    key: `${schema.key.name}${i + 1}`,
    gen: schemaGenerator(schema.value.schema, { name: schema.value.name }, seedFor(seed, i)),
  }));
  return {
    next(t) {
      const o: Record<string, unknown> = {};
      for (const e of entries) {
        const v = e.gen.next(t);
        if (v !== undefined) o[e.key] = v;
      }
      return o;
    },
  };
}

/** The non-numeric primitive schemas, IoT Central's geopoint and vector, and the geospatial ones. */
function scalarGenerator(schema: Exclude<Schema, ComplexSchema>, h: Hints, seed: number): Generator {
  const rng = new Prng(seed);
  switch (schema) {
    case 'boolean':
      return sticky(rng, 0.05, () => rng.next() < 0.5);
    case 'string':
      return stringGenerator(h, seed);
    case 'uuid':
      return /(^|[a-z])(id|guid|uuid)$/i.test(h.name) ? once(uuidGenerator(seed)) : uuidGenerator(seed);
    case 'dateTime': {
      // A field named startTime/since/from is an hour before the tick; everything else is the tick's time.
      const offset = /^(start|begin|from|since)/i.test(h.name) ? -3600 : 0;
      return { next: (t) => new Date(Math.floor((t + offset) * 1000)).toISOString() };
    }
    case 'date':
      return { next: (t) => new Date(Math.floor(t * 1000)).toISOString().slice(0, 10) };
    case 'time':
      return { next: (t) => new Date(Math.floor(t * 1000)).toISOString().slice(11, 19) };
    case 'duration':
      return { next: () => `PT${rng.int(1, 3600)}S` };
    case 'bytes':
      return bytesGenerator(rng);
    case 'geopoint':
      return geopointGenerator(seed);
    case 'vector':
      return vectorGenerator(seed);
    default:
      return geospatialGenerator(schema as GeospatialSchema, seed);
  }
}

/** Twelve random bytes, base64. */
function bytesGenerator(rng: Prng): Generator {
  const buf = Buffer.alloc(12);
  return {
    next() {
      for (let i = 0; i < buf.length; i++) buf[i] = rng.int(0, 255);
      return buf.toString('base64');
    },
  };
}

/** A position that walks, at an altitude that drifts between 0 and 2,000 m. */
function geopointGenerator(seed: number): Generator {
  const w = positionWalker(seed);
  let alt = w.rng.range(0, 500);
  return {
    next() {
      const [lon, lat] = w.step();
      alt = Math.min(2000, Math.max(0, alt + 2 * w.rng.next() - 1));
      return { lat, lon, alt: round(alt, 1) };
    },
  };
}

/** Three axes, each a noisy sine between -10 and 10. */
function vectorGenerator(seed: number): Generator {
  const axes = ['x', 'y', 'z'].map((k) =>
    createGenerator({ kind: 'sine', min: -10, max: 10, periodSeconds: 60, noise: 0.5 }, seedFor(seed, k)),
  );
  return {
    next(t) {
      return {
        x: round(axes[0]!.next(t) as number, 3),
        y: round(axes[1]!.next(t) as number, 3),
        z: round(axes[2]!.next(t) as number, 3),
      };
    },
  };
}

/** A sensible default for a telemetry or property: by schema, refined by name, semantic type and unit. */
export function defaultGeneratorFor(def: TelemetryDef | PropertyDef, seed: number): Generator {
  const hints: Hints = { name: def.name, semanticType: def.semanticType, unit: def.unit };
  const g = schemaGenerator(def.schema, hints, seed);
  // IoT Central "Event" telemetry is occasional, not periodic.
  if (def.semanticType === 'Event' && !('writable' in def)) {
    return createGenerator({ kind: 'poisson', ratePerMinute: 1 }, seedFor(seed, 'event'), g);
  }
  return g;
}

// ---------------------------------------------------------------------------------------------------------------

/** A generator given for a telemetry, checked against its schema as the scenario gate checks it, fitted to it. */
function overrideGenerator(key: string, spec: GeneratorSpec, def: TelemetryDef, seed: number): Generator {
  const problem = overrideProblem(key, spec, def, (method) => fakerMethodProblem(fakerInstance(), method));
  if (problem !== undefined) throw new GeneratorSpecError(problem);
  const fallback = defaultGeneratorFor({ ...def, semanticType: undefined }, seedFor(seed, 'default'));
  const g = createGenerator(spec, seed, fallback);
  const fit = integerFitter(def.schema);
  return fit === undefined ? g : mapGen(g, fit);
}

export interface TelemetryMessage {
  component?: string;
  body: Record<string, unknown>;
}

/**
 * The telemetry one tick produces for a device model: one body per component (root first, no `component`),
 * only with telemetry that produced a value, and no message for a component with nothing this tick.
 * Overrides are keyed "component.name" (one component) or "name" (root, or that name in every component).
 */
export function createTelemetrySource(
  model: DeviceModel,
  overrides: Record<string, GeneratorSpec>,
  seed: number,
): { tick(timeSeconds: number): TelemetryMessage[] } {
  const unknown = unknownOverridesProblem(model, overrides);
  if (unknown !== undefined) throw new GeneratorSpecError(unknown);
  const groups = new Map<string | undefined, { name: string; gen: Generator }[]>();
  groups.set(undefined, []);
  for (const c of model.components) groups.set(c.name, []);
  for (const def of model.telemetry) {
    const key = overrideKeyOf(def, overrides);
    const s = seedFor(seed, def.component ?? '', def.name);
    const gen = key !== undefined ? overrideGenerator(key, overrides[key]!, def, s) : defaultGeneratorFor(def, s);
    groups.get(def.component)!.push({ name: def.name, gen });
  }
  const list = [...groups.entries()].filter(([, entries]) => entries.length > 0);
  return {
    tick(t) {
      const out: TelemetryMessage[] = [];
      for (const [component, entries] of list) {
        let body: Record<string, unknown> | undefined;
        for (const e of entries) {
          const v = e.gen.next(t);
          if (v === undefined) continue;
          (body ??= {})[e.name] = v;
        }
        if (body === undefined) continue;
        out.push(component === undefined ? { body } : { component, body });
      }
      return out;
    },
  };
}

/**
 * A response that fits the command's response schema (undefined when it declares none), e.g. the Thermostat's
 * getMaxMinReport: {maxTemp, minTemp, avgTemp} in order and startTime an hour before endTime.
 */
export function commandResponseFor(def: CommandDef, seed: number, timeSeconds: number = Date.now() / 1000): unknown {
  if (def.response === undefined) return undefined;
  return schemaGenerator(def.response.schema, { name: def.response.name }, seed).next(timeSeconds);
}
