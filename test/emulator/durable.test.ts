// The emulator's state outlives it: `edgefleet emulator` (the built CLI, a child process) is filled as users fill
// it, killed with SIGKILL while a device publishes QoS 1 as fast as it can, or stopped with SIGTERM, and started
// again on the same ports and state directory. It is the same cloud: what its REST API and /stats show is what
// they showed, every message a PUBACK acknowledged is counted, devices connect again with their keys.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import type { EmulatorInfo } from '../../src/emulator/index.js';
import { topic } from '../../src/protocol/index.js';
import { isolatedStateDir } from '../support/emulator.js';
import {
  hubCredentials,
  keyOf,
  mqttConnect,
  nextMessage,
  restCall,
  startChildEmulator,
  until,
  type ChildEmulator,
} from './abuse-kit.js';
import {
  FastPublisher,
  hubDevice,
  MODEL,
  populate,
  PUBLISHER,
  register,
  snapshot,
  twinRequest,
} from './durable-kit.js';

const state = isolatedStateDir();
let emu: ChildEmulator;

const connectAs = (id: string) => mqttConnect(emu.info, hubCredentials(emu.info, id, keyOf(emu.info, id, 'devices')));

/** The same emulator again: same state directory, same ports. */
async function restart(info: EmulatorInfo): Promise<ChildEmulator> {
  return startChildEmulator([
    '--state-dir',
    state.dir,
    '--mqtt-port',
    String(info.mqttPort),
    '--http-port',
    String(new URL(info.restUrl).port),
    '--hub-https-port',
    String(info.hubHttpsPort),
  ]);
}

/** /stats without what changes by itself across a restart (the process start) or keeps changing meanwhile. */
function withoutMoving(snap: Record<string, any>, moving: string[]): Record<string, any> {
  const { startedAt: _startedAt, totals: _totals, latency: _latency, identities, ...stats } = snap.stats;
  const steady = Object.fromEntries(Object.entries(identities).filter(([id]) => !moving.includes(id)));
  return { ...snap, stats: { ...stats, identities: steady } };
}

beforeAll(async () => {
  emu = await startChildEmulator(['--state-dir', state.dir]);
  await populate(emu.info);
}, 60_000);

afterAll(async () => {
  await emu?.stop();
  state.remove();
});

describe('a restarted emulator is the same cloud', () => {
  let sensorTwin: unknown;

  it('kill -9 mid-telemetry: registry, twins, manifests, relationships and counts kept; PUBACKs counted', async () => {
    const sensor = await hubDevice(emu.info, 'dps-sensor');
    sensorTwin = (await twinRequest(sensor)).body;
    await sensor.endAsync();
    const publisher = await FastPublisher.start(emu.info);
    await until(
      () => publisher.acked,
      (n) => n >= 500,
      'PUBACKs before the kill',
    );
    const before = await snapshot(emu.info);
    expect(publisher.sent - publisher.acked, 'messages in flight when the emulator dies').toBeGreaterThan(0);

    expect(await emu.kill('SIGKILL')).toBe('SIGKILL');
    await publisher.closed;
    const acknowledged = publisher.acked;
    emu = await restart(emu.info);

    const after = await snapshot(emu.info);
    expect(withoutMoving(after, [PUBLISHER])).toEqual(withoutMoving(before, [PUBLISHER]));
    const counted = (after.stats as any).identities[PUBLISHER].messagesReceived as number;
    expect(counted, 'every acknowledged message is counted').toBeGreaterThanOrEqual(acknowledged);
    expect(counted, 'nothing is counted that was not sent').toBeLessThanOrEqual(publisher.sent);
    expect((after.stats as any).countingSince).toBe((before.stats as any).countingSince);
  }, 60_000);

  it('lets devices connect again with their keys, with their twins (versions too) and their C2D message', async () => {
    const sensor = await hubDevice(emu.info, 'dps-sensor');
    const twin = await twinRequest(sensor);
    expect(twin.body).toEqual(sensorTwin);
    expect(twin.body.reported).toMatchObject({ firmware: '1.2', battery: 80, $version: 3 });
    const reported = await twinRequest(sensor, { battery: 79 });
    expect(reported).toMatchObject({ status: 204, version: 4 });
    await sensor.endAsync();

    const device = await connectAs('rest-device');
    const c2d = nextMessage(device, 'c2d');
    await device.subscribeAsync(`devices/rest-device/messages/devicebound/#`, { qos: 1 });
    const message = await c2d;
    expect(JSON.parse(message.payload.toString())).toEqual({ text: 'hello' });
    expect(decodeURIComponent(message.topic)).toContain('kind=greeting');
    await device.endAsync();

    const again = await register(emu.info, 'dps-sensor', 'devices', { modelId: MODEL });
    expect(again.registrationState.substatus).toBe('reprovisionedToInitialAssignment');
  }, 30_000);

  it('after SIGTERM reads exactly the same, /stats whole; countingSince kept, startedAt new', async () => {
    const publisher = await FastPublisher.start(emu.info);
    await until(
      () => publisher.acked,
      (n) => n >= 200,
      'PUBACKs',
    );
    await publisher.stop();
    await until(
      async () => (await restCall(emu.info, 'GET', '/stats')).json.identities[PUBLISHER].disconnects,
      (n) => n >= 1,
      'the publisher disconnect counted',
    );
    const before = await snapshot(emu.info);
    expect(await emu.kill('SIGTERM')).toBe(0);
    emu = await restart(emu.info);
    const after = await snapshot(emu.info);
    const { startedAt: startedBefore, ...statsBefore } = before.stats as any;
    const { startedAt: startedAfter, ...statsAfter } = after.stats as any;
    expect({ ...after, stats: statsAfter }).toEqual({ ...before, stats: statsBefore });
    expect(statsAfter.identities[PUBLISHER].messagesReceived).toBe(statsBefore.identities[PUBLISHER].messagesReceived);
    expect(startedAfter > startedBefore).toBe(true);
    expect(statsAfter.countingSince <= startedBefore).toBe(true);
  }, 60_000);

  it('is a SQLite database anyone can read while the emulator runs, DPS registrations and their payloads too', () => {
    const path = emu.info.databasePath as string;
    expect(path).toBe(`${state.dir}/emulator.db`);
    const db = new Database(path, { readonly: true });
    try {
      const leaf = db.prepare('SELECT * FROM dps_registrations WHERE registration_id = ?').get('dps-leaf');
      expect(leaf).toMatchObject({
        model_id: MODEL,
        gateway_id: 'edge-gw',
        gateway_module_id: 'translator',
        device_id: 'dps-leaf',
      });
      const count = db.prepare('SELECT messages_received AS n FROM identity_stats WHERE identity = ?').get(PUBLISHER);
      expect((count as { n: number }).n).toBeGreaterThan(0);
    } finally {
      db.close();
    }
  });
});

describe('telemetry acknowledgement', () => {
  it('sends a PUBACK only once the message is counted in the database', async () => {
    const device = await connectAs('rest-device');
    const db = new Database(emu.info.databasePath, { readonly: true });
    try {
      const countedNow = () =>
        (
          db.prepare('SELECT messages_received AS n FROM identity_stats WHERE identity = ?').get('rest-device') as
            { n: number } | undefined
        )?.n ?? 0;
      const start = countedNow();
      for (let i = 1; i <= 20; i++) {
        await device.publishAsync(topic.telemetry({ deviceId: 'rest-device' }), JSON.stringify({ i }), { qos: 1 });
        expect(countedNow(), `message ${i} acknowledged`).toBeGreaterThanOrEqual(start + i);
      }
    } finally {
      db.close();
      await device.endAsync();
    }
  });
});
