// What a simulated thing gets from the worker that runs it.
import type { Scheduler } from '../core/scheduler.js';
import type { MetricsRecorder } from '../metrics/recorder.js';
import type { Target } from '../endpoints/target.js';
import type { MessageWatch } from '../metrics/message-ring.js';
import type { ThingState } from '../metrics/types.js';
import type { RegisterPayload } from '../protocol/index.js';

export type { ThingState };

/**
 * How a thing reaches the cloud, for the identities-by-pattern view: a plain device, an IoT Edge device, a
 * downstream device behind a transparent gateway, an identity-translated sensor. A new pattern only needs a name.
 */
export type ThingPattern = 'device' | 'iotEdge' | 'downstream' | 'identityTranslation';

/**
 * The connections this worker's identities hold open, by device id (a module's under its device's): a profile
 * event cuts their sockets as a failing network would, and counts what it took away.
 */
export interface ConnectionRegistry {
  /** `deviceId` holds a connection over `socket` (`hub`: to its hub; `dps`: a registration); forgotten on close. */
  opened(deviceId: string, socket: OpenSocket, kind: 'hub' | 'dps'): void;
}

/** What the registry needs of a socket: to destroy it, and to hear that it closed. */
export interface OpenSocket {
  destroy(): unknown;
  once(event: 'close', listener: () => void): unknown;
}

export interface SimContext {
  scheduler: Scheduler;
  metrics: MetricsRecorder;
  target: Target;
  /** Source address for the n-th connection (round robin over --local-address), or undefined. */
  localAddress(ordinal: number): string | undefined;
  /** A thing moved between states (for the identities-by-state view). */
  stateChanged(group: string, from: ThingState, to: ThingState): void;
  /** A device acknowledged a desired version (for desiredAck latency, measured by whoever wrote it). */
  desiredAcknowledged(deviceId: string, moduleId: string | undefined, version: number, atMs: number): void;
  /** Messages acknowledged by the target per identity, for reconciliation with what it received. */
  acknowledgedBy(identity: string): void;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
  /** Something a person running the fleet needs to see (a gateway's listening address): log and progress. */
  notice?(message: string): void;
  /** The last messages of devices being looked at (drill-down); absent or empty, nothing is recorded. */
  watch?: MessageWatch;
  /** What DPS assigned identities in earlier runs against this target (the assignment cache); absent: none kept. */
  assignments?: AssignmentBook;
  /** Where connections are registered as they open (absent: nowhere). */
  connections?: ConnectionRegistry;
  /** Keep-alive and time-outs of MQTT connections. */
  mqtt: { keepaliveSeconds: number; connectTimeoutMs: number; operationTimeoutMs: number };
}

/** An assignment as DPS made it: the hub and the device id. */
export interface AssignedHub {
  assignedHub: string;
  deviceId: string;
}

/** The assignment cache as a simulated thing sees it (its worker keeps the entries of its identities). */
export interface AssignmentBook {
  /** The kept assignment of `registrationId`, when it was made for this register payload (IoT Central reads it). */
  get(registrationId: string, payload: RegisterPayload | undefined): AssignedHub | undefined;
  /** DPS assigned it now (the first time, or again). */
  assigned(registrationId: string, assignment: AssignedHub, payload: RegisterPayload | undefined): void;
  /** The kept assignment was refused for good: forget it. */
  forget(registrationId: string): void;
}

/** What the engine drives: a device or an IoT Edge device with everything on it. */
export interface SimThing {
  readonly deviceId: string;
  readonly state: ThingState;
  /** Messages sent and not yet acknowledged. */
  readonly pendingAcks: number;
  /** Schedules its arrival. */
  start(): void;
  /** Abruptly loses its connections (it reconnects with backoff). */
  drop(): void;
  /** Stops sending and reconnecting; acknowledgements may still arrive. */
  quiesce(): void;
  /** Disconnects. */
  stop(): Promise<void>;
  setTelemetryRate?(multiplier: number): void;
  /** The last few state changes (newest last). */
  readonly transitions?: readonly { atMs: number; from: ThingState; to: ThingState }[];
}
