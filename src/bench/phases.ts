// The bench's phases in order: connect (every client, --repeat times, interleaved), the scheduler alone, and
// telemetry (every size, with the durability run beside edgefleet's largest); each keeps its figures in the report.
import type { ClientResult, Variant } from './job.js';
import { fitIdentities, type Limits } from './limits.js';
import type { Options } from './options.js';
import { pick, QUIET_CORES, say, waitForQuiet, type PhaseResult, type PhaseRunner } from './phase.js';
import {
  durabilityFigures,
  type BenchReport,
  type ConnectEntry,
  type DurabilityEntry,
  type TelemetryEntry,
} from './report.js';
import { schedulerOnly } from './scheduler-only.js';
import { limiterCost } from './limiter-cost.js';

export interface Bench {
  opts: Options;
  limits: Limits;
  report: BenchReport;
  runner: PhaseRunner;
}

type TelemetryClient = 'edgefleet' | 'mqttjs';
/** A telemetry run: a client, or edgefleet against the emulator recording its state. */
type TelemetryRun = TelemetryClient | 'edgefleet-durable';
/** A telemetry size: the identities asked for, those that fit here, and why fewer. */
type Size = ReturnType<typeof fitIdentities> & { wanted: number };
/** Telemetry runs by `${run}@${wanted}`. */
type TelemetryRuns = Map<string, TelemetryEntry[]>;

export const clientsInOrder = (opts: Options) =>
  (['edgefleet', 'mqttjs', 'azureSdk', 'mqttjsSharedTls'] as const).filter((c) => opts.clients.has(c));

const repeatLabel = (opts: Options, r: number) => (opts.repeat > 1 ? ` (run ${r + 1}/${opts.repeat})` : '');

function nonZero(r: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== 0));
}

export async function connectPhases(bench: Bench): Promise<void> {
  const { opts, report } = bench;
  say(`connect: ${opts.identities} identities per client, ${opts.concurrency} in flight`);
  const runs = new Map<Variant, ConnectEntry[]>();
  for (let r = 0; r < opts.repeat; r++) {
    for (const variant of clientsInOrder(opts)) {
      const entry = await connectRun(bench, variant, r);
      if (entry !== undefined) runs.set(variant, [...(runs.get(variant) ?? []), entry]);
    }
  }
  for (const [variant, list] of runs) keepConnect(report, variant, list);
}

async function connectRun(bench: Bench, variant: Variant, r: number): Promise<ConnectEntry | undefined> {
  const { opts, limits, report } = bench;
  const fit = fitIdentities(opts.identities, limits, variant === 'azureSdk' ? 1 : opts.localAddresses.length);
  if (fit.reason !== undefined && r === 0)
    report.notes.push(`connect ${variant}: scaled down to ${fit.identities} identities: ${fit.reason}`);
  const label = `connect ${variant}${repeatLabel(opts, r)}`;
  const { result, totals } = await bench.runner.run({ label, variant, kind: 'connect', n: fit.identities });
  if (result.connect === undefined) {
    report.errors.push(`${label}: ${result.error ?? 'no result'}`);
    return undefined;
  }
  if (!result.gcExposed) report.notes.push(`${label}: GC was not exposed; RSS figures include garbage`);
  if (result.connect.failed + result.connect.unfinished > 0) {
    report.errors.push(
      `${label}: ${result.connect.failed} failed, ${result.connect.unfinished} unfinished: ${JSON.stringify(result.connect.errors)}`,
    );
  }
  return {
    ...result.connect,
    requested: opts.identities,
    identities: result.connect.connected,
    emulator:
      totals === undefined
        ? {}
        : { connects: totals.connects, twinGets: totals.twinGets, rejections: nonZero(totals.rejections) },
    ...(result.ok ? {} : { error: result.error ?? 'failed' }),
  };
}

/** The run that counts among a client's connect runs, with every run's key figures when there were several. */
function keepConnect(report: BenchReport, variant: Variant, list: ConnectEntry[]): void {
  const best =
    pick(
      list.filter((e) => e.error === undefined),
      (e) => e.perSec,
    ) ?? list[0];
  if (best === undefined) return;
  report.connect[variant] = {
    ...best,
    ...(list.length > 1
      ? {
          runs: list.map((e) => ({
            perSec: e.perSec,
            perCpuSec: e.perCpuSec,
            rssPerIdentityKB: e.rssPerIdentityKB,
            otherCores: e.otherCores,
          })),
        }
      : {}),
  };
  if (best.otherCores > QUIET_CORES) {
    report.notes.push(
      `connect ${variant}: other processes used ${best.otherCores} cores meanwhile: the figures are disturbed`,
    );
  }
}

/** The scheduler with tasks that do nothing, at the largest telemetry size: what the mechanism itself adds. */
export async function schedulerAlone(bench: Bench): Promise<void> {
  const { opts, report } = bench;
  const n = Math.max(...opts.telemetryIdentities);
  say(`scheduler alone: ${n} tasks every 2000 ms, no I/O`);
  await waitForQuiet(opts.quietWaitSeconds * 1000);
  const so = await schedulerOnly(n, 2000, 2000, opts.quick ? 4000 : 8000);
  report.lateness = {
    p99Ms: null,
    p50Ms: null,
    p999Ms: null,
    maxMs: null,
    identities: n,
    intervalMs: 2000,
    count: 0,
    schedulerOnly: so,
  };
}

/** The emulator's limiters fed 100,000 identities' operations, with and without limits (README, emulator limits). */
export async function limiterPhase(bench: Bench): Promise<void> {
  say("limits: the emulator's limiters, 100,000 identities' operations in process");
  await waitForQuiet(bench.opts.quietWaitSeconds * 1000);
  bench.report.limiter = await limiterCost(100_000, bench.opts.quick ? 4 : 8);
}

export async function telemetryPhases(bench: Bench): Promise<void> {
  const { opts, limits, report } = bench;
  const clients = clientsInOrder(opts).filter((c): c is TelemetryClient => c === 'edgefleet' || c === 'mqttjs');
  const sizes: Size[] = opts.telemetryIdentities.map((wanted) => ({
    wanted,
    ...fitIdentities(wanted, limits, opts.localAddresses.length),
  }));
  const largestFit = Math.max(...sizes.map((z) => z.identities));
  // The durability figure: edgefleet at the largest size, once more against an emulator that records its state.
  const durabilityAt = clients.includes('edgefleet') ? sizes[sizes.length - 1]?.wanted : undefined;
  const runs = await telemetryRuns(bench, clients, sizes, durabilityAt);
  if (durabilityAt !== undefined) keepDurability(report, runs, sizes, durabilityAt);
  for (const variant of clients) keepTelemetry(report, variant, { sizes, runs, largestFit });
  if (report.lateness !== null && (report.lateness.identities !== 10_000 || report.lateness.intervalMs !== 2000)) {
    report.notes.push(
      `lateness was measured at ${report.lateness.identities} identities every ${report.lateness.intervalMs} ms; the target is stated for 10,000 every 2,000 ms`,
    );
  }
}

async function telemetryRuns(
  bench: Bench,
  clients: TelemetryClient[],
  sizes: Size[],
  durabilityAt: number | undefined,
): Promise<TelemetryRuns> {
  const { opts, report } = bench;
  const runs: TelemetryRuns = new Map();
  for (const { wanted, identities: n, reason } of sizes) {
    if (reason !== undefined) report.notes.push(`telemetry @${wanted}: scaled down to ${n} identities: ${reason}`);
    const intervalMs = Math.round((n / opts.rate) * 1000);
    for (let r = 0; r < opts.repeat; r++) {
      const variants: TelemetryRun[] = [...clients, ...(wanted === durabilityAt ? ['edgefleet-durable' as const] : [])];
      for (const run of variants) {
        const entry = await telemetryRun(bench, run, {
          n,
          intervalMs,
          label: `telemetry ${run} @${n}${repeatLabel(opts, r)}`,
        });
        if (entry === undefined) continue;
        const key = `${run}@${wanted}`;
        runs.set(key, [...(runs.get(key) ?? []), entry]);
      }
    }
  }
  return runs;
}

async function telemetryRun(
  bench: Bench,
  run: TelemetryRun,
  at: { n: number; intervalMs: number; label: string },
): Promise<TelemetryEntry | undefined> {
  const { opts, report } = bench;
  const { n, intervalMs, label } = at;
  const durable = run === 'edgefleet-durable';
  say(`${label}: each identity every ${intervalMs} ms (${opts.rate} msgs/s offered)`);
  const { result, received }: PhaseResult = await bench.runner.run({
    label,
    variant: durable ? 'edgefleet' : run,
    kind: 'telemetry',
    n,
    telemetry: { intervalMs, warmupMs: opts.warmupSeconds * 1000, durationMs: opts.windowSeconds * 1000 },
    durable,
  });
  const t = result.telemetry;
  if (t === undefined) {
    report.errors.push(`${label}: ${result.error ?? 'no telemetry figures'}`);
    return undefined;
  }
  return telemetryEntry(result, t, n, received);
}

function telemetryEntry(
  result: ClientResult,
  t: NonNullable<ClientResult['telemetry']>,
  n: number,
  received: number | undefined,
): TelemetryEntry {
  return {
    ...t,
    identities: n,
    connected: result.connect?.connected ?? 0,
    p99Ms: t.puback.p99Ms,
    ...(received === undefined ? {} : { emulatorReceived: received }),
    ...(result.ok ? {} : { error: result.error ?? 'failed' }),
  };
}

function keepDurability(report: BenchReport, runs: TelemetryRuns, sizes: Size[], durabilityAt: number): void {
  const size = sizes.find((z) => z.wanted === durabilityAt);
  const d = durabilityEntry(runs, durabilityAt, size?.identities ?? durabilityAt);
  report.durability = d;
  if (
    d.ephemeral !== null &&
    d.durable !== null &&
    Math.abs(d.durable.offeredPerSec - d.ephemeral.offeredPerSec) > 0.01 * d.ephemeral.offeredPerSec
  ) {
    report.notes.push(
      `durability: the two runs did not offer the same rate (${d.ephemeral.connected} and ` +
        `${d.durable.connected} identities connected when the window began): compare acked/s with offered/s`,
    );
  }
}

/** The ephemeral and the durable edgefleet runs at `wanted` identities, each its median run by acked/s. */
function durabilityEntry(runs: TelemetryRuns, wanted: number, identities: number): DurabilityEntry {
  const ok = (key: string) => (runs.get(key) ?? []).filter((e) => e.error === undefined);
  const ephemeral = pick(ok(`edgefleet@${wanted}`), (e) => e.achievedPerSec);
  const durable = pick(ok(`edgefleet-durable@${wanted}`), (e) => e.achievedPerSec);
  const all = [
    ...ok(`edgefleet@${wanted}`).map((e) => ({ e, durable: false })),
    ...ok(`edgefleet-durable@${wanted}`).map((e) => ({ e, durable: true })),
  ];
  return {
    client: 'edgefleet',
    identities,
    offeredPerSec: (durable ?? ephemeral)?.offeredPerSec ?? 0,
    ephemeral: ephemeral === undefined ? null : durabilityFigures(ephemeral),
    durable: durable === undefined ? null : durabilityFigures(durable),
    ...(all.length > 2
      ? {
          runs: all.map(({ e, durable: d }) => ({
            durable: d,
            achievedPerSec: e.achievedPerSec,
            otherCores: e.otherCores,
            emulatorMicrosPerMessage: durabilityFigures(e).emulatorMicrosPerMessage,
          })),
        }
      : {}),
  };
}

/** A client's telemetry figures by size (the run that counts at each), its headline at the largest size. */
function keepTelemetry(
  report: BenchReport,
  variant: TelemetryClient,
  all: { sizes: Size[]; runs: TelemetryRuns; largestFit: number },
): void {
  const { sizes, runs, largestFit } = all;
  const byIdentities: Record<string, TelemetryEntry> = {};
  for (const { wanted, identities: n } of sizes) {
    const list = runs.get(`${variant}@${wanted}`) ?? [];
    const t =
      pick(
        list.filter((e) => e.error === undefined),
        (e) => e.msgsPerCoreSec,
      ) ?? list[0];
    if (t === undefined) continue;
    byIdentities[String(wanted)] = {
      ...t,
      ...(list.length > 1
        ? {
            runs: list.map((e) => ({
              achievedPerSec: e.achievedPerSec,
              msgsPerCoreSec: e.msgsPerCoreSec,
              p99Ms: e.p99Ms,
              otherCores: e.otherCores,
            })),
          }
        : {}),
    };
    noteTelemetryRun(report, `telemetry ${variant} @${n}`, t);
    if (variant === 'edgefleet' && n === largestFit) keepLateness(report, t, runs.get(`mqttjs@${wanted}`) ?? []);
  }
  const keys = Object.keys(byIdentities).map(Number);
  const headline = keys.length === 0 ? undefined : byIdentities[String(Math.max(...keys))];
  report.telemetry[variant] = {
    identities: headline?.identities ?? 0,
    msgsPerCoreSec: headline?.msgsPerCoreSec ?? null,
    p99Ms: headline?.p99Ms ?? null,
    byIdentities,
  };
}

/** Notes a run the rest of the machine disturbed, or one whose pair did not keep up with the offered rate. */
function noteTelemetryRun(report: BenchReport, what: string, t: TelemetryEntry): void {
  if (t.otherCores > QUIET_CORES) {
    report.notes.push(`${what}: other processes used ${t.otherCores} cores over the window: the figures are disturbed`);
  }
  if (t.achievedPerSec < 0.95 * t.offeredPerSec) {
    report.notes.push(
      `${what}: acknowledged ${t.achievedPerSec}/s of ${t.offeredPerSec}/s offered: the pair did not keep up (client ${t.clientCpuCores} cores, emulator ${t.emulatorCores} cores, others ${t.otherCores})`,
    );
  }
}

/** edgefleet's scheduler lateness at the largest size, beside plain mqtt.js's event-loop delay there. */
function keepLateness(report: BenchReport, t: TelemetryEntry, mqttjsRuns: TelemetryEntry[]): void {
  if (t.lateness === undefined) return;
  const mqttjsEld = pick(mqttjsRuns, (e) => e.msgsPerCoreSec)?.eventLoopDelay.p99Ms;
  report.lateness = {
    ...report.lateness,
    p99Ms: t.lateness.p99Ms,
    p50Ms: t.lateness.p50Ms,
    p999Ms: t.lateness.p999Ms,
    maxMs: t.lateness.maxMs,
    identities: t.identities,
    intervalMs: t.intervalMs,
    count: t.lateness.count,
    ...(mqttjsEld === undefined ? {} : { mqttjsEventLoopDelayP99Ms: mqttjsEld }),
  };
}
