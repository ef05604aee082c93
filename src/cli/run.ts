// `edgefleet run SCENARIO`: bring up a fleet, pace its load, report how the target held up.
import type { CommandModule } from 'yargs';
import { availableParallelism } from 'node:os';
import { loadScenario } from '../config/load.js';
import { parseShard, planFleet, shardOf } from '../config/plan.js';
import { formatDuration } from '../config/duration.js';
import { runFleet, type RunPlan } from '../engine/coordinator.js';
import { assignManifests, resolveTarget } from '../endpoints/resolve.js';

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
  'log-level': 'debug' | 'info' | 'warn' | 'error';
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
      .option('log-level', { choices: ['debug', 'info', 'warn', 'error'] as const, default: 'warn' as const, describe: 'What the workers log' })
      .example('$0 run scenarios/quickstart.yaml', '20 IoT Edge devices and 100 thermostats against the embedded emulator')
      .example('$0 run scenarios/quickstart.yaml --profile ramp --duration 5m', 'Another load shape, longer')
      .example('$0 run my.yaml --shard 1/2 --seed 7', 'The first half of a fleet (run 2/2 on another machine, then merge)'),
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
    process.on('SIGINT', onSigint);
    try {
      await run(args, stopSignal, () => interrupts > 0);
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};

async function run(args: RunArgs, stopSignal: Promise<void>, interrupted: () => boolean): Promise<void> {
  const loaded = await loadScenario(args.scenario, {
    profile: args.profile, duration: args.duration, target: args.target, seed: args.seed,
  });
  for (const w of loaded.warnings) process.stderr.write(`warning: ${w}\n`);
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
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const prepared = await resolveTarget(loaded, { stateDir: args['state-dir'], log, ...(args['target-info'] === undefined ? {} : { targetInfo: args['target-info'] }) });
  try {
    if (interrupted()) {
      process.exitCode = 130;
      return;
    }
    const byGroup = new Map<string, string[]>();
    for (const i of plan.identities) if (i.kind === 'iotEdge') byGroup.set(i.group, [...(byGroup.get(i.group) ?? []), i.deviceId]);
    await assignManifests(prepared.target, loaded, byGroup, log);
    process.stdout.write(
      `edgefleet run ${loaded.scenario.name}: ${plan.identities.length} identities${shard ? ` (shard ${shard.index + 1}/${shard.count} of ${plan.fleetSize})` : ''}, ` +
      `profile ${loaded.profile.name}, ${formatDuration(loaded.durationMs)}, target ${prepared.label}, seed ${loaded.seed}, ${args.workers} workers\n`,
    );
    const result = await runFleet({
      plan, target: prepared.target, targetLabel: prepared.label, workers: args.workers,
      ...(args['local-address'] === undefined ? {} : { localAddresses: args['local-address'].split(',').map((s) => s.trim()).filter(Boolean) }),
      reportsDir: args['reports-dir'], logLevel: args['log-level'], progress: (line) => process.stdout.write(`${line}\n`),
      log: (level, message) => log(`[${level}] ${message}`), stopSignal,
    });
    process.stdout.write(`\n${result.console}\nreport: ${result.reportDir}\n`);
  } finally {
    await prepared.release();
  }
}
