export * from './summary.js';
export * from './hgrm.js';
export * from './console.js';
export * from './write.js';
