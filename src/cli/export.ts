// `edgefleet export k6 SCENARIO --out DIR`: the scenario's plain devices as a k6 script (src/exports/).
import type { CommandModule } from 'yargs';
import { DEFAULT_STATE_DIR } from '../config/load.js';
import { K6_TARGETS, K6ExportError, type K6Target } from '../exports/k6.js';
import { writeK6Export } from '../exports/k6-write.js';

interface K6Args {
  scenario: string;
  out: string;
  target: string;
  profile?: string;
  duration?: string;
  parallelism: number;
  strict: boolean;
  'state-dir': string;
}

const k6Command: CommandModule<object, K6Args> = {
  command: 'k6 <scenario>',
  describe: "Write the scenario's plain devices as a k6 script (xk6-mqtt) and a k6-operator TestRun",
  builder: (y) =>
    y
      .positional('scenario', { type: 'string', demandOption: true, describe: 'Scenario file (YAML or JSON)' })
      .option('out', { type: 'string', demandOption: true, describe: 'Folder to write the files into' })
      .option('target', {
        choices: K6_TARGETS,
        default: 'emulator',
        describe: 'What the script connects to; decides the settings it asks for and their defaults',
      })
      .option('profile', { type: 'string', describe: 'Use this profile (name or file), as run --profile does' })
      .option('duration', { type: 'string', describe: 'Run time, as run --duration' })
      .option('parallelism', { type: 'number', default: 2, describe: 'k6 runner pods in testrun.yaml' })
      .option('strict', {
        type: 'boolean',
        default: false,
        describe: 'Refuse (exit 2) a scenario with groups k6 cannot run, instead of leaving them out',
      })
      .option('state-dir', {
        type: 'string',
        default: DEFAULT_STATE_DIR,
        describe: 'Where models fetched from a model repository URL go',
      })
      .example(
        '$0 export k6 scenarios/quickstart.yaml --out k6/',
        'The 100 thermostats; the IoT Edge group is left out',
      )
      .epilogue(
        'Writes <scenario>.k6.ts, k6-x-mqtt.d.ts (its k6/x/mqtt types) and testrun.yaml (ConfigMap and TestRun). ' +
          "Secrets are never written: the script's header lists the -e settings it reads. " +
          'Exit code: 0 written, 2 bad input or nothing k6 can run (or --strict and a group left out).',
      ),
  handler: async (args) => {
    try {
      const written = await writeK6Export({
        scenario: args.scenario,
        out: args.out,
        target: K6_TARGETS.find((t): t is K6Target => t === args.target) ?? 'emulator',
        profile: args.profile,
        duration: args.duration,
        stateDir: args['state-dir'],
        parallelism: args.parallelism,
        strict: args.strict,
      });
      for (const l of written.leftOut) process.stderr.write(`edgefleet: left out ${l.group}: ${l.reason}\n`);
      process.stdout.write(`${written.devices} devices; wrote ${written.paths.join(', ')}\n`);
    } catch (err) {
      if (!(err instanceof K6ExportError)) throw err;
      process.stderr.write(`edgefleet: ${err.message}\n`);
      process.exitCode = 2;
    }
  },
};

export const exportCommand: CommandModule = {
  command: 'export',
  describe: 'Hand the fleet to another load engine (k6)',
  builder: (y) => y.command(k6Command).demandCommand(1, 'Name a format: k6'),
  handler: () => {},
};
