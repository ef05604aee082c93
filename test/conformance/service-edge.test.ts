// applyConfigurationContentOnDevice from the official service SDK (azure-iothub), seen by a simulated IoT Edge
// device: its agent gets the new deployment, starts the module, and the module sends telemetry as itself.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/index.js';
import type { SimEdgeDevice } from '../../src/sim/edge/edge-device.js';
import { rejectionOf } from '../support/azure-sdk.js';
import { rest } from '../support/emulator.js';
import { connectedEdgeDevice, testContext, useTestEmulator, type TestSimContext } from '../support/sim-context.js';
import { serviceRegistry } from '../support/service-sdk.js';
import { until } from '../support/wait.js';

let emulator: Emulator;
const contexts: TestSimContext[] = [];
const devices: SimEdgeDevice[] = [];

useTestEmulator((e) => (emulator = e), devices, contexts);

/** The seed's manifest with SendInterval 1 s; `withModule` false: the runtime alone. */
function manifest(withModule: boolean): any {
  const m = JSON.parse(readFileSync('test/fixtures/environmental-sensor.manifest.json', 'utf8'));
  m.modulesContent.SimulatedTemperatureSensor['properties.desired'].SendInterval = 1;
  if (!withModule) {
    delete m.modulesContent.SimulatedTemperatureSensor;
    m.modulesContent.$edgeAgent['properties.desired'].modules = {};
    m.modulesContent.$edgeHub['properties.desired'].routes = {};
  }
  return m;
}

const reportedModules = (id: string) =>
  (emulator.registry.getModule(id, '$edgeAgent')?.twin.reported.value.modules ?? {}) as Record<string, any>;
const received = (identity: string) => emulator.stats.identities.get(identity)?.messagesReceived ?? 0;

describe('applyConfigurationContentOnDevice', () => {
  it('deploys modules to a running IoT Edge device: the agent starts them and they send as themselves', async () => {
    const ctx = testContext(emulator);
    contexts.push(ctx);
    const id = 'svc-edge-apply';
    await connectedEdgeDevice(emulator, ctx, devices, id, manifest(false), { modules: {} }, 5);
    expect(Object.keys(reportedModules(id))).toEqual([]);

    const registry = serviceRegistry(emulator.info.serviceConnectionString);
    const agentVersion = emulator.registry.getModule(id, '$edgeAgent')!.twin.desired.version;
    await registry.applyConfigurationContentOnDevice(id, { modulesContent: manifest(true).modulesContent });
    expect(emulator.registry.getModule(id, '$edgeAgent')!.twin.desired.version).toBeGreaterThan(agentVersion);
    expect(emulator.registry.getModule(id, 'SimulatedTemperatureSensor')).toBeDefined();
    // The manifest assigned over REST is no longer what the device runs.
    expect((await rest(emulator, 'GET', `/api/devices/${id}`)).json).not.toHaveProperty('deploymentManifest');

    await until(
      () => reportedModules(id).SimulatedTemperatureSensor?.runtimeStatus === 'running',
      15_000,
      'the module reported running',
    );
    await until(() => received(`${id}/SimulatedTemperatureSensor`) >= 1, 15_000, 'module telemetry');
    const twin = (await registry.getModuleTwin(id, '$edgeAgent')).responseBody as any;
    expect(twin.properties.reported.modules.SimulatedTemperatureSensor.runtimeStatus).toBe('running');
  });

  it('refuses content for a device that is not an IoT Edge device', async () => {
    const registry = serviceRegistry(emulator.info.serviceConnectionString);
    await registry.create({ deviceId: 'svc-plain' });
    const err = await rejectionOf(
      registry.applyConfigurationContentOnDevice('svc-plain', { modulesContent: manifest(true).modulesContent }),
      10_000,
      'plain device',
    );
    expect(err.name).toBe('ArgumentError');
    expect(err.message).toContain('not an IoT Edge device');
  });
});
