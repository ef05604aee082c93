// Downstream (leaf) groups behind IoT Edge gateways: the scenario shape, the plan (ids, order, keys by seed, shards),
// and the errors a person gets for mistakes, including X.509 leaves refused for IoT Central.
import { describe, expect, it } from 'vitest';
import { loadScenario } from '../../src/config/load.js';
import { planFleet, shardOf, splitAmong, type PlannedIdentity } from '../../src/config/plan.js';
import { configError, scenarioDir, write } from './helpers.js';

const scenario = (downstream: string[], extra: string[] = []) =>
  [
    'name: tg',
    'seed: 5',
    ...extra,
    'fleet:',
    '  - { group: plain, kind: device, count: 2 }',
    '  - group: gateway',
    '    kind: iotEdge',
    '    count: 2',
    '    idPattern: "gw-{index:02}"',
    '    manifest: ./manifests/env.json',
    '    downstream:',
    ...downstream,
  ].join('\n');

const LEAVES = [
  '      - group: leaf',
  '        countPerGateway: 3',
  "        idPattern: '{gateway}-leaf-{index}'",
  '        model: ./models/thermostat.json',
  '        telemetry: { interval: 2s }',
];

async function load(text: string, overrides = {}) {
  const dir = await scenarioDir();
  const file = await write(dir, 's.yaml', text);
  return { file, loaded: () => loadScenario(file, overrides) };
}

describe('downstream groups', () => {
  it('plan each leaf after its gateways, with its gateway, in counts and order', async () => {
    const { loaded } = await load(scenario(LEAVES));
    const scenarioLoaded = await loaded();
    expect(scenarioLoaded.downstream).toHaveLength(1);
    expect(scenarioLoaded.downstream[0]).toMatchObject({
      kind: 'downstream',
      name: 'leaf',
      gatewayGroup: 'gateway',
      config: { auth: 'sas', countPerGateway: 3 },
    });
    expect(scenarioLoaded.downstream[0]!.config.model).toMatch(/models\/thermostat\.json$/);
    const plan = planFleet({
      scenario: scenarioLoaded.scenario,
      profile: scenarioLoaded.profile,
      durationMs: scenarioLoaded.durationMs,
    });
    expect(plan.identities.map((i) => `${i.kind}:${i.deviceId}${i.gateway ? `<${i.gateway.deviceId}` : ''}`)).toEqual([
      'device:plain-1',
      'device:plain-2',
      'iotEdge:gw-01',
      'iotEdge:gw-02',
      'downstream:gw-01-leaf-1<gw-01',
      'downstream:gw-01-leaf-2<gw-01',
      'downstream:gw-01-leaf-3<gw-01',
      'downstream:gw-02-leaf-1<gw-02',
      'downstream:gw-02-leaf-2<gw-02',
      'downstream:gw-02-leaf-3<gw-02',
    ]);
    const leaf = plan.identities.find((i) => i.deviceId === 'gw-02-leaf-1')!;
    expect(leaf).toMatchObject({ group: 'leaf', groupIndex: 3, gateway: { deviceId: 'gw-02', ordinal: 3 } });
    // Leaves arrive after their gateway.
    const gateway = plan.identities.find((i) => i.deviceId === 'gw-02')!;
    expect(leaf.arrivalMs).toBeGreaterThan(gateway.arrivalMs);
    // Same seed, same plan (ids and identity seeds, from which keys and values derive).
    const again = planFleet({
      scenario: scenarioLoaded.scenario,
      profile: scenarioLoaded.profile,
      durationMs: scenarioLoaded.durationMs,
    });
    expect(again.identities).toEqual(plan.identities);
  });

  it('stay in the shard and the worker of their gateway', async () => {
    const { loaded } = await load(scenario(LEAVES));
    const l = await loaded();
    const { identities } = planFleet({ scenario: l.scenario, profile: l.profile, durationMs: l.durationMs });
    const together = (parts: PlannedIdentity[][]) => {
      for (const part of parts) {
        const ids = new Set(part.map((i) => i.deviceId));
        for (const i of part) if (i.gateway) expect(ids.has(i.gateway.deviceId)).toBe(true);
      }
    };
    for (const count of [2, 3, 4]) {
      const shards = Array.from({ length: count }, (_, index) => shardOf(identities, { index, count }));
      expect(shards.flat().length).toBe(identities.length);
      together(shards);
      for (const shard of shards) together(splitAmong(shard, 3));
    }
    const workers = splitAmong(identities, 4);
    together(workers);
    // Gateways and plain devices still take turns: no worker is left empty.
    expect(workers.every((w) => w.length > 0)).toBe(true);
  });

  it('can be named by profile events and actions, like device groups', async () => {
    const dir = await scenarioDir();
    await write(
      dir,
      'p.yaml',
      [
        'name: p',
        'duration: 10s',
        'arrivals: { startRate: 10 }',
        'events: [{ at: 5s, kind: dropConnections, fraction: 1.0, group: leaf }]',
        'actions: [{ kind: command, ratePerSecond: 1, command: getMaxMinReport, group: leaf }]',
      ].join('\n'),
    );
    const file = await write(dir, 's.yaml', scenario(LEAVES, ['profile: ./p.yaml']));
    const loaded = await loadScenario(file);
    expect(loaded.actions.map((a) => a.groups)).toEqual([['leaf']]);
    expect(loaded.profile.events[0]).toMatchObject({ group: 'leaf' });
  });

  it('need {gateway} in their pattern, and unique group names and ids', async () => {
    const { file, loaded } = await load(
      scenario([
        '      - { group: leaf, countPerGateway: 2, idPattern: "leaf-{index}" }',
        '      - { group: plain, countPerGateway: 1, idPattern: "{gateway}-{oops}-{index}" }',
      ]),
    );
    const error = await configError(loaded);
    expect(error.message).toContain(
      `${file}: fleet[1].downstream[0].idPattern: expected {gateway} in the pattern, so that leaf devices of different gateways get different ids`,
    );
    expect(error.message).toContain(
      `${file}: fleet[1].downstream[1].idPattern: unknown placeholder {oops}; expected {index}, {index:NN} (zero-padded to NN digits), {gateway} or {group}`,
    );
    expect(error.message).toContain(
      `${file}: fleet[1].downstream[1].group: duplicate group name "plain" (also fleet[0])`,
    );

    const clash = await load(
      scenario(['      - { group: leaf, countPerGateway: 2, idPattern: "{gateway}{index}" }'], []).replace(
        'count: 2 }',
        'count: 2, idPattern: "gw-0{index}" }',
      ),
    );
    const clashError = await configError(clash.loaded);
    expect(clashError.message).toContain(
      'device id "gw-01" of group "gateway" is also an id of group "plain" (fleet[0])',
    );
  });

  it('with X.509 are refused for IoT Central, naming the path, and allowed for the emulator', async () => {
    const x509Leaves = ['      - { group: leaf, countPerGateway: 1, auth: x509 }'];
    const central = [
      'targets:',
      '  iot-central:',
      '    idScope: "0ne00ABCDEF"',
      '    subdomain: myapp',
      '    apiToken: "SharedAccessSignature sr=x"',
      '    groupKeys:',
      '      devices: { primaryKey: "ZGV2aWNlcw==" }',
      '      edgeDevices: { primaryKey: "ZWRnZQ==" }',
      '    x509: { caCert: ./manifests/env.json, caKey: ./manifests/env.json }',
    ];
    const { file, loaded } = await load(scenario(x509Leaves, central), { target: 'iot-central' });
    const error = await configError(loaded);
    expect(error.message).toContain(
      `${file}: fleet[1].downstream[0].auth: IoT Central does not support X.509 downstream devices behind a transparent gateway (group "leaf", target iot-central from --target); use auth: sas, or the emulator target`,
    );
    expect(error.problems).toHaveLength(1);
    const emulator = await load(scenario(x509Leaves, central));
    expect((await emulator.loaded()).downstream[0]!.config.auth).toBe('x509');
  });

  it('with SAS need the devices group key for IoT Central', async () => {
    const central = [
      'targets:',
      '  iot-central:',
      '    idScope: "0ne00ABCDEF"',
      '    subdomain: myapp',
      '    groupKeys:',
      '      edgeDevices: { primaryKey: "ZWRnZQ==" }',
    ];
    const text = scenario(LEAVES, central).replace('  - { group: plain, kind: device, count: 2 }\n', '');
    const { file, loaded } = await load(text, { target: 'iot-central' });
    const error = await configError(loaded);
    expect(error.message).toContain(
      `${file}: targets.iot-central.groupKeys.devices: required: downstream devices with auth: sas derive their keys from the devices group key`,
    );
  });
});
