// A worker that crashes never takes the measured run with it: `edgefleet run` with a custom module whose own timer
// throws (a bug in a module, an uncaught error in its worker thread) still writes the report, marked incomplete,
// says so on the console, and exits 1 with the report's path.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isolatedStateDir } from '../support/emulator.js';

// A state directory of this file's own: the emulator its runs start records its state there.
const state = isolatedStateDir();
afterAll(() => state.remove());

const CLI = join(process.cwd(), 'dist/cli/main.js');
const MANIFEST = resolve('test/fixtures/environmental-sensor.manifest.json');
const dir = mkdtempSync(join(tmpdir(), 'edgefleet-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => done({ code, out }));
  });
}

describe('a worker that crashes', () => {
  it('leaves a report marked incomplete, and the run exits 1 with its path', async () => {
    writeFileSync(
      join(dir, 'faulty.mjs'),
      [
        '// A module with a bug: its own timer throws, outside anything the runtime calls.',
        'export default function create(options) {',
        '  return {',
        '    start(api) {',
        '      setTimeout(() => { throw new Error(`${api.moduleId} broke on its own timer`); }, options.afterMs);',
        '    },',
        '    stop() {},',
        '  };',
        '}',
        '',
      ].join('\n'),
    );
    const profile = ['name: crash', 'duration: 12s', 'arrivals: { startRate: 1000 }', 'drain: 2s', ''];
    writeFileSync(join(dir, 'crash.profile.yaml'), profile.join('\n'));
    writeFileSync(
      join(dir, 'crash.yaml'),
      [
        'name: crash',
        'seed: 4',
        'profile: ./crash.profile.yaml',
        'fleet:',
        `  - group: edges`,
        `    kind: iotEdge`,
        `    count: 1`,
        `    idPattern: "crash-edge-{index}"`,
        `    manifest: ${JSON.stringify(MANIFEST)}`,
        '    modules:',
        '      SimulatedTemperatureSensor: { behaviour: { file: ./faulty.mjs }, options: { afterMs: 3000 } }',
        '  - { group: thermostats, kind: device, count: 10, idPattern: "crash-t-{index:02}",',
        '      telemetry: { interval: 500ms } }',
        '',
      ].join('\n'),
    );
    const reports = join(dir, 'reports');
    const r = await run([
      'run',
      join(dir, 'crash.yaml'),
      '--no-tui',
      '--workers',
      '2',
      '--state-dir',
      state.dir,
      '--reports-dir',
      reports,
    ]);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/^INCOMPLETE: worker \d crashed: SimulatedTemperatureSensor broke on its own timer/m);
    const path = /^report: (.+)$/m.exec(r.out)?.[1];
    expect(path).toBeDefined();
    expect(existsSync(join(path!, 'report.html'))).toBe(true);
    const summary = JSON.parse(readFileSync(join(path!, 'summary.json'), 'utf8'));
    expect(summary.incomplete.reason).toMatch(/crashed: SimulatedTemperatureSensor broke on its own timer/);
    // What was measured before the crash is all there, balanced.
    expect(summary.operations.telemetry.count).toBeGreaterThan(0);
    expect(summary.ledger.balanced).toBe(true);
  }, 60_000);
});
