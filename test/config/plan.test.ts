import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { formatId, parseIdPattern, registrationIdProblem } from '../../src/config/id-pattern.js';
import { loadScenario } from '../../src/config/load.js';
import {
  arrivalOffsets,
  expandFleet,
  parseShard,
  planFleet,
  shardOf,
  splitAmong,
  type FleetSource,
  type PlannedIdentity,
} from '../../src/config/plan.js';
import type { Arrivals } from '../../src/config/profile.js';

const arrivals = (
  startRate: number,
  stages: Array<[seconds: number, target: number]> = [],
): { arrivals: Arrivals } => ({
  arrivals: { startRate, stages: stages.map(([seconds, target]) => ({ duration: seconds * 1000, target })) },
});

describe('id patterns', () => {
  it('pad {index:NN}, count from firstIndex, and fill {group}', () => {
    expect(formatId(parseIdPattern('thermostat-{index:04}'), 7, 'g')).toBe('thermostat-0007');
    expect(formatId(parseIdPattern('{group}-{index}'), 12, 'edge')).toBe('edge-12');
    expect(formatId(parseIdPattern('x{index:2}y'), 123, 'g')).toBe('x123y');
  });

  it('refuse patterns without {index}, with unknown placeholders or stray braces', () => {
    expect(() => parseIdPattern('device')).toThrow(/expected \{index\}/);
    expect(() => parseIdPattern('{index}-{serial}')).toThrow(/unknown placeholder \{serial\}/);
    expect(() => parseIdPattern('a-{index}}')).toThrow(/unbalanced/);
  });

  it('check ids against the DPS registration id rules', () => {
    expect(registrationIdProblem('thermostat-0001')).toBeUndefined();
    expect(registrationIdProblem('a:b.c_d-')).toBeUndefined();
    expect(registrationIdProblem('dev/1')).toMatch(/not a valid DPS registration id/);
    expect(registrationIdProblem('dev_')).toMatch(/not a valid DPS registration id/);
    expect(registrationIdProblem('x'.repeat(129))).toMatch(/at most 128/);
  });
});

const FLEET: FleetSource = {
  seed: 42,
  fleet: [
    { group: 'edges', kind: 'iotEdge', count: 3, idPattern: 'edge-{index:03}' },
    { group: 'thermostats', kind: 'device', count: 4, idPattern: 'thermostat-{index:04}', firstIndex: 0 },
    { group: 'plain', kind: 'device', count: 2 },
  ],
};

describe('expandFleet', () => {
  it('lists every identity in group order with global ordinals', () => {
    const identities = expandFleet(FLEET);
    expect(identities.map((i) => i.deviceId)).toEqual([
      'edge-001',
      'edge-002',
      'edge-003',
      'thermostat-0000',
      'thermostat-0001',
      'thermostat-0002',
      'thermostat-0003',
      'plain-1',
      'plain-2',
    ]);
    expect(identities.map((i) => i.ordinal)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(identities[4]).toMatchObject({ group: 'thermostats', groupIndex: 1, kind: 'device', arrivalMs: 0 });
    expect(identities[0]?.kind).toBe('iotEdge');
  });

  it('is deterministic: the same seed gives the same plan, another seed other identity seeds but the same ids', () => {
    const first = expandFleet(FLEET, arrivals(2));
    const again = expandFleet(structuredClone(FLEET), arrivals(2));
    expect(again).toEqual(first);
    const reseeded = expandFleet({ ...FLEET, seed: 43 }, arrivals(2));
    expect(reseeded.map((i) => i.deviceId)).toEqual(first.map((i) => i.deviceId));
    expect(reseeded.map((i) => i.seed)).not.toEqual(first.map((i) => i.seed));
    expect(new Set(first.map((i) => i.seed)).size).toBe(first.length);
  });

  it('gives identities their arrival times in ordinal order', () => {
    const identities = expandFleet(FLEET, arrivals(2));
    expect(identities.map((i) => i.arrivalMs)).toEqual([0, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000]);
  });

  it('refuses the same id in two groups, naming both', () => {
    const clash: FleetSource = {
      fleet: [
        { group: 'north', kind: 'device', count: 5, idPattern: 'dev-{index}' },
        { group: 'south', kind: 'device', count: 5, idPattern: 'DEV-{index}', firstIndex: 5 },
      ],
    };
    expect(() => expandFleet(clash)).toThrow(ConfigError);
    expect(() => expandFleet(clash)).toThrow(
      'fleet[1].idPattern: device id "DEV-5" of group "south" is also an id of group "north" (fleet[0])',
    );
  });

  it('takes device ids from connection strings', () => {
    const identities = expandFleet({
      fleet: [
        {
          group: 'cs',
          kind: 'device',
          count: 2,
          auth: 'connectionString',
          connectionStrings: [
            'HostName=h;DeviceId=alpha;SharedAccessKey=a2V5',
            'HostName=h;DeviceId=beta;SharedAccessKey=a2V5',
          ],
        },
      ],
    });
    expect(identities.map((i) => i.deviceId)).toEqual(['alpha', 'beta']);
  });
});

describe('shards', () => {
  const identities = expandFleet({ fleet: [{ group: 'g', kind: 'device', count: 103 }] });

  it.each([1, 2, 3, 4, 7, 200])('%i shards are disjoint, cover the fleet, and are balanced', (count) => {
    const shards = Array.from({ length: count }, (_, index) => shardOf(identities, { index, count }));
    const seen = shards
      .flat()
      .map((i) => i.ordinal)
      .sort((a, b) => a - b);
    expect(seen).toEqual(identities.map((i) => i.ordinal));
    const sizes = shards.map((s) => s.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    for (const [index, shard] of shards.entries())
      for (const identity of shard) expect(identity.ordinal % count).toBe(index);
  });

  it('is stable: the same shard twice, and of a re-expanded fleet, is the same', () => {
    const again = expandFleet({ fleet: [{ group: 'g', kind: 'device', count: 103 }] });
    expect(shardOf(again, { index: 2, count: 4 })).toEqual(shardOf(identities, { index: 2, count: 4 }));
  });

  it('refuses an index outside 0..count-1', () => {
    expect(() => shardOf(identities, { index: 4, count: 4 })).toThrow(RangeError);
    expect(() => shardOf(identities, { index: 0, count: 0 })).toThrow(RangeError);
  });

  it('parses --shard i/n with i from 1 to n into a 0-based index', () => {
    expect(parseShard('2/4')).toEqual({ index: 1, count: 4 });
    expect(parseShard('1/1')).toEqual({ index: 0, count: 1 });
    expect(parseShard(' 4 / 4 ')).toEqual({ index: 3, count: 4 });
    for (const bad of ['0/4', '5/4', '1/0', 'a/b', '2', '1.5/4', '-1/4']) {
      expect(() => parseShard(bad)).toThrow(ConfigError);
    }
    expect(() => parseShard('0/4')).toThrow(
      'command line: --shard: expected i/n with 1 <= i <= n, such as "1/4" (the first of four shards), got "0/4"',
    );
  });

  it('a shard split again over workers by position leaves no worker empty', () => {
    const shard = shardOf(identities, { index: 1, count: 2 });
    const workers = splitAmong(shard, 2);
    expect(workers.map((w) => w.length)).toEqual([26, 25]);
    expect(workers.flat().length).toBe(shard.length);
  });
});

describe('arrivalOffsets', () => {
  it('a constant 10/s: 0, 100, 200 ms …', () => {
    expect(Array.from(arrivalOffsets(arrivals(10), 5))).toEqual([0, 100, 200, 300, 400]);
  });

  it('a linear ramp 0 → 10/s over 10 s: the k-th arrival at √(2k) s, then 10/s', () => {
    const offsets = arrivalOffsets(arrivals(0, [[10, 10]]), 61);
    for (let k = 0; k <= 50; k++) expect(offsets[k]).toBeCloseTo(Math.sqrt(2 * k) * 1000, 2);
    // N(10 s) = 50: from there the last target (10/s) holds.
    for (let k = 50; k <= 60; k++) expect(offsets[k]).toBeCloseTo(10_000 + (k - 50) * 100, 2);
  });

  it('a ramp down 10 → 0/s over 2 s: N(t) = 10t − 2.5t², and what it never reaches never arrives', () => {
    const offsets = arrivalOffsets(arrivals(10, [[2, 0]]), 11);
    expect(offsets[5]).toBeCloseTo((2 - Math.SQRT2) * 1000, 2); // 10t − 2.5t² = 5
    expect(offsets[9]).toBeCloseTo((2 - Math.sqrt(0.4)) * 1000, 2); // 10t − 2.5t² = 9
    expect(offsets[10]).toBe(Number.POSITIVE_INFINITY); // N tops out at exactly 10
  });

  it('nobody arrives during a stage at rate 0', () => {
    const offsets = arrivalOffsets(
      arrivals(0, [
        [5, 0],
        [0, 10],
      ]),
      3,
    );
    expect(Array.from(offsets)).toEqual([5000, 5100, 5200]);
  });

  it('a rate that ends at 0 leaves the rest at Infinity', () => {
    const offsets = arrivalOffsets(
      arrivals(10, [
        [1, 10],
        [0, 0],
      ]),
      12,
    );
    expect(offsets[9]).toBe(900);
    expect(offsets[10]).toBe(Number.POSITIVE_INFINITY);
    expect(offsets[11]).toBe(Number.POSITIVE_INFINITY);
  });

  it('"everyone at once": a jump to a huge rate brings 10,000 identities in 10 ms', () => {
    const offsets = arrivalOffsets(arrivals(0, [[0, 1e6]]), 10_000);
    expect(offsets[0]).toBe(0);
    expect(offsets[9_999]).toBeCloseTo(9.999, 6);
  });

  it('a spike: low, a burst, low again — never going back in time', () => {
    const offsets = arrivalOffsets(
      arrivals(2, [
        [60, 2],
        [0, 200],
        [15, 200],
        [0, 2],
        [180, 2],
      ]),
      3_500,
    );
    for (let k = 1; k < offsets.length; k++) expect(offsets[k]!).toBeGreaterThanOrEqual(offsets[k - 1]!);
    expect(offsets[119]).toBeCloseTo(59_500, 3); // 2/s for a minute: 120 arrivals
    expect(offsets[120]).toBeCloseTo(60_000, 3); // the burst starts
    expect(offsets[3_119]).toBeCloseTo(60_000 + (2_999 / 200) * 1000, 3); // 3000 in the burst
    expect(offsets[3_120]).toBeCloseTo(75_000, 3);
    expect(offsets[3_121]).toBeCloseTo(75_500, 3);
  });
});

describe('planFleet', () => {
  it('expands the quickstart into 20 IoT Edge devices and 100 thermostats, arriving at 100/s', async () => {
    const plan = planFleet(await loadScenario('scenarios/quickstart.yaml'));
    expect(plan.identities).toHaveLength(120);
    expect(plan.identities.filter((i: PlannedIdentity) => i.kind === 'iotEdge')).toHaveLength(20);
    expect(plan.identities[20]).toMatchObject({
      deviceId: 'thermostat-0001',
      group: 'thermostats',
      groupIndex: 0,
      ordinal: 20,
      arrivalMs: 200,
    });
    expect(plan.lastArrivalMs).toBe(1190);
    expect(plan.durationMs).toBe(60_000);
    expect(plan.seed).toBe(1);
  });

  it('uses the --seed override for the identity seeds', async () => {
    const one = planFleet(await loadScenario('scenarios/quickstart.yaml'));
    const two = planFleet(await loadScenario('scenarios/quickstart.yaml', { seed: 2 }));
    expect(two.seed).toBe(2);
    expect(two.identities[0]?.seed).not.toBe(one.identities[0]?.seed);
  });
});
