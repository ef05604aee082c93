// The IoT Central-style REST front end against a real CloudService and a fake device channel.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { createRestHandler } from '../../src/emulator/rest.js';
import { Registry } from '../../src/emulator/registry.js';
import { EmulatorStats } from '../../src/emulator/stats.js';
import { CloudService, ServiceError, type DeviceChannel, type MethodResult } from '../../src/emulator/service.js';
import type { Json, JsonObject } from '../../src/emulator/twin.js';

const TOKEN = 'SharedAccessSignature sr=test&sig=abc&skn=operator&se=9999999999';
const ID_SCOPE = '0ne00000TEST';
const MANIFEST = JSON.parse(
  readFileSync(new URL('../fixtures/environmental-sensor.manifest.json', import.meta.url), 'utf8'),
) as {
  modulesContent: Record<string, { 'properties.desired': JsonObject }>;
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Answer = (payload: Json) => MethodResult | 'timeout';

/** Records what the service pushes; answers methods from a table; offline identities get IoT Hub's 404. */
class FakeChannel implements DeviceChannel {
  readonly online = new Set<string>();
  readonly desired: { deviceId: string; moduleId: string | undefined; patch: JsonObject }[] = [];
  readonly c2d: { deviceId: string; body: string; properties: Record<string, string> }[] = [];
  readonly calls: { deviceId: string; moduleId: string | undefined; name: string; payload: Json; timeoutMs: number }[] =
    [];
  readonly methods = new Map<string, Answer>();

  isConnected(deviceId: string, moduleId?: string): boolean {
    return this.online.has(moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`);
  }
  pushDesired(deviceId: string, moduleId: string | undefined, patch: JsonObject): void {
    this.desired.push({ deviceId, moduleId, patch });
  }
  invokeMethod(
    deviceId: string,
    moduleId: string | undefined,
    name: string,
    payload: Json,
    timeoutMs: number,
  ): Promise<MethodResult> {
    this.calls.push({ deviceId, moduleId, name, payload, timeoutMs });
    if (!this.isConnected(deviceId, moduleId))
      return Promise.reject(new ServiceError(404, 'DeviceNotOnline', `${deviceId} is offline`));
    const answer = this.methods.get(name)?.(payload) ?? 'timeout';
    if (answer === 'timeout') return Promise.reject(new ServiceError(504, 'GatewayTimeout', `${name} timed out`));
    return Promise.resolve(answer);
  }
  sendC2D(deviceId: string, body: Buffer, properties: Record<string, string>): 'delivered' | 'queued' {
    this.c2d.push({ deviceId, body: body.toString('utf8'), properties });
    return this.isConnected(deviceId) ? 'delivered' : 'queued';
  }
  readonly disconnected: string[] = [];
  disconnect(deviceId: string): void {
    this.disconnected.push(deviceId);
    for (const key of [...this.online]) if (key === deviceId || key.startsWith(`${deviceId}/`)) this.online.delete(key);
  }
  readonly forgotten: string[] = [];
  forgetDevice(deviceId: string): void {
    this.forgotten.push(deviceId);
  }
}

let registry: Registry;
let channel: FakeChannel;
let service: CloudService;
let server: Server;
let baseUrl: string;
const logLines: string[] = [];

beforeEach(async () => {
  registry = new Registry();
  const stats = new EmulatorStats();
  channel = new FakeChannel();
  service = new CloudService(registry, stats, channel);
  server = createServer(
    createRestHandler({
      service,
      apiToken: TOKEN,
      idScope: ID_SCOPE,
      stats: () => stats.toJson(),
      log: (l) => logLines.push(l),
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

interface CallOptions {
  token?: string | null;
  apiVersion?: string | null;
  /** Sent as is instead of JSON.stringify(body). */
  raw?: string | Buffer;
}

async function call(method: string, path: string, body?: unknown, opts: CallOptions = {}) {
  const url = new URL(path, baseUrl);
  const apiVersion = opts.apiVersion === undefined ? '2022-07-31' : opts.apiVersion;
  if (url.pathname.startsWith('/api') && apiVersion !== null && !url.searchParams.has('api-version'))
    url.searchParams.set('api-version', apiVersion);
  const token = opts.token === undefined ? TOKEN : opts.token;
  const payload = opts.raw ?? (body === undefined ? undefined : JSON.stringify(body));
  const res = await fetch(url, {
    method,
    headers: { ...(token === null ? {} : { authorization: token }), 'content-type': 'application/json' },
    ...(payload === undefined ? {} : { body: payload }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text.length > 0 ? JSON.parse(text) : undefined };
}

const online = (...ids: string[]) => ids.forEach((id) => channel.online.add(id));
const lastDesired = () => channel.desired[channel.desired.length - 1];

describe('authorization, api-version and errors', () => {
  it('answers /health without a token', async () => {
    const r = await call('GET', '/health', undefined, { token: null });
    expect(r).toMatchObject({ status: 200, json: { status: 'ok' } });
  });

  it('refuses a missing or wrong token on /api and /stats with an IoT Central error body', async () => {
    for (const token of [null, 'wrong', `${TOKEN}x`]) {
      const r = await call('GET', '/api/devices', undefined, { token });
      expect(r.status).toBe(401);
      expect(r.json.error.code).toBe('Unauthorized');
      expect(r.json.error.requestId).toMatch(UUID);
    }
    expect((await call('GET', '/stats', undefined, { token: null })).status).toBe(401);
    expect((await call('GET', '/api/nothing-here', undefined, { token: null })).status).toBe(401);
  });

  it('serves /stats to a caller with the token', async () => {
    const r = await call('GET', '/stats');
    expect(r.status).toBe(200);
    expect(r.json).toHaveProperty('totals.messagesReceived', 0);
    expect(r.json).toHaveProperty('latency.unit', 'ms');
  });

  it('requires a known api-version on /api routes', async () => {
    const missing = await call('GET', '/api/devices', undefined, { apiVersion: null });
    expect(missing.status).toBe(400);
    expect(missing.json.error.message).toContain('1.0');
    expect(missing.json.error.message).toContain('2022-07-31');
    expect((await call('GET', '/api/devices', undefined, { apiVersion: '2099-01-01' })).status).toBe(400);
    for (const v of ['1.0', '2022-07-31', '2022-10-31-preview', '2023-07-31']) {
      expect((await call('GET', '/api/devices', undefined, { apiVersion: v })).status).toBe(200);
    }
  });

  it('answers 404 for unknown routes and 405 with Allow for wrong methods', async () => {
    const r404 = await call('GET', '/api/widgets');
    expect(r404.status).toBe(404);
    expect(r404.json.error.code).toBe('NotFound');
    const r405 = await call('DELETE', '/api/devices');
    expect(r405.status).toBe(405);
    expect(r405.headers.get('allow')).toBe('GET');
  });

  it('survives garbage: bad JSON, wrong shapes, bad percent-encoding, oversized bodies', async () => {
    const garbage = await call('PUT', '/api/devices/d1', undefined, { raw: '{"displayName": "x",,,' });
    expect(garbage.status).toBe(400);
    expect(garbage.json.error.code).toBe('InvalidJson');
    expect((await call('PUT', '/api/devices/d1', [1, 2, 3])).status).toBe(400);
    expect((await call('PUT', '/api/devices/d1', { enabled: 'yes' })).status).toBe(400);
    expect((await call('PUT', '/api/devices/bad%2Fid', {})).status).toBe(400);
    expect((await call('GET', '/api/devices/%E0%A4%A')).status).toBe(400);
    const big = await call('PUT', '/api/deploymentManifests/big', undefined, {
      raw: JSON.stringify({ data: 'x'.repeat(1024 * 1024 + 10) }),
    });
    expect(big.status).toBe(413);
    expect(registry.get('d1')).toBeUndefined();
    // still answering, and still doing real work
    expect((await call('GET', '/health')).status).toBe(200);
    expect((await call('PUT', '/api/devices/d1', { displayName: 'fine' })).status).toBe(200);
  });
});

describe('devices', () => {
  it('creates, reads, updates and deletes a device in IoT Central shape', async () => {
    const created = await call('PUT', '/api/devices/thermo-1', {
      displayName: 'Thermostat 1',
      template: 'dtmi:com:example:Thermostat;1',
      simulated: false,
      enabled: true,
    });
    expect(created.status).toBe(200);
    expect(created.json).toEqual({
      id: 'thermo-1',
      etag: expect.any(String),
      displayName: 'Thermostat 1',
      simulated: false,
      provisioned: false,
      template: 'dtmi:com:example:Thermostat;1',
      enabled: true,
      iotEdge: false,
    });
    expect(registry.get('thermo-1')?.modelId).toBe('dtmi:com:example:Thermostat;1');

    expect((await call('GET', '/api/devices/thermo-1')).json).toEqual(created.json);

    const patched = await call('PATCH', '/api/devices/thermo-1', { displayName: 'Renamed', enabled: false });
    expect(patched.json).toMatchObject({
      displayName: 'Renamed',
      enabled: false,
      template: 'dtmi:com:example:Thermostat;1',
    });
    expect(patched.json.etag).not.toBe(created.json.etag);
    expect(registry.get('thermo-1')?.enabled).toBe(false);
    expect(channel.disconnected).toEqual(['thermo-1']); // a disabled device loses its connection

    expect((await call('PATCH', '/api/devices/nobody', { displayName: 'x' })).status).toBe(404);
    expect((await call('PUT', '/api/devices/thermo-1', { id: 'other' })).status).toBe(400);

    expect((await call('DELETE', '/api/devices/thermo-1')).status).toBe(204);
    expect(registry.get('thermo-1')).toBeUndefined();
    expect(channel.disconnected).toEqual(['thermo-1', 'thermo-1']);
    expect((await call('GET', '/api/devices/thermo-1')).status).toBe(404);
    expect((await call('DELETE', '/api/devices/thermo-1')).status).toBe(404);
  });

  it('refuses to turn an IoT Edge device back into a plain device', async () => {
    await call('PUT', '/api/devices/edge-1', { iotEdge: true });
    expect(registry.get('edge-1')?.modules.has('$edgeAgent')).toBe(true);
    expect((await call('PATCH', '/api/devices/edge-1', { iotEdge: false })).status).toBe(409);
  });

  it('pages with $top (default 25, at most 100) and a nextLink that is a full URL', async () => {
    const ids = Array.from({ length: 30 }, (_, i) => `dev-${String(i).padStart(2, '0')}`);
    for (const id of ids) registry.create({ id });

    const first = await call('GET', '/api/devices');
    expect(first.json.value).toHaveLength(25);
    expect(first.json.nextLink).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/devices\?.*\$skiptoken=/);
    const second = await call('GET', first.json.nextLink);
    expect(second.json.value).toHaveLength(5);
    expect(second.json.nextLink).toBeUndefined();
    expect([...first.json.value, ...second.json.value].map((d: { id: string }) => d.id)).toEqual(ids);

    const seen: string[] = [];
    let next: string | undefined = '/api/devices?$top=7';
    while (next !== undefined) {
      const r = await call('GET', next);
      seen.push(...r.json.value.map((d: { id: string }) => d.id));
      next = r.json.nextLink;
    }
    expect(seen).toEqual(ids);

    expect((await call('GET', '/api/devices?$top=101')).status).toBe(400);
    expect((await call('GET', '/api/devices?$top=0')).status).toBe(400);
  });

  it('returns SAS credentials with the ID scope, and an x509 form for CA-signed devices', async () => {
    const sas = registry.create({ id: 'sas-1' });
    registry.create({ id: 'x509-1', authentication: { type: 'x509CA' } });
    const r = await call('GET', '/api/devices/sas-1/credentials');
    expect(r.json).toEqual({
      idScope: ID_SCOPE,
      symmetricKey: sas.authentication.type === 'sas' ? sas.authentication.keys : {},
    });
    const x = await call('GET', '/api/devices/x509-1/credentials');
    expect(x.json).toMatchObject({ idScope: ID_SCOPE, x509: { commonName: 'x509-1' } });
  });

  it('uses deviceKeys for devices created over REST', async () => {
    const keyServer = createServer(
      createRestHandler({
        service,
        apiToken: TOKEN,
        idScope: ID_SCOPE,
        stats: () => ({}),
        deviceKeys: (id, iotEdge) => ({ primaryKey: `p-${id}-${iotEdge}`, secondaryKey: `s-${id}` }),
      }),
    );
    await new Promise<void>((resolve) => keyServer.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(keyServer.address() as AddressInfo).port}/api/devices/k1?api-version=1.0`;
      await fetch(url, { method: 'PUT', headers: { authorization: TOKEN }, body: JSON.stringify({ iotEdge: true }) });
      expect(registry.get('k1')?.authentication).toEqual({
        type: 'sas',
        keys: { primaryKey: 'p-k1-true', secondaryKey: 's-k1' },
      });
    } finally {
      keyServer.closeAllConnections();
      await new Promise((resolve) => keyServer.close(resolve));
    }
  });
});

describe('properties', () => {
  it('writes desired properties through the service with the next $version', async () => {
    registry.create({ id: 't1' });
    const r = await call('PATCH', '/api/devices/t1/properties', { targetTemperature: 65.5 });
    expect(r.status).toBe(202);
    expect(r.json).toEqual({
      targetTemperature: 65.5,
      $metadata: { targetTemperature: { desiredValue: 65.5, desiredVersion: 2 } },
    });
    expect(lastDesired()).toEqual({
      deviceId: 't1',
      moduleId: undefined,
      patch: { targetTemperature: 65.5, $version: 2 },
    });

    await call('PATCH', '/api/devices/t1/properties', { fanSpeed: 3 });
    expect(lastDesired()?.patch).toEqual({ fanSpeed: 3, $version: 3 });
    expect(registry.get('t1')?.twin.desired.value).toEqual({ targetTemperature: 65.5, fanSpeed: 3 });
  });

  it('writes a component property in the __t:"c" shape and reads it back with $metadata', async () => {
    registry.create({ id: 't2' });
    const r = await call('PATCH', '/api/devices/t2/components/thermostat1/properties', { targetTemperature: 30 });
    expect(r.json.$metadata.targetTemperature).toEqual({ desiredValue: 30, desiredVersion: 2 });
    expect(lastDesired()?.patch).toEqual({ thermostat1: { __t: 'c', targetTemperature: 30 }, $version: 2 });

    // the device acknowledges and reports a read-only property
    registry.get('t2')?.twin.reported.apply(
      {
        serialNumber: 'SN-1',
        thermostat1: {
          __t: 'c',
          maxTempSinceLastReboot: 25.3,
          targetTemperature: { value: 30, ac: 200, ad: 'completed', av: 2 },
        },
      },
      '2024-01-01T00:00:00.000Z',
    );

    const comp = await call('GET', '/api/devices/t2/components/thermostat1/properties');
    expect(comp.json).toEqual({
      targetTemperature: 30,
      maxTempSinceLastReboot: 25.3,
      $metadata: {
        targetTemperature: {
          desiredValue: 30,
          desiredVersion: 2,
          lastUpdateTime: '2024-01-01T00:00:00.000Z',
          ackCode: 200,
          ackVersion: 2,
          ackDescription: 'completed',
        },
        maxTempSinceLastReboot: { lastUpdateTime: '2024-01-01T00:00:00.000Z' },
      },
    });
    const root = await call('GET', '/api/devices/t2/properties');
    expect(root.json.serialNumber).toBe('SN-1');
    expect(root.json.$metadata.serialNumber).toEqual({ lastUpdateTime: '2024-01-01T00:00:00.000Z' });

    expect((await call('GET', '/api/devices/t2/components')).json).toEqual({
      value: [{ '@type': 'Component', name: 'thermostat1', displayName: 'thermostat1' }],
    });
  });

  it('PUT replaces root properties (removed ones pushed as null) and leaves components alone', async () => {
    registry.create({ id: 't3' });
    await call('PATCH', '/api/devices/t3/properties', { a: 1, b: 2 });
    await call('PATCH', '/api/devices/t3/components/c1/properties', { x: 1 });
    const r = await call('PUT', '/api/devices/t3/properties', { a: 5 });
    expect(r.status).toBe(202);
    expect(lastDesired()?.patch).toEqual({ a: 5, b: null, $version: 4 });
    expect(registry.get('t3')?.twin.desired.value).toEqual({ a: 5, c1: { __t: 'c', x: 1 } });
  });

  it('ignores $metadata echoed back, and 404s for an unknown device or module', async () => {
    registry.create({ id: 't4' });
    await call('PATCH', '/api/devices/t4/properties', { a: 1, $metadata: { a: { desiredValue: 0 } } });
    expect(lastDesired()?.patch).toEqual({ a: 1, $version: 2 });
    expect((await call('PATCH', '/api/devices/nobody/properties', { a: 1 })).status).toBe(404);
    expect((await call('GET', '/api/devices/t4/modules/nomodule/properties')).status).toBe(404);
  });
});

describe('commands', () => {
  beforeEach(() => {
    channel.methods.set('reboot', (payload) => ({ status: 200, payload: { rebooting: true, delay: payload } }));
    channel.methods.set('thermostat1*getMaxMinReport', () => ({ status: 200, payload: { maxTemp: 30 } }));
    channel.methods.set('reset', () => ({ status: 200, payload: 'module reset' }));
  });

  it('runs a device command and keeps a history, newest last', async () => {
    registry.create({ id: 'c1' });
    online('c1');
    const r = await call('POST', '/api/devices/c1/commands/reboot', { request: 5, responseTimeout: 10 });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ request: 5, response: { rebooting: true, delay: 5 }, responseCode: 200 });
    expect(r.json.id).toMatch(UUID);
    expect(channel.calls[0]).toMatchObject({
      deviceId: 'c1',
      moduleId: undefined,
      name: 'reboot',
      payload: 5,
      timeoutMs: 10_000,
    });

    await call('POST', '/api/devices/c1/commands/reboot', {});
    expect(channel.calls[1]?.timeoutMs).toBe(30_000);
    const history = await call('GET', '/api/devices/c1/commands/reboot');
    expect(history.json.value.map((c: { request: unknown }) => c.request)).toEqual([5, null]);
  });

  it('names component commands {component}*{command} and routes module commands to the module', async () => {
    registry.create({ id: 'c2' });
    const edge = registry.create({ id: 'e2', iotEdge: true });
    registry.createModule(edge, 'filter');
    online('c2', 'e2/filter');
    const comp = await call('POST', '/api/devices/c2/components/thermostat1/commands/getMaxMinReport', {
      request: '2024-01-01',
    });
    expect(comp.json.response).toEqual({ maxTemp: 30 });
    const mod = await call('POST', '/api/devices/e2/modules/filter/commands/reset', {});
    expect(mod.json.response).toBe('module reset');
    expect(channel.calls.at(-1)).toMatchObject({ deviceId: 'e2', moduleId: 'filter', name: 'reset' });
  });

  it('maps an offline device to 404, a timeout to 504, and bad timeouts to 400', async () => {
    registry.create({ id: 'c3' });
    const offline = await call('POST', '/api/devices/c3/commands/reboot', {});
    expect(offline.status).toBe(404);
    expect(offline.json.error.code).toBe('DeviceNotOnline');
    online('c3');
    const slow = await call('POST', '/api/devices/c3/commands/unanswered', {});
    expect(slow.status).toBe(504);
    expect((await call('POST', '/api/devices/c3/commands/reboot', { responseTimeout: 1 })).status).toBe(400);
    expect((await call('POST', '/api/devices/c3/commands/reboot', { connectionTimeout: 301 })).status).toBe(400);
    expect((await call('POST', '/api/devices/nobody/commands/reboot', {})).status).toBe(404);
    // failed runs are not in the history
    expect((await call('GET', '/api/devices/c3/commands/reboot')).json.value).toEqual([]);
  });

  it('waits up to connectionTimeout for an offline device to connect', async () => {
    registry.create({ id: 'c4' });
    setTimeout(() => online('c4'), 300);
    const r = await call('POST', '/api/devices/c4/commands/reboot', { connectionTimeout: 5 });
    expect(r.status).toBe(201);
  });
});

describe('messages and telemetry', () => {
  it('sends C2D messages: JSON data serialized, strings raw, properties kept', async () => {
    registry.create({ id: 'm1' });
    const queued = await call('POST', '/api/devices/m1/messages', {
      data: { hello: 1 },
      properties: { kind: 'greeting' },
    });
    expect(queued).toMatchObject({ status: 202, json: { delivery: 'queued' } });
    online('m1');
    expect((await call('POST', '/api/devices/m1/messages', { data: 'plain text' })).json.delivery).toBe('delivered');
    expect(channel.c2d).toEqual([
      { deviceId: 'm1', body: '{"hello":1}', properties: { kind: 'greeting' } },
      { deviceId: 'm1', body: 'plain text', properties: {} },
    ]);
    expect((await call('POST', '/api/devices/m1/messages', { data: 1, properties: { n: 1 } })).status).toBe(400);
    expect((await call('POST', '/api/devices/m1/messages', { properties: {} })).status).toBe(400);
    expect((await call('POST', '/api/devices/nobody/messages', { data: 1 })).status).toBe(404);
  });

  it('returns the last telemetry value per device, module and component', async () => {
    const edge = registry.create({ id: 'tele', iotEdge: true });
    registry.createModule(edge, 'sensor');
    edge.lastTelemetry.set('||temperature', { timestamp: '2024-01-01T00:00:00.000Z', value: 21 });
    edge.lastTelemetry.set('sensor|thermostat1|temperature', { timestamp: '2024-01-01T00:00:01.000Z', value: 22 });
    expect((await call('GET', '/api/devices/tele/telemetry/temperature')).json).toEqual({
      timestamp: '2024-01-01T00:00:00.000Z',
      value: 21,
    });
    expect(
      (await call('GET', '/api/devices/tele/modules/sensor/components/thermostat1/telemetry/temperature')).json.value,
    ).toBe(22);
    expect((await call('GET', '/api/devices/tele/telemetry/humidity')).status).toBe(404);
    expect((await call('GET', '/api/devices/tele/modules/sensor/telemetry/temperature')).status).toBe(404);
  });
});

describe('deployment manifests', () => {
  const saveFixture = () =>
    call('PUT', '/api/deploymentManifests/envsensor', { displayName: 'Environmental sensor', data: MANIFEST });

  it('saves, lists and gets a manifest, and refuses one without modulesContent', async () => {
    const saved = await saveFixture();
    expect(saved.status).toBe(200);
    expect(saved.json).toMatchObject({ id: 'envsensor', displayName: 'Environmental sensor', data: MANIFEST });
    expect((await call('GET', '/api/deploymentManifests')).json.value.map((m: { id: string }) => m.id)).toEqual([
      'envsensor',
    ]);
    expect((await call('GET', '/api/deploymentManifests/envsensor')).json.data).toEqual(MANIFEST);
    expect((await call('GET', '/api/deploymentManifests/nope')).status).toBe(404);
    expect((await call('PUT', '/api/deploymentManifests/bad', { data: { modules: {} } })).status).toBe(400);
  });

  it('assigning through the device PUT sets $edgeAgent, $edgeHub and module desired properties', async () => {
    await saveFixture();
    const r = await call('PUT', '/api/devices/gw-1', { displayName: 'Gateway', deploymentManifest: 'envsensor' });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ iotEdge: true, deploymentManifest: { id: 'envsensor' } });

    const device = registry.get('gw-1');
    for (const [moduleId, section] of Object.entries(MANIFEST.modulesContent)) {
      expect(device?.modules.get(moduleId)?.twin.desired.value).toEqual(section['properties.desired']);
      const pushed = channel.desired.find((d) => d.deviceId === 'gw-1' && d.moduleId === moduleId);
      expect(pushed?.patch).toEqual({ ...section['properties.desired'], $version: 2 });
    }
    const modules = await call('GET', '/api/devices/gw-1/modules');
    expect(modules.json.value.map((m: { name: string }) => m.name)).toEqual(['SimulatedTemperatureSensor']);
    const props = await call('GET', '/api/devices/gw-1/modules/SimulatedTemperatureSensor/properties');
    expect(props.json).toMatchObject({ SendData: true, SendInterval: 10 });

    // Putting back the object just read does not re-apply the manifest.
    const before = channel.desired.length;
    await call('PUT', '/api/devices/gw-1', r.json);
    expect(channel.desired.length).toBe(before);
  });

  it('assigns through POST .../deploymentManifest, refuses plain devices, and will not delete a manifest in use', async () => {
    await saveFixture();
    registry.create({ id: 'gw-2', iotEdge: true });
    registry.create({ id: 'plain' });
    const r = await call('POST', '/api/devices/gw-2/deploymentManifest', { id: 'envsensor' });
    expect(r.status).toBe(200);
    expect(registry.get('gw-2')?.modules.get('$edgeHub')?.twin.desired.value).toEqual(
      MANIFEST.modulesContent.$edgeHub?.['properties.desired'],
    );
    expect((await call('POST', '/api/devices/plain/deploymentManifest', { id: 'envsensor' })).status).toBe(400);
    expect((await call('POST', '/api/devices/gw-2/deploymentManifest', { id: 'nope' })).status).toBe(404);
    expect(
      (await call('PATCH', '/api/devices/plain', { iotEdge: false, deploymentManifest: 'envsensor' })).status,
    ).toBe(400);
    expect((await call('DELETE', '/api/deploymentManifests/envsensor')).status).toBe(409);
    await call('DELETE', '/api/devices/gw-2');
    expect((await call('DELETE', '/api/deploymentManifests/envsensor')).status).toBe(204);
  });
});

describe('relationships', () => {
  it('attaches, lists and detaches downstream devices through the registry', async () => {
    registry.create({ id: 'gw', iotEdge: true });
    registry.create({ id: 'gw-other', iotEdge: true });
    registry.create({ id: 'leaf-1' });
    registry.create({ id: 'leaf-2', gateway: { iotcGatewayId: 'gw' } }); // attached at DPS registration

    const put = await call('PUT', '/api/devices/gw/relationships/rel-1', { target: 'leaf-1' });
    expect(put).toMatchObject({ status: 200, json: { id: 'rel-1', name: 'gateway', source: 'gw', target: 'leaf-1' } });
    expect(registry.get('leaf-1')?.gateway).toEqual({ iotcGatewayId: 'gw' });

    const list = await call('GET', '/api/devices/gw/relationships');
    expect(list.json.value).toEqual([
      { id: 'rel-1', name: 'gateway', source: 'gw', target: 'leaf-1' },
      { id: 'leaf-2', name: 'gateway', source: 'gw', target: 'leaf-2' },
    ]);
    expect((await call('GET', '/api/devices/gw/relationships/rel-1')).json.target).toBe('leaf-1');

    expect((await call('PUT', '/api/devices/gw-other/relationships/r', { target: 'leaf-1' })).status).toBe(409);
    expect((await call('PUT', '/api/devices/gw/relationships/rel-1', { target: 'leaf-2' })).status).toBe(409);
    expect((await call('PUT', '/api/devices/gw/relationships/r', { target: 'ghost' })).status).toBe(404);
    expect((await call('PUT', '/api/devices/gw/relationships/r', { target: 'gw' })).status).toBe(400);
    expect((await call('PUT', '/api/devices/gw/relationships/r', {})).status).toBe(400);

    expect((await call('DELETE', '/api/devices/gw/relationships/rel-1')).status).toBe(204);
    expect(registry.get('leaf-1')?.gateway).toBeUndefined();
    expect((await call('DELETE', '/api/devices/gw/relationships/rel-1')).status).toBe(404);

    // deleting the gateway detaches what is left
    await call('DELETE', '/api/devices/gw');
    expect(registry.get('leaf-2')?.gateway).toBeUndefined();
  });
});
