// Coordinator side: merges worker snapshots losslessly (HDR add, counter sums) into cumulative totals,
// per-second interval views for the live display, and a bounded timeseries for reports.
import type { Histogram } from 'hdr-histogram-js';
import {
  decodeHistogram,
  encodeHistogram,
  latencyStats,
  newCumulativeHistogram,
  type LatencyStats,
} from './histogram.js';
import { ERROR_CLASSES, isErrorClass, isOperation, type ErrorClass, type Operation } from './operations.js';
import {
  emptyLedger,
  emptyProvisioning,
  LEDGER_KEYS,
  ledgerTotals,
  type ProvisioningCounts,
  type ErrorDelta,
  type LedgerCounts,
  type LedgerTotals,
  type MetricsSnapshot,
} from './types.js';

export interface IntervalOperationStats {
  count: number;
  perSecond: number;
  /** Corrected latency, ms. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
  raw: { p50: number | null; p95: number | null; p99: number | null; max: number | null };
}

/** One closed second, for the live view. */
export interface IntervalView {
  startMs: number;
  endMs: number;
  seconds: number;
  /** Only operations with samples in this interval. */
  operations: Partial<Record<Operation, IntervalOperationStats>>;
  ledger: LedgerCounts;
  rates: {
    generatedPerSecond: number;
    acknowledgedPerSecond: number;
    failedPerSecond: number;
    errorsPerSecond: number;
    /** Errors of the `throttled` class: the target pushing back (429, CONNACK 3 under a limit, quota closes). */
    throttledPerSecond: number;
  };
  errors: Partial<Record<ErrorClass, number>>;
  /** Scheduler lateness of this second (timers firing after their time), ms; absent when no timer fired. */
  lateness?: { count: number; p99: number | null; max: number | null };
  /** Gauges summed over workers, as they stood when the interval closed. */
  gauges: Record<string, number>;
  connected: number;
  /** Snapshots that arrived for this interval. */
  snapshots: number;
}

/** One row per closed second (or a wider span after compaction); counts, not rates, so rows add up. */
export interface TimeseriesRow {
  /** Epoch ms at the start of the row. */
  t: number;
  seconds: number;
  generated: number;
  acknowledged: number;
  failed: number;
  errors: number;
  /** Of those errors, the `throttled` ones (absent in rows of folders written before it was counted). */
  throttled?: number;
  /** Summed `connected` gauge at the end of the row. */
  connected: number;
  /** Scheduler lateness p99 of the second, ms (of a wider row: its worst second); absent when no timer fired. */
  latenessP99Ms?: number;
}

export interface ErrorStats {
  count: number;
  byOperation: Partial<Record<Operation, number>>;
  lastMessage: string | null;
  lastAtMs: number | null;
  lastOperation: Operation | null;
}

export interface AggregateOptions {
  /** Label for this shard; merge() files another shard's worker gauges under it. */
  shard?: string;
  /** Timeseries rows kept before adjacent rows are merged pairwise (resolution halves). Default 86 400. */
  timeseriesCapacity?: number;
  /** tick() waits this long past a second's end before closing it, for snapshots still in the queue. Default 250. */
  closeGraceMs?: number;
}

/** Serialized aggregate, for shipping a shard to the machine that merges the fleet run. */
export interface AggregateState {
  v: 1;
  shard?: string;
  startMs: number | null;
  endMs: number | null;
  ops: Partial<Record<Operation, { corrected: string; raw: string }>>;
  lateness?: string;
  ledger: LedgerCounts;
  gauges: Record<string, Record<string, number>>;
  errors: Partial<Record<ErrorClass, ErrorStats>>;
  timeseries: TimeseriesRow[];
  rejected: number;
  clamped: number;
  /** Provisioning counts by worker (as gauges are). */
  provisioning?: Record<string, ProvisioningCounts>;
}

interface OpHistograms {
  corrected: Histogram;
  raw: Histogram;
}

interface OpenInterval {
  second: number;
  ops: Map<Operation, OpHistograms>;
  lateness: Histogram | undefined;
  ledger: LedgerCounts;
  errors: Partial<Record<ErrorClass, number>>;
  errorCount: number;
  snapshots: number;
}

const emptyErrorStats = (): ErrorStats => ({
  count: 0,
  byOperation: {},
  lastMessage: null,
  lastAtMs: null,
  lastOperation: null,
});

export class MetricsAggregate {
  readonly shard: string | undefined;
  private readonly capacity: number;
  private readonly graceMs: number;

  private readonly cumulative = new Map<Operation, OpHistograms>();
  private latenessHist: Histogram | undefined;
  private readonly ledgerSum: LedgerCounts = emptyLedger();
  private readonly gaugesByWorker = new Map<string, Record<string, number>>();
  /** Cumulative per worker; a worker that dies keeps its counts (unlike its gauges). */
  private readonly provisioningByWorker = new Map<string, ProvisioningCounts>();
  private readonly errorStats = new Map<ErrorClass, ErrorStats>();
  private rejectedSum = 0;
  private clampedSum = 0;
  private first: number | null = null;
  private last: number | null = null;

  private open: OpenInterval | undefined;
  private lastClosedSecond = -Infinity;
  private lastView: IntervalView | undefined;
  // Interval histograms are reused across seconds; allocating 16 a second would churn the GC.
  private readonly spareIntervalHists = new Map<Operation, OpHistograms>();
  private spareLateness: Histogram | undefined;
  private rows: TimeseriesRow[] = [];
  private mergeCount = 0;

  constructor(options: AggregateOptions = {}) {
    this.shard = options.shard;
    this.capacity = Math.max(2, options.timeseriesCapacity ?? 86_400);
    this.graceMs = options.closeGraceMs ?? 250;
  }

  /** Adds one worker snapshot. Intervals older than the snapshot's second are closed first. */
  add(workerId: string | number, snap: MetricsSnapshot): void {
    if (snap?.v !== 1) throw new Error(`unsupported metrics snapshot version: ${String((snap as { v?: unknown })?.v)}`);
    const worker = String(workerId);
    this.first = this.first === null ? snap.startMs : Math.min(this.first, snap.startMs);
    this.last = this.last === null ? snap.endMs : Math.max(this.last, snap.endMs);

    // A late snapshot lands in the next open second rather than reopening a closed one.
    const second = Math.max(Math.floor(snap.endMs / 1000), this.lastClosedSecond + 1);
    if (this.open && this.open.second < second) this.closeOpen();
    const iv = (this.open ??= this.newInterval(second));
    iv.snapshots++;

    for (const [op, enc] of Object.entries(snap.ops ?? {})) {
      if (!isOperation(op) || !enc) continue;
      const c = decodeHistogram(enc.corrected, 32);
      const r = decodeHistogram(enc.raw, 32);
      const cum = this.cumulativeFor(op);
      cum.corrected.add(c);
      cum.raw.add(r);
      const ih = this.intervalFor(iv, op);
      ih.corrected.add(c);
      ih.raw.add(r);
    }
    if (snap.lateness) {
      const late = decodeHistogram(snap.lateness, 32);
      (this.latenessHist ??= newCumulativeHistogram()).add(late);
      if (iv.lateness === undefined) {
        iv.lateness = this.spareLateness ?? newCumulativeHistogram();
        this.spareLateness = undefined;
      }
      iv.lateness.add(late);
    }

    for (const k of LEDGER_KEYS) {
      const d = snap.ledger?.[k] ?? 0;
      this.ledgerSum[k] += d;
      iv.ledger[k] += d;
    }
    this.gaugesByWorker.set(worker, { ...snap.gauges });
    if (snap.provisioning !== undefined) this.provisioningByWorker.set(worker, { ...snap.provisioning });

    for (const [cls, delta] of Object.entries(snap.errors ?? {})) {
      if (!isErrorClass(cls) || !delta) continue;
      this.addErrors(cls, deltaToStats(delta));
      iv.errors[cls] = (iv.errors[cls] ?? 0) + delta.count;
      iv.errorCount += delta.count;
    }
    this.rejectedSum += snap.rejected ?? 0;
    this.clampedSum += snap.clamped ?? 0;
  }

  /** Closes any interval that ended more than closeGraceMs before nowMs; call it once a second from the coordinator. */
  tick(nowMs: number): void {
    if (this.open && (this.open.second + 1) * 1000 + this.graceMs <= nowMs) this.closeOpen();
  }

  /** Closes the open interval now (end of run), so the last second reaches the timeseries. */
  flush(): void {
    if (this.open) this.closeOpen();
  }

  /** The most recently closed second, or undefined before the first one closes. */
  lastInterval(): IntervalView | undefined {
    return this.lastView;
  }

  /** A worker left: drop its gauges so they stop counting in the fleet totals. */
  removeWorker(workerId: string | number): void {
    this.gaugesByWorker.delete(String(workerId));
  }

  /**
   * Adds another aggregate (a shard of the same fleet run). Lossless for histograms, counters and errors.
   * Meant for the end of a run: it closes this aggregate's open second first.
   */
  merge(other: MetricsAggregate | AggregateState): void {
    if (other === this) throw new Error('cannot merge an aggregate into itself');
    this.flush();
    this.mergeState(other instanceof MetricsAggregate ? other.toState() : other);
  }

  // ---- read side ----

  get startMs(): number | null {
    return this.first;
  }
  get endMs(): number | null {
    return this.last;
  }

  /** Cumulative histogram (µs) of one operation; undefined when it never ran. Do not mutate. */
  histogram(op: Operation, kind: 'corrected' | 'raw' = 'corrected'): Histogram | undefined {
    return this.cumulative.get(op)?.[kind];
  }

  latency(op: Operation, kind: 'corrected' | 'raw' = 'corrected'): LatencyStats {
    return latencyStats(this.histogram(op, kind));
  }

  /** Scheduler lateness histogram (µs). Do not mutate. */
  latenessHistogram(): Histogram | undefined {
    return this.latenessHist;
  }

  ledger(): LedgerTotals {
    return ledgerTotals(this.ledgerSum);
  }

  /** Gauges summed over workers (and merged shards). */
  gauges(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const g of this.gaugesByWorker.values()) for (const [k, v] of Object.entries(g)) out[k] = (out[k] ?? 0) + v;
    return out;
  }

  /** Identities provisioned, reused from the assignment cache and re-provisioned, over workers and shards. */
  provisioning(): ProvisioningCounts {
    const out = emptyProvisioning();
    for (const p of this.provisioningByWorker.values()) {
      out.provisioned += p.provisioned;
      out.reusedFromCache += p.reusedFromCache;
      out.reprovisioned += p.reprovisioned;
    }
    return out;
  }

  errors(): Record<ErrorClass, ErrorStats> {
    const out = {} as Record<ErrorClass, ErrorStats>;
    for (const cls of ERROR_CLASSES) {
      const s = this.errorStats.get(cls);
      out[cls] = s ? { ...s, byOperation: { ...s.byOperation } } : emptyErrorStats();
    }
    return out;
  }

  get timeseries(): readonly TimeseriesRow[] {
    return this.rows;
  }

  /** Samples workers refused (NaN/negative) and clamped to the histogram ceiling. */
  get recording(): { rejected: number; clamped: number } {
    return { rejected: this.rejectedSum, clamped: this.clampedSum };
  }

  toState(): AggregateState {
    const ops: AggregateState['ops'] = {};
    for (const [op, h] of this.cumulative)
      ops[op] = { corrected: encodeHistogram(h.corrected), raw: encodeHistogram(h.raw) };
    const state: AggregateState = {
      v: 1,
      startMs: this.first,
      endMs: this.last,
      ops,
      ledger: { ...this.ledgerSum },
      gauges: Object.fromEntries([...this.gaugesByWorker].map(([k, v]) => [k, { ...v }])),
      errors: Object.fromEntries(
        [...this.errorStats].map(([k, v]) => [k, { ...v, byOperation: { ...v.byOperation } }]),
      ),
      // The open second goes along as a row, so a shard that was not flushed loses nothing.
      timeseries: [...this.rows.map((r) => ({ ...r })), ...(this.open ? [this.rowOf(this.open, this.gauges())] : [])],
      rejected: this.rejectedSum,
      clamped: this.clampedSum,
    };
    if (this.shard !== undefined) state.shard = this.shard;
    if (this.latenessHist) state.lateness = encodeHistogram(this.latenessHist);
    if (this.provisioningByWorker.size > 0) {
      state.provisioning = Object.fromEntries([...this.provisioningByWorker].map(([k, v]) => [k, { ...v }]));
    }
    return state;
  }

  static fromState(state: AggregateState, options: AggregateOptions = {}): MetricsAggregate {
    const shard = options.shard ?? state.shard;
    const agg = new MetricsAggregate({ ...options, ...(shard === undefined ? {} : { shard }) });
    agg.mergeState(state, true);
    return agg;
  }

  // ---- internals ----

  private mergeState(state: AggregateState, own = false): void {
    if (state?.v !== 1)
      throw new Error(`unsupported aggregate state version: ${String((state as { v?: unknown })?.v)}`);
    if (state.startMs !== null) this.first = this.first === null ? state.startMs : Math.min(this.first, state.startMs);
    if (state.endMs !== null) this.last = this.last === null ? state.endMs : Math.max(this.last, state.endMs);
    for (const [op, enc] of Object.entries(state.ops)) {
      if (!isOperation(op) || !enc) continue;
      const cum = this.cumulativeFor(op);
      cum.corrected.add(decodeHistogram(enc.corrected));
      cum.raw.add(decodeHistogram(enc.raw));
    }
    if (state.lateness) (this.latenessHist ??= newCumulativeHistogram()).add(decodeHistogram(state.lateness));
    for (const k of LEDGER_KEYS) this.ledgerSum[k] += state.ledger[k] ?? 0;
    // Worker ids repeat across shards (every machine has a worker 0), so foreign gauges get a prefix.
    const prefix = own ? '' : `${state.shard ?? `merged-${++this.mergeCount}`}/`;
    for (const [w, g] of Object.entries(state.gauges)) this.gaugesByWorker.set(prefix + w, { ...g });
    for (const [w, p] of Object.entries(state.provisioning ?? {})) this.provisioningByWorker.set(prefix + w, { ...p });
    for (const [cls, s] of Object.entries(state.errors)) if (isErrorClass(cls) && s) this.addErrors(cls, s);
    this.rejectedSum += state.rejected;
    this.clampedSum += state.clamped;
    this.rows = mergeRows(this.rows, state.timeseries);
    this.compact();
  }

  private addErrors(cls: ErrorClass, add: ErrorStats): void {
    let s = this.errorStats.get(cls);
    if (!s) this.errorStats.set(cls, (s = emptyErrorStats()));
    s.count += add.count;
    for (const [op, n] of Object.entries(add.byOperation)) {
      if (isOperation(op) && n) s.byOperation[op] = (s.byOperation[op] ?? 0) + n;
    }
    // ">=" so that, at equal times, the later arrival wins.
    if (add.lastMessage !== null && add.lastAtMs !== null && (s.lastAtMs === null || add.lastAtMs >= s.lastAtMs)) {
      s.lastMessage = add.lastMessage;
      s.lastAtMs = add.lastAtMs;
      s.lastOperation = add.lastOperation;
    }
  }

  private cumulativeFor(op: Operation): OpHistograms {
    let h = this.cumulative.get(op);
    if (!h) this.cumulative.set(op, (h = { corrected: newCumulativeHistogram(), raw: newCumulativeHistogram() }));
    return h;
  }

  private intervalFor(iv: OpenInterval, op: Operation): OpHistograms {
    let h = iv.ops.get(op);
    if (!h) {
      h = this.spareIntervalHists.get(op) ?? { corrected: newCumulativeHistogram(), raw: newCumulativeHistogram() };
      this.spareIntervalHists.delete(op);
      iv.ops.set(op, h);
    }
    return h;
  }

  private newInterval(second: number): OpenInterval {
    return {
      second,
      ops: new Map(),
      lateness: undefined,
      ledger: emptyLedger(),
      errors: {},
      errorCount: 0,
      snapshots: 0,
    };
  }

  private closeOpen(): void {
    const iv = this.open!;
    this.open = undefined;
    this.lastClosedSecond = iv.second;
    const seconds = 1;
    const operations = this.closeOperations(iv, seconds);
    const lateness = this.closeLateness(iv);
    const gauges = this.gauges();
    const connected = gauges['connected'] ?? 0;
    this.lastView = {
      startMs: iv.second * 1000,
      endMs: (iv.second + 1) * 1000,
      seconds,
      operations,
      ledger: iv.ledger,
      rates: {
        generatedPerSecond: iv.ledger.generated / seconds,
        acknowledgedPerSecond: iv.ledger.acknowledged / seconds,
        failedPerSecond: iv.ledger.failed / seconds,
        errorsPerSecond: iv.errorCount / seconds,
        throttledPerSecond: (iv.errors.throttled ?? 0) / seconds,
      },
      errors: iv.errors,
      ...(lateness === undefined ? {} : { lateness }),
      gauges,
      connected,
      snapshots: iv.snapshots,
    };
    this.rows.push(this.rowOf(iv, gauges, lateness?.p99 ?? undefined));
    this.compact();
  }

  /** The closing second's latency per operation; its histograms are reset and kept for the next second. */
  private closeOperations(iv: OpenInterval, seconds: number): IntervalView['operations'] {
    const operations: IntervalView['operations'] = {};
    for (const [op, h] of iv.ops) {
      const c = latencyStats(h.corrected, false);
      const r = latencyStats(h.raw, false);
      operations[op] = {
        count: c.count,
        perSecond: c.count / seconds,
        p50: c.p50,
        p95: c.p95,
        p99: c.p99,
        max: c.max,
        raw: { p50: r.p50, p95: r.p95, p99: r.p99, max: r.max },
      };
      h.corrected.reset();
      h.raw.reset();
      this.spareIntervalHists.set(op, h);
    }
    return operations;
  }

  /** The closing second's scheduler lateness, if any was recorded; its histogram is kept for the next second. */
  private closeLateness(iv: OpenInterval): IntervalView['lateness'] {
    if (iv.lateness === undefined) return undefined;
    const l = latencyStats(iv.lateness, false);
    iv.lateness.reset();
    this.spareLateness = iv.lateness;
    return { count: l.count, p99: l.p99, max: l.max };
  }

  private rowOf(iv: OpenInterval, gauges: Record<string, number>, latenessP99Ms?: number): TimeseriesRow {
    // The open second (toState) has not been closed: its lateness is read without resetting it.
    const late =
      latenessP99Ms ?? (iv.lateness === undefined ? undefined : (latencyStats(iv.lateness, false).p99 ?? undefined));
    return {
      t: iv.second * 1000,
      seconds: 1,
      generated: iv.ledger.generated,
      acknowledged: iv.ledger.acknowledged,
      failed: iv.ledger.failed,
      errors: iv.errorCount,
      throttled: iv.errors.throttled ?? 0,
      connected: gauges['connected'] ?? 0,
      ...(late === undefined ? {} : { latenessP99Ms: late }),
    };
  }

  /** Bounded memory for long soaks: when full, merge adjacent rows pairwise so the whole run stays, coarser. */
  private compact(): void {
    while (this.rows.length > this.capacity) {
      const out: TimeseriesRow[] = [];
      for (let i = 0; i < this.rows.length; i += 2) {
        const a = this.rows[i]!;
        const b = this.rows[i + 1];
        out.push(b ? joinRows(a, b) : a);
      }
      this.rows = out;
    }
  }
}

function deltaToStats(d: ErrorDelta): ErrorStats {
  return {
    count: d.count,
    byOperation: d.byOperation ?? {},
    lastMessage: d.lastMessage,
    lastAtMs: d.lastAtMs,
    lastOperation: d.lastOperation ?? null,
  };
}

/** Consecutive rows → one row spanning both (gaps included in its length). */
function joinRows(a: TimeseriesRow, b: TimeseriesRow): TimeseriesRow {
  return {
    t: a.t,
    seconds: (b.t - a.t) / 1000 + b.seconds,
    generated: a.generated + b.generated,
    acknowledged: a.acknowledged + b.acknowledged,
    failed: a.failed + b.failed,
    errors: a.errors + b.errors,
    throttled: (a.throttled ?? 0) + (b.throttled ?? 0),
    connected: b.connected,
    ...worstLateness(a.latenessP99Ms, b.latenessP99Ms),
  };
}

/** Percentiles do not add: a row standing for several seconds (or shards) keeps the worst one's p99. */
function worstLateness(a: number | undefined, b: number | undefined): { latenessP99Ms?: number } {
  if (a === undefined) return b === undefined ? {} : { latenessP99Ms: b };
  return { latenessP99Ms: b === undefined ? a : Math.max(a, b) };
}

/** Shards' rows: the same start time means the same second on both machines, so sum them; otherwise interleave. */
function mergeRows(a: readonly TimeseriesRow[], b: readonly TimeseriesRow[]): TimeseriesRow[] {
  const byT = new Map<number, TimeseriesRow>();
  for (const r of a) byT.set(r.t, { ...r });
  for (const r of b) {
    const x = byT.get(r.t);
    if (!x) {
      byT.set(r.t, { ...r });
      continue;
    }
    x.seconds = Math.max(x.seconds, r.seconds);
    x.generated += r.generated;
    x.acknowledged += r.acknowledged;
    x.failed += r.failed;
    x.errors += r.errors;
    x.throttled = (x.throttled ?? 0) + (r.throttled ?? 0);
    x.connected += r.connected;
    const late = worstLateness(x.latenessP99Ms, r.latenessP99Ms).latenessP99Ms;
    if (late !== undefined) x.latenessP99Ms = late;
  }
  return [...byT.values()].sort((x, y) => x.t - y.t);
}
