// What the coordinator and its workers say to each other (structured-clone plain objects).
import type { MetricsSnapshot } from '../metrics/types.js';
import type { Target } from '../endpoints/target.js';
import type { PlannedIdentity } from '../config/plan.js';
import type { TracedMessage } from '../metrics/message-ring.js';
import type { ThingState } from '../sim/context.js';

/** One identity a worker runs, as the plan made it. */
export type WorkerIdentity = PlannedIdentity;

export interface WorkerInit {
  workerIndex: number;
  /** The loaded scenario (with its profile, manifests and models), as plain data. */
  scenario: unknown;
  identities: WorkerIdentity[];
  target: Target;
  durationMs: number;
  seed: number;
  /** This worker's share of the fleet-wide action rates (its identities over the fleet's). */
  actionShare: number;
  localAddresses: string[];
  snapshotIntervalMs: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** --gateway-listen: gateways whose edgeHub also opens a TLS port (0: a free one). */
  gatewayListen?: { gatewayId: string; host: string; port: number }[];
  /** The edge CA their server certificates chain to (a secret: its key). */
  edgeCa?: { certPem: string; keyPem: string };
}

/** `start` comes once every worker is ready, so that building a fleet never makes its arrivals late. */
export type ToWorker =
  | { type: 'start'; startAt: number }
  | { type: 'stop'; drainMs: number }
  /** Holds arrivals back (those not yet started), or releases them shifted by the time paused. */
  | { type: 'pause'; paused: boolean }
  | { type: 'inspect'; requestId: number; deviceId: string };

/** Identities by state under a name (a group, a pattern): { name: { state: n } }. */
export type StateCounts = Record<string, Record<string, number>>;

/** One message of a device, as the drill-down shows it. */
export type DeviceMessage = TracedMessage;

/** What the worker that owns a device says about it (the answer to `inspect`). */
export interface DeviceDetail {
  deviceId: string;
  group: string;
  /** How it connects: 'device', 'iotEdge', 'downstream', 'identityTranslation', … */
  pattern: string;
  state: ThingState;
  workerIndex?: number;
  pendingAcks: number;
  /** State changes, oldest first (a few are enough). */
  transitions: { atMs: number; from: ThingState; to: ThingState; reason?: string }[];
  /** Last messages, newest first. */
  messages: DeviceMessage[];
  /** Epoch ms since when messages are recorded (they are only while somebody looks). */
  messagesSinceMs?: number;
  /** Messages recorded since then (more than `messages` holds once the ring is full). */
  messagesRecorded?: number;
  /** Modules of an IoT Edge device. */
  modules?: { moduleId: string; state: ThingState }[];
  lastError?: { cls: string; message: string; atMs: number } | null;
  /** Shown under the detail. */
  note?: string;
}

export type FromWorker =
  /** groupPatterns: the patterns of the things in each group (what the dashboard prints beside a group). */
  | { type: 'ready'; groupPatterns: Record<string, string[]> }
  /** states by group, patterns by pattern. */
  | { type: 'snapshot'; workerIndex: number; snapshot: MetricsSnapshot; states: StateCounts; patterns: StateCounts; pendingAcks: number; heapUsed: number }
  | { type: 'inspection'; requestId: number; detail: DeviceDetail | null }
  | { type: 'final'; workerIndex: number; snapshot: MetricsSnapshot; states: StateCounts; patterns: StateCounts; acknowledgedBy: Record<string, number> }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; message: string }
  /** For the person running the fleet (a gateway's TLS address): logged and shown in the progress. */
  | { type: 'notice'; message: string }
  | { type: 'fatal'; message: string };
