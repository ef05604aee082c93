// The hub service API on the wire, below the SDK: ETag rules of the registry, refusals of malformed and hostile
// requests (each a clear IoT Hub error, the emulator serving on), and what it records surviving a restart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { hubHttps, isolatedStateDir, rest, startTestEmulator } from '../support/emulator.js';
import { serviceConfig, serviceRegistry } from '../support/service-sdk.js';
import { rejectionOf } from '../support/azure-sdk.js';
import { ServiceError } from '../../src/emulator/service.js';

let emulator: Emulator;
let token: string;

const V = 'api-version=2021-04-12';
const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  hubHttps(emulator, method, `${path}${path.includes('?') ? '&' : '?'}${V}`, token, body, headers);

beforeAll(async () => {
  emulator = await startTestEmulator();
  token = serviceConfig(emulator.info.serviceConnectionString).sharedAccessSignature;
});

afterAll(async () => {
  await emulator?.close();
});

describe('registry ETags', () => {
  it('creates without If-Match, replaces with a matching one, and names each mismatch', async () => {
    expect((await call('PUT', '/devices/etag-1', { deviceId: 'etag-1' }, { 'if-match': '"*"' })).status).toBe(404);
    const created = await call('PUT', '/devices/etag-1', { deviceId: 'etag-1' });
    expect(created.status).toBe(200);
    expect(created.headers.etag).toBe(`"${created.json.etag}"`);
    const again = await call('PUT', '/devices/etag-1', { deviceId: 'etag-1' });
    expect(again.status).toBe(409);
    expect(again.headers['iothub-errorcode']).toBe('DeviceAlreadyExists');

    const stale = await call('PUT', '/devices/etag-1', { status: 'disabled' }, { 'if-match': '"nope"' });
    expect(stale.status).toBe(412);
    expect(stale.json.Message).toMatch(/^ErrorCode:PreconditionFailed;/);
    const matching = { 'if-match': `"${created.json.etag}"` };
    expect((await call('PUT', '/devices/etag-1', { status: 'disabled' }, matching)).json.status).toBe('disabled');
    expect((await call('DELETE', '/devices/etag-1', undefined, matching)).status).toBe(412); // its ETag changed
    expect((await call('DELETE', '/devices/etag-1', undefined, { 'if-match': '*' })).status).toBe(204);
  });

  it('refuses a body whose deviceId is not the path', async () => {
    const reply = await call('PUT', '/devices/etag-2', { deviceId: 'someone-else' });
    expect(reply.status).toBe(400);
    expect(reply.json.Message).toContain('is not the path\'s "etag-2"');
  });
});

describe('hostile and malformed requests', () => {
  it('answers each with an IoT Hub error and keeps serving', async () => {
    const cases: [string, Promise<{ status: number; json: any; headers: Record<string, unknown> }>, number, string][] =
      [
        ['no token', hubHttps(emulator, 'GET', `/devices?${V}`, undefined), 401, 'IotHubUnauthorizedAccess'],
        ['unknown policy', hubHttps(emulator, 'GET', `/devices?${V}`, token.replace('iothubowner', 'x')), 401, ''],
        ['no api-version', hubHttps(emulator, 'GET', '/devices', token), 400, 'InvalidProtocolVersion'],
        ['unknown route', call('GET', '/jobs/v2/x'), 404, 'NotFound'],
        ['wrong method', call('PATCH', '/devices/x'), 405, 'MethodNotAllowed'],
        ['not JSON', call('PUT', '/devices/junk', Buffer.from('{"deviceId":')), 400, 'IotHubFormatError'],
        ['a prototype key', call('PATCH', '/twins/junk', Buffer.from('{"tags":{"__proto__":{"x":1}}}')), 400, ''],
        ['a bad device id', call('PUT', '/devices/a%7Cb', {}), 400, 'ArgumentInvalid'],
        ['bad keys', call('PUT', '/devices/k', { authentication: { symmetricKey: { primaryKey: 'x' } } }), 400, ''],
        ['a 2 MB body', call('POST', '/devices', Buffer.alloc(2 * 1024 * 1024, 32)), 413, 'RequestEntityTooLarge'],
        ['an unknown query', call('POST', '/devices/query', { query: 'SELECT * FROM jobs' }), 400, 'BadRequest'],
      ];
    for (const [what, reply, status, code] of cases) {
      const r = await reply;
      expect(r.status, what).toBe(status);
      expect(r.json.Message, what).toMatch(/^ErrorCode:\w+;./);
      if (code !== '') expect(r.headers['iothub-errorcode'], what).toBe(code);
    }
    expect((await call('GET', '/devices')).status).toBe(200);
  });

  it('keeps tags within 8 KB and 10 levels', async () => {
    expect((await call('PUT', '/devices/tagged', {})).status).toBe(200);
    const big = await call('PATCH', '/twins/tagged', { tags: { blob: 'x'.repeat(9000) } });
    expect(big.status).toBe(400);
    expect(big.json.Message).toContain('8 KB');
    let deep: any = 1;
    for (let i = 0; i < 12; i++) deep = { d: deep }; // 11 levels below the root of tags
    expect((await call('PATCH', '/twins/tagged', { tags: deep })).status).toBe(400);
    expect((await call('GET', '/twins/tagged')).json.tags).toEqual({});
  });
});

describe('the registry gate', () => {
  it('is asked before each registry operation, a bulk request counting its records, and its refusal is answered', async () => {
    const asked: [string, number][] = [];
    const gated = await startTestEmulator({
      registryGate: (operation, records) => {
        asked.push([operation, records]);
        if (operation === 'write' && records > 2) throw new ServiceError(429, 'ThrottlingException', 'too many');
      },
    });
    try {
      const registry = serviceRegistry(gated.info.serviceConnectionString);
      await registry.create({ deviceId: 'g1' });
      await registry.get('g1');
      const bulk = registry.addDevices([{ deviceId: 'g2' }, { deviceId: 'g3' }, { deviceId: 'g4' }]);
      const err = await rejectionOf(bulk, 10_000, 'throttled bulk');
      expect(err.name).toBe('ThrottlingError');
      expect(err.response.headers['iothub-errorcode']).toBe('ThrottlingException');
      expect(asked).toEqual([
        ['write', 1],
        ['read', 1],
        ['write', 3],
      ]);
      expect((await rest(gated, 'GET', '/api/devices/g2')).status).toBe(404);
    } finally {
      await gated.close();
    }
  });
});

describe('durability', () => {
  it('keeps tags, status reasons and parents across a restart', async () => {
    const state = isolatedStateDir();
    const options = { stateDir: state.dir, ephemeral: false, mqttPort: 0, httpPort: 0, hubHttpsPort: 0 };
    try {
      let running = await startEmulator(options);
      let registry = serviceRegistry(running.info.serviceConnectionString);
      const edge: any = (await registry.create({ deviceId: 'gw', capabilities: { iotEdge: true } })).responseBody;
      await registry.create({
        deviceId: 'leaf',
        status: 'disabled',
        statusReason: 'parked',
        deviceScope: edge.deviceScope,
      });
      await registry.updateTwin('leaf', { tags: { site: 'north' } }, '*');
      const before: any = (await registry.getTwin('leaf')).responseBody;
      await running.close();

      running = await startEmulator(options);
      registry = serviceRegistry(running.info.serviceConnectionString);
      const after: any = (await registry.getTwin('leaf')).responseBody;
      expect(after.tags).toEqual({ site: 'north' });
      expect(after.etag).toBe(before.etag);
      const leaf: any = (await registry.get('leaf')).responseBody;
      expect(leaf).toMatchObject({ status: 'disabled', statusReason: 'parked', parentScopes: [edge.deviceScope] });
      expect((await rest(running, 'GET', '/api/devices/gw/relationships')).json.value).toHaveLength(1);
      await running.close();
    } finally {
      state.remove();
    }
  });
});
