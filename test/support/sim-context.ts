// Simulated things inside a test: the context a worker gives them, against an emulator of the test file.
import { FleetContext } from '../../src/engine/fleet-context.js';
import type { AzureTarget } from '../../src/endpoints/target.js';
import type { SimContext, ThingState } from '../../src/sim/context.js';
import type { Emulator } from '../../src/emulator/index.js';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect } from 'vitest';
import { deriveDeviceKey } from '../../src/protocol/index.js';
import { SimEdgeDevice, type EdgeDeviceConfig } from '../../src/sim/edge/edge-device.js';
import { rest, startTestEmulator } from './emulator.js';
import { until } from './wait.js';

export function targetOf(emulator: Emulator): AzureTarget {
  const info = emulator.info;
  return {
    kind: 'emulator',
    dps: { host: info.dpsHost, port: info.dpsPort, idScope: info.idScope },
    groupKeys: {
      devices: info.enrollmentGroups.devices.primaryKey,
      edgeDevices: info.enrollmentGroups.edgeDevices.primaryKey,
    },
    x509Ca: {
      certPem: readFileSync(info.deviceCaCertPath, 'utf8'),
      keyPem: readFileSync(info.deviceCaKeyPath, 'utf8'),
    },
    caPem: readFileSync(info.caCertPath, 'utf8'),
    hubHttpsPort: info.hubHttpsPort,
    service: { baseUrl: info.restUrl, apiToken: info.apiToken, apiVersion: '2022-07-31' },
  };
}

export interface TestSimContext extends SimContext {
  /** Identities by state over every group (the worker's gauges). */
  states: { get(state: ThingState): number | undefined };
  /** Messages acknowledged per identity. */
  acked: { get(identity: string): number | undefined };
  desiredAcks: { deviceId: string; moduleId?: string; version: number }[];
  logs: string[];
}

/** The context a worker gives its things (engine/fleet-context.ts), with what the test reads kept beside it. */
export function testContext(emulator: Emulator): TestSimContext {
  const desiredAcks: TestSimContext['desiredAcks'] = [];
  const logs: string[] = [];
  const fleet = new FleetContext(targetOf(emulator), {
    logLevel: 'debug',
    log: (level, message) => void logs.push(`${level}: ${message}`),
    desiredAcknowledged: (deviceId, moduleId, version) => {
      desiredAcks.push({ deviceId, ...(moduleId === undefined ? {} : { moduleId }), version });
    },
    mqtt: { keepaliveSeconds: 60, connectTimeoutMs: 5000, operationTimeoutMs: 5000 },
  });
  return {
    ...fleet.sim,
    desiredAcks,
    logs,
    states: { get: (state) => fleet.stateTotals[state] },
    acked: { get: (identity) => fleet.acknowledgedBy[identity] },
  };
}

// Kept for test files that take `until` from here.
export { until } from './wait.js';

/**
 * One emulator for a test file: started before its tests; afterwards the things the tests made stop, their
 * schedulers stop and the emulator closes. `use` receives the emulator once it runs.
 */
export function useTestEmulator(
  use: (emulator: Emulator) => void,
  things: readonly { stop(): Promise<void> }[],
  contexts: readonly TestSimContext[],
): void {
  let emulator: Emulator | undefined;
  beforeAll(async () => {
    emulator = await startTestEmulator();
    use(emulator);
  });
  afterAll(async () => {
    await Promise.all(things.map((t) => t.stop()));
    for (const c of contexts) c.scheduler.stop();
    await emulator?.close();
  });
}

/**
 * An IoT Edge device `id` with `manifest` assigned over the emulator's REST API (as `${id}-m1`), simulated on `ctx`,
 * started and connected. It joins `things` before it starts, so the file's cleanup stops it even when it never
 * connects. `seed` drives its backoff jitter.
 */
export async function connectedEdgeDevice(
  emulator: Emulator,
  ctx: TestSimContext,
  things: { stop(): Promise<void> }[],
  id: string,
  manifest: unknown,
  config: EdgeDeviceConfig,
  seed: number,
  timeoutMs = 10_000,
): Promise<SimEdgeDevice> {
  expect(
    (await rest(emulator, 'PUT', `/api/deploymentManifests/${id}-m1`, { displayName: id, data: manifest })).status,
  ).toBeLessThan(300);
  expect(
    (
      await rest(emulator, 'PUT', `/api/devices/${id}`, {
        displayName: id,
        iotEdge: true,
        deploymentManifest: `${id}-m1`,
      })
    ).status,
  ).toBeLessThan(300);
  let state = seed;
  const device = new SimEdgeDevice(
    ctx,
    ctx.target as never,
    {
      deviceId: id,
      group: 'edge',
      ordinal: 0,
      arrivalAt: ctx.scheduler.now(),
      random: () => (state = (state * 16807) % 2147483647) / 2147483647,
    },
    { kind: 'dps-sas', deviceKey: deriveDeviceKey(emulator.info.enrollmentGroups.edgeDevices.primaryKey, id) },
    config,
  );
  things.push(device);
  device.start();
  await until(() => device.state === 'connected', timeoutMs, `${id} connected`);
  return device;
}
