// The DTDL parser lives in src/model (below config, which checks models before a run); sim keeps this path.
export * from '../../model/dtdl.js';
