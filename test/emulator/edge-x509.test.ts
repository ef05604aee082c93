// An IoT Edge device with an X.509 identity manages its module identities over mutual TLS with its own certificate,
// as the IoT Edge identity service does; a certificate never grants more than its own device, and only an IoT Edge
// device's at that.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator, EmulatorInfo } from '../../src/emulator/index.js';
import { createCertificateAuthority, issueLeafCertificate, type PemPair } from '../../src/protocol/x509.js';
import { hubHttps, rest, startTestEmulator } from '../support/emulator.js';
import { registerWithX509, uniqueId } from '../support/azure-sdk.js';

const HUB_API_VERSION = '2021-04-12';

describe('module identities over mutual TLS', () => {
  let emulator: Emulator;
  let info: EmulatorInfo;
  let deviceCa: PemPair;
  const edgeId = uniqueId('x509-edge');
  const plainId = uniqueId('x509-plain');
  const certs: Record<string, PemPair> = {};
  const modulePath = (deviceId: string, moduleId: string) =>
    `/devices/${deviceId}/modules/${moduleId}?api-version=${HUB_API_VERSION}`;
  /** The leaf with its issuing CA, as a device presents its chain. */
  const chain = (leaf: PemPair, ca: PemPair): PemPair => ({ certPem: leaf.certPem + ca.certPem, keyPem: leaf.keyPem });

  beforeAll(async () => {
    emulator = await startTestEmulator();
    info = emulator.info;
    deviceCa = {
      certPem: readFileSync(info.deviceCaCertPath, 'utf8'),
      keyPem: readFileSync(info.deviceCaKeyPath, 'utf8'),
    };
    // The IoT Edge device is created as such first (a run does so when it assigns the deployment manifest).
    expect((await rest(info, 'PUT', `/api/devices/${edgeId}`, { iotEdge: true })).status).toBe(200);
    for (const id of [edgeId, plainId]) {
      certs[id] = chain(await issueLeafCertificate(deviceCa, id), deviceCa);
      const registration = await registerWithX509(info, id, { cert: certs[id].certPem, key: certs[id].keyPem });
      expect(registration.status).toBe('assigned');
    }
  });

  afterAll(async () => {
    await emulator?.close();
  });

  it("reads the runtime's identities and creates a module with the device's own certificate", async () => {
    const agent = await hubHttps(
      info,
      'GET',
      modulePath(edgeId, '$edgeAgent'),
      undefined,
      undefined,
      {},
      certs[edgeId],
    );
    expect(agent.status, JSON.stringify(agent.json)).toBe(200);
    expect(agent.json).toMatchObject({ moduleId: '$edgeAgent', deviceId: edgeId });
    const body = { moduleId: 'sensor', deviceId: edgeId, managedBy: 'iotEdge' };
    const created = await hubHttps(info, 'PUT', modulePath(edgeId, 'sensor'), undefined, body, {}, certs[edgeId]);
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    expect(typeof created.json.authentication?.symmetricKey?.primaryKey).toBe('string');
  });

  it("refuses another device's certificate, one from an untrusted CA, and no credential at all (401)", async () => {
    const path = modulePath(edgeId, 'intruder');
    const body = { moduleId: 'intruder', deviceId: edgeId };
    expect((await hubHttps(info, 'PUT', path, undefined, body, {}, certs[plainId])).status).toBe(401);
    const rogueCa = await createCertificateAuthority('edge x509 rogue CA');
    const forged = chain(await issueLeafCertificate(rogueCa, edgeId), rogueCa);
    expect((await hubHttps(info, 'PUT', path, undefined, body, {}, forged)).status).toBe(401);
    expect((await hubHttps(info, 'PUT', path, undefined, body)).status).toBe(401);
    expect((await hubHttps(info, 'GET', path, undefined, undefined, {}, certs[edgeId])).status).toBe(404);
  });

  it('refuses a plain device, even with its own certificate: only IoT Edge devices manage modules', async () => {
    const body = { moduleId: 'sneaky', deviceId: plainId };
    const refused = await hubHttps(info, 'PUT', modulePath(plainId, 'sneaky'), undefined, body, {}, certs[plainId]);
    expect(refused.status).toBe(401);
  });
});
