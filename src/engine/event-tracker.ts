// The coordinator's record of the profile's events: each worker says what an event took away from it and when it
// had its identities and connections back; the fleet is whole again when every worker is. The ledger and errors
// over each event's window come from the merged aggregate, a second at a time.
import type { ProfileEvent } from '../config/profile.js';
import type { FaultEventReport, FleetLevel } from '../metrics/fault-events.js';
import { ERROR_CLASSES, type ErrorClass } from '../metrics/operations.js';
import { emptyLedger, LEDGER_KEYS, type LedgerCounts } from '../metrics/types.js';
import type { MetricsAggregate } from '../metrics/aggregate.js';
import type { FromWorker } from './messages.js';

/** The window closes this long after the fleet is whole: the snapshot that carries that second has landed. */
const WINDOW_TAIL_MS = 1500;

interface Totals {
  ledger: LedgerCounts;
  errors: Record<ErrorClass, number>;
}

interface Part {
  before: FleetLevel;
  tookAway: FleetLevel;
  wholeAt?: number;
}

interface Tracked {
  report: FaultEventReport;
  parts: Map<number, Part>;
  /** Workers still to report their part (targetRestart: those asked). */
  waiting: Set<number>;
  from?: Totals;
  wholeAt?: number;
  closed: boolean;
  reported?: () => void;
}

export type WorkerEventMessage = Extract<FromWorker, { type: 'event' | 'eventWhole' }>;

export class EventTracker {
  private readonly tracked: Tracked[];
  private readonly live: Set<number>;
  private last: Totals = { ledger: emptyLedger(), errors: zeroErrors() };
  private ended = false;

  constructor(
    events: readonly ProfileEvent[],
    private readonly startAt: number,
    workers: readonly number[],
    private readonly say: (line: string) => void = () => {},
  ) {
    this.live = new Set(workers);
    this.tracked = events.map((event, index) => ({
      report: newReport(event, index),
      parts: new Map(),
      waiting: new Set(workers),
      closed: false,
    }));
  }

  fromWorker(m: WorkerEventMessage): void {
    const t = this.tracked[m.index];
    if (t === undefined || this.ended) return;
    if (m.type === 'event') {
      t.parts.set(m.workerIndex, { before: m.before, tookAway: m.tookAway });
      t.waiting.delete(m.workerIndex);
      this.begin(t, m.atMs);
      sumParts(t);
      if (t.waiting.size === 0) t.reported?.();
    } else {
      const part = t.parts.get(m.workerIndex);
      if (part !== undefined) part.wholeAt = m.atMs;
    }
    this.checkWhole(t);
  }

  /** A worker died: nothing more comes from it, and nobody waits for it. */
  workerGone(index: number): void {
    this.live.delete(index);
    for (const t of this.tracked) {
      t.waiting.delete(index);
      if (t.waiting.size === 0) t.reported?.();
      this.checkWhole(t);
    }
  }

  /** Resolves once every worker asked has reported its part of events[index] (or after `timeoutMs`). */
  whenReported(index: number, workers: readonly number[], timeoutMs: number): Promise<void> {
    const t = this.tracked[index];
    if (t === undefined) return Promise.resolve();
    t.waiting = new Set(workers.filter((w) => this.live.has(w)));
    if (t.waiting.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      t.reported = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** The coordinator itself acted at `atMs` (it killed the target): the event's time. */
  started(index: number, atMs: number): void {
    const t = this.tracked[index];
    if (t === undefined) return;
    t.report.startedAtMs = atMs;
    t.report.at = new Date(atMs).toISOString();
    if (t.from === undefined) t.from = this.last;
  }

  /** The target is back (or will be at `atMs`, for an outage the target ends itself). */
  targetBack(index: number, atMs: number): void {
    const t = this.tracked[index];
    if (t !== undefined) {
      t.report.targetBackAtMs = atMs;
      this.checkWhole(t);
    }
  }

  setTarget(index: number, target: NonNullable<FaultEventReport['target']>): void {
    const t = this.tracked[index];
    if (t !== undefined) t.report.target = target;
  }

  /** Once a second, with what has been merged: windows that are done close, the lowest level is kept. */
  tick(now: number, aggregate: MetricsAggregate, connected: number): void {
    this.last = totalsOf(aggregate);
    for (const t of this.tracked) {
      if (t.report.startedAtMs === null || t.closed) continue;
      const low = t.report.lowestConnected;
      t.report.lowestConnected = low === null ? connected : Math.min(low, connected);
      if (t.wholeAt !== undefined && now >= t.wholeAt + WINDOW_TAIL_MS) this.close(t, now, this.last);
    }
  }

  /** The profile is over (the fleet starts stopping): what is not whole now is reported as such. */
  profileEnded(level: FleetLevel): void {
    this.ended = true;
    for (const t of this.tracked) {
      if (t.report.startedAtMs === null) {
        t.report.notWhole = 'it did not happen: the run ended before its time';
      } else if (t.report.wholeAfterMs === null) {
        const b = t.report.before;
        t.report.notWhole =
          `never whole again before the end: ${level.identities} of ${b.identities} identities ` +
          `connected and ${level.connections} of ${b.connections} connections open at the end`;
      }
    }
  }

  /** Every event, its window closed with the final aggregate where it was still open. */
  finish(endMs: number, aggregate: MetricsAggregate): FaultEventReport[] {
    const totals = totalsOf(aggregate);
    for (const t of this.tracked) if (!t.closed && t.report.startedAtMs !== null) this.close(t, endMs, totals);
    return this.reports();
  }

  /** As things stand (copies). */
  reports(): FaultEventReport[] {
    return this.tracked.map((t) => structuredClone(t.report));
  }

  private begin(t: Tracked, atMs: number): void {
    if (t.report.startedAtMs !== null && t.report.startedAtMs <= atMs) return;
    if (t.report.kind === 'targetRestart' && t.report.startedAtMs !== null) return;
    t.report.startedAtMs = atMs;
    t.report.at = new Date(atMs).toISOString();
    t.from ??= this.last;
    const duration = t.report.spec.duration;
    if (t.report.kind === 'targetOutage' && typeof duration === 'number') t.report.targetBackAtMs = atMs + duration;
  }

  private checkWhole(t: Tracked): void {
    if (t.wholeAt !== undefined || t.report.startedAtMs === null || t.waiting.size > 0 || t.parts.size === 0) return;
    let latest = 0;
    for (const [worker, part] of t.parts) {
      if (!this.live.has(worker)) continue;
      if (part.wholeAt === undefined) return;
      latest = Math.max(latest, part.wholeAt);
    }
    const r = t.report;
    // A target that is still down cannot have the fleet whole (a worker's part may come back early by chance).
    if (r.targetBackAtMs === null) return;
    t.wholeAt = Math.max(latest, r.startedAtMs ?? latest);
    r.wholeAfterMs = t.wholeAt - (r.startedAtMs ?? t.wholeAt);
    if (r.targetBackAtMs !== undefined) r.wholeAfterTargetBackMs = Math.max(0, t.wholeAt - r.targetBackAtMs);
    delete r.notWhole;
    this.say(`events[${r.index}] ${r.kind}: the fleet is whole again after ${(r.wholeAfterMs / 1000).toFixed(1)} s`);
  }

  private close(t: Tracked, toMs: number, totals: Totals): void {
    t.closed = true;
    const from = t.from ?? { ledger: emptyLedger(), errors: zeroErrors() };
    const ledger = emptyLedger();
    for (const k of LEDGER_KEYS) ledger[k] = totals.ledger[k] - from.ledger[k];
    const errors: Partial<Record<ErrorClass, number>> = {};
    for (const cls of ERROR_CLASSES) {
      const n = totals.errors[cls] - from.errors[cls];
      if (n > 0) errors[cls] = n;
    }
    t.report.window = { fromMs: t.report.startedAtMs ?? this.startAt, toMs };
    t.report.ledger = { ...ledger, lost: ledger.failed + ledger.expired };
    t.report.errors = errors;
  }
}

function newReport(event: ProfileEvent, index: number): FaultEventReport {
  const { at, kind, ...spec } = event;
  return {
    index,
    kind,
    spec,
    atMs: at,
    at: null,
    startedAtMs: null,
    before: { identities: 0, connections: 0 },
    tookAway: { identities: 0, connections: 0 },
    ...(kind === 'targetOutage' || kind === 'targetRestart'
      ? { targetBackAtMs: null, wholeAfterTargetBackMs: null }
      : {}),
    lowestConnected: null,
    wholeAfterMs: null,
    window: null,
    ledger: null,
    errors: {},
  };
}

function sumParts(t: Tracked): void {
  const before = { identities: 0, connections: 0 };
  const took = { identities: 0, connections: 0 };
  for (const part of t.parts.values()) {
    before.identities += part.before.identities;
    before.connections += part.before.connections;
    took.identities += part.tookAway.identities;
    took.connections += part.tookAway.connections;
  }
  t.report.before = before;
  t.report.tookAway = took;
}

function zeroErrors(): Record<ErrorClass, number> {
  return Object.fromEntries(ERROR_CLASSES.map((c) => [c, 0])) as Record<ErrorClass, number>;
}

function totalsOf(aggregate: MetricsAggregate): Totals {
  const errors = zeroErrors();
  for (const [cls, e] of Object.entries(aggregate.errors())) errors[cls as ErrorClass] = e.count;
  const ledger = aggregate.ledger();
  const counts = emptyLedger();
  for (const k of LEDGER_KEYS) counts[k] = ledger[k];
  return { ledger: counts, errors };
}
