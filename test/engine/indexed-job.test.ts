// The Kubernetes Indexed Job contract, simulated here: N pods each run the same command, `edgefleet run … --shard
// auto`, with JOB_COMPLETION_INDEX 0…N−1 set as Kubernetes sets it, against one emulator (`edgefleet emulator
// --info-file`, reached with --target-info); the merge Job's `edgefleet report merge` then adds their report folders.
// Every identity must arrive exactly once, and the merged totals must be those of one unsharded run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isolatedStateDir } from '../support/emulator.js';
import { until } from '../support/wait.js';

const CLI = join(process.cwd(), 'dist/cli/main.js');
// 30 devices, everyone at once, seed 3; 10 s leaves a loaded machine time to connect every one.
const SCENARIO = 'test/fixtures/run-devices.yaml';
const DEVICES = 30;
const SHARDS = 3;
const dir = mkdtempSync(join(tmpdir(), 'edgefleet-indexed-job-'));
const state = isolatedStateDir();
let emulator: ChildProcess | undefined;
let info: { restUrl: string; apiToken: string };

interface Finished {
  code: number | null;
  out: string;
}

/** The built CLI with exactly the environment given (plus PATH), as a pod gets it. */
function cli(args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<Finished> } {
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const done = new Promise<Finished>((resolve) => child.on('exit', (code) => resolve({ code, out })));
  return { child, done };
}

/** One pod's command: the shard comes from the environment only. */
const shardArgs = (name: string, extra: string[] = []) => [
  'run',
  SCENARIO,
  '--duration',
  '10s',
  '--shard',
  'auto',
  ...extra,
  '--target-info',
  join(dir, 'emulator.json'),
  '--state-dir',
  join(dir, `state-${name}`),
  '--reports-dir',
  join(dir, `reports-${name}`),
  '--workers',
  '1',
  '--no-tui',
];

interface IdentityStats {
  messagesReceived: number;
  connects: number;
  twinGets: number;
}

async function emulatorStats(): Promise<{ identities: Record<string, IdentityStats>; dps: { registrations: number } }> {
  const base = info.restUrl.replace(/\/api\/?$/, '');
  const res = await fetch(`${base}/stats`, { headers: { authorization: info.apiToken } });
  expect(res.status).toBe(200);
  return (await res.json()) as { identities: Record<string, IdentityStats>; dps: { registrations: number } };
}

const summaryOf = (runDir: string) => JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8'));

beforeAll(async () => {
  const infoFile = join(dir, 'emulator.json');
  const started = cli([
    'emulator',
    '--state-dir',
    state.dir,
    '--ephemeral',
    '--mqtt-port',
    '0',
    '--http-port',
    '0',
    '--hub-https-port',
    '0',
    '--dps-retry-after',
    '0',
    '--info-file',
    infoFile,
  ]);
  emulator = started.child;
  await until(() => existsSync(infoFile), 20_000, 'the emulator info file');
  info = JSON.parse(readFileSync(infoFile, 'utf8'));
});

afterAll(() => {
  if (emulator !== undefined && emulator.exitCode === null) emulator.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
  state.remove();
});

describe('--shard auto, as the pods of an Indexed Job run it', () => {
  it('refuses to guess: no index, no count, an index out of range or not a number exit 2 saying what to set', async () => {
    const cases: [Record<string, string>, string[], RegExp][] = [
      [{}, ['--shards', '3'], /JOB_COMPLETION_INDEX, which is not set/],
      [{ JOB_COMPLETION_INDEX: '0' }, [], /give --shards N or set EDGEFLEET_SHARDS/],
      [{ JOB_COMPLETION_INDEX: '3' }, ['--shards', '3'], /JOB_COMPLETION_INDEX is "?3"?; expected .* 0 to 2/],
      [{ JOB_COMPLETION_INDEX: '1', EDGEFLEET_SHARDS: 'three' }, [], /EDGEFLEET_SHARDS is "three"/],
      [{ JOB_COMPLETION_INDEX: '-1' }, ['--shards', '2'], /JOB_COMPLETION_INDEX is "-1"/],
    ];
    for (const [env, extra, message] of cases) {
      const { code, out } = await cli(shardArgs('refused', extra), env).done;
      expect(code, out).toBe(2);
      expect(out).toMatch(message);
    }
    const mixed = await cli(['run', SCENARIO, '--shard', '1/2', '--shards', '2']).done;
    expect(mixed.code, mixed.out).toBe(2);
    expect(mixed.out).toMatch(/--shards: goes with --shard auto/);
  }, 120_000);

  it(`${SHARDS} pods with JOB_COMPLETION_INDEX 0…${SHARDS - 1}, merged: every identity once, balanced, reconciled, the totals of one run`, async () => {
    // The count from --shards in one pod and from EDGEFLEET_SHARDS (the Job's env) in the others: both are read.
    const pods = Array.from({ length: SHARDS }, (_, index) =>
      index === 0
        ? cli(shardArgs(`shard-${index}`, ['--shards', String(SHARDS)]), { JOB_COMPLETION_INDEX: String(index) })
        : cli(shardArgs(`shard-${index}`), { JOB_COMPLETION_INDEX: String(index), EDGEFLEET_SHARDS: String(SHARDS) }),
    );
    const finished = await Promise.all(pods.map((pod) => pod.done));
    finished.forEach((f, index) => expect(f.code, `shard ${index}: ${f.out}`).toBe(0));

    const sharded = await emulatorStats();
    expect(Object.keys(sharded.identities)).toHaveLength(DEVICES);
    for (const [id, stats] of Object.entries(sharded.identities)) {
      expect(stats.connects, id).toBe(1);
      expect(stats.twinGets, id).toBe(1);
      expect(stats.messagesReceived, id).toBeGreaterThan(0);
    }
    expect(sharded.dps.registrations).toBe(DEVICES);

    const shardDirs = Array.from({ length: SHARDS }, (_, index) => join(dir, `reports-shard-${index}`, 'latest'));
    const shardSummaries = shardDirs.map(summaryOf);
    expect(shardSummaries.map((s) => s.shard)).toEqual(
      Array.from({ length: SHARDS }, (_, index) => expect.objectContaining({ index, count: SHARDS })),
    );
    const merge = await cli(['report', 'merge', ...shardDirs, '--out', join(dir, 'merged')]).done;
    expect(merge.code, merge.out).toBe(0);
    expect(merge.out).toContain('ledger balanced');
    const merged = summaryOf(join(dir, 'merged'));
    const l = merged.ledger;
    expect(l.balanced).toBe(true);
    expect(l.generated).toBe(l.acknowledged + l.failed + l.expired + l.dropped + l.inFlight);
    expect(merged.reconciliation.acknowledgedNotReceived).toBe(0);
    const received = Object.values(sharded.identities).reduce((sum, s) => sum + s.messagesReceived, 0);
    expect(merged.reconciliation.received).toBe(received);
    expect(l.acknowledged).toBe(shardSummaries.reduce((sum, s) => sum + s.ledger.acknowledged, 0));

    // The same scenario and seed in one process, against the same emulator.
    const whole = await cli(shardArgs('whole').filter((a) => a !== '--shard' && a !== 'auto')).done;
    expect(whole.code, whole.out).toBe(0);
    const single = summaryOf(join(dir, 'reports-whole', 'latest'));
    const after = await emulatorStats();
    for (const [id, stats] of Object.entries(after.identities)) expect(stats.connects, id).toBe(2);
    expect(Object.keys(after.identities).sort()).toEqual(Object.keys(sharded.identities).sort());
    for (const op of ['provision', 'connect', 'twinGet'])
      expect(merged.operations[op].count, op).toBe(single.operations[op].count);
    expect(merged.operations.provision.count).toBe(DEVICES);
    expect(merged.provisioning).toEqual(single.provisioning);
    expect(merged.gauges).toEqual(single.gauges);
    expect(merged.seed).toBe(single.seed);
    expect(single.reconciliation.acknowledgedNotReceived).toBe(0);
  }, 180_000);
});
