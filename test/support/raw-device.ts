// A bare mqtt.js client speaking the Azure IoT dialect, for driving the emulator into corners the
// official SDK never goes (garbage, wrong topics, floods).
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import {
  buildDpsUsername,
  buildHubUsername,
  createSasToken,
  deriveDeviceKey,
  parseTopic,
  sasResource,
  topic,
} from '../../src/protocol/index.js';
import type { Emulator } from '../../src/emulator/index.js';
import { caOf } from './emulator.js';

const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

export function mqttOptions(emulator: Emulator, extra: IClientOptions): IClientOptions {
  return {
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ca: caOf(emulator),
    servername: 'localhost',
    ...extra,
  };
}

/** Connects and resolves with the client, or rejects with the CONNACK error. */
export async function connectRaw(emulator: Emulator, opts: IClientOptions): Promise<MqttClient> {
  const client = mqtt.connect(`mqtts://localhost:${emulator.info.mqttPort}`, mqttOptions(emulator, opts));
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
      client.once('close', () => reject(new Error('closed before CONNACK')));
    });
  } catch (err) {
    client.end(true);
    throw err;
  }
  return client;
}

export function hubCredentials(
  emulator: Emulator,
  deviceId: string,
  key: string,
  moduleId?: string,
  expiry = inAnHour(),
) {
  const host = `${emulator.info.hubHostName}:${emulator.info.mqttPort}`;
  const identity = moduleId === undefined ? { deviceId } : { deviceId, moduleId };
  return {
    clientId: moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`,
    username: buildHubUsername({ hubHost: host, ...identity }),
    password: createSasToken({
      resourceUri:
        moduleId === undefined ? sasResource.device(host, deviceId) : sasResource.module(host, deviceId, moduleId),
      key,
      expiry,
    }),
  };
}

/** Waits for the next message on a topic of the given kind. */
export function nextMessage(
  client: MqttClient,
  kind: string,
  timeoutMs = 5000,
): Promise<{ topic: string; payload: Buffer }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`no ${kind} message within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (t: string, payload: Buffer) => {
      if (parseTopic(t)?.kind !== kind) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve({ topic: t, payload });
    };
    client.on('message', onMessage);
  });
}

/** Registers through DPS with a key derived from a group key; returns the device key. */
export async function provisionRaw(
  emulator: Emulator,
  registrationId: string,
  group: 'devices' | 'edgeDevices',
  payload?: object,
): Promise<string> {
  const { idScope } = emulator.info;
  const key = deriveDeviceKey(emulator.info.enrollmentGroups[group].primaryKey, registrationId);
  const client = await connectRaw(emulator, {
    clientId: registrationId,
    username: buildDpsUsername(idScope, registrationId),
    password: createSasToken({
      resourceUri: sasResource.registration(idScope, registrationId),
      key,
      expiry: inAnHour(),
      keyName: 'registration',
    }),
  });
  try {
    await client.subscribeAsync('$dps/registrations/res/#', { qos: 1 });
    const accepted = nextMessage(client, 'dpsResponse');
    client.publish(topic.dpsRegister('1'), JSON.stringify({ registrationId, ...(payload ? { payload } : {}) }), {
      qos: 1,
    });
    const first = await accepted;
    const { operationId } = JSON.parse(first.payload.toString());
    if (!operationId) throw new Error(`registration refused: ${first.topic} ${first.payload.toString()}`);
    const assigned = nextMessage(client, 'dpsResponse');
    client.publish(topic.dpsPoll('2', operationId), ' ', { qos: 1 });
    const result = JSON.parse((await assigned).payload.toString());
    if (result.status !== 'assigned') throw new Error(`registration ended ${result.status}`);
    return key;
  } finally {
    await client.endAsync(true);
  }
}
