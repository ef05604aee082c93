// README, "From code": the example run, as written there (only its paths moved to a temporary folder), through
// the package entry. Then the entry itself: package.json's `exports` reach the same functions.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as entry from '../../src/index.js';
import { runScenario, startEmulator } from '../../src/index.js';
import { isolatedStateDir } from '../support/emulator.js';

const dir = await mkdtemp(join(tmpdir(), 'edgefleet-api-'));
const state = isolatedStateDir();
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  state.remove();
});

describe('a run driven from code', () => {
  it('runs the README example: the quickstart against an emulator in this process, with a JSON stream', async () => {
    const lines = join(dir, 'quickstart.jsonl');
    // --- as in README.md, "From code" ---
    const emulator = await startEmulator({ mqttPort: 0, httpPort: 0, stateDir: state.dir });
    let result: Awaited<ReturnType<typeof runScenario>>;
    try {
      result = await runScenario({
        scenario: 'scenarios/quickstart.yaml',
        duration: '10s',
        emulator: emulator.info,
        thresholds: ['connect.p95 < 5s', 'ledger.lost == 0'],
        out: [`json=${lines}`],
        reportsDir: join(dir, 'reports'),
      });
    } finally {
      await emulator.close();
    }
    // ---
    expect(result.thresholdsHeld).toBe(true);
    expect(result.incomplete).toBeUndefined();
    expect(result.reportDir).toBe(join(dir, 'reports', result.runId));
    const summary = JSON.parse(await readFile(join(result.reportDir, 'summary.json'), 'utf8'));
    expect(summary.ledger.balanced).toBe(true);
    expect(summary.ledger.generated).toBeGreaterThan(0);
    expect(summary.reconciliation.acknowledgedNotReceived).toBe(0);
    expect(result.console).toMatch(/thresholds: all 2 held/);

    const stream = (await readFile(lines, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const final = stream.at(-1);
    expect(stream.slice(0, -1).length).toBeGreaterThanOrEqual(5);
    expect(stream.slice(0, -1).every((l) => l.type === 'snapshot' && l.runId === result.runId)).toBe(true);
    expect(final).toMatchObject({
      type: 'final',
      runId: result.runId,
      ledger: { generated: summary.ledger.generated },
    });
    expect(final.reconciliation.acknowledgedNotReceived).toBe(0);
  }, 90_000);

  it('is what the package exports: import("edgefleet") gives the entry\'s functions', async () => {
    const pkg = JSON.parse(await readFile('package.json', 'utf8'));
    expect(pkg.exports['.']).toEqual({ types: './dist/index.d.ts', import: './dist/index.js' });
    const name: string = pkg.name;
    const published = (await import(/* @vite-ignore */ name)) as Record<string, unknown>;
    expect(Object.keys(published).sort()).toEqual(Object.keys(entry).sort());
    expect(Object.keys(entry).sort()).toEqual(['RunAborted', 'findCapacity', 'runScenario', 'startEmulator']);
  });
});
