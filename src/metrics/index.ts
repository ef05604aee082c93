export * from './operations.js';
export * from './types.js';
export * from './histogram.js';
export * from './recorder.js';
export * from './aggregate.js';
export { redactText, redactDeep } from './redact.js';
