// summary.json: the machine-readable result of a run; thresholds, CI and later comparisons read this.
import type { MetricsAggregate } from '../metrics/aggregate.js';
import { latencyStats, MAX_TRACKABLE_US, SIGNIFICANT_DIGITS, usToMs, type LatencyStats } from '../metrics/histogram.js';
import { ERROR_CLASSES, OPERATIONS, type ErrorClass, type Operation } from '../metrics/operations.js';
import { redactDeep, redactText } from '../metrics/redact.js';
import type { FaultEventReport, RunLimits } from '../metrics/fault-events.js';
import type { LedgerTotals, ProvisioningCounts, SaturationVerdict } from '../metrics/types.js';

export const SUMMARY_SCHEMA = 'edgefleet.summary/v1';

/** Corrected latency (from the intended start) with the raw figure (from the actual start) beside it; ms. */
export interface OperationSummary extends LatencyStats {
  raw: LatencyStats;
}

export interface ErrorClassSummary {
  count: number;
  lastMessage: string | null;
  lastAt: string | null;
  lastOperation: Operation | null;
  byOperation: Partial<Record<Operation, number>>;
}

/** Device-side ledger against what the target saw; filled by the caller (e.g. from the emulator's /stats). */
export interface Reconciliation {
  /** Messages the devices say the target acknowledged, and those the target says it received. */
  acknowledged?: number;
  received?: number;
  /** Acknowledged to a device but never received by the target: loss the protocol hid. */
  acknowledgedNotReceived?: number;
  /** Received by the target but never acknowledged to the device (e.g. PUBACK lost). */
  receivedNotAcknowledged?: number;
  duplicates?: number;
  outOfOrder?: number;
  [key: string]: unknown;
}

export interface ShardInfo {
  index: number;
  count: number;
  [key: string]: unknown;
}

export interface RunSummary {
  schema: typeof SUMMARY_SCHEMA;
  runId: string;
  /** ISO 8601. */
  startedAt: string;
  endedAt: string;
  durationSeconds: number;
  scenario: unknown;
  profile: unknown;
  target: unknown;
  seed: string | number | null;
  shard: ShardInfo | string | null;
  units: { latency: 'ms' };
  operations: Record<Operation, OperationSummary>;
  ledger: LedgerTotals;
  errors: Record<ErrorClass, ErrorClassSummary>;
  scheduler: { lateness: { count: number; p50: number | null; p99: number | null; max: number | null } };
  /** Gauges summed over workers at the end of the run (e.g. connected, backingOff). */
  gauges: Record<string, number>;
  /**
   * How identities got their hub: registered through DPS, reused from the assignment cache (no DPS), registered
   * again (refused, or a cached assignment refused). Each identity counts at most once in each.
   */
  provisioning: ProvisioningCounts;
  /**
   * Samples workers refused (NaN, negative) or clamped at the histogram ceiling; non-zero means a bug or a stuck
   * clock.
   */
  recording: { rejectedSamples: number; clampedSamples: number; maxTrackableMs: number; significantDigits: number };
  reconciliation: Reconciliation | null;
  /** Present when part of the fleet's figures are missing (a worker crashed): they cover what was merged before. */
  incomplete?: { reason: string };
  /** The profile's events, one section each: what it took away, how long until the fleet was whole again. */
  events?: FaultEventReport[];
  /** The pre-flight budget of descriptors and where the run met a limit of this machine. */
  limits?: RunLimits;
  /** Whether the load generator, not the target, limited the run; absent in folders written before it. */
  verdict?: SaturationVerdict;
}

export interface RunMeta {
  runId?: string;
  /** Default: the first snapshot's start. */
  startedAt?: Date | string | number;
  /** Default: the last snapshot's end. */
  endedAt?: Date | string | number;
  /** Echoed into the report; fields that look like credentials are replaced with "[redacted]". */
  scenario?: unknown;
  profile?: unknown;
  target?: unknown;
  seed?: string | number;
  shard?: ShardInfo | string;
  reconciliation?: Reconciliation;
}

const toDate = (x: Date | string | number): Date => (x instanceof Date ? x : new Date(x));

export function buildSummary(aggregate: MetricsAggregate, meta: RunMeta & { runId: string }): RunSummary {
  const started = toDate(meta.startedAt ?? aggregate.startMs ?? Date.now());
  const ended = toDate(meta.endedAt ?? aggregate.endMs ?? started.getTime());
  if (Number.isNaN(started.getTime()) || Number.isNaN(ended.getTime()))
    throw new Error('startedAt/endedAt is not a valid date');

  const operations = {} as Record<Operation, OperationSummary>;
  for (const op of OPERATIONS)
    operations[op] = { ...aggregate.latency(op, 'corrected'), raw: aggregate.latency(op, 'raw') };

  const errors = {} as Record<ErrorClass, ErrorClassSummary>;
  const agErrors = aggregate.errors();
  for (const cls of ERROR_CLASSES) {
    const e = agErrors[cls];
    errors[cls] = {
      count: e.count,
      // Scrubbed again: a merged shard's state may come from elsewhere.
      lastMessage: e.lastMessage === null ? null : redactText(e.lastMessage),
      lastAt: e.lastAtMs === null ? null : new Date(e.lastAtMs).toISOString(),
      lastOperation: e.lastOperation,
      byOperation: e.byOperation,
    };
  }

  const late = latencyStats(aggregate.latenessHistogram());
  const rec = aggregate.recording;
  return {
    schema: SUMMARY_SCHEMA,
    runId: meta.runId,
    startedAt: started.toISOString(),
    endedAt: ended.toISOString(),
    durationSeconds: Math.max(0, ended.getTime() - started.getTime()) / 1000,
    scenario: redactDeep(meta.scenario ?? null),
    profile: redactDeep(meta.profile ?? null),
    target: redactDeep(meta.target ?? null),
    seed: meta.seed ?? null,
    shard: redactDeep(meta.shard ?? null) as ShardInfo | string | null,
    units: { latency: 'ms' },
    operations,
    ledger: aggregate.ledger(),
    errors,
    scheduler: { lateness: { count: late.count, p50: late.p50, p99: late.p99, max: late.max } },
    gauges: aggregate.gauges(),
    provisioning: aggregate.provisioning(),
    recording: {
      rejectedSamples: rec.rejected,
      clampedSamples: rec.clamped,
      maxTrackableMs: usToMs(MAX_TRACKABLE_US),
      significantDigits: SIGNIFICANT_DIGITS,
    },
    reconciliation: meta.reconciliation ? (redactDeep(meta.reconciliation) as Reconciliation) : null,
  };
}
