// Profile events while the run goes on, as the live outputs show them from the snapshot stream: the progress line
// says when an event happened and when the fleet was whole again; the dashboard has a line per event.
import { createElement } from 'react';
import { cleanup, render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';
import { MetricsAggregate } from '../../src/metrics/aggregate.js';
import type { FaultEventReport } from '../../src/metrics/fault-events.js';
import { firstView, viewAfter } from '../../src/outputs/live-view.js';
import type { RunSnapshot, RunStart } from '../../src/outputs/output.js';
import { progressOutput } from '../../src/outputs/progress.js';
import { Dashboard } from '../../src/ui/dashboard.js';

afterEach(() => cleanup());

const T0 = 1_790_000_000_000;
const aggregate = new MetricsAggregate();

const start: RunStart = {
  runId: 'run-live',
  scenario: 'quickstart',
  profile: 'chaos',
  target: 'embedded emulator',
  seed: 1,
  startedAtMs: T0,
  durationMs: 120_000,
  groups: [{ name: 'thermostats', patterns: ['device'] }],
  deviceIds: [],
  aggregate,
  control: { stop: () => {}, pause: () => {}, inspect: () => Promise.resolve(undefined) },
  log: () => {},
  notice: () => {},
};

function drop(over: Partial<FaultEventReport>): FaultEventReport {
  return {
    index: 0,
    kind: 'networkDrop',
    spec: { fraction: 0.5 },
    atMs: 30_000,
    at: null,
    startedAtMs: null,
    before: { identities: 40, connections: 40 },
    tookAway: { identities: 0, connections: 0 },
    lowestConnected: null,
    wholeAfterMs: null,
    window: null,
    ledger: null,
    errors: {},
    ...over,
  };
}
const restart: FaultEventReport = {
  index: 1,
  kind: 'targetRestart',
  spec: { duration: 10_000 },
  atMs: 60_000,
  at: null,
  startedAtMs: null,
  before: { identities: 0, connections: 0 },
  tookAway: { identities: 0, connections: 0 },
  targetBackAtMs: null,
  lowestConnected: null,
  wholeAfterMs: null,
  window: null,
  ledger: null,
  errors: {},
};

function snapshot(second: number, events: FaultEventReport[]): RunSnapshot {
  return {
    atMs: T0 + second * 1000,
    elapsedMs: second * 1000,
    stage: 'hold 100/s',
    paused: false,
    stopping: false,
    aggregate,
    states: { thermostats: { connected: 40 } },
    patterns: { device: { connected: 40 } },
    workers: [],
    process: { cpuPercent: null, rssMB: null },
    connections: 40,
    events,
  };
}

const started = T0 + 30_000;
const underway = drop({ startedAtMs: started, tookAway: { identities: 20, connections: 20 } });
const whole = { ...underway, wholeAfterMs: 4200, lowestConnected: 20 };

describe('profile events, live', () => {
  it('make the progress output print a line when one happens and when the fleet is whole again, once each', async () => {
    const printed: string[] = [];
    const progress = progressOutput((line) => printed.push(line), 1000);
    await progress.start!(start);
    progress.snapshot!(snapshot(29, [drop({}), restart]));
    progress.snapshot!(snapshot(31, [underway, restart]));
    progress.snapshot!(snapshot(32, [underway, restart]));
    progress.snapshot!(snapshot(35, [whole, restart]));
    progress.snapshot!(snapshot(36, [whole, restart]));
    expect(printed).toEqual([
      'event networkDrop #0: at 0:30 · took 20 connections of 20 identities · not whole for 0:01',
      'event networkDrop #0: at 0:30 · took 20 connections of 20 identities · whole after 4.2 s',
    ]);
  });

  it('have a line each on the dashboard: the next one before any happened, then those that did', () => {
    const before = viewAfter(firstView(start), snapshot(10, [drop({}), restart]));
    const frame = (view: typeof before) => {
      const r = render(
        createElement(Dashboard, {
          state: view,
          onStop: () => {},
          onPause: () => {},
          onDrill: () => Promise.resolve(undefined),
          columns: 110,
          rows: 40,
        }),
      );
      return r.lastFrame() ?? '';
    };
    expect(frame(before)).toMatch(/^events {2}networkDrop #0 {2}at 0:30$/m);
    const all = { identities: 40, connections: 40 };
    const down = { ...restart, startedAtMs: T0 + 60_000, before: all, tookAway: all };
    const after = viewAfter(before, snapshot(62, [whole, down]));
    const f = frame(after);
    const lines = f.split('\n');
    const at = lines.findIndex((l) => l.startsWith('events'));
    expect(lines[at]).toBe(
      'events  networkDrop #0    at 0:30 · took 20 connections of 20 identities · whole after 4.2 s',
    );
    expect(lines[at + 1]).toBe(
      '        targetRestart #1  at 1:00 · took 40 connections of 40 identities · target down · not whole for 0:02',
    );
  });
});
