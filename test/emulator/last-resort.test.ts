// The last resort: an exception while handling one client's input drops that client (or answers its request 500),
// counted as `internalError`, and nothing else; startEmulator, as a library, installs no process-wide handlers.
// No client input is known to throw any more, so a fault is injected into the real registry and service.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import type { Emulator } from '../../src/emulator/index.js';
import { topic } from '../../src/protocol/index.js';
import { rest, startTestEmulator } from '../support/emulator.js';
import { connectRaw, hubCredentials, nextMessage, provisionRaw } from '../support/raw-device.js';

let emulator: Emulator;
const keys: Record<string, string> = {};

const handlers = () => [process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')];
let handlersBefore: number[];

beforeAll(async () => {
  handlersBefore = handlers();
  emulator = await startTestEmulator();
  for (const id of ['calm', 'cursed']) keys[id] = await provisionRaw(emulator, id, 'devices');
});
afterAll(async () => {
  await emulator?.close();
});

const device = (id: string) => connectRaw(emulator, hubCredentials(emulator, id, keys[id] as string));

async function twinGetAnswered(client: MqttClient, rid: string): Promise<boolean> {
  const answer = nextMessage(client, 'twinResponse', 2000).then(
    () => true,
    () => false,
  );
  client.publish(topic.twinGet(rid), '');
  return answer;
}

describe('last resort', () => {
  it('installs no process-wide error handlers when used as a library', () => {
    expect(handlers()).toEqual(handlersBefore);
  });

  it('drops only the client whose packet made a handler throw, counted as internalError', async () => {
    const calm = await device('calm');
    const cursed = await device('cursed');
    await calm.subscribeAsync('$iothub/twin/res/#');
    await cursed.subscribeAsync('$iothub/twin/res/#');
    const registry = emulator.registry;
    const twinOf = registry.twinOf.bind(registry);
    registry.twinOf = (deviceId, moduleId) => {
      if (deviceId === 'cursed') throw new Error('injected fault');
      return twinOf(deviceId, moduleId);
    };
    try {
      const before = emulator.stats.rejections.internalError;
      const closed = new Promise<void>((resolve) => cursed.once('close', () => resolve()));
      cursed.publish(topic.twinGet('1'), '');
      await closed;
      expect(emulator.stats.rejections.internalError).toBe(before + 1);
      expect(await twinGetAnswered(calm, '2')).toBe(true);
      await calm.publishAsync(topic.telemetry({ deviceId: 'calm' }), '{"still": "here"}', { qos: 1 });
      expect(calm.connected).toBe(true);
    } finally {
      registry.twinOf = twinOf;
      await calm.endAsync();
    }
  });

  it('answers a REST request whose handler throws with 500, counted, and serves the next one', async () => {
    const service = emulator.service;
    const deviceOf = service.device.bind(service);
    service.device = (deviceId) => {
      if (deviceId === 'cursed') throw new Error('injected fault');
      return deviceOf(deviceId);
    };
    try {
      const before = emulator.stats.rejections.internalError;
      const failed = await rest(emulator, 'GET', '/api/devices/cursed');
      expect(failed.status).toBe(500);
      expect(failed.json.error.message).toBe('internal error');
      expect(emulator.stats.rejections.internalError).toBe(before + 1);
      expect((await rest(emulator, 'GET', '/api/devices/calm')).status).toBe(200);
    } finally {
      service.device = deviceOf;
    }
  });
});
