import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MetricsAggregate } from '../../src/metrics/aggregate.js';
import { encodeHistogram, newCumulativeHistogram, usToMs } from '../../src/metrics/histogram.js';
import { OPERATIONS, type Operation } from '../../src/metrics/operations.js';
import { MetricsRecorder } from '../../src/metrics/recorder.js';
import type { MetricsSnapshot } from '../../src/metrics/types.js';
import { expectWithinHdr, lcg } from './helpers.js';

const T0 = 1_790_000_000_000;

interface Sample {
  op: Operation;
  intended: number;
  started: number;
  ended: number;
}

function samples(n: number, seed: number): Sample[] {
  const rnd = lcg(seed);
  const out: Sample[] = [];
  for (let i = 0; i < n; i++) {
    const op = OPERATIONS[Math.floor(rnd() * 3)]!; // provision, connect, telemetry
    const intended = i;
    const started = intended + rnd() * rnd() * 200; // scheduler delay, long tail
    const ended = started + 0.2 + rnd() * rnd() * 500;
    out.push({ op, intended, started, ended });
  }
  return out;
}

/** One recorder per worker, one snapshot per second-sized chunk of samples. */
function snapshotsOf(all: Sample[], seed: number, chunks = 3): MetricsSnapshot[] {
  const r = new MetricsRecorder(T0);
  const per = Math.ceil(all.length / chunks);
  const out: MetricsSnapshot[] = [];
  for (let c = 0; c < chunks; c++) {
    for (const s of all.slice(c * per, (c + 1) * per)) r.recordLatency(s.op, s.intended, s.started, s.ended);
    r.ledger.generated += 10 + seed;
    r.ledger.acknowledged += 7;
    r.ledger.failed += 1;
    vi.setSystemTime(T0 + c * 1000 + seed * 10); // recordError stamps Date.now()
    r.recordError('timeout', `timeout seed ${seed} #${c}`, 'telemetry');
    r.recordLateness(c + seed);
    r.setGauge('connected', 5 + c);
    out.push(r.snapshot(T0 + (c + 1) * 1000 + seed));
  }
  return out;
}

/** Adds the workers' snapshots in time order, as they would arrive at a coordinator. */
function feedAll(agg: MetricsAggregate, workers: Array<[string, Sample[], number]>): void {
  const all = workers.flatMap(([id, data, seed]) => snapshotsOf(data, seed).map((snap) => ({ id, snap })));
  all.sort((x, y) => x.snap.endMs - y.snap.endMs);
  for (const { id, snap } of all) agg.add(id, snap);
}

const feed = (agg: MetricsAggregate, id: string, data: Sample[], seed: number) => feedAll(agg, [[id, data, seed]]);

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

function exactPercentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe('snapshot → aggregate round trip', () => {
  it('keeps counts and percentiles (within HDR precision) across workers', () => {
    const agg = new MetricsAggregate();
    const data = [samples(3000, 1), samples(2000, 2), samples(1000, 3)];
    data.forEach((d, w) => feed(agg, `w${w}`, d, w));
    const all = data.flat();
    for (const op of ['provision', 'connect', 'telemetry'] as const) {
      const mine = all.filter((s) => s.op === op);
      const corrected = mine.map((s) => s.ended - s.intended);
      const raw = mine.map((s) => s.ended - s.started);
      const c = agg.latency(op, 'corrected');
      const r = agg.latency(op, 'raw');
      expect(c.count).toBe(mine.length);
      expect(r.count).toBe(mine.length);
      for (const p of [50, 95, 99] as const) {
        const key = `p${p}` as const;
        expectWithinHdr(c[key], exactPercentile(corrected, p));
        expectWithinHdr(r[key], exactPercentile(raw, p));
      }
      expectWithinHdr(c.max, Math.max(...corrected));
      expect(c.p99!).toBeGreaterThan(r.p99!); // correction adds the scheduler delay
    }
    expect(agg.latency('c2d').count).toBe(0);
    expect(agg.latency('c2d').p50).toBeNull();
    const l = agg.ledger();
    expect(l).toMatchObject({ generated: 3 * (10 + 11 + 12), acknowledged: 63, failed: 9 });
    expect(l.inFlight).toBe(l.generated - 63 - 9);
    expect(agg.errors().timeout.count).toBe(9);
    expect(agg.latenessHistogram()!.totalCount).toBe(9);
  });

  it('sums gauges over workers, each worker counted once with its latest value', () => {
    const agg = new MetricsAggregate();
    const a = new MetricsRecorder(T0);
    const b = new MetricsRecorder(T0);
    a.setGauge('connected', 10);
    b.setGauge('connected', 4);
    b.setGauge('backingOff', 1);
    agg.add(1, a.snapshot(T0 + 1000));
    agg.add(2, b.snapshot(T0 + 1000));
    a.setGauge('connected', 12);
    agg.add(1, a.snapshot(T0 + 2000));
    expect(agg.gauges()).toEqual({ connected: 16, backingOff: 1 });
    agg.removeWorker(2);
    expect(agg.gauges()).toEqual({ connected: 12 });
  });

  it('keeps the latest error message per class across workers', () => {
    const agg = new MetricsAggregate();
    const snap = (msg: string, at: number): MetricsSnapshot => ({
      v: 1,
      startMs: T0,
      endMs: T0 + 1000,
      ops: {},
      ledger: {
        generated: 0,
        acknowledged: 0,
        failed: 0,
        expired: 0,
        dropped: 0,
        stored: 0,
        deliveredLate: 0,
        resent: 0,
      },
      gauges: {},
      errors: {
        throttled: { count: 2, byOperation: { connect: 2 }, lastMessage: msg, lastAtMs: at, lastOperation: 'connect' },
      },
      rejected: 0,
      clamped: 0,
    });
    agg.add('a', snap('newest', T0 + 900));
    agg.add('b', snap('older', T0 + 100)); // arrives later but happened earlier
    const e = agg.errors().throttled;
    expect(e).toMatchObject({ count: 4, lastMessage: 'newest', lastAtMs: T0 + 900, byOperation: { connect: 4 } });
    expect(agg.errors().auth).toEqual({
      count: 0,
      byOperation: {},
      lastMessage: null,
      lastAtMs: null,
      lastOperation: null,
    });
  });

  it('refuses a snapshot of an unknown version', () => {
    expect(() => new MetricsAggregate().add(0, { v: 2 } as never)).toThrow(/version/);
  });
});

describe('merge', () => {
  function statsOf(agg: MetricsAggregate) {
    return {
      ops: OPERATIONS.map((op) => [agg.latency(op, 'corrected'), agg.latency(op, 'raw')]),
      ledger: agg.ledger(),
      errors: agg.errors(),
      lateness: agg.latenessHistogram()?.totalCount,
      latenessP99: agg.latenessHistogram()?.getValueAtPercentile(99),
      startMs: agg.startMs,
      endMs: agg.endMs,
    };
  }

  it('merging two aggregates equals recording everything in one', () => {
    const data = [samples(2500, 11), samples(1500, 12), samples(700, 13)];
    const one = new MetricsAggregate();
    feedAll(
      one,
      data.map((d, w) => [`w${w}`, d, w] as [string, Sample[], number]),
    );
    const a = new MetricsAggregate({ shard: 'A' });
    const b = new MetricsAggregate({ shard: 'B' });
    feedAll(a, [
      ['w0', data[0]!, 0],
      ['w1', data[1]!, 1],
    ]);
    feedAll(b, [['w2', data[2]!, 2]]);
    a.merge(b);
    expect(statsOf(a)).toEqual(statsOf(one));
    // Exact, bucket for bucket, not just the summary percentiles.
    for (const op of ['provision', 'connect', 'telemetry'] as const) {
      expect(a.histogram(op)!.outputPercentileDistribution()).toBe(one.histogram(op)!.outputPercentileDistribution());
    }
    one.flush();
    expect(a.timeseries).toEqual(one.timeseries);
    expect(a.timeseries.reduce((n, r) => n + r.generated, 0)).toBe(one.ledger().generated);
  });

  it('survives JSON between machines (toState / fromState)', () => {
    const a = new MetricsAggregate({ shard: 'A' });
    const b = new MetricsAggregate({ shard: 'B' });
    const one = new MetricsAggregate();
    const d1 = samples(800, 21);
    const d2 = samples(900, 22);
    feed(a, 'w0', d1, 0);
    feed(b, 'w0', d2, 1);
    feedAll(one, [
      ['x', d1, 0],
      ['y', d2, 1],
    ]);
    const shipped = MetricsAggregate.fromState(JSON.parse(JSON.stringify(b.toState())));
    expect(shipped.shard).toBe('B');
    a.merge(shipped);
    expect(statsOf(a)).toEqual(statsOf(one));
    // Both shards had a worker "w0": their gauges must both count.
    expect(a.gauges()).toEqual(one.gauges());
  });

  it('keeps large counts exact (64-bit buckets)', () => {
    const h = newCumulativeHistogram();
    h.recordValueWithCount(1234, 5e9);
    const a = new MetricsAggregate();
    const state = a.toState();
    // Inject a histogram with a count beyond 32 bits through the state path.
    state.ops.telemetry = { corrected: encodeHistogram(h), raw: encodeHistogram(h) };
    const b = MetricsAggregate.fromState(state);
    expect(b.latency('telemetry').count).toBe(5e9);
    expectWithinHdr(b.latency('telemetry').p50, usToMs(1234));
  });
});

describe('interval views and timeseries', () => {
  function snapAt(r: MetricsRecorder, endMs: number, n: number, latencyMs: number): MetricsSnapshot {
    for (let i = 0; i < n; i++) r.recordLatency('telemetry', 0, 0, latencyMs);
    r.ledger.generated += n;
    r.ledger.acknowledged += n - 1;
    r.setGauge('connected', n);
    return r.snapshot(endMs);
  }

  it('groups snapshots by wall-clock second and closes a second when the next one starts', () => {
    const agg = new MetricsAggregate();
    const a = new MetricsRecorder(T0);
    const b = new MetricsRecorder(T0);
    agg.add('a', snapAt(a, T0 + 10_500, 100, 5));
    agg.add('b', snapAt(b, T0 + 10_900, 50, 20));
    expect(agg.lastInterval()).toBeUndefined();
    agg.add('a', snapAt(a, T0 + 11_400, 10, 1));
    const v = agg.lastInterval()!;
    expect(v.startMs).toBe(T0 + 10_000);
    expect(v.snapshots).toBe(2);
    expect(v.operations.telemetry!.count).toBe(150);
    expect(v.operations.telemetry!.perSecond).toBe(150);
    expectWithinHdr(v.operations.telemetry!.p50, 5);
    expectWithinHdr(v.operations.telemetry!.p99, 20);
    expect(v.rates).toEqual({
      generatedPerSecond: 150,
      acknowledgedPerSecond: 148,
      failedPerSecond: 0,
      errorsPerSecond: 0,
      throttledPerSecond: 0,
    });
    expect(v.connected).toBe(150);
    expect(agg.timeseries).toHaveLength(1);

    // tick closes the open second once its grace period has passed
    agg.tick(T0 + 12_100);
    expect(agg.lastInterval()!.startMs).toBe(T0 + 10_000);
    agg.tick(T0 + 12_300);
    expect(agg.lastInterval()!.startMs).toBe(T0 + 11_000);
    expect(agg.lastInterval()!.operations.telemetry!.count).toBe(10);
    expect(agg.timeseries.map((r) => r.generated)).toEqual([150, 10]);

    // A late snapshot for a closed second lands in the next one instead of being lost.
    agg.add('b', snapAt(b, T0 + 11_950, 7, 1));
    agg.flush();
    expect(agg.timeseries.map((r) => r.t - T0)).toEqual([10_000, 11_000, 12_000]);
    expect(agg.timeseries.at(-1)!.generated).toBe(7);
    // Cumulative totals are unaffected by interval bookkeeping.
    expect(agg.latency('telemetry').count).toBe(167);
  });

  it('stays bounded on long runs by halving resolution, keeping every count', () => {
    const agg = new MetricsAggregate({ timeseriesCapacity: 10 });
    const r = new MetricsRecorder(T0);
    for (let s = 1; s <= 35; s++) {
      r.ledger.generated += 2;
      agg.add('w', r.snapshot(T0 + s * 1000 + 100));
    }
    agg.flush();
    expect(agg.timeseries.length).toBeLessThanOrEqual(10);
    expect(agg.timeseries.reduce((n, x) => n + x.generated, 0)).toBe(70);
    expect(agg.timeseries.reduce((n, x) => n + x.seconds, 0)).toBe(35);
    expect(agg.timeseries[0]!.t).toBe(T0 + 1000);
  });
});

describe('scheduler lateness per second', () => {
  it('gives each closed second its own p99 (two workers added), and the timeseries row carries it', () => {
    const agg = new MetricsAggregate({ closeGraceMs: 0 });
    const a = new MetricsRecorder(T0);
    const b = new MetricsRecorder(T0);
    // Second 1: worker a fires 99 timers on time and one 40 ms late; worker b one 2 ms late.
    for (let i = 0; i < 99; i++) a.recordLateness(0.1);
    a.recordLateness(40);
    b.recordLateness(2);
    agg.add('a', a.snapshot(T0 + 900));
    agg.add('b', b.snapshot(T0 + 950));
    agg.tick(T0 + 1000);
    const first = agg.lastInterval()!;
    expect(first.lateness!.count).toBe(101);
    expectWithinHdr(first.lateness!.max, 40);
    // Second 2: only small lateness; it must not inherit the first second's 40 ms.
    for (let i = 0; i < 50; i++) a.recordLateness(1);
    agg.add('a', a.snapshot(T0 + 1900));
    agg.tick(T0 + 2000);
    const second = agg.lastInterval()!;
    expectWithinHdr(second.lateness!.p99, 1);
    // Second 3: no timer fired at all.
    agg.add('a', a.snapshot(T0 + 2900));
    agg.tick(T0 + 3000);
    expect(agg.lastInterval()!.lateness).toBeUndefined();
    const rows = agg.timeseries;
    expect(rows).toHaveLength(3);
    expectWithinHdr(rows[1]!.latenessP99Ms, 1);
    expect(rows[2]!.latenessP99Ms).toBeUndefined();
    // Cumulative lateness still has everything.
    expect(agg.latenessHistogram()!.totalCount).toBe(151);
  });

  it('keeps the worst second when rows are joined (long runs) or shards merged', () => {
    const agg = new MetricsAggregate({ closeGraceMs: 0, timeseriesCapacity: 2 });
    const r = new MetricsRecorder(T0);
    for (const [s, late] of [
      [1, 5],
      [2, 30],
      [3, 1],
      [4, 2],
    ] as const) {
      r.recordLateness(late);
      agg.add(0, r.snapshot(T0 + s * 1000 - 100));
      agg.tick(T0 + s * 1000);
    }
    // Four seconds in two rows of two: the p99 of each is its worse second's.
    expect(agg.timeseries).toHaveLength(2);
    expectWithinHdr(agg.timeseries[0]!.latenessP99Ms, 30);
    expectWithinHdr(agg.timeseries[1]!.latenessP99Ms, 2);
    const other = MetricsAggregate.fromState(agg.toState());
    other.merge(agg);
    expectWithinHdr(other.timeseries[0]!.latenessP99Ms, 30);
  });
});
