// The operations we time and the error taxonomy; both are closed lists so reports have stable keys.

/**
 * provision: DPS register until assigned. connect: CONNECT → CONNACK.
 * telemetry: publish → PUBACK. twinGet: GET → response. reportedPatch: PATCH → response.
 * desiredAck: desired write → the device's acknowledgement. command: direct method round trip.
 * c2d: cloud-to-device message → device completion.
 */
export const OPERATIONS = [
  'provision',
  'connect',
  'telemetry',
  'twinGet',
  'reportedPatch',
  'desiredAck',
  'command',
  'c2d',
] as const;
export type Operation = (typeof OPERATIONS)[number];

/**
 * `exhaustion`: this machine ran out of descriptors, memory or local ports (EMFILE, ENFILE, ENOMEM, EADDRNOTAVAIL),
 * a limit of the load generator rather than of the target. `other` is the catch-all for failures that fit none
 * of the named classes.
 */
export const ERROR_CLASSES = [
  'auth',
  'throttled',
  'timeout',
  'protocol',
  'network',
  'server',
  'exhaustion',
  'other',
] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

// Index tables let the hot path use arrays instead of maps keyed by strings.
export const OPERATION_INDEX: Readonly<Record<Operation, number>> = Object.freeze(
  Object.fromEntries(OPERATIONS.map((op, i) => [op, i])) as Record<Operation, number>,
);
export const ERROR_CLASS_INDEX: Readonly<Record<ErrorClass, number>> = Object.freeze(
  Object.fromEntries(ERROR_CLASSES.map((c, i) => [c, i])) as Record<ErrorClass, number>,
);

export const isOperation = (x: unknown): x is Operation =>
  typeof x === 'string' && Object.prototype.hasOwnProperty.call(OPERATION_INDEX, x);
export const isErrorClass = (x: unknown): x is ErrorClass =>
  typeof x === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CLASS_INDEX, x);
