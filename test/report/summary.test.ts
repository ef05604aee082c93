import { describe, expect, it } from 'vitest';
import { OPERATIONS, ERROR_CLASSES } from '../../src/metrics/operations.js';
import { buildSummary, type RunSummary } from '../../src/report/summary.js';
import { expectWithinHdr } from '../metrics/helpers.js';
import { knownAggregate, T0 } from './fixture.js';

const REQUIRED_PATHS = [
  'runId',
  'startedAt',
  'endedAt',
  'durationSeconds',
  ...OPERATIONS.flatMap((op) =>
    ['count', 'p50', 'p95', 'p99', 'p999', 'max', 'mean'].flatMap((k) => [
      `operations.${op}.${k}`,
      `operations.${op}.raw.${k}`,
    ]),
  ),
  ...['generated', 'acknowledged', 'failed', 'expired', 'dropped', 'inFlight', 'stored', 'deliveredLate'].map(
    (k) => `ledger.${k}`,
  ),
  ...ERROR_CLASSES.filter((c) => c !== 'other').flatMap((c) => [`errors.${c}.count`, `errors.${c}.lastMessage`]),
  'scheduler.lateness.p50',
  'scheduler.lateness.p99',
  'scheduler.lateness.max',
  'reconciliation',
  'scenario',
  'profile',
  'target',
  'seed',
  'shard',
];

function has(obj: unknown, path: string): boolean {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, part)) return false;
    cur = (cur as Record<string, unknown>)[part];
  }
  return true;
}

describe('summary.json', () => {
  const summary = buildSummary(knownAggregate(), { runId: 'run-1' });
  const json: RunSummary = JSON.parse(JSON.stringify(summary));

  it('has every key the design lists, after a JSON round trip', () => {
    const missing = REQUIRED_PATHS.filter((p) => !has(json, p));
    expect(missing).toEqual([]);
  });

  it('reports corrected latency with raw beside it, in ms', () => {
    const c = json.operations.connect;
    expect(c.count).toBe(1);
    expectWithinHdr(c.p50, 50);
    expectWithinHdr(c.raw.p50, 10);
    const t = json.operations.telemetry;
    expect(t.count).toBe(100);
    expect(t.raw.count).toBe(100);
    expectWithinHdr(t.raw.p50, 50);
    expectWithinHdr(t.p50, 60);
    expectWithinHdr(t.raw.p99, 99);
    expectWithinHdr(t.max, 110);
    expectWithinHdr(t.raw.mean, 50.5);
    expect(json.operations.c2d).toMatchObject({ count: 0, p50: null, max: null, raw: { count: 0, p99: null } });
  });

  it('carries the ledger with inFlight, errors with their latest message, gauges and lateness', () => {
    expect(json.ledger).toEqual({
      generated: 110,
      acknowledged: 100,
      failed: 3,
      expired: 2,
      dropped: 1,
      stored: 5,
      deliveredLate: 4,
      resent: 0,
      inFlight: 4,
      balanced: true,
    });
    expect(json.errors.throttled).toMatchObject({
      count: 2,
      lastMessage: 'HTTP 429 Too Many Requests',
      lastOperation: 'telemetry',
    });
    expect(json.errors.auth).toMatchObject({ count: 1, lastMessage: 'CONNACK 5 not authorized' });
    expect(json.errors.timeout).toMatchObject({ count: 0, lastMessage: null });
    expect(json.gauges).toEqual({ connected: 10 });
    expectWithinHdr(json.scheduler.lateness.max, 4.5);
    expect(json.scheduler.lateness.p50).toBeLessThan(json.scheduler.lateness.p99!);
  });

  it('takes its time span from the snapshots unless told', () => {
    expect(json.startedAt).toBe(new Date(T0).toISOString());
    expect(json.endedAt).toBe(new Date(T0 + 2000).toISOString());
    expect(json.durationSeconds).toBe(2);
    const told = buildSummary(knownAggregate(), {
      runId: 'r',
      startedAt: '2026-01-01T00:00:00Z',
      endedAt: new Date('2026-01-01T00:01:30Z'),
    });
    expect(told.durationSeconds).toBe(90);
  });

  it('echoes scenario/target/seed/shard/reconciliation, with credentials redacted', () => {
    const s = buildSummary(knownAggregate(), {
      runId: 'r',
      seed: 42,
      shard: { index: 1, count: 4 },
      scenario: { name: 'soak', devices: 1000, dps: { idScope: '0ne00000001', groupKey: 'c2VjcmV0a2V5' } },
      profile: 'ci',
      target: {
        kind: 'iot-hub',
        connectionString: 'HostName=h.azure-devices.net;SharedAccessKeyName=x;SharedAccessKey=abc=',
        host: 'h.azure-devices.net',
      },
      reconciliation: { acknowledgedNotReceived: 2, receivedNotAcknowledged: 0 },
    });
    const text = JSON.stringify(s);
    expect(text).not.toContain('c2VjcmV0a2V5');
    expect(text).not.toContain('SharedAccessKey=abc');
    expect(s.scenario).toEqual({
      name: 'soak',
      devices: 1000,
      dps: { idScope: '0ne00000001', groupKey: '[redacted]' },
    });
    expect(s.target).toMatchObject({ kind: 'iot-hub', host: 'h.azure-devices.net', connectionString: '[redacted]' });
    expect(s).toMatchObject({ seed: 42, shard: { index: 1, count: 4 }, profile: 'ci' });
    expect(s.reconciliation).toEqual({ acknowledgedNotReceived: 2, receivedNotAcknowledged: 0 });
    expect(json).toMatchObject({ seed: null, shard: null, reconciliation: null, scenario: null });
  });
});
