// One client variant in a process of its own (fresh RSS): reads a ClientJob on stdin, connects its identities in
// a closed loop, optionally measures paced telemetry over a window, and prints one result line on stdout.
import { cpus } from 'node:os';
import {
  constants as perfConstants,
  monitorEventLoopDelay,
  PerformanceObserver,
  type IntervalHistogram,
} from 'node:perf_hooks';
import { deriveDeviceKey } from '../protocol/index.js';
import type { AdapterFactory, ClientAdapter } from './clients/adapter.js';
import {
  deviceIdOf,
  RESULT_MARKER,
  type ClientJob,
  type ClientResult,
  type ConnectFigures,
  type GcFigures,
  type TelemetryFigures,
} from './job.js';
import {
  ClosedLoop,
  cpuSeconds,
  gcAvailable,
  machineBusySeconds,
  memory,
  readProcStat,
  sleep,
  type Percentiles,
} from './measure.js';

const log = (line: string) => process.stderr.write(`${line}\n`);
const KB = 1024;
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function loadAdapter(variant: ClientJob['variant']): Promise<AdapterFactory> {
  switch (variant) {
    case 'edgefleet':
      return (await import('./clients/edgefleet.js')).edgefleetAdapter;
    case 'mqttjs':
    case 'mqttjsSharedTls':
      return (await import('./clients/mqttjs.js')).mqttjsAdapter;
    case 'azureSdk':
      return (await import('./clients/azure-sdk.js')).azureSdkAdapter;
  }
}

function eldPercentiles(h: IntervalHistogram): Percentiles {
  const ms = (ns: number) => Math.round(ns / 1000) / 1000;
  return h.count === 0
    ? { count: 0, p50Ms: null, p99Ms: null, p999Ms: null, maxMs: null }
    : {
        count: h.count,
        p50Ms: ms(h.percentile(50)),
        p99Ms: ms(h.percentile(99)),
        p999Ms: ms(h.percentile(99.9)),
        maxMs: ms(h.max),
      };
}

/** GC pauses while it observes: what part of the event loop's stalls the collector explains. */
function observeGc(): { stop(): GcFigures } {
  const figures: GcFigures = { count: 0, totalMs: 0, maxMs: 0, major: 0, majorMaxMs: 0 };
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      figures.count++;
      figures.totalMs += e.duration;
      figures.maxMs = Math.max(figures.maxMs, e.duration);
      const kind = (e as { detail?: { kind?: number } }).detail?.kind;
      if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) {
        figures.major++;
        figures.majorMaxMs = Math.max(figures.majorMaxMs, e.duration);
      }
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    stop() {
      observer.disconnect();
      return {
        count: figures.count,
        totalMs: round(figures.totalMs),
        maxMs: round(figures.maxMs, 2),
        major: figures.major,
        majorMaxMs: round(figures.majorMaxMs, 2),
      };
    },
  };
}

function emit(result: ClientResult): void {
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify(result)}\n`);
}

async function main(): Promise<void> {
  const job = JSON.parse(await readStdin()) as ClientJob;
  const result: ClientResult = { ok: false, variant: job.variant, kind: job.kind, gcExposed: gcAvailable };
  let adapter: ClientAdapter | undefined;
  try {
    const ids = Array.from({ length: job.identities }, (_, i) => deviceIdOf(job.idPrefix, i));
    const keys = ids.map((id) => deriveDeviceKey(job.target.groupKey, id));
    const warmId = `${job.idPrefix}warmup`;
    const factory = await loadAdapter(job.variant);
    adapter = await factory(job, keys, ids, { id: warmId, key: deriveDeviceKey(job.target.groupKey, warmId) });
    const a = adapter;
    await a.warmup();

    const emulator = () => readProcStat(job.emulatorPid) ?? { cpuSeconds: NaN, rssBytes: NaN };
    const before = await memory();
    const emulatorBefore = emulator();
    const loop = new ClosedLoop(job.identities, job.concurrency, (i) => a.launch(i));
    a.prepare(loop);
    const cpu0 = cpuSeconds();
    const busy0 = machineBusySeconds();
    const t0 = performance.now();
    let lastReport = t0;
    const progress = setInterval(() => {
      const t = performance.now();
      if (t - lastReport >= 5000) {
        lastReport = t;
        log(`  ${job.variant}: ${loop.finished}/${job.identities} after ${((t - t0) / 1000).toFixed(0)} s`);
      }
    }, 1000);
    const outcome = await loop.run(job.connectDeadlineMs);
    clearInterval(progress);
    const notes = (await a.finish?.()) ?? [];
    const elapsedMs = performance.now() - t0;
    const cpu = cpuSeconds() - cpu0;
    const busy = machineBusySeconds() - busy0;
    const emulatorAfter = emulator();
    const after = await memory();
    const n = Math.max(outcome.ok, 1);
    const latency = a.connectLatency();
    if (latency !== undefined) notes.push(`latency is ${latency.what}`);
    if (outcome.unfinished > 0)
      notes.push(`${outcome.unfinished} identities unfinished at the ${job.connectDeadlineMs / 1000} s deadline`);
    const connect: ConnectFigures = {
      identities: job.identities,
      connected: outcome.ok,
      failed: outcome.failed,
      unfinished: outcome.unfinished,
      errors: outcome.errors,
      elapsedMs: Math.round(elapsedMs),
      perSec: round(outcome.ok / (elapsedMs / 1000)),
      cpuSeconds: round(cpu, 2),
      perCpuSec: round(outcome.ok / cpu),
      rssBeforeBytes: before.rss,
      rssAfterBytes: after.rss,
      rssPerIdentityKB: round((after.rss - before.rss) / n / KB),
      heapPerIdentityKB: round((after.heapUsed - before.heapUsed) / n / KB),
      externalPerIdentityKB: round((after.external - before.external) / n / KB),
      emulatorCores: round((emulatorAfter.cpuSeconds - emulatorBefore.cpuSeconds) / (elapsedMs / 1000), 2),
      otherCores: round(
        Math.max(0, busy - cpu - (emulatorAfter.cpuSeconds - emulatorBefore.cpuSeconds)) / (elapsedMs / 1000),
        2,
      ),
      emulatorRssPerIdentityKB: round((emulatorAfter.rssBytes - emulatorBefore.rssBytes) / n / KB),
      ...(latency === undefined ? {} : { latency: latency.stats }),
      notes,
    };
    result.connect = connect;

    const t = job.telemetry;
    if (job.kind === 'telemetry' && t !== undefined && a.windowStart !== undefined && a.windowEnd !== undefined) {
      await sleep(t.warmupMs);
      const eld = monitorEventLoopDelay({ resolution: 5 });
      eld.enable();
      const gcWatch = observeGc();
      a.windowStart();
      const c0 = cpuSeconds();
      const e0 = emulator().cpuSeconds;
      const b0 = machineBusySeconds();
      const w0 = performance.now();
      await sleep(t.durationMs);
      const w = a.windowEnd();
      eld.disable();
      const gc = gcWatch.stop();
      const windowMs = performance.now() - w0;
      const cpuUsed = cpuSeconds() - c0;
      const emulatorCpu = emulator().cpuSeconds - e0;
      const busyW = machineBusySeconds() - b0;
      const telemetry: TelemetryFigures = {
        intervalMs: t.intervalMs,
        offeredPerSec: round((outcome.ok * 1000) / t.intervalMs),
        windowMs: Math.round(windowMs),
        sent: w.sent,
        acknowledged: w.acknowledged,
        failed: w.failed,
        achievedPerSec: round(w.acknowledged / (windowMs / 1000)),
        clientCpuSeconds: round(cpuUsed, 3),
        clientCpuCores: round(cpuUsed / (windowMs / 1000), 3),
        msgsPerCoreSec: Math.round(w.acknowledged / cpuUsed),
        emulatorCores: round(emulatorCpu / (windowMs / 1000), 3),
        otherCores: round(Math.max(0, busyW - cpuUsed - emulatorCpu) / (windowMs / 1000), 2),
        pairCeilingPerSec: Math.round((w.acknowledged * cpus().length) / (cpuUsed + emulatorCpu)),
        puback: w.puback,
        pubackCorrected: w.pubackCorrected,
        ...(w.lateness === undefined ? {} : { lateness: w.lateness }),
        eventLoopDelay: eldPercentiles(eld),
        gc,
        inFlightAtEnd: w.inFlight,
      };
      result.telemetry = telemetry;
    }
    result.ok = outcome.ok > 0;
    if (!result.ok) result.error = `no identity connected: ${JSON.stringify(outcome.errors).slice(0, 400)}`;
  } catch (err) {
    result.error = (err as Error).stack ?? String(err);
  }
  emit(result);
  const closing = adapter?.close().catch(() => {});
  await Promise.race([closing, sleep(20_000)]);
  process.exit(0);
}

// Orphaned (the bench was killed outright): stop rather than hold thousands of connections.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) process.exit(1);
}, 1000).unref();

process.on('unhandledRejection', (err) => log(`unhandled rejection: ${(err as Error)?.stack ?? String(err)}`));
void main();
