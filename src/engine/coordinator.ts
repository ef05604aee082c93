// The coordinator (main thread): shards a planned fleet over workers, starts them together, merges their metrics
// into one stream of per-second snapshots for the outputs, stops the run (end of profile, the operator, an
// output such as a failed threshold, a worker that died), and hands the final aggregate to the outputs.
import { availableParallelism } from 'node:os';
import { splitAmong } from '../config/plan.js';
import type { LoadedScenario } from '../config/load.js';
import type { RunningEmulator } from '../endpoints/emulator-target.js';
import type { Target } from '../endpoints/target.js';
import type { AssignmentCache, AssignmentChanges } from '../endpoints/assignment-cache.js';
import { registrationIdsOf } from '../sim/build.js';
import { MetricsAggregate } from '../metrics/aggregate.js';
import type { DescriptorBudget } from '../metrics/fault-events.js';
import { OutputFanOut } from '../outputs/fan-out.js';
import type { Output, RunFinal, RunStart } from '../outputs/output.js';
import { newRunId } from '../report/write.js';
import { threadWorkers, type WorkerSpawner } from './hosts.js';
import type { WorkerIdentity, WorkerInit } from './messages.js';
import { EventTracker } from './event-tracker.js';
import { LimitsWatch } from './limits-watch.js';
import { WorkerPool } from './pool.js';
import { TargetRestarts } from './target-restart.js';
import { SnapshotTicker, type TickLevel } from './ticker.js';

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

type Log = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;

export interface RunOptions {
  plan: RunPlan;
  target: Target;
  targetLabel: string;
  /** Read the stream, in this order (see outputs/output.ts). */
  outputs?: readonly Output[];
  workers?: number;
  localAddresses?: string[];
  logLevel?: WorkerInit['logLevel'];
  log?: Log;
  /** Lines for the person running the fleet (a gateway's TLS address, the /metrics URL). */
  notice?: (message: string) => void;
  /** Resolves when the operator asks to stop early (first SIGINT). */
  stopSignal?: Promise<void>;
  /** --gateway-listen: gateways whose edgeHub opens a TLS port, and the edge CA their certificates chain to. */
  gatewayListen?: { gatewayId: string; host: string; port: number }[];
  edgeCa?: { certPem: string; keyPem: string };
  /** Where workers run: threads by default; tests run them in this thread (engine/hosts.ts). */
  spawn?: WorkerSpawner;
  /** What DPS assigned in earlier runs; the run's new assignments go into it (written every 10 s and at the end). */
  assignments?: AssignmentCache;
  /** The embedded emulator this run started: a targetRestart event kills and restarts it. */
  emulator?: RunningEmulator;
  /** The pre-flight budget of descriptors, for the report. */
  descriptors?: DescriptorBudget;
}

const ASSIGNMENTS_SAVE_MS = 10_000;

/** Runs the plan to its end and returns the final; the outputs have seen the whole run. */
export async function runFleet(options: RunOptions): Promise<RunFinal> {
  const { plan } = options;
  const log = options.log ?? (() => {});
  const notice = options.notice ?? (() => {});
  const shard = plan.shard === undefined ? {} : { shard: `${plan.shard.index + 1}/${plan.shard.count}` };
  const aggregate = new MetricsAggregate(shard);
  const outputs = new OutputFanOut(options.outputs ?? [], log);
  let pool: WorkerPool | undefined;
  let requestStop: (reason: string) => void = () => {};
  const stopRequested = new Promise<string>((resolve) => (requestStop = resolve));
  let ticker: SnapshotTicker | undefined;
  const cache = options.assignments;
  const saving = cache === undefined ? undefined : setInterval(() => void cache.save(), ASSIGNMENTS_SAVE_MS);
  let watch: Watchers | undefined;
  try {
    pool = startWorkers(options, aggregate, { log, notice }, () => watch);
    // The clock starts when every worker has built its things, so no arrival is late because of set-up.
    await pool.whenReady();
    const startAt = Date.now() + 100;
    watch = watchers(options, pool, startAt, log);
    pool.start(startAt);
    watch.restarts.schedule();
    const run = runStart(options, pool, aggregate, startAt, { log, notice, stop: requestStop, ticker: () => ticker });
    await outputs.start(run);
    const observe = observer(watch, aggregate);
    ticker = new SnapshotTicker(
      { startAt, durationMs: plan.durationMs, profile: plan.scenario.profile, observe },
      pool,
      aggregate,
      (s) => outputs.snapshot(s),
    );
    const stoppedEarly = await untilEnd(startAt + plan.durationMs, options.stopSignal, stopRequested, pool.failed);
    if (stoppedEarly !== undefined) log('info', `stopped before the end of the profile: ${stoppedEarly}`);
    ticker.stopping = true;
    const final = await endOfRun(plan, pool, watch, aggregate);
    ticker.stop();
    return await outputs.finish({ ...final, ...(stoppedEarly === undefined ? {} : { stoppedEarly }) });
  } finally {
    ticker?.stop();
    clearInterval(saving);
    await watch?.restarts.settle();
    await pool?.terminate();
    await cache?.save();
    await outputs.close();
  }
}

/** The workers, each building its share of the plan; what they report goes to the watchers once they exist. */
function startWorkers(
  options: RunOptions,
  aggregate: MetricsAggregate,
  lines: { log: Log; notice: (message: string) => void },
  watch: () => Watchers | undefined,
): WorkerPool {
  const cache = options.assignments;
  const apply = (changes: AssignmentChanges) => cache?.apply(changes);
  return new WorkerPool(workerInits(options), options.spawn ?? threadWorkers(), aggregate, {
    ...lines,
    event: (m) => watch()?.tracker.fromWorker(m),
    gone: (index) => watch()?.tracker.workerGone(index),
    ...(cache === undefined ? {} : { assignments: apply }),
  });
}

/** What the coordinator follows beside the metrics: the profile's events (running targetRestart), limits met. */
interface Watchers {
  tracker: EventTracker;
  limits: LimitsWatch;
  restarts: TargetRestarts;
}

function watchers(options: RunOptions, pool: WorkerPool, startAt: number, log: Log): Watchers {
  const events = options.plan.scenario.profile.events;
  const tracker = new EventTracker(events, startAt, pool.workerIndexes, (line) => log('info', line));
  const limits = new LimitsWatch(startAt, options.descriptors, (line) => log('warn', line));
  const restarts = new TargetRestarts(events, startAt, options.emulator, pool, tracker, log);
  return { tracker, limits, restarts };
}

/** Each second: the events' windows and the limits met, from what has been merged. */
function observer({ tracker, limits }: Watchers, aggregate: MetricsAggregate) {
  return (now: number, fleet: TickLevel) => {
    tracker.tick(now, aggregate, fleet.connected);
    limits.tick(aggregate, fleet);
    return tracker.reports();
  };
}

/** The profile is over: the events say where they stand, the target comes back if down, the workers drain. */
async function endOfRun(
  plan: RunPlan,
  pool: WorkerPool,
  watch: Watchers,
  aggregate: MetricsAggregate,
): Promise<RunFinal> {
  watch.tracker.profileEnded({ identities: aggregate.gauges()['connected'] ?? 0, connections: pool.connections() });
  // A target still down comes back now: the drain and the reconciliation need it.
  await watch.restarts.settle();
  await pool.stop(plan.drainMs);
  const endedAtMs = Date.now();
  const events =
    plan.scenario.profile.events.length === 0 ? {} : { events: watch.tracker.finish(endedAtMs, aggregate) };
  return {
    endedAtMs,
    aggregate,
    ...pool.counts(),
    acknowledgedBy: pool.acknowledgedBy,
    ...(pool.failures.length === 0 ? {} : { incomplete: pool.failures.join('; ') }),
    ...events,
    limits: watch.limits.result(),
  };
}

/** Each worker's share of the plan, and how to run it. */
function workerInits(options: RunOptions): WorkerInit[] {
  const { plan } = options;
  const count = Math.max(1, Math.min(options.workers ?? availableParallelism(), plan.identities.length || 1));
  const listen =
    options.gatewayListen === undefined || options.edgeCa === undefined
      ? {}
      : { gatewayListen: options.gatewayListen, edgeCa: options.edgeCa };
  const cache = options.assignments;
  return splitAmong(plan.identities, count).map((identities, workerIndex) => ({
    workerIndex,
    scenario: plan.scenario,
    identities,
    target: options.target,
    durationMs: plan.durationMs,
    seed: plan.seed,
    actionShare: plan.fleetSize === 0 ? 0 : identities.length / plan.fleetSize,
    localAddresses: options.localAddresses ?? [],
    snapshotIntervalMs: 1000,
    logLevel: options.logLevel ?? 'warn',
    ...listen,
    ...(cache === undefined
      ? {}
      : {
          assignments: cache.entriesFor(identities.flatMap((i) => registrationIdsOf(plan.scenario, i))),
        }),
  }));
}

interface RunHooks {
  log: Log;
  notice: (message: string) => void;
  stop: (reason: string) => void;
  ticker: () => SnapshotTicker | undefined;
}

function runStart(
  options: RunOptions,
  pool: WorkerPool,
  aggregate: MetricsAggregate,
  startAt: number,
  hooks: RunHooks,
): RunStart {
  const { plan } = options;
  const groups = [...new Set(plan.identities.map((i) => i.group))].map((name) => ({
    name,
    patterns: [...(pool.groupPatterns.get(name) ?? [])],
  }));
  return {
    runId: newRunId(new Date(startAt)),
    scenario: plan.scenarioName,
    profile: plan.profileName,
    target: options.targetLabel,
    seed: plan.seed,
    ...(plan.shard === undefined ? {} : { shard: plan.shard }),
    startedAtMs: startAt,
    durationMs: plan.durationMs,
    groups,
    deviceIds: plan.identities.map((i) => i.deviceId),
    aggregate,
    log: hooks.log,
    notice: hooks.notice,
    control: {
      stop: hooks.stop,
      pause(paused) {
        const ticker = hooks.ticker();
        if (ticker !== undefined) ticker.paused = paused;
        pool.pause(paused);
      },
      inspect: (deviceId) => pool.inspect(deviceId),
    },
  };
}

/** Waits for the end of the profile; says why when the run ends before it. */
async function untilEnd(
  endAt: number,
  operator: Promise<void> | undefined,
  requested: Promise<string>,
  failed: Promise<string>,
): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const end = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, endAt - Date.now()));
  });
  try {
    return await Promise.race([
      end,
      requested,
      failed,
      ...(operator === undefined ? [] : [operator.then(() => 'stopped by the operator')]),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
