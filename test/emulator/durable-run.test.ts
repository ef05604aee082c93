// Runs against an emulator that remembers: the same fleet twice against one emulator recording its state, then
// once more after the emulator was stopped and started again. Its counts go on across runs and restarts, and each
// run reconciles only what it sent itself.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runScenario, startEmulator, type Emulator } from '../../src/index.js';
import { isolatedStateDir } from '../support/emulator.js';

const state = isolatedStateDir();
const reports = await mkdtemp(join(tmpdir(), 'edgefleet-durable-run-'));
afterAll(async () => {
  await rm(reports, { recursive: true, force: true });
  state.remove();
});

async function runOnce(emulator: Emulator, name: string): Promise<any> {
  const result = await runScenario({
    scenario: 'test/fixtures/run-devices.yaml',
    duration: '4s',
    emulator: emulator.info,
    reportsDir: join(reports, name),
    logLevel: 'error',
  });
  return JSON.parse(await readFile(join(result.reportDir, 'summary.json'), 'utf8'));
}

describe('runs against an emulator that keeps its counts', () => {
  it('reconcile each run with what the emulator received during it, across runs and a restart', async () => {
    let emulator = await startEmulator({ stateDir: state.dir, mqttPort: 0, httpPort: 0 });
    const summaries: any[] = [];
    try {
      summaries.push(await runOnce(emulator, 'first'), await runOnce(emulator, 'second'));
      await emulator.close();
      emulator = await startEmulator({ stateDir: state.dir, mqttPort: 0, httpPort: 0 });
      summaries.push(await runOnce(emulator, 'after-restart'));
      const counted = Object.values(emulator.stats.toJson().identities).reduce((n, s) => n + s.messagesReceived, 0);
      const acknowledged = summaries.reduce((n, s) => n + s.ledger.acknowledged, 0);
      expect(counted, 'the emulator counted all three runs').toBeGreaterThanOrEqual(acknowledged);
    } finally {
      await emulator.close();
    }
    for (const s of summaries) {
      expect(s.ledger.acknowledged).toBeGreaterThan(0);
      expect(s.reconciliation).toMatchObject({ acknowledgedNotReceived: 0, receivedNotAcknowledged: 0 });
      expect(s.reconciliation.received).toBe(s.ledger.acknowledged);
    }
  }, 90_000);
});
