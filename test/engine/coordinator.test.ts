// The coordinator in-process: its workers run in this thread on MessageChannel ports (engine/hosts.ts), against a
// real emulator over TLS; outputs see the stream as any output would. A crashing worker is a real worker thread
// that throws.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScenario } from '../../src/api/run-scenario.js';
import { loadScenario } from '../../src/config/load.js';
import { parseThreshold } from '../../src/config/thresholds.js';
import type { Emulator } from '../../src/emulator/index.js';
import { inThreadWorkers, threadWorkers, workerFile, type WorkerSpawner } from '../../src/engine/hosts.js';
import { jsonLinesOutput } from '../../src/outputs/json-lines.js';
import type { Output, RunFinal, RunSnapshot, RunStart } from '../../src/outputs/output.js';
import { startTestEmulator } from '../support/emulator.js';

const FLEET = 'test/fixtures/run-devices.yaml';
const IDENTITIES = 30;
let emulator: Emulator;
const dir = await mkdtemp(join(tmpdir(), 'edgefleet-coordinator-'));
beforeAll(async () => {
  emulator = await startTestEmulator();
});
afterAll(async () => {
  await emulator?.close();
  await rm(dir, { recursive: true, force: true });
});

/** An output that keeps what it is given, in order. */
function recording() {
  const seen: { events: string[]; start?: RunStart; snapshots: RunSnapshot[]; final?: RunFinal } = {
    events: [],
    snapshots: [],
  };
  const output: Output = {
    name: 'recording',
    start(run) {
      seen.events.push('start');
      seen.start = run;
    },
    snapshot(s) {
      seen.events.push('snapshot');
      seen.snapshots.push(s);
      ledgers.push(s.aggregate.ledger().generated);
    },
    finish(final) {
      seen.events.push('finish');
      seen.final = final;
    },
    close() {
      seen.events.push('close');
    },
  };
  const ledgers: number[] = [];
  return { seen, output, ledgers };
}

const connected = (s: RunSnapshot) => Object.values(s.states).reduce((n, byState) => n + (byState.connected ?? 0), 0);

describe('the coordinator, in-process', () => {
  it('starts the outputs, streams merged snapshots each second, stops, and finishes with the whole fleet', async () => {
    const { seen, output, ledgers } = recording();
    const lines = join(dir, 'run.jsonl');
    const result = await runScenario({
      scenario: FLEET,
      duration: '5s',
      emulator: emulator.info,
      workers: 2,
      spawn: inThreadWorkers(),
      reportsDir: join(dir, 'reports'),
      outputs: [output, jsonLinesOutput(lines)],
    });

    // Lifecycle: one start before any snapshot, one finish after the last, then close.
    expect(seen.events[0]).toBe('start');
    expect(seen.events.slice(-2)).toEqual(['finish', 'close']);
    expect(seen.events.filter((e) => e === 'start' || e === 'finish')).toHaveLength(2);
    expect(seen.start).toMatchObject({
      runId: result.runId,
      scenario: 'run-devices',
      groups: [{ name: 'thermostats', patterns: ['device'] }],
    });
    expect(seen.start!.deviceIds).toHaveLength(IDENTITIES);

    // Merged: both workers' identities are in each second's counts, and the ledger only grows.
    expect(seen.snapshots.length).toBeGreaterThanOrEqual(3);
    for (const s of seen.snapshots) {
      const all = Object.values(s.states.thermostats ?? {}).reduce((a, b) => a + b, 0);
      expect(all).toBe(IDENTITIES);
      expect(s.workers.map((w) => w.index)).toEqual([0, 1]);
    }
    expect(seen.snapshots.some((s) => connected(s) === IDENTITIES)).toBe(true);
    expect([...ledgers].sort((a, b) => a - b)).toEqual(ledgers);

    // The final: every message accounted, every identity stopped, the emulator received what was acknowledged.
    const final = seen.final!;
    const ledger = final.aggregate.ledger();
    expect(ledger.balanced).toBe(true);
    expect(ledger.acknowledged).toBeGreaterThan(0);
    expect(Object.values(final.acknowledgedBy).reduce((a, b) => a + b, 0)).toBe(ledger.acknowledged);
    expect(final.states.thermostats).toMatchObject({ stopped: IDENTITIES });
    // Reconciliation finished before this output, so its finding reached it.
    expect(final.reconciliation).toMatchObject({ acknowledged: ledger.acknowledged, acknowledgedNotReceived: 0 });
    expect(final.stoppedEarly).toBeUndefined();
    expect(final.incomplete).toBeUndefined();
    expect(result.summary.ledger.generated).toBe(ledger.generated);

    await expectJsonLines(lines, seen.snapshots, result.runId, final);
  }, 60_000);

  it('stops the run as soon as a threshold with abortOnFail has failed', async () => {
    const loaded = await loadScenario(FLEET, { duration: '60s' });
    loaded.scenario.thresholds.push(parseThreshold('telemetry.count < 20', { abortOnFail: true }));
    const { seen, output } = recording();
    const result = await runScenario({
      scenario: loaded,
      emulator: emulator.info,
      workers: 2,
      spawn: inThreadWorkers(),
      reportsDir: join(dir, 'reports'),
      outputs: [output],
    });
    expect(seen.final!.stoppedEarly).toMatch(/^a threshold failed: telemetry\.count < 20: telemetry\.count was \d+/);
    expect(result.thresholdsHeld).toBe(false);
    const { thresholds } = result.summary as unknown as { thresholds: object[] };
    expect(thresholds[0]).toMatchObject({ threshold: 'telemetry.count < 20', passed: false, abortOnFail: true });
    expect(seen.final!.aggregate.ledger().balanced).toBe(true);
  }, 60_000);

  it('keeps what a crashed worker had sent: the report is written, marked incomplete', async () => {
    const crashed = crashingSecondWorker();
    const spawn = crashed.spawn;
    const result = await runScenario({
      scenario: FLEET,
      duration: '30s',
      emulator: emulator.info,
      workers: 2,
      spawn,
      reportsDir: join(dir, 'reports'),
    });
    expect(result.incomplete).toBe('worker 1 crashed: the worker ran out of luck');
    expect(result.final.stoppedEarly).toBe(result.incomplete);
    const summary = JSON.parse(await readFile(join(result.reportDir, 'summary.json'), 'utf8'));
    expect(summary.incomplete).toEqual({ reason: 'worker 1 crashed: the worker ran out of luck' });
    expect(result.console).toMatch(/^INCOMPLETE: worker 1 crashed: the worker ran out of luck/m);
    // Worker 0 finished: its identities' acknowledgements are all there, and the emulator received them.
    const plan = crashed.identities;
    const byWorker0 = Object.keys(result.final.acknowledgedBy);
    expect(byWorker0.length).toBeGreaterThan(0);
    expect(byWorker0.every((id) => plan[0]!.includes(id))).toBe(true);
    expect(summary.reconciliation.acknowledgedNotReceived).toBe(0);
    // Worker 1 never reported at the end, yet what it had sent before it died is in the figures.
    const finished = Object.values(result.final.acknowledgedBy).reduce((a, b) => a + b, 0);
    expect(summary.ledger.acknowledged - finished).toBeGreaterThanOrEqual(crashed.acknowledgedBeforeCrash());
  }, 60_000);
});

/** The JSON-lines output: a line per snapshot the outputs saw, then the final. */
async function expectJsonLines(file: string, snapshots: readonly RunSnapshot[], runId: string, final: RunFinal) {
  const ledger = final.aggregate.ledger();
  const stream = (await readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(stream).toHaveLength(snapshots.length + 1);
  for (const [i, line] of stream.slice(0, -1).entries()) {
    expect(line).toMatchObject({ type: 'snapshot', runId, stage: snapshots[i]!.stage });
    expect(Object.values(line.identities).reduce((a: number, b) => a + (b as number), 0)).toBe(IDENTITIES);
  }
  expect(stream.at(-1)).toMatchObject({
    type: 'final',
    runId,
    identities: { stopped: IDENTITIES },
    ledger: { generated: ledger.generated, acknowledged: ledger.acknowledged, balanced: true },
    reconciliation: { acknowledgedNotReceived: 0 },
  });
  expect(stream.at(-1).latency.telemetry.count).toBe(final.aggregate.latency('telemetry').count);
}

/**
 * Worker 0 is the real worker thread; worker 1 is a real worker thread running the same runtime that throws an
 * uncaught error once it has sent a snapshot with acknowledged messages in it, as a bug in a worker would.
 */
function crashingSecondWorker() {
  const runtime = pathToFileURL(workerFile().replace(/worker\.js$/, 'worker-runtime.js')).href;
  const threads = threadWorkers();
  const crashing = `
    const { parentPort, workerData } = require('node:worker_threads');
    const post = parentPort.postMessage.bind(parentPort);
    parentPort.postMessage = (m) => {
      post(m);
      if (m.type === 'snapshot' && m.snapshot.ledger.acknowledged > 0) {
        setImmediate(() => { throw new Error('the worker ran out of luck'); });
      }
    };
    import(${JSON.stringify(runtime)}).then(({ runWorker }) => runWorker(parentPort, workerData));`;
  const identities: string[][] = [];
  let acknowledged = 0;
  const spawn: WorkerSpawner = (init) => {
    identities[init.workerIndex] = init.identities.map((i) => i.deviceId);
    if (init.workerIndex !== 1) return threads(init);
    const worker = new Worker(crashing, { eval: true, workerData: init });
    worker.on('message', (m: { type: string; snapshot?: { ledger: { acknowledged: number } } }) => {
      if (m.type === 'snapshot') acknowledged += m.snapshot!.ledger.acknowledged;
    });
    return worker;
  };
  return { spawn, identities, acknowledgedBeforeCrash: () => acknowledged };
}
