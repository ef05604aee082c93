// What the coordinator and its workers say to each other (structured-clone plain objects).
import type { MetricsSnapshot } from '../metrics/types.js';
import type { Target } from '../endpoints/target.js';
import type { PlannedIdentity } from '../config/plan.js';
import type { DeviceDetail } from '../ui/model.js';

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

export type StateCounts = Record<string, Record<string, number>>;

export type FromWorker =
  | { type: 'ready' }
  | { type: 'snapshot'; workerIndex: number; snapshot: MetricsSnapshot; states: StateCounts; pendingAcks: number; heapUsed: number }
  | { type: 'inspection'; requestId: number; detail: DeviceDetail | null }
  | { type: 'final'; workerIndex: number; snapshot: MetricsSnapshot; states: StateCounts; acknowledgedBy: Record<string, number> }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; message: string }
  /** For the person running the fleet (a gateway's TLS address): logged and shown in the progress. */
  | { type: 'notice'; message: string }
  | { type: 'fatal'; message: string };
