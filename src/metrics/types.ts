// What crosses the worker → coordinator boundary: plain JSON-able data only (structured clone, or JSON between
// machines).
import type { ErrorClass, Operation } from './operations.js';
import type { TracedMessage } from './message-ring.js';

/** The message ledger. generated = acknowledged + failed + expired + dropped + inFlight. */
export interface LedgerCounts {
  /** Messages the scenario created. */
  generated: number;
  /** Confirmed by the target (PUBACK / 2xx). */
  acknowledged: number;
  /** Given up on after an error. */
  failed: number;
  /** Aged out in a store-and-forward store (its TTL ran out, or a full store made room) before being sent. */
  expired: number;
  /** Discarded by routing (no route matched, or a full queue dropped it). */
  dropped: number;
  /**
   * Held in a store-and-forward store now (a gauge kept as increments: +1 stored, −1 sent or expired);
   * informational, part of inFlight. At the end of a run: stored and never sent.
   */
  stored: number;
  /** Acknowledged after having waited in a store-and-forward store; informational, a subset of acknowledged. */
  deliveredLate: number;
  /**
   * Sent again after a connection loss took it without an acknowledgement (QoS 1, the same identity; edgeHub's
   * upstream from its store): informational, not a new message. The target may have received it twice.
   */
  resent: number;
}

export const LEDGER_KEYS = [
  'generated',
  'acknowledged',
  'failed',
  'expired',
  'dropped',
  'stored',
  'deliveredLate',
  'resent',
] as const satisfies ReadonlyArray<keyof LedgerCounts>;

export const emptyLedger = (): LedgerCounts => ({
  generated: 0,
  acknowledged: 0,
  failed: 0,
  expired: 0,
  dropped: 0,
  stored: 0,
  deliveredLate: 0,
  resent: 0,
});

export interface LedgerTotals extends LedgerCounts {
  /** Derived: generated − acknowledged − failed − expired − dropped. */
  inFlight: number;
  /** False when more messages were settled than generated (something counted twice). */
  balanced: boolean;
}

export function ledgerTotals(l: LedgerCounts): LedgerTotals {
  const inFlight = l.generated - l.acknowledged - l.failed - l.expired - l.dropped;
  return { ...l, inFlight, balanced: inFlight >= 0 };
}

/**
 * How identities got their hub during a run: registered through DPS, reused from the assignment cache (no DPS),
 * registered again (refused by their hub, or a cached assignment that was refused). Each identity counts once in each.
 */
export interface ProvisioningCounts {
  provisioned: number;
  reusedFromCache: number;
  reprovisioned: number;
}

export const emptyProvisioning = (): ProvisioningCounts => ({ provisioned: 0, reusedFromCache: 0, reprovisioned: 0 });

/** Errors of one class within one snapshot interval. */
export interface ErrorDelta {
  count: number;
  /** Counts by operation; errors recorded without an operation are only in `count`. */
  byOperation: Partial<Record<Operation, number>>;
  /** Latest message of the interval, truncated and scrubbed of credentials. */
  lastMessage: string;
  /** Epoch ms. */
  lastAtMs: number;
  lastOperation?: Operation;
}

export interface MetricsSnapshot {
  v: 1;
  /** Interval covered, epoch ms (workers' performance.now() origins differ, so the coordinator aligns on wall time). */
  startMs: number;
  endMs: number;
  /** Per operation, only those with samples: compressed base64 HdrHistogram V2 of µs. */
  ops: Partial<Record<Operation, { corrected: string; raw: string }>>;
  /** Scheduler lateness histogram (µs), absent when nothing was recorded. */
  lateness?: string;
  /** Ledger increments during the interval. */
  ledger: LedgerCounts;
  /** Gauges as they stand at endMs (absolute, not deltas). */
  gauges: Record<string, number>;
  errors: Partial<Record<ErrorClass, ErrorDelta>>;
  /** Samples refused (NaN, negative, unknown operation) and samples clamped to the histogram ceiling. */
  rejected: number;
  clamped: number;
  /** This worker's provisioning counts since the start (absolute, like gauges); absent while all are 0. */
  provisioning?: ProvisioningCounts;
}

// --- the state of the fleet, as the coordinator merges it and the dashboard shows it ---------------------------

/** Where a simulated identity is in its life. */
export type ThingState = 'waiting' | 'provisioning' | 'connecting' | 'connected' | 'backingOff' | 'stopped' | 'failed';

/** Identities by state under a name (a group, a pattern): { name: { state: n } }. */
export type StateCounts = Record<string, Record<string, number>>;

/** One message of a device, as the drill-down shows it. */
export type DeviceMessage = TracedMessage;

/** What the worker that owns a device says about it (the drill-down). */
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

/**
 * One worker thread. Per-thread, because process.cpuUsage() and rss measured inside a worker are the whole
 * process's (every worker would show the same number).
 */
export interface WorkerLoad {
  index: number;
  /** Event-loop utilization over the last second × 100 (performance.eventLoopUtilization). */
  busyPercent: number;
  /** V8 heap used by this worker's isolate (process.memoryUsage().heapUsed inside the worker), MB. */
  heapMB: number | null;
}

/** The whole process (main thread + workers), measured in the main thread. */
export interface ProcessLoad {
  /** CPU time over the last second / wall time × 100; 100 = one core busy. */
  cpuPercent: number | null;
  rssMB: number | null;
}

/**
 * When the load generator, not the target, limited a run (outputs/saturation.ts): the phases where the scheduler
 * was late beyond a bound or a worker's event loop was pinned, what they mean, and what to do.
 */
export interface SaturationVerdict {
  generatorSaturated: boolean;
  /** One line per phase: what was seen, when, and how far. */
  reasons: string[];
  phases: SaturationPhase[];
  /** What to do about it (empty when not saturated). */
  advice: string[];
  /** The bounds judged against. */
  bounds: { latenessBoundMs: number; busyPercent: number; phaseSeconds: number };
}

export interface SaturationPhase {
  reason: 'lateness' | 'cpu';
  /** Seconds since the run's start. */
  fromSeconds: number;
  toSeconds: number;
  /** Where the profile was when the phase began ("stage 2/3 → 50/s"). */
  stage: string;
  /** The worst second: lateness p99 in ms, or the busiest worker's event-loop utilisation in percent. */
  peak: number;
}
