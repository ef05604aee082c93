// The emulator under attack, run as a user runs it (the built CLI, in a child process), by a stranger with nothing
// but the documented ports and one device's own credentials. Each attack is refused or bounded and counted in
// /stats; a well-behaved device sends QoS 1 telemetry every 100 ms throughout and must see no disconnect and no
// missing PUBACK; the emulator's resident memory and open descriptors are read before and after.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect as netConnect, type Socket } from 'node:net';
import type { EmulatorInfo } from '../../src/emulator/index.js';
import { buildDpsUsername, createSasToken, sasResource, topic } from '../../src/protocol/index.js';
import { hubHttps } from '../support/emulator.js';
import {
  closedWithin,
  dpsCredentials,
  footprint,
  hubCredentials,
  keyOf,
  mqttConnect,
  nextMessage,
  provision,
  raw,
  rawSession,
  rawTls,
  rejections,
  restCall,
  sleep,
  startChildEmulator,
  SteadyDevice,
  until,
  type ChildEmulator,
  type Footprint,
} from './abuse-kit.js';

const HANDSHAKE_TIMEOUT_S = 2;
/**
 * Resident memory an attack may add. Parsing what it sends grows V8's heap, which it keeps, by 20-80 MB here even
 * though nothing is retained; before these fixes the same attacks added 215 (DPS operations), 240 (telemetry names)
 * and 600 MB (twin GETs).
 */
const RSS_GROWTH_BOUND_MB = 120;
const HUB_API = 'api-version=2021-04-12';

let emu: ChildEmulator;
let info: EmulatorInfo;
let steady: SteadyDevice;
let start: Footprint;
const keys: Record<string, string> = {};
/** Memory and descriptors around each attack, printed at the end. */
const figures: string[] = [];

function measure(label: string): Footprint {
  const f = footprint(emu.pid);
  figures.push(`${label.padEnd(44)} rss ${String(f.rssMb).padStart(4)} MB   fds ${f.fds}`);
  return f;
}

/** `{"l":{"l":…1…}}`: `levels` objects, the outermost included. */
const nested = (levels: number) => '{"l":'.repeat(levels) + '1' + '}'.repeat(levels);

const deviceSas = (id: string, key: string, keyName?: string) =>
  createSasToken({
    resourceUri: sasResource.device(info.hubHostName, id),
    key,
    expiry: Math.floor(Date.now() / 1000) + 3600,
    ...(keyName ? { keyName } : {}),
  });
const PROTO = '{"__proto__": {"public": true}}';

beforeAll(async () => {
  emu = await startChildEmulator(['--handshake-timeout', String(HANDSHAKE_TIMEOUT_S)]);
  info = emu.info;
  for (const id of ['steady', 'plain', 'hoarder', 'namer', 'registrar', 'c2d-sink']) {
    keys[id] = await provision(info, id, 'devices');
  }
  keys.edge = await provision(info, 'edge', 'edgeDevices');
  steady = await SteadyDevice.start(info, 'steady', keys.steady as string);
  await sleep(300);
  start = measure('start (steady device sending)');
}, 60_000);

afterAll(async () => {
  process.stdout.write(`emulator footprint per attack:\n  ${figures.join('\n  ')}\n`);
  await emu?.stop();
});

describe('JSON from the wire cannot reach a prototype', () => {
  it('refuses a reported patch carrying __proto__ (400, counted), and the REST API still wants its token', async () => {
    const before = await rejections(info);
    const client = await mqttConnect(info, hubCredentials(info, 'plain', keys.plain as string));
    await client.subscribeAsync('$iothub/twin/res/#');
    const answer = nextMessage(client, 'twinResponse');
    client.publish(topic.twinReportedPatch('1'), '{"__proto__": {"public": true}, "ok": 1}');
    const twinStatus = (await answer).topic;
    // Without the fix, the merge wrote `public` onto Object.prototype and every route answered without a token.
    const anonymous = await restCall(info, 'GET', '/api/devices/steady/credentials', undefined, { token: null });
    expect(anonymous.status, JSON.stringify(anonymous.json)).toBe(401);
    expect(twinStatus).toMatch(/^\$iothub\/twin\/res\/400\//);
    const deeper = nextMessage(client, 'twinResponse');
    client.publish(topic.twinReportedPatch('2'), '{"a": {"b": {"\\u005f_proto__": {"public": true}}}}');
    expect((await deeper).topic).toMatch(/^\$iothub\/twin\/res\/400\//);
    expect((await rejections(info)).prototypeKey).toBe(before.prototypeKey! + 2);
    await client.endAsync();
  });

  it('refuses __proto__ in REST bodies, hub HTTPS bodies and DPS payloads with 400', async () => {
    const before = await rejections(info);
    const patch = await restCall(info, 'PATCH', '/api/devices/plain/properties', undefined, { raw: `{"x": ${PROTO}}` });
    expect(patch.status).toBe(400);
    expect(patch.json.error.code).toBe('InvalidKey');
    expect((await restCall(info, 'PUT', '/api/devices/proto-dev', undefined, { raw: PROTO })).status).toBe(400);
    const module = await hubHttps(
      info,
      'PUT',
      `/devices/edge/modules/proto-mod?${HUB_API}`,
      deviceSas('edge', keys.edge as string),
      JSON.parse(PROTO),
    );
    expect(module.status).toBe(400);
    const dps = await mqttConnect(info, dpsCredentials(info, 'registrar', keys.registrar as string));
    await dps.subscribeAsync('$dps/registrations/res/#', { qos: 1 });
    const answer = nextMessage(dps, 'dpsResponse');
    dps.publish(topic.dpsRegister('1'), `{"registrationId": "registrar", "payload": ${PROTO}}`, { qos: 1 });
    expect((await answer).topic).toMatch(/^\$dps\/registrations\/res\/400\//);
    await dps.endAsync();
    expect((await rejections(info)).prototypeKey).toBe(before.prototypeKey! + 4);
    expect((await restCall(info, 'GET', '/api/devices', undefined, { token: null })).status).toBe(401);
  });

  it('takes "constructor" and "prototype" as the plain property names they are', async () => {
    const client = await mqttConnect(info, hubCredentials(info, 'plain', keys.plain as string));
    await client.subscribeAsync('$iothub/twin/res/#');
    const answer = nextMessage(client, 'twinResponse');
    client.publish(topic.twinReportedPatch('3'), '{"constructor": {"prototype": {"public": true}}, "toString": 5}');
    expect((await answer).topic).toMatch(/^\$iothub\/twin\/res\/204\//);
    await client.endAsync();
    const read = await restCall(info, 'GET', '/api/devices/plain/properties');
    expect(read.json.constructor).toEqual({ prototype: { public: true } });
    expect(read.json.toString).toBe(5);
    expect((await restCall(info, 'GET', '/api/devices', undefined, { token: null })).status).toBe(401);
  });
});

describe('nesting is bounded', () => {
  it('answers a reported patch nested 10,000 levels deep with 400, and keeps running', async () => {
    const before = await rejections(info);
    const client = await mqttConnect(info, hubCredentials(info, 'plain', keys.plain as string));
    await client.subscribeAsync('$iothub/twin/res/#');
    const answer = nextMessage(client, 'twinResponse');
    client.publish(topic.twinReportedPatch('1'), nested(10_000));
    // Without the fix, the recursive merge overflowed the stack and the emulator process exited.
    expect((await answer).topic).toMatch(/^\$iothub\/twin\/res\/400\//);
    expect(emu.alive()).toBe(true);
    expect((await rejections(info)).tooDeep).toBe(before.tooDeep! + 1);
    await client.endAsync();
  });

  it("takes IoT Hub's 10 levels below the section root and refuses 11", async () => {
    const client = await mqttConnect(info, hubCredentials(info, 'plain', keys.plain as string));
    await client.subscribeAsync('$iothub/twin/res/#');
    const ten = nextMessage(client, 'twinResponse');
    client.publish(topic.twinReportedPatch('10'), `{"deep": ${nested(10)}}`);
    expect((await ten).topic).toMatch(/^\$iothub\/twin\/res\/204\//);
    const eleven = nextMessage(client, 'twinResponse');
    client.publish(topic.twinReportedPatch('11'), `{"deep": ${nested(11)}}`);
    expect((await eleven).topic).toMatch(/^\$iothub\/twin\/res\/400\//);
    await client.endAsync();
  });

  it('answers deep JSON over REST with 400, not 500', async () => {
    const properties = '/api/devices/plain/properties';
    const deep = await restCall(info, 'PATCH', properties, undefined, { raw: `{"x": ${nested(10_000)}}` });
    expect(deep.status).toBe(400);
    expect(deep.json.error.code).toBe('TooDeep');
    const twinDeep = await restCall(info, 'PATCH', properties, undefined, { raw: `{"x": ${nested(11)}}` });
    expect(twinDeep.status).toBe(400);
    expect(twinDeep.json.error.code).toBe('TwinTooDeep');
    expect(emu.alive()).toBe(true);
  });
});

describe('no connection can displace another without proving the same identity', () => {
  it('refuses a garbage DPS CONNECT and a wrong-key hub CONNECT for a connected device; the device stays', async () => {
    const before = await rejections(info);
    const codeOf = (p: Promise<unknown>) =>
      p.then(
        () => 'connected',
        (e: { code?: number }) => e.code,
      );
    const garbageDps = { clientId: 'steady', username: buildDpsUsername(info.idScope, 'steady'), password: 'garbage' };
    for (let i = 0; i < 5; i++) expect(await codeOf(mqttConnect(info, garbageDps))).toBe(5);
    const wrongKey = hubCredentials(info, 'steady', keyOf(info, 'someone-else', 'devices'));
    expect(await codeOf(mqttConnect(info, wrongKey))).toBe(5);
    // Even the device's own, valid, DPS connection lives in DPS's client table, not the hub's.
    const ownDps = await mqttConnect(info, dpsCredentials(info, 'steady', keys.steady as string));
    const acked = steady.acked;
    await sleep(1000);
    await ownDps.endAsync();
    expect(steady.problems).toEqual([]);
    expect(steady.acked).toBeGreaterThan(acked);
    const after = await rejections(info);
    expect(after.takeoverRefused).toBe(before.takeoverRefused! + 6);
    expect(after.auth).toBe(before.auth! + 6);
  });
});

describe('connections that never say who they are are closed', () => {
  it('destroys sockets silent before TLS, half-way through TLS, before CONNECT and before HTTP headers', async () => {
    const before = measure('sockets: before');
    let peak = before.fds;
    const sampler = setInterval(() => (peak = Math.max(peak, footprint(emu.pid).fds)), 50);
    const counts = await rejections(info);
    const restPort = Number(new URL(info.restUrl).port);
    const sockets: Socket[] = [];
    const open = (port: number, first?: Buffer) => {
      const s = netConnect(port, '127.0.0.1', () => first && s.write(first));
      s.on('error', () => {});
      s.resume(); // reads (and drops) what the emulator says, so its close is seen
      sockets.push(s);
    };
    for (let i = 0; i < 300; i++) open(info.mqttPort);
    for (let i = 0; i < 300; i++) open(info.hubHttpsPort);
    for (let i = 0; i < 100; i++) open(restPort);
    // Half a request head, then nothing (a slow client).
    for (let i = 0; i < 20; i++) open(restPort, Buffer.from('GET /health HTTP/1.1\r\nHost: x\r\n'));
    // A TLS record header announcing a ClientHello, and nothing of it.
    for (let i = 0; i < 50; i++) open(info.mqttPort, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    // TLS done, then nothing: no MQTT CONNECT, no HTTP request.
    const tls = await Promise.all([
      ...Array.from({ length: 50 }, () => rawTls(info, info.mqttPort)),
      ...Array.from({ length: 20 }, () => rawTls(info, info.hubHttpsPort)),
    ]);
    for (const s of tls) s.resume();
    const all = [...sockets, ...tls];
    const closed = await Promise.all(all.map((s) => closedWithin(s, HANDSHAKE_TIMEOUT_S * 1000 + 10_000)));
    clearInterval(sampler);
    figures.push(`sockets: ${all.length} opened, at most ${peak} descriptors held`);
    expect(closed.filter((c) => !c).length, 'sockets the emulator left open').toBe(0);
    await until(
      () => footprint(emu.pid).fds,
      (n) => n <= before.fds + 5,
      'descriptors back',
    ).catch(() => undefined);
    expect(measure('sockets: after the timeout').fds).toBeLessThanOrEqual(before.fds + 5);
    const now = await rejections(info);
    expect(now.tlsHandshakeTimeout).toBeGreaterThanOrEqual(counts.tlsHandshakeTimeout! + 650);
    expect(now.protocol).toBeGreaterThanOrEqual(counts.protocol! + 50); // no CONNECT in time
  }, 40_000);
});

describe('what one client can pin is bounded', () => {
  it('drops a client that GETs its 60 KB twin 5,000 times without reading (overBuffer); memory bounded', async () => {
    const before = measure('twin GET flood: before');
    const counts = await rejections(info);
    const desired = await restCall(info, 'PATCH', '/api/devices/hoarder/properties', { blob: 'd'.repeat(30_000) });
    expect(desired.status).toBe(202);
    const reporter = await mqttConnect(info, hubCredentials(info, 'hoarder', keys.hoarder as string));
    await reporter.subscribeAsync('$iothub/twin/res/#');
    const reported = nextMessage(reporter, 'twinResponse');
    reporter.publish(topic.twinReportedPatch('1'), JSON.stringify({ blob: 'r'.repeat(30_000) }));
    expect((await reported).topic).toMatch(/\/204\//);
    await reporter.endAsync();

    const credentials = hubCredentials(info, 'hoarder', keys.hoarder as string);
    const socket = await rawSession(info, credentials, '$iothub/twin/res/#', 0);
    for (let i = 0; i < 5000; i++) socket.write(raw.publish(topic.twinGet(String(i)), '')); // and reads nothing
    let peak = before.rssMb;
    await until(
      async () => {
        peak = Math.max(peak, footprint(emu.pid).rssMb);
        return (await rejections(info)).overBuffer!;
      },
      (n) => n > counts.overBuffer!,
      'the hoarder to be dropped',
      15_000,
    ).catch(() => undefined);
    figures.push(`twin GET flood: peak rss ${peak} MB`);
    const closed = closedWithin(socket, 5000);
    socket.resume();
    expect(await closed, 'the emulator closed the connection').toBe(true);
    const after = measure('twin GET flood: after');
    expect((await rejections(info)).overBuffer).toBe(counts.overBuffer! + 1);
    expect(peak - before.rssMb, 'resident memory growth, MB').toBeLessThan(RSS_GROWTH_BOUND_MB);
    expect(after.fds).toBeLessThanOrEqual(before.fds + 2);
  }, 40_000);

  it('keeps at most 300 telemetry names per identity, whatever one device sends', async () => {
    const before = measure('telemetry names: before');
    const counts = await rejections(info);
    const client = await mqttConnect(info, hubCredentials(info, 'namer', keys.namer as string));
    const names = 1050; // 15 KB bodies (values are kept from bodies up to 16 KB): a million names in all
    for (let m = 0; m < 1000; m++) {
      const body = `{${Array.from({ length: names }, (_, i) => `"n${m}_${i}":0`).join(',')}}`;
      expect(body.length).toBeLessThanOrEqual(16 * 1024);
      // QoS 1 every 50 messages: its PUBACK says the ones before it were handled.
      if (m % 50 === 49) await client.publishAsync(topic.telemetry({ deviceId: 'namer' }), body, { qos: 1 });
      else client.publish(topic.telemetry({ deviceId: 'namer' }), body, { qos: 0 });
    }
    await client.publishAsync(topic.telemetry({ deviceId: 'namer' }), '{"last": 1}', { qos: 1 });
    await client.endAsync();
    const after = measure('telemetry names: after 1 million names');
    expect((await restCall(info, 'GET', '/api/devices/namer/telemetry/n0_0')).status).toBe(200);
    expect((await restCall(info, 'GET', '/api/devices/namer/telemetry/n999_0')).status).toBe(404);
    expect((await rejections(info)).telemetryNameCap).toBeGreaterThan(counts.telemetryNameCap!);
    expect(after.rssMb - before.rssMb, 'resident memory growth, MB').toBeLessThan(RSS_GROWTH_BOUND_MB);
  }, 40_000);

  it('keeps one DPS operation per registration, without its payload', async () => {
    const before = measure('DPS operations: before');
    const dps = await mqttConnect(info, dpsCredentials(info, 'registrar', keys.registrar as string));
    await dps.subscribeAsync('$dps/registrations/res/#', { qos: 1 });
    const operations: string[] = [];
    dps.on('message', (_t, payload) => {
      const id = (JSON.parse(payload.toString()) as { operationId?: string }).operationId;
      if (id !== undefined) operations.push(id);
    });
    // ~90 KB of small keys: what a payload costs in memory once parsed.
    const payload = `{${Array.from({ length: 7000 }, (_, i) => `"k${i}":${i}`).join(',')}}`;
    for (let i = 0; i < 500; i++) {
      dps.publish(topic.dpsRegister(String(i)), `{"registrationId":"registrar","payload":${payload}}`, { qos: 1 });
    }
    await until(
      () => operations.length,
      (n) => n >= 500,
      '500 accepted registrations',
      20_000,
    );
    const after = measure('DPS operations: after 500 x 90 KB registers');
    const first = nextMessage(dps, 'dpsResponse');
    dps.publish(topic.dpsPoll('a', operations[0] as string), ' ', { qos: 1 });
    expect((await first).topic).toMatch(/^\$dps\/registrations\/res\/404\//);
    const last = nextMessage(dps, 'dpsResponse');
    dps.publish(topic.dpsPoll('b', operations[499] as string), ' ', { qos: 1 });
    expect((await last).topic).toMatch(/^\$dps\/registrations\/res\/200\//);
    await dps.endAsync();
    expect(after.rssMb - before.rssMb, 'resident memory growth, MB').toBeLessThan(RSS_GROWTH_BOUND_MB);
  }, 40_000);

  it('keeps C2D pending per device at 50, in flight or waiting, for a client that never completes them', async () => {
    const credentials = { ...hubCredentials(info, 'c2d-sink', keys['c2d-sink'] as string), clean: false };
    const socket = await rawSession(info, credentials, 'devices/c2d-sink/messages/devicebound/#', 1); // never PUBACKs
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) {
      statuses.push((await restCall(info, 'POST', '/api/devices/c2d-sink/messages', { data: { i } })).status);
    }
    expect(statuses.filter((s) => s === 202).length).toBe(50);
    expect(statuses.slice(50)).toEqual(Array(10).fill(403));
    socket.destroy(); // none completed: they go back to the queue
    const client = await mqttConnect(info, credentials);
    let received = 0;
    client.on('message', () => (received += 1));
    await client.subscribeAsync('devices/c2d-sink/messages/devicebound/#', { qos: 1 });
    await until(
      () => received,
      (n) => n >= 50,
      'the 50 messages again',
    );
    await sleep(300);
    expect(received).toBe(50);
    await client.endAsync();
  });
});

describe('IoT Hub rules the emulator used to skip', () => {
  it('grants a QoS 2 subscription QoS 1, as IoT Hub does', async () => {
    const client = await mqttConnect(info, hubCredentials(info, 'plain', keys.plain as string));
    const granted = await client.subscribeAsync('$iothub/twin/res/#', { qos: 2 });
    expect(granted.map((g) => g.qos)).toEqual([1]);
    await client.endAsync();
  });

  it('refuses a device token that carries skn (CONNACK 5, counted as auth)', async () => {
    const before = await rejections(info);
    const policy = hubCredentials(info, 'plain', keys.plain as string, undefined, 'iothubowner');
    await expect(mqttConnect(info, policy)).rejects.toMatchObject({ code: 5 });
    expect((await rejections(info)).auth).toBe(before.auth! + 1);
  });

  it('stores nothing as a retained message: a retain flag on telemetry is ignored', async () => {
    const sas = deviceSas('edge', keys.edge as string);
    const created = await hubHttps(info, 'PUT', `/devices/edge/modules/retainer?${HUB_API}`, sas, {});
    const moduleKey = created.json.authentication.symmetricKey.primaryKey as string;
    const publisher = await mqttConnect(info, hubCredentials(info, 'edge', moduleKey, 'retainer'));
    const telemetry = topic.telemetry({ deviceId: 'edge', moduleId: 'retainer' });
    await publisher.publishAsync(telemetry, '{"kept": false}', { qos: 1, retain: true });
    await publisher.endAsync();
    const reader = await mqttConnect(info, hubCredentials(info, 'edge', moduleKey, 'retainer'));
    let received = 0;
    reader.on('message', () => (received += 1));
    await reader.subscribeAsync('devices/edge/modules/retainer/#', { qos: 1 });
    await sleep(1000);
    expect(received).toBe(0);
    await reader.endAsync();
  });
});

describe('module identities over the hub HTTPS API', () => {
  const path = (device: string, module: string) =>
    `/devices/${device}/modules/${encodeURIComponent(module)}?${HUB_API}`;

  it('refuses a plain device, which then cannot connect as the module it asked for either', async () => {
    const sas = deviceSas('plain', keys.plain as string);
    for (const module of ['$edgeAgent', 'sneaky']) {
      const put = await hubHttps(info, 'PUT', path('plain', module), sas, { moduleId: module });
      expect(put.status, module).toBe(401);
    }
    const asModule = hubCredentials(info, 'plain', keys.plain as string, '$edgeAgent');
    const code = await mqttConnect(info, asModule).then(
      () => 0,
      (e: { code?: number }) => e.code,
    );
    expect(code).toBe(5);
  });

  it('answers an unknown device, a wrong key and a token with skn alike: 401', async () => {
    const unknown = await hubHttps(info, 'GET', path('nobody', 'm'), deviceSas('nobody', keys.plain as string));
    const wrongKey = await hubHttps(info, 'GET', path('edge', 'm'), deviceSas('edge', keys.plain as string));
    const withSkn = deviceSas('edge', keys.edge as string, 'iothubowner');
    const policy = await hubHttps(info, 'GET', path('edge', 'm'), withSkn);
    for (const r of [unknown, wrongKey, policy]) {
      expect(r.status).toBe(401);
      expect(r.json.Message).toMatch(/^ErrorCode:IotHubUnauthorizedAccess;/);
    }
  });

  it('validates module ids as IoT Hub does and keeps $ ids for the runtime', async () => {
    const sas = deviceSas('edge', keys.edge as string);
    expect((await hubHttps(info, 'PUT', path('edge', 'has space'), sas, {})).status).toBe(400);
    expect((await hubHttps(info, 'PUT', path('edge', 'm'.repeat(129)), sas, {})).status).toBe(400);
    expect((await hubHttps(info, 'PUT', path('edge', '$custom'), sas, {})).status).toBe(400);
    expect((await hubHttps(info, 'DELETE', path('edge', '$edgeAgent'), sas)).status).toBe(400);
    expect((await hubHttps(info, 'GET', path('edge', '$edgeAgent'), sas)).status).toBe(200);
    expect((await hubHttps(info, 'PUT', path('edge', "ok-+%_#*?!(),=@$'.1"), sas, {})).status).toBe(200);
  });

  it("caps an IoT Edge device's module identities at IoT Hub's 50", async () => {
    const before = await rejections(info);
    const sas = deviceSas('edge', keys.edge as string);
    const list = await hubHttps(info, 'GET', `/devices/edge/modules?${HUB_API}`, sas);
    const room = 50 - (list.json as unknown[]).length;
    for (let i = 0; i < room; i++) {
      expect((await hubHttps(info, 'PUT', path('edge', `m${i}`), sas, {})).status).toBe(200);
    }
    const over = await hubHttps(info, 'PUT', path('edge', 'one-too-many'), sas, {});
    expect(over.status).toBe(403);
    expect((await rejections(info)).moduleCap).toBe(before.moduleCap! + 1);
  });
});

describe('throughout', () => {
  it('the well-behaved device saw no disconnect, no error and every PUBACK', async () => {
    await steady.stop();
    expect(steady.problems).toEqual([]);
    expect(steady.sent).toBeGreaterThan(50);
    expect(steady.acked).toBe(steady.sent);
  });

  it("the emulator's memory and descriptors are back near their start", async () => {
    await sleep(500);
    const end = measure('end (all clients gone)');
    expect(end.fds).toBeLessThanOrEqual(start.fds + 5);
    const growth = end.rssMb - start.rssMb;
    // All the attacks together; before these fixes the twin GET flood alone added 600 MB.
    expect(growth, 'resident memory growth over the whole suite, MB').toBeLessThan(200);
    expect(emu.alive()).toBe(true);
  });
});
