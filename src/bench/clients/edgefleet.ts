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
import { TELEMETRY_BODY, type AdapterFactory, type TelemetryWindow } from './adapter.js';

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

export const edgefleetAdapter: AdapterFactory = async (job, keys, ids, warm) => {
  const metrics = new ObservedRecorder();
  const scheduler = new Scheduler((late) => metrics.recordLateness(late));
  // The engine worker's context, as src/engine/worker.ts builds it.
  const states: Record<string, Record<string, number>> = {};
  const stateTotals: Record<string, number> = {};
  const acknowledgedBy: Record<string, number> = {};
  let loop: ClosedLoop | undefined;
  const target: AzureTarget = {
    kind: 'emulator',
    dps: { host: job.target.host, port: job.target.port, idScope: 'unused' },
    groupKeys: { devices: '', edgeDevices: '' },
    caPem: job.target.caPem,
    hubHttpsPort: 0,
  };
  const ctx: SimContext = {
    scheduler,
    metrics,
    target,
    localAddress: (ordinal) =>
      job.localAddresses.length === 0 ? undefined : job.localAddresses[ordinal % job.localAddresses.length],
    stateChanged(group: string, from: ThingState, to: ThingState) {
      const g = (states[group] ??= {});
      g[from] = (g[from] ?? 0) - 1;
      g[to] = (g[to] ?? 0) + 1;
      stateTotals[from] = (stateTotals[from] ?? 0) - 1;
      stateTotals[to] = (stateTotals[to] ?? 0) + 1;
      metrics.setGauge(from, stateTotals[from]);
      metrics.setGauge(to, stateTotals[to]);
      if (to === 'failed') loop?.complete(false, new Error('gave up (failed state)'));
    },
    desiredAcknowledged: () => {},
    acknowledgedBy: (identity) => void (acknowledgedBy[identity] = (acknowledgedBy[identity] ?? 0) + 1),
    log: () => {},
    mqtt: { keepaliveSeconds: 180, connectTimeoutMs: 30_000, operationTimeoutMs: 30_000 },
  };
  const behaviour: DeviceBehaviour = {
    telemetryIntervalMs: job.telemetry?.intervalMs ?? 0,
    telemetryQos: 1,
    telemetry: { tick: () => [{ body: { ...TELEMETRY_BODY } }] },
    reported: () => undefined,
    writableAck: { code: 200, delayMs: 0 },
    command: () => ({ status: 200, delayMs: 0, response: {} }),
  };
  const gatewayHost = `${job.target.host}:${job.target.port}`;
  let devices: SimDevice[] = [];

  // The worker's once-a-second snapshot, merged as the coordinator merges it.
  const merged = {
    telemetry: cumulative(),
    connect: cumulative(),
    twinGet: cumulative(),
    lateness: newCumulativeHistogram(),
  };
  const ledger = { generated: 0, acknowledged: 0, failed: 0 };
  const absorb = (snap: MetricsSnapshot) => {
    for (const op of ['telemetry', 'connect', 'twinGet'] as const) {
      const h = snap.ops[op];
      if (h === undefined) continue;
      merged[op].corrected.add(decodeHistogram(h.corrected, 32));
      merged[op].raw.add(decodeHistogram(h.raw, 32));
    }
    if (snap.lateness !== undefined) merged.lateness.add(decodeHistogram(snap.lateness, 32));
    ledger.generated += snap.ledger.generated;
    ledger.acknowledged += snap.ledger.acknowledged;
    ledger.failed += snap.ledger.failed;
  };
  const resetMerged = () => {
    for (const op of ['telemetry', 'connect', 'twinGet'] as const) {
      merged[op].corrected.reset();
      merged[op].raw.reset();
    }
    merged.lateness.reset();
    ledger.generated = ledger.acknowledged = ledger.failed = 0;
  };
  const pendingAcks = () => devices.reduce((n, d) => n + d.pendingAcks, 0);
  const ticker = setInterval(() => {
    absorb(metrics.snapshot(Date.now()));
    // What the worker also does each second for the coordinator's live view.
    structuredClone(states);
    pendingAcks();
  }, 1000);

  return {
    prepare(l) {
      loop = l;
      metrics.onTwin = (ok, err) => l.complete(ok, err);
      metrics.onConnectError = (err) => l.noteError(err);
      devices = ids.map((deviceId, i) => {
        const prng = new Prng(seedFor('bench', deviceId));
        return new SimDevice(
          ctx,
          target,
          {
            deviceId,
            group: 'bench',
            ordinal: i,
            arrivalAt: 0,
            random: () => prng.next(),
          },
          { kind: 'direct-sas', hubHost: job.target.hubHost, deviceKey: keys[i] as string, gatewayHost },
          behaviour,
        );
      });
      stateTotals.waiting = devices.length;
      states.bench = { waiting: devices.length };
    },
    async warmup() {
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
    },
    launch(i) {
      const d = devices[i] as SimDevice;
      d.plan.arrivalAt = scheduler.now();
      d.start();
    },
    connectLatency() {
      absorb(metrics.snapshot(Date.now()));
      const c = merged.connect.raw;
      if (c.totalCount === 0) return undefined;
      // SimDevice times CONNECT..SUBACK and the twin GET after it apart.
      const twin = percentiles(merged.twinGet.raw);
      return {
        what: `TLS+CONNECT+SUBSCRIBE (twin GET after it: p50 ${twin.p50Ms} ms, p99 ${twin.p99Ms} ms)`,
        stats: percentiles(c),
      };
    },
    windowStart() {
      absorb(metrics.snapshot(Date.now()));
      resetMerged();
    },
    windowEnd(): TelemetryWindow {
      absorb(metrics.snapshot(Date.now()));
      const lateness = merged.lateness;
      return {
        sent: ledger.generated,
        acknowledged: ledger.acknowledged,
        failed: ledger.failed,
        inFlight: pendingAcks(),
        puback: percentiles(merged.telemetry.raw),
        pubackCorrected: percentiles(merged.telemetry.corrected),
        lateness: percentiles(lateness),
      };
    },
    async close() {
      clearInterval(ticker);
      for (const d of devices) d.quiesce();
      await Promise.all(devices.map((d) => d.stop().catch(() => {})));
      scheduler.stop();
    },
  };
};
