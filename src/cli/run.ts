// `edgefleet run SCENARIO`: bring up a fleet, pace its load, report how the target held up.
import type { CommandModule } from 'yargs';
import { availableParallelism } from 'node:os';
import { loadScenario } from '../config/load.js';
import { parseShard, planFleet, shardOf } from '../config/plan.js';
import { formatDuration } from '../config/duration.js';
import { runFleet, type RunPlan } from '../engine/coordinator.js';
import { assignManifests, resolveTarget } from '../endpoints/resolve.js';
import { ConfigError } from '../config/errors.js';
import { createLogger, isLogLevel, LOG_LEVELS, type LogLevel } from '../metrics/log.js';
import { parseThreshold, ThresholdError, type Threshold } from '../config/thresholds.js';
import { shouldUseDashboard } from '../ui/index.js';
import { loadEdgeCa, parseGatewayListen, type GatewayListenSpec } from '../sim/edge/gateway-ca.js';
import type { PlannedIdentity } from '../config/plan.js';

/** --gateway-listen texts against the plan: each names an IoT Edge device of this run. */
function gatewayListenFromCommandLine(texts: string[], identities: readonly PlannedIdentity[]): GatewayListenSpec[] {
  const problems = texts.flatMap((text) => {
    const spec = parseGatewayListen(text);
    if (spec === undefined) return [`expected GATEWAY_ID or GATEWAY_ID=HOST:PORT, got "${text}"`];
    const identity = identities.find((i) => i.deviceId === spec.gatewayId);
    if (identity === undefined) return [`no device "${spec.gatewayId}" in this run (a gateway's device id, such as ${identities.find((i) => i.kind === 'iotEdge')?.deviceId ?? 'gateway-01'})`];
    if (identity.kind !== 'iotEdge') return [`"${spec.gatewayId}" is a ${identity.kind === 'downstream' ? 'downstream' : 'plain'} device; only IoT Edge devices have an edgeHub to listen`];
    return [];
  });
  if (problems.length > 0) throw new ConfigError(problems.map((message) => ({ file: 'command line', path: '--gateway-listen', message })));
  return texts.map((text) => parseGatewayListen(text)!);
}

/** --threshold texts, checked before anything connects. */
function thresholdsFromCommandLine(texts: string[]): Threshold[] {
  return texts.map((text) => {
    try {
      return parseThreshold(text);
    } catch (err) {
      if (!(err instanceof ThresholdError)) throw err;
      throw new ConfigError([{ file: 'command line', path: '--threshold', message: err.message }]);
    }
  });
}

interface RunArgs {
  scenario: string;
  profile?: string;
  duration?: string;
  target?: string;
  'target-info'?: string;
  seed?: number;
  workers: number;
  shard?: string;
  'local-address'?: string;
  'reports-dir': string;
  'state-dir': string;
  'log-level': LogLevel;
  'log-file'?: string;
  threshold: string[];
  prometheus?: number;
  'prometheus-host': string;
  tui: boolean;
  'gateway-listen': string[];
}

export const runCommand: CommandModule<object, RunArgs> = {
  command: 'run <scenario>',
  describe: 'Run a scenario: provision and connect a fleet, pace its load, and report latency and the message ledger',
  builder: (y) =>
    y
      .positional('scenario', { type: 'string', demandOption: true, describe: 'Scenario file (YAML or JSON)' })
      .option('profile', { type: 'string', describe: 'Profile name (profiles/) or file; overrides the scenario\'s' })
      .option('duration', { type: 'string', describe: 'Run time, e.g. 30s or 5m; overrides the profile\'s' })
      .option('target', { type: 'string', choices: ['emulator', 'iot-central', 'mqtt'], describe: 'Where the fleet connects; overrides the scenario\'s' })
      .option('target-info', { type: 'string', describe: 'Use an emulator already running, described by its --info-file' })
      .option('seed', { type: 'number', describe: 'Seed for ids, keys, values and schedule (same seed, same run)' })
      .option('workers', { type: 'number', default: availableParallelism(), describe: 'Worker threads' })
      .option('shard', { type: 'string', describe: 'Run only shard i of n (e.g. 2/4), for one fleet split over machines' })
      .option('local-address', { type: 'string', describe: 'Comma-separated source addresses to spread connections over (e.g. 127.0.0.2,127.0.0.3)' })
      .option('reports-dir', { type: 'string', default: 'reports', describe: 'Where reports/<run-id>/ goes' })
      .option('state-dir', { type: 'string', default: '.edgefleet', describe: 'State directory of the embedded emulator' })
      .option('log-level', { choices: LOG_LEVELS, default: 'warn' as LogLevel, describe: 'What is logged to stderr' })
      .option('log-file', { type: 'string', describe: 'Also log JSON lines to this file (secrets are redacted everywhere)' })
      .option('threshold', { type: 'string', array: true, nargs: 1, default: [] as string[], describe: "Pass/fail criterion, e.g. 'telemetry.p99 < 200ms' (repeatable); a failed one exits 99" })
      .option('prometheus', { type: 'number', describe: 'Serve live metrics for Prometheus on this port (/metrics)' })
      .option('tui', { type: 'boolean', default: true, describe: 'Live dashboard on a terminal; --no-tui: a progress line every 5 s' })
      .option('gateway-listen', {
        type: 'string', array: true, nargs: 1, default: [] as string[],
        describe: "Open a real TLS port on this gateway's edgeHub: GATEWAY_ID[=HOST:PORT] (default 127.0.0.1, a free port; repeatable). Its edge CA is written to the state dir",
      })
      .option('prometheus-host', { type: 'string', default: '127.0.0.1', describe: 'Address of the /metrics endpoint (0.0.0.0 for another machine)' })
      .example('$0 run scenarios/quickstart.yaml', '20 IoT Edge devices and 100 thermostats against the embedded emulator')
      .example('$0 run scenarios/quickstart.yaml --profile ramp --duration 5m', 'Another load shape, longer')
      .example('$0 run my.yaml --shard 1/2 --seed 7', 'The first half of a fleet (run 2/2 on another machine, then merge)')
      .example('$0 run scenarios/transparent-gateway.yaml --gateway-listen gateway-01=127.0.0.1:8883', 'Let a real device connect through a simulated gateway (GatewayHostName=)')
      .example("$0 run my.yaml --threshold 'telemetry.p99 < 200ms' --threshold 'ledger.lost == 0'", 'Fail the build (exit 99) when the target misses'),
  handler: async (args) => {
    // Ctrl-C: the first drains and reports (or, before the run starts, stops setting up); the second quits.
    let stopRequested: () => void = () => {};
    const stopSignal = new Promise<void>((r) => (stopRequested = r));
    let interrupts = 0;
    const onSigint = () => {
      interrupts += 1;
      if (interrupts === 1) {
        process.stderr.write('stopping: draining in-flight messages, then the report (Ctrl-C again to quit now)\n');
        stopRequested();
      } else {
        process.exit(130);
      }
    };
    // Ctrl-C in the dashboard arrives as a key (the terminal is in raw mode) and comes here the same way.
    process.on('SIGINT', onSigint);
    try {
      await run(args, stopSignal, () => interrupts > 0, onSigint);
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};

async function run(args: RunArgs, stopSignal: Promise<void>, interrupted: () => boolean, onInterrupt: () => void): Promise<void> {
  const loaded = await loadScenario(args.scenario, {
    profile: args.profile, duration: args.duration, target: args.target, seed: args.seed,
  });
  const thresholds = [...loaded.scenario.thresholds, ...thresholdsFromCommandLine(args.threshold)];
  // While the dashboard is up, log lines go above it instead of tearing its frame.
  let sink: ((line: string) => void) | undefined;
  const logger = createLogger({
    level: args['log-level'], ...(args['log-file'] === undefined ? {} : { file: args['log-file'] }),
    stderr: { write: (chunk: string) => (sink ? sink(chunk.replace(/\n$/, '')) : process.stderr.write(chunk)) },
  });
  for (const w of loaded.warnings) logger.warn(`warning: ${w}`);
  const fleet = planFleet({ scenario: loaded.scenario, profile: loaded.profile, durationMs: loaded.durationMs });
  const shard = args.shard === undefined ? undefined : parseShard(args.shard);
  const identities = shard === undefined ? fleet.identities : shardOf(fleet.identities, shard);
  const plan: RunPlan = {
    scenario: loaded,
    scenarioName: loaded.scenario.name,
    profileName: loaded.profile.name,
    seed: loaded.seed,
    durationMs: loaded.durationMs,
    drainMs: loaded.profile.drain,
    identities,
    fleetSize: fleet.identities.length,
    ...(shard === undefined ? {} : { shard }),
  };
  const gatewayListen = gatewayListenFromCommandLine(args['gateway-listen'], identities);
  const edgeCa = gatewayListen.length === 0 ? undefined : await loadEdgeCa(args['state-dir']);
  const log = (line: string) => logger.warn(line);
  const prepared = await resolveTarget(loaded, { stateDir: args['state-dir'], log, ...(args['target-info'] === undefined ? {} : { targetInfo: args['target-info'] }) });
  try {
    if (interrupted()) {
      process.exitCode = 130;
      return;
    }
    const byGroup = new Map<string, string[]>();
    for (const i of plan.identities) if (i.kind === 'iotEdge') byGroup.set(i.group, [...(byGroup.get(i.group) ?? []), i.deviceId]);
    await assignManifests(prepared.target, loaded, byGroup, log);
    if (edgeCa !== undefined) process.stdout.write(`gateways listen with certificates from the edge CA ${edgeCa.certPath} (trust it on the devices)\n`);
    process.stdout.write(
      `edgefleet run ${loaded.scenario.name}: ${plan.identities.length} identities${shard ? ` (shard ${shard.index + 1}/${shard.count} of ${plan.fleetSize})` : ''}, ` +
      `profile ${loaded.profile.name}, ${formatDuration(loaded.durationMs)}, target ${prepared.label}, seed ${loaded.seed}, ${args.workers} workers\n`,
    );
    const result = await runFleet({
      plan, target: prepared.target, targetLabel: prepared.label, workers: args.workers,
      ...(args['local-address'] === undefined ? {} : { localAddresses: args['local-address'].split(',').map((s) => s.trim()).filter(Boolean) }),
      ...(edgeCa === undefined ? {} : { gatewayListen, edgeCa: { certPem: edgeCa.certPem, keyPem: edgeCa.keyPem } }),
      reportsDir: args['reports-dir'], logLevel: logger.level, progress: (line) => process.stdout.write(`${line}\n`),
      log: (level, message) => logger.log(isLogLevel(level) ? level : 'info', message), stopSignal, thresholds,
      ...(args.prometheus === undefined ? {} : { prometheus: { port: args.prometheus, host: args['prometheus-host'] } }),
      ...(shouldUseDashboard(process.stdout, { noTui: !args.tui }) ? { dashboard: { onInterrupt, setLogSink: (print) => (sink = print) } } : {}),
    });
    process.stdout.write(`\n${result.console}\nreport: ${result.reportDir}\n`);
    // Like k6: 99 says the target missed its thresholds, apart from 1 (the tool broke) and 2 (bad input).
    if (!result.thresholdsHeld) process.exitCode = 99;
  } finally {
    await prepared.release();
    logger.close();
  }
}
