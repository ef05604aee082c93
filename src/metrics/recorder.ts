// Per-worker recording: O(1), allocation-free on the hot path; encoding happens once a second in snapshot().
import type { Histogram } from 'hdr-histogram-js';
import { encodeHistogram, MAX_TRACKABLE_US, newIntervalHistogram, US_PER_MS } from './histogram.js';
import {
  ERROR_CLASS_INDEX,
  ERROR_CLASSES,
  OPERATION_INDEX,
  OPERATIONS,
  type ErrorClass,
  type Operation,
} from './operations.js';
import { redactText } from './redact.js';
import {
  emptyLedger,
  emptyProvisioning,
  LEDGER_KEYS,
  type ErrorDelta,
  type LedgerCounts,
  type MetricsSnapshot,
  type ProvisioningCounts,
} from './types.js';

/** Longest error message kept; a stack trace or an HTML error page is no use in a report. */
export const MAX_ERROR_MESSAGE_LENGTH = 300;

const N_OPS = OPERATIONS.length;
// Error counts laid out as [class][operation + 1]; slot 0 is "no operation given".
const ERR_STRIDE = N_OPS + 1;

export class MetricsRecorder {
  /** Counters the simulation increments directly (e.g. `recorder.ledger.generated++`). inFlight is derived. */
  readonly ledger: LedgerCounts = emptyLedger();
  /** Identities provisioned, reused from the assignment cache, re-provisioned (each counted once by its thing). */
  readonly provisioning: ProvisioningCounts = emptyProvisioning();

  private readonly corrected: Histogram[] = OPERATIONS.map(() => newIntervalHistogram());
  private readonly raw: Histogram[] = OPERATIONS.map(() => newIntervalHistogram());
  private readonly lateness: Histogram = newIntervalHistogram();
  private latenessCount = 0;
  private readonly opCount = new Float64Array(N_OPS);

  private readonly errCount = new Float64Array(ERROR_CLASSES.length * ERR_STRIDE);
  private readonly errLastMessage: (string | undefined)[] = ERROR_CLASSES.map(() => undefined);
  private readonly errLastAt = new Float64Array(ERROR_CLASSES.length);
  private readonly errLastOp: (Operation | undefined)[] = ERROR_CLASSES.map(() => undefined);

  private readonly gauges = new Map<string, number>();
  private readonly ledgerSent: LedgerCounts = emptyLedger();
  private rejected = 0;
  private clamped = 0;
  private intervalStartMs: number;

  /** @param startMs epoch ms when recording began (start of the first snapshot interval). */
  constructor(startMs: number = Date.now()) {
    this.intervalStartMs = startMs;
  }

  /**
   * Times in ms (floats from performance.now() or Date.now(), one clock per call); recorded in microseconds.
   * corrected = ended − intended (coordinated omission, like wrk2); raw = ended − started.
   * An operation that started before its intended time is not credited for it: corrected is then raw.
   */
  recordLatency(op: Operation, intendedAtMs: number, startedAtMs: number, endedAtMs: number): void {
    const i = OPERATION_INDEX[op];
    const rawUs = (endedAtMs - startedAtMs) * US_PER_MS;
    const sinceIntendedUs = (endedAtMs - intendedAtMs) * US_PER_MS;
    // The negated comparison also catches NaN; a clock stepping backwards must not throw in a worker.
    if (i === undefined || !(rawUs >= 0) || sinceIntendedUs !== sinceIntendedUs) {
      this.rejected++;
      return;
    }
    const correctedUs = sinceIntendedUs > rawUs ? sinceIntendedUs : rawUs;
    // corrected ≥ raw, so one check counts each clamped sample once.
    if (correctedUs > MAX_TRACKABLE_US) this.clamped++;
    this.corrected[i]!.recordValue(clampUs(correctedUs));
    this.raw[i]!.recordValue(clampUs(rawUs));
    this.opCount[i]!++;
  }

  /** The message is kept as given (no copy) and scrubbed once per interval in snapshot(). */
  recordError(cls: ErrorClass, message: string, op?: Operation): void {
    let c = ERROR_CLASS_INDEX[cls];
    if (c === undefined) c = ERROR_CLASS_INDEX.other;
    const o = op === undefined ? undefined : OPERATION_INDEX[op];
    this.errCount[c * ERR_STRIDE + (o === undefined ? 0 : o + 1)]!++;
    this.errLastMessage[c] = message;
    this.errLastAt[c] = Date.now();
    this.errLastOp[c] = o === undefined ? undefined : op;
  }

  /** Scheduler lateness: how late a timer fired versus its intended time. Early counts as 0. */
  recordLateness(lateMs: number): void {
    const us = lateMs * US_PER_MS;
    if (!(us === us)) {
      this.rejected++;
      return;
    }
    if (us > MAX_TRACKABLE_US) this.clamped++;
    this.lateness.recordValue(us <= 0 ? 0 : clampUs(us));
    this.latenessCount++;
  }

  setGauge(name: string, value: number): void {
    this.gauges.set(name, value);
  }

  /**
   * Everything since the previous snapshot, for postMessage: histograms as compressed base64, ledger
   * increments, gauges as they stand. Resets the interval histograms.
   * @param nowMs epoch ms (Date.now()); the coordinator buckets workers by wall time.
   */
  snapshot(nowMs: number = Date.now()): MetricsSnapshot {
    const snap: MetricsSnapshot = {
      v: 1,
      startMs: this.intervalStartMs,
      endMs: nowMs,
      ops: this.takeOps(),
      ledger: this.takeLedger(),
      gauges: Object.fromEntries(this.gauges),
      errors: this.takeErrors(),
      rejected: this.rejected,
      clamped: this.clamped,
    };
    const lateness = this.takeLateness();
    if (lateness !== undefined) snap.lateness = lateness;
    const p = this.provisioning;
    if (p.provisioned + p.reusedFromCache + p.reprovisioned > 0) snap.provisioning = { ...p };
    this.rejected = 0;
    this.clamped = 0;
    this.intervalStartMs = nowMs;
    return snap;
  }

  /** The interval's latency histograms of the operations that recorded any, encoded; then reset. */
  private takeOps(): MetricsSnapshot['ops'] {
    const ops: MetricsSnapshot['ops'] = {};
    for (let i = 0; i < N_OPS; i++) {
      if (this.opCount[i] === 0) continue;
      const c = this.corrected[i]!;
      const r = this.raw[i]!;
      ops[OPERATIONS[i]!] = { corrected: encodeHistogram(c), raw: encodeHistogram(r) };
      c.reset();
      r.reset();
      this.opCount[i] = 0;
    }
    return ops;
  }

  private takeLateness(): string | undefined {
    if (this.latenessCount === 0) return undefined;
    const lateness = encodeHistogram(this.lateness);
    this.lateness.reset();
    this.latenessCount = 0;
    return lateness;
  }

  /** Ledger increments since the previous snapshot. */
  private takeLedger(): LedgerCounts {
    const ledger = emptyLedger();
    for (const k of LEDGER_KEYS) {
      const now = this.ledger[k];
      ledger[k] = now - this.ledgerSent[k];
      this.ledgerSent[k] = now;
    }
    return ledger;
  }

  /** Errors per class since the previous snapshot, with the last message (scrubbed) and operation; then reset. */
  private takeErrors(): MetricsSnapshot['errors'] {
    const errors: MetricsSnapshot['errors'] = {};
    for (let c = 0; c < ERROR_CLASSES.length; c++) {
      let count = 0;
      const byOperation: ErrorDelta['byOperation'] = {};
      for (let s = 0; s < ERR_STRIDE; s++) {
        const n = this.errCount[c * ERR_STRIDE + s]!;
        if (n === 0) continue;
        count += n;
        if (s > 0) byOperation[OPERATIONS[s - 1]!] = n;
        this.errCount[c * ERR_STRIDE + s] = 0;
      }
      if (count === 0) continue;
      const delta: ErrorDelta = {
        count,
        byOperation,
        lastMessage: cleanMessage(this.errLastMessage[c]),
        lastAtMs: this.errLastAt[c]!,
      };
      const lastOp = this.errLastOp[c];
      if (lastOp !== undefined) delta.lastOperation = lastOp;
      errors[ERROR_CLASSES[c]!] = delta;
      this.errLastMessage[c] = undefined;
      this.errLastOp[c] = undefined;
    }
    return errors;
  }
}

// HDR truncates fractions; rounding keeps the sub-µs part of a float timestamp honest.
const clampUs = (us: number): number => (us > MAX_TRACKABLE_US ? MAX_TRACKABLE_US : Math.round(us));

/** Error messages are data from outside: bound their size and scrub credentials before they leave the worker. */
export function cleanMessage(message: string | undefined): string {
  let s = message ?? '';
  if (s.length > MAX_ERROR_MESSAGE_LENGTH * 4) s = s.slice(0, MAX_ERROR_MESSAGE_LENGTH * 4);
  s = redactText(s).replace(/\s+/g, ' ').trim();
  return s.length > MAX_ERROR_MESSAGE_LENGTH ? `${s.slice(0, MAX_ERROR_MESSAGE_LENGTH - 1)}…` : s;
}
