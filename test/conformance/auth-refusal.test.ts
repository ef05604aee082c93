// Conformance: wrong credentials are refused at CONNECT with CONNACK 5, as the official Node SDK sees it — the
// provisioning client fails at once with mqtt.js's "Connection refused: Not authorized" (code 5, no retry), the hub
// client with UnauthorizedError "Connection refused: Not authorized". Each refusal has a positive control against
// the same emulator, so a broken emulator cannot pass by refusing everything.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator, EmulatorInfo } from '../../src/emulator/index.js';
import { caOf, countersOf, rest, startTestEmulator, stats } from '../support/emulator.js';
import {
  closeAll,
  createDeviceSas,
  deriveDeviceKey,
  deviceClient,
  deviceClientFromSas,
  jsonMessage,
  registerWithSymmetricKey,
  rejectionOf,
  uniqueId,
  within,
  type DeviceClient,
} from '../support/azure-sdk.js';

const CONNACK_NOT_AUTHORIZED = /Connection refused: Not authorized/;
const randomKey = () => randomBytes(32).toString('base64');

describe('wrong credentials are refused (official Node SDK)', () => {
  let emulator: Emulator;
  let info: EmulatorInfo;
  let hub: string;
  const deviceId = uniqueId('conf-auth');
  let deviceKey: string;
  const clients: (DeviceClient | undefined)[] = [];
  const track = (c: DeviceClient) => {
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    emulator = await startTestEmulator({ dpsRetryAfterSeconds: 1 });
    info = emulator.info;
    hub = `${info.hubHostName}:${info.mqttPort}`;
    deviceKey = deriveDeviceKey(info.enrollmentGroups.devices.primaryKey, deviceId);
  });

  afterAll(async () => {
    await closeAll(...clients);
    await emulator?.close();
  });

  /**
   * Expects DPS to refuse the CONNECT with CONNACK 5: the provisioning client reports mqtt.js's refusal (code 5)
   * after one attempt, and /stats counts exactly that one refused CONNECT.
   */
  async function expectDpsRefused(registrationId: string, key: string, what: string): Promise<void> {
    const refusedBefore = (await stats(info)).rejections.auth as number;
    const err = await rejectionOf(registerWithSymmetricKey(info, registrationId, key), 20_000, what);
    expect(err.message, what).toMatch(CONNACK_NOT_AUTHORIZED);
    expect(err.code, 'the CONNACK return code').toBe(5);
    expect((await stats(info)).rejections.auth, 'one refused CONNECT, no retries').toBe(refusedBefore + 1);
  }

  it('DPS: the correctly derived key is accepted (control)', async () => {
    const result = await registerWithSymmetricKey(info, deviceId, deviceKey);
    expect(result.status).toBe('assigned');
    expect(result.assignedHub).toBe(hub);
  });

  it('DPS: a key derived from a wrong group key is refused at CONNECT', async () => {
    const id = uniqueId('conf-auth-wrong');
    await expectDpsRefused(id, deriveDeviceKey(randomKey(), id), 'DPS registration with a wrong key');
    expect((await rest(info, 'GET', `/api/devices/${id}`)).status).toBe(404);
  });

  it("DPS: another registration id's key is refused at CONNECT", async () => {
    const id = uniqueId('conf-auth-borrowed');
    await expectDpsRefused(id, deviceKey, "DPS registration with another device's key");
    expect((await rest(info, 'GET', `/api/devices/${id}`)).status).toBe(404);
  });

  it('DPS: the group key itself (not derived) is refused at CONNECT', async () => {
    const id = uniqueId('conf-auth-groupkey');
    await expectDpsRefused(id, info.enrollmentGroups.devices.primaryKey, 'DPS registration with the raw group key');
  });

  it('DPS: a key derived from the group secondary key is accepted', async () => {
    const id = uniqueId('conf-auth-secondary');
    const result = await registerWithSymmetricKey(
      info,
      id,
      deriveDeviceKey(info.enrollmentGroups.devices.secondaryKey, id),
    );
    expect(result.status).toBe('assigned');
    expect(result.deviceId).toBe(id);
  });

  it('hub: the right key connects (control)', async () => {
    const before = await countersOf(info, deviceId);
    const client = track(
      await deviceClient(`HostName=${hub};DeviceId=${deviceId};SharedAccessKey=${deviceKey}`, { ca: caOf(info) }),
    );
    await within(client.open(), 10_000, 'Client.open with the right key');
    await within(client.sendEvent(jsonMessage({ ok: true })), 10_000, 'sendEvent');
    await closeAll(client);
    expect((await countersOf(info, deviceId)).connects).toBe(before.connects + 1);
  });

  it('hub: a wrong key is refused with CONNACK 5 (UnauthorizedError), without retries', async () => {
    const before = await countersOf(info, deviceId);
    const client = track(
      await deviceClient(`HostName=${hub};DeviceId=${deviceId};SharedAccessKey=${randomKey()}`, { ca: caOf(info) }),
    );
    const started = Date.now();
    const err = await rejectionOf(client.open(), 10_000, 'Client.open with a wrong key');
    expect(err.name).toBe('UnauthorizedError');
    expect(err.message).toMatch(CONNACK_NOT_AUTHORIZED);
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await countersOf(info, deviceId)).connects).toBe(before.connects);
  });

  it('hub: an unknown device id is refused with CONNACK 5', async () => {
    const id = uniqueId('conf-auth-unknown');
    const client = track(
      await deviceClient(
        `HostName=${hub};DeviceId=${id};SharedAccessKey=${deriveDeviceKey(info.enrollmentGroups.devices.primaryKey, id)}`,
        { ca: caOf(info) },
      ),
    );
    const err = await rejectionOf(client.open(), 10_000, 'Client.open for a never-provisioned device');
    expect(err.name).toBe('UnauthorizedError');
    expect(err.message).toMatch(CONNACK_NOT_AUTHORIZED);
  });

  it('hub: a SAS token is accepted before its expiry and refused after it', async () => {
    const now = Math.floor(Date.now() / 1000);
    const valid = track(
      await deviceClientFromSas(createDeviceSas(hub, deviceId, deviceKey, now + 600).toString(), { ca: caOf(info) }),
    );
    await within(valid.open(), 10_000, 'Client.open with a fresh SAS token');
    await closeAll(valid);

    const expired = track(
      await deviceClientFromSas(createDeviceSas(hub, deviceId, deviceKey, now - 60).toString(), { ca: caOf(info) }),
    );
    const err = await rejectionOf(expired.open(), 10_000, 'Client.open with an expired SAS token');
    expect(err.name).toBe('UnauthorizedError');
    expect(err.message).toMatch(CONNACK_NOT_AUTHORIZED);
  });
});
