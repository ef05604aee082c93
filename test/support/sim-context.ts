// A SimContext for running simulated things inside a test, with its own scheduler and recorder.
import { Scheduler } from '../../src/core/scheduler.js';
import { MetricsRecorder } from '../../src/metrics/recorder.js';
import type { AzureTarget } from '../../src/endpoints/target.js';
import type { SimContext, ThingState } from '../../src/sim/context.js';
import type { Emulator } from '../../src/emulator/index.js';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect } from 'vitest';
import { deriveDeviceKey } from '../../src/protocol/index.js';
import { SimEdgeDevice, type EdgeDeviceConfig } from '../../src/sim/edge/edge-device.js';
import { rest, startTestEmulator } from './emulator.js';

export function targetOf(emulator: Emulator): AzureTarget {
  const info = emulator.info;
  return {
    kind: 'emulator',
    dps: { host: info.dpsHost, port: info.dpsPort, idScope: info.idScope },
    groupKeys: { devices: info.enrollmentGroups.devices.primaryKey, edgeDevices: info.enrollmentGroups.edgeDevices.primaryKey },
    x509Ca: { certPem: readFileSync(info.deviceCaCertPath, 'utf8'), keyPem: readFileSync(info.deviceCaKeyPath, 'utf8') },
    caPem: readFileSync(info.caCertPath, 'utf8'),
    hubHttpsPort: info.hubHttpsPort,
    service: { baseUrl: info.restUrl, apiToken: info.apiToken, apiVersion: '2022-07-31' },
  };
}

export interface TestSimContext extends SimContext {
  states: Map<string, number>;
  acked: Map<string, number>;
  desiredAcks: { deviceId: string; moduleId?: string; version: number }[];
  logs: string[];
}

export function testContext(emulator: Emulator): TestSimContext {
  const metrics = new MetricsRecorder();
  const scheduler = new Scheduler((late) => metrics.recordLateness(late));
  const states = new Map<string, number>();
  const acked = new Map<string, number>();
  const desiredAcks: TestSimContext['desiredAcks'] = [];
  const logs: string[] = [];
  return {
    scheduler, metrics, target: targetOf(emulator), states, acked, desiredAcks, logs,
    localAddress: () => undefined,
    stateChanged: (_group: string, from: ThingState, to: ThingState) => {
      states.set(from, (states.get(from) ?? 0) - 1);
      states.set(to, (states.get(to) ?? 0) + 1);
    },
    desiredAcknowledged: (deviceId, moduleId, version) => void desiredAcks.push({ deviceId, ...(moduleId === undefined ? {} : { moduleId }), version }),
    acknowledgedBy: (identity) => void acked.set(identity, (acked.get(identity) ?? 0) + 1),
    log: (level, message) => void logs.push(`${level}: ${message}`),
    mqtt: { keepaliveSeconds: 60, connectTimeoutMs: 5000, operationTimeoutMs: 5000 },
  };
}

export async function until(predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * One emulator for a test file: started before its tests; afterwards the things the tests made stop, their
 * schedulers stop and the emulator closes. `use` receives the emulator once it runs.
 */
export function useTestEmulator(use: (emulator: Emulator) => void, things: readonly { stop(): Promise<void> }[], contexts: readonly TestSimContext[]): void {
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
 * started and connected. It joins `things` before it starts, so the file's cleanup stops it even when it never connects.
 * `seed` drives its backoff jitter.
 */
export async function connectedEdgeDevice(
  emulator: Emulator, ctx: TestSimContext, things: { stop(): Promise<void> }[], id: string, manifest: unknown, config: EdgeDeviceConfig,
  seed: number, timeoutMs = 10_000,
): Promise<SimEdgeDevice> {
  expect((await rest(emulator, 'PUT', `/api/deploymentManifests/${id}-m1`, { displayName: id, data: manifest })).status).toBeLessThan(300);
  expect((await rest(emulator, 'PUT', `/api/devices/${id}`, { displayName: id, iotEdge: true, deploymentManifest: `${id}-m1` })).status).toBeLessThan(300);
  let state = seed;
  const device = new SimEdgeDevice(ctx, ctx.target as never, {
    deviceId: id, group: 'edge', ordinal: 0, arrivalAt: ctx.scheduler.now(),
    random: () => ((state = (state * 16807) % 2147483647) / 2147483647),
  }, { kind: 'dps-sas', deviceKey: deriveDeviceKey(emulator.info.enrollmentGroups.edgeDevices.primaryKey, id) }, config);
  things.push(device);
  device.start();
  await until(() => device.state === 'connected', timeoutMs, `${id} connected`);
  return device;
}
