// The shapes of value generators as scenarios and profiles write them, and what a run refuses beyond the shapes.
// The generators themselves live in src/sim/model/generators.ts and check specs with these same functions.
import { z } from 'zod';
import { didYouMean } from './suggest.js';

const jsonValue = z.json({ error: 'expected a JSON value (number, text, true/false, null, list or object)' });

export const constantSpec = z
  .strictObject({
    kind: z.literal('constant'),
    value: jsonValue.describe('The value sent every time.'),
  })
  .describe('Always the same value.');

export const sineSpec = z
  .strictObject({
    kind: z.literal('sine'),
    min: z.number().describe('Lowest value of the wave.'),
    max: z.number().describe('Highest value of the wave.'),
    periodSeconds: z.number().positive().describe('Seconds for one full wave.'),
    noise: z.number().nonnegative().optional().describe('Amplitude of uniform noise added to each value (± noise).'),
  })
  .refine((spec) => spec.min <= spec.max, { message: 'expected min <= max', path: ['max'] })
  .describe('A sine wave between min and max.');

export const randomWalkSpec = z
  .strictObject({
    kind: z.literal('randomWalk'),
    start: z.number().optional().describe('First value (default: the middle of min and max, or 0).'),
    step: z.number().positive().describe('Largest change between two values.'),
    min: z.number().optional().describe('The walk never goes below this.'),
    max: z.number().optional().describe('The walk never goes above this.'),
  })
  .refine((spec) => spec.min === undefined || spec.max === undefined || spec.min <= spec.max, {
    message: 'expected min <= max',
    path: ['max'],
  })
  .describe('A random walk: each value is the previous one plus a random change of at most step.');

export const stepSpec = z
  .strictObject({
    kind: z.literal('step'),
    values: z.array(jsonValue).min(1).describe('The values, in turn; after the last one, back to the first.'),
    everySeconds: z.number().positive().describe('Seconds each value lasts.'),
  })
  .describe('A staircase: each value in turn for everySeconds.');

export const uniformSpec = z
  .strictObject({
    kind: z.literal('uniform'),
    min: z.number().describe('Lowest value.'),
    max: z.number().describe('Highest value.'),
    integer: z.boolean().optional().describe('Whole numbers only (default false).'),
  })
  .refine((spec) => spec.min <= spec.max, { message: 'expected min <= max', path: ['max'] })
  .describe('A uniformly random value between min and max.');

export const fakerSpec = z
  .strictObject({
    kind: z.literal('faker'),
    method: z
      .string()
      .regex(/^[A-Za-z]+(\.[A-Za-z]+)+$/, {
        error: 'expected a faker method such as "string.alphanumeric" or "location.city"',
      })
      .describe('A @faker-js/faker method, module.method, e.g. "commerce.productName".'),
  })
  .describe('A value from @faker-js/faker.');

const valueSpecOptions = [constantSpec, sineSpec, randomWalkSpec, stepSpec, uniformSpec, fakerSpec] as const;
const VALUE_KINDS = 'constant | sine | randomWalk | step | uniform | faker';

/** Generators that produce one value on demand (everything but poisson, which decides when). */
export const valueSpecSchema = z.discriminatedUnion('kind', [...valueSpecOptions], {
  error: `expected kind to be one of ${VALUE_KINDS}`,
});

export const poissonSpec = z
  .strictObject({
    kind: z.literal('poisson'),
    ratePerMinute: z.number().positive().describe('Average number of events per minute; the gaps are exponential.'),
    value: valueSpecSchema.optional().describe('What each event carries (default: true).'),
  })
  .describe('Events at random times (a Poisson process), e.g. a door opening.');

export const GENERATOR_KINDS = ['constant', 'sine', 'randomWalk', 'step', 'uniform', 'faker', 'poisson'] as const;

export const generatorSpecSchema = z
  .discriminatedUnion('kind', [...valueSpecOptions, poissonSpec], {
    error: `expected kind to be one of ${GENERATOR_KINDS.join(' | ')}`,
  })
  .meta({ id: 'GeneratorSpec', description: 'How a value is generated, chosen by kind.' });

export type GeneratorSpec = z.output<typeof generatorSpecSchema>;
export type ValueSpec = z.output<typeof valueSpecSchema>;
export type GeneratorKind = GeneratorSpec['kind'];
export type ConstantSpec = z.output<typeof constantSpec>;
export type SineSpec = z.output<typeof sineSpec>;
export type RandomWalkSpec = z.output<typeof randomWalkSpec>;
export type StepSpec = z.output<typeof stepSpec>;
export type UniformSpec = z.output<typeof uniformSpec>;
export type FakerSpec = z.output<typeof fakerSpec>;
export type PoissonSpec = z.output<typeof poissonSpec>;

// --- what a run refuses beyond the shapes ---------------------------------------------------------------------
// The generators (src/sim/model/generators.ts) build from these checks, and the scenario gate runs them before a run,
// so a spec is refused the same way in both places.

/** A problem with a spec: where inside it (`start`, `value.method`, …) and what is wrong. */
export interface SpecProblem {
  at: string[];
  message: string;
}

type Loose = Record<string, unknown>;

const KINDS_LISTED = GENERATOR_KINDS.join(', ').replace(/, (\w+)$/, ' or $1');

/** Whether a faker method exists; the problem when it does not. */
export type FakerProblem = (method: string) => string | undefined;

function finiteProblem(v: unknown, what: string): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return undefined;
  return `${what} must be a finite number, got ${JSON.stringify(v)}`;
}

function rangeProblem(spec: Loose, kind: string): SpecProblem | undefined {
  for (const end of ['min', 'max']) {
    const problem = finiteProblem(spec[end], `${kind}.${end}`);
    if (problem) return { at: [end], message: problem };
  }
  const [min, max] = [spec.min as number, spec.max as number];
  return min > max ? { at: ['max'], message: `${kind}: min (${min}) is greater than max (${max})` } : undefined;
}

function positive(spec: Loose, key: string, kind: string, orZero = false): SpecProblem | undefined {
  const problem = finiteProblem(spec[key], `${kind}.${key}`);
  if (problem) return { at: [key], message: problem };
  const v = spec[key] as number;
  if (orZero ? v >= 0 : v > 0) return undefined;
  return { at: [key], message: `${kind}.${key} must be ${orZero ? '≥ 0' : '> 0'}, got ${v}` };
  return undefined;
}

function randomWalkProblem(spec: Loose): SpecProblem | undefined {
  const step = positive(spec, 'step', 'randomWalk', true);
  if (step) return step;
  for (const key of ['min', 'max', 'start']) {
    const problem = spec[key] === undefined ? undefined : finiteProblem(spec[key], `randomWalk.${key}`);
    if (problem) return { at: [key], message: problem };
  }
  const min = (spec.min as number | undefined) ?? -Infinity;
  const max = (spec.max as number | undefined) ?? Infinity;
  if (min > max) return { at: ['max'], message: `randomWalk: min (${min}) is greater than max (${max})` };
  const start = spec.start as number | undefined;
  if (start !== undefined && (start < min || start > max)) {
    return { at: ['start'], message: `randomWalk.start (${start}) is outside [${min}, ${max}]` };
  }
  return undefined;
}

function uniformProblem(spec: Loose): SpecProblem | undefined {
  const range = rangeProblem(spec, 'uniform');
  if (range || spec.integer !== true) return range;
  const [min, max] = [spec.min as number, spec.max as number];
  if (Math.ceil(min) <= Math.floor(max)) return undefined;
  return { at: ['integer'], message: `uniform: no integer between ${min} and ${max}` };
}

/**
 * What a run would refuse about a generator spec (the schema checks its shape; this, the rest: a random walk that
 * starts outside its bounds, integers from a range that holds none, a faker method that does not exist…).
 */
export function generatorProblem(spec: unknown, fakerProblem?: FakerProblem): SpecProblem | undefined {
  if (typeof spec !== 'object' || spec === null) {
    return { at: [], message: `expected a generator spec object, got ${JSON.stringify(spec)}` };
  }
  const s = spec as Loose;
  switch (s.kind) {
    case 'constant':
      return undefined;
    case 'sine': {
      const problem = rangeProblem(s, 'sine') ?? positive(s, 'periodSeconds', 'sine');
      return problem ?? (s.noise === undefined ? undefined : positive(s, 'noise', 'sine', true));
    }
    case 'randomWalk':
      return randomWalkProblem(s);
    case 'step':
      if (!Array.isArray(s.values) || s.values.length === 0) {
        return { at: ['values'], message: 'step.values must be a non-empty array' };
      }
      return positive(s, 'everySeconds', 'step');
    case 'uniform':
      return uniformProblem(s);
    case 'faker': {
      if (typeof s.method !== 'string') {
        return { at: ['method'], message: 'faker.method must be a string such as "location.latitude"' };
      }
      if (s.args !== undefined && !Array.isArray(s.args)) {
        return { at: ['args'], message: 'faker.args must be an array' };
      }
      const message = fakerProblem?.(s.method);
      return message === undefined ? undefined : { at: ['method'], message };
    }
    case 'poisson': {
      const rate = positive(s, 'ratePerMinute', 'poisson', true);
      if (rate || s.value === undefined) return rate;
      const inner = generatorProblem(s.value, fakerProblem);
      return inner && { at: ['value', ...inner.at], message: inner.message };
    }
    default:
      return {
        at: ['kind'],
        message: `unknown generator kind ${JSON.stringify(s.kind)}: expected ${KINDS_LISTED}`,
      };
  }
}

function memberNames(value: object): string[] {
  const names = new Set<string>();
  let node: object | null = value;
  while (node && node !== Object.prototype) {
    for (const name of Object.getOwnPropertyNames(node)) {
      if (name !== 'constructor' && !name.startsWith('_')) names.add(name);
    }
    node = Object.getPrototypeOf(node) as object | null;
  }
  return [...names];
}

/** Whether `method` ("module.method") is a method of this faker instance; the problem otherwise, with a suggestion. */
export function fakerMethodProblem(faker: object, method: string): string | undefined {
  const root = faker as Record<string, unknown>;
  const [moduleName = '', name, ...more] = method.split('.');
  const module = moduleName.startsWith('_') ? undefined : root[moduleName];
  if (module === null || typeof module !== 'object') {
    const modules = memberNames(faker).filter((m) => root[m] !== null && typeof root[m] === 'object');
    return `faker has no module "${moduleName}"${didYouMean(moduleName, modules)}`;
  }
  if (name === undefined || more.length > 0) {
    return `faker method "${method}": expected "module.method", e.g. "location.latitude"`;
  }
  const member = name.startsWith('_') ? undefined : (module as Record<string, unknown>)[name];
  if (member === undefined) return `faker has no method "${method}"${didYouMean(name, memberNames(module))}`;
  return typeof member === 'function' ? undefined : `faker's "${method}" is not a method`;
}
