// DTDL schemas live in src/model (below config, which checks models before a run); sim keeps this path.
export * from '../../model/schema.js';
