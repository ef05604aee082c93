// Bad input never takes the emulator down: the offending client is refused or dropped, counted, and
// everyone else goes on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect as tlsConnect } from 'node:tls';
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import type { Emulator } from '../../src/emulator/index.js';
import { topic } from '../../src/protocol/index.js';
import { caOf, rest, startTestEmulator } from '../support/emulator.js';
import { connectRaw, hubCredentials, nextMessage, provisionRaw } from '../support/raw-device.js';

let emulator: Emulator;
const keys: Record<string, string> = {};

beforeAll(async () => {
  emulator = await startTestEmulator();
  for (const id of ['steady', 'victim', 'twin-garbage', 'thief', 'c2d-late', 'disabled'])
    keys[id] = await provisionRaw(emulator, id, 'devices');
});
afterAll(async () => {
  await emulator?.close();
});

const device = (id: string) => connectRaw(emulator, hubCredentials(emulator, id, keys[id] as string));

/** Resolves when the client is closed by the server. */
const closedByServer = (client: MqttClient, ms = 5000) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the emulator did not drop the client')), ms);
    client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });

/** A well-behaved device that must keep working through everything else in this file. */
async function steadyStillWorks(): Promise<void> {
  const steady = await device('steady');
  await steady.subscribeAsync('$iothub/twin/res/#');
  const reply = nextMessage(steady, 'twinResponse');
  steady.publish(topic.twinGet('1'), '');
  expect((await reply).topic).toMatch(/^\$iothub\/twin\/res\/200\//);
  await steady.endAsync();
}

describe('misbehaving clients', () => {
  it('drops a client that publishes to a topic outside the dialect, and counts it', async () => {
    const before = emulator.stats.rejections.unknownTopic;
    const victim = await device('victim');
    const closed = closedByServer(victim);
    victim.publish('some/random/topic', 'x');
    await closed;
    expect(emulator.stats.rejections.unknownTopic).toBe(before + 1);
    await steadyStillWorks();
  });

  it('drops a client that sends telemetry as another device', async () => {
    const thief = await device('thief');
    const closed = closedByServer(thief);
    thief.publish(topic.telemetry({ deviceId: 'steady' }), '{}', { qos: 1 });
    await closed;
    await steadyStillWorks();
  });

  it('drops QoS 2 publishes and payloads over 256 KB', async () => {
    const q2 = await device('victim');
    const closedQ2 = closedByServer(q2);
    q2.publish(topic.telemetry({ deviceId: 'victim' }), '{}', { qos: 2 });
    await closedQ2;
    const big = await device('victim');
    const closedBig = closedByServer(big);
    big.publish(topic.telemetry({ deviceId: 'victim' }), Buffer.alloc(300 * 1024, 0x61), { qos: 1 });
    await closedBig;
    expect(emulator.stats.rejections.qos2).toBeGreaterThanOrEqual(1);
    expect(emulator.stats.rejections.oversized).toBeGreaterThanOrEqual(1);
    await steadyStillWorks();
  });

  it('answers garbage JSON in a reported patch with 400 and keeps the connection', async () => {
    const client = await device('twin-garbage');
    await client.subscribeAsync('$iothub/twin/res/#');
    const bad = nextMessage(client, 'twinResponse');
    client.publish(topic.twinReportedPatch('1'), '{"unterminated": ');
    expect((await bad).topic).toMatch(/^\$iothub\/twin\/res\/400\//);
    const good = nextMessage(client, 'twinResponse');
    client.publish(topic.twinReportedPatch('2'), '{"ok": true}');
    expect((await good).topic).toMatch(/^\$iothub\/twin\/res\/204\/\?\$rid=2&\$version=2$/);
    expect(client.connected).toBe(true);
    await client.endAsync();
  });

  it('refuses subscriptions IoT Hub does not know with SUBACK 0x80', async () => {
    const client = await device('victim');
    // mqtt.js turns a SUBACK with 0x80 into an error that carries the packet.
    const suback = await client
      .subscribeAsync(['#', 'devices/steady/messages/devicebound/#', '$iothub/methods/POST/#'])
      .then(
        () => undefined,
        (err: { packet?: { granted: number[] } }) => err.packet,
      );
    expect(suback?.granted).toEqual([128, 128, 0]);
    expect(client.connected).toBe(true);
    await client.endAsync();
  });

  it('refuses a flood of bad logins with CONNACK 5 and still serves good ones', async () => {
    const before = emulator.stats.rejections.auth;
    const attempts = Array.from({ length: 60 }, () =>
      connectRaw(emulator, hubCredentials(emulator, 'steady', randomBytes(32).toString('base64'))).then(
        () => 'connected',
        (err: Error & { code?: number }) => String(err.code ?? err.message),
      ),
    );
    const results = await Promise.all(attempts);
    expect(results.every((r) => r === '5')).toBe(true);
    expect(emulator.stats.rejections.auth).toBeGreaterThanOrEqual(before + 60);
    await steadyStillWorks();
  });

  it('refuses an expired token, an unknown device and a module that does not exist', async () => {
    const codeOf = (p: Promise<unknown>) =>
      p.then(
        () => 'connected',
        (e: { code?: number }) => e.code,
      );
    expect(
      await codeOf(connectRaw(emulator, hubCredentials(emulator, 'steady', keys.steady as string, undefined, 1000))),
    ).toBe(5);
    expect(await codeOf(connectRaw(emulator, hubCredentials(emulator, 'nobody', keys.steady as string)))).toBe(5);
    expect(await codeOf(connectRaw(emulator, hubCredentials(emulator, 'steady', keys.steady as string, 'ghost')))).toBe(
      5,
    );
  });

  it('drops the first connection when a second one uses the same identity', async () => {
    const first = await device('victim');
    const dropped = closedByServer(first);
    const second = await device('victim');
    await dropped;
    expect(second.connected).toBe(true);
    await second.endAsync();
  });

  it('survives random bytes, a half-open TLS handshake and a packet header announcing 100 MB', async () => {
    const raw = (bytes: Buffer) =>
      new Promise<void>((resolve) => {
        const socket = tlsConnect(
          { port: emulator.info.mqttPort, host: '127.0.0.1', ca: caOf(emulator), servername: 'localhost' },
          () => {
            socket.write(bytes);
          },
        );
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 3000);
      });
    await raw(randomBytes(2048));
    // CONNECT fixed header with a remaining length of 100 MB, and nothing after it.
    await raw(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x30]));
    const before = emulator.stats.rejections.oversized;
    await raw(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x30]));
    expect(emulator.stats.rejections.oversized).toBe(before + 1);
    await steadyStillWorks();
  });

  it('keeps C2D messages for a device that is offline and delivers them when it subscribes', async () => {
    expect(emulator.service.sendC2D('c2d-late', Buffer.from('{"n":1}'), { color: 'red' })).toBe('queued');
    const client = await device('c2d-late');
    const message = nextMessage(client, 'c2d');
    await client.subscribeAsync('devices/c2d-late/messages/devicebound/#', { qos: 1 });
    const m = await message;
    expect(m.payload.toString()).toBe('{"n":1}');
    expect(m.topic).toContain('color=red');
    await client.endAsync();
  });

  it('drops a device disabled over REST and refuses it afterwards', async () => {
    const client = await device('disabled');
    const closed = closedByServer(client);
    expect((await rest(emulator, 'PATCH', '/api/devices/disabled', { enabled: false })).status).toBe(200);
    await closed;
    await expect(device('disabled')).rejects.toMatchObject({ code: 5 });
    await steadyStillWorks();
  });
});
