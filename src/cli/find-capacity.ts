// `edgefleet find-capacity SCENARIO --slo …`: the highest telemetry (or arrival) rate at which every SLO holds.
import type { CommandModule } from 'yargs';
import { findCapacity, type CapacityResult, type CapacityStep, type CapacityVary } from '../api/find-capacity.js';
import { parseDuration } from '../config/duration.js';
import { ConfigError } from '../config/errors.js';
import { PlanExceedsLimits } from '../engine/descriptors.js';
import { createLogger, isLogLevel, type LogLevel } from '../metrics/log.js';
import { RUN_OPTIONS, saturationFrom } from './run.js';

interface CapacityArgs {
  scenario: string;
  slo: string[];
  vary: CapacityVary;
  hold: string;
  start?: number;
  precision: number;
  'max-steps': number;
  factor: number;
  cooldown: string;
  profile?: string;
  target?: string;
  'target-info'?: string;
  seed?: number;
  workers: number;
  'reports-dir': string;
  'state-dir': string;
  'log-level': LogLevel;
  'saturation-lateness': string;
  reprovision: boolean;
  force: boolean;
}

const { profile, target, seed, workers } = RUN_OPTIONS;
const CAPACITY_OPTIONS = {
  slo: {
    type: 'string',
    array: true,
    nargs: 1,
    demandOption: true,
    describe: "An objective every step must meet, in the threshold grammar, e.g. 'telemetry.p99 < 1s' (repeatable)",
  },
  vary: {
    choices: ['telemetry', 'arrivals'],
    default: 'telemetry',
    describe: "What goes up: the plain devices' telemetry rate (msgs/s), or the profile's arrival rate (arrivals/s)",
  },
  hold: {
    type: 'string',
    default: '90s',
    describe: "How long each step runs; longer than the target's burst absorption (a real hub: a minute or two)",
  },
  start: { type: 'number', describe: "The first step's rate (default: the scenario's own)" },
  precision: {
    type: 'number',
    default: 0.05,
    describe: 'Stop once the lowest failing rate is within this fraction of the highest held one',
  },
  'max-steps': { type: 'number', default: 12, describe: 'At most this many steps' },
  factor: { type: 'number', default: 2, describe: 'Rates go up (or down) by this factor until the SLOs change' },
  cooldown: { type: 'string', default: '5s', describe: 'Pause between steps, for a target to finish what it holds' },
  profile,
  target,
  'target-info': RUN_OPTIONS['target-info'],
  seed,
  workers,
  'reports-dir': {
    type: 'string',
    default: 'reports',
    describe: 'Where capacity-<id>/ goes: capacity.json and a report folder per step',
  },
  'state-dir': RUN_OPTIONS['state-dir'],
  reprovision: RUN_OPTIONS.reprovision,
  'log-level': RUN_OPTIONS['log-level'],
  'saturation-lateness': RUN_OPTIONS['saturation-lateness'],
  force: RUN_OPTIONS.force,
} as const;

const METHOD =
  'Method: each step is a whole run of the scenario at one rate for --hold, judged by the SLOs on its report. ' +
  'From --start the rate doubles (--factor) until a step misses an SLO (or halves until one holds), then the ' +
  'gap between the highest held and the lowest failing rate is halved until it is within --precision. A ' +
  "target's traffic shaping first delays acknowledgements, so a rate above the limit shows as latency growing " +
  'over the hold, then as refusals: hold each step past the shaping burst. A step whose verdict is "generator ' +
  'saturated" measured this machine, not the target: the search stops there and says so. ' +
  'Exit codes: 0 narrowed to a capacity; 3 the search ended first (generator saturated, or out of steps); ' +
  '99 no step held; 2 bad input.';

export const findCapacityCommand: CommandModule<object, CapacityArgs> = {
  command: 'find-capacity <scenario>',
  describe: "Find the highest telemetry or arrival rate at which every SLO holds (the target's capacity)",
  builder: (y) =>
    y
      .positional('scenario', { type: 'string', demandOption: true, describe: 'Scenario file (YAML or JSON)' })
      .options(CAPACITY_OPTIONS)
      .example(
        "$0 find-capacity my.yaml --target-info hub.json --slo 'telemetry.p99 < 1s' --slo 'errors.rate < 1%'",
        'Device-to-cloud capacity of the emulator described by hub.json',
      )
      .example(
        "$0 find-capacity my.yaml --vary arrivals --slo 'connect.p99 < 2s' --target iot-central",
        'How fast devices may arrive at an IoT Central application',
      )
      .epilogue(METHOD),
  handler: async (args) => {
    const stop = new AbortController();
    const onSigint = () => {
      if (stop.signal.aborted) process.exit(130);
      process.stderr.write('stopping after this step (Ctrl-C again to quit now)\n');
      stop.abort();
    };
    process.on('SIGINT', onSigint);
    try {
      await capacity(args, stop.signal);
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};

async function capacity(args: CapacityArgs, signal: AbortSignal): Promise<void> {
  const logger = createLogger({ level: args['log-level'] });
  const unit = args.vary === 'telemetry' ? 'msgs/s' : 'arrivals/s';
  try {
    const result = await findCapacity({
      scenario: args.scenario,
      slo: args.slo,
      vary: args.vary,
      hold: args.hold,
      precision: args.precision,
      maxSteps: args['max-steps'],
      factor: args.factor,
      cooldownMs: durationOf(args.cooldown, '--cooldown'),
      profile: args.profile,
      target: args.target as 'emulator' | 'iot-central' | 'mqtt' | undefined,
      seed: args.seed,
      workers: args.workers,
      reportsDir: args['reports-dir'],
      stateDir: args['state-dir'],
      reprovision: args.reprovision,
      force: args.force,
      saturation: saturationFrom(args['saturation-lateness']),
      logLevel: logger.level,
      log: (level, message) => logger.log(isLogLevel(level) ? level : 'info', message),
      signal,
      onStep: (step, i) => process.stdout.write(`${stepLine(step, i, unit)}\n`),
      ...(args.start === undefined ? {} : { start: args.start }),
      ...(args['target-info'] === undefined ? {} : { emulator: args['target-info'] }),
    });
    process.stdout.write(`\n${resultText(result, unit)}\n`);
    process.exitCode = result.maxSustainable === null ? 99 : result.ended === 'narrowed' ? 0 : 3;
  } catch (err) {
    if (!(err instanceof PlanExceedsLimits)) throw err;
    process.stderr.write(`edgefleet: ${err.message}\n`);
    process.exitCode = 2;
  } finally {
    logger.close();
  }
}

function durationOf(text: string, flag: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    throw new ConfigError([{ file: 'command line', path: flag, message: (err as Error).message }]);
  }
}

/** One line per step: the rate, held or not, each SLO's value, the verdict when saturated. */
export function stepLine(step: CapacityStep, index: number, unit: string): string {
  const slo = Object.entries(step.slo)
    .map(([text, r]) => `${r.passed ? '✓' : '✗'} ${text} (${r.actual === null ? 'no data' : round(r.actual)})`)
    .join('  ');
  const saturated = step.verdict?.generatorSaturated === true ? '  GENERATOR SATURATED' : '';
  const outcome = step.held ? 'held' : 'failed';
  return (
    `step ${index + 1}: ${step.rate} ${unit} → ${outcome}  ${slo}  acknowledged ${step.acknowledgedPerSec}/s` +
    `${saturated}  (${step.report})`
  );
}

const round = (v: number) => String(Number(v.toPrecision(4)));

function resultText(r: CapacityResult, unit: string): string {
  const key = r.vary === 'telemetry' ? 'msgsPerSec' : 'arrivalsPerSec';
  const lines = [
    r.maxSustainable === null ? 'max sustainable: none found' : `max sustainable: ${r.maxSustainable[key]} ${unit}`,
    ...(r.firstFailing === null
      ? []
      : [`first failing:   ${r.firstFailing[key]} ${unit} (${r.firstFailing.failed.join(', ')})`]),
    r.conclusion,
    `capacity.json: ${r.dir}/capacity.json`,
  ];
  return lines.join('\n');
}
