// The hub's service API with the official service SDK (azure-iothub) as the peer: the identity registry (devices,
// IoT Edge devices and their children, module identities, bulk), one registry with the IoT Central-shaped REST API,
// and the refusal of bad, expired and under-privileged tokens.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/index.js';
import { hubHttps, rest, startTestEmulator, TEST_STATE_DIR } from '../support/emulator.js';
import { createDeviceSas, rejectionOf, uniqueId } from '../support/azure-sdk.js';
import {
  policyConnectionString,
  serviceConfig,
  serviceRegistry,
  SharedAccessSignature,
} from '../support/service-sdk.js';

let emulator: Emulator;
const now = () => Math.floor(Date.now() / 1000);
/** An answer's body as the hub sends it (the SDK's Device type lacks deviceScope and parentScopes). */
const body = (r: { responseBody: unknown }): any => r.responseBody;
let registry: ReturnType<typeof serviceRegistry>;
let hubHost: string;

/** The keys of a shared access policy, from the state directory's secrets.json. */
function policyKey(policy: string): string {
  const secrets = JSON.parse(readFileSync(join(TEST_STATE_DIR, 'secrets.json'), 'utf8'));
  return secrets.servicePolicies[policy].primaryKey as string;
}

beforeAll(async () => {
  emulator = await startTestEmulator();
  registry = serviceRegistry(emulator.info.serviceConnectionString);
  hubHost = `localhost:${emulator.info.hubHttpsPort}`;
});

afterAll(async () => {
  await emulator?.close();
});

describe('devices', () => {
  it('creates, reads, updates and deletes a device, seen by the IoT Central-shaped REST API too', async () => {
    const id = uniqueId('svc');
    const created = body(await registry.create({ deviceId: id }));
    expect(created).toMatchObject({ deviceId: id, status: 'enabled', capabilities: { iotEdge: false } });
    expect(Buffer.from(created.authentication.symmetricKey.primaryKey, 'base64')).toHaveLength(32);
    expect((await rest(emulator, 'GET', `/api/devices/${id}`)).json).toMatchObject({ id, enabled: true });

    const duplicate = await rejectionOf(registry.create({ deviceId: id }), 10_000, 'create twice');
    expect(duplicate.name).toBe('DeviceAlreadyExistsError');

    const updated = body(await registry.update({ ...created, status: 'disabled', statusReason: 'retired' }));
    expect(updated).toMatchObject({ status: 'disabled', statusReason: 'retired' });
    expect(updated.etag).not.toBe(created.etag);
    expect(updated.authentication.symmetricKey.primaryKey).toBe(created.authentication.symmetricKey.primaryKey);
    expect((await rest(emulator, 'GET', `/api/devices/${id}`)).json).toMatchObject({ enabled: false });

    // The SDK sends a device given without keys with empty ones: an update keeps the keys it has.
    const minimal = body(await registry.update({ deviceId: id, status: 'enabled' }));
    expect(minimal.authentication.symmetricKey).toEqual(created.authentication.symmetricKey);

    await registry.delete(id);
    expect((await rejectionOf(registry.get(id), 10_000, 'get deleted')).name).toBe('DeviceNotFoundError');
    expect((await rest(emulator, 'GET', `/api/devices/${id}`)).status).toBe(404);
  });

  it('shows a device created over the IoT Central-shaped REST API, with the keys it was given', async () => {
    const id = uniqueId('central');
    const put = await rest(emulator, 'PUT', `/api/devices/${id}`, { displayName: 'from central' });
    expect(put.status).toBe(200);
    const credentials = (await rest(emulator, 'GET', `/api/devices/${id}/credentials`)).json;
    const device = body(await registry.get(id));
    expect(device.authentication.symmetricKey.primaryKey).toBe(credentials.symmetricKey.primaryKey);
  });

  it('keeps a downstream device under its IoT Edge parent: deviceScope, parentScopes and the REST relationship', async () => {
    const edgeId = uniqueId('edge');
    const leafId = uniqueId('leaf');
    const edge = body(await registry.create({ deviceId: edgeId, capabilities: { iotEdge: true } }));
    expect(edge.deviceScope).toMatch(new RegExp(`^ms-azure-iot-edge://${edgeId}-\\d+$`));
    const leaf = body(await registry.create({ deviceId: leafId, deviceScope: edge.deviceScope }));
    expect(leaf).toMatchObject({ deviceScope: edge.deviceScope, parentScopes: [edge.deviceScope] });
    const relationships = (await rest(emulator, 'GET', `/api/devices/${edgeId}/relationships`)).json.value;
    expect(relationships).toEqual([expect.objectContaining({ source: edgeId, target: leafId })]);

    const modules = (await registry.getModulesOnDevice(edgeId)).responseBody.map((m) => m.moduleId).sort();
    expect(modules).toEqual(['$edgeAgent', '$edgeHub']);

    const unknownScope = registry.create({ deviceId: uniqueId('orphan'), deviceScope: 'ms-azure-iot-edge://none-1' });
    expect((await rejectionOf(unknownScope, 10_000, 'unknown scope')).name).toBe('ArgumentError');

    const detached = body(await registry.update({ ...leaf, deviceScope: '', parentScopes: [] }));
    expect(detached.parentScopes).toEqual([]);
    expect((await rest(emulator, 'GET', `/api/devices/${edgeId}/relationships`)).json.value).toEqual([]);
  });

  it('adds, reads, lists and removes module identities', async () => {
    const deviceId = uniqueId('modhost');
    await registry.create({ deviceId, capabilities: { iotEdge: true } });
    const added = body(await registry.addModule({ deviceId, moduleId: 'filter' }));
    expect(added).toMatchObject({ deviceId, moduleId: 'filter', authentication: { type: 'sas' } });
    const got = body(await registry.getModule(deviceId, 'filter'));
    expect(got.authentication.symmetricKey.primaryKey).toBe(added.authentication.symmetricKey.primaryKey);
    const ids = (await registry.getModulesOnDevice(deviceId)).responseBody.map((m) => m.moduleId);
    expect(ids).toContain('filter');
    await registry.removeModule(deviceId, 'filter');
    expect((await rejectionOf(registry.getModule(deviceId, 'filter'), 10_000, 'removed')).message).toBe('Not found');
  });
});

describe('bulk', () => {
  it('creates, updates and deletes in one request, naming each record that fails', async () => {
    const ids = [uniqueId('bulk'), uniqueId('bulk'), uniqueId('bulk')];
    const first = await registry.addDevices(ids.map((deviceId) => ({ deviceId })));
    expect(first.responseBody).toMatchObject({ isSuccessful: true, errors: [] });
    for (const id of ids) expect(body(await registry.get(id)).deviceId).toBe(id);

    const extra = uniqueId('bulk');
    const second = await rejectionOf(
      registry.addDevices([{ deviceId: ids[0] as string }, { deviceId: extra }]),
      10_000,
      'bulk with an existing device',
    );
    expect(second.response.statusCode).toBe(400);
    expect(JSON.parse(second.responseBody)).toMatchObject({
      isSuccessful: false,
      errors: [{ deviceId: ids[0], errorCode: 'DeviceAlreadyExists' }],
    });
    expect(body(await registry.get(extra)).deviceId).toBe(extra);

    const stale = { deviceId: ids[1] as string, status: 'disabled' as const, etag: 'not-its-etag' };
    const ifMatch = await rejectionOf(registry.updateDevices([stale], false), 10_000, 'stale etag');
    expect(JSON.parse(ifMatch.responseBody).errors).toEqual([
      expect.objectContaining({ errorCode: 'PreconditionFailed' }),
    ]);
    await registry.updateDevices([{ ...stale, etag: '*' }], true);
    expect(body(await registry.get(ids[1] as string)).status).toBe('disabled');

    await registry.removeDevices(
      [...ids, extra].map((deviceId) => ({ deviceId })),
      true,
    );
    for (const id of [...ids, extra]) expect((await rest(emulator, 'GET', `/api/devices/${id}`)).status).toBe(404);
  });

  it('refuses more than 100 records as a whole', async () => {
    const records = Array.from({ length: 101 }, (_, i) => ({ id: `too-many-${i}`, importMode: 'create' }));
    const token = serviceConfig(emulator.info.serviceConnectionString).sharedAccessSignature;
    const reply = await hubHttps(emulator, 'POST', '/devices?api-version=2021-04-12', token, records);
    expect(reply.status).toBe(400);
    expect(reply.json.Message).toMatch(/^ErrorCode:ArgumentInvalid;.*1-100 device records/);
    expect((await rest(emulator, 'GET', '/api/devices/too-many-0')).status).toBe(404);
  });
});

describe('tokens', () => {
  it('refuses a wrong key with 401, the hub error body and iothub-errorcode', async () => {
    const wrong = Buffer.alloc(32, 7).toString('base64');
    const bad = serviceRegistry(policyConnectionString(hubHost, 'iothubowner', wrong));
    const err = await rejectionOf(bad.get('anything'), 10_000, 'wrong key');
    expect(err.name).toBe('UnauthorizedError');
    expect(err.response.statusCode).toBe(401);
    expect(err.response.headers['iothub-errorcode']).toBe('IotHubUnauthorizedAccess');
    expect(JSON.parse(err.responseBody).Message).toMatch(/^ErrorCode:IotHubUnauthorizedAccess;/);
  });

  it('refuses an expired token and a policy without the right, and lets each policy do what it grants', async () => {
    const key = policyKey('iothubowner');
    const expired = SharedAccessSignature.create(hubHost, 'iothubowner', key, now() - 60);
    const reply = await hubHttps(emulator, 'GET', '/devices/x?api-version=2021-04-12', expired.toString());
    expect(reply.status).toBe(401);
    expect(reply.json.Message).toContain('expired');

    const id = uniqueId('rights');
    const connect = serviceRegistry(policyConnectionString(hubHost, 'serviceConnect', policyKey('serviceConnect')));
    const refused = await rejectionOf(connect.create({ deviceId: id }), 10_000, 'serviceConnect creating');
    expect(refused.name).toBe('UnauthorizedError');
    expect(JSON.parse(refused.responseBody).Message).toContain('needs registryWrite');

    const readOnly = serviceRegistry(policyConnectionString(hubHost, 'registryRead', policyKey('registryRead')));
    expect((await rejectionOf(readOnly.create({ deviceId: id }), 10_000, 'read-only')).name).toBe('UnauthorizedError');
    const readWrite = serviceRegistry(
      policyConnectionString(hubHost, 'registryReadWrite', policyKey('registryReadWrite')),
    );
    await readWrite.create({ deviceId: id });
    expect(body(await readOnly.get(id)).deviceId).toBe(id);
  });

  it('still serves the device-scope module calls with an IoT Edge device token', async () => {
    const id = uniqueId('devscope');
    const device = body(await registry.create({ deviceId: id, capabilities: { iotEdge: true } }));
    const token = createDeviceSas(hubHost, id, device.authentication.symmetricKey.primaryKey, now() + 600);
    const reply = await hubHttps(emulator, 'GET', `/devices/${id}/modules?api-version=2021-04-12`, token.toString());
    expect(reply.status).toBe(200);
    expect(reply.json.map((m: { moduleId: string }) => m.moduleId).sort()).toEqual(['$edgeAgent', '$edgeHub']);
    const asService = await hubHttps(emulator, 'GET', `/devices/${id}?api-version=2021-04-12`, token.toString());
    expect(asService.status).toBe(401);
  });
});
