// `--target iot-hub` end to end, as a user runs it: the built CLI against the emulator given as an IoT Hub (its
// serviceConnectionString), the registry read before and after by the official service SDK (azure-iothub).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Emulator } from '../../src/emulator/index.js';
import { startTestEmulator, TEST_STATE_DIR } from '../support/emulator.js';
import { policyConnectionString, serviceRegistry } from '../support/service-sdk.js';

const CLI = join(process.cwd(), 'dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'edgefleet-iothub-'));
let emulator: Emulator;
let registry: ReturnType<typeof serviceRegistry>;

beforeAll(async () => {
  emulator = await startTestEmulator();
  registry = serviceRegistry(emulator.info.serviceConnectionString);
});
afterAll(async () => {
  await emulator?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The variables a user sets from the emulator's info file (its MQTT port is not the one in HostName). */
function hubEnv(connectionString = emulator.info.serviceConnectionString): NodeJS.ProcessEnv {
  return {
    ...process.env,
    IOTHUB_CONNECTION_STRING: connectionString,
    IOTHUB_MQTT_ENDPOINT: `localhost:${emulator.info.mqttPort}`,
  };
}

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

const runArgs = (reports: string, duration: string) => [
  'run',
  'scenarios/quickstart.yaml',
  '--target',
  'iot-hub',
  '--duration',
  duration,
  '--workers',
  '2',
  '--no-tui',
  '--reports-dir',
  reports,
  '--state-dir',
  join(dir, 'state'),
];

async function registryIds(): Promise<string[]> {
  const { responseBody } = await registry.list();
  return responseBody.map((d) => d.deviceId).sort();
}

async function tagged(scenario: string): Promise<{ deviceId: string; capabilities?: { iotEdge?: boolean } }[]> {
  const query = registry.createQuery(`SELECT * FROM devices WHERE tags.edgefleet.scenario = '${scenario}'`, 1000);
  const found: { deviceId: string; capabilities?: { iotEdge?: boolean } }[] = [];
  while (query.hasMoreResults) found.push(...((await query.nextAsTwin()).result as never[]));
  return found;
}

function summaryIn(reports: string) {
  const runs = readdirSync(reports).filter((d) => d !== 'latest');
  expect(runs).toHaveLength(1);
  return JSON.parse(readFileSync(join(reports, runs[0] as string, 'summary.json'), 'utf8'));
}

describe('edgefleet run --target iot-hub', () => {
  it('creates the quickstart fleet in bulk, deploys its manifest, acts through the service API; cleanup undoes it', async () => {
    await registry.create({ deviceId: 'bystander-1' });
    const before = await registryIds();
    const dpsBefore = emulator.stats.dps.registrations;

    const reports = join(dir, 'reports-1');
    const r = await cli(runArgs(reports, '20s'), hubEnv());
    expect(r.out).toContain('120 identities in the registry (120 created, 0 updated, in bulk)');
    expect(r.out).toContain('deployment manifests applied to 20 IoT Edge devices');
    expect(r.code, r.out).toBe(0);

    const s = summaryIn(reports);
    expect(s.provisioning.provisioned).toBe(0);
    expect(emulator.stats.dps.registrations).toBe(dpsBefore);
    expect(s.ledger.balanced).toBe(true);
    expect(s.ledger.generated).toBeGreaterThan(0);
    expect(s.ledger.failed).toBe(0);
    expect(s.operations.command.count).toBeGreaterThan(0);
    expect(s.operations.desiredAck.count).toBeGreaterThan(0);
    for (const cls of ['auth', 'server', 'protocol', 'timeout']) expect(s.errors[cls].count, cls).toBe(0);
    expect(s.reconciliation).toEqual({
      available: false,
      note: expect.stringContaining('not available for this target'),
    });
    expect(r.out).toContain('reconciliation not available for this target');

    const mine = await tagged('quickstart');
    expect(mine).toHaveLength(120);
    expect(mine.filter((t) => t.capabilities?.iotEdge === true)).toHaveLength(20);
    const agent = (await registry.getModuleTwin('edge-001', '$edgeAgent')).responseBody;
    const modules = agent.properties.reported.modules as Record<string, { runtimeStatus?: string }>;
    expect(modules.SimulatedTemperatureSensor?.runtimeStatus).toBe('running');

    // A second run finds its identities as the first left them.
    const again = await cli(runArgs(join(dir, 'reports-2'), '5s'), hubEnv());
    expect(again.out).toContain('120 identities in the registry (0 created, 120 updated, in bulk)');
    expect(again.code, again.out).toBe(0);

    const c = await cli(['cleanup', 'scenarios/quickstart.yaml', '--target', 'iot-hub'], hubEnv());
    expect(c.out).toContain('deleted 120 of 120 identities created by runs of quickstart');
    expect(c.code, c.out).toBe(0);
    expect(await registryIds()).toEqual(before);
    expect(before).toContain('bystander-1');
  }, 120_000);

  it('refuses a key the hub does not know, or a policy that cannot write the registry, before anything connects', async () => {
    const before = await registryIds();
    const connectsBefore = emulator.stats.toJson().totals.connects;
    const host = emulator.info.serviceConnectionString.match(/HostName=([^;]+)/)?.[1] as string;
    const wrongKey = policyConnectionString(host, 'iothubowner', Buffer.alloc(32, 1).toString('base64'));
    const secrets = JSON.parse(readFileSync(join(TEST_STATE_DIR, 'secrets.json'), 'utf8'));
    const readOnly = policyConnectionString(host, 'registryRead', secrets.servicePolicies.registryRead.primaryKey);
    for (const connectionString of [wrongKey, readOnly]) {
      const r = await cli(runArgs(join(dir, 'refused'), '5s'), hubEnv(connectionString));
      expect(r.code, r.out).toBe(2);
      expect(r.out).toContain(
        'scenarios/quickstart.yaml: targets.iot-hub.connectionString: the hub refused this policy',
      );
      expect(r.out).not.toContain(connectionString.split('SharedAccessKey=')[1]);
    }
    const noKeyName = `HostName=${host};SharedAccessKey=${Buffer.alloc(32, 1).toString('base64')}`;
    const r = await cli(runArgs(join(dir, 'refused'), '5s'), hubEnv(noKeyName));
    expect(r.code).toBe(2);
    expect(r.out).toContain('targets.iot-hub.connectionString: not a usable IoT Hub connection string');
    expect(emulator.stats.toJson().totals.connects).toBe(connectsBefore);
    expect(await registryIds()).toEqual(before);
  }, 60_000);
});

describe('--target iot-hub with a DPS in front of the hub', () => {
  it('creates and tags the identities, then they register through the DPS; cleanup deletes them', async () => {
    const repo = process.cwd();
    const scenario = join(dir, 'dps.yaml');
    writeFileSync(
      scenario,
      [
        'name: hub-dps',
        'seed: 5',
        'duration: 8s',
        `profile: ${join(repo, 'test/fixtures/run-fast.profile.yaml')}`,
        'targets:',
        '  iot-hub:',
        '    connectionString: ${IOTHUB_CONNECTION_STRING}',
        '    dps:',
        '      idScope: ${DPS_ID_SCOPE}',
        '      globalEndpoint: ${DPS_ENDPOINT}',
        '      groupKeys:',
        '        devices: { primaryKey: "${DPS_DEVICES_KEY}" }',
        '        edgeDevices: { primaryKey: "${DPS_EDGE_KEY}" }',
        'fleet:',
        '  - { group: d, kind: device, count: 3, idPattern: "hub-dps-{index}" }',
        `  - { group: e, kind: iotEdge, count: 1, idPattern: "hub-dps-edge-{index}", manifest: ${join(repo, 'scenarios/manifests/environmental-sensor.json')} }`,
      ].join('\n'),
    );
    const info = emulator.info;
    const env = {
      ...hubEnv(),
      DPS_ID_SCOPE: info.idScope,
      DPS_ENDPOINT: `localhost:${info.dpsPort}`,
      DPS_DEVICES_KEY: info.enrollmentGroups.devices.primaryKey,
      DPS_EDGE_KEY: info.enrollmentGroups.edgeDevices.primaryKey,
    };
    const before = await registryIds();
    const reports = join(dir, 'reports-dps');
    const args = ['run', scenario, '--target', 'iot-hub', '--no-tui', '--workers', '1', '--reports-dir', reports];
    const r = await cli([...args, '--state-dir', join(dir, 'state-dps')], env);
    expect(r.out).toContain('4 identities in the registry (4 created, 0 updated, in bulk)');
    expect(r.code, r.out).toBe(0);
    const s = summaryIn(reports);
    expect(s.provisioning.provisioned).toBe(4);
    expect(s.ledger.balanced).toBe(true);
    expect(s.ledger.failed).toBe(0);
    expect(s.ledger.acknowledged).toBeGreaterThan(0);
    expect(await tagged('hub-dps')).toHaveLength(4);
    const c = await cli(['cleanup', scenario], env);
    expect(c.out).toContain('deleted 4 of 4 identities created by runs of hub-dps');
    expect(await registryIds()).toEqual(before);
  }, 60_000);
});

describe('edgefleet smoke --target iot-hub', () => {
  it("runs the hub's gateway patterns, skips IoT Central's with a reason, and leaves the registry as it found it", async () => {
    const before = await registryIds();
    // Trust through the target's ca: file this time, not NODE_EXTRA_CA_CERTS.
    const env: NodeJS.ProcessEnv = { ...hubEnv(), IOTHUB_CA_FILE: emulator.info.caCertPath };
    delete env.NODE_EXTRA_CA_CERTS;
    const args = [
      'smoke',
      '--target',
      'iot-hub',
      '--reports-dir',
      join(dir, 'smoke'),
      '--state-dir',
      join(dir, 'state'),
    ];
    const r = await cli([...args, '--timeout', '80s'], env);
    expect(r.code, r.out).toBe(0);
    for (const pattern of ['edge-device', 'transparent', 'store-and-forward']) {
      expect(r.out).toMatch(new RegExp(`PASS  ${pattern} › modules-running`));
      expect(r.out).toMatch(new RegExp(`PASS  ${pattern} › ledger-balanced`));
    }
    expect(r.out).toContain('PASS  edge-device › command-round-trip');
    expect(r.out).toContain('PASS  transparent › gateway-relationship');
    expect(r.out).toContain('PASS  transparent › writable-property-ack');
    expect(r.out).toContain('PASS  store-and-forward › store-and-forward');
    expect(r.out).toMatch(/SKIP {2}identity-translation › modules-running {2}\(skipped: .*iotcGateway/);
    expect(r.out).toMatch(/SKIP {2}protocol-translation › .*IoT Central keeps/);
    expect(r.out).toMatch(/SKIP {2}transparent › telemetry-attribution {2}\(skipped: telemetry is read back/);
    expect(await registryIds()).toEqual(before);
  }, 120_000);
});
