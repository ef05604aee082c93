// Conformance: an IoT Edge device provisioned through the `edgeDevices` group creates a module identity over the
// hub's HTTPS endpoint with its own SAS token (as the IoT Edge identity service does), then a ModuleClient from the
// official Node SDK connects as that module.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator, EmulatorInfo } from '../../src/emulator/index.js';
import { caOf, countersOf, hubHttps, rest, startTestEmulator } from '../support/emulator.js';
import { eventually } from '../support/wait.js';
import {
  closeAll,
  createDeviceSas,
  deriveDeviceKey,
  desiredUpdatesEnabled,
  jsonMessage,
  moduleClient,
  nextEvent,
  registerWithSymmetricKey,
  rejectionOf,
  reportProperties,
  subscribed,
  uniqueId,
  within,
  type ModuleClient,
  type RegistrationResult,
} from '../support/azure-sdk.js';

const HUB_API_VERSION = '2021-04-12';
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

describe('IoT Edge module identity (official Node SDK ModuleClient, MQTT)', () => {
  let emulator: Emulator;
  let info: EmulatorInfo;
  const edgeId = uniqueId('conf-edge');
  const moduleId = 'sensorModule';
  let edgeKey: string;
  let registration: RegistrationResult;
  let moduleKey: string;
  let client: ModuleClient | undefined;
  const identity = () => `${edgeId}/${moduleId}`;
  const modulePath = (m = moduleId) => `/devices/${edgeId}/modules/${m}?api-version=${HUB_API_VERSION}`;
  /** The device's own token for `{hubHostName}/devices/{deviceId}`, as the IoT Edge identity service signs it. */
  const deviceSas = (key: string) => createDeviceSas(info.hubHostName, edgeId, key, inAnHour()).toString();

  beforeAll(async () => {
    emulator = await startTestEmulator({ dpsRetryAfterSeconds: 1 });
    info = emulator.info;
    edgeKey = deriveDeviceKey(info.enrollmentGroups.edgeDevices.primaryKey, edgeId);
  });

  afterAll(async () => {
    await closeAll(client);
    await emulator?.close();
  });

  it('registers the IoT Edge device through the edgeDevices group', async () => {
    registration = await registerWithSymmetricKey(info, edgeId, edgeKey);
    expect(registration.status).toBe('assigned');
    expect(registration.deviceId).toBe(edgeId);
    expect(registration.assignedHub).toBe(`${info.hubHostName}:${info.mqttPort}`);
  });

  it('creates a module identity over HTTPS with the device SAS and gets its keys', async () => {
    const created = await hubHttps(info, 'PUT', modulePath(), deviceSas(edgeKey), { moduleId, deviceId: edgeId });
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    expect(created.json).toMatchObject({ moduleId, deviceId: edgeId });
    const keys = created.json.authentication?.symmetricKey;
    expect(typeof keys?.primaryKey).toBe('string');
    expect(typeof keys?.secondaryKey).toBe('string');
    expect(Buffer.from(keys.primaryKey, 'base64').length).toBeGreaterThanOrEqual(16);
    expect(keys.primaryKey).not.toBe(edgeKey);
    moduleKey = keys.primaryKey;

    const read = await hubHttps(info, 'GET', modulePath(), deviceSas(edgeKey));
    expect(read.status).toBe(200);
    expect(read.json.authentication.symmetricKey.primaryKey).toBe(moduleKey);
  });

  it('refuses module management with a wrong device key (401) and without a token', async () => {
    const wrong = deriveDeviceKey(Buffer.from('not the group key').toString('base64'), edgeId);
    const refused = await hubHttps(info, 'PUT', modulePath('intruder'), deviceSas(wrong), {
      moduleId: 'intruder',
      deviceId: edgeId,
    });
    expect(refused.status).toBe(401);
    const anonymous = await hubHttps(info, 'PUT', modulePath('intruder'), undefined, {
      moduleId: 'intruder',
      deviceId: edgeId,
    });
    expect(anonymous.status).toBe(401);
    const absent = await hubHttps(info, 'GET', modulePath('intruder'), deviceSas(edgeKey));
    expect(absent.status).toBe(404);
  });

  it('connects a ModuleClient from a module connection string and sends an output event', async () => {
    const before = await countersOf(info, identity());
    client = await moduleClient(
      `HostName=${registration.assignedHub};DeviceId=${edgeId};ModuleId=${moduleId};SharedAccessKey=${moduleKey}`,
      { ca: caOf(info) },
    );
    await within(client.open(), 10_000, 'ModuleClient.open');
    // The SDK puts a '/' after an output event's property bag (…/events/%24.on=alerts&…&%24.sub=accelerometer/):
    // the component read back below proves the last property was parsed without it.
    await within(
      client.sendOutputEvent(
        'alerts',
        jsonMessage({ vibration: 7.5 }, { severity: 'high', 'dt-subject': 'accelerometer' }),
      ),
      10_000,
      'sendOutputEvent',
    );
    await within(client.sendEvent(jsonMessage({ vibration: 8 })), 10_000, 'sendEvent as a module');

    const after = await eventually(
      () => countersOf(info, identity()),
      (c) => c.messagesReceived >= before.messagesReceived + 2,
      'module messages in /stats',
    );
    expect(after.messagesReceived).toBe(before.messagesReceived + 2);
    expect(after.connects).toBe(before.connects + 1);
    // Counted for the module, not for the edge device.
    const device = await countersOf(info, edgeId);
    expect(device.messagesReceived).toBe(0);
    const last = await rest(info, 'GET', `/api/devices/${edgeId}/modules/${moduleId}/telemetry/vibration`);
    expect(last.status).toBe(200);
    expect(last.json.value).toBe(8);
    const output = await rest(
      info,
      'GET',
      `/api/devices/${edgeId}/modules/${moduleId}/components/accelerometer/telemetry/vibration`,
    );
    expect(output.status, JSON.stringify(output.json)).toBe(200);
    expect(output.json.value).toBe(7.5);
  });

  it('gets the module twin, reports properties, and receives a module desired patch written over REST', async () => {
    const c = client!;
    const twin = await within(c.getTwin(), 10_000, 'module getTwin');
    expect(typeof twin.properties.desired.$version).toBe('number');
    await reportProperties(twin, { moduleState: 'running', samplingRate: 10 });
    const read = await rest(info, 'GET', `/api/devices/${edgeId}/modules/${moduleId}/properties`);
    expect(read.status).toBe(200);
    expect(read.json).toMatchObject({ moduleState: 'running', samplingRate: 10 });
    // The module twin is not the device twin.
    const deviceProps = await rest(info, 'GET', `/api/devices/${edgeId}/properties`);
    expect(deviceProps.json?.moduleState).toBeUndefined();

    const patchSeen = nextEvent<Record<string, unknown>>(
      twin,
      'properties.desired',
      (p) => p.samplingRate === 60,
      10_000,
      'module desired patch',
    );
    await desiredUpdatesEnabled(twin);
    const write = await rest(info, 'PATCH', `/api/devices/${edgeId}/modules/${moduleId}/properties`, {
      samplingRate: 60,
    });
    expect([200, 202]).toContain(write.status);
    const patch = await patchSeen;
    expect(typeof patch.$version).toBe('number');
  });

  it('answers a module method invoked over REST', async () => {
    const c = client!;
    const before = await countersOf(info, identity());
    let received: unknown;
    c.onMethod('restartSensor', (request, response) => {
      received = request?.payload;
      void response?.send(200, { restarted: true, after: request?.payload });
    });
    await subscribed(c, 'method');
    const reply = await rest(info, 'POST', `/api/devices/${edgeId}/modules/${moduleId}/commands/restartSensor`, {
      request: { delaySeconds: 2 },
      responseTimeout: 10,
    });
    expect([200, 201]).toContain(reply.status);
    expect(reply.json).toMatchObject({ responseCode: 200, response: { restarted: true, after: { delaySeconds: 2 } } });
    expect(received).toEqual({ delaySeconds: 2 });
    const after = await countersOf(info, identity());
    expect(after.methodCalls - before.methodCalls).toBe(1);
  });

  it('refuses a module connection with the device key instead of the module key', async () => {
    const wrong = await moduleClient(
      `HostName=${registration.assignedHub};DeviceId=${edgeId};ModuleId=${moduleId};SharedAccessKey=${edgeKey}`,
      { ca: caOf(info) },
    );
    try {
      const err = await rejectionOf(wrong.open(), 10_000, 'ModuleClient.open with the device key');
      expect(err.name).toBe('UnauthorizedError');
      expect(err.message).toMatch(/Connection refused: Not authorized/);
    } finally {
      await closeAll(wrong);
    }
  });
});
