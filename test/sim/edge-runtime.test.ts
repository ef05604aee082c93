// A simulated IoT Edge device against the real emulator: the deployment comes from its twins, the modules
// run and report like the IoT Edge runtime, messages take the manifest's routes, and the ledger balances.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Emulator } from '../../src/emulator/index.js';
import { deriveDeviceKey } from '../../src/protocol/index.js';
import { SimEdgeDevice, type EdgeDeviceConfig } from '../../src/sim/edge/runtime.js';
import { rest, startTestEmulator } from '../support/emulator.js';
import { testContext, until, type TestSimContext } from '../support/sim-context.js';

let emulator: Emulator;
let ctx: TestSimContext;
const things: SimEdgeDevice[] = [];

const manifest = (file: string) => JSON.parse(readFileSync(`test/fixtures/${file}`, 'utf8'));
const seedManifest = () => {
  const m = manifest('environmental-sensor.manifest.json');
  m.modulesContent.SimulatedTemperatureSensor['properties.desired'].SendInterval = 1;
  return m;
};

beforeAll(async () => {
  emulator = await startTestEmulator();
  ctx = testContext(emulator);
});
afterAll(async () => {
  await Promise.all(things.map((t) => t.stop()));
  ctx?.scheduler.stop();
  await emulator?.close();
});

const config: EdgeDeviceConfig = {
  modules: {
    SimulatedTemperatureSensor: { behaviour: { behaviour: 'simulated-temperature-sensor', output: 'temperatureOutput' } },
    HighTempFilter: { behaviour: { behaviour: 'filter', input: 'input1', output: 'output1', condition: '$body.machine.temperature > 25' } },
    ModbusTranslator: { behaviour: { behaviour: 'passthrough', input: 'input1', output: 'output1' } },
  },
  fallback: { behaviour: 'passthrough', input: 'input1', output: 'output1' },
};

async function edgeDevice(id: string, manifestJson: unknown): Promise<SimEdgeDevice> {
  expect((await rest(emulator, 'PUT', `/api/deploymentManifests/${id}-manifest`, { displayName: id, data: manifestJson })).status).toBeLessThan(300);
  expect((await rest(emulator, 'PUT', `/api/devices/${id}`, { iotEdge: true, deploymentManifest: `${id}-manifest` })).status).toBeLessThan(300);
  let seed = 7;
  const thing = new SimEdgeDevice(ctx, ctx.target as never, {
    deviceId: id, group: 'edge', ordinal: 0, arrivalAt: ctx.scheduler.now(), random: () => ((seed = (seed * 16807) % 2147483647) / 2147483647),
  }, { kind: 'dps-sas', deviceKey: deriveDeviceKey(emulator.info.enrollmentGroups.edgeDevices.primaryKey, id) }, config);
  things.push(thing);
  thing.start();
  await until(() => thing.state === 'connected', 15_000, `${id} connected`);
  return thing;
}

const received = (identity: string) => emulator.stats.identities.get(identity)?.messagesReceived ?? 0;
const agentReported = (id: string) => emulator.registry.getModule(id, '$edgeAgent')!.twin.reported.value as Record<string, any>;

describe('SimEdgeDevice against the emulator', () => {
  it("runs the seed's deployment: modules running in $edgeAgent, telemetry as the module identity", async () => {
    await edgeDevice('edge-seed', seedManifest());
    const desiredVersion = emulator.registry.getModule('edge-seed', '$edgeAgent')!.twin.desired.version;
    await until(() => agentReported('edge-seed').lastDesiredVersion === desiredVersion, 10_000, 'deployment reported');
    const reported = agentReported('edge-seed');
    expect(reported.lastDesiredStatus).toEqual({ code: 200, description: '' });
    expect(reported.modules.SimulatedTemperatureSensor).toMatchObject({ runtimeStatus: 'running', status: 'running', restartPolicy: 'always', settings: { image: 'mcr.microsoft.com/azureiotedge-simulated-temperature-sensor:1.0' } });
    expect(reported.systemModules.edgeHub.runtimeStatus).toBe('running');
    await until(() => received('edge-seed/SimulatedTemperatureSensor') >= 2, 10_000, 'module telemetry');
    const last = (await rest(emulator, 'GET', '/api/devices/edge-seed/modules/SimulatedTemperatureSensor/telemetry/machine')).json;
    expect(last.value).toMatchObject({ temperature: expect.any(Number), pressure: expect.any(Number) });
    const hubReported = emulator.registry.getModule('edge-seed', '$edgeHub')!.twin.reported.value as Record<string, any>;
    expect(hubReported.clients['edge-seed/SimulatedTemperatureSensor'].status).toBe('connected');
  });

  it('changes its rate when SendInterval is written over REST, stops on SendData false, answers reset', async () => {
    const rate = async (ms: number) => {
      const before = received('edge-seed/SimulatedTemperatureSensor');
      await new Promise((r) => setTimeout(r, ms));
      return received('edge-seed/SimulatedTemperatureSensor') - before;
    };
    const slow = await rate(3000);
    const write = await rest(emulator, 'PATCH', '/api/devices/edge-seed/modules/SimulatedTemperatureSensor/properties', { SendInterval: 0.2 });
    expect(write.status).toBeLessThan(300);
    await new Promise((r) => setTimeout(r, 500));
    const fast = await rate(3000);
    expect(fast).toBeGreaterThan(slow * 2.5);
    const ack = (emulator.registry.getModule('edge-seed', 'SimulatedTemperatureSensor')!.twin.reported.value as Record<string, any>).SendInterval;
    expect(ack).toMatchObject({ value: 0.2, ac: 200 });

    const method = await rest(emulator, 'POST', '/api/devices/edge-seed/modules/SimulatedTemperatureSensor/commands/reset', {});
    expect(method.json).toMatchObject({ responseCode: 200 });

    await rest(emulator, 'PATCH', '/api/devices/edge-seed/modules/SimulatedTemperatureSensor/properties', { SendData: false });
    await new Promise((r) => setTimeout(r, 500));
    expect(await rate(1500)).toBe(0);
  });

  it('routes sensor → filter → upstream with the gateway-filter manifest; unrouted messages count as dropped', async () => {
    const m = manifest('gateway-filter.manifest.json');
    m.modulesContent.SimulatedTemperatureSensor['properties.desired'].SendInterval = 0.2;
    const droppedBefore = ctx.metrics.ledger.dropped;
    await edgeDevice('edge-gw', m);
    await until(() => received('edge-gw/HighTempFilter') >= 3, 15_000, 'filtered messages upstream');
    // The sensor's messages go only to the filter, never upstream as the sensor.
    expect(received('edge-gw/SimulatedTemperatureSensor')).toBe(0);
    const reported = agentReported('edge-gw');
    expect(Object.keys(reported.modules).sort()).toEqual(['HighTempFilter', 'ModbusTranslator', 'SimulatedTemperatureSensor']);
    expect(ctx.metrics.ledger.dropped).toBe(droppedBefore); // every message here has a route

    // A deployment whose only route does not match the sensor: its messages are dropped by the routes.
    const next = seedManifest();
    next.modulesContent.$edgeHub['properties.desired'].routes = { onlyFilter: 'FROM /messages/modules/HighTempFilter/* INTO $upstream' };
    next.modulesContent.SimulatedTemperatureSensor['properties.desired'].SendInterval = 0.2;
    await rest(emulator, 'PUT', '/api/deploymentManifests/edge-gw-2', { displayName: 'next', data: next });
    await rest(emulator, 'POST', '/api/devices/edge-gw/deploymentManifest', { id: 'edge-gw-2' });
    await until(() => Object.keys(agentReported('edge-gw').modules ?? {}).join() === 'SimulatedTemperatureSensor', 10_000, 'redeployed');
    await until(() => ctx.metrics.ledger.dropped > droppedBefore + 3, 10_000, 'dropped by route');
    const l = ctx.metrics.ledger;
    const pending = things.reduce((n, t) => n + t.pendingAcks, 0);
    expect(l.generated).toBe(l.acknowledged + l.failed + l.expired + l.dropped + pending);
  });
});
