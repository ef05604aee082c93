// Device models (DTDL) and the values simulated devices send for them.
export * from '../../model/dtdl.js';
export * from './generators.js';
export { conformsTo, describeSchema, INTEGER_RANGES } from '../../model/schema.js';
export { Prng } from './random.js';
