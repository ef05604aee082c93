// Conformance: a device that authenticates with an X.509 certificate (CN = device id) issued by the emulator's device
// CA, through DPS (X509Security) and the hub (Client with {cert, key}); certificates the emulator must refuse.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator, EmulatorInfo } from '../../src/emulator/index.js';
import { createCertificateAuthority, issueLeafCertificate, type PemPair } from '../../src/protocol/x509.js';
import { caOf, countersOf, rest, startTestEmulator } from '../support/emulator.js';
import { eventually } from '../support/wait.js';
import {
  closeAll,
  deviceClient,
  jsonMessage,
  registerWithX509,
  rejectionOf,
  uniqueId,
  within,
  type DeviceClient,
  type RegistrationResult,
} from '../support/azure-sdk.js';

/** How the SDK reports a CONNACK refusal (code 5) on a first connection: UnauthorizedError wrapping mqtt.js's text. */
const CONNACK_NOT_AUTHORIZED = /Connection refused: Not authorized/;

describe('X.509 device (official Node SDK, MQTT)', () => {
  let emulator: Emulator;
  let info: EmulatorInfo;
  let deviceCa: PemPair;
  let rogueCa: PemPair;
  const deviceId = uniqueId('conf-x509');
  let leaf: PemPair;
  let registration: RegistrationResult;
  const clients: (DeviceClient | undefined)[] = [];

  /** A device client with a certificate; tracked for afterAll. */
  async function x509Client(hub: string, id: string, cert: PemPair): Promise<DeviceClient> {
    const client = await deviceClient(`HostName=${hub};DeviceId=${id};x509=true`, {
      ca: caOf(info),
      cert: cert.certPem,
      key: cert.keyPem,
    });
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    emulator = await startTestEmulator({ dpsRetryAfterSeconds: 1 });
    info = emulator.info;
    deviceCa = {
      certPem: readFileSync(info.deviceCaCertPath, 'utf8'),
      keyPem: readFileSync(info.deviceCaKeyPath, 'utf8'),
    };
    rogueCa = await createCertificateAuthority('conformance rogue CA');
    leaf = await issueLeafCertificate(deviceCa, deviceId);
  });

  afterAll(async () => {
    await closeAll(...clients);
    await emulator?.close();
  });

  it('registers through DPS with a device-CA certificate; the identity is the certificate CN', async () => {
    registration = await registerWithX509(info, deviceId, { cert: leaf.certPem, key: leaf.keyPem });
    expect(registration.status).toBe('assigned');
    expect(registration.deviceId).toBe(deviceId);
    expect(registration.assignedHub).toBe(`${info.hubHostName}:${info.mqttPort}`);
    const device = await rest(info, 'GET', `/api/devices/${deviceId}`);
    expect(device.status).toBe(200);
    expect(device.json).toMatchObject({ id: deviceId, provisioned: true });
  });

  it('connects to the assigned hub with {cert, key}, sends telemetry (seen in /stats) and gets its twin', async () => {
    const before = await countersOf(info, deviceId);
    const client = await x509Client(registration.assignedHub, deviceId, leaf);
    await within(client.open(), 10_000, 'Client.open with X.509');
    await within(client.sendEvent(jsonMessage({ pressure: 1013 }, { source: 'x509' })), 10_000, 'sendEvent');
    await within(client.sendEvent(jsonMessage({ pressure: 1014 })), 10_000, 'sendEvent (2nd)');
    const after = await eventually(
      () => countersOf(info, deviceId),
      (c) => c.messagesReceived >= before.messagesReceived + 2,
      '2 messages in /stats',
    );
    expect(after.messagesReceived).toBe(before.messagesReceived + 2);
    expect(after.connects).toBe(before.connects + 1);
    const last = await rest(info, 'GET', `/api/devices/${deviceId}/telemetry/pressure`);
    expect(last.json?.value).toBe(1014);
    const twin = await within(client.getTwin(), 10_000, 'getTwin with X.509');
    expect(typeof twin.properties.desired.$version).toBe('number');
  });

  it('refuses at the hub a certificate signed by an unknown CA, even for a provisioned device id', async () => {
    const forged = await issueLeafCertificate(rogueCa, deviceId);
    const client = await x509Client(registration.assignedHub, deviceId, forged);
    const err = await rejectionOf(client.open(), 10_000, 'Client.open with a rogue-CA certificate');
    expect(err.name).toBe('UnauthorizedError');
    expect(err.message).toMatch(CONNACK_NOT_AUTHORIZED);
  });

  it('refuses at DPS a certificate signed by an unknown CA, and creates no device', async () => {
    const id = uniqueId('conf-x509-rogue');
    const forged = await issueLeafCertificate(rogueCa, id);
    const err = await rejectionOf(
      registerWithX509(info, id, { cert: forged.certPem, key: forged.keyPem }),
      20_000,
      'DPS registration with a rogue-CA certificate',
    );
    // Either a 401 register response (UnauthorizedError) or a CONNACK refusal; never a timeout or an assignment.
    expect(`${err.name}: ${err.message}`).toMatch(/UnauthorizedError|Not authorized/);
    const device = await rest(info, 'GET', `/api/devices/${id}`);
    expect(device.status).toBe(404);
  });

  it('refuses a certificate whose CN is not the device id it connects as', async () => {
    const other = await issueLeafCertificate(deviceCa, uniqueId('conf-x509-other'));
    const client = await x509Client(registration.assignedHub, deviceId, other);
    const err = await rejectionOf(client.open(), 10_000, "Client.open with another device's certificate");
    expect(err.name).toBe('UnauthorizedError');
    expect(err.message).toMatch(CONNACK_NOT_AUTHORIZED);
  });

  it('refuses at the hub a valid device-CA certificate for an identity that was never provisioned', async () => {
    const id = uniqueId('conf-x509-unprovisioned');
    const cert = await issueLeafCertificate(deviceCa, id);
    const client = await x509Client(registration.assignedHub, id, cert);
    const err = await rejectionOf(client.open(), 10_000, 'Client.open for an unprovisioned X.509 identity');
    expect(err.name).toBe('UnauthorizedError');
    expect(err.message).toMatch(CONNACK_NOT_AUTHORIZED);
  });
});
