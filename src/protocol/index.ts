// The Azure IoT dialect as pure functions: no I/O, nothing else from the project.
export * from './sas.js';
export * from './property-bag.js';
export * from './topics.js';
export * from './connect.js';
export * from './dps.js';
export * from './connection-string.js';
export * from './wire-json.js';
export * from './mqtt-connect.js';
export * from './hub-policy.js';
export * from './hub-query.js';
