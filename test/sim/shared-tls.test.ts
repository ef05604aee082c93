// Connections share one TLS context per distinct PEM set: SAS devices share the CA's, while X.509 devices, each
// with its own certificate and key, still authenticate as themselves against the real emulator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/index.js';
import type { AzureTarget } from '../../src/endpoints/target.js';
import {
  deriveDeviceKey,
  encodePropertyBag,
  parseTopic,
  topic,
  CREATION_TIME_PROPERTY,
  systemProperty,
} from '../../src/protocol/index.js';
import { issueLeafCertificate } from '../../src/protocol/x509.js';
import { SimDevice, type DeviceBehaviour } from '../../src/sim/device.js';
import { TelemetryTopics } from '../../src/sim/telemetry-pacer.js';
import { cachedContexts, secureContextFor } from '../../src/transport/tls-context.js';
import { rest, startTestEmulator } from '../support/emulator.js';
import { testContext, type TestSimContext } from '../support/sim-context.js';
import { until } from '../support/wait.js';

let emulator: Emulator;
let ctx: TestSimContext;
const devices: SimDevice[] = [];

beforeAll(async () => {
  emulator = await startTestEmulator();
  ctx = testContext(emulator);
});
afterAll(async () => {
  for (const d of devices) d.quiesce();
  await Promise.all(devices.map((d) => d.stop()));
  ctx?.scheduler.stop();
  await emulator?.close();
});

const behaviour: DeviceBehaviour = {
  telemetryIntervalMs: 50,
  telemetryQos: 1,
  telemetry: { tick: () => [{ body: { temperature: 21 } }, { component: 'thermostat 1', body: { temperature: 22 } }] },
  reported: () => undefined,
  writableAck: { code: 200, delayMs: 0 },
  command: () => ({ status: 404, delayMs: 0, response: {} }),
};

function start(id: string, auth: ConstructorParameters<typeof SimDevice>[3]): SimDevice {
  let seed = 7;
  const d = new SimDevice(
    ctx,
    ctx.target as never,
    {
      deviceId: id,
      group: 'g',
      ordinal: 0,
      arrivalAt: ctx.scheduler.now(),
      random: () => (seed = (seed * 16807) % 2147483647) / 2147483647,
    },
    auth,
    behaviour,
  );
  d.start();
  devices.push(d);
  return d;
}

describe('shared TLS contexts', () => {
  it('X.509 devices with their own certificates and SAS devices all provision, connect and send', async () => {
    const ca = (ctx.target as AzureTarget).x509Ca as { certPem: string; keyPem: string };
    const leaves = await Promise.all(['tls-x509-a', 'tls-x509-b'].map((id) => issueLeafCertificate(ca, id)));
    const before = cachedContexts();
    start('tls-x509-a', { kind: 'dps-x509', certPem: leaves[0]!.certPem + ca.certPem, keyPem: leaves[0]!.keyPem });
    start('tls-x509-b', { kind: 'dps-x509', certPem: leaves[1]!.certPem + ca.certPem, keyPem: leaves[1]!.keyPem });
    for (const id of ['tls-sas-a', 'tls-sas-b']) {
      start(id, { kind: 'dps-sas', deviceKey: deriveDeviceKey(emulator.info.enrollmentGroups.devices.primaryKey, id) });
    }
    const ids = ['tls-x509-a', 'tls-x509-b', 'tls-sas-a', 'tls-sas-b'];
    await until(
      () => ids.every((id) => (ctx.acked.get(id) ?? 0) >= 4),
      15_000,
      'telemetry acknowledged for every device',
    );
    // What was acknowledged before /stats is read is in it (the devices go on sending meanwhile).
    const acked = new Map(ids.map((id) => [id, ctx.acked.get(id) ?? 0]));
    const stats = (await rest(emulator, 'GET', '/stats')).json;
    for (const id of ids) expect(stats.identities[id].messagesReceived).toBeGreaterThanOrEqual(acked.get(id)!);
    // The emulator names an X.509 device by its certificate's CN: each one used its own.
    const registered = (await rest(emulator, 'GET', '/api/devices/tls-x509-b')).json;
    expect(registered).toMatchObject({ provisioned: true });
    // One context per X.509 device, used for both its DPS and its hub connection.
    const after = cachedContexts();
    expect(after.withClientCert - before.withClientCert).toBe(2);
    expect(secureContextFor({ ca: ctx.target.caPem })).toBe(secureContextFor({ ca: ctx.target.caPem }));
  });
});

describe('telemetry topics', () => {
  it('are the same topic the property-bag encoder builds, and parse back to the same properties', () => {
    const id = { deviceId: 'dev 1' };
    const topics = new TelemetryTopics(topic.telemetry(id));
    const at = Date.UTC(2026, 10, 27, 1, 2, 3, 456) + 0.75;
    for (const component of [undefined, 'thermostat 1']) {
      const bag: Record<string, string> = {
        [systemProperty.contentType]: 'application/json',
        [systemProperty.contentEncoding]: 'utf-8',
        [CREATION_TIME_PROPERTY]: '2026-11-27T01:02:03.456Z',
      };
      if (component !== undefined) bag[systemProperty.component] = component;
      const built = topics.at(at, component);
      expect(built).toBe(topic.telemetry(id) + encodePropertyBag(bag));
      expect(parseTopic(built)).toMatchObject({ kind: 'telemetry', deviceId: 'dev 1', properties: bag });
    }
    // The next millisecond gets its own time, not the one remembered from the last message.
    expect(topics.at(at + 1, undefined)).toContain('2026-11-27T01%3A02%3A03.457Z');
  });
});
