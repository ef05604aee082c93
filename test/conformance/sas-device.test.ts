// Conformance: a device provisioned through the `devices` symmetric-key group enrollment, driven end to end by the
// official Azure IoT SDK for Node (ProvisioningDeviceClient + Client over MQTT), checked from the cloud side
// through the IoT Central-style REST API and /stats.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator, EmulatorInfo } from '../../src/emulator/index.js';
import { caOf, countersOf, rest, startTestEmulator } from '../support/emulator.js';
import { eventually } from '../support/wait.js';
import {
  closeAll,
  deriveDeviceKey,
  desiredUpdatesEnabled,
  deviceClient,
  jsonMessage,
  nextEvent,
  registerWithSymmetricKey,
  reportProperties,
  subscribed,
  uniqueId,
  within,
  type DeviceClient,
  type RegistrationResult,
  type SdkMessage,
  type Twin,
} from '../support/azure-sdk.js';

const MODEL_ID = 'dtmi:edgefleet:conformance:thermostat;1';

describe('SAS group enrollment device (official Node SDK, MQTT)', () => {
  let emulator: Emulator;
  let info: EmulatorInfo;
  const deviceId = uniqueId('conf-sas');
  let deviceKey: string;
  let registration: RegistrationResult;
  let client: DeviceClient | undefined;
  let gatewayClient: DeviceClient | undefined;
  let twin: Twin;

  beforeAll(async () => {
    emulator = await startTestEmulator({ dpsRetryAfterSeconds: 1 });
    info = emulator.info;
    deviceKey = deriveDeviceKey(info.enrollmentGroups.devices.primaryKey, deviceId);
  });

  afterAll(async () => {
    await closeAll(client, gatewayClient);
    await emulator?.close();
  });

  it('registers through DPS with a key derived from the group key and is assigned to the hub', async () => {
    registration = await registerWithSymmetricKey(info, deviceId, deviceKey, { modelId: MODEL_ID });
    expect(registration.status).toBe('assigned');
    expect(registration.deviceId).toBe(deviceId);
    expect(registration.registrationId).toBe(deviceId);
    expect(registration.assignedHub).toBe(`${info.hubHostName}:${info.mqttPort}`);

    const device = await rest(info, 'GET', `/api/devices/${deviceId}`);
    expect(device.status).toBe(200);
    expect(device.json).toMatchObject({ id: deviceId, provisioned: true, enabled: true, template: MODEL_ID });

    // IoT Central accepts api-version 1.0 as well.
    const v1 = await rest(info, 'GET', `/api/devices/${deviceId}`, undefined, '1.0');
    expect(v1.status).toBe(200);
    expect(v1.json.id).toBe(deviceId);

    const list = await rest(info, 'GET', '/api/devices');
    expect(list.status).toBe(200);
    expect(Array.isArray(list.json.value)).toBe(true);
  });

  it('connects with HostName=<assignedHub> and sends telemetry with properties, counted in /stats', async () => {
    const before = await countersOf(info, deviceId);
    client = await deviceClient(
      `HostName=${registration.assignedHub};DeviceId=${deviceId};SharedAccessKey=${deviceKey}`,
      { ca: caOf(info) },
    );
    await within(client.open(), 10_000, 'Client.open');

    const plain = jsonMessage(
      { temperature: 21.5, humidity: 40 },
      { alert: 'none', 'iothub-creation-time-utc': new Date().toISOString() },
    );
    plain.messageId = 'conf-msg-1';
    plain.correlationId = 'conf-corr-1';
    const component = jsonMessage({ temperature: 30.25 }, { 'dt-subject': 'thermostat1' }); // the SDK sends dt-subject as $.sub
    const latencyBefore = (await rest(info, 'GET', '/stats')).json.latency?.count ?? 0;
    await within(client.sendEvent(plain), 10_000, 'sendEvent (root)');
    await within(client.sendEvent(component), 10_000, 'sendEvent (component)');
    await within(client.sendEvent(jsonMessage({ temperature: 22 })), 10_000, 'sendEvent (root, 2nd)');

    const after = await eventually(
      () => countersOf(info, deviceId),
      (c) => c.messagesReceived >= before.messagesReceived + 3,
      '3 messages in /stats',
    );
    expect(after.messagesReceived).toBe(before.messagesReceived + 3);
    expect(after.connects).toBe(before.connects + 1);

    // The body was read as JSON, per component (from the $.sub property), and the creation-time property was honoured.
    const root = await rest(info, 'GET', `/api/devices/${deviceId}/telemetry/temperature`);
    expect(root.status).toBe(200);
    expect(root.json.value).toBe(22);
    const humidity = await rest(info, 'GET', `/api/devices/${deviceId}/telemetry/humidity`);
    expect(humidity.json?.value).toBe(40);
    const comp = await rest(info, 'GET', `/api/devices/${deviceId}/components/thermostat1/telemetry/temperature`);
    expect(comp.status).toBe(200);
    expect(comp.json.value).toBe(30.25);
    const latencyAfter = (await rest(info, 'GET', '/stats')).json.latency?.count ?? 0;
    expect(latencyAfter - latencyBefore).toBe(1); // only one message carried iothub-creation-time-utc
  });

  it('gets its twin, reports properties, and reads them back over REST and through a second getTwin', async () => {
    const c = client!;
    const before = await countersOf(info, deviceId);
    twin = await within(c.getTwin(), 10_000, 'getTwin');
    expect(typeof twin.properties.desired.$version).toBe('number');
    expect(typeof twin.properties.reported.$version).toBe('number');
    const reportedVersion = twin.properties.reported.$version as number;

    await reportProperties(twin, { firmwareVersion: '1.2.3', serialNumber: 'SN-42', nested: { a: 1, b: 'two' } });

    const read = await rest(info, 'GET', `/api/devices/${deviceId}/properties`);
    expect(read.status).toBe(200);
    expect(read.json).toMatchObject({ firmwareVersion: '1.2.3', serialNumber: 'SN-42', nested: { a: 1, b: 'two' } });

    const again = await within(c.getTwin(), 10_000, 'second getTwin');
    expect(again.properties.reported).toMatchObject({
      firmwareVersion: '1.2.3',
      serialNumber: 'SN-42',
      nested: { a: 1, b: 'two' },
    });
    expect(again.properties.reported.$version).toBeGreaterThan(reportedVersion);

    // null deletes a reported property
    await reportProperties(again, { serialNumber: null });
    const third = await within(c.getTwin(), 10_000, 'third getTwin');
    expect(third.properties.reported.serialNumber).toBeUndefined();
    expect(third.properties.reported.firmwareVersion).toBe('1.2.3');

    const after = await countersOf(info, deviceId);
    expect(after.twinGets - before.twinGets).toBe(3);
    expect(after.twinPatches - before.twinPatches).toBe(2);
  });

  it('receives a desired property patch written over REST', async () => {
    const c = client!;
    twin = await within(c.getTwin(), 10_000, 'getTwin');
    const versionBefore = twin.properties.desired.$version as number;
    const patchSeen = nextEvent<Record<string, unknown>>(
      twin,
      'properties.desired',
      (p) => p.targetTemperature === 23.5,
      10_000,
      'desired patch {targetTemperature: 23.5}',
    );
    await desiredUpdatesEnabled(twin);

    const write = await rest(info, 'PATCH', `/api/devices/${deviceId}/properties`, { targetTemperature: 23.5 });
    expect([200, 202]).toContain(write.status);

    const patch = await patchSeen;
    expect(typeof patch.$version).toBe('number');
    expect(patch.$version).toBeGreaterThan(versionBefore);
    expect(Object.keys(patch).sort()).toEqual(['$version', 'targetTemperature']); // only what changed

    const fresh = await within(c.getTwin(), 10_000, 'getTwin after the desired patch');
    expect(fresh.properties.desired.targetTemperature).toBe(23.5);
    expect(fresh.properties.desired.$version).toBe(patch.$version);
  });

  it('answers a direct method invoked over REST (status and payload round-trip)', async () => {
    const c = client!;
    const before = await countersOf(info, deviceId);
    const received: unknown[] = [];
    c.onDeviceMethod('reboot', (request, response) => {
      received.push(request.payload);
      void response.send(201, { accepted: true, echo: request.payload });
    });
    c.onDeviceMethod('getMaxMin', (request, response) => {
      received.push(request.payload);
      void response.send(200, 'string result');
    });
    await subscribed(c, 'method');

    const reboot = await rest(info, 'POST', `/api/devices/${deviceId}/commands/reboot`, {
      request: { delay: 5, mode: 'soft' },
      responseTimeout: 10,
    });
    expect([200, 201]).toContain(reboot.status);
    expect(reboot.json).toMatchObject({
      responseCode: 201,
      response: { accepted: true, echo: { delay: 5, mode: 'soft' } },
    });

    const scalar = await rest(info, 'POST', `/api/devices/${deviceId}/commands/getMaxMin`, {
      request: '2024-01-01T00:00:00Z',
      responseTimeout: 10,
    });
    expect([200, 201]).toContain(scalar.status);
    expect(scalar.json).toMatchObject({ responseCode: 200, response: 'string result' });

    expect(received).toEqual([{ delay: 5, mode: 'soft' }, '2024-01-01T00:00:00Z']);
    const after = await countersOf(info, deviceId);
    expect(after.methodCalls - before.methodCalls).toBe(2);
  });

  it('receives a C2D message sent over REST, with its properties', async () => {
    const c = client!;
    const arrived = nextEvent<SdkMessage>(c, 'message', () => true, 10_000, 'a C2D message');
    await subscribed(c, 'message');

    const send = await rest(info, 'POST', `/api/devices/${deviceId}/messages`, {
      data: { command: 'blink', times: 3 },
      properties: { color: 'blue', 'x-y': 'a b&c' },
    });
    expect(
      send.status,
      `POST /api/devices/{id}/messages → ${send.status} ${JSON.stringify(send.json)}`,
    ).toBeGreaterThanOrEqual(200);
    expect(send.status).toBeLessThan(300);

    const message = await arrived;
    expect(JSON.parse(message.data.toString())).toEqual({ command: 'blink', times: 3 });
    expect(message.properties.getValue('color')).toBe('blue');
    expect(message.properties.getValue('x-y')).toBe('a b&c');
    await within(c.complete(message), 5000, 'complete');
  });

  it('connects with the GatewayHostName=localhost:<port> connection-string form', async () => {
    await closeAll(client);
    client = undefined;
    const before = await countersOf(info, deviceId);
    gatewayClient = await deviceClient(
      `HostName=${info.hubHostName};DeviceId=${deviceId};SharedAccessKey=${deviceKey};GatewayHostName=localhost:${info.mqttPort}`,
      { ca: caOf(info) },
    );
    await within(gatewayClient.open(), 10_000, 'Client.open via GatewayHostName');
    await within(gatewayClient.sendEvent(jsonMessage({ temperature: 19 })), 10_000, 'sendEvent via GatewayHostName');
    const t = await within(gatewayClient.getTwin(), 10_000, 'getTwin via GatewayHostName');
    expect(t.properties.reported.firmwareVersion).toBe('1.2.3'); // same identity, same twin

    const after = await eventually(
      () => countersOf(info, deviceId),
      (c) => c.messagesReceived >= before.messagesReceived + 1,
      'the message in /stats',
    );
    expect(after.messagesReceived).toBe(before.messagesReceived + 1);
    expect(after.connects).toBe(before.connects + 1);
  });
});
