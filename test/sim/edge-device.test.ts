// A simulated IoT Edge device against the real emulator: manifests assigned over REST, edgeAgent's report in the
// emulator's view of $edgeAgent, module telemetry arriving as the module identity, SendInterval/SendData/reset,
// routes through a filter module, re-assignment, malformed deployments, a reconnect storm, and the ledger.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Emulator } from '../../src/emulator/index.js';
import { SimEdgeDevice, type EdgeDeviceConfig } from '../../src/sim/edge/edge-device.js';
import { rest } from '../support/emulator.js';
import { connectedEdgeDevice, testContext, useTestEmulator, type TestSimContext } from '../support/sim-context.js';
import { until } from '../support/wait.js';

let emulator: Emulator;
const contexts: TestSimContext[] = [];
const devices: SimEdgeDevice[] = [];

useTestEmulator((e) => (emulator = e), devices, contexts);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fixture = (file: string) => JSON.parse(readFileSync(`test/fixtures/${file}`, 'utf8'));
/** The seed's manifest, faster: SendInterval 1 s instead of 10 s. */
function seedManifest(): any {
  const m = fixture('environmental-sensor.manifest.json');
  m.modulesContent.SimulatedTemperatureSensor['properties.desired'].SendInterval = 1;
  return m;
}
function gatewayManifest(): any {
  const m = fixture('gateway-filter.manifest.json');
  m.modulesContent.SimulatedTemperatureSensor['properties.desired'].SendInterval = 0.1;
  return m;
}

const gatewayConfig: EdgeDeviceConfig = {
  modules: {
    HighTempFilter: {
      behaviour: 'filter',
      input: 'input1',
      output: 'output1',
      condition: "$body.machine.temperature > 25 AND $connectionModuleId = 'SimulatedTemperatureSensor'",
    },
    ModbusTranslator: { behaviour: 'passthrough', input: 'input1', output: 'output1' },
  },
};

async function saveManifest(id: string, data: unknown): Promise<void> {
  expect(
    (await rest(emulator, 'PUT', `/api/deploymentManifests/${id}`, { displayName: id, data })).status,
  ).toBeLessThan(300);
}

/** An IoT Edge device with `manifest` assigned over REST, simulated in its own context (its own ledger). */
async function edgeDevice(
  id: string,
  manifest: unknown,
  config: EdgeDeviceConfig = { modules: {} },
): Promise<{ device: SimEdgeDevice; ctx: TestSimContext }> {
  const ctx = testContext(emulator);
  contexts.push(ctx);
  return { device: await connectedEdgeDevice(emulator, ctx, devices, id, manifest, config, 11), ctx };
}

const received = (identity: string) => emulator.stats.identities.get(identity)?.messagesReceived ?? 0;
const twin = (id: string, module: string) => emulator.registry.getModule(id, module)?.twin;
const reportedOf = (id: string, module: string) => (twin(id, module)?.reported.value ?? {}) as Record<string, any>;
const desiredVersion = (id: string, module: string) => twin(id, module)!.desired.version;

/** Deployment success as IoT Hub judges it (docs/protocol.md §4.3). */
function deployed(id: string): boolean {
  const r = reportedOf(id, '$edgeAgent');
  const desired = twin(id, '$edgeAgent')!.desired.value as Record<string, any>;
  if (r.lastDesiredVersion !== desiredVersion(id, '$edgeAgent') || r.lastDesiredStatus?.code !== 200) return false;
  const wanted = Object.keys(desired.modules ?? {});
  return (
    Object.keys(r.modules ?? {})
      .sort()
      .join() === wanted.sort().join() &&
    wanted.every(
      (m) =>
        r.modules[m].runtimeStatus === desired.modules[m].status &&
        r.modules[m].settings.image === desired.modules[m].settings.image,
    )
  );
}

/** Messages the emulator received from `identity` during `ms`. */
async function countDuring(identity: string, ms: number): Promise<number> {
  const before = received(identity);
  await sleep(ms);
  return received(identity) - before;
}

function balanced(ctx: TestSimContext, device: SimEdgeDevice): void {
  const l = ctx.metrics.ledger;
  expect(l.generated).toBe(l.acknowledged + l.failed + l.expired + l.dropped + device.pendingAcks);
}

describe('SimEdgeDevice against the emulator', () => {
  it("deploys the seed's manifest: $edgeAgent reports it, SimulatedTemperatureSensor sends as itself", async () => {
    const { device, ctx } = await edgeDevice('edge-seed', seedManifest());
    await until(() => deployed('edge-seed'), 10_000, 'deployment reported');
    const agent = reportedOf('edge-seed', '$edgeAgent');
    expect(agent).toMatchObject({
      schemaVersion: '1.0',
      lastDesiredStatus: { code: 200, description: '' },
      version: { version: expect.any(String) },
      runtime: { type: 'docker', platform: { os: 'linux', architecture: expect.any(String) } },
      systemModules: {
        edgeAgent: { runtimeStatus: 'running', settings: { image: 'mcr.microsoft.com/azureiotedge-agent:1.4' } },
        edgeHub: {
          runtimeStatus: 'running',
          status: 'running',
          restartPolicy: 'always',
          settings: { image: 'mcr.microsoft.com/azureiotedge-hub:1.4' },
        },
      },
    });
    expect(agent.modules.SimulatedTemperatureSensor).toMatchObject({
      runtimeStatus: 'running',
      status: 'running',
      restartPolicy: 'always',
      version: '1.0',
      type: 'docker',
      exitCode: 0,
      restartCount: 0,
      settings: {
        image: 'mcr.microsoft.com/azureiotedge-simulated-temperature-sensor:1.0',
        imageHash: expect.stringMatching(/^sha256:/),
      },
    });
    expect(Date.parse(agent.modules.SimulatedTemperatureSensor.lastStartTimeUtc)).toBeGreaterThan(Date.now() - 60_000);

    await until(() => received('edge-seed/SimulatedTemperatureSensor') >= 2, 10_000, 'module telemetry');
    const stats = (await rest(emulator, 'GET', '/stats')).json;
    expect(stats.identities['edge-seed/SimulatedTemperatureSensor'].messagesReceived).toBeGreaterThanOrEqual(2);
    expect(stats.identities['edge-seed']?.messagesReceived ?? 0).toBe(0); // never as the device
    const machine = (
      await rest(emulator, 'GET', '/api/devices/edge-seed/modules/SimulatedTemperatureSensor/telemetry/machine')
    ).json;
    expect(machine.value).toEqual({ temperature: expect.any(Number), pressure: expect.any(Number) });

    const hub = reportedOf('edge-seed', '$edgeHub');
    expect(hub).toMatchObject({
      schemaVersion: '1.0',
      lastDesiredVersion: desiredVersion('edge-seed', '$edgeHub'),
      lastDesiredStatus: { code: 200 },
    });
    expect(hub.clients['edge-seed/SimulatedTemperatureSensor']).toMatchObject({
      status: 'Connected',
      lastConnectedTimeUtc: expect.any(String),
    });
    // The module's writable properties, acknowledged the IoT Central way.
    await until(
      () => reportedOf('edge-seed', 'SimulatedTemperatureSensor').SendInterval !== undefined,
      5000,
      'acknowledgement',
    );
    expect(reportedOf('edge-seed', 'SimulatedTemperatureSensor').SendInterval).toEqual({
      value: 1,
      ac: 200,
      av: desiredVersion('edge-seed', 'SimulatedTemperatureSensor'),
      ad: 'completed',
    });
    expect(ctx.acked.get('edge-seed/SimulatedTemperatureSensor') ?? 0).toBeGreaterThanOrEqual(2);
    expect(device.state).toBe('connected');
  });

  it('follows SendInterval and SendData written over REST, and answers reset', async () => {
    const sensor = 'edge-seed/SimulatedTemperatureSensor';
    const slow = await countDuring(sensor, 2000); // about 2 at 1 s
    const write = await rest(
      emulator,
      'PATCH',
      '/api/devices/edge-seed/modules/SimulatedTemperatureSensor/properties',
      { SendInterval: 0.1 },
    );
    expect(write.status).toBe(202);
    await sleep(300);
    const fast = await countDuring(sensor, 2000); // about 20 at 0.1 s
    // Ten times the rate; a loaded machine may lose some, hence the margin.
    expect(fast).toBeGreaterThanOrEqual(Math.max(8, 4 * slow));
    await until(
      () => reportedOf('edge-seed', 'SimulatedTemperatureSensor').SendInterval?.value === 0.1,
      5000,
      'SendInterval acknowledged',
    );
    const warm = (
      await rest(emulator, 'GET', '/api/devices/edge-seed/modules/SimulatedTemperatureSensor/telemetry/machine')
    ).json.value.temperature;
    expect(warm).toBeGreaterThan(28); // 30 readings or so warmed it by about 15 °C

    await rest(emulator, 'PATCH', '/api/devices/edge-seed/modules/SimulatedTemperatureSensor/properties', {
      SendData: false,
    });
    await sleep(400);
    expect(await countDuring(sensor, 1000)).toBe(0);

    const reset = await rest(
      emulator,
      'POST',
      '/api/devices/edge-seed/modules/SimulatedTemperatureSensor/commands/reset',
      {},
    );
    expect(reset.json).toMatchObject({ responseCode: 200, response: null });
    const unknown = await rest(
      emulator,
      'POST',
      '/api/devices/edge-seed/modules/SimulatedTemperatureSensor/commands/reboot',
      {},
    );
    expect(unknown.json.responseCode).toBe(501);

    const before = received(sensor);
    await rest(emulator, 'PATCH', '/api/devices/edge-seed/modules/SimulatedTemperatureSensor/properties', {
      SendData: true,
    });
    await until(() => received(sensor) > before, 5000, 'sending again');
    const after = (
      await rest(emulator, 'GET', '/api/devices/edge-seed/modules/SimulatedTemperatureSensor/telemetry/machine')
    ).json.value.temperature;
    expect(after).toBeLessThan(27); // back near 21 °C
    // edgeAgent's own method.
    expect(
      (await rest(emulator, 'POST', '/api/devices/edge-seed/modules/$edgeAgent/commands/ping', {})).json.responseCode,
    ).toBe(200);

    // status: stopped in the deployment stops the module (its connection goes); running starts it again.
    const setStatus = (status: string) =>
      rest(emulator, 'PATCH', '/api/devices/edge-seed/modules/$edgeAgent/properties', {
        modules: { SimulatedTemperatureSensor: { status } },
      });
    expect((await setStatus('stopped')).status).toBe(202);
    await until(() => deployed('edge-seed'), 5000, 'stopped reported');
    expect(reportedOf('edge-seed', '$edgeAgent').modules.SimulatedTemperatureSensor).toMatchObject({
      status: 'stopped',
      runtimeStatus: 'stopped',
    });
    expect(emulator.service.isConnected('edge-seed', 'SimulatedTemperatureSensor')).toBe(false);
    expect(await countDuring(sensor, 800)).toBe(0);
    await setStatus('running');
    await until(() => deployed('edge-seed'), 5000, 'running reported');
    expect(await countDuring(sensor, 1200)).toBeGreaterThan(3);
  });

  it('reports a module that crashes: failed when restartPolicy is never, backoff otherwise', async () => {
    const manifest = seedManifest();
    const modules = manifest.modulesContent.$edgeAgent['properties.desired'].modules;
    modules.Fragile = {
      type: 'docker',
      status: 'running',
      restartPolicy: 'never',
      settings: { image: 'example.azurecr.io/fragile:1' },
    };
    modules.Sturdy = {
      type: 'docker',
      status: 'running',
      restartPolicy: 'always',
      settings: { image: 'example.azurecr.io/sturdy:1' },
    };
    const crashing = {
      behaviour: 'custom' as const,
      create: () => ({
        start() {
          throw new Error('boom');
        },
        stop() {},
      }),
    };
    await edgeDevice('edge-crash', manifest, { modules: { Fragile: crashing, Sturdy: crashing } });
    await until(
      () =>
        reportedOf('edge-crash', '$edgeAgent').modules?.Sturdy?.runtimeStatus === 'backoff' &&
        reportedOf('edge-crash', '$edgeAgent').modules?.Fragile?.runtimeStatus === 'failed',
      10_000,
      'crashes reported',
    );
    const r = reportedOf('edge-crash', '$edgeAgent').modules;
    expect(r.Fragile).toMatchObject({ exitCode: 1, statusDescription: expect.stringContaining('boom') });
    expect(r.Sturdy).toMatchObject({ exitCode: 1, restartCount: 0 });
    expect(r.SimulatedTemperatureSensor.runtimeStatus).toBe('running'); // one module's crash is its own
  });

  it('routes sensor → filter → upstream (gateway-filter manifest), starts modules in startupOrder, drops unrouted messages', async () => {
    const { device, ctx } = await edgeDevice('edge-gw', gatewayManifest(), gatewayConfig);
    await until(() => deployed('edge-gw'), 10_000, 'deployment reported');
    const modules = reportedOf('edge-gw', '$edgeAgent').modules;
    expect(Object.keys(modules).sort()).toEqual(['HighTempFilter', 'ModbusTranslator', 'SimulatedTemperatureSensor']);
    expect(modules.HighTempFilter).toMatchObject({
      startupOrder: 1,
      restartPolicy: 'on-failure',
      env: { TEMPERATURE_THRESHOLD: { value: '25' } },
    });
    // startupOrder 1, then 2, then the default (last).
    const started = (m: string) => Date.parse(modules[m].lastStartTimeUtc);
    expect(started('HighTempFilter')).toBeLessThanOrEqual(started('SimulatedTemperatureSensor'));
    expect(started('SimulatedTemperatureSensor')).toBeLessThanOrEqual(started('ModbusTranslator'));
    expect(device.edgeHubRuntime!.compiledRoutes.map((r) => [r.name, r.priority])).toEqual([
      ['sensorToFilter', 2_000_000_000],
      ['filterToCloud', 0],
      ['modbusToCloud', 1],
      ['leafToCloud', 2],
    ]);

    // Above 25 °C the filter forwards; the sensor itself never reaches the cloud.
    await until(() => received('edge-gw/HighTempFilter') >= 3, 15_000, 'filtered messages upstream');
    expect(received('edge-gw/SimulatedTemperatureSensor')).toBe(0);
    const filtered = (await rest(emulator, 'GET', '/api/devices/edge-gw/modules/HighTempFilter/telemetry/machine')).json
      .value;
    expect(filtered.temperature).toBeGreaterThan(25);
    expect(ctx.metrics.ledger.dropped).toBe(0);
    expect(ctx.metrics.ledger.acknowledged).toBe(ctx.acked.get('edge-gw/HighTempFilter'));

    // A deployment whose routes take nothing from the sensor, and replace the filter with another module.
    const next = gatewayManifest();
    next.modulesContent.$edgeHub['properties.desired'].routes = {
      fromRelay: 'FROM /messages/modules/Relay/outputs/* INTO $upstream',
    };
    const agentDesired = next.modulesContent.$edgeAgent['properties.desired'];
    delete agentDesired.modules.HighTempFilter;
    delete agentDesired.modules.ModbusTranslator;
    agentDesired.modules.Relay = {
      version: '1.0',
      type: 'docker',
      status: 'running',
      restartPolicy: 'always',
      settings: { image: 'example.azurecr.io/relay:1', createOptions: '{}' },
    };
    agentDesired.modules.SimulatedTemperatureSensor.env = { MessageCount: { value: '-1' } }; // changed: the module is replaced
    delete next.modulesContent.HighTempFilter;
    const sensorStartedBefore = modules.SimulatedTemperatureSensor.lastStartTimeUtc;
    await saveManifest('edge-gw-m2', next);
    expect(
      (await rest(emulator, 'POST', '/api/devices/edge-gw/deploymentManifest', { id: 'edge-gw-m2' })).status,
    ).toBeLessThan(300);
    await until(() => deployed('edge-gw'), 10_000, 'second deployment reported');
    const now = reportedOf('edge-gw', '$edgeAgent').modules;
    expect(Object.keys(now).sort()).toEqual(['Relay', 'SimulatedTemperatureSensor']);
    expect(now.SimulatedTemperatureSensor.lastStartTimeUtc).not.toBe(sensorStartedBefore);
    expect(now.SimulatedTemperatureSensor.env).toEqual({ MessageCount: { value: '-1' } });
    // The identity service removes the identities of modules the deployment dropped.
    await until(() => twin('edge-gw', 'HighTempFilter') === undefined, 5000, 'HighTempFilter identity removed');
    expect(reportedOf('edge-gw', '$edgeHub').clients['edge-gw/HighTempFilter'].status).toBe('Disconnected');
    await until(() => ctx.metrics.ledger.dropped >= 5, 5000, 'messages dropped by the routes');
    const upstreamBefore = received('edge-gw/SimulatedTemperatureSensor');
    await sleep(300);
    expect(received('edge-gw/SimulatedTemperatureSensor')).toBe(upstreamBefore);
    balanced(ctx, device);
  });

  it('refuses a malformed deployment with 400 and changes nothing', async () => {
    const bad = gatewayManifest();
    const modules = bad.modulesContent.$edgeAgent['properties.desired'].modules;
    delete modules.HighTempFilter.settings.image;
    modules.Extra = { type: 'docker', status: 'running', settings: { image: 'example.azurecr.io/extra:1' } };
    await saveManifest('edge-gw-bad', bad);
    const runningBefore = Object.keys(reportedOf('edge-gw', '$edgeAgent').modules).sort();
    await rest(emulator, 'POST', '/api/devices/edge-gw/deploymentManifest', { id: 'edge-gw-bad' });
    const version = desiredVersion('edge-gw', '$edgeAgent');
    await until(() => reportedOf('edge-gw', '$edgeAgent').lastDesiredVersion === version, 10_000, 'refusal reported');
    const r = reportedOf('edge-gw', '$edgeAgent');
    expect(r.lastDesiredStatus.code).toBe(400);
    expect(r.lastDesiredStatus.description).toMatch(/HighTempFilter\.settings\.image/);
    expect(Object.keys(r.modules).sort()).toEqual(runningBefore);
    expect(twin('edge-gw', 'Extra')?.reported.value.SendData).toBeUndefined();
    expect(emulator.stats.identities.get('edge-gw/Extra')).toBeUndefined();
  });

  it('reconnects every connection after drop(), re-reads its twins, and the ledger balances', async () => {
    const { device, ctx } = await edgeDevice('edge-storm', seedManifest());
    const identities = ['edge-storm/$edgeAgent', 'edge-storm/$edgeHub', 'edge-storm/SimulatedTemperatureSensor'];
    await until(() => deployed('edge-storm') && received(identities[2]!) >= 1, 10_000, 'deployed and sending');
    const connects = identities.map((i) => emulator.stats.of(i).connects);
    const twinGets = identities.map((i) => emulator.stats.of(i).twinGets);
    device.drop();
    await until(
      () => identities.every((i, k) => emulator.stats.of(i).connects > connects[k]!) && device.state === 'connected',
      10_000,
      'all reconnected',
    );
    const sending = received(identities[2]!);
    await until(() => received(identities[2]!) > sending, 5000, 'sending again');
    // Desired patches are not replayed: each identity reads its twin again.
    expect(identities.filter((i, k) => emulator.stats.of(i).twinGets <= twinGets[k]!)).toEqual([]);
    // Once settled, the runtime reports only what changed: nothing, here.
    await until(() => deployed('edge-storm'), 5000, 'deployment reported again');
    await sleep(300);
    const patches = identities.slice(0, 2).map((i) => emulator.stats.of(i).twinPatches);
    await sleep(1000);
    expect(identities.slice(0, 2).map((i) => emulator.stats.of(i).twinPatches)).toEqual(patches);

    device.quiesce();
    await until(() => device.pendingAcks === 0, 5000, 'drained');
    const l = ctx.metrics.ledger;
    expect(l.generated).toBeGreaterThan(0);
    balanced(ctx, device);
    // What the device says was acknowledged, the emulator received.
    expect(received(identities[2]!)).toBeGreaterThanOrEqual(ctx.acked.get(identities[2]!) ?? 0);
    await device.stop();
    expect(device.state).toBe('stopped');
  });
});
