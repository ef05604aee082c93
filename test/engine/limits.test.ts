// The run and its own limits, as a user meets them: the built CLI under a small `ulimit -n`. A plan that cannot fit
// is refused before anything connects, with what to do; with --force it runs, the identities past the limit fail with
// `exhaustion` errors, and the report says where the limit was reached.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readDescriptorLimit } from '../../src/engine/descriptors.js';
import { isolatedStateDir } from '../support/emulator.js';

// A state directory of this file's own: the emulator its runs start records its state there.
const state = isolatedStateDir();
afterAll(() => state.remove());

const CLI = join(process.cwd(), 'dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'edgefleet-limits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fleet of `count` plain devices arriving at 100/s for `seconds`. */
function fleet(name: string, count: number, seconds: number): string {
  writeFileSync(
    join(dir, `${name}.profile.yaml`),
    [`name: ${name}`, `duration: ${seconds}s`, 'arrivals: { startRate: 100 }', 'drain: 2s', ''].join('\n'),
  );
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      `name: ${name}`,
      'seed: 5',
      `profile: ./${name}.profile.yaml`,
      'fleet:',
      `  - { group: thermostats, kind: device, count: ${count}, idPattern: "${name}-{index:04}",`,
      '      telemetry: { interval: 1s } }',
      '',
    ].join('\n'),
  );
  return file;
}

/** The CLI under `ulimit <limit>` (both limits with -n, the soft one with -Sn), as a shell would start it. */
function runUnder(limit: string, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', `ulimit ${limit} && exec "$0" "$@"`, process.execPath, CLI, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

const common = (reports: string) => ['--no-tui', '--workers', '2', '--state-dir', state.dir, '--reports-dir', reports];
const summaryIn = (reports: string) => {
  const runs = readdirSync(reports).filter((d) => d !== 'latest');
  expect(runs).toHaveLength(1);
  return JSON.parse(readFileSync(join(reports, runs[0]!, 'summary.json'), 'utf8'));
};

describe('a run against the limit of open files', () => {
  it('is refused before anything connects when the plan cannot fit, saying what to do (exit 2)', async () => {
    const reports = join(dir, 'refused');
    const r = await runUnder('-n 200', ['run', fleet('refused', 300, 10), ...common(reports)]);
    expect(r.code, r.out + r.err).toBe(2);
    expect(r.err).toMatch(/needs about \d+ file descriptors at its peak, and this process may open 200/);
    expect(r.err).toMatch(/300 plain devices: a connection to the hub each/);
    expect(r.err).toMatch(/the embedded emulator, in its own process with the same limit, needs about \d+/);
    expect(r.err).toMatch(/ulimit -n \d+/);
    expect(r.err).toMatch(/--shard 1\/\d+/);
    expect(r.err).toMatch(/--force/);
    expect(r.out).not.toMatch(/edgefleet run/); // it never started
    expect(existsSync(reports)).toBe(false);
  });

  it('runs with --force: exhaustion is its own class, those that fit connect, the ledger balances', async () => {
    const reports = join(dir, 'forced');
    const r = await runUnder('-n 200', ['run', fleet('forced', 300, 10), ...common(reports), '--force']);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.err).toMatch(/warning: this run needs about \d+ file descriptors[\s\S]*going on \(--force\)/);
    const s = summaryIn(reports);
    expect(s.incomplete).toBeUndefined(); // no worker died of it
    expect(s.errors.exhaustion.count).toBeGreaterThan(0);
    expect(s.errors.exhaustion.lastMessage).toMatch(/EMFILE/);
    expect(s.limits.descriptors).toMatchObject({ limit: 200, forced: true });
    expect(s.limits.exhaustion).toMatchObject({ connected: expect.any(Number), sockets: expect.any(Number) });
    expect(s.limits.exhaustion.sockets).toBeGreaterThan(0);
    // Some fit and connected, not all.
    expect(s.limits.peakConnected).toBeGreaterThan(0);
    expect(s.limits.peakConnected).toBeLessThan(300);
    expect(s.operations.telemetry.count).toBeGreaterThan(0);
    const l = s.ledger;
    expect(l.balanced).toBe(true);
    expect(l.generated).toBe(l.acknowledged + l.failed + l.expired + l.dropped + l.inFlight);
    expect(s.reconciliation.acknowledgedNotReceived).toBe(0);
    expect(r.out).toMatch(/limit reached at \d+:\d\d with \d+ identities connected/);
    expect(r.out).toMatch(/^(errors)? +exhaustion +\d+ +last: ".*EMFILE/m);
  }, 60_000);

  it('runs under a low soft limit: Node raises it to the hard one before anything else', async (ctx) => {
    const hard = readDescriptorLimit()?.hard ?? 0;
    if (!(hard >= 1000)) ctx.skip();
    const reports = join(dir, 'soft');
    // 40 devices need more than 100 descriptors; the hard limit is untouched.
    const r = await runUnder('-Sn 100', ['run', fleet('soft', 40, 4), ...common(reports)]);
    expect(r.code, r.out + r.err).toBe(0);
    const s = summaryIn(reports);
    expect(s.limits.descriptors.limit).toBe(hard);
    expect(s.limits.descriptors.needed).toBeGreaterThan(100);
    expect(s.errors.exhaustion.count).toBe(0);
  }, 60_000);
});
