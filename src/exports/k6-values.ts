// Value plans: how the exported k6 script generates a telemetry value, a reported property or a command response.
// The engine's generators (src/sim/model/generators.ts) decide the kind and its parameters; the plan carries them
// as data, and the script's small interpreter (k6-runtime.ts) draws the values. Faker has no k6 equivalent, so what
// faker would say is sampled here, with the engine's own generators, into a list the script picks from.
import type { CommandDef, PropertyDef, TelemetryDef } from '../model/dtdl.js';
import {
  INTEGER_RANGES,
  isIntegerSchema,
  isNumericSchema,
  type GeospatialSchema,
  type ObjectSchema,
  type Schema,
} from '../model/schema.js';
import { createGenerator, defaultGeneratorFor, numericProfile, seedFor, statGroups } from '../sim/model/generators.js';
import type { GeneratorSpec, Hints } from '../sim/model/generators.js';

/** Rounding of a number: to `dp` decimals, or to an integer within `int`. */
export interface NumberFit {
  dp?: number;
  int?: readonly [number, number];
}

export type ValuePlan =
  | { k: 'const'; v: unknown }
  | ({ k: 'sine'; min: number; max: number; period: number; noise: number } & NumberFit)
  | ({ k: 'walk'; start: number; step: number; min: number | null; max: number | null } & NumberFit)
  | { k: 'step'; values: unknown[]; every: number }
  | ({ k: 'uniform'; min: number; max: number; integer: boolean } & NumberFit)
  /** One of `values`, kept between draws and changed with probability `p` per draw (0: one per device). */
  | { k: 'pick'; values: unknown[]; p: number }
  | { k: 'poisson'; perMinute: number; value: ValuePlan | null }
  | { k: 'uuid'; once: boolean }
  | { k: 'time'; format: 'dateTime' | 'date' | 'time'; offsetSeconds: number }
  | { k: 'duration' }
  | { k: 'bytes' }
  | { k: 'geo'; shape: GeospatialSchema | 'geopoint' | 'vector' }
  | { k: 'object'; fields: [string, ValuePlan][]; ordered: string[][] }
  | { k: 'array'; item: ValuePlan }
  | { k: 'map'; key: string; value: ValuePlan };

/** Values faker gives for a method, sampled once per export (k6 has no faker). */
const SAMPLES = 12;
/** A fixed time for sampling, so that the same scenario exports the same script. */
const SAMPLE_TIME_SECONDS = 1_767_225_600;

function integerFit(schema: Schema): NumberFit {
  return isIntegerSchema(schema) ? { int: INTEGER_RANGES[schema] } : {};
}

function sampled(make: (seed: number) => { next(t: number): unknown }, seed: number): unknown[] {
  const values: unknown[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const v = make(seedFor(seed, 'k6-sample', i)).next(SAMPLE_TIME_SECONDS);
    if (v !== undefined && !values.some((x) => JSON.stringify(x) === JSON.stringify(v))) values.push(v);
  }
  return values;
}

/** The plan of a generator spec as a scenario writes it (`telemetry.values`, `properties.reported`). */
export function specPlan(spec: GeneratorSpec, seed: number, fit: NumberFit = {}): ValuePlan {
  switch (spec.kind) {
    case 'constant':
      return { k: 'const', v: spec.value };
    case 'sine':
      return { k: 'sine', min: spec.min, max: spec.max, period: spec.periodSeconds, noise: spec.noise ?? 0, ...fit };
    case 'randomWalk':
      return walkPlan(spec, fit);
    case 'step':
      return { k: 'step', values: spec.values, every: spec.everySeconds };
    case 'uniform':
      return { k: 'uniform', min: spec.min, max: spec.max, integer: spec.integer === true, ...fit };
    case 'faker':
      return { k: 'pick', values: sampled((s) => createGenerator(spec, s), seed), p: 1 };
    case 'poisson':
      return {
        k: 'poisson',
        perMinute: spec.ratePerMinute,
        value: spec.value === undefined ? null : specPlan(spec.value, seedFor(seed, 'value'), fit),
      };
  }
}

function walkPlan(spec: Extract<GeneratorSpec, { kind: 'randomWalk' }>, fit: NumberFit): ValuePlan {
  const min = spec.min ?? null;
  const max = spec.max ?? null;
  // The engine's default start: the middle of the bounds, or the one bound, or 0.
  const start = spec.start ?? (min !== null && max !== null ? (min + max) / 2 : (min ?? max ?? 0));
  return { k: 'walk', start, step: spec.step, min, max, ...fit };
}

/** A generator given for a telemetry, fitted to its schema; with a Poisson, the model's default is its value. */
export function overridePlan(spec: GeneratorSpec, def: TelemetryDef, seed: number): ValuePlan {
  const plan = specPlan(spec, seed, integerFit(def.schema));
  if (plan.k === 'poisson' && plan.value === null) {
    return { ...plan, value: schemaPlan(def.schema, { name: def.name, unit: def.unit }, seed) };
  }
  return plan;
}

/** The engine's default for a telemetry or property: by schema, refined by name, semantic type and unit. */
export function defaultPlan(def: TelemetryDef | PropertyDef, seed: number): ValuePlan {
  const hints: Hints = { name: def.name, semanticType: def.semanticType, unit: def.unit };
  const plan = schemaPlan(def.schema, hints, seed);
  if (def.semanticType === 'Event' && !('writable' in def)) return { k: 'poisson', perMinute: 1, value: plan };
  return plan;
}

/** A command's response from its schema, when the scenario gives none. */
export function responsePlan(def: CommandDef, seed: number): ValuePlan | undefined {
  if (def.response === undefined) return undefined;
  return schemaPlan(def.response.schema, { name: def.response.name }, seed);
}

function schemaPlan(schema: Schema, hints: Hints, seed: number): ValuePlan {
  if (typeof schema !== 'string') {
    switch (schema.kind) {
      case 'enum':
        return { k: 'pick', values: schema.values.map((v) => v.value), p: 0.1 };
      case 'object':
        return objectPlan(schema, seed);
      case 'array':
        return { k: 'array', item: schemaPlan(schema.elementSchema, hints, seedFor(seed, 0)) };
      case 'map':
        return {
          k: 'map',
          key: schema.key.name,
          value: schemaPlan(schema.value.schema, { name: schema.value.name }, seedFor(seed, 0)),
        };
    }
  }
  if (isNumericSchema(schema)) {
    const { spec, decimals } = numericProfile(hints, seed);
    return specPlan(spec, seed, isIntegerSchema(schema) ? integerFit(schema) : { dp: decimals });
  }
  return scalarPlan(schema, hints, seed);
}

function objectPlan(schema: ObjectSchema, seed: number): ValuePlan {
  return {
    k: 'object',
    fields: schema.fields.map((f) => [f.name, schemaPlan(f.schema, { name: f.name }, seedFor(seed, f.name))]),
    ordered: statGroups(schema),
  };
}

/** How often a string's value changes, as the engine's string defaults do: once, sometimes, or every time. */
function stringChange(name: string): number {
  const n = name.toLowerCase();
  if (/message|description|text|note|comment|reason|alert/.test(n)) return 1;
  if (/status|state/.test(n)) return 0.05;
  return 0;
}

function scalarPlan(schema: Exclude<Schema, { kind: string }>, hints: Hints, seed: number): ValuePlan {
  switch (schema) {
    case 'boolean':
      return { k: 'pick', values: [true, false], p: 0.05 };
    case 'string': {
      const def = { name: hints.name, schema, semanticType: hints.semanticType, unit: hints.unit };
      return { k: 'pick', values: sampled((s) => defaultGeneratorFor(def, s), seed), p: stringChange(hints.name) };
    }
    case 'uuid':
      return { k: 'uuid', once: /(^|[a-z])(id|guid|uuid)$/i.test(hints.name) };
    case 'dateTime':
      return {
        k: 'time',
        format: 'dateTime',
        offsetSeconds: /^(start|begin|from|since)/i.test(hints.name) ? -3600 : 0,
      };
    case 'date':
    case 'time':
      return { k: 'time', format: schema, offsetSeconds: 0 };
    case 'duration':
      return { k: 'duration' };
    case 'bytes':
      return { k: 'bytes' };
    default:
      return { k: 'geo', shape: schema as GeospatialSchema | 'geopoint' | 'vector' };
  }
}
