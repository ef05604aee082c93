// The coordinator (main thread): plans the fleet, brings up the target, shards identities over worker
// threads, merges their metrics each second, stops the run (end of profile or SIGINT), and reports.
import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { MetricsAggregate } from '../metrics/aggregate.js';
import { formatConsoleReport } from '../report/console.js';
import { newRunId, updateLatest } from '../report/write.js';
import { renderRunFolder } from '../report/render.js';
import { startPrometheusExporter } from '../report/prometheus.js';
import { thresholdJudge, type Rejudged } from '../report/rejudge.js';
import { abortingResults, evaluateLive, formatThresholdResults, liveSummaryOf, type Threshold } from '../report/thresholds.js';
import type { Reconciliation, RunSummary } from '../report/summary.js';
import { ServiceClient } from '../endpoints/service-client.js';
import type { Target } from '../endpoints/target.js';
import { splitAmong } from '../config/plan.js';
import type { LoadedScenario } from '../config/load.js';
import { describeStage, formatProgressLine, fromAggregate, initialState, nextState, startDashboard } from '../ui/index.js';
import type { DeviceDetail, StateCounts } from '../metrics/types.js';
import type { FromWorker, WorkerIdentity, WorkerInit } from './messages.js';

export interface RunPlan {
  /** The loaded scenario and its profile, as plain data for the workers. */
  scenario: LoadedScenario;
  scenarioName: string;
  profileName: string;
  seed: number;
  durationMs: number;
  drainMs: number;
  /** This shard's identities, with their arrival offsets. */
  identities: WorkerIdentity[];
  /** Identities in the whole fleet (all shards). */
  fleetSize: number;
  shard?: { index: number; count: number };
}

export interface RunOptions {
  plan: RunPlan;
  target: Target;
  targetLabel: string;
  workers?: number;
  localAddresses?: string[];
  reportsDir?: string;
  logLevel?: WorkerInit['logLevel'];
  /** Plain progress lines (CI, pipes). */
  progress?: (line: string) => void;
  log?: (level: string, message: string) => void;
  /** Resolves when the operator asks to stop early (first SIGINT). */
  stopSignal?: Promise<void>;
  /** Judged at the end (exit code); those with abortOnFail also every few seconds during the run. */
  thresholds?: Threshold[];
  /** --gateway-listen: gateways whose edgeHub opens a TLS port, and the edge CA their certificates chain to. */
  gatewayListen?: { gatewayId: string; host: string; port: number }[];
  edgeCa?: { certPem: string; keyPem: string };
  /** A live Prometheus /metrics endpoint for the run. */
  prometheus?: { port: number; host: string };
  /** The live dashboard instead of progress lines (a terminal); log lines then go through `setLogSink`. */
  dashboard?: { onInterrupt(): void; setLogSink(print: ((line: string) => void) | undefined): void };
}

export interface RunResult {
  summary: RunSummary;
  reportDir: string;
  console: string;
  /** False when a threshold failed (or aborted the run). */
  thresholdsHeld: boolean;
}

/** The compiled worker file: next to this one in dist/, or in dist/ when running from the sources (tests). */
function workerFile(): string {
  const here = fileURLToPath(new URL('./worker.js', import.meta.url));
  if (existsSync(here)) return here;
  const dist = here.replace(/([/\\])src([/\\])engine([/\\])worker\.js$/, '$1dist$2engine$3worker.js');
  if (existsSync(dist)) return dist;
  throw new Error(`cannot find the worker program (${here}); run "npm run build"`);
}

export async function runFleet(options: RunOptions): Promise<RunResult> {
  const { plan, target } = options;
  const log = options.log ?? (() => {});
  const progress = options.progress ?? (() => {});
  const workerCount = Math.max(1, Math.min(options.workers ?? availableParallelism(), plan.identities.length || 1));
  const slices = splitAmong(plan.identities, workerCount);
  const aggregate = new MetricsAggregate(plan.shard === undefined ? {} : { shard: `${plan.shard.index + 1}/${plan.shard.count}` });
  const states = new Map<number, StateCounts>();
  const patterns = new Map<number, StateCounts>();
  /** Group → the patterns of its things, as the workers report them. */
  const groupPatterns = new Map<string, Set<string>>();
  const pending = new Map<number, number>();
  const acknowledgedBy: Record<string, number> = {};
  const file = workerFile();

  const finals: Promise<void>[] = [];
  const readies: Promise<void>[] = [];
  const owner = new Map<string, number>();
  slices.forEach((ids, w) => ids.forEach((i) => owner.set(i.deviceId, w)));
  const heapMB = new Map<number, number>();
  const inspections = new Map<number, (d: DeviceDetail | undefined) => void>();
  let nextRequest = 0;
  const workers = slices.map((identities, workerIndex) => {
    const init: WorkerInit = {
      workerIndex, scenario: plan.scenario, identities, target, durationMs: plan.durationMs, seed: plan.seed,
      actionShare: plan.fleetSize === 0 ? 0 : identities.length / plan.fleetSize,
      localAddresses: options.localAddresses ?? [], snapshotIntervalMs: 1000, logLevel: options.logLevel ?? 'warn',
      ...(options.gatewayListen === undefined || options.edgeCa === undefined ? {} : { gatewayListen: options.gatewayListen, edgeCa: options.edgeCa }),
    };
    const worker = new Worker(file, { workerData: init });
    let resolveReady: () => void = () => {};
    readies.push(new Promise<void>((r) => (resolveReady = r)));
    finals.push(new Promise<void>((resolveFinal, rejectFinal) => {
      worker.on('message', (m: FromWorker) => {
        switch (m.type) {
          case 'ready':
            for (const [group, list] of Object.entries(m.groupPatterns)) {
              const known = groupPatterns.get(group) ?? new Set<string>();
              for (const p of list) known.add(p);
              groupPatterns.set(group, known);
            }
            resolveReady();
            return;
          case 'inspection':
            inspections.get(m.requestId)?.(m.detail ?? undefined);
            return;
          case 'snapshot':
            heapMB.set(m.workerIndex, m.heapUsed / 1_048_576);
            aggregate.add(String(m.workerIndex), m.snapshot);
            states.set(m.workerIndex, m.states);
            patterns.set(m.workerIndex, m.patterns);
            pending.set(m.workerIndex, m.pendingAcks);
            return;
          case 'final':
            aggregate.add(String(m.workerIndex), m.snapshot);
            states.set(m.workerIndex, m.states);
            patterns.set(m.workerIndex, m.patterns);
            pending.set(m.workerIndex, 0);
            for (const [id, n] of Object.entries(m.acknowledgedBy)) acknowledgedBy[id] = (acknowledgedBy[id] ?? 0) + n;
            resolveFinal();
            return;
          case 'log':
            log(m.level, m.message);
            return;
          case 'notice':
            log('info', m.message);
            progress(m.message);
            return;
          case 'fatal':
            rejectFinal(new Error(`worker ${workerIndex}: ${m.message}`));
            return;
          default:
        }
      });
      worker.on('error', (err) => rejectFinal(new Error(`worker ${workerIndex} crashed: ${err.stack ?? err.message}`)));
      worker.on('exit', (code) => {
        if (code !== 0) rejectFinal(new Error(`worker ${workerIndex} exited with code ${code}`));
      });
    }));
    return worker;
  });

  // The clock starts when every worker has built its things, so no arrival is late because of set-up.
  const failure = Promise.all(finals).then(() => undefined);
  try {
    await Promise.race([Promise.all(readies), failure]);
  } catch (err) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw err;
  }
  const startAt = Date.now() + 100;
  for (const w of workers) w.postMessage({ type: 'start', startAt });
  const runId = newRunId(new Date(startAt), undefined);
  const exporter = options.prometheus === undefined ? undefined : await startPrometheusExporter(
    options.prometheus.port, options.prometheus.host, () => aggregate,
    { run_id: runId, scenario: plan.scenarioName, ...(plan.shard === undefined ? {} : { shard: `${plan.shard.index + 1}/${plan.shard.count}` }) },
  );
  if (exporter !== undefined) progress(`prometheus: ${exporter.url}`);

  // Thresholds with abortOnFail stop the run as soon as they have certainly failed.
  const thresholds = options.thresholds ?? [];
  const abortable = thresholds.filter((t) => t.abortOnFail);
  let abortTimer: NodeJS.Timeout | undefined;
  const abortedBy = new Promise<string>((resolveAbort) => {
    if (abortable.length === 0) return;
    abortTimer = setInterval(() => {
      const failed = abortingResults(evaluateLive(abortable, liveSummaryOf(aggregate)));
      if (failed.length > 0) resolveAbort(failed.map((r) => `${r.threshold.text}: ${r.detail}`).join('; '));
    }, 2000);
  });
  void abortedBy.then((why) => log('error', `aborting: a threshold failed: ${why}`));

  // What the operator sees: the dashboard on a terminal, a plain line every 5 s elsewhere.
  const profile = plan.scenario.profile;
  let ui = initialState({
    scenario: plan.scenarioName, profile: plan.profileName, target: options.targetLabel, startedAtMs: startAt,
    durationMs: plan.durationMs,
    groups: [...new Set(plan.identities.map((i) => i.group))].map((name) => ({ name, patterns: [...(groupPatterns.get(name) ?? [])] })),
  });
  let paused = false;
  let stopping = false;
  let stopByKey: () => void = () => {};
  const stoppedByKey = new Promise<void>((r) => (stopByKey = r));
  const inspect = (deviceId: string) => new Promise<DeviceDetail | undefined>((ok, fail) => {
    const w = owner.get(deviceId);
    if (w === undefined) return ok(undefined);
    const requestId = ++nextRequest;
    const timer = setTimeout(() => {
      inspections.delete(requestId);
      fail(new Error(`worker ${w} did not answer within 2 s`));
    }, 2000);
    inspections.set(requestId, (d) => {
      clearTimeout(timer);
      inspections.delete(requestId);
      ok(d);
    });
    workers[w]!.postMessage({ type: 'inspect', requestId, deviceId });
  });
  const dash = options.dashboard === undefined ? undefined : await startDashboard({
    initial: ui, deviceIds: plan.identities.map((i) => i.deviceId), onStop: () => stopByKey(),
    onPause: (p) => {
      paused = p;
      for (const w of workers) w.postMessage({ type: 'pause', paused: p });
    },
    onDrill: inspect, onInterrupt: options.dashboard.onInterrupt,
  });
  options.dashboard?.setLogSink(dash && ((line) => dash.log(line)));
  const elu = workers.map((w) => w.performance.eventLoopUtilization());
  let cpuMark = process.cpuUsage();
  let cpuAt = performance.now();
  let ticks = 0;
  const ticker = setInterval(() => {
    const now = Date.now();
    aggregate.tick(now);
    const loads = workers.map((w, index) => {
      const current = w.performance.eventLoopUtilization();
      const delta = w.performance.eventLoopUtilization(current, elu[index]!);
      elu[index] = current;
      return { index, busyPercent: delta.utilization * 100, heapMB: heapMB.get(index) ?? null };
    });
    const cpu = process.cpuUsage(cpuMark);
    const at = performance.now();
    const cpuPercent = ((cpu.user + cpu.system) / 1000 / (at - cpuAt)) * 100;
    cpuMark = process.cpuUsage();
    cpuAt = at;
    ui = nextState(ui, {
      now, ...fromAggregate(aggregate), states: states.values(), patterns: patterns.values(), workers: loads,
      process: { cpuPercent, rssMB: process.memoryUsage.rss() / 1_048_576 },
      stage: describeStage(profile.arrivals, now - startAt, { durationMs: plan.durationMs, ...(profile.rampDown === undefined ? {} : { rampDownMs: profile.rampDown }), stopping }),
      paused, stopping,
    });
    if (dash) dash.update(ui);
    else if (++ticks % 5 === 0) progress(formatProgressLine(ui));
  }, 1000);

  // Run until the profile ends or the operator stops it.
  let endTimer: NodeJS.Timeout | undefined;
  const endOfProfile = new Promise<void>((r) => (endTimer = setTimeout(r, Math.max(0, startAt + plan.durationMs - Date.now()))));
  try {
    await Promise.race([endOfProfile, options.stopSignal ?? new Promise<never>(() => {}), failure, abortedBy, stoppedByKey]);
  } catch (err) {
    // A worker failed: leave the terminal as it was found before saying so.
    clearInterval(ticker);
    await dash?.close();
    options.dashboard?.setLogSink(undefined);
    await Promise.all(workers.map((w) => w.terminate()));
    throw err;
  }
  stopping = true;
  clearTimeout(endTimer);
  clearInterval(abortTimer);
  const endedEarly = Date.now() < startAt + plan.durationMs;
  for (const w of workers) w.postMessage({ type: 'stop', drainMs: plan.drainMs });
  let drainTimer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.all(finals),
      new Promise((_, reject) => {
        drainTimer = setTimeout(() => reject(new Error('workers did not finish draining in time')), plan.drainMs + 30_000);
      }),
    ]);
  } finally {
    clearTimeout(drainTimer);
    clearInterval(ticker);
    await Promise.all(workers.map((w) => w.terminate()));
    if (dash) {
      // Left on screen: the last frame, as the run ended.
      dash.update(nextState(ui, { now: Date.now(), ...fromAggregate(aggregate), states: states.values(), patterns: patterns.values(), stopping: true }));
      await dash.close();
      options.dashboard?.setLogSink(undefined);
    }
  }

  const reconciliation = target.kind === 'emulator' && target.service !== undefined
    ? await reconcile(new ServiceClient(target.service), acknowledgedBy).catch((err: Error) => {
      log('warn', `could not reconcile with the emulator: ${err.message}`);
      return undefined;
    })
    : undefined;

  const reportDir = join(resolve(options.reportsDir ?? 'reports'), runId);
  let judged: Rejudged | undefined;
  const { summary } = await renderRunFolder(reportDir, aggregate, {
    runId,
    scenario: plan.scenarioName,
    profile: plan.profileName,
    target: options.targetLabel,
    seed: plan.seed,
    ...(plan.shard === undefined ? {} : { shard: { index: plan.shard.index, count: plan.shard.count } }),
    ...(reconciliation === undefined ? {} : { reconciliation }),
  }, {
    ...(thresholds.length === 0 ? {} : {
      judge: thresholdJudge(thresholds.map((t) => ({ text: t.text, abortOnFail: t.abortOnFail })), undefined, (j) => (judged = j)),
    }),
    generator: 'edgefleet run',
  });
  await updateLatest(reportDir);
  await exporter?.close();
  if (endedEarly) log('info', 'stopped before the end of the profile');
  const results = judged?.results ?? [];
  const verdict = results.length === 0 ? '' : `\nthresholds\n${formatThresholdResults(results)}`;
  return {
    summary, reportDir, console: formatConsoleReport(summary, { color: false }) + verdict,
    thresholdsHeld: results.every((r) => r.passed) && (judged?.unreadable.length ?? 0) === 0,
  };
}

/** What the devices say the target acknowledged, against what the emulator says it received. */
async function reconcile(service: ServiceClient, acknowledgedBy: Record<string, number>): Promise<Reconciliation> {
  const stats = await service.stats();
  let acknowledged = 0;
  let received = 0;
  let acknowledgedNotReceived = 0;
  let receivedNotAcknowledged = 0;
  for (const [identity, acked] of Object.entries(acknowledgedBy)) {
    const got = stats.identities[identity]?.messagesReceived ?? 0;
    acknowledged += acked;
    received += got;
    acknowledgedNotReceived += Math.max(0, acked - got);
    receivedNotAcknowledged += Math.max(0, got - acked);
  }
  return { acknowledged, received, acknowledgedNotReceived, receivedNotAcknowledged };
}
