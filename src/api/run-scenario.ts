// One call for a whole run, as `edgefleet run` and `edgefleet smoke` make it: load and validate the scenario, plan
// the fleet, reach the target (starting the embedded emulator when it is the target), assign the IoT Edge
// deployment manifests, run the fleet with its outputs, and return the report.
import { ConfigError } from '../config/errors.js';
import { checkScenario } from '../config/gate.js';
import { loadScenario, type LoadedScenario } from '../config/load.js';
import { parseShard, planFleet, shardOf, type PlannedIdentity, type Shard } from '../config/plan.js';
import { parseThreshold, ThresholdError, type Threshold } from '../config/thresholds.js';
import type { EmulatorInfo } from '../emulator/index.js';
import { readInfoFile, targetFromInfo } from '../endpoints/emulator-target.js';
import { assignManifests, prepareHubIdentities, resolveTarget, type PreparedTarget } from '../endpoints/resolve.js';
import { AssignmentCache, cacheScopeOf } from '../endpoints/assignment-cache.js';
import { ServiceClient } from '../endpoints/service-client.js';
import { runFleet, type RunOptions, type RunPlan } from '../engine/coordinator.js';
import {
  budgetAdvice,
  descriptorBudget,
  estimateDescriptors,
  fits,
  localPortRange,
  openDescriptors,
  PlanExceedsLimits,
  readDescriptorLimit,
} from '../engine/descriptors.js';
import type { DescriptorBudget } from '../metrics/fault-events.js';
import { availableParallelism } from 'node:os';
import { displayPath } from '../config/errors.js';
import type { WorkerSpawner } from '../engine/hosts.js';
import type { Output, RunFinal } from '../outputs/output.js';
import { reportOutput, type RunReport } from '../outputs/report.js';
import { loadEdgeCa, parseGatewayListen, type GatewayListenSpec } from '../sim/edge/gateway-ca.js';
import { reconciliationOutput, reconciliationUnavailable } from '../outputs/reconciliation.js';
import { runOutputs, type OutputChoices } from './outputs.js';

type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface ScenarioOptions extends OutputChoices {
  /** The scenario file (YAML or JSON), or a scenario already loaded with loadScenario. */
  scenario: string | LoadedScenario;
  /**
   * Overrides of the scenario file: a profile name (profiles/) or file, a duration such as "30s", the target. A profile
   * given here keeps its own duration (and so its events); `duration` overrides every other.
   */
  profile?: string;
  duration?: string;
  target?: 'emulator' | 'iot-central' | 'iot-hub' | 'mqtt';
  seed?: number;
  /** An emulator already running (startEmulator().info, or its --info-file); otherwise one is started when needed. */
  emulator?: EmulatorInfo | string;
  /**
   * The embedded emulator's state directory (its CA and keys), the gateways' edge CA, the assignment cache (what DPS
   * assigned each identity, reused by the next run), and models fetched from a model repository URL.
   * Default ".edgefleet".
   */
  stateDir?: string;
  /** Register every identity through DPS, whatever the assignment cache holds (what DPS assigns is still kept). */
  reprovision?: boolean;
  /** Where reports/<run-id>/ goes. Default "reports". */
  reportsDir?: string;
  /** Worker threads (default: one per core). */
  workers?: number;
  /** Only shard i of n of the fleet: "2/4" or { index: 1, count: 4 }. */
  shard?: string | Shard;
  /** Source addresses to spread connections over. */
  localAddresses?: string[];
  /** Pass/fail criteria added to the scenario's, e.g. "telemetry.p99 < 200ms". */
  thresholds?: string[];
  /** Gateways whose edgeHub opens a real TLS port: "GATEWAY_ID[=HOST:PORT]". */
  gatewayListen?: string[];
  log?: (level: LogLevel, message: string) => void;
  /** What the workers log (default warn). */
  logLevel?: LogLevel;
  /** Aborting stops the run early (drain, then report); aborted before anything connects, nothing runs. */
  signal?: AbortSignal;
  /** Called once the target is ready, just before the fleet starts. */
  onStart?(run: StartingRun): void;
  /** Where workers run (default threads). */
  spawn?: WorkerSpawner;
  /**
   * Run even when the plan needs more file descriptors or local ports than this process has (otherwise a
   * PlanExceedsLimits error says what to do before anything connects).
   */
  force?: boolean;
}

/** What is about to run. */
export interface StartingRun {
  scenario: string;
  profile: string;
  durationMs: number;
  seed: number;
  identities: number;
  fleetSize: number;
  shard?: Shard;
  target: string;
  /** The edge CA devices must trust to connect to a --gateway-listen port. */
  edgeCaPath?: string;
}

export interface ScenarioResult extends RunReport {
  runId: string;
  final: RunFinal;
}

/** Thrown when the signal aborts the run before anything connected. */
export class RunAborted extends Error {
  constructor() {
    super('the run was stopped before it started');
    this.name = 'RunAborted';
  }
}

export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const log = options.log ?? (() => {});
  const loaded = await loadChecked(options);
  for (const w of loaded.warnings) log('warn', `warning: ${w}`);
  const thresholds = [...loaded.scenario.thresholds, ...thresholdsFrom(options.thresholds ?? [])];
  const plan = planOf(loaded, options.shard);
  const gatewayListen = gatewayListenFrom(options.gatewayListen ?? [], plan.identities);
  const embedded = loaded.target.kind === 'emulator' && options.emulator === undefined;
  if (!embedded) refuseTargetRestart(loaded);
  const descriptors = preflight(loaded, plan, { ...options, embedded, gatewayListen: gatewayListen.length, log });
  const stateDir = options.stateDir ?? '.edgefleet';
  const edgeCa = gatewayListen.length === 0 ? undefined : await loadEdgeCa(stateDir);
  const report = reportOutput({ reportsDir: options.reportsDir ?? 'reports', thresholds });
  const chosen = runOutputs(options, thresholds);
  let prepared: PreparedTarget | undefined;
  let ran = false;
  try {
    prepared = await prepareTarget(loaded, options.emulator, stateDir, log);
    await markLimited(prepared, log);
    if (options.signal?.aborted === true) throw new RunAborted();
    const outputs: Output[] = [...reconciliationOf(prepared, options.reconcile), ...chosen, report];
    await assignManifests(prepared.target, loaded, edgeGroups(plan.identities), (line) => log('warn', line));
    await prepareHubIdentities(prepared.target, loaded, plan.identities, (level, line) =>
      level === 'info' && options.notice !== undefined ? options.notice(line) : log(level, line),
    );
    const assignments = await openAssignments(prepared.target, stateDir, options.reprovision === true, log);
    options.onStart?.(startingRun(plan, prepared.label, edgeCa));
    ran = true;
    const final = await runFleet({
      plan,
      target: prepared.target,
      targetLabel: prepared.label,
      log,
      outputs,
      stopSignal: aborted(options.signal),
      ...passedOn(options),
      ...(edgeCa === undefined ? {} : { gatewayListen, edgeCa: { certPem: edgeCa.certPem, keyPem: edgeCa.keyPem } }),
      ...(assignments === undefined ? {} : { assignments }),
      ...(prepared.emulator === undefined ? {} : { emulator: prepared.emulator }),
      ...(descriptors === undefined ? {} : { descriptors }),
    });
    if (report.report === undefined) throw new Error('the run ended without a report');
    return { ...report.report, runId: report.report.summary.runId, final };
  } finally {
    // runFleet closes its outputs; these never reached it.
    if (!ran) for (const o of chosen) await o.close?.();
    await prepared?.release();
  }
}

/**
 * The scenario through the gate (src/config/gate.ts): loading runs it; a scenario loaded elsewhere goes through it
 * here. Either way a model, manifest, route or generator a worker would refuse stops the run before anything connects.
 */
async function loadChecked(options: ScenarioOptions): Promise<LoadedScenario> {
  if (typeof options.scenario !== 'string') {
    await checkScenario(options.scenario);
    return options.scenario;
  }
  return loadScenario(options.scenario, {
    profile: options.profile,
    duration: options.duration,
    target: options.target,
    seed: options.seed,
    stateDir: options.stateDir,
  });
}

/**
 * Reconciliation against the emulator's /stats: by default when the target is the emulator, never otherwise. An IoT
 * Hub has no such count (the emulator given as an IoT Hub is treated as one): the report says so instead of a figure.
 */
function reconciliationOf(prepared: PreparedTarget, reconcile: boolean | undefined): Output[] {
  if (prepared.target.kind === 'iot-hub' && (reconcile ?? true)) {
    return [reconciliationUnavailable('an IoT Hub keeps no count of the messages it received (no /stats)')];
  }
  const service = prepared.target.kind === 'emulator' ? prepared.target.service : undefined;
  if (service === undefined || !(reconcile ?? true)) return [];
  return [reconciliationOutput(service)];
}

/** What DPS assigned in earlier runs, for targets whose assignments can be cached. */
async function openAssignments(
  target: PreparedTarget['target'],
  stateDir: string,
  reprovision: boolean,
  log: (level: LogLevel, message: string) => void,
): Promise<AssignmentCache | undefined> {
  const scope = cacheScopeOf(target);
  if (scope === undefined) return undefined;
  return AssignmentCache.open(stateDir, scope, { ignore: reprovision, warn: (line) => log('warn', line) });
}

function startingRun(plan: RunPlan, label: string, edgeCa: { certPath: string } | undefined): StartingRun {
  return {
    scenario: plan.scenarioName,
    profile: plan.profileName,
    durationMs: plan.durationMs,
    seed: plan.seed,
    identities: plan.identities.length,
    fleetSize: plan.fleetSize,
    target: label,
    ...(plan.shard === undefined ? {} : { shard: plan.shard }),
    ...(edgeCa ? { edgeCaPath: edgeCa.certPath } : {}),
  };
}

/** The options runFleet takes as they are, when given. */
function passedOn(
  options: ScenarioOptions,
): Pick<RunOptions, 'workers' | 'localAddresses' | 'logLevel' | 'notice' | 'spawn'> {
  return {
    ...(options.workers === undefined ? {} : { workers: options.workers }),
    ...(options.localAddresses === undefined ? {} : { localAddresses: options.localAddresses }),
    ...(options.logLevel === undefined ? {} : { logLevel: options.logLevel }),
    ...(options.notice === undefined ? {} : { notice: options.notice }),
    ...(options.spawn === undefined ? {} : { spawn: options.spawn }),
  };
}

function planOf(loaded: LoadedScenario, shardOption: string | Shard | undefined): RunPlan {
  const fleet = planFleet({ scenario: loaded.scenario, profile: loaded.profile, durationMs: loaded.durationMs });
  const shard = typeof shardOption === 'string' ? parseShard(shardOption) : shardOption;
  return {
    scenario: loaded,
    scenarioName: loaded.scenario.name,
    profileName: loaded.profile.name,
    seed: loaded.seed,
    durationMs: loaded.durationMs,
    drainMs: loaded.profile.drain,
    identities: shard === undefined ? fleet.identities : shardOf(fleet.identities, shard),
    fleetSize: fleet.identities.length,
    ...(shard === undefined ? {} : { shard }),
  };
}

async function prepareTarget(
  loaded: LoadedScenario,
  emulator: EmulatorInfo | string | undefined,
  stateDir: string,
  log: (level: LogLevel, message: string) => void,
): Promise<PreparedTarget> {
  if (emulator === undefined || loaded.target.kind !== 'emulator') {
    return resolveTarget(loaded, { stateDir, log: (line) => log('warn', line) });
  }
  const info = typeof emulator === 'string' ? await readInfoFile(emulator) : emulator;
  const label = `emulator at ${info.hubHostName}:${info.mqttPort}`;
  return { target: await targetFromInfo(info), label, release: async () => {} };
}

/**
 * An emulator that enforces limits says so in /stats: its CONNACK 3 and the connections it closes are then its
 * throttling (AzureTarget.limited). IoT Central is limited from the start.
 */
async function markLimited(prepared: PreparedTarget, log: (level: LogLevel, message: string) => void): Promise<void> {
  const target = prepared.target;
  if (target.kind !== 'emulator' || target.service === undefined) return;
  try {
    const stats = await new ServiceClient(target.service).stats();
    if (stats.limits !== undefined && stats.limits !== null) target.limited = true;
  } catch (err) {
    log('warn', `could not ask the emulator whether it enforces limits: ${(err as Error).message}`);
  }
}

/** targetRestart kills and restarts the emulator's process: only one edgefleet started and owns. */
function refuseTargetRestart(loaded: LoadedScenario): void {
  const problems = loaded.profile.events.flatMap((event, index) =>
    event.kind !== 'targetRestart'
      ? []
      : [
          {
            file: displayPath(loaded.profileFile),
            path: `events[${index}].kind`,
            message:
              'targetRestart restarts the embedded emulator that edgefleet starts, and this run uses an emulator it ' +
              'did not start (--target-info): leave --target-info out, or the event out of the profile',
          },
        ],
  );
  if (problems.length > 0) throw new ConfigError(problems);
}

/**
 * The descriptors and ports the plan needs at its peak against this process's limits, before anything connects:
 * refused (PlanExceedsLimits) when they do not fit, unless forced. Undefined where there is no limit to read.
 */
function preflight(
  loaded: LoadedScenario,
  plan: RunPlan,
  o: Pick<ScenarioOptions, 'workers' | 'localAddresses' | 'force'> & {
    embedded: boolean;
    gatewayListen: number;
    log: (level: LogLevel, message: string) => void;
  },
): DescriptorBudget | undefined {
  const limit = readDescriptorLimit();
  if (limit === undefined) return undefined;
  const workers = Math.max(1, Math.min(o.workers ?? availableParallelism(), plan.identities.length || 1));
  const estimate = estimateDescriptors({
    identities: plan.identities,
    groups: loaded.groups,
    target: loaded.target.kind,
    arrivals: loaded.profile.arrivals,
    workers,
    embeddedEmulator: o.embedded,
    gatewayListen: o.gatewayListen,
    baseline: openDescriptors(),
  });
  const budget = descriptorBudget(estimate, limit, localPortRange(), o.localAddresses?.length ?? 0);
  if (fits(budget)) return budget;
  if (o.force !== true) throw new PlanExceedsLimits(budget);
  const forced = { ...budget, forced: true };
  o.log('warn', `warning: ${budgetAdvice(forced)}`);
  return forced;
}

/** IoT Edge device ids by group: their manifests are assigned before they arrive. */
function edgeGroups(identities: readonly PlannedIdentity[]): Map<string, string[]> {
  const byGroup = new Map<string, string[]>();
  for (const i of identities) {
    if (i.kind === 'iotEdge') byGroup.set(i.group, [...(byGroup.get(i.group) ?? []), i.deviceId]);
  }
  return byGroup;
}

function aborted(signal: AbortSignal | undefined): Promise<void> | undefined {
  if (signal === undefined) return undefined;
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** Thresholds given beside the scenario (--threshold), checked before anything connects. */
function thresholdsFrom(texts: readonly string[]): Threshold[] {
  return texts.map((text) => {
    try {
      return parseThreshold(text);
    } catch (err) {
      if (!(err instanceof ThresholdError)) throw err;
      throw new ConfigError([{ file: 'command line', path: '--threshold', message: err.message }]);
    }
  });
}

/** --gateway-listen texts against the plan: each names an IoT Edge device of this run. */
function gatewayListenFrom(texts: readonly string[], identities: readonly PlannedIdentity[]): GatewayListenSpec[] {
  const problems = texts.flatMap((text) => {
    const spec = parseGatewayListen(text);
    if (spec === undefined) return [`expected GATEWAY_ID or GATEWAY_ID=HOST:PORT, got "${text}"`];
    const identity = identities.find((i) => i.deviceId === spec.gatewayId);
    if (identity === undefined) {
      const example = identities.find((i) => i.kind === 'iotEdge')?.deviceId ?? 'gateway-01';
      return [`no device "${spec.gatewayId}" in this run (a gateway's device id, such as ${example})`];
    }
    if (identity.kind !== 'iotEdge') {
      const kind = identity.kind === 'downstream' ? 'downstream' : 'plain';
      return [`"${spec.gatewayId}" is a ${kind} device; only IoT Edge devices have an edgeHub to listen`];
    }
    return [];
  });
  if (problems.length > 0) {
    throw new ConfigError(problems.map((message) => ({ file: 'command line', path: '--gateway-listen', message })));
  }
  return texts.map((text) => parseGatewayListen(text)!);
}
