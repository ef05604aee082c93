// IoT Hub, DPS and IoT Central limits (docs/protocol.md §7): `edgefleet emulator` with a tier's flags, small
// shaping so each effect shows within seconds, seen from real MQTT and HTTP clients.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import type { MqttClient } from 'mqtt';
import { createSasToken, parseTopic, sasResource, topic } from '../../src/protocol/index.js';
import { hubHttps } from '../support/emulator.js';
import {
  dpsCredentials,
  hubCredentials,
  keyOf,
  mqttConnect,
  provision,
  raw,
  rawTls,
  restCall,
  startChildEmulator,
  until,
  type ChildEmulator,
} from './abuse-kit.js';
import type { EmulatorInfo } from '../../src/emulator/index.js';
import { registerWithSymmetricKey, uniqueId } from '../support/azure-sdk.js';
import { scenarioSchema } from '../../src/config/scenario.js';
import { emulatorLimitArgs, spawnEmulator } from '../../src/endpoints/emulator-target.js';

/** The shared test state directory (test/global-setup.ts); the emulators here are ephemeral on it. */
const STATE_DIR = fileURLToPath(new URL('../../.edgefleet-test', import.meta.url));
let emulator: ChildEmulator | undefined;
const clients: MqttClient[] = [];
const sockets: TLSSocket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  await emulator?.stop();
  emulator = undefined;
});

async function start(args: string[]): Promise<EmulatorInfo> {
  emulator = await startChildEmulator(args);
  return emulator.info;
}

interface OperationStats {
  perSecond: number;
  perMinute?: number;
  perIdentityPerSecond?: number;
  meter?: string;
  admitted: number;
  shaped: number;
  throttled: number;
  queued: number;
  maxDelayMs: number;
}
interface LimitsStats {
  name: string;
  shaping: { burstSeconds: number; queueSeconds: number };
  operations: Record<string, OperationStats>;
  quota: { messagesPerDay: number; used: number; exhausted: boolean; refusedSends: number; refusedConnects: number };
}

async function limitsStats(info: EmulatorInfo): Promise<LimitsStats | null> {
  return (await restCall(info, 'GET', '/stats')).json.limits as LimitsStats | null;
}

async function device(info: EmulatorInfo, id: string): Promise<MqttClient> {
  const key = await provision(info, id, 'devices');
  const client = await mqttConnect(info, hubCredentials(info, id, key));
  clients.push(client);
  return client;
}

/** The CONNACK return codes of `n` CONNECTs written at once, each on a TLS connection already up. */
async function connectBurst(info: EmulatorInfo, id: string, n: number): Promise<number[]> {
  const credentials = hubCredentials(info, id, keyOf(info, id, 'devices'));
  const ready = await Promise.all(Array.from({ length: n }, () => rawTls(info)));
  sockets.push(...ready);
  const codes = ready.map(
    (socket) =>
      new Promise<number>((resolve) => {
        socket.on('error', () => {});
        socket.once('data', (chunk: Buffer) => resolve(chunk[0] === 0x20 ? (chunk[3] ?? -1) : -1));
        socket.once('close', () => resolve(-1));
      }),
  );
  for (const socket of ready) socket.write(raw.connect(credentials));
  return Promise.all(codes);
}

/** Twin GETs sent at once; the status of each answer, with its retry-after when it gives one. */
async function twinBurst(client: MqttClient, n: number): Promise<{ status: number; retryAfter?: number }[]> {
  await client.subscribeAsync('$iothub/twin/res/#', { qos: 0 });
  const answers = new Map<string, { status: number; retryAfter?: number }>();
  const done = new Promise<void>((resolve) => {
    client.on('message', (t) => {
      const parsed = parseTopic(t);
      if (parsed?.kind !== 'twinResponse') return;
      const retry = /[?&]retry-after=(\d+)/.exec(t)?.[1];
      answers.set(parsed.rid, { status: parsed.status, ...(retry === undefined ? {} : { retryAfter: Number(retry) }) });
      if (answers.size === n) resolve();
    });
  });
  for (let i = 0; i < n; i++) client.publish(topic.twinGet(`g${i}`), '', { qos: 0 });
  await done;
  return [...answers.values()];
}

describe('without limit flags', () => {
  it('limits nothing: /stats says so, and bursts of connections and twin reads all succeed', async () => {
    const info = await start([]);
    expect(await limitsStats(info)).toBeNull();
    await provision(info, 'free-1', 'devices');
    const codes = await connectBurst(info, 'free-1', 40);
    expect(codes.filter((c) => c === 0)).toHaveLength(40);
    const client = await device(info, 'free-2');
    const answers = await twinBurst(client, 60);
    expect(answers.every((a) => a.status === 200)).toBe(true);
  });
});

describe('an S1 hub', () => {
  it('answers connections over the connect rate with CONNACK 3 and counts them', async () => {
    const info = await start(['--hub-tier', 'S1', '--shaping-burst', '0s', '--shaping-queue', '0s']);
    await provision(info, 'conn-1', 'devices');
    const codes = await connectBurst(info, 'conn-1', 60);
    const refused = codes.filter((c) => c === 3).length;
    expect(codes.filter((c) => c === 0).length).toBeGreaterThanOrEqual(1);
    expect(refused).toBeGreaterThanOrEqual(1);
    expect(refused + codes.filter((c) => c === 0).length).toBe(60);
    const stats = await limitsStats(info);
    expect(stats?.name).toBe('S1 × 1 unit');
    expect(stats?.operations.connect).toMatchObject({ perSecond: 100, throttled: refused });
    // Only a CONNECT let in takes the identity's session over; a throttled one takes nothing.
    const accepted = codes.filter((c) => c === 0).length;
    const rejections = (await restCall(info, 'GET', '/stats')).json.rejections as Record<string, number>;
    expect(rejections.takenOver ?? 0).toBeLessThanOrEqual(accepted - 1);
  });

  it('shapes telemetry over 100/s (PUBACKs come late), then closes the connection when the queue is full', async () => {
    const info = await start(['--hub-tier', 'S1', '--shaping-burst', '0s', '--shaping-queue', '1s']);
    const client = await device(info, 'd2c-1');
    const send = (n: number) =>
      Promise.all(
        Array.from({ length: n }, (_, i) =>
          client.publishAsync(topic.telemetry({ deviceId: 'd2c-1' }), `{"i":${i}}`, { qos: 1 }),
        ),
      );
    const began = Date.now();
    await send(80); // 80 at once against 100/s: the last is held about 0.8 s
    const took = Date.now() - began;
    expect(took).toBeGreaterThanOrEqual(500); // a lower bound the shaping imposes, however fast the machine
    let stats = await limitsStats(info);
    expect(stats?.operations.d2c?.shaped).toBeGreaterThan(40);
    expect(stats?.operations.d2c?.throttled).toBe(0);
    expect(client.connected).toBe(true);

    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    void send(1500).catch(() => {});
    await closed;
    stats = await limitsStats(info);
    expect(stats?.operations.d2c?.throttled).toBeGreaterThanOrEqual(1);
  });

  it('answers twin reads past the shaping queue 429 with retry-after, and serves them again after it', async () => {
    const info = await start(['--hub-tier', 'S1', '--shaping-burst', '0s', '--shaping-queue', '0s']);
    const client = await device(info, 'twin-1');
    const answers = await twinBurst(client, 30);
    const throttled = answers.filter((a) => a.status === 429);
    expect(answers.some((a) => a.status === 200)).toBe(true);
    expect(throttled.length).toBeGreaterThanOrEqual(1);
    expect(throttled.every((a) => a.retryAfter !== undefined && a.retryAfter >= 1)).toBe(true);
    expect((await limitsStats(info))?.operations.twinRead?.throttled).toBe(throttled.length);
    await new Promise((r) => setTimeout(r, 1000 * (throttled[0]?.retryAfter ?? 1)));
    client.removeAllListeners('message');
    expect((await twinBurst(client, 1))[0]?.status).toBe(200);
  });

  it('answers REST device writes over the registry rate 429 with a retry-after header', async () => {
    const info = await start(['--hub-tier', 'S1', '--shaping-burst', '0s', '--shaping-queue', '0s']);
    const writes = await Promise.all(
      ['r-1', 'r-2', 'r-3'].map((id) => restCall(info, 'PUT', `/api/devices/${id}`, { displayName: id })),
    );
    expect(writes.map((w) => w.status).sort()).toEqual([200, 429, 429]);
    const refused = writes.find((w) => w.status === 429);
    expect(refused?.json.error.code).toBe('ThrottlingException');
    const url = new URL('/api/devices/r-4?api-version=2022-07-31', info.restUrl);
    const again = await fetch(url, { method: 'DELETE', headers: { authorization: info.apiToken } });
    expect(again.status).toBe(429);
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await limitsStats(info))?.operations.registry?.throttled).toBe(3);
    // Cloud-to-device sends: 100 a minute per unit.
    const sends = await Promise.all(
      [1, 2].map(() => restCall(info, 'POST', '/api/devices/r-1/messages', { data: { n: 1 } })),
    );
    expect(sends.map((w) => w.status).sort()).toEqual([202, 429]);
  });

  it("counts an IoT Edge device's module identity calls as registry operations: 429 with retry-after past it", async () => {
    const info = await start(['--hub-tier', 'S1', '--shaping-burst', '0s', '--shaping-queue', '0s']);
    const edgeId = 'limited-edge';
    const key = await provision(info, edgeId, 'edgeDevices');
    const token = createSasToken({
      resourceUri: sasResource.device(info.hubHostName, edgeId),
      key,
      expiry: Math.floor(Date.now() / 1000) + 3600,
    });
    const path = `/devices/${edgeId}/modules/$edgeAgent?api-version=2021-04-12`;
    const reads = await Promise.all([1, 2].map(() => hubHttps(info, 'GET', path, token)));
    expect(reads.map((r) => r.status).sort()).toEqual([200, 429]);
    const refused = reads.find((r) => r.status === 429)!;
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await limitsStats(info))?.operations.registry?.throttled).toBe(1);
  });

  it('meters direct methods in 4 KB: big payloads reach the limit sooner than small ones', async () => {
    const info = await start(['--hub-tier', 'S1', '--shaping-burst', '1s', '--shaping-queue', '0s']);
    const client = await device(info, 'method-1');
    await client.subscribeAsync('$iothub/methods/POST/#', { qos: 0 });
    client.on('message', (t) => {
      const rid = /\?\$rid=([^&]+)/.exec(t)?.[1];
      if (t.startsWith('$iothub/methods/POST/') && rid !== undefined)
        client.publish(topic.methodResponse(200, rid), '{}');
    });
    const call = (request: unknown) =>
      restCall(info, 'POST', '/api/devices/method-1/commands/echo', { request, responseTimeout: 5 });
    // 40 KB is 10 meters: a second of S1's 40 meters/s holds 4 of them, and the one taken at once.
    const big = await Promise.all(Array.from({ length: 8 }, () => call('x'.repeat(40_000))));
    const bigRefused = big.filter((r) => r.status === 429).length;
    expect(bigRefused).toBeGreaterThanOrEqual(1);
    expect(bigRefused + big.filter((r) => r.status === 201).length).toBe(8);
    await new Promise((r) => setTimeout(r, 1500));
    const small = await Promise.all(Array.from({ length: 6 }, () => call({ n: 1 })));
    expect(small.every((r) => r.status === 201)).toBe(true);
    const method = (await limitsStats(info))?.operations.method;
    expect(method).toMatchObject({ meter: '4 KB', perSecond: 40, throttled: bigRefused });
  });
});

describe('DPS', () => {
  it('answers registrations past --dps-rate per minute 429 with retry-after', async () => {
    const info = await start(['--dps-rate', '3']);
    const statuses: { status: number; retryAfter?: number }[] = [];
    for (let i = 0; i < 5; i++) {
      const id = `dps-${i}`;
      const client = await mqttConnect(info, dpsCredentials(info, id, keyOf(info, id, 'devices')));
      clients.push(client);
      await client.subscribeAsync('$dps/registrations/res/#', { qos: 1 });
      const answer = new Promise<{ status: number; retryAfter?: number }>((resolve) =>
        client.once('message', (t) => {
          const parsed = parseTopic(t);
          if (parsed?.kind === 'dpsResponse') {
            resolve({
              status: parsed.status,
              ...(parsed.retryAfterSeconds === undefined ? {} : { retryAfter: parsed.retryAfterSeconds }),
            });
          }
        }),
      );
      client.publish(topic.dpsRegister('1'), JSON.stringify({ registrationId: id }), { qos: 1 });
      statuses.push(await answer);
    }
    expect(statuses.slice(0, 3).map((s) => s.status)).toEqual([202, 202, 202]);
    expect(statuses.slice(3).map((s) => s.status)).toEqual([429, 429]);
    // 3 a minute: room for the next one within 20 s.
    for (const s of statuses.slice(3)) expect(s.retryAfter).toBeGreaterThanOrEqual(1);
    for (const s of statuses.slice(3)) expect(s.retryAfter).toBeLessThanOrEqual(20);
    const stats = await limitsStats(info);
    expect(stats?.name).toBe('DPS only');
    expect(stats?.operations.dps).toMatchObject({ throttled: 2, admitted: 3 });
  });
});

describe('IoT Central', () => {
  it('lets one device burst to 10 messages a second, then shapes it, then closes it; others go on', async () => {
    const info = await start(['--limits', 'iot-central', '--shaping-burst', '0s', '--shaping-queue', '1s']);
    const noisy = await device(info, 'iotc-noisy');
    const calm = await device(info, 'iotc-calm');
    const send = (client: MqttClient, id: string, n: number) =>
      Promise.allSettled(
        Array.from({ length: n }, () => client.publishAsync(topic.telemetry({ deviceId: id }), '{}', { qos: 1 })),
      );
    const closed = new Promise<void>((resolve) => noisy.once('close', () => resolve()));
    void send(noisy, 'iotc-noisy', 40);
    const calmSent = await send(calm, 'iotc-calm', 10);
    await closed;
    expect(calmSent.every((r) => r.status === 'fulfilled')).toBe(true);
    expect(calm.connected).toBe(true);
    const stats = await limitsStats(info);
    expect(stats?.name).toBe('iot-central');
    expect(stats?.quota).toBeNull();
    expect(stats?.operations.d2c).toMatchObject({ perSecond: 200, perIdentityPerSecond: 10 });
    expect(stats?.operations.d2c?.throttled).toBeGreaterThanOrEqual(1);
    expect(stats?.operations.dps?.perMinute).toBe(200);
    expect(stats?.operations.connect).toBeUndefined();
  });
});

describe('the Azure IoT provisioning SDK', () => {
  it('waits the retry-after of a throttled registration, then registers', async () => {
    // 12 a minute: once they are used, the next fits 5 s later.
    const info = await start(['--dps-rate', '12']);
    const filler = await mqttConnect(info, dpsCredentials(info, 'filler', keyOf(info, 'filler', 'devices')));
    clients.push(filler);
    await filler.subscribeAsync('$dps/registrations/res/#', { qos: 1 });
    const answers: number[] = [];
    filler.on('message', (t) => {
      const parsed = parseTopic(t);
      if (parsed?.kind === 'dpsResponse') answers.push(parsed.status);
    });
    // Registers until DPS says 429: the minute's 12 are used, and the SDK's comes right after.
    const register = JSON.stringify({ registrationId: 'filler' });
    for (let i = 0; i < 40 && !answers.includes(429); i++) {
      await filler.publishAsync(topic.dpsRegister(`f${i}`), register, { qos: 1 });
      await until(
        () => answers.length,
        (n) => n > i,
        'the answer to a registration',
      );
    }
    const before = (await limitsStats(info))?.operations.dps?.throttled ?? 0;
    expect(before).toBeGreaterThanOrEqual(1);
    const id = uniqueId('sdk-throttled');
    const result = await registerWithSymmetricKey(info, id, keyOf(info, id, 'devices'));
    expect(result.deviceId).toBe(id);
    expect((await limitsStats(info))?.operations.dps?.throttled).toBeGreaterThan(before);
  });
});

describe('the daily quota', () => {
  it('closes a connection sending past it, and refuses reconnects with CONNACK 3, counted in /stats', async () => {
    const info = await start(['--hub-tier', 'S1', '--daily-quota', '5']);
    const client = await device(info, 'quota-1');
    for (let i = 0; i < 5; i++) await client.publishAsync(topic.telemetry({ deviceId: 'quota-1' }), '{}', { qos: 1 });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish(topic.telemetry({ deviceId: 'quota-1' }), '{}', { qos: 1 });
    await closed;
    await expect(
      mqttConnect(info, hubCredentials(info, 'quota-1', keyOf(info, 'quota-1', 'devices'))),
    ).rejects.toMatchObject({ code: 3 });
    const stats = await until(
      () => limitsStats(info),
      (s) => s?.quota.refusedConnects === 1,
      'the refused reconnect in /stats',
    );
    expect(stats?.quota).toMatchObject({ messagesPerDay: 5, used: 5, exhausted: true, refusedSends: 1 });
  });
});

describe('a scenario', () => {
  const scenario = (limits: unknown) => ({
    name: 'sized',
    targets: { emulator: { limits } },
    fleet: [{ group: 'g', kind: 'device', count: 1 }],
  });

  it("starts the run's emulator with targets.emulator.limits", async () => {
    const parsed = scenarioSchema.parse(scenario({ hubTier: 'S2', hubUnits: 2, shapingBurst: '0s' }));
    const started = await spawnEmulator(STATE_DIR, () => {}, {
      ephemeral: true,
      args: emulatorLimitArgs(parsed.targets?.emulator),
    });
    try {
      const stats = await limitsStats(started.info);
      expect(stats?.name).toBe('S2 × 2 units');
      expect(stats?.shaping).toEqual({ burstSeconds: 0, queueSeconds: 10 });
      expect(stats?.operations.d2c?.perSecond).toBe(240);
      expect(stats?.operations.dps?.perSecond).toBeCloseTo(1000 / 60);
    } finally {
      await started.stop();
    }
  });

  it('refuses limits that do not fit the tier, saying which field', () => {
    const result = scenarioSchema.safeParse(scenario({ hubTier: 'F1', hubUnits: 2 }));
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toContain('F1 has at most 1 unit');
    expect(emulatorLimitArgs(scenarioSchema.parse(scenario('iot-central')).targets?.emulator)).toEqual([
      '--limits',
      'iot-central',
    ]);
  });
});

describe('edgefleet emulator', () => {
  const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
  const refusal = (args: string[]) =>
    new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'emulator', '--ephemeral', ...args], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('close', (status) => resolve({ status, stderr }));
    });

  it('refuses limit flags that do not fit, saying what to fix', async () => {
    const cases = [
      [['--hub-tier', 'F1', '--hub-units', '2'], 'hub units of F1 must be a whole number from 1 to 1 (got 2)'],
      [['--hub-units', '2'], 'hub units need a hub tier'],
      [['--hub-tier', 'S1', '--limits', 'iot-central'], 'give a hub tier or IoT Central limits, not both'],
      [['--hub-tier', 'S1', '--shaping-queue', 'soon'], '--shaping-queue: expected a duration'],
      [['--shaping-burst', '0s'], '--shaping-burst and --shaping-queue need a limit'],
    ] as const;
    const results = await Promise.all(cases.map(([args]) => refusal([...args])));
    cases.forEach(([args, message], i) => {
      expect(results[i]?.status, args.join(' ')).not.toBe(0);
      expect(results[i]?.stderr).toContain(message);
    });
  });
});
