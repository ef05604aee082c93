// Tools for attacking the emulator as a stranger on the network could, with nothing but its documented ports and
// one device's own credentials: the emulator in a child process (so its memory and descriptors can be read), raw
// MQTT packets written by hand, and a well-behaved device that must notice nothing of it all.
import { readFileSync, readdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { EmulatorInfo } from '../../src/emulator/index.js';
import {
  buildDpsUsername,
  buildHubUsername,
  createSasToken,
  deriveDeviceKey,
  parseTopic,
  sasResource,
  topic,
} from '../../src/protocol/index.js';

const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the emulator in a child process --------------------------------------------------------------------------

export { startChildEmulator, type ChildEmulator } from '../support/child-emulator.js';

export interface Footprint {
  rssMb: number;
  fds: number;
}

/** Resident memory and open descriptors of a process, from /proc. */
export function footprint(pid: number): Footprint {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return { rssMb: Math.round(rssKb / 1024), fds: readdirSync(`/proc/${pid}/fd`).length };
}

/** Polls until `ok`, or fails with what it saw last. */
export async function until<T>(
  probe: () => T | Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`waited ${ms} ms for ${what}; saw ${JSON.stringify(v)}`);
    await sleep(100);
  }
}

// ---- HTTP -----------------------------------------------------------------------------------------------------

/** The REST API; `token: null` sends none, `raw` is sent as the body instead of JSON.stringify(body). */
export async function restCall(
  info: EmulatorInfo,
  method: string,
  path: string,
  body?: unknown,
  opts: { token?: string | null; raw?: string } = {},
): Promise<{ status: number; json: any }> {
  const url = new URL(path, info.restUrl);
  if (url.pathname.startsWith('/api/')) url.searchParams.set('api-version', '2022-07-31');
  const token = opts.token === undefined ? info.apiToken : opts.token;
  const payload = opts.raw ?? (body === undefined ? undefined : JSON.stringify(body));
  const res = await fetch(url, {
    method,
    headers: { ...(token === null ? {} : { authorization: token }), 'content-type': 'application/json' },
    ...(payload === undefined ? {} : { body: payload }),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text.length === 0 ? undefined : JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

/** `/stats` `rejections`. */
export async function rejections(info: EmulatorInfo): Promise<Record<string, number>> {
  return (await restCall(info, 'GET', '/stats')).json.rejections as Record<string, number>;
}

// ---- MQTT -----------------------------------------------------------------------------------------------------

const tlsOptions = (info: EmulatorInfo) => ({ ca: readFileSync(info.caCertPath), servername: 'localhost' });

export function mqttConnect(info: EmulatorInfo, opts: IClientOptions): Promise<MqttClient> {
  const client = mqtt.connect(`mqtts://localhost:${info.mqttPort}`, {
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...tlsOptions(info),
    ...opts,
  });
  return new Promise((resolvePromise, reject) => {
    client.once('connect', () => resolvePromise(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

export function hubCredentials(info: EmulatorInfo, deviceId: string, key: string, moduleId?: string, keyName?: string) {
  const host = `${info.hubHostName}:${info.mqttPort}`;
  const identity = moduleId === undefined ? { deviceId } : { deviceId, moduleId };
  return {
    clientId: moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`,
    username: buildHubUsername({ hubHost: host, ...identity }),
    password: createSasToken({
      resourceUri:
        moduleId === undefined ? sasResource.device(host, deviceId) : sasResource.module(host, deviceId, moduleId),
      key,
      expiry: inAnHour(),
      ...(keyName === undefined ? {} : { keyName }),
    }),
  };
}

export function dpsCredentials(info: EmulatorInfo, registrationId: string, key: string) {
  return {
    clientId: registrationId,
    username: buildDpsUsername(info.idScope, registrationId),
    password: createSasToken({
      resourceUri: sasResource.registration(info.idScope, registrationId),
      key,
      expiry: inAnHour(),
      keyName: 'registration',
    }),
  };
}

/** The next message on a topic of `kind`. */
export function nextMessage(client: MqttClient, kind: string, ms = 5000): Promise<{ topic: string; payload: Buffer }> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`no ${kind} message within ${ms} ms`));
    }, ms);
    const onMessage = (t: string, payload: Buffer) => {
      if (parseTopic(t)?.kind !== kind) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolvePromise({ topic: t, payload });
    };
    client.on('message', onMessage);
  });
}

/** Registers through DPS with a key derived from the group; returns the device key. */
export async function provision(info: EmulatorInfo, id: string, group: 'devices' | 'edgeDevices'): Promise<string> {
  const key = deriveDeviceKey(info.enrollmentGroups[group].primaryKey, id);
  const client = await mqttConnect(info, dpsCredentials(info, id, key));
  try {
    await client.subscribeAsync('$dps/registrations/res/#', { qos: 1 });
    const accepted = nextMessage(client, 'dpsResponse');
    client.publish(topic.dpsRegister('1'), JSON.stringify({ registrationId: id }), { qos: 1 });
    const { operationId } = JSON.parse((await accepted).payload.toString()) as { operationId: string };
    const assigned = nextMessage(client, 'dpsResponse');
    client.publish(topic.dpsPoll('2', operationId), ' ', { qos: 1 });
    const result = JSON.parse((await assigned).payload.toString()) as { status: string };
    if (result.status !== 'assigned') throw new Error(`registration of ${id} ended ${result.status}`);
    return key;
  } finally {
    await client.endAsync(true);
  }
}

/** The device key a group derives for `id`. */
export const keyOf = (info: EmulatorInfo, id: string, group: 'devices' | 'edgeDevices') =>
  deriveDeviceKey(info.enrollmentGroups[group].primaryKey, id);

// ---- raw MQTT packets -----------------------------------------------------------------------------------------

function remainingLength(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    bytes.push(byte);
  } while (n > 0);
  return Buffer.from(bytes);
}

const field = (value: string | Buffer) => {
  const b = typeof value === 'string' ? Buffer.from(value) : value;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
};

const packet = (firstByte: number, body: Buffer) =>
  Buffer.concat([Buffer.from([firstByte]), remainingLength(body.length), body]);

export const raw = {
  connect(o: { clientId: string; username?: string; password?: string; clean?: boolean }): Buffer {
    const flags =
      (o.username !== undefined ? 0x80 : 0) | (o.password !== undefined ? 0x40 : 0) | (o.clean === false ? 0 : 0x02);
    const header = Buffer.concat([field('MQTT'), Buffer.from([4, flags, 0, 60])]);
    const payload = [field(o.clientId)];
    if (o.username !== undefined) payload.push(field(o.username));
    if (o.password !== undefined) payload.push(field(o.password));
    return packet(0x10, Buffer.concat([header, ...payload]));
  },
  subscribe(messageId: number, filter: string, qos: number): Buffer {
    const id = Buffer.alloc(2);
    id.writeUInt16BE(messageId);
    return packet(0x82, Buffer.concat([id, field(filter), Buffer.from([qos])]));
  },
  /** A QoS 0 PUBLISH. */
  publish(topicName: string, payload: string | Buffer): Buffer {
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    return packet(0x30, Buffer.concat([field(topicName), body]));
  },
};

/** A TLS connection (to the MQTT port unless told), once its handshake is done. */
export function rawTls(info: EmulatorInfo, port = info.mqttPort): Promise<TLSSocket> {
  return new Promise((resolvePromise, reject) => {
    const socket = tlsConnect({ port, host: '127.0.0.1', ...tlsOptions(info) }, () => resolvePromise(socket));
    socket.once('error', reject);
  });
}

/**
 * A raw MQTT session: CONNECT and one SUBSCRIBE, resolved once the SUBACK arrived, with the socket paused from then
 * on, so that it reads nothing more unless resumed.
 */
export async function rawSession(
  info: EmulatorInfo,
  credentials: { clientId: string; username: string; password: string; clean?: boolean },
  filter: string,
  qos: number,
): Promise<TLSSocket> {
  const socket = await rawTls(info);
  socket.on('error', () => {});
  await new Promise<void>((resolvePromise, reject) => {
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      // CONNACK is 4 bytes; the SUBACK (0x90) follows it.
      if (seen.length >= 5 && seen[0] === 0x20 && seen[4] === 0x90) {
        socket.off('data', onData);
        socket.pause();
        resolvePromise();
      }
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed before SUBACK (got ${seen.toString('hex').slice(0, 40)})`)));
    socket.write(raw.connect(credentials));
    socket.write(raw.subscribe(1, filter, qos));
  });
  return socket;
}

/** Resolves when `socket` has closed (or had already); the flag says whether it did within `ms`. */
export function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((r) => {
    if (socket.destroyed) return r(true);
    const timer = setTimeout(() => r(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      r(true);
    });
  });
}

// ---- the well-behaved device ----------------------------------------------------------------------------------

/**
 * A device that sends QoS 1 telemetry every 100 ms for as long as the attacks last, and records every disconnect,
 * error and PUBACK that does not come.
 */
export class SteadyDevice {
  sent = 0;
  acked = 0;
  readonly problems: string[] = [];
  private readonly timer: NodeJS.Timeout;
  private stopping = false;

  private constructor(
    private readonly client: MqttClient,
    private readonly deviceId: string,
  ) {
    client.on('close', () => {
      if (!this.stopping) this.problems.push(`disconnected after ${this.sent} messages`);
    });
    // Once stop() disconnects, a reset racing its DISCONNECT is not the emulator's doing.
    client.on('error', (err) => {
      if (!this.stopping) this.problems.push(`error after ${this.sent} messages: ${err.message}`);
    });
    this.timer = setInterval(() => this.send(), 100);
  }

  static async start(info: EmulatorInfo, deviceId: string, key: string): Promise<SteadyDevice> {
    return new SteadyDevice(await mqttConnect(info, hubCredentials(info, deviceId, key)), deviceId);
  }

  private send(): void {
    this.sent += 1;
    const n = this.sent;
    this.client.publish(topic.telemetry({ deviceId: this.deviceId }), JSON.stringify({ n }), { qos: 1 }, (err) => {
      if (err) this.problems.push(`message ${n}: ${err.message}`);
      else this.acked += 1;
    });
  }

  /** Stops sending, waits for the PUBACKs still due, and disconnects. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await until(
      () => this.acked + this.problems.length,
      (n) => n >= this.sent,
      'the last PUBACKs',
      10_000,
    ).catch((err: Error) => this.problems.push(err.message));
    this.stopping = true;
    await this.client.endAsync();
  }
}
