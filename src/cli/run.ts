// `edgefleet run SCENARIO`: bring up a fleet, pace its load, report how the target held up.
import type { CommandModule, Options } from 'yargs';
import { availableParallelism } from 'node:os';
import { DurationError, formatDuration, parseDuration } from '../config/duration.js';
import { ConfigError } from '../config/errors.js';
import { autoShard } from '../config/plan.js';
import { runScenario, RunAborted, type ScenarioOptions, type StartingRun } from '../api/run-scenario.js';
import { PlanExceedsLimits } from '../engine/descriptors.js';
import { createLogger, isLogLevel, LOG_LEVELS, type Logger, type LogLevel } from '../metrics/log.js';
import { shouldUseDashboard } from '../ui/index.js';

interface RunArgs {
  scenario: string;
  profile?: string;
  duration?: string;
  target?: string;
  'target-info'?: string;
  seed?: number;
  workers: number;
  shard?: string;
  shards?: number;
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
  out: string[];
  reprovision: boolean;
  force: boolean;
  'saturation-lateness': string;
}

const DEFAULT_LOG_LEVEL: LogLevel = 'warn';

/** The command's options, in the order --help lists them. */
const RUN_OPTIONS = {
  profile: {
    type: 'string',
    describe:
      "Profile name (profiles/) or file, instead of the scenario's; it keeps its own duration and " +
      "events (the scenario's duration: is for its own profile)",
  },
  duration: { type: 'string', describe: 'Run time, e.g. 30s or 5m; overrides every other duration' },
  target: {
    type: 'string',
    choices: ['emulator', 'iot-central', 'iot-hub', 'mqtt'],
    describe: "Where the fleet connects; overrides the scenario's",
  },
  'target-info': {
    type: 'string',
    describe: 'Use an emulator already running, described by its --info-file',
  },
  seed: { type: 'number', describe: 'Seed for ids, keys, values and schedule (same seed, same run)' },
  workers: { type: 'number', default: availableParallelism(), describe: 'Worker threads' },
  shard: {
    type: 'string',
    describe:
      'Run only shard i of n (e.g. 2/4), for one fleet split over machines; auto: the shard of a pod of a ' +
      'Kubernetes Indexed Job (JOB_COMPLETION_INDEX, 0-based, of --shards or EDGEFLEET_SHARDS)',
  },
  shards: {
    type: 'number',
    describe: "With --shard auto: how many shards (the Job's completions); default EDGEFLEET_SHARDS",
  },
  'local-address': {
    type: 'string',
    describe: 'Comma-separated source addresses to spread connections over (e.g. 127.0.0.2,127.0.0.3)',
  },
  'reports-dir': { type: 'string', default: 'reports', describe: 'Where reports/<run-id>/ goes' },
  'state-dir': {
    type: 'string',
    default: '.edgefleet',
    describe:
      "State directory: the embedded emulator's, the assignment cache (what DPS assigned each identity, " +
      'reused by the next run), and models fetched from a model repository URL',
  },
  reprovision: {
    type: 'boolean',
    default: false,
    describe: 'Register every identity through DPS, ignoring the assignment cache',
  },
  'log-level': { choices: LOG_LEVELS, default: DEFAULT_LOG_LEVEL, describe: 'What is logged to stderr' },
  'log-file': {
    type: 'string',
    describe: 'Also log JSON lines to this file (secrets are redacted everywhere)',
  },
  threshold: {
    type: 'string',
    array: true,
    nargs: 1,
    default: [] as string[],
    describe: "Pass/fail criterion, e.g. 'telemetry.p99 < 200ms' (repeatable); a failed one exits 99",
  },
  prometheus: { type: 'number', describe: 'Serve live metrics for Prometheus on this port (/metrics)' },
  tui: {
    type: 'boolean',
    default: true,
    describe: 'Live dashboard on a terminal; --no-tui: a progress line every 5 s',
  },
  'gateway-listen': {
    type: 'string',
    array: true,
    nargs: 1,
    default: [] as string[],
    describe:
      "Open a real TLS port on this gateway's edgeHub: GATEWAY_ID[=HOST:PORT] (default 127.0.0.1, a free port; repeatable). Its edge CA is written to the state dir",
  },
  out: {
    type: 'string',
    array: true,
    nargs: 1,
    default: [] as string[],
    describe: 'Another output: json=FILE writes a JSON object per second and a final one, one per line (repeatable)',
  },
  force: {
    type: 'boolean',
    default: false,
    describe:
      'Run even when the fleet needs more file descriptors or local ports than this process has ' +
      '(see the pre-flight message)',
  },
  'prometheus-host': {
    type: 'string',
    default: '127.0.0.1',
    describe: 'Address of the /metrics endpoint (0.0.0.0 for another machine)',
  },
  'saturation-lateness': {
    type: 'string',
    default: '200ms',
    describe:
      'Scheduler lateness p99 above which, for 5 s in a row, the verdict says the load generator (not the ' +
      'target) was saturated',
  },
} satisfies Record<string, Options>;

/** --saturation-lateness as the saturation verdict's bound, or a ConfigError saying what to write. */
export function saturationFrom(text: string): { latenessBoundMs: number } {
  try {
    const ms = parseDuration(text);
    if (ms > 0) return { latenessBoundMs: ms };
  } catch (err) {
    if (!(err instanceof DurationError)) throw err;
  }
  const message = `expected a duration above zero such as 200ms or 1s, got "${text}"`;
  throw new ConfigError([{ file: 'command line', path: '--saturation-lateness', message }]);
}

export { RUN_OPTIONS };

export const runCommand: CommandModule<object, RunArgs> = {
  command: 'run <scenario>',
  describe: 'Run a scenario: provision and connect a fleet, pace its load, and report latency and the message ledger',
  builder: (y) =>
    y
      .positional('scenario', { type: 'string', demandOption: true, describe: 'Scenario file (YAML or JSON)' })
      .options(RUN_OPTIONS)
      .example(
        '$0 run scenarios/quickstart.yaml',
        '20 IoT Edge devices and 100 thermostats against the embedded emulator',
      )
      .example('$0 run scenarios/quickstart.yaml --profile ramp --duration 5m', 'Another load shape, longer')
      .example(
        '$0 run my.yaml --shard 1/2 --seed 7',
        'The first half of a fleet (run 2/2 on another machine, then merge)',
      )
      .example(
        '$0 run my.yaml --shard auto --shards 4',
        'In a pod of a Kubernetes Indexed Job: the shard its JOB_COMPLETION_INDEX names (see edgefleet k8s)',
      )
      .example(
        '$0 run scenarios/transparent-gateway.yaml --gateway-listen gateway-01=127.0.0.1:8883',
        'Let a real device connect through a simulated gateway (GatewayHostName=)',
      )
      .example(
        "$0 run my.yaml --threshold 'telemetry.p99 < 200ms' --threshold 'ledger.lost == 0'",
        'Fail the build (exit 99) when the target misses',
      )
      .epilogue(
        "Duration: --duration, else the profile's when --profile names one (its events happen as written), else " +
          "the scenario's duration:, else its profile's. Before anything connects, the scenario goes through the " +
          'same checks as edgefleet validate (models, manifests, routes, generators): a problem exits 2 naming the ' +
          'file and the path.',
      ),
  handler: async (args) => {
    // Ctrl-C: the first drains and reports (or, before the run starts, stops setting up); the second quits.
    const stop = new AbortController();
    const onSigint = () => {
      if (stop.signal.aborted) process.exit(130);
      process.stderr.write('stopping: draining in-flight messages, then the report (Ctrl-C again to quit now)\n');
      stop.abort();
    };
    // Ctrl-C in the dashboard arrives as a key (the terminal is in raw mode) and comes here the same way.
    process.on('SIGINT', onSigint);
    try {
      await run(args, stop.signal, onSigint);
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};

/** What the run command hands the run besides its arguments: logging, console lines, Ctrl-C, the dashboard. */
interface RunConsole {
  logger: Logger;
  print: (line: string) => void;
  signal: AbortSignal;
  onInterrupt: () => void;
  setLogSink: (sink: ((line: string) => void) | undefined) => void;
}

function scenarioOptions(args: RunArgs, io: RunConsole): ScenarioOptions {
  const { logger, print } = io;
  const dashboard = shouldUseDashboard(process.stdout, { noTui: !args.tui });
  return {
    scenario: args.scenario,
    profile: args.profile,
    duration: args.duration,
    target: args.target as ScenarioOptions['target'],
    seed: args.seed,
    stateDir: args['state-dir'],
    reportsDir: args['reports-dir'],
    workers: args.workers,
    reprovision: args.reprovision,
    thresholds: args.threshold,
    gatewayListen: args['gateway-listen'],
    out: args.out,
    logLevel: logger.level,
    signal: io.signal,
    log: (level, message) => logger.log(isLogLevel(level) ? level : 'info', message),
    notice: print,
    onStart: (started) => printStart(started, args.workers),
    force: args.force,
    saturation: saturationFrom(args['saturation-lateness']),
    ...(args['target-info'] === undefined ? {} : { emulator: args['target-info'] }),
    ...shardOption(args),
    ...(args['local-address'] === undefined ? {} : { localAddresses: splitList(args['local-address']) }),
    ...(args.prometheus === undefined ? {} : { prometheus: { port: args.prometheus, host: args['prometheus-host'] } }),
    ...(dashboard ? { dashboard: { onInterrupt: io.onInterrupt, setLogSink: io.setLogSink } } : { progress: print }),
  };
}

async function run(args: RunArgs, signal: AbortSignal, onInterrupt: () => void): Promise<void> {
  // While the dashboard is up, log lines go above it instead of tearing its frame.
  let sink: ((line: string) => void) | undefined;
  const logger = createLogger({
    level: args['log-level'],
    ...(args['log-file'] === undefined ? {} : { file: args['log-file'] }),
    stderr: { write: (chunk: string) => (sink ? sink(chunk.replace(/\n$/, '')) : process.stderr.write(chunk)) },
  });
  const print = (line: string) => (sink ? sink(line) : process.stdout.write(`${line}\n`));
  const setLogSink = (p: typeof sink) => (sink = p);
  const options = scenarioOptions(args, { logger, print, signal, onInterrupt, setLogSink });
  try {
    const result = await runScenario(options);
    process.stdout.write(`\n${result.console}\nreport: ${result.reportDir}\n`);
    // Like k6: 99 says the target missed its thresholds, apart from 1 (the tool broke) and 2 (bad input).
    if (result.incomplete !== undefined) process.exitCode = 1;
    else if (!result.thresholdsHeld) process.exitCode = 99;
  } catch (err) {
    // Too big for this process's limits: bad input, like a bad scenario (exit 2), with what to do.
    if (err instanceof PlanExceedsLimits) {
      process.stderr.write(`edgefleet: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (!(err instanceof RunAborted)) throw err;
    process.exitCode = 130;
  } finally {
    logger.close();
  }
}

function printStart(run: StartingRun, workers: number): void {
  if (run.edgeCaPath !== undefined) {
    const ca = run.edgeCaPath;
    process.stdout.write(`gateways listen with certificates from the edge CA ${ca} (trust it on the devices)\n`);
  }
  const shard = run.shard ? ` (shard ${run.shard.index + 1}/${run.shard.count} of ${run.fleetSize})` : '';
  process.stdout.write(
    `edgefleet run ${run.scenario}: ${run.identities} identities${shard}, profile ${run.profile}, ` +
      `${formatDuration(run.durationMs)}, target ${run.target}, seed ${run.seed}, ${workers} workers\n`,
  );
}

/** --shard i/n as it is; --shard auto from the Indexed Job's environment (problems exit 2 before anything runs). */
function shardOption(args: Pick<RunArgs, 'shard' | 'shards'>): Pick<ScenarioOptions, 'shard'> {
  if (args.shard === 'auto') return { shard: autoShard(args.shards) };
  if (args.shards !== undefined) {
    throw new ConfigError([
      { file: 'command line', path: '--shards', message: 'goes with --shard auto; --shard i/n names its count itself' },
    ]);
  }
  return args.shard === undefined ? {} : { shard: args.shard };
}

const splitList = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
