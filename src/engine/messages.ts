// What the coordinator and its workers say to each other (structured-clone plain objects).
import type { FleetLevel } from '../metrics/fault-events.js';
import type { DeviceDetail, MetricsSnapshot, StateCounts } from '../metrics/types.js';
import type { PlannedIdentity } from '../config/plan.js';
import type { FleetShare } from '../sim/build.js';
import type { AssignmentChanges, AssignmentEntries } from '../endpoints/assignment-cache.js';

/** One identity a worker runs, as the plan made it. */
export type WorkerIdentity = PlannedIdentity;

/** What a worker starts with: its share of the fleet and how to run it. */
export interface WorkerInit extends FleetShare {
  workerIndex: number;
  durationMs: number;
  /** This worker's share of the fleet-wide action rates (its identities over the fleet's). */
  actionShare: number;
  localAddresses: string[];
  snapshotIntervalMs: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** The assignment cache's entries for this worker's identities; absent: nothing is cached. */
  assignments?: AssignmentEntries;
}

/** `start` comes once every worker is ready, so that building a fleet never makes its arrivals late. */
export type ToWorker =
  | { type: 'start'; startAt: number }
  | { type: 'stop'; drainMs: number }
  /** Holds arrivals back (those not yet started), or releases them shifted by the time paused. */
  | { type: 'pause'; paused: boolean }
  | { type: 'inspect'; requestId: number; deviceId: string }
  /** The coordinator acts on the target now (events[index]: targetRestart): take the levels and watch for whole. */
  | { type: 'event'; index: number };

export type FromWorker =
  /** groupPatterns: the patterns of the things in each group (what the dashboard prints beside a group). */
  | { type: 'ready'; groupPatterns: Record<string, string[]>; states: StateCounts; patterns: StateCounts }
  /** states by group, patterns by pattern. */
  | {
      type: 'snapshot';
      workerIndex: number;
      snapshot: MetricsSnapshot;
      states: StateCounts;
      patterns: StateCounts;
      pendingAcks: number;
      heapUsed: number | null;
      connections: number;
      sockets: number;
      /** Assignments made (or to forget) since the last message, for the assignment cache. */
      assignments?: AssignmentChanges;
    }
  | { type: 'inspection'; requestId: number; detail: DeviceDetail | null }
  | {
      type: 'final';
      workerIndex: number;
      snapshot: MetricsSnapshot;
      states: StateCounts;
      patterns: StateCounts;
      acknowledgedBy: Record<string, number>;
      assignments?: AssignmentChanges;
    }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; message: string }
  /** For the person running the fleet (a gateway's TLS address): logged and shown in the progress. */
  | { type: 'notice'; message: string }
  /** This worker's part of events[index]: its level just before, and what the event took away from it. */
  | { type: 'event'; workerIndex: number; index: number; atMs: number; before: FleetLevel; tookAway: FleetLevel }
  /** This worker's identities and connections are back to their level before events[index]. */
  | { type: 'eventWhole'; workerIndex: number; index: number; atMs: number }
  | { type: 'fatal'; message: string };
