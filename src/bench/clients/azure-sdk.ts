// The official Azure IoT SDK for Node: one Client (azure-iot-device + azure-iot-device-mqtt) per device, as its
// samples do: setOptions({ ca }), open(), C2D and method listeners, getTwin(), a desired-properties listener.
// The packages are CommonJS; see test/conformance/SDK-NOTES.md for how they behave on the wire.
import deviceSdk from 'azure-iot-device';
import type { Client as DeviceClient } from 'azure-iot-device';
import deviceMqtt from 'azure-iot-device-mqtt';
import { clampUs, latencyHistogram, percentiles, sleep } from '../measure.js';
import type { ClosedLoop } from '../measure.js';
import type { ClientJob } from '../job.js';
import type { AdapterFactory, ClientAdapter } from './adapter.js';

const { Client } = deviceSdk;
const { Mqtt } = deviceMqtt;
const now = () => performance.now();

type Topics = { _transport?: { _topics?: Record<string, { subscribed?: boolean } | undefined> } };
const subscribedTo = (c: DeviceClient, topic: string) =>
  (c as unknown as Topics)._transport?._topics?.[topic]?.subscribed === true;

type Target = ClientJob['target'];

/** One SDK client as the samples open it; `keep` sees it before it connects, so close() can reach it. */
async function openClient(target: Target, deviceId: string, key: string, keep: (c: DeviceClient) => void) {
  const { host, port, hubHost, caPem } = target;
  // GatewayHostName: the SDK dials it (an IP here, as the other clients do); HostName stays in the username and SAS.
  const cs = `HostName=${hubHost};DeviceId=${deviceId};SharedAccessKey=${key};GatewayHostName=${host}:${port}`;
  const client = Client.fromConnectionString(cs, Mqtt);
  keep(client);
  client.on('error', () => {});
  await client.setOptions({ ca: caPem });
  await client.open();
  client.on('message', () => {});
  client.onDeviceMethod('reboot', (_req, res) => void res.send(200, {}, () => {}));
  const twin = await client.getTwin();
  twin.on('properties.desired', () => {});
  await new Promise<void>((resolve, reject) =>
    twin.enableTwinDesiredPropertiesUpdates((err) => (err ? reject(err) : resolve())),
  );
  return client;
}

/** Waits up to 15 s for every client's C2D and method SUBACKs; how many clients still lack one. */
async function awaitBackgroundSubacks(clients: (DeviceClient | undefined)[]): Promise<number> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const missing = clients.filter(
      (c) => c !== undefined && !(subscribedTo(c, 'message') && subscribedTo(c, 'method')),
    ).length;
    if (missing === 0 || Date.now() > deadline) return missing;
    await sleep(20);
  }
}

async function closeAll(clients: (DeviceClient | undefined)[]): Promise<void> {
  await Promise.all(
    clients.map(async (c) => {
      if (c === undefined) return;
      try {
        await Promise.race([c.close(), sleep(5000)]);
      } catch {
        // never opened, or already gone
      }
    }),
  );
}

function azureSdkClients(...[job, keys, ids, warm]: Parameters<AdapterFactory>): ClientAdapter {
  const clients = new Array<DeviceClient | undefined>(ids.length);
  const latency = latencyHistogram();
  let loop: ClosedLoop | undefined;

  const connectOne = async (i: number) => {
    const started = now();
    await openClient(job.target, ids[i] as string, keys[i] as string, (c) => (clients[i] = c));
    latency.recordValue(clampUs((now() - started) * 1000));
  };

  return {
    prepare(l) {
      loop = l;
    },
    async warmup() {
      const c = await openClient(job.target, warm.id, warm.key, () => {});
      await c.close();
    },
    launch(i) {
      connectOne(i).then(
        () => loop?.complete(true),
        (err) => loop?.complete(false, err),
      );
    },
    /** The C2D and method subscriptions go out in the background, with no callback: wait for their SUBACKs. */
    async finish() {
      const missing = await awaitBackgroundSubacks(clients);
      return missing === 0 ? [] : [`${missing} SDK clients still lacked a C2D or method SUBACK after 15 s`];
    },
    connectLatency: () => ({
      what: 'setOptions+open+getTwin+desired SUBACK (C2D/method SUBACKs awaited after)',
      stats: percentiles(latency),
    }),
    close: () => closeAll(clients),
  };
}

export const azureSdkAdapter: AdapterFactory = (...args) => Promise.resolve(azureSdkClients(...args));
