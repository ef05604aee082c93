// Tools for restarting the emulator under a cloud full of things: filling it as users do (DPS, REST, the hub's
// HTTPS registry, MQTT), reading back everything its REST API shows, a device publishing QoS 1 as fast as it can,
// and the emulator command run until it exits.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import type { EmulatorInfo } from '../../src/emulator/index.js';
import { createSasToken, parseTopic, sasResource, topic } from '../../src/protocol/index.js';
import { hubHttps } from '../support/emulator.js';
import { dpsCredentials, hubCredentials, keyOf, mqttConnect, nextMessage, restCall } from './abuse-kit.js';

const CLI = join(process.cwd(), 'dist/cli/main.js');
export const MODEL = 'dtmi:com:example:Thermostat;1';
/** The device that sends telemetry while the emulator is killed. */
export const PUBLISHER = 'fast-publisher';

async function ok(info: EmulatorInfo, method: string, path: string, body?: unknown): Promise<any> {
  const r = await restCall(info, method, path, body);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

/** Registers through DPS with `payload`, as a device of `group`; returns the registration state. */
export async function register(
  info: EmulatorInfo,
  id: string,
  group: 'devices' | 'edgeDevices',
  payload: unknown,
): Promise<{ status: string; registrationState: { substatus: string; assignedHub: string } }> {
  const client = await mqttConnect(info, dpsCredentials(info, id, keyOf(info, id, group)));
  try {
    await client.subscribeAsync('$dps/registrations/res/#', { qos: 1 });
    const accepted = nextMessage(client, 'dpsResponse');
    await client.publishAsync(topic.dpsRegister('1'), JSON.stringify({ registrationId: id, payload }), { qos: 1 });
    const { operationId } = JSON.parse((await accepted).payload.toString()) as { operationId: string };
    const assigned = nextMessage(client, 'dpsResponse');
    await client.publishAsync(topic.dpsPoll('2', operationId), ' ', { qos: 1 });
    return JSON.parse((await assigned).payload.toString());
  } finally {
    await client.endAsync(true);
  }
}

/** A device's hub connection (twin responses, desired patches and methods subscribed; methods answered 200). */
export async function hubDevice(info: EmulatorInfo, id: string, group: 'devices' | 'edgeDevices' = 'devices') {
  const client = await mqttConnect(info, hubCredentials(info, id, keyOf(info, id, group)));
  await client.subscribeAsync(['$iothub/twin/res/#', '$iothub/methods/POST/#'], { qos: 0 });
  client.on('message', (t, payload) => {
    const parsed = parseTopic(t);
    if (parsed?.kind !== 'methodRequest') return;
    const answer = { done: parsed.name, got: JSON.parse(payload.toString()) };
    client.publish(topic.methodResponse(200, parsed.rid), JSON.stringify(answer));
  });
  return client;
}

let rid = 0;

export interface TwinAnswer {
  status: number;
  version?: number;
  body: any;
}

/** A twin request (GET, or a reported PATCH with `patch`) and its answer: status, version and body. */
export async function twinRequest(client: MqttClient, patch?: unknown): Promise<TwinAnswer> {
  const id = `r${++rid}`;
  const answer = new Promise<TwinAnswer>((resolve) => {
    const onMessage = (t: string, payload: Buffer) => {
      const parsed = parseTopic(t);
      if (parsed?.kind !== 'twinResponse' || parsed.rid !== id) return;
      client.off('message', onMessage);
      const text = payload.toString();
      const version = parsed.version === undefined ? {} : { version: parsed.version };
      resolve({ status: parsed.status, ...version, body: text ? JSON.parse(text) : undefined });
    };
    client.on('message', onMessage);
  });
  if (patch === undefined) client.publish(topic.twinGet(id), '');
  else client.publish(topic.twinReportedPatch(id), JSON.stringify(patch));
  return answer;
}

/** The deployment manifest the cloud holds: system modules and one custom module with desired properties. */
export const MANIFEST = {
  modulesContent: {
    $edgeAgent: {
      'properties.desired': { schemaVersion: '1.1', modules: { translator: { type: 'docker', status: 'running' } } },
    },
    $edgeHub: { 'properties.desired': { schemaVersion: '1.1', routes: { up: 'FROM /messages/* INTO $upstream' } } },
    translator: { 'properties.desired': { mapping: { temp: 'temperature' } } },
  },
};

/**
 * Fills the cloud: devices by DPS (with a model id, and one below a gateway) and by REST (one disabled), an IoT Edge
 * device with a deployment manifest and a module it made itself over the hub's HTTPS registry, desired and reported
 * properties, a relationship with an id of its own, a pending C2D message, a command with its history, telemetry.
 */
export async function populate(info: EmulatorInfo): Promise<void> {
  await populateRegistry(info);
  await ok(info, 'PATCH', '/api/devices/rest-device/properties', { targetTemperature: 21 });
  await ok(info, 'PATCH', '/api/devices/rest-device/properties', { targetTemperature: 22, fanSpeed: 3 });
  await ok(info, 'PATCH', '/api/devices/edge-gw/modules/translator/properties', { threshold: 5 });
  await ok(info, 'PUT', '/api/devices/edge-gw/relationships/rel-1', { target: 'rest-device' });
  const c2d = { data: { text: 'hello' }, properties: { kind: 'greeting' } };
  await ok(info, 'POST', '/api/devices/rest-device/messages', c2d);
  const sensor = await hubDevice(info, 'dps-sensor');
  try {
    for (const patch of [{ firmware: '1.0' }, { firmware: '1.2', battery: 80 }]) {
      const r = await twinRequest(sensor, patch);
      if (r.status !== 204) throw new Error(`reported patch: ${r.status}`);
    }
    for (let i = 0; i < 5; i++) {
      const body = JSON.stringify({ temperature: 20 + i });
      await sensor.publishAsync(topic.telemetry({ deviceId: 'dps-sensor' }), body, { qos: 1 });
    }
    await ok(info, 'POST', '/api/devices/dps-sensor/commands/reboot', { request: { delay: 1 } });
  } finally {
    await sensor.endAsync();
  }
}

async function populateRegistry(info: EmulatorInfo): Promise<void> {
  await ok(info, 'PUT', '/api/deploymentManifests/m1', { displayName: 'translator gateway', data: MANIFEST });
  await ok(info, 'PUT', '/api/devices/edge-gw', { displayName: 'Gateway', iotEdge: true, deploymentManifest: 'm1' });
  const host = `${info.hubHostName}:${info.mqttPort}`;
  const edgeToken = createSasToken({
    resourceUri: sasResource.device(host, 'edge-gw'),
    key: keyOf(info, 'edge-gw', 'edgeDevices'),
    expiry: Math.floor(Date.now() / 1000) + 3600,
  });
  const modulePath = '/devices/edge-gw/modules/filter?api-version=2021-04-12';
  const made = await hubHttps(info, 'PUT', modulePath, edgeToken, { managedBy: 'iotEdge' });
  if (made.status !== 200) throw new Error(`module PUT: ${made.status} ${JSON.stringify(made.json)}`);
  await register(info, 'dps-sensor', 'devices', { modelId: MODEL });
  const gateway = { iotcGatewayId: 'edge-gw', iotcModuleId: 'translator' };
  await register(info, 'dps-leaf', 'devices', { modelId: MODEL, iotcGateway: gateway });
  const restDevice = { displayName: 'Made over REST', template: MODEL, simulated: true };
  await ok(info, 'PUT', '/api/devices/rest-device', restDevice);
  await ok(info, 'PUT', '/api/devices/rest-disabled', { enabled: false });
  await ok(info, 'PUT', `/api/devices/${PUBLISHER}`, {});
}

/** Every page of a list. */
async function all(info: EmulatorInfo, path: string): Promise<unknown[]> {
  const items: unknown[] = [];
  let next: string | undefined = `${path}?$top=2`;
  while (next !== undefined) {
    const page = await ok(info, 'GET', next);
    items.push(...(page.value as unknown[]));
    next = page.nextLink === undefined ? undefined : new URL(page.nextLink).pathname + new URL(page.nextLink).search;
  }
  return items;
}

/** Everything the REST API shows of the cloud (and /stats), to compare before and after a restart. */
export async function snapshot(info: EmulatorInfo): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const devices = (await all(info, '/api/devices')) as { id: string; iotEdge: boolean }[];
  out.devices = devices;
  for (const { id, iotEdge } of devices) {
    out[`${id}/credentials`] = await ok(info, 'GET', `/api/devices/${id}/credentials`);
    out[`${id}/properties`] = await ok(info, 'GET', `/api/devices/${id}/properties`);
    out[`${id}/relationships`] = await ok(info, 'GET', `/api/devices/${id}/relationships`);
    if (!iotEdge) continue;
    out[`${id}/modules`] = await ok(info, 'GET', `/api/devices/${id}/modules`);
    for (const m of ['$edgeAgent', '$edgeHub', 'translator', 'filter']) {
      const path = `/api/devices/${id}/modules/${encodeURIComponent(m)}/properties`;
      out[`${id}/${m}/properties`] = await ok(info, 'GET', path);
    }
  }
  out.manifests = await all(info, '/api/deploymentManifests');
  out.history = await ok(info, 'GET', '/api/devices/dps-sensor/commands/reboot');
  out.lastTemperature = await ok(info, 'GET', '/api/devices/dps-sensor/telemetry/temperature');
  out.stats = (await restCall(info, 'GET', '/stats')).json;
  return out;
}

/**
 * A device sending QoS 1 telemetry as fast as the emulator acknowledges it, `window` messages in flight: every
 * PUBACK sends the next. `acked` counts the PUBACKs it got.
 */
export class FastPublisher {
  sent = 0;
  acked = 0;
  private stopped = false;
  readonly closed: Promise<void>;

  private constructor(
    private readonly client: MqttClient,
    window: number,
  ) {
    this.closed = new Promise((resolve) => client.once('close', () => resolve()));
    client.on('error', () => {});
    for (let i = 0; i < window; i++) this.next();
  }

  static async start(info: EmulatorInfo, window = 64): Promise<FastPublisher> {
    const client = await mqttConnect(info, hubCredentials(info, PUBLISHER, keyOf(info, PUBLISHER, 'devices')));
    return new FastPublisher(client, window);
  }

  private next(): void {
    if (this.stopped || !this.client.connected) return;
    this.sent += 1;
    const body = JSON.stringify({ n: this.sent });
    this.client.publish(topic.telemetry({ deviceId: PUBLISHER }), body, { qos: 1 }, (err) => {
      if (err) return;
      this.acked += 1;
      this.next();
    });
  }

  /** Stops sending, waits for what is in flight, and disconnects. */
  async stop(): Promise<void> {
    this.stopped = true;
    const deadline = Date.now() + 10_000;
    while (this.acked < this.sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await this.client.endAsync();
  }
}

/** `edgefleet emulator` with `args` run until it exits (a refusal); what it printed, and its exit code. */
export function emulatorUntilExit(args: string[], ms = 20_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'emulator', '--mqtt-port', '0', '--http-port', '0', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
