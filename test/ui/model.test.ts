import { describe, expect, it } from 'vitest';
import { describeStage } from '../../src/config/stage.js';
import { MetricsAggregate, type IntervalView } from '../../src/metrics/aggregate.js';
import { MetricsRecorder } from '../../src/metrics/recorder.js';
import { ledgerTotals } from '../../src/metrics/types.js';
import { HISTORY_SECONDS, fromAggregate, initialState, nextState, type DashboardState } from '../../src/ui/model.js';

const T0 = 1_790_000_000_000;

const base = (): DashboardState =>
  initialState({
    scenario: 's',
    profile: 'p',
    target: 't',
    startedAtMs: T0,
    durationMs: 60_000,
    groups: [{ name: 'gw', pattern: 'transparent' }, { name: 'dev' }],
  });

/** A closed second ending at T0 + s seconds, telemetry p99 = p99. */
function interval(s: number, p99: number | null, extra: Partial<IntervalView> = {}): IntervalView {
  const ops: IntervalView['operations'] = {};
  if (p99 !== null)
    ops.telemetry = {
      count: 10,
      perSecond: 10,
      p50: p99 / 4,
      p95: p99 / 2,
      p99,
      max: p99 * 2,
      raw: { p50: 1, p95: 1, p99: 1, max: 1 },
    };
  return {
    startMs: T0 + (s - 1) * 1000,
    endMs: T0 + s * 1000,
    seconds: 1,
    operations: ops,
    ledger: {
      generated: 10,
      acknowledged: 9,
      failed: 1,
      expired: 0,
      dropped: 0,
      stored: 0,
      deliveredLate: 0,
      resent: 0,
    },
    rates: {
      generatedPerSecond: 10,
      acknowledgedPerSecond: 9,
      failedPerSecond: 1,
      errorsPerSecond: 2,
      throttledPerSecond: 0,
    },
    errors: {},
    gauges: {},
    connected: 3,
    snapshots: 2,
    ...extra,
  };
}

describe('nextState', () => {
  it('sums identities by state over workers, keeps known groups (and their pattern) first, appends new ones', () => {
    const s = nextState(base(), {
      now: T0 + 5000,
      states: [
        { dev: { connected: 3, failed: 1 }, new: { waiting: 2 } },
        { dev: { connected: 4, backingOff: 2, bogus: 9 }, gw: { connecting: 1 } },
      ],
    });
    expect(s.elapsedMs).toBe(5000);
    expect(s.groups.map((g) => g.name)).toEqual(['gw', 'dev', 'new']);
    expect(s.groups[0]).toMatchObject({ pattern: 'transparent', states: { connecting: 1, connected: 0 } });
    expect(s.groups[1]!.states).toEqual({
      waiting: 0,
      provisioning: 0,
      connecting: 0,
      connected: 7,
      backingOff: 2,
      stopped: 0,
      failed: 1,
    });
    expect(s.groups[2]!.states.waiting).toBe(2);
  });

  it('folds each closed second once into the sparkline history, and bounds it', () => {
    let s = base();
    for (let i = 1; i <= HISTORY_SECONDS + 15; i++) {
      s = nextState(s, { now: T0 + i * 1000, interval: interval(i, i) });
      // The same interval read again (a tick faster than the aggregate closes seconds) adds nothing.
      s = nextState(s, { now: T0 + i * 1000 + 300, interval: interval(i, i) });
    }
    const tel = s.operations.find((o) => o.name === 'telemetry')!;
    expect(tel.history).toHaveLength(HISTORY_SECONDS);
    expect(tel.history.at(-1)).toBe(HISTORY_SECONDS + 15);
    expect(tel.history[0]).toBe(16);
    expect(tel.count).toBe(10 * (HISTORY_SECONDS + 15));
    expect(tel.p99).toBe(HISTORY_SECONDS + 15);
    expect(s.rates).toEqual({
      sentPerSecond: 10,
      ackedPerSecond: 9,
      failedPerSecond: 1,
      errorsPerSecond: 2,
      throttledPerSecond: 0,
    });
  });

  it('records a second without samples, and seconds it never saw, as gaps (null), not as 0 or squeezed out', () => {
    let s = nextState(base(), { now: T0 + 1000, interval: interval(1, 5) });
    s = nextState(s, { now: T0 + 2000, interval: interval(2, null) });
    s = nextState(s, { now: T0 + 5000, interval: interval(5, 7) });
    const tel = s.operations.find((o) => o.name === 'telemetry')!;
    expect(tel.history).toEqual([5, null, null, null, 7]);
    expect(tel.p50).toBe(7 / 4);
  });

  it('takes cumulative counts, ledger, errors (sorted, one line, no escapes) and lateness as given', () => {
    const s = nextState(base(), {
      now: T0,
      interval: interval(1, 3),
      operationTotals: { telemetry: 1234 },
      ledger: ledgerTotals({
        generated: 100,
        acknowledged: 90,
        failed: 3,
        expired: 1,
        dropped: 2,
        stored: 5,
        deliveredLate: 4,
        resent: 0,
      }),
      errors: {
        auth: { count: 2, lastMessage: 'not authorized' },
        timeout: { count: 7, lastMessage: 'no PUBACK\n\u001B[31mwithin\u001B[0m\t30 s' },
        server: { count: 0, lastMessage: null },
      },
      lateness: { p99: 1.5, max: 9 },
    });
    expect(s.operations[0]).toMatchObject({ name: 'telemetry', count: 1234 });
    expect(s.ledger).toMatchObject({ generated: 100, inFlight: 4, balanced: true, stored: 5 });
    expect(s.errors).toEqual([
      { cls: 'timeout', count: 7, lastMessage: 'no PUBACK within 30 s' },
      { cls: 'auth', count: 2, lastMessage: 'not authorized' },
    ]);
    // Since the start: the max and the run's p99; the last second's p99 comes with the interval (none here).
    expect(s.lateness).toEqual({ p99: null, history: [null], runP99: 1.5, max: 9 });
  });

  it('does not modify the previous state', () => {
    const prev = nextState(base(), { now: T0 + 1000, interval: interval(1, 5) });
    const copy = structuredClone(prev);
    nextState(prev, { now: T0 + 2000, interval: interval(2, 6), states: [{ dev: { connected: 1 } }] });
    expect(prev).toEqual(copy);
  });

  it('orders operations as the report does', () => {
    const iv = interval(1, 3);
    iv.operations.connect = iv.operations.telemetry!;
    iv.operations.provision = iv.operations.telemetry!;
    const s = nextState(base(), { now: T0, interval: iv });
    expect(s.operations.map((o) => o.name)).toEqual(['provision', 'connect', 'telemetry']);
  });
});

describe('fromAggregate', () => {
  it('reads a real aggregate: the closed second, totals, errors and lateness', () => {
    const agg = new MetricsAggregate();
    const rec = new MetricsRecorder(T0);
    for (let i = 0; i < 100; i++) rec.recordLatency('telemetry', T0 + i, T0 + i, T0 + i + 2 + (i % 10));
    rec.recordLateness(3);
    rec.recordError('timeout', 'no answer', 'telemetry');
    rec.ledger.generated += 100;
    rec.ledger.acknowledged += 99;
    agg.add(0, rec.snapshot(T0 + 999));
    agg.tick(T0 + 2000);
    const s = nextState(base(), { now: T0 + 2000, ...fromAggregate(agg) });
    const tel = s.operations.find((o) => o.name === 'telemetry')!;
    expect(tel.count).toBe(100);
    expect(tel.p99).toBeGreaterThanOrEqual(11);
    expect(tel.history).toHaveLength(1);
    expect(s.ledger).toMatchObject({ generated: 100, acknowledged: 99, inFlight: 1 });
    expect(s.errors).toEqual([{ cls: 'timeout', count: 1, lastMessage: 'no answer' }]);
    expect(s.lateness.p99).toBeCloseTo(3, 1);
    expect(s.rates.sentPerSecond).toBe(100);
  });
});

describe('describeStage', () => {
  const arrivals = {
    startRate: 0,
    stages: [
      { duration: 120_000, target: 50 },
      { duration: 60_000, target: 50 },
    ],
  };
  const run = { durationMs: 300_000, rampDownMs: 30_000 };
  it('names where the run is', () => {
    expect(describeStage(arrivals, 10_000, run)).toBe('stage 1/2 → 50/s');
    expect(describeStage(arrivals, 150_000, run)).toBe('stage 2/2 → 50/s');
    expect(describeStage(arrivals, 200_000, run)).toBe('hold 50/s');
    expect(describeStage(arrivals, 280_000, run)).toBe('ramp-down');
    expect(describeStage(arrivals, 300_000, run)).toBe('draining');
    expect(describeStage(arrivals, 10_000, { ...run, stopping: true })).toBe('draining');
    expect(describeStage({ startRate: 100, stages: [] }, 10_000, { durationMs: 60_000 })).toBe('arrivals 100/s');
  });
});

describe('identities per pattern', () => {
  it('sums states per pattern over workers, known patterns first in a fixed order, named for people', () => {
    const s = nextState(base(), {
      now: T0 + 1000,
      patterns: [
        { iotEdge: { connected: 2 }, device: { connected: 5, failed: 1 }, futureThing: { waiting: 1 } },
        { device: { connected: 3 }, downstream: { backingOff: 4 } },
      ],
    });
    expect(s.patterns.map((p) => [p.pattern, p.label])).toEqual([
      ['device', 'plain device'],
      ['iotEdge', 'IoT Edge device'],
      ['downstream', 'downstream device'],
      ['futureThing', 'futureThing'],
    ]);
    expect(s.patterns[0]!.states).toMatchObject({ connected: 8, failed: 1 });
    expect(s.patterns[2]!.states.backingOff).toBe(4);
    // A pattern once seen keeps its row (at 0) when no worker reports it any more.
    const later = nextState(s, { now: T0 + 2000, patterns: [{ device: { stopped: 8 } }] });
    expect(later.patterns.map((p) => p.pattern)).toEqual(['device', 'iotEdge', 'downstream', 'futureThing']);
    expect(later.patterns[1]!.states.connected).toBe(0);
  });

  it('labels a group by the patterns its things report', () => {
    const s = initialState({
      scenario: 's',
      profile: 'p',
      target: 't',
      startedAtMs: T0,
      durationMs: 1000,
      groups: [
        { name: 'gw', patterns: ['iotEdge'] },
        { name: 'mixed', patterns: ['iotEdge', 'downstream'] },
        { name: 'unknown' },
      ],
    });
    expect(s.groups.map((g) => g.pattern)).toEqual([
      'IoT Edge device',
      'IoT Edge device + downstream device',
      undefined,
    ]);
  });
});

describe('scheduler lateness per second', () => {
  it("takes each closed second's p99 into a history with gaps, and the max since the start as given", () => {
    let s = base();
    s = nextState(s, {
      now: T0 + 1000,
      interval: interval(1, 3, { lateness: { count: 10, p99: 0.4, max: 0.5 } }),
      lateness: { p99: 0.4, max: 0.5 },
    });
    s = nextState(s, { now: T0 + 2000, interval: interval(2, 3) }); // no timer fired that second
    s = nextState(s, {
      now: T0 + 5000,
      interval: interval(5, 3, { lateness: { count: 10, p99: 12, max: 20 } }),
      lateness: { p99: 3, max: 20 },
    });
    expect(s.lateness).toEqual({ p99: 12, history: [0.4, null, null, null, 12], runP99: 3, max: 20 });
  });
});
