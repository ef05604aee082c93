// The baseline: plain mqtt.js clients written the way one would by hand, nothing from edgefleet on the path.
// Same CONNECT (clean=false, keepalive 180, SAS password), the same four subscriptions at QoS 1, one twin GET,
// then, for telemetry, a self-correcting timer per client publishing the same topic and body as edgefleet.
import { createHmac } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { clampUs, latencyHistogram, percentiles } from '../measure.js';
import type { ClosedLoop } from '../measure.js';
import { localAddressFor, TELEMETRY_BODY, type AdapterFactory, type TelemetryWindow } from './adapter.js';

const now = () => performance.timeOrigin + performance.now();

function sasToken(hubHost: string, deviceId: string, key: string, ttlSeconds: number): string {
  const sr = encodeURIComponent(`${hubHost}/devices/${deviceId}`);
  const se = Math.floor(Date.now() / 1000) + ttlSeconds;
  const sig = createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n${se}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}`;
}

export const mqttjsAdapter: AdapterFactory = async (job, keys, ids, warm) => {
  const { host, port, hubHost, caPem } = job.target;
  // The baseline gives each connection the CA, as one would by hand; the experiment shares one context.
  const tlsOptions =
    job.variant === 'mqttjsSharedTls' ? { secureContext: createSecureContext({ ca: caPem }) } : { ca: caPem };
  const clients: (MqttClient | undefined)[] = new Array(ids.length);
  const timers: (NodeJS.Timeout | undefined)[] = new Array(ids.length);
  const connectLatency = latencyHistogram();
  const puback = latencyHistogram();
  const pubackCorrected = latencyHistogram();
  let loop: ClosedLoop | undefined;
  let recording = false;
  let closing = false;
  const counts = { sent: 0, acknowledged: 0, failed: 0 };
  let windowFrom = { sent: 0, acknowledged: 0, failed: 0 };
  const telemetry = job.telemetry;

  const startTelemetry = (client: MqttClient, i: number, deviceId: string) => {
    if (telemetry === undefined) return;
    const interval = telemetry.intervalMs;
    const prefix = `devices/${deviceId}/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8&iothub-creation-time-utc=`;
    let nextAt = now() + Math.random() * interval;
    const tick = () => {
      if (closing) return;
      const intended = nextAt;
      nextAt += interval;
      const started = now();
      counts.sent++;
      client.publish(
        prefix + encodeURIComponent(new Date(intended).toISOString()),
        JSON.stringify(TELEMETRY_BODY),
        { qos: 1 },
        (err) => {
          if (err) {
            counts.failed++;
            return;
          }
          counts.acknowledged++;
          if (recording) {
            const t = now();
            puback.recordValue(clampUs((t - started) * 1000));
            pubackCorrected.recordValue(clampUs((t - intended) * 1000));
          }
        },
      );
      timers[i] = setTimeout(tick, Math.max(0, nextAt - now()));
    };
    timers[i] = setTimeout(tick, Math.max(0, nextAt - now()));
  };

  /** CONNECT, subscribe, twin GET; `settle` once with the outcome. */
  const dial = (
    deviceId: string,
    key: string,
    localAddress: string | undefined,
    settle: (client: MqttClient, ok: boolean, err?: unknown) => void,
  ): MqttClient => {
    const options: IClientOptions = {
      protocol: 'mqtts',
      host,
      port,
      ...tlsOptions,
      clientId: deviceId,
      username: `${hubHost}/${deviceId}/?api-version=2021-04-12`,
      password: sasToken(hubHost, deviceId, key, 3600),
      protocolVersion: 4,
      clean: false,
      keepalive: 180,
      reconnectPeriod: 0,
      connectTimeout: 30_000,
      resubscribe: false,
      ...(localAddress === undefined ? {} : ({ localAddress } as IClientOptions)),
    };
    const client = mqtt.connect(options);
    let settled = false;
    const once = (ok: boolean, err?: unknown) => {
      if (settled) return;
      settled = true;
      if (!ok) client.end(true);
      settle(client, ok, err);
    };
    client.on('message', (topic) => {
      if (topic.startsWith('$iothub/twin/res/')) {
        if (topic.startsWith('$iothub/twin/res/200/')) once(true);
        else once(false, new Error(`twin GET answered ${topic.split('/')[3]}`));
      }
    });
    client.on('error', (err) => once(false, err));
    client.once('close', () => once(false, new Error('closed before the twin was answered')));
    client.once('connect', () => {
      client.subscribe(
        [
          '$iothub/twin/res/#',
          '$iothub/twin/PATCH/properties/desired/#',
          '$iothub/methods/POST/#',
          `devices/${deviceId}/messages/devicebound/#`,
        ],
        { qos: 1 },
        (err, granted) => {
          if (err || (granted ?? []).some((g) => g.qos === 128))
            return once(false, err ?? new Error('subscription refused'));
          client.publish('$iothub/twin/GET/?$rid=1', '', { qos: 0 });
        },
      );
    });
    return client;
  };

  const connectOne = (i: number) => {
    const deviceId = ids[i] as string;
    const started = now();
    clients[i] = dial(deviceId, keys[i] as string, localAddressFor(job, i), (client, ok, err) => {
      if (ok) {
        connectLatency.recordValue(clampUs((now() - started) * 1000));
        startTelemetry(client, i, deviceId);
      }
      loop?.complete(ok, err);
    });
  };

  return {
    prepare(l) {
      loop = l;
    },
    warmup: () =>
      new Promise<void>((resolve, reject) => {
        dial(warm.id, warm.key, localAddressFor(job, 0), (client, ok, err) => {
          if (!ok) return reject(err instanceof Error ? err : new Error(String(err)));
          client.end(false, {}, () => resolve());
        });
      }),
    launch: connectOne,
    connectLatency: () => ({ what: 'TLS+CONNECT+SUBSCRIBE+twin GET', stats: percentiles(connectLatency) }),
    windowStart() {
      puback.reset();
      pubackCorrected.reset();
      windowFrom = { ...counts };
      recording = true;
    },
    windowEnd(): TelemetryWindow {
      recording = false;
      return {
        sent: counts.sent - windowFrom.sent,
        acknowledged: counts.acknowledged - windowFrom.acknowledged,
        failed: counts.failed - windowFrom.failed,
        inFlight: counts.sent - counts.acknowledged - counts.failed,
        puback: percentiles(puback),
        pubackCorrected: percentiles(pubackCorrected),
      };
    },
    async close() {
      closing = true;
      for (const t of timers) if (t !== undefined) clearTimeout(t);
      await Promise.all(
        clients.map((c) => (c === undefined ? undefined : new Promise<void>((r) => c.end(true, {}, () => r())))),
      );
    },
  };
};
