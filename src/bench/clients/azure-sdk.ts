// The official Azure IoT SDK for Node: one Client (azure-iot-device + azure-iot-device-mqtt) per device, as its
// samples do: setOptions({ ca }), open(), C2D and method listeners, getTwin(), a desired-properties listener.
// The packages are CommonJS; see test/conformance/SDK-NOTES.md for how they behave on the wire.
import deviceSdk from 'azure-iot-device';
import type { Client as DeviceClient } from 'azure-iot-device';
import deviceMqtt from 'azure-iot-device-mqtt';
import { clampUs, latencyHistogram, percentiles, sleep } from '../measure.js';
import type { ClosedLoop } from '../measure.js';
import type { AdapterFactory } from './adapter.js';

const { Client } = deviceSdk;
const { Mqtt } = deviceMqtt;
const now = () => performance.now();

type Topics = { _transport?: { _topics?: Record<string, { subscribed?: boolean } | undefined> } };
const subscribedTo = (c: DeviceClient, topic: string) =>
  (c as unknown as Topics)._transport?._topics?.[topic]?.subscribed === true;

export const azureSdkAdapter: AdapterFactory = async (job, keys, ids, warm) => {
  const { host, port, hubHost, caPem } = job.target;
  const clients: (DeviceClient | undefined)[] = new Array(ids.length);
  const latency = latencyHistogram();
  let loop: ClosedLoop | undefined;

  const open = async (deviceId: string, key: string, keep: (c: DeviceClient) => void) => {
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
  };

  const connectOne = async (i: number) => {
    const started = now();
    await open(ids[i] as string, keys[i] as string, (c) => (clients[i] = c));
    latency.recordValue(clampUs((now() - started) * 1000));
  };

  return {
    prepare(l) {
      loop = l;
    },
    async warmup() {
      const c = await open(warm.id, warm.key, () => {});
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
      const deadline = Date.now() + 15_000;
      let missing = 0;
      for (;;) {
        missing = 0;
        for (const c of clients)
          if (c !== undefined && !(subscribedTo(c, 'message') && subscribedTo(c, 'method'))) missing++;
        if (missing === 0 || Date.now() > deadline) break;
        await sleep(20);
      }
      return missing === 0 ? [] : [`${missing} SDK clients still lacked a C2D or method SUBACK after 15 s`];
    },
    connectLatency: () => ({
      what: 'setOptions+open+getTwin+desired SUBACK (C2D/method SUBACKs awaited after)',
      stats: percentiles(latency),
    }),
    async close() {
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
    },
  };
};
