// The shapes of value generators as scenarios and profiles write them. The generators themselves live in
// src/sim/model/generators.ts; this is only their schema, so a typo stops the run before anything connects.
import { z } from 'zod';

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
      .regex(/^[A-Za-z]+(\.[A-Za-z]+)+$/, { error: 'expected a faker method such as "string.alphanumeric" or "location.city"' })
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
