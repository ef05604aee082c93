// The baseline: plain mqtt.js clients written the way one would by hand, nothing from edgefleet on the path.
// Same CONNECT (clean=false, keepalive 180, SAS password), the same four subscriptions at QoS 1, one twin GET,
// then, for telemetry, a self-correcting timer per client publishing the same topic and body as edgefleet.
import { createHmac } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { clampUs, latencyHistogram, percentiles } from '../measure.js';
import type { ClosedLoop } from '../measure.js';
import type { ClientJob } from '../job.js';
import {
  localAddressFor,
  TELEMETRY_BODY,
  type AdapterFactory,
  type ClientAdapter,
  type TelemetryWindow,
} from './adapter.js';

const now = () => performance.timeOrigin + performance.now();

function sasToken(hubHost: string, deviceId: string, key: string, ttlSeconds: number): string {
  const sr = encodeURIComponent(`${hubHost}/devices/${deviceId}`);
  const se = Math.floor(Date.now() / 1000) + ttlSeconds;
  const sig = createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n${se}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}`;
}

type Target = ClientJob['target'];
type Settle = (client: MqttClient, ok: boolean, err?: unknown) => void;

const SUBSCRIPTIONS = (deviceId: string) => [
  '$iothub/twin/res/#',
  '$iothub/twin/PATCH/properties/desired/#',
  '$iothub/methods/POST/#',
  `devices/${deviceId}/messages/devicebound/#`,
];

/** The baseline gives each connection the CA, as one would by hand; the experiment shares one context. */
const tlsOptionsFor = (job: ClientJob): { secureContext: SecureContext } | { ca: string } =>
  job.variant === 'mqttjsSharedTls'
    ? { secureContext: createSecureContext({ ca: job.target.caPem }) }
    : { ca: job.target.caPem };

function connectOptions(
  target: Target,
  tlsOptions: ReturnType<typeof tlsOptionsFor>,
  identity: { deviceId: string; key: string; localAddress: string | undefined },
): IClientOptions {
  const { deviceId, key, localAddress } = identity;
  return {
    protocol: 'mqtts',
    host: target.host,
    port: target.port,
    ...tlsOptions,
    clientId: deviceId,
    username: `${target.hubHost}/${deviceId}/?api-version=2021-04-12`,
    password: sasToken(target.hubHost, deviceId, key, 3600),
    protocolVersion: 4,
    clean: false,
    keepalive: 180,
    reconnectPeriod: 0,
    connectTimeout: 30_000,
    resubscribe: false,
    ...(localAddress === undefined ? {} : ({ localAddress } as IClientOptions)),
  };
}

/** CONNECT, subscribe, twin GET; `settle` once with the outcome. */
function dial(options: IClientOptions, settle: Settle): MqttClient {
  const deviceId = options.clientId as string;
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
    client.subscribe(SUBSCRIPTIONS(deviceId), { qos: 1 }, (err, granted) => {
      if (err || (granted ?? []).some((g) => g.qos === 128))
        return once(false, err ?? new Error('subscription refused'));
      client.publish('$iothub/twin/GET/?$rid=1', '', { qos: 0 });
    });
  });
  return client;
}

/** Telemetry counts since the start, and PUBACK latencies over the measuring window. */
class TelemetryStats {
  private readonly counts = { sent: 0, acknowledged: 0, failed: 0 };
  private windowFrom = { sent: 0, acknowledged: 0, failed: 0 };
  private readonly puback = latencyHistogram();
  private readonly pubackCorrected = latencyHistogram();
  private recording = false;

  sent(): void {
    this.counts.sent++;
  }

  failed(): void {
    this.counts.failed++;
  }

  acknowledged(startedAt: number, intendedAt: number): void {
    this.counts.acknowledged++;
    if (!this.recording) return;
    const t = now();
    this.puback.recordValue(clampUs((t - startedAt) * 1000));
    this.pubackCorrected.recordValue(clampUs((t - intendedAt) * 1000));
  }

  windowStart(): void {
    this.puback.reset();
    this.pubackCorrected.reset();
    this.windowFrom = { ...this.counts };
    this.recording = true;
  }

  windowEnd(): TelemetryWindow {
    this.recording = false;
    const { counts, windowFrom } = this;
    return {
      sent: counts.sent - windowFrom.sent,
      acknowledged: counts.acknowledged - windowFrom.acknowledged,
      failed: counts.failed - windowFrom.failed,
      inFlight: counts.sent - counts.acknowledged - counts.failed,
      puback: percentiles(this.puback),
      pubackCorrected: percentiles(this.pubackCorrected),
    };
  }
}

/**
 * A self-correcting timer publishing QoS 1 telemetry every `intervalMs` from a random phase; `arm` keeps the
 * client's pending timer so close() can clear it, `closing` stops the chain.
 */
function streamTelemetry(
  client: MqttClient,
  deviceId: string,
  pacing: { intervalMs: number; stats: TelemetryStats; closing: () => boolean; arm: (t: NodeJS.Timeout) => void },
): void {
  const { intervalMs, stats } = pacing;
  const prefix = `devices/${deviceId}/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8&iothub-creation-time-utc=`;
  let nextAt = now() + Math.random() * intervalMs;
  const tick = () => {
    if (pacing.closing()) return;
    const intended = nextAt;
    nextAt += intervalMs;
    const started = now();
    stats.sent();
    const topic = prefix + encodeURIComponent(new Date(intended).toISOString());
    client.publish(topic, JSON.stringify(TELEMETRY_BODY), { qos: 1 }, (err) =>
      err ? stats.failed() : stats.acknowledged(started, intended),
    );
    pacing.arm(setTimeout(tick, Math.max(0, nextAt - now())));
  };
  pacing.arm(setTimeout(tick, Math.max(0, nextAt - now())));
}

function mqttjsClients(...[job, keys, ids, warm]: Parameters<AdapterFactory>): ClientAdapter {
  const tlsOptions = tlsOptionsFor(job);
  const clients = new Array<MqttClient | undefined>(ids.length);
  const timers = new Array<NodeJS.Timeout | undefined>(ids.length);
  const connectLatency = latencyHistogram();
  const stats = new TelemetryStats();
  let loop: ClosedLoop | undefined;
  let closing = false;
  const optionsFor = (deviceId: string, key: string, i: number) =>
    connectOptions(job.target, tlsOptions, { deviceId, key, localAddress: localAddressFor(job, i) });

  const connectOne = (i: number) => {
    const deviceId = ids[i] as string;
    const started = now();
    clients[i] = dial(optionsFor(deviceId, keys[i] as string, i), (client, ok, err) => {
      if (ok) {
        connectLatency.recordValue(clampUs((now() - started) * 1000));
        if (job.telemetry !== undefined)
          streamTelemetry(client, deviceId, {
            intervalMs: job.telemetry.intervalMs,
            stats,
            closing: () => closing,
            arm: (t) => (timers[i] = t),
          });
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
        dial(optionsFor(warm.id, warm.key, 0), (client, ok, err) => {
          if (!ok) return reject(err instanceof Error ? err : new Error(String(err)));
          client.end(false, {}, () => resolve());
        });
      }),
    launch: connectOne,
    connectLatency: () => ({ what: 'TLS+CONNECT+SUBSCRIBE+twin GET', stats: percentiles(connectLatency) }),
    windowStart: () => stats.windowStart(),
    windowEnd: () => stats.windowEnd(),
    async close() {
      closing = true;
      for (const t of timers) if (t !== undefined) clearTimeout(t);
      const open = clients.filter((c) => c !== undefined);
      await Promise.all(open.map((c) => new Promise<void>((r) => c.end(true, {}, () => r()))));
    },
  };
}

export const mqttjsAdapter: AdapterFactory = (...args) => Promise.resolve(mqttjsClients(...args));
