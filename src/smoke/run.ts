// `edgefleet smoke`: each pattern's bundled scenario runs through runScenario (as `edgefleet run` does) against
// one target; live checks poll the target's REST API while the fleet runs, and the run stops
// as soon as they are all decided; after-checks read the run's summary.
import { join } from 'node:path';
import { loadScenario, type LoadedScenario } from '../config/load.js';
import { ConfigError, type ConfigProblem } from '../config/errors.js';
import { planFleet } from '../config/plan.js';
import { runScenario } from '../api/run-scenario.js';
import type { EmulatorInfo } from '../emulator/index.js';
import { resolveTarget } from '../endpoints/resolve.js';
import { readInfoFile, spawnEmulator, targetFromInfo } from '../endpoints/emulator-target.js';
import { HubServiceClient } from '../endpoints/hub-service-client.js';
import { cleanupHubIdentities } from '../endpoints/hub-registry.js';
import { serviceActionsFor } from '../endpoints/service-actions.js';
import type { Target } from '../endpoints/target.js';
import type { Output } from '../outputs/output.js';
import type { RunSummary } from '../report/summary.js';
import { SmokeApi } from './api.js';
import type { CheckContext, CheckDefinition, CheckResult } from './check.js';
import type { SmokePattern } from './patterns.js';

export interface SmokeOptions {
  patterns: readonly SmokePattern[];
  scenariosDir: string;
  target?: 'emulator' | 'iot-central' | 'iot-hub';
  targetInfo?: string;
  stateDir: string;
  reportsDir: string;
  /** Register every identity through DPS, ignoring the assignment cache. */
  reprovision?: boolean;
  /** The whole smoke run's budget; checks still waiting then fail. */
  timeoutMs: number;
  /** Each result as soon as it is decided. */
  onResult?: (r: CheckResult) => void;
  log?: (line: string) => void;
}

export const NOT_AVAILABLE = 'skipped: not available in this build';

export async function runSmoke(options: SmokeOptions): Promise<CheckResult[]> {
  const log = options.log ?? (() => {});
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const results: CheckResult[] = [];
  const report = (r: CheckResult) => {
    results.push(r);
    options.onResult?.(r);
  };
  const skipped = (p: SmokePattern) =>
    !p.available ? NOT_AVAILABLE : options.target === 'iot-hub' && p.notOnHub ? `skipped: ${p.notOnHub}` : undefined;
  const runnable = options.patterns.filter((p) => skipped(p) === undefined);
  for (const p of options.patterns) {
    const why = skipped(p);
    if (why === undefined) continue;
    for (const c of p.checks)
      report({ pattern: p.name, check: c.name, status: 'skip', expected: '', seen: why, ms: 0 });
  }
  // Every scenario loads before anything starts: a bad one is a configuration error (exit 2).
  const loaded = await Promise.all(
    runnable.map((p) =>
      loadScenario(join(options.scenariosDir, p.scenario), {
        ...(options.target === undefined ? {} : { target: options.target }),
      }),
    ),
  );
  if (runnable.length === 0) return results;
  sharedTargetConflicts(loaded);

  // One emulator for every pattern (the scenarios use distinct ids).
  let shared: { info: EmulatorInfo; release(): Promise<void> } | undefined;
  if ((loaded[0] as LoadedScenario).target.kind === 'emulator') {
    if (options.targetInfo !== undefined) {
      shared = { info: await readInfoFile(options.targetInfo), release: async () => {} };
    } else {
      // A fresh cloud for every smoke: checks answered by what an earlier smoke left (last values, relationships)
      // would pass before this one's fleet did anything.
      const emulator = await spawnEmulator(options.stateDir, log, { ephemeral: true });
      shared = { info: emulator.info, release: () => emulator.stop() };
    }
  }
  try {
    await Promise.all(
      runnable.map(async (pattern, i) => {
        await runPattern(pattern, loaded[i] as LoadedScenario, shared?.info, { ...options, deadline, report, log });
      }),
    );
  } finally {
    await shared?.release();
  }
  return results;
}

/** The target's kind and service API, for the checks (runScenario reaches the target itself). */
async function checkTarget(
  loaded: LoadedScenario,
  emulator: EmulatorInfo | undefined,
  stateDir: string,
): Promise<Target> {
  if (emulator !== undefined) return targetFromInfo(emulator);
  // IoT Central and MQTT need nothing started: their target is read from the scenario.
  const prepared = await resolveTarget(loaded, { stateDir, log: () => {} });
  await prepared.release();
  return prepared.target;
}

type PatternOptions = SmokeOptions & {
  /** Outputs of the pattern's run besides the report. */
  outputs?: Output[];
  deadline: number;
  report: (r: CheckResult) => void;
  log: (line: string) => void;
};

/** One pattern: its fleet runs while the live checks poll the target; the after-checks read its summary. */
async function runPattern(
  pattern: SmokePattern,
  loaded: LoadedScenario,
  emulator: EmulatorInfo | undefined,
  o: PatternOptions,
): Promise<void> {
  const target = await checkTarget(loaded, emulator, o.stateDir);
  const ctx = checkContext(loaded, target, o.deadline);
  const decide = decider(pattern.name, ctx, o.report);
  const stopper = new AbortController();
  const stop = () => stopper.abort();
  const live = pattern.checks.filter((c) => c.when === 'live');
  // A pattern whose profile has events (an outage) runs its whole profile; otherwise it stops once the live checks
  // are decided.
  const runsWholeProfile = loaded.profile.events.length > 0;
  // On a hub no check reads telemetry back, so the run also waits for a first acknowledged message: the ledger then
  // has something to balance.
  const acknowledged = firstAcknowledged();
  const waits = [...live.map((c) => decide(c, ctx)), ...(ctx.hub === undefined ? [] : [acknowledged.reached])];
  const liveDone = Promise.all(waits).then(() => {
    if (!runsWholeProfile) stop();
  });
  const budget = setTimeout(stop, Math.max(0, ctx.deadline - Date.now()));
  let outcome: RunOutcome;
  try {
    outcome = await runFleetOf(
      pattern.name,
      loaded,
      emulator,
      { ...o, outputs: [acknowledged.output] },
      stopper.signal,
    );
  } finally {
    clearTimeout(budget);
    stop();
  }
  await liveDone;
  for (const c of pattern.checks.filter((x) => x.when === 'after')) {
    if (outcome.runError !== undefined) {
      const seen = `the run failed: ${outcome.runError}`;
      o.report({ pattern: pattern.name, check: c.name, status: 'fail', expected: c.describe, seen, ms: 0 });
    } else await decide(c, { ...ctx, ...(outcome.summary === undefined ? {} : { summary: outcome.summary }) });
  }
  if (ctx.hub !== undefined) await leaveHubAsFound(ctx.hub, loaded.scenario.name, pattern.name, o.log);
}

/** On an IoT Hub, what the pattern's run created in the registry goes again (as `edgefleet cleanup` would). */
async function leaveHubAsFound(
  hub: HubServiceClient,
  scenario: string,
  pattern: string,
  log: (line: string) => void,
): Promise<void> {
  try {
    const outcome = await cleanupHubIdentities(hub, scenario);
    if (outcome.failed.length > 0) log(`${pattern}: ${outcome.failed.length} identities could not be deleted`);
  } catch (err) {
    log(`${pattern}: could not delete the identities it created: ${(err as Error).message}`);
  } finally {
    hub.close();
  }
}

/** What the checks can look at while the fleet runs. */
function checkContext(loaded: LoadedScenario, target: Target, deadline: number): CheckContext {
  const fleet = planFleet({ scenario: loaded.scenario, profile: loaded.profile, durationMs: loaded.durationMs });
  const central = target.kind !== 'mqtt' && target.service !== undefined ? target.service : undefined;
  const hub = target.kind === 'iot-hub' && target.hubService !== undefined ? target.hubService : undefined;
  return {
    loaded,
    identities: fleet.identities,
    targetKind: target.kind,
    service: serviceActionsFor(target, 15_000),
    api: central === undefined ? undefined : new SmokeApi(central),
    ...(hub === undefined ? {} : { hub: new HubServiceClient(hub, 15_000) }),
    // Leave time for the drain and the after-checks within the budget.
    deadline: deadline - loaded.profile.drain - 3000,
  };
}

/** Runs a check (or skips it when the target cannot answer it) and reports its result; a check that throws fails. */
function decider(
  pattern: string,
  ctx: CheckContext,
  report: (r: CheckResult) => void,
): (c: CheckDefinition, context: CheckContext) => Promise<void> {
  const skipReason = (c: CheckDefinition): string | undefined => {
    if (c.needsService && ctx.service === undefined) return `skipped: the ${ctx.targetKind} target has no service API`;
    if (c.emulatorOnly === true && ctx.targetKind !== 'emulator') return 'skipped: only the emulator can tell';
    if (c.notOnHub !== undefined && ctx.targetKind === 'iot-hub') return `skipped: ${c.notOnHub}`;
    return undefined;
  };
  return async (c, context) => {
    const skip = skipReason(c);
    if (skip !== undefined) {
      report({ pattern, check: c.name, status: 'skip', expected: '', seen: skip, ms: 0 });
      return;
    }
    const at = Date.now();
    try {
      const v = await c.run(context);
      const status = v.passed ? 'pass' : 'fail';
      report({ pattern, check: c.name, status, expected: v.expected, seen: v.seen, ms: Date.now() - at });
    } catch (err) {
      const seen = (err as Error).message;
      report({ pattern, check: c.name, status: 'fail', expected: c.describe, seen, ms: Date.now() - at });
    }
  };
}

/** An output whose `reached` resolves once the target has acknowledged a first message of the run. */
function firstAcknowledged(): { output: Output; reached: Promise<void> } {
  let done: () => void = () => {};
  const reached = new Promise<void>((resolve) => (done = resolve));
  const output: Output = {
    name: 'first-acknowledged',
    snapshot: (s) => {
      if (s.aggregate.ledger().acknowledged > 0) done();
    },
  };
  return { output, reached };
}

/** The run's summary, or why there is none. */
type RunOutcome = { summary: RunSummary; runError?: undefined } | { summary?: undefined; runError: string };

/** The pattern's fleet through runScenario, until the end of its profile or the signal. */
async function runFleetOf(
  pattern: string,
  loaded: LoadedScenario,
  emulator: EmulatorInfo | undefined,
  o: PatternOptions,
  signal: AbortSignal,
): Promise<RunOutcome> {
  try {
    const result = await runScenario({
      scenario: loaded,
      stateDir: o.stateDir,
      workers: 1,
      reportsDir: join(o.reportsDir, pattern),
      logLevel: 'error',
      ...(o.reprovision === true ? { reprovision: true } : {}),
      log: (level, message) => {
        if (level === 'error') o.log(`${pattern}: ${message}`);
      },
      signal,
      ...(o.outputs === undefined ? {} : { outputs: o.outputs }),
      ...(emulator === undefined ? {} : { emulator }),
    });
    return { summary: result.summary };
  } catch (err) {
    // The fleet broke: the live checks see it for themselves; the after-checks say why there is no summary.
    const runError = (err as Error).message;
    o.log(`${pattern}: the run failed: ${runError}`);
    return { runError };
  }
}

/**
 * The patterns share one target: an IoT Edge group's deployment manifest is saved under its group name, and a
 * device id is one device, so two scenarios must not use the same of either.
 */
function sharedTargetConflicts(loaded: readonly LoadedScenario[]): void {
  const problems: ConfigProblem[] = [];
  const groups = new Map<string, string>();
  const ids = new Map<string, string>();
  for (const l of loaded) {
    for (const g of l.groups) {
      if (g.kind !== 'iotEdge') continue;
      const other = groups.get(g.name);
      if (other !== undefined)
        problems.push({
          file: l.file,
          path: 'fleet',
          message: `IoT Edge group "${g.name}" is also in ${other}; smoke patterns share one target, so each group needs its own name`,
        });
      groups.set(g.name, l.file);
    }
    for (const i of planFleet({ scenario: l.scenario, profile: l.profile, durationMs: l.durationMs }).identities) {
      const other = ids.get(i.deviceId);
      if (other !== undefined && other !== l.file) {
        problems.push({
          file: l.file,
          path: 'fleet',
          message: `device id "${i.deviceId}" is also in ${other}; smoke patterns share one target, so ids must differ`,
        });
        break;
      }
      ids.set(i.deviceId, l.file);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
}
