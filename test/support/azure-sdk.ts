// The official Azure IoT SDK for Node, as a device would use it. These packages are CommonJS: their named exports
// are not all visible to ESM, so they are imported whole and taken apart here.
import { createHmac } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import deviceSdk from 'azure-iot-device';
import type { Client as DeviceClient, ModuleClient, Twin, Message as SdkMessage } from 'azure-iot-device';
import deviceMqtt from 'azure-iot-device-mqtt';
import provisioningSdk from 'azure-iot-provisioning-device';
import type { RegistrationResult } from 'azure-iot-provisioning-device';
import provisioningMqtt from 'azure-iot-provisioning-device-mqtt';
import symmetricKeySecurity from 'azure-iot-security-symmetric-key';
import x509Security from 'azure-iot-security-x509';
import type { EmulatorInfo } from '../../src/emulator/index.js';

export const { Client, ModuleClient: SdkModuleClient, Message } = deviceSdk;
export const createDeviceSas = deviceSdk.SharedAccessSignature.create;
const { ProvisioningDeviceClient } = provisioningSdk;
const HubMqtt = deviceMqtt.Mqtt;
const DpsMqtt = provisioningMqtt.Mqtt;
const { SymmetricKeySecurityClient } = symmetricKeySecurity;
const { X509Security } = x509Security;
/**
 * The security-client parameter type; the security packages pin their own copies of azure-iot-common, whose types
 * differ.
 */
type SecurityClient = Parameters<typeof ProvisioningDeviceClient.create>[3];

export type { DeviceClient, ModuleClient, Twin, SdkMessage, RegistrationResult };

/**
 * IoT Central / DPS group-enrollment key derivation, written out independently of src/:
 * base64(HMAC-SHA256(key = base64decode(groupKey), message = utf8(registrationId))).
 */
export function deriveDeviceKey(groupKey: string, registrationId: string): string {
  return createHmac('sha256', Buffer.from(groupKey, 'base64')).update(registrationId, 'utf8').digest('base64');
}

/** A registration id nobody else in this run uses. */
export const uniqueId = (prefix: string): string =>
  `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

/** The DPS endpoint the SDK dials: `mqtts://` + this (the SDK has no port option; `host:port` works). */
export const provisioningHost = (info: EmulatorInfo): string => `${info.dpsHost}:${info.dpsPort}`;

/** Rejects when `promise` does not settle within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The error `promise` rejects with; fails when it resolves instead. */
export async function rejectionOf(
  promise: Promise<unknown>,
  ms: number,
  what: string,
): Promise<Error & Record<string, any>> {
  let value: unknown;
  try {
    value = await within(promise, ms, what);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('timed out after')) throw err;
    return err as Error & Record<string, any>;
  }
  throw new Error(`${what}: expected a failure, but it succeeded with ${JSON.stringify(value)}`);
}

/** DPS registration with a symmetric key (SymmetricKeySecurityClient over MQTT), as a device does it. */
export async function registerWithSymmetricKey(
  info: EmulatorInfo,
  registrationId: string,
  deviceKey: string,
  payload?: Record<string, unknown>,
): Promise<RegistrationResult> {
  const client = ProvisioningDeviceClient.create(
    provisioningHost(info),
    info.idScope,
    new DpsMqtt(),
    new SymmetricKeySecurityClient(registrationId, deviceKey) as unknown as SecurityClient,
  );
  if (payload !== undefined) client.setProvisioningPayload(payload);
  return within(client.register() as Promise<RegistrationResult>, 20_000, `DPS registration of ${registrationId}`);
}

/** DPS registration with an X.509 certificate (X509Security over MQTT); the registration id is the certificate CN. */
export async function registerWithX509(
  info: EmulatorInfo,
  registrationId: string,
  credentials: { cert: string; key: string },
): Promise<RegistrationResult> {
  const client = ProvisioningDeviceClient.create(
    provisioningHost(info),
    info.idScope,
    new DpsMqtt(),
    new X509Security(registrationId, credentials),
  );
  return within(
    client.register() as Promise<RegistrationResult>,
    20_000,
    `DPS X.509 registration of ${registrationId}`,
  );
}

/** Collects the `error` events an SDK client emits (an unhandled one would crash the worker). */
export function collectErrors(emitter: EventEmitter): Error[] {
  const errors: Error[] = [];
  emitter.on('error', (err: Error) => errors.push(err));
  return errors;
}

/**
 * A device client over MQTT from a connection string; `ca` via `setOptions` (the hub client, unlike the
 * provisioning client, accepts one), plus `cert`/`key` for X.509. Not opened.
 */
export async function deviceClient(
  connectionString: string,
  options: { ca: string; cert?: string; key?: string },
): Promise<DeviceClient> {
  const client = Client.fromConnectionString(connectionString, HubMqtt);
  collectErrors(client);
  await client.setOptions(options);
  return client;
}

/** A module client over MQTT from a module connection string (`…;ModuleId=…;SharedAccessKey=…`). Not opened. */
export async function moduleClient(connectionString: string, options: { ca: string }): Promise<ModuleClient> {
  const client = SdkModuleClient.fromConnectionString(connectionString, HubMqtt);
  collectErrors(client);
  await client.setOptions(options);
  return client;
}

/** A device client from a ready-made SAS token (`Client.fromSharedAccessSignature`). Not opened. */
export async function deviceClientFromSas(sas: string, options: { ca: string }): Promise<DeviceClient> {
  const client = Client.fromSharedAccessSignature(sas, HubMqtt);
  collectErrors(client);
  await client.setOptions(options);
  return client;
}

/** Closes SDK clients, ignoring failures (for afterAll). */
export async function closeAll(...clients: ({ close(): Promise<unknown> } | undefined)[]): Promise<void> {
  await Promise.all(
    clients.map(async (c) => {
      if (c === undefined) return;
      try {
        await within(c.close(), 5000, 'closing an SDK client');
      } catch {
        // already closed, never opened, or the connection is gone: nothing to release
      }
    }),
  );
}

/** `twin.properties.reported.update` as a promise. */
export function reportProperties(twin: Twin, patch: Record<string, unknown>): Promise<void> {
  return within(
    new Promise<void>((resolve, reject) => {
      twin.properties.reported.update(patch, (err?: Error) => (err ? reject(err) : resolve()));
    }),
    10_000,
    `reported properties update ${JSON.stringify(patch)}`,
  );
}

/**
 * Resolves once `twin` is subscribed to desired-property updates (its SUBACK arrived).
 * `Twin.enableTwinDesiredPropertiesUpdates` is public in the SDK's typings; when a `properties.desired` listener
 * already started the subscription it waits for it.
 */
export function desiredUpdatesEnabled(twin: Twin): Promise<void> {
  return within(
    new Promise<void>((resolve, reject) => {
      twin.enableTwinDesiredPropertiesUpdates((err?: Error) => (err ? reject(err) : resolve()));
    }),
    10_000,
    'subscribing to desired property updates',
  );
}

/**
 * Resolves once the SDK's MQTT transport holds a granted subscription for direct methods (`method`), C2D (`message`)
 * or module inputs (`inputMessage`). `onDeviceMethod`/`onMethod`/`on('message')` subscribe in the background with no
 * callback, and the emulator may acknowledge later packets before a SUBSCRIBE, so tests wait for the SDK's own
 * flag: azure-iot-device-mqtt 1.16 `Mqtt._topics[name].subscribed`, set in the SUBACK callback
 * (dist/mqtt.js `_setupSubscription`).
 */
export async function subscribed(
  client: DeviceClient | ModuleClient,
  topic: 'method' | 'message' | 'inputMessage',
  timeoutMs = 10_000,
): Promise<void> {
  const transport = (
    client as unknown as { _transport: { _topics?: Record<string, { subscribed?: boolean } | undefined> } }
  )._transport;
  const deadline = Date.now() + timeoutMs;
  while (transport._topics?.[topic]?.subscribed !== true) {
    if (Date.now() > deadline)
      throw new Error(`the SDK never got a SUBACK for its ${topic} subscription within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The next event on `emitter` whose first argument passes `accept`. */
export function nextEvent<T>(
  emitter: EventEmitter,
  event: string,
  accept: (value: T) => boolean,
  ms: number,
  what: string,
): Promise<T> {
  let listener: ((value: T) => void) | undefined;
  const seen = new Promise<T>((resolve) => {
    listener = (value: T) => {
      if (accept(value)) resolve(value);
    };
    emitter.on(event, listener);
  });
  return within(seen, ms, what).finally(() => {
    if (listener !== undefined) emitter.off(event, listener);
  });
}

/** A telemetry message as IoT Central devices send it: JSON body with content type and encoding set. */
export function jsonMessage(body: unknown, properties: Record<string, string> = {}): SdkMessage {
  const message = new Message(JSON.stringify(body));
  message.contentType = 'application/json';
  message.contentEncoding = 'utf-8';
  for (const [k, v] of Object.entries(properties)) message.properties.add(k, v);
  return message;
}
