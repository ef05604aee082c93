// The hub's service API with the official service SDK (azure-iothub) on one side and official device SDK clients
// (azure-iot-device over MQTT) on the other: twins (tags, desired properties, ETags), direct methods, queries.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/index.js';
import { caOf, hubHttps, startTestEmulator } from '../support/emulator.js';
import {
  closeAll,
  desiredUpdatesEnabled,
  deviceClient,
  moduleClient,
  nextEvent,
  rejectionOf,
  reportProperties,
  subscribed,
  uniqueId,
  within,
  type DeviceClient,
  type ModuleClient,
} from '../support/azure-sdk.js';
import { serviceClient, serviceConfig, serviceRegistry } from '../support/service-sdk.js';

let emulator: Emulator;
let registry: ReturnType<typeof serviceRegistry>;
let methods: ReturnType<typeof serviceClient>;
const clients: DeviceClient[] = [];
const modules: ModuleClient[] = [];

const body = (r: { responseBody: unknown }): any => r.responseBody;

beforeAll(async () => {
  emulator = await startTestEmulator();
  registry = serviceRegistry(emulator.info.serviceConnectionString);
  methods = serviceClient(emulator.info.serviceConnectionString);
});

afterAll(async () => {
  await closeAll(...clients, ...modules);
  await emulator?.close();
});

/** A device created through the service API, and an official device client for it (not opened). */
async function createdDevice(prefix: string): Promise<{ id: string; client: DeviceClient }> {
  const id = uniqueId(prefix);
  const device = body(await registry.create({ deviceId: id }));
  const key = device.authentication.symmetricKey.primaryKey as string;
  const host = `${emulator.info.hubHostName}:${emulator.info.mqttPort}`;
  const client = await deviceClient(`HostName=${host};DeviceId=${id};SharedAccessKey=${key}`, { ca: caOf(emulator) });
  clients.push(client);
  return { id, client };
}

describe('twins', () => {
  it('writes tags and desired properties the device receives, and reads back what the device reported', async () => {
    const { id, client } = await createdDevice('twin');
    await within(client.open(), 10_000, 'open');
    const deviceTwin = await within(client.getTwin(), 10_000, 'getTwin');
    await desiredUpdatesEnabled(deviceTwin);
    await reportProperties(deviceTwin, { firmware: '1.2.3', build: id });
    const byReported = await registry
      .createQuery(`SELECT * FROM devices WHERE properties.reported.build = '${id}'`)
      .next();
    expect(byReported.result.map((t: { deviceId: string }) => t.deviceId)).toEqual([id]);

    const before = body(await registry.getTwin(id));
    expect(before).toMatchObject({ deviceId: id, tags: {}, properties: { reported: { firmware: '1.2.3' } } });
    const patchSeen = nextEvent<Record<string, unknown>>(
      deviceTwin,
      'properties.desired',
      (p) => p.interval === 5,
      10_000,
      'desired patch {interval: 5}',
    );
    const patch = { tags: { site: 'north', rack: { row: 3 } }, properties: { desired: { interval: 5 } } };
    const after = body(await registry.updateTwin(id, patch, before.etag));
    expect(after).toMatchObject({ tags: patch.tags, properties: { desired: { interval: 5 } } });
    expect(after.etag).not.toBe(before.etag);
    const seen = await patchSeen;
    expect(seen.$version).toBe(after.properties.desired.$version);
    expect(seen).not.toHaveProperty('site'); // tags stay in the cloud

    const stale = await rejectionOf(registry.updateTwin(id, { tags: { site: 'south' } }, before.etag), 10_000, 'stale');
    expect(stale.name).toBe('InvalidEtagError');
    expect(body(await registry.getTwin(id)).tags.site).toBe('north');

    // The SDK's Twin object: update() sends its own ETag.
    const { responseBody: twin } = await registry.getTwin(id);
    await twin.update({ tags: { site: null, owner: 'ops' } });
    expect(body(await registry.getTwin(id)).tags).toEqual({ rack: { row: 3 }, owner: 'ops' });
  });

  it('replaces a module twin with PUT and reads it with getModuleTwin', async () => {
    const id = uniqueId('modtwin');
    await registry.create({ deviceId: id, capabilities: { iotEdge: true } });
    await registry.addModule({ deviceId: id, moduleId: 'worker' });
    const first = body(await registry.updateModuleTwin(id, 'worker', { properties: { desired: { a: 1, b: 2 } } }, '*'));
    expect(first.properties.desired).toMatchObject({ a: 1, b: 2 });
    const token = serviceConfig(emulator.info.serviceConnectionString).sharedAccessSignature;
    const put = await hubHttps(emulator, 'PUT', `/twins/${id}/modules/worker?api-version=2021-04-12`, token, {
      tags: { role: 'w' },
      properties: { desired: { b: 3 } },
    });
    expect(put.status).toBe(200);
    const read = body(await registry.getModuleTwin(id, 'worker'));
    expect(read).toMatchObject({ deviceId: id, moduleId: 'worker', tags: { role: 'w' } });
    expect(read.properties.desired).not.toHaveProperty('a');
    expect(read.properties.desired.b).toBe(3);
  });
});

describe('direct methods', () => {
  it('are answered by the device with its status and payload', async () => {
    const { id, client } = await createdDevice('method');
    await within(client.open(), 10_000, 'open');
    client.onDeviceMethod('reboot', (request, response) => {
      void response.send(201, { accepted: true, echo: request.payload });
    });
    await subscribed(client, 'method');
    const result = await methods.invokeDeviceMethod(id, {
      methodName: 'reboot',
      payload: { delay: 2 },
      responseTimeoutInSeconds: 10,
    });
    expect(result.result).toEqual({ status: 201, payload: { accepted: true, echo: { delay: 2 } } });
  });

  it('reach a module identity through its module client', async () => {
    const id = uniqueId('modmethod');
    await registry.create({ deviceId: id, capabilities: { iotEdge: true } });
    const module = body(await registry.addModule({ deviceId: id, moduleId: 'pump' }));
    const host = `${emulator.info.hubHostName}:${emulator.info.mqttPort}`;
    const key = module.authentication.symmetricKey.primaryKey as string;
    const client = await moduleClient(`HostName=${host};DeviceId=${id};ModuleId=pump;SharedAccessKey=${key}`, {
      ca: caOf(emulator),
    });
    modules.push(client);
    await within(client.open(), 10_000, 'module open');
    client.onMethod('stop', (request, response) => void response!.send(200, { stopped: request!.payload }));
    await subscribed(client, 'method');
    const result = await methods.invokeDeviceMethod(id, 'pump', { methodName: 'stop', payload: 'now' });
    expect(result.result).toEqual({ status: 200, payload: { stopped: 'now' } });
  });

  it('fail with 404 DeviceNotOnline for a device that is not connected, after waiting connectTimeoutInSeconds', async () => {
    const { id, client } = await createdDevice('offline');
    const offline = await rejectionOf(
      methods.invokeDeviceMethod(id, { methodName: 'ping', responseTimeoutInSeconds: 5 }),
      10_000,
      'offline',
    );
    expect(offline.response.statusCode).toBe(404);
    expect(offline.response.headers['iothub-errorcode']).toBe('DeviceNotOnline');

    // Connects while the call waits for it.
    const waiting = methods.invokeDeviceMethod(id, {
      methodName: 'ping',
      responseTimeoutInSeconds: 10,
      connectTimeoutInSeconds: 20,
    });
    client.onDeviceMethod('ping', (_request, response) => void response.send(200, 'pong'));
    await within(client.open(), 10_000, 'open');
    expect((await within(waiting, 30_000, 'method after connecting')).result).toEqual({ status: 200, payload: 'pong' });
  });

  it('time out with 504 when the device does not answer within responseTimeoutInSeconds', async () => {
    const { id, client } = await createdDevice('silent');
    await within(client.open(), 10_000, 'open');
    client.onDeviceMethod('hang', () => {}); // never answers
    await subscribed(client, 'method');
    const call = methods.invokeDeviceMethod(id, { methodName: 'hang', responseTimeoutInSeconds: 5 });
    const err = await rejectionOf(call, 15_000, 'unanswered method');
    expect(err.name).toBe('GatewayTimeoutError');
    expect(err.response.headers['iothub-errorcode']).toBe('GatewayTimeout');
  });
});

describe('query', () => {
  it('selects devices by tag, page by page, by IoT Edge capability, and with NOT and OR', async () => {
    const site = uniqueId('site');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const id = `${site}-d${i}`;
      await registry.create({ deviceId: id, capabilities: { iotEdge: i === 4 } });
      await registry.updateTwin(id, { tags: { site, rank: i } }, '*');
      ids.push(id);
    }
    await registry.create({ deviceId: `${site}-other` });

    const query = registry.createQuery(`SELECT * FROM devices WHERE tags.site = '${site}' AND tags.rank >= 1`, 2);
    const found: string[] = [];
    let pages = 0;
    do {
      const page = await query.nextAsTwin();
      found.push(...page.result.map((t) => t.deviceId));
      pages += 1;
    } while (query.hasMoreResults && pages < 10);
    expect(found.sort()).toEqual(ids.slice(1).sort());
    expect(pages).toBe(2);

    const edge = await registry
      .createQuery(`SELECT * FROM devices WHERE tags.site = '${site}' AND capabilities.iotEdge = true`)
      .next();
    expect(edge.result.map((t: { deviceId: string }) => t.deviceId)).toEqual([`${site}-d4`]);
    const not = await registry
      .createQuery(`SELECT * FROM devices WHERE tags.site = '${site}' AND NOT (tags.rank < 4 OR deviceId = 'x')`)
      .next();
    expect(not.result.map((t: { deviceId: string }) => t.deviceId)).toEqual([`${site}-d4`]);
  });

  it('selects module twins from devices.modules', async () => {
    const id = uniqueId('modquery');
    await registry.create({ deviceId: id, capabilities: { iotEdge: true } });
    await registry.addModule({ deviceId: id, moduleId: 'sensor' });
    await registry.updateModuleTwin(id, 'sensor', { properties: { desired: { rate: 2 } } }, '*');
    const page = await registry
      .createQuery(`SELECT * FROM devices.modules WHERE deviceId = '${id}' AND properties.desired.rate = 2`)
      .next();
    expect(page.result.map((t: { moduleId: string }) => t.moduleId)).toEqual(['sensor']);
  });

  it('refuses a query it cannot evaluate with 400 naming what is not supported', async () => {
    const err = await rejectionOf(
      registry.createQuery('SELECT COUNT() AS n FROM devices GROUP BY tags.site').next(),
      10_000,
      'unsupported query',
    );
    expect(err.name).toBe('ArgumentError');
    expect(err.message).toContain('not supported by the emulator');
  });
});
