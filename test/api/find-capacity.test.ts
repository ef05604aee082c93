// find-capacity: the scenario at a rate, a search that stops when the load generator saturates, and the figures
// it finds against the emulator with IoT Hub's limits (S1 × 1: 100 device-to-cloud sends/s; S2 × 2: 240/s).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { baseRates, findCapacity, withRate } from '../../src/api/find-capacity.js';
import { loadScenario } from '../../src/config/load.js';
import type { EmulatorInfo } from '../../src/emulator/index.js';
import { startChildEmulator } from '../support/child-emulator.js';
import { isolatedStateDir } from '../support/emulator.js';
import { writePlainScenario } from '../support/scenario-files.js';

const dir = mkdtempSync(join(tmpdir(), 'edgefleet-capacity-'));
const cleanup: (() => void | Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

/** `devices` plain devices sending every `interval`, all arriving at once. */
const scenario = (name: string, devices: number, interval: string): string =>
  writePlainScenario(dir, { name, devices, interval, duration: '10s', startRate: 500, drain: '3s', seed: 9 });

function stateDir(): string {
  const state = isolatedStateDir();
  cleanup.push(() => state.remove());
  return state.dir;
}

describe('the scenario at a rate', () => {
  it("scales the plain devices' telemetry interval, each group once, and the arrival rates", async () => {
    const loaded = await loadScenario(scenario('rates', 20, '2s'));
    const base = baseRates(loaded);
    expect(base).toEqual({ msgsPerSec: 10, arrivalsPerSec: 500 });
    const faster = withRate(loaded, 'telemetry', 100, base);
    expect(baseRates(faster).msgsPerSec).toBeCloseTo(100, 6);
    expect(faster.groups[0]?.kind === 'device' && faster.groups[0].config.telemetry.interval).toBe(200);
    expect(baseRates(loaded).msgsPerSec).toBe(10); // the loaded scenario is left as it was
    const arrivals = withRate(loaded, 'arrivals', 50, base);
    expect(baseRates(arrivals)).toEqual({ msgsPerSec: 10, arrivalsPerSec: 50 });
  });

  it('refuses SLOs it cannot read, and a search with nothing to say', async () => {
    const file = scenario('refused', 2, '1s');
    await expect(findCapacity({ scenario: file, slo: [] })).rejects.toThrow(/name at least one SLO/);
    await expect(findCapacity({ scenario: file, slo: ['telemetry.p99 < 1 sec'] })).rejects.toThrow(/--slo/);
    await expect(findCapacity({ scenario: file, slo: ['errors.rate < 1%'], factor: 1 })).rejects.toThrow(
      /--factor must be above 1/,
    );
  });
});

describe('find-capacity and a saturated load generator', () => {
  it("stops at a step whose generator was saturated, not counting it as the target's limit", async () => {
    const reportsDir = join(dir, 'saturated');
    const result = await findCapacity({
      scenario: scenario('flood', 250, '1s'),
      slo: ['telemetry.p99 < 1s'],
      // 50,000 msgs/s asked of one worker.
      start: 50_000,
      hold: '12s',
      workers: 1,
      cooldownMs: 0,
      reportsDir,
      stateDir: stateDir(),
    });
    expect(result.ended).toBe('generatorSaturated');
    expect(result.steps).toHaveLength(1);
    expect(result.steps[0]?.verdict?.generatorSaturated).toBe(true);
    expect(result.maxSustainable).toBeNull();
    expect(result.firstFailing).toBeNull();
    expect(result.conclusion).toMatch(/load generator itself was saturated.*--workers.*--shard/);
    const written = JSON.parse(readFileSync(join(result.dir, 'capacity.json'), 'utf8'));
    expect(written).toMatchObject({ vary: 'telemetry', ended: 'generatorSaturated', maxSustainable: null });
    expect(existsSync(join(result.steps[0]!.report, 'summary.json'))).toBe(true);
  }, 120_000);
});

// --- against IoT Hub's limits ---------------------------------------------------------------------------------

/** `edgefleet emulator` with the given limit flags in a process of its own, stopped after the file's tests. */
async function limitedEmulator(flags: string[]): Promise<EmulatorInfo> {
  const emulator = await startChildEmulator(flags);
  cleanup.push(() => emulator.stop());
  return emulator.info;
}

/** The device-to-cloud capacity find-capacity finds against an emulator with these limits. */
async function capacityAgainst(name: string, flags: string[], start: number): Promise<number | undefined> {
  const info = await limitedEmulator(flags);
  const started = Date.now();
  const result = await findCapacity({
    scenario: scenario(name, 20, '1s'),
    slo: ['telemetry.p99 < 1s', 'errors.rate < 1%'],
    emulator: info,
    start,
    // Over a hold of h seconds, a rate r over the limit L queues (r - L) * h / L seconds of backlog: the p99 < 1s
    // SLO fails from about L * (1 + 1/h), so a 12 s hold finds within 9% of the limit, before the search's own step.
    hold: '12s',
    precision: 0.08,
    cooldownMs: 2000,
    workers: 1,
    reportsDir: join(dir, name),
    stateDir: stateDir(),
    onStep: (s, i) => console.log(`${name} step ${i + 1}: ${s.rate} msgs/s ${s.held ? 'held' : 'failed'}`),
  });
  console.log(`${name}: ${result.conclusion} in ${Math.round((Date.now() - started) / 1000)} s`);
  expect(result.ended).toBe('narrowed');
  return result.maxSustainable?.msgsPerSec;
}

// The two searches run side by side (each with its own emulator): they are light on CPU, and long in time.
describe.concurrent('find-capacity against IoT Hub limits', () => {
  it("finds an S1 unit's device-to-cloud capacity within 15% of 100 msgs/s", async () => {
    const found = await capacityAgainst('s1', ['--hub-tier', 'S1', '--hub-units', '1', ...SHAPING], 60);
    expect(found).toBeGreaterThanOrEqual(85);
    expect(found).toBeLessThanOrEqual(115);
  }, 600_000);

  it("finds two S2 units' device-to-cloud capacity within 15% of 240 msgs/s", async () => {
    const found = await capacityAgainst('s2', ['--hub-tier', 'S2', '--hub-units', '2', ...SHAPING], 150);
    expect(found).toBeGreaterThanOrEqual(204);
    expect(found).toBeLessThanOrEqual(276);
  }, 600_000);
});

/** Shaping at once, and a short queue: a rate over the limit shows within a short hold. */
const SHAPING = ['--shaping-burst', '0s', '--shaping-queue', '3s'];
