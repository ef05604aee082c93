// The saturation verdict: the watch over seconds of lateness and event-loop load, then two real runs of the CLI
// against the emulator it starts: one that asks far more of a single worker than it can give (saturated) and a calm
// one (not). The verdict shows in the console, summary.json, report.html (a banner at the top) and junit.xml, and a
// saturated run still exits 0.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MetricsAggregate } from '../../src/metrics/aggregate.js';
import { MetricsRecorder } from '../../src/metrics/recorder.js';
import type { WorkerLoad } from '../../src/metrics/types.js';
import { saturationLine, SaturationWatch } from '../../src/outputs/saturation.js';
import { withVerdict } from '../../src/report/verdict.js';
import { createElement } from 'react';
import { renderToString } from 'ink';
import { Dashboard } from '../../src/ui/dashboard.js';
import { cells, fullState, lines } from '../ui/fixtures.js';
import { isolatedStateDir } from '../support/emulator.js';
import { writePlainScenario } from '../support/scenario-files.js';

const T0 = 1_790_000_000_000;

/** Feeds the watch one second per entry: that second's lateness (ms, null: no timer fired) and workers' load. */
function feed(watch: SaturationWatch, seconds: { late: number | null; busy?: number }[]): void {
  const agg = new MetricsAggregate({ closeGraceMs: 0 });
  const r = new MetricsRecorder(T0);
  seconds.forEach((s, i) => {
    if (s.late !== null) for (let n = 0; n < 100; n++) r.recordLateness(s.late);
    agg.add(1, r.snapshot(T0 + i * 1000 + 500));
    agg.tick(T0 + (i + 1) * 1000 + 1);
    const workers: WorkerLoad[] = [{ index: 0, busyPercent: s.busy ?? 10, heapMB: null }];
    watch.observe({ aggregate: agg, workers, elapsedMs: (i + 1) * 1000, stage: `second ${i}` });
    // A second snapshot of the same closed second changes nothing.
    watch.observe({ aggregate: agg, workers, elapsedMs: (i + 1) * 1000 + 500, stage: `second ${i}` });
  });
}

const calm = { late: 3 };
const late = { late: 900 };

describe('SaturationWatch', () => {
  it('finds a phase of late seconds at least as long as the phase length, with where and how far', () => {
    const watch = new SaturationWatch();
    feed(watch, [calm, calm, late, late, late, late, late, late, calm, calm]);
    const v = watch.verdict();
    expect(v.generatorSaturated).toBe(true);
    expect(v.phases).toEqual([{ reason: 'lateness', fromSeconds: 2, toSeconds: 8, stage: 'second 2', peak: 900 }]);
    expect(v.reasons[0]).toMatch(/^scheduler lateness p99 above 200 ms for 6 s \(2–8 s, second 2\), peak 9\d\d ms/);
    expect(v.advice.join(' ')).toMatch(/fewer arrivals.*--workers.*--shard/);
  });

  it('ignores bursts shorter than the phase, and seconds without timers', () => {
    const watch = new SaturationWatch();
    feed(watch, [late, late, late, late, calm, late, late, { late: null }, late, calm]);
    expect(watch.verdict()).toMatchObject({ generatorSaturated: false, reasons: [], phases: [], advice: [] });
  });

  it('counts a phase still under way at the end', () => {
    const watch = new SaturationWatch({ phaseSeconds: 3 });
    feed(watch, [calm, late, late, late]);
    expect(watch.verdict().phases).toMatchObject([{ fromSeconds: 1, toSeconds: 4 }]);
  });

  it('takes the bound as an option', () => {
    const strict = new SaturationWatch({ latenessBoundMs: 2 });
    feed(strict, new Array(6).fill(calm));
    expect(strict.verdict().generatorSaturated).toBe(true);
    expect(strict.verdict().bounds.latenessBoundMs).toBe(2);
    expect(() => new SaturationWatch({ latenessBoundMs: 0 })).toThrow(/positive/);
  });

  it('finds a pinned event loop even when timers are on time', () => {
    const watch = new SaturationWatch();
    feed(watch, new Array(7).fill({ late: 1, busy: 99 }));
    expect(watch.verdict().phases).toMatchObject([{ reason: 'cpu', peak: 99 }]);
    expect(watch.verdict().reasons[0]).toMatch(/event loop busy 95% or more for 7 s/);
  });

  it('is a skipped junit case when saturated, a passing one beside other checks, and none alone when calm', () => {
    const saturated = new SaturationWatch({ phaseSeconds: 1 });
    feed(saturated, [late]);
    const [suite] = withVerdict(undefined, saturated.verdict()) ?? [];
    expect(suite?.cases[0]?.skipped?.message).toMatch(/^Load generator saturated/);
    const calmVerdict = new SaturationWatch().verdict();
    expect(withVerdict(undefined, calmVerdict)).toBeUndefined();
    const other = [{ name: 'edgefleet', cases: [{ name: 'ledger.lost == 0' }] }];
    expect(withVerdict(other, calmVerdict)?.[1]?.cases[0]).toEqual({
      name: 'load generator not saturated',
      classname: 'edgefleet.verdict',
    });
  });
});

describe('the dashboard', () => {
  it('shows the verdict under the rates once saturated, within the terminal at every size', () => {
    const watch = new SaturationWatch();
    feed(watch, new Array(6).fill(late));
    const state = { ...fullState(), saturation: saturationLine(watch.verdict()) };
    for (const [columns, rows] of [
      [60, 20],
      [80, 24],
      [120, 40],
    ] as const) {
      const props = { state, onStop: () => {}, onPause: () => {}, onInterrupt: () => {}, columns, rows };
      const out = lines(
        renderToString(createElement(Dashboard, { ...props, onDrill: () => Promise.resolve(undefined) }), { columns }),
      );
      expect(out.length, `${columns}x${rows}`).toBeLessThanOrEqual(rows - 1);
      for (const l of out) expect(cells(l)).toBeLessThanOrEqual(columns);
      expect(out.join('\n')).toContain('GENERATOR SATURATED: scheduler lateness p99 above 200 ms');
    }
  });
});

// --- end to end ----------------------------------------------------------------------------------------------

const CLI = join(process.cwd(), 'dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'edgefleet-saturation-'));
const states: { remove(): void }[] = [];
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  for (const s of states) s.remove();
});

const scenario = (name: string, devices: number, interval: string, duration: string): string =>
  writePlainScenario(dir, { name, devices, interval, duration, startRate: 2000, drain: '2s', seed: 5 });

function runCli(file: string, reports: string): Promise<{ code: number | null; out: string }> {
  const state = isolatedStateDir();
  states.push(state);
  const args = [CLI, 'run', file, '--reports-dir', reports, '--state-dir', state.dir, '--workers', '1', '--no-tui'];
  return new Promise((done) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => done({ code, out }));
  });
}

function folderOf(reports: string): string {
  const runs = readdirSync(reports).filter((d) => d !== 'latest');
  expect(runs).toHaveLength(1);
  return join(reports, runs[0]!);
}

describe('edgefleet run and the verdict', () => {
  it('says so when one worker is asked for far more than it can send, and still exits 0', async () => {
    // 500 devices, a message every 5 ms each: 100,000 messages a second asked of one worker.
    const reports = join(dir, 'saturated');
    const r = await runCli(scenario('saturated', 500, '5ms', '14s'), reports);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/Load generator saturated/);
    expect(r.out).toMatch(/what to do: fewer arrivals/);
    const folder = folderOf(reports);
    const summary = JSON.parse(readFileSync(join(folder, 'summary.json'), 'utf8'));
    expect(summary.verdict.generatorSaturated).toBe(true);
    expect(summary.verdict.phases.length).toBeGreaterThan(0);
    expect(summary.verdict.reasons.length).toBe(summary.verdict.phases.length);
    const html = readFileSync(join(folder, 'report.html'), 'utf8');
    const banner = html.indexOf('id="verdict"');
    expect(banner).toBeGreaterThan(0);
    expect(banner).toBeLessThan(html.indexOf('<h1>'));
    const junit = readFileSync(join(folder, 'junit.xml'), 'utf8');
    expect(junit).toMatch(/<testcase name="load generator not saturated" classname="edgefleet.verdict">\s*<skipped/);
  }, 120_000);

  it('says nothing of the kind for a calm run', async () => {
    const reports = join(dir, 'calm');
    const r = await runCli(scenario('calm', 5, '1s', '8s'), reports);
    expect(r.code, r.out).toBe(0);
    expect(r.out).not.toMatch(/saturated/i);
    const folder = folderOf(reports);
    const summary = JSON.parse(readFileSync(join(folder, 'summary.json'), 'utf8'));
    expect(summary.verdict).toMatchObject({ generatorSaturated: false, reasons: [], phases: [] });
    expect(readFileSync(join(folder, 'report.html'), 'utf8')).not.toContain('id="verdict"');
    expect(existsSync(join(folder, 'junit.xml'))).toBe(false);
  }, 60_000);
});
