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
import type { AdapterFactory, ClientAdapter, TelemetryWindow } from './clients/adapter.js';
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
  type MemorySample,
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

type LoopOutcome = Awaited<ReturnType<ClosedLoop['run']>>;

/** What connecting the fleet cost, measured between the two memory samples. */
interface ConnectCost {
  elapsedMs: number;
  cpu: number;
  busy: number;
  emulatorCpu: number;
  emulatorRssBytes: number;
  before: MemorySample;
  after: MemorySample;
}

const emulatorStat = (job: ClientJob) => readProcStat(job.emulatorPid) ?? { cpuSeconds: NaN, rssBytes: NaN };

async function openAdapter(job: ClientJob): Promise<ClientAdapter> {
  const ids = Array.from({ length: job.identities }, (_, i) => deviceIdOf(job.idPrefix, i));
  const keys = ids.map((id) => deriveDeviceKey(job.target.groupKey, id));
  const warmId = `${job.idPrefix}warmup`;
  const factory = await loadAdapter(job.variant);
  return factory(job, keys, ids, { id: warmId, key: deriveDeviceKey(job.target.groupKey, warmId) });
}

/** A line on stderr every 5 s while connecting, so a long run shows it is alive. */
function logProgress(job: ClientJob, loop: ClosedLoop, t0: number): NodeJS.Timeout {
  let lastReport = t0;
  return setInterval(() => {
    const t = performance.now();
    if (t - lastReport >= 5000) {
      lastReport = t;
      log(`  ${job.variant}: ${loop.finished}/${job.identities} after ${((t - t0) / 1000).toFixed(0)} s`);
    }
  }, 1000);
}

/** Connects every identity in a closed loop; the client's, the emulator's and the machine's cost of it. */
async function measureConnect(
  job: ClientJob,
  a: ClientAdapter,
): Promise<{ outcome: LoopOutcome; connect: ConnectFigures }> {
  const before = await memory();
  const emulatorBefore = emulatorStat(job);
  const loop = new ClosedLoop(job.identities, job.concurrency, (i) => a.launch(i));
  a.prepare(loop);
  const cpu0 = cpuSeconds();
  const busy0 = machineBusySeconds();
  const t0 = performance.now();
  const progress = logProgress(job, loop, t0);
  const outcome = await loop.run(job.connectDeadlineMs);
  clearInterval(progress);
  const notes = (await a.finish?.()) ?? [];
  const elapsedMs = performance.now() - t0;
  const cpu = cpuSeconds() - cpu0;
  const busy = machineBusySeconds() - busy0;
  const emulatorAfter = emulatorStat(job);
  const after = await memory();
  const cost: ConnectCost = {
    elapsedMs,
    cpu,
    busy,
    emulatorCpu: emulatorAfter.cpuSeconds - emulatorBefore.cpuSeconds,
    emulatorRssBytes: emulatorAfter.rssBytes - emulatorBefore.rssBytes,
    before,
    after,
  };
  return { outcome, connect: connectFigures(job, outcome, cost, a.connectLatency(), notes) };
}

function connectFigures(
  job: ClientJob,
  outcome: LoopOutcome,
  cost: ConnectCost,
  latency: ReturnType<ClientAdapter['connectLatency']>,
  notes: string[],
): ConnectFigures {
  const { elapsedMs, cpu, before, after } = cost;
  const n = Math.max(outcome.ok, 1);
  if (latency !== undefined) notes.push(`latency is ${latency.what}`);
  if (outcome.unfinished > 0)
    notes.push(`${outcome.unfinished} identities unfinished at the ${job.connectDeadlineMs / 1000} s deadline`);
  return {
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
    emulatorCores: round(cost.emulatorCpu / (elapsedMs / 1000), 2),
    otherCores: round(Math.max(0, cost.busy - cpu - cost.emulatorCpu) / (elapsedMs / 1000), 2),
    emulatorRssPerIdentityKB: round(cost.emulatorRssBytes / n / KB),
    ...(latency === undefined ? {} : { latency: latency.stats }),
    notes,
  };
}

/** What one telemetry window cost, and what the adapter counted in it. */
interface WindowCost {
  window: TelemetryWindow;
  windowMs: number;
  cpuUsed: number;
  emulatorCpu: number;
  busy: number;
  eventLoopDelay: Percentiles;
  gc: GcFigures;
}

/** Paced telemetry from every connected identity, measured over one window after a warm-up. */
async function measureTelemetry(
  job: ClientJob,
  a: ClientAdapter,
  connected: number,
): Promise<TelemetryFigures | undefined> {
  const t = job.telemetry;
  if (job.kind !== 'telemetry' || t === undefined || a.windowStart === undefined || a.windowEnd === undefined)
    return undefined;
  await sleep(t.warmupMs);
  const eld = monitorEventLoopDelay({ resolution: 5 });
  eld.enable();
  const gcWatch = observeGc();
  a.windowStart();
  const c0 = cpuSeconds();
  const e0 = emulatorStat(job).cpuSeconds;
  const b0 = machineBusySeconds();
  const w0 = performance.now();
  await sleep(t.durationMs);
  const window = a.windowEnd();
  eld.disable();
  const gc = gcWatch.stop();
  const windowMs = performance.now() - w0;
  const cpuUsed = cpuSeconds() - c0;
  const emulatorCpu = emulatorStat(job).cpuSeconds - e0;
  const busy = machineBusySeconds() - b0;
  const cost: WindowCost = { window, windowMs, cpuUsed, emulatorCpu, busy, eventLoopDelay: eldPercentiles(eld), gc };
  return telemetryFigures(t.intervalMs, connected, cost);
}

function telemetryFigures(intervalMs: number, connected: number, cost: WindowCost): TelemetryFigures {
  const { window: w, windowMs, cpuUsed, emulatorCpu } = cost;
  return {
    intervalMs,
    offeredPerSec: round((connected * 1000) / intervalMs),
    windowMs: Math.round(windowMs),
    sent: w.sent,
    acknowledged: w.acknowledged,
    failed: w.failed,
    achievedPerSec: round(w.acknowledged / (windowMs / 1000)),
    clientCpuSeconds: round(cpuUsed, 3),
    clientCpuCores: round(cpuUsed / (windowMs / 1000), 3),
    msgsPerCoreSec: Math.round(w.acknowledged / cpuUsed),
    emulatorCores: round(emulatorCpu / (windowMs / 1000), 3),
    otherCores: round(Math.max(0, cost.busy - cpuUsed - emulatorCpu) / (windowMs / 1000), 2),
    pairCeilingPerSec: Math.round((w.acknowledged * cpus().length) / (cpuUsed + emulatorCpu)),
    puback: w.puback,
    pubackCorrected: w.pubackCorrected,
    ...(w.lateness === undefined ? {} : { lateness: w.lateness }),
    eventLoopDelay: cost.eventLoopDelay,
    gc: cost.gc,
    inFlightAtEnd: w.inFlight,
  };
}

async function main(): Promise<void> {
  const job = JSON.parse(await readStdin()) as ClientJob;
  const result: ClientResult = { ok: false, variant: job.variant, kind: job.kind, gcExposed: gcAvailable };
  let adapter: ClientAdapter | undefined;
  try {
    adapter = await openAdapter(job);
    await adapter.warmup();
    const { outcome, connect } = await measureConnect(job, adapter);
    result.connect = connect;
    const telemetry = await measureTelemetry(job, adapter, outcome.ok);
    if (telemetry !== undefined) result.telemetry = telemetry;
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
