// Each profile event has its own section in a run's report: summary.json `events`, the console, report.html (with a
// mark on the time charts), the timeline in timeseries.csv; a threshold judges how long the fleet took to be whole.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseThreshold } from '../../src/config/thresholds.js';
import type { FaultEventReport, RunLimits } from '../../src/metrics/fault-events.js';
import { formatConsoleReport } from '../../src/report/console.js';
import { renderRunFolder } from '../../src/report/render.js';
import { evaluateThresholds } from '../../src/report/thresholds.js';
import { SYN_T0, syntheticAggregate } from './synthetic.js';

const dir = await mkdtemp(join(tmpdir(), 'edgefleet-events-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

const windowLedger = {
  generated: 120,
  acknowledged: 110,
  failed: 4,
  expired: 1,
  dropped: 0,
  stored: 0,
  deliveredLate: 6,
  resent: 3,
  lost: 5,
};
const at = (ms: number) => ({ atMs: ms, at: new Date(SYN_T0 + ms).toISOString(), startedAtMs: SYN_T0 + ms });
const all = { identities: 10, connections: 30 };

/** A network drop the fleet recovered from, and a restart it never did. */
const EVENTS: FaultEventReport[] = [
  {
    index: 0,
    kind: 'networkDrop',
    spec: { fraction: 0.5 },
    ...at(12_000),
    before: all,
    tookAway: { identities: 5, connections: 15 },
    lowestConnected: 5,
    wholeAfterMs: 3200,
    window: { fromMs: SYN_T0 + 12_000, toMs: SYN_T0 + 16_700 },
    ledger: windowLedger,
    errors: { network: 15 },
  },
  {
    index: 1,
    kind: 'targetRestart',
    spec: { duration: 2000 },
    ...at(20_000),
    before: all,
    tookAway: all,
    targetBackAtMs: SYN_T0 + 23_100,
    lowestConnected: 0,
    wholeAfterMs: null,
    wholeAfterTargetBackMs: null,
    notWhole: 'never whole again before the end: 0 of 10 identities connected and 0 of 30 connections open at the end',
    window: { fromMs: SYN_T0 + 20_000, toMs: SYN_T0 + 30_000 },
    ledger: { ...windowLedger, failed: 9, lost: 10 },
    errors: { auth: 40, network: 12 },
    target: { killedPid: 4100, pid: 4177, mqttPort: 8883 },
  },
];
const LIMITS: RunLimits = {
  descriptors: {
    limit: 200,
    hardLimit: 200,
    needed: 560,
    parts: [{ what: '300 plain devices', count: 300 }],
    forced: true,
  },
  exhaustion: {
    at: new Date(SYN_T0 + 2000).toISOString(),
    atMs: 2000,
    connected: 30,
    connections: 30,
    sockets: 150,
    message: 'd-1: EMFILE: connect EMFILE',
  },
  peakConnected: 170,
};

async function folder(name: string, events: FaultEventReport[]) {
  return renderRunFolder(join(dir, name), syntheticAggregate(), { runId: name }, { extra: { events, limits: LIMITS } });
}

describe('event sections', () => {
  it('are in summary.json, and the console says when, what it took away, when whole again, the window', async () => {
    const { summary } = await folder('run-1', EVENTS);
    const stored = JSON.parse(await readFile(join(dir, 'run-1', 'summary.json'), 'utf8'));
    expect(stored.events).toEqual(EVENTS);
    expect(stored.limits).toEqual(LIMITS);
    const text = formatConsoleReport(summary);
    expect(text).toContain(
      [
        '  events[0] networkDrop at 0:12 (fraction 0.5)  2026-11-26T21:00:12.000Z',
        '    took away     5 identities, 15 connections (before: 10 identities connected, 30 connections open)',
        '    whole again   after 3.2 s, lowest 5 connected',
        '    over window   4.7 s: generated 120, acknowledged 110, failed 4, expired 1, lost 5, delivered late 6; resent 3; ' +
          'errors network 15',
      ].join('\n'),
    );
    expect(text).toContain('    target        killed pid 4100, back after 3.1 s as pid 4177 on port 8883');
    expect(text).toContain('    whole again   never whole again before the end: 0 of 10 identities connected');
    const lines = text.split('\n');
    const limits = lines.findIndex((l) => l.startsWith('limits'));
    expect(lines[limits]).toBe(
      'limits    descriptors: the plan needed about 560 at its peak of 200 — more than the limit, run with --force',
    );
    expect(lines[limits + 1]).toBe(
      '          limit reached at 0:02 with 30 identities connected, 30 connections and 150 sockets open ' +
        '(at most 170 connected in the run): d-1: EMFILE: connect EMFILE',
    );
  });

  it('are in report.html, marked on the time charts, and on the timeline of timeseries.csv', async () => {
    await folder('run-2', EVENTS);
    const html = await readFile(join(dir, 'run-2', 'report.html'), 'utf8');
    expect(html).toMatch(/<section id="events">\n<h2>Events<\/h2>/);
    expect(html).toContain('data-event="0" data-kind="networkDrop" data-whole-after-ms="3200"');
    expect(html).toContain(
      'data-event="1" data-kind="targetRestart"><h3>events[1] targetRestart at 0:20 (duration 2.0 s)',
    );
    expect(html).toMatch(/<th scope="row">whole again<\/th><td class="bad">never whole again/);
    const data = JSON.parse(/<script type="application\/json" id="edgefleet-data">(.*?)<\/script>/s.exec(html)![1]!);
    const t0 = data.timeseries.t0;
    expect(data.events).toEqual([
      { label: 'networkDrop #0', t: SYN_T0 + 12_000 - t0, until: SYN_T0 + 15_200 - t0 },
      { label: 'targetRestart #1', t: SYN_T0 + 20_000 - t0, until: null },
    ]);
    const rows = (await readFile(join(dir, 'run-2', 'timeseries.csv'), 'utf8')).trim().split('\n');
    expect(rows[0]!.split(',').at(-1)).toBe('events');
    const cells = rows.slice(1).map((r) => r.split(','));
    const marks = cells.filter((c) => c.at(-1) !== '').map((c) => [Number(c[1]), c.at(-1)]);
    expect(marks).toEqual([
      [SYN_T0 + 12_000, 'networkDrop#0'],
      [SYN_T0 + 15_000, 'networkDrop#0 whole'],
      [SYN_T0 + 20_000, 'targetRestart#1'],
    ]);
  });

  it('are judged by events.wholeAfter.max: the longest wait, and no data when an event was never whole', () => {
    const threshold = parseThreshold('events.wholeAfter.max < 10s');
    expect(threshold).toMatchObject({ metric: 'events.wholeAfter.max', value: 10_000, unit: 'ms' });
    const [recovered] = evaluateThresholds([threshold], { events: [EVENTS[0]!] });
    expect(recovered).toMatchObject({ passed: true, actual: 3200 });
    expect(recovered!.detail).toMatch(/events\.wholeAfter\.max was 3200 ms \(events\[0\] networkDrop\)/);
    const [never] = evaluateThresholds([threshold], { events: EVENTS });
    expect(never).toMatchObject({ passed: false, actual: null });
    expect(never!.detail).toMatch(/events\[1\] targetRestart was not whole again: never whole again before the end/);
    const [none] = evaluateThresholds([threshold], { events: [] });
    expect(none!.detail).toMatch(/the profile has no events/);
  });
});
