// edgefleet's own code path: SimDevice (HubClient over MqttConnection) on one heap Scheduler with a
// MetricsRecorder, its context built as the engine's worker builds it, snapshots taken every second.
import { Scheduler } from '../../core/scheduler.js';
import type { AzureTarget } from '../../endpoints/target.js';
import { decodeHistogram, newCumulativeHistogram } from '../../metrics/histogram.js';
import { MetricsRecorder } from '../../metrics/recorder.js';
import type { ErrorClass, Operation } from '../../metrics/operations.js';
import type { MetricsSnapshot } from '../../metrics/types.js';
import type { SimContext, ThingState } from '../../sim/context.js';
import { SimDevice, type DeviceBehaviour } from '../../sim/device.js';
import { HubClient } from '../../sim/hub-client.js';
import { Prng, seedFor } from '../../sim/model/random.js';
import type { ClosedLoop } from '../measure.js';
import { percentiles } from '../measure.js';
import type { ClientJob } from '../job.js';
import {
  localAddressFor,
  TELEMETRY_BODY,
  type AdapterFactory,
  type ClientAdapter,
  type TelemetryWindow,
} from './adapter.js';

/** The recorder, with a hook for the bench to learn that a twin GET finished (no per-device wrapper). */
class ObservedRecorder extends MetricsRecorder {
  onTwin: ((ok: boolean, err?: unknown) => void) | undefined;
  onConnectError: ((err: unknown) => void) | undefined;

  override recordLatency(op: Operation, intendedAtMs: number, startedAtMs: number, endedAtMs: number): void {
    super.recordLatency(op, intendedAtMs, startedAtMs, endedAtMs);
    if (op === 'twinGet') this.onTwin?.(true);
  }

  override recordError(cls: ErrorClass, message: string, op?: Operation): void {
    super.recordError(cls, message, op);
    if (op === 'twinGet') this.onTwin?.(false, { errorClass: cls, message });
    else if (op === 'connect') this.onConnectError?.({ errorClass: cls, message });
  }
}

const cumulative = () => ({ corrected: newCumulativeHistogram(), raw: newCumulativeHistogram() });

const OPS = ['telemetry', 'connect', 'twinGet'] as const;

/** The worker's once-a-second snapshots, merged as the coordinator merges them. */
class MergedSnapshots {
  readonly ops = { telemetry: cumulative(), connect: cumulative(), twinGet: cumulative() };
  readonly lateness = newCumulativeHistogram();
  readonly ledger = { generated: 0, acknowledged: 0, failed: 0 };

  absorb(snap: MetricsSnapshot): void {
    for (const op of OPS) {
      const h = snap.ops[op];
      if (h === undefined) continue;
      this.ops[op].corrected.add(decodeHistogram(h.corrected, 32));
      this.ops[op].raw.add(decodeHistogram(h.raw, 32));
    }
    if (snap.lateness !== undefined) this.lateness.add(decodeHistogram(snap.lateness, 32));
    this.ledger.generated += snap.ledger.generated;
    this.ledger.acknowledged += snap.ledger.acknowledged;
    this.ledger.failed += snap.ledger.failed;
  }

  reset(): void {
    for (const op of OPS) {
      this.ops[op].corrected.reset();
      this.ops[op].raw.reset();
    }
    this.lateness.reset();
    this.ledger.generated = this.ledger.acknowledged = this.ledger.failed = 0;
  }

  connectLatency(): ReturnType<ClientAdapter['connectLatency']> {
    const c = this.ops.connect.raw;
    if (c.totalCount === 0) return undefined;
    // SimDevice times CONNECT..SUBACK and the twin GET after it apart.
    const twin = percentiles(this.ops.twinGet.raw);
    return {
      what: `TLS+CONNECT+SUBSCRIBE (twin GET after it: p50 ${twin.p50Ms} ms, p99 ${twin.p99Ms} ms)`,
      stats: percentiles(c),
    };
  }

  window(inFlight: number): TelemetryWindow {
    return {
      sent: this.ledger.generated,
      acknowledged: this.ledger.acknowledged,
      failed: this.ledger.failed,
      inFlight,
      puback: percentiles(this.ops.telemetry.raw),
      pubackCorrected: percentiles(this.ops.telemetry.corrected),
      lateness: percentiles(this.lateness),
    };
  }
}

/** Per-group and total state counts, kept as the engine worker keeps them for the live view. */
class StateCounts {
  readonly byGroup: Record<string, Record<string, number>> = {};
  readonly totals: Record<string, number> = {};

  constructor(private readonly metrics: MetricsRecorder) {}

  changed(group: string, from: ThingState, to: ThingState): void {
    const g = (this.byGroup[group] ??= {});
    g[from] = (g[from] ?? 0) - 1;
    g[to] = (g[to] ?? 0) + 1;
    this.totals[from] = (this.totals[from] ?? 0) - 1;
    this.totals[to] = (this.totals[to] ?? 0) + 1;
    this.metrics.setGauge(from, this.totals[from]);
    this.metrics.setGauge(to, this.totals[to]);
  }

  waiting(group: string, count: number): void {
    this.totals.waiting = count;
    this.byGroup[group] = { waiting: count };
  }
}

function emulatorTarget(job: ClientJob): AzureTarget {
  return {
    kind: 'emulator',
    dps: { host: job.target.host, port: job.target.port, idScope: 'unused' },
    groupKeys: { devices: '', edgeDevices: '' },
    caPem: job.target.caPem,
    hubHttpsPort: 0,
  };
}

/** The engine worker's context, as src/engine/worker.ts builds it; `failed` hears of a device that gave up. */
function benchContext(
  job: ClientJob,
  parts: { target: AzureTarget; scheduler: Scheduler; metrics: MetricsRecorder; states: StateCounts },
  failed: (err: Error) => void,
): SimContext {
  const acknowledgedBy: Record<string, number> = {};
  return {
    scheduler: parts.scheduler,
    metrics: parts.metrics,
    target: parts.target,
    localAddress: (ordinal) => localAddressFor(job, ordinal),
    stateChanged(group: string, from: ThingState, to: ThingState) {
      parts.states.changed(group, from, to);
      if (to === 'failed') failed(new Error('gave up (failed state)'));
    },
    desiredAcknowledged: () => {},
    acknowledgedBy: (identity) => void (acknowledgedBy[identity] = (acknowledgedBy[identity] ?? 0) + 1),
    log: () => {},
    mqtt: { keepaliveSeconds: 180, connectTimeoutMs: 30_000, operationTimeoutMs: 30_000 },
  };
}

const behaviourFor = (job: ClientJob): DeviceBehaviour => ({
  telemetryIntervalMs: job.telemetry?.intervalMs ?? 0,
  telemetryQos: 1,
  telemetry: { tick: () => [{ body: { ...TELEMETRY_BODY } }] },
  reported: () => undefined,
  writableAck: { code: 200, delayMs: 0 },
  command: () => ({ status: 200, delayMs: 0, response: {} }),
});

/** One SimDevice per identity, not started: direct SAS to the hub, arrival set when the loop launches it. */
function buildDevices(
  ctx: SimContext,
  target: AzureTarget,
  job: ClientJob,
  ids: string[],
  keys: string[],
): SimDevice[] {
  const behaviour = behaviourFor(job);
  const gatewayHost = `${job.target.host}:${job.target.port}`;
  return ids.map((deviceId, i) => {
    const prng = new Prng(seedFor('bench', deviceId));
    return new SimDevice(
      ctx,
      target,
      { deviceId, group: 'bench', ordinal: i, arrivalAt: 0, random: () => prng.next() },
      { kind: 'direct-sas', hubHost: job.target.hubHost, deviceKey: keys[i] as string, gatewayHost },
      behaviour,
    );
  });
}

/** One extra identity through HubClient: connect, twin GET, close. */
async function warmupOnce(ctx: SimContext, job: ClientJob, warm: { id: string; key: string }): Promise<void> {
  const hub = await HubClient.connect(
    ctx,
    {
      identity: { deviceId: warm.id },
      hubHost: job.target.hubHost,
      dial: { host: job.target.host, port: job.target.port },
      credential: { kind: 'sas', key: warm.key },
      caPem: job.target.caPem,
      tokenTtlSeconds: 3600,
    },
    {},
  );
  await hub.getTwin();
  await hub.close();
}

function edgefleetClients(...[job, keys, ids, warm]: Parameters<AdapterFactory>): ClientAdapter {
  const metrics = new ObservedRecorder();
  const scheduler = new Scheduler((late) => metrics.recordLateness(late));
  const states = new StateCounts(metrics);
  let loop: ClosedLoop | undefined;
  const target = emulatorTarget(job);
  const ctx = benchContext(job, { target, scheduler, metrics, states }, (err) => loop?.complete(false, err));
  let devices: SimDevice[] = [];
  const merged = new MergedSnapshots();
  const absorbNow = () => merged.absorb(metrics.snapshot(Date.now()));
  const pendingAcks = () => devices.reduce((n, d) => n + d.pendingAcks, 0);
  const ticker = setInterval(() => {
    absorbNow();
    // What the worker also does each second for the coordinator's live view.
    structuredClone(states.byGroup);
    pendingAcks();
  }, 1000);

  return {
    prepare(l) {
      loop = l;
      metrics.onTwin = (ok, err) => l.complete(ok, err);
      metrics.onConnectError = (err) => l.noteError(err);
      devices = buildDevices(ctx, target, job, ids, keys);
      states.waiting('bench', devices.length);
    },
    warmup: () => warmupOnce(ctx, job, warm),
    launch(i) {
      const d = devices[i] as SimDevice;
      d.plan.arrivalAt = scheduler.now();
      d.start();
    },
    connectLatency() {
      absorbNow();
      return merged.connectLatency();
    },
    windowStart() {
      absorbNow();
      merged.reset();
    },
    windowEnd() {
      absorbNow();
      return merged.window(pendingAcks());
    },
    async close() {
      clearInterval(ticker);
      for (const d of devices) d.quiesce();
      await Promise.all(devices.map((d) => d.stop().catch(() => {})));
      scheduler.stop();
    },
  };
}

export const edgefleetAdapter: AdapterFactory = (...args) => Promise.resolve(edgefleetClients(...args));
