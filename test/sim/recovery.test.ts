// Recovery as the Azure SDKs and the DPS guidance advise, against the real emulator: a device deleted over REST
// registers again by itself; one refused again and again is failed, with the reason; a cached assignment the hub
// refuses falls back to DPS; QoS 1 messages on the wire when the network fails are sent again (a device's, and
// what edgeHub sends upstream, which goes back into its store); an X.509 IoT Edge device gets its module keys over
// mutual TLS and its runtime connects.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/index.js';
import { WorkerAssignments } from '../../src/engine/fleet-context.js';
import { deriveDeviceKey } from '../../src/protocol/index.js';
import { issueLeafCertificate } from '../../src/protocol/x509.js';
import { SimDevice, type DeviceAuth, type DeviceBehaviour } from '../../src/sim/device.js';
import { SimEdgeDevice } from '../../src/sim/edge/edge-device.js';
import type { AzureTarget } from '../../src/endpoints/target.js';
import type { MetricsSnapshot } from '../../src/metrics/types.js';
import { MAX_REFUSALS } from '../../src/transport/retry-policy.js';
import { rest, startTestEmulator } from '../support/emulator.js';
import { startPartition, type Partition } from '../support/partition.js';
import { testContext, type TestSimContext } from '../support/sim-context.js';
import { until } from '../support/wait.js';

const MODEL = 'dtmi:com:example:Thermostat;1';
const SENSOR = 'SimulatedTemperatureSensor';
let emulator: Emulator;
const contexts: TestSimContext[] = [];
const things: { stop(): Promise<void> }[] = [];
const partitions: Partition[] = [];

beforeAll(async () => {
  emulator = await startTestEmulator();
});
afterAll(async () => {
  await Promise.all(things.map((t) => t.stop()));
  for (const c of contexts) c.scheduler.stop();
  for (const p of partitions) await p.close();
  await emulator?.close();
});

function context(): TestSimContext {
  const ctx = testContext(emulator);
  contexts.push(ctx);
  return ctx;
}

function behaviour(intervalMs = 100): DeviceBehaviour {
  let n = 0;
  return {
    modelId: MODEL,
    telemetryIntervalMs: intervalMs,
    telemetryQos: 1,
    telemetry: { tick: () => [{ body: { temperature: 20 + (n++ % 5) } }] },
    reported: () => undefined,
    writableAck: { code: 200, delayMs: 0 },
    command: () => ({ status: 200, delayMs: 0, response: null }),
  };
}

function seeded(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 16807) % 2147483647) / 2147483647;
}

const target = (ctx: TestSimContext) => ctx.target as AzureTarget;
const sasOf = (id: string): DeviceAuth => ({
  kind: 'dps-sas',
  deviceKey: deriveDeviceKey(emulator.info.enrollmentGroups.devices.primaryKey, id),
});
const hubHost = () => `${emulator.info.hubHostName}:${emulator.info.mqttPort}`;

function device(ctx: TestSimContext, id: string, auth: DeviceAuth = sasOf(id), intervalMs = 100): SimDevice {
  const plan = { deviceId: id, group: 'g', ordinal: 0, arrivalAt: ctx.scheduler.now(), random: seeded(7) };
  const d = new SimDevice(ctx, target(ctx), plan, auth, behaviour(intervalMs));
  things.push(d);
  d.start();
  return d;
}

const received = (identity: string) => emulator.stats.identities.get(identity)?.messagesReceived ?? 0;

function balanced(ctx: TestSimContext, pending: number): void {
  const l = ctx.metrics.ledger;
  expect(l.generated).toBe(l.acknowledged + l.failed + l.expired + l.dropped + pending);
}

/** What the recorder would send the coordinator now: its errors by class, with the last message. */
function errorsOf(ctx: TestSimContext): MetricsSnapshot['errors'] {
  return ctx.metrics.snapshot().errors;
}

describe('re-provisioning', () => {
  it('a device deleted over REST registers again through DPS by itself, and its telemetry resumes', async () => {
    const ctx = context();
    const d = device(ctx, 'rec-deleted');
    await until(() => d.state === 'connected' && (ctx.acked.get('rec-deleted') ?? 0) >= 3, 10_000, 'sending');
    const registrations = emulator.stats.dps.registrations;

    expect((await rest(emulator, 'DELETE', '/api/devices/rec-deleted')).status).toBe(204);
    expect((await rest(emulator, 'GET', '/api/devices/rec-deleted')).status).toBe(404);
    const back = () => emulator.registry.get('rec-deleted') !== undefined && d.state === 'connected';
    await until(back, 15_000, 'registered again and connected');
    expect(emulator.stats.dps.registrations).toBe(registrations + 1);
    // Registered again with the same payload: IoT Central still knows its model.
    const registered = (await rest(emulator, 'GET', '/api/devices/rec-deleted')).json;
    expect(registered).toMatchObject({ provisioned: true, template: MODEL });
    const after = received('rec-deleted');
    await until(() => received('rec-deleted') >= after + 5, 10_000, 'telemetry after the re-registration');
    expect(ctx.metrics.provisioning).toEqual({ provisioned: 1, reusedFromCache: 0, reprovisioned: 1 });

    d.quiesce();
    await until(() => d.pendingAcks === 0, 10_000, 'drained');
    await d.stop();
    // What was on the wire when the hub dropped the deleted device was sent again after it came back.
    expect(ctx.metrics.ledger.failed).toBe(0);
    balanced(ctx, d.pendingAcks);
    expect(errorsOf(ctx).auth?.lastMessage).toMatch(/rec-deleted: CONNACK 5/);
  });

  it(`is failed, with the reason, after ${MAX_REFUSALS} refusals in a row, and stays failed at the end`, async () => {
    const ctx = context();
    const d = device(ctx, 'rec-disabled');
    await until(() => d.state === 'connected', 10_000, 'connected');
    // Disabled: the hub refuses it (CONNACK 5) and DPS answers its registrations "disabled".
    expect((await rest(emulator, 'PATCH', '/api/devices/rec-disabled', { enabled: false })).status).toBe(200);
    await until(() => d.state === 'failed', 15_000, 'failed');
    expect(ctx.logs.some((l) => l.includes(`rec-disabled gave up: refused ${MAX_REFUSALS} times in a row`))).toBe(true);
    const auth = errorsOf(ctx).auth;
    expect(auth?.count).toBe(MAX_REFUSALS);
    expect(auth?.lastMessage).toMatch(new RegExp(`rec-disabled gave up: refused ${MAX_REFUSALS} times in a row`));
    expect(ctx.states.get('failed')).toBe(1);
    // Nothing is retried any more.
    const registrations = emulator.stats.dps.registrations;
    await new Promise((r) => setTimeout(r, 1500));
    expect(emulator.stats.dps.registrations).toBe(registrations);

    await d.stop();
    expect(d.state).toBe('failed');
    expect(ctx.states.get('failed')).toBe(1);
    expect(ctx.states.get('stopped') ?? 0).toBe(0);
    balanced(ctx, d.pendingAcks);
  });
});

describe('the assignment cache on the device side', () => {
  it('connects with a cached assignment without DPS, and falls back to DPS when the hub refuses it', async () => {
    const ctx = context();
    const at = new Date().toISOString();
    // Known to the hub (created over REST): the cached assignment works as it is.
    expect((await rest(emulator, 'PUT', '/api/devices/rec-cached-known', { displayName: 'cached' })).status).toBe(200);
    const entry = (deviceId: string, modelId = MODEL) => ({
      assignedHub: hubHost(),
      deviceId,
      payload: { modelId },
      assignedAt: at,
    });
    const book = new WorkerAssignments({
      'rec-cached-known': entry('rec-cached-known'),
      // Never registered: the hub refuses it with CONNACK 5.
      'rec-cached-unknown': entry('rec-cached-unknown'),
      // Registered with another payload: IoT Central would not know the model, so it registers again.
      'rec-cached-other': entry('rec-cached-other', 'dtmi:com:example:Other;1'),
    });
    const cached: TestSimContext = { ...ctx, assignments: book };
    const registrations = emulator.stats.dps.registrations;

    const known = device(cached, 'rec-cached-known');
    await until(() => known.state === 'connected', 10_000, 'connected from the cache');
    expect(emulator.stats.dps.registrations).toBe(registrations);
    expect(ctx.metrics.provisioning).toEqual({ provisioned: 0, reusedFromCache: 1, reprovisioned: 0 });

    const unknown = device(cached, 'rec-cached-unknown');
    await until(() => unknown.state === 'connected', 10_000, 'connected after falling back to DPS');
    expect(emulator.stats.dps.registrations).toBe(registrations + 1);
    expect(ctx.metrics.provisioning).toEqual({ provisioned: 0, reusedFromCache: 2, reprovisioned: 1 });

    const other = device(cached, 'rec-cached-other');
    await until(() => other.state === 'connected', 10_000, 'connected after registering with its payload');
    expect(emulator.stats.dps.registrations).toBe(registrations + 2);
    expect(ctx.metrics.provisioning).toEqual({ provisioned: 1, reusedFromCache: 2, reprovisioned: 1 });

    // The new assignments go to the cache; the one that worked stays as it was.
    const changes = book.takeChanges() ?? {};
    expect(Object.keys(changes).sort()).toEqual(['rec-cached-other', 'rec-cached-unknown']);
    expect(changes['rec-cached-other']).toMatchObject({
      assignedHub: hubHost(),
      deviceId: 'rec-cached-other',
      payload: { modelId: MODEL },
    });
    for (const d of [known, unknown, other]) await d.stop();
  });
});

describe('messages on the wire when the network fails', () => {
  it('a device sends unacknowledged QoS 1 messages again after reconnecting: none failed, none twice', async () => {
    const ctx = context();
    const id = 'rec-wire';
    expect((await rest(emulator, 'PUT', `/api/devices/${id}`, { displayName: id })).status).toBe(200);
    const key = (await rest(emulator, 'GET', `/api/devices/${id}/credentials`)).json.symmetricKey.primaryKey as string;
    const partition = await startPartition({ host: '127.0.0.1', port: emulator.info.mqttPort });
    partitions.push(partition);
    // A connection string whose GatewayHostName is the partition: the device dials it, the token names the hub.
    const auth: DeviceAuth = { kind: 'direct-sas', hubHost: hubHost(), deviceKey: key, gatewayHost: partition.address };
    const d = device(ctx, id, auth, 50);
    await until(() => d.state === 'connected' && (ctx.acked.get(id) ?? 0) >= 3, 10_000, 'connected and sending');

    partition.mute();
    const ackedAtMute = ctx.acked.get(id) ?? 0;
    const receivedAtMute = received(id);
    await until(() => received(id) >= receivedAtMute + 5, 10_000, 'messages received whose PUBACK never comes back');
    expect(d.pendingAcks).toBeGreaterThanOrEqual(5);
    partition.cut();

    await until(() => partition.connections >= 2 && d.state === 'connected', 10_000, 'reconnected');
    await until(() => (ctx.acked.get(id) ?? 0) >= ackedAtMute + 10, 10_000, 'the backlog and more acknowledged');
    d.quiesce();
    await until(() => d.pendingAcks === 0, 10_000, 'drained');
    await d.stop();

    const l = ctx.metrics.ledger;
    expect(l.failed).toBe(0);
    balanced(ctx, 0);
    expect(l.acknowledged).toBe(ctx.acked.get(id));
    // The emulator got the muted messages twice (before the cut, and again after); each was acknowledged once.
    expect(received(id) - l.acknowledged).toBeGreaterThanOrEqual(5);
  });

  /** An IoT Edge device whose sensor sends upstream every 50 ms, its MQTT connections through a partition. */
  async function edgeThroughPartition(
    ctx: TestSimContext,
    id: string,
  ): Promise<{ edge: SimEdgeDevice; partition: Partition; sensor: string }> {
    const manifest = JSON.parse(readFileSync('test/fixtures/environmental-sensor.manifest.json', 'utf8'));
    manifest.modulesContent[SENSOR]['properties.desired'].SendInterval = 0.05;
    manifest.modulesContent.$edgeHub['properties.desired'] = {
      schemaVersion: '1.1',
      routes: { toCloud: { route: 'FROM /messages/* INTO $upstream', priority: 1 } },
      storeAndForwardConfiguration: { timeToLiveSecs: 7200 },
    };
    const put = await rest(emulator, 'PUT', `/api/deploymentManifests/${id}-m1`, { displayName: id, data: manifest });
    expect(put.status).toBeLessThan(300);
    const created = await rest(emulator, 'PUT', `/api/devices/${id}`, {
      displayName: id,
      iotEdge: true,
      deploymentManifest: `${id}-m1`,
    });
    expect(created.status).toBeLessThan(300);
    const key = (await rest(emulator, 'GET', `/api/devices/${id}/credentials`)).json.symmetricKey.primaryKey as string;
    const partition = await startPartition({ host: '127.0.0.1', port: emulator.info.mqttPort });
    partitions.push(partition);
    const plan = { deviceId: id, group: 'edge', ordinal: 0, arrivalAt: ctx.scheduler.now(), random: seeded(11) };
    const auth: DeviceAuth = { kind: 'direct-sas', hubHost: hubHost(), deviceKey: key, gatewayHost: partition.address };
    const edge = new SimEdgeDevice(ctx, target(ctx), plan, auth, { modules: {} });
    things.push(edge);
    edge.start();
    const sensor = `${id}/${SENSOR}`;
    await until(() => edge.state === 'connected' && (ctx.acked.get(sensor) ?? 0) >= 5, 15_000, 'the sensor sending');
    return { edge, partition, sensor };
  }

  /** The sensor stops; once nothing is pending, every message is accounted and none failed or was counted twice. */
  async function settled(ctx: TestSimContext, edge: SimEdgeDevice, sensor: string, resent: number): Promise<void> {
    const path = `/api/devices/${edge.deviceId}/modules/${SENSOR}/properties`;
    expect((await rest(emulator, 'PATCH', path, { SendData: false })).status).toBeLessThan(300);
    await until(() => edge.pendingAcks === 0, 10_000, 'settled');
    await new Promise((r) => setTimeout(r, 300));
    await until(() => edge.pendingAcks === 0, 10_000, 'settled');
    const l = ctx.metrics.ledger;
    expect(l.failed).toBe(0);
    expect(l.expired).toBe(0);
    expect(l.stored).toBe(0);
    balanced(ctx, edge.pendingAcks);
    expect(l.acknowledged).toBe(ctx.acked.get(sensor));
    expect(received(sensor) - l.acknowledged).toBeGreaterThanOrEqual(resent);
  }

  it('edgeHub puts what was on the wire back into its store and sends it again when its upstream is back', async () => {
    const ctx = context();
    const { edge, partition, sensor } = await edgeThroughPartition(ctx, 'rec-edge-wire');
    partition.mute();
    const receivedAtMute = received(sensor);
    await until(() => received(sensor) >= receivedAtMute + 5, 10_000, 'messages received whose PUBACK never comes');
    partition.cut();
    // Back in the store at once (the connection went), then sent again once the module's upstream is back.
    await until(() => ctx.metrics.ledger.stored >= 5, 5000, 'messages on the wire put back in the store');
    const drained = () => ctx.metrics.ledger.deliveredLate >= 5 && ctx.metrics.ledger.stored === 0;
    await until(drained, 15_000, 'the store drained');
    await settled(ctx, edge, sensor, 5);
    await edge.stop();
  });

  it('a drain cut short puts its messages back again, and the next connection drains them all', async () => {
    const ctx = context();
    const { edge, partition, sensor } = await edgeThroughPartition(ctx, 'rec-edge-drain');
    partition.mute();
    const receivedAtMute = received(sensor);
    await until(() => received(sensor) >= receivedAtMute + 40, 10_000, 'a backlog on the wire');
    // Slow answers make the drain last long enough to be cut in the middle.
    partition.delay(150);
    partition.cut();
    await until(() => ctx.metrics.ledger.stored >= 40, 5000, 'the backlog back in the store');
    const backlog = ctx.metrics.ledger.stored;
    // Draining: stored messages are on the wire, none acknowledged yet (the answers are slow) — the leg drops again.
    // (The sensor goes on sending meanwhile: what it sends is stored behind the backlog.)
    let most = 0;
    await until(
      () => {
        most = Math.max(most, ctx.metrics.ledger.stored);
        return ctx.metrics.ledger.stored <= most - 20;
      },
      15_000,
      'draining',
    );
    expect(ctx.metrics.ledger.deliveredLate).toBe(0);
    partition.cut();
    partition.delay(0);
    const delivered = () => ctx.metrics.ledger.stored === 0 && ctx.metrics.ledger.deliveredLate >= backlog;
    await until(delivered, 15_000, 'the whole backlog delivered');
    await settled(ctx, edge, sensor, 40);
    await edge.stop();
  });
});

describe('an IoT Edge device with an X.509 identity', () => {
  it('gets its module keys over mutual TLS with its own certificate, and its runtime connects', async () => {
    const ctx = context();
    const id = 'rec-edge-x509';
    // Created as an IoT Edge device first (a run does so when it assigns the deployment manifest), as in IoT Central.
    expect((await rest(emulator, 'PUT', `/api/devices/${id}`, { iotEdge: true })).status).toBe(200);
    const ca = target(ctx).x509Ca!;
    const leaf = await issueLeafCertificate(ca, id);
    const plan = { deviceId: id, group: 'edge', ordinal: 0, arrivalAt: ctx.scheduler.now(), random: seeded(3) };
    const x509: DeviceAuth = { kind: 'dps-x509', certPem: leaf.certPem + ca.certPem, keyPem: leaf.keyPem };
    const edge = new SimEdgeDevice(ctx, target(ctx), plan, x509, { modules: {} });
    things.push(edge);
    edge.start();
    await until(() => edge.state === 'connected', 15_000, 'the IoT Edge runtime connected');
    const identities = (await rest(emulator, 'GET', '/stats')).json.identities as Record<string, { connects: number }>;
    expect(identities[`${id}/$edgeAgent`]?.connects).toBeGreaterThanOrEqual(1);
    expect(identities[`${id}/$edgeHub`]?.connects).toBeGreaterThanOrEqual(1);
    expect(errorsOf(ctx).auth).toBeUndefined();
    await edge.stop();
  });
});
