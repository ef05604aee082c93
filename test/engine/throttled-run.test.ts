// A fleet against the emulator with an S1 unit's limits, shaped at once with a one-second queue: more connects and
// more telemetry than the hub takes. The pushback (CONNACK 3, connections closed with sends unacknowledged) counts
// as `throttled`, never as the server's, shows per second in timeseries.csv, and the fleet recovers: every identity
// connects in the end and none gives up.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseTimeseriesCsv } from '../../src/report/read.js';
import { isolatedStateDir } from '../support/emulator.js';
import { writePlainScenario } from '../support/scenario-files.js';

const CLI = join(process.cwd(), 'dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'edgefleet-throttled-'));
const state = isolatedStateDir();
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  state.remove();
});

// 300 arrive at once (the hub takes 100 connects a second, holds 100 more), then send 150 msgs/s (it takes 100).
const scenario = (): string =>
  writePlainScenario(dir, {
    name: 'throttled',
    devices: 300,
    interval: '2s',
    duration: '30s',
    startRate: 2000,
    drain: '3s',
    seed: 4,
    extra: ['targets:', '  emulator:', '    limits: { hubTier: S1, hubUnits: 1, shapingBurst: 0s, shapingQueue: 1s }'],
  });

describe('a fleet against a hub that throttles', () => {
  it('counts CONNACK 3 and closed connections as throttled, per second too, and recovers', async () => {
    const reports = join(dir, 'reports');
    const args = [CLI, 'run', scenario(), '--reports-dir', reports, '--state-dir', state.dir, '--no-tui'];
    const { code, out } = await new Promise<{ code: number | null; out: string }>((done) => {
      const child = spawn(process.execPath, [...args, '--workers', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (d) => (text += d));
      child.stderr.on('data', (d) => (text += d));
      child.on('exit', (c) => done({ code: c, out: text }));
    });
    expect(code, out).toBe(0);
    const folder = join(
      reports,
      readdirSync(reports).find((d) => d !== 'latest')!,
    );
    const summary = JSON.parse(readFileSync(join(folder, 'summary.json'), 'utf8'));
    expect(summary.errors.throttled.count, JSON.stringify(summary.errors)).toBeGreaterThan(0);
    expect(summary.errors.throttled.byOperation.connect).toBeGreaterThan(0);
    expect(summary.errors.server.count).toBe(0);
    const rows = parseTimeseriesCsv(readFileSync(join(folder, 'timeseries.csv'), 'utf8'));
    const throttled = rows.reduce((n, r) => n + (r.throttled ?? 0), 0);
    expect(throttled).toBe(summary.errors.throttled.count);
    // Recovered: every identity connected in the end (after its CONNACK 3s), and none gave up.
    expect(summary.operations.connect.count).toBeGreaterThanOrEqual(300);
    expect(summary.gauges.failed ?? 0).toBe(0);
  }, 120_000);
});
