// An identity the worker cannot build fails at its arrival, counted and shown; the rest of the worker's fleet runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadScenario } from '../../src/config/load.js';
import { planFleet } from '../../src/config/plan.js';
import type { Emulator } from '../../src/emulator/index.js';
import { buildFleet, type BuiltThing } from '../../src/sim/build.js';
import { startTestEmulator } from '../support/emulator.js';
import { targetOf, testContext, until } from '../support/sim-context.js';

let emulator: Emulator;
let things: BuiltThing[] = [];
beforeAll(async () => {
  emulator = await startTestEmulator();
});
afterAll(async () => {
  await Promise.all(things.map((b) => b.thing.stop()));
  await emulator?.close();
});

describe('an identity that cannot be built', () => {
  it('fails at its arrival with the reason, while the others of its worker connect', async () => {
    const loaded = await loadScenario('test/fixtures/run-devices.yaml', { duration: '10s' });
    const identities = planFleet({ scenario: loaded.scenario, profile: loaded.profile, durationMs: 10_000 })
      .identities.slice(0, 3)
      .map((i) => ({ ...i, arrivalMs: 0 }));
    // What the gate makes impossible from a file: an identity whose group the scenario lacks.
    const broken = { ...identities[1]!, group: 'no-such-group' };
    const ctx = testContext(emulator);
    things = await buildFleet(ctx, {
      scenario: loaded,
      identities: [identities[0]!, broken, identities[2]!],
      target: targetOf(emulator),
      seed: 1,
    });
    expect(things).toHaveLength(3);
    const now = ctx.scheduler.now();
    for (const b of things) {
      b.plan.arrivalAt = now;
      b.thing.start();
    }
    await until(
      () => ctx.states.get('connected') === 2 && ctx.states.get('failed') === 1,
      15_000,
      'two connected, one failed',
    );
    expect(things[1]!.thing.state).toBe('failed');
    const errors = ctx.metrics.snapshot(Date.now()).errors;
    expect(JSON.stringify(errors)).toContain('no-such-group');
    expect(ctx.logs.some((l) => l.includes(`${broken.deviceId} cannot be set up`))).toBe(true);
  });
});
