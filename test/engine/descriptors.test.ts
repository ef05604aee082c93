// The pre-flight estimate of file descriptors and ports, on the shipped scenarios: a socket per connection by how each
// identity reaches the target, registrations in flight, worker threads and the process's own; and what a person is
// told to do when the plan does not fit.
import { describe, expect, it } from 'vitest';
import { loadScenario } from '../../src/config/load.js';
import { planFleet } from '../../src/config/plan.js';
import {
  budgetAdvice,
  descriptorBudget,
  estimateDescriptors,
  fits,
  PER_WORKER,
  RESERVE,
  EMULATOR_BASELINE,
  readDescriptorLimit,
  type DescriptorInput,
} from '../../src/engine/descriptors.js';

async function inputOf(file: string, overrides: Partial<DescriptorInput> = {}): Promise<DescriptorInput> {
  const loaded = await loadScenario(file);
  const plan = planFleet({ scenario: loaded.scenario, profile: loaded.profile, durationMs: loaded.durationMs });
  return {
    identities: plan.identities,
    groups: loaded.groups,
    target: loaded.target.kind,
    arrivals: loaded.profile.arrivals,
    workers: 2,
    embeddedEmulator: true,
    gatewayListen: 0,
    baseline: 20,
    ...overrides,
  };
}

const part = (parts: { what: string; count: number }[], what: RegExp) => parts.find((p) => what.test(p.what))?.count;

describe('the descriptors a plan needs at its peak', () => {
  it('counts connections by pattern: a plain device one, an IoT Edge device edgeAgent, edgeHub, modules', async () => {
    // quickstart: 20 IoT Edge devices running one module, 100 thermostats, arriving at 100/s.
    const e = estimateDescriptors(await inputOf('scenarios/quickstart.yaml'));
    expect(part(e.parts, /plain devices/)).toBe(100);
    expect(part(e.parts, /IoT Edge devices of environmental-sensors: 3 connections each/)).toBe(60);
    // 120 identities register; at 100/s, 2 s of arrivals is more than all of them.
    expect(part(e.parts, /registrations with DPS in flight/)).toBe(120);
    expect(part(e.parts, /HTTPS registry/)).toBe(20);
    expect(part(e.parts, /worker threads/)).toBe(2 * PER_WORKER);
    expect(part(e.parts, /this process/)).toBe(20 + RESERVE);
    expect(e.connections).toBe(100 + 60 + 120 + 20);
    expect(e.needed).toBe(e.connections + 2 * PER_WORKER + 20 + RESERVE);
    // The emulator holds the other end of every connection, in its own process.
    expect(e.emulator).toBe(e.connections + EMULATOR_BASELINE);
  });

  it("counts downstream devices' upstream legs and the sensors of identity-translation modules", async () => {
    const leaves = estimateDescriptors(await inputOf('scenarios/transparent-gateway.yaml'));
    expect(part(leaves.parts, /6 downstream devices: an upstream connection each/)).toBe(6);
    expect(part(leaves.parts, /IoT Edge devices of gateway: 3 connections each/)).toBe(6);
    const sensors = estimateDescriptors(await inputOf('scenarios/identity-translation.yaml'));
    expect(part(sensors.parts, /6 sensors of identity-translation modules/)).toBe(6);
  });

  it('counts registrations in flight from the peak arrival rate, and no emulator it does not start', async () => {
    const input = await inputOf('scenarios/quickstart.yaml', {
      arrivals: {
        startRate: 1,
        stages: [
          { duration: 10_000, target: 20 },
          { duration: 0, target: 5 },
        ],
      },
      embeddedEmulator: false,
    });
    const e = estimateDescriptors(input);
    expect(part(e.parts, /registrations with DPS in flight/)).toBe(40); // 20/s over 2 s
    expect(e.emulator).toBeUndefined();
  });
});

describe('the budget against the limit', () => {
  it('fits under the limit, and refuses with what to do over it', async () => {
    const e = estimateDescriptors(await inputOf('scenarios/quickstart.yaml'));
    expect(fits(descriptorBudget(e, { soft: 20_000, hard: 20_000 }, 28_232, 0))).toBe(true);
    const tight = descriptorBudget(e, { soft: 200, hard: 200 }, 28_232, 0);
    expect(fits(tight)).toBe(false);
    const advice = budgetAdvice(tight);
    expect(advice).toContain(`needs about ${e.needed} file descriptors at its peak, and this process may open 200`);
    expect(advice).toMatch(/raise the limit: ulimit -n \d+ \(above the hard limit: as root/);
    expect(advice).toMatch(/--shard 1\/\d+ … --shard (\d+)\/\1/);
    expect(advice).toMatch(/run anyway with --force/);
    // Under the hard limit, raising it is the whole advice.
    expect(budgetAdvice(descriptorBudget(e, { soft: 200, hard: 4096 }, 28_232, 0))).toMatch(/ulimit -n \d+\n/);
  });

  it('sends connections over more source addresses when one has too few local ports', async () => {
    const e = estimateDescriptors(await inputOf('scenarios/quickstart.yaml'));
    const budget = descriptorBudget(e, { soft: 20_000, hard: 20_000 }, 100, 1);
    expect(fits(budget)).toBe(false);
    expect(budgetAdvice(budget)).toMatch(/300 connections to one address and port, and 100 local ports/);
    expect(budgetAdvice(budget)).toMatch(/spread the connections over 3 source addresses: --local-address/);
    expect(fits(descriptorBudget(e, { soft: 20_000, hard: 20_000 }, 100, 3))).toBe(true);
  });

  it("reads this process's limit, raised to the hard one by Node at start", () => {
    const limit = readDescriptorLimit();
    expect(limit).toBeDefined();
    // An unlimited hard limit is searched up to 2^20 by Node; a finite one is taken whole.
    if (Number.isFinite(limit!.hard)) expect(limit!.soft).toBe(limit!.hard);
  });
});
