// `edgefleet smoke`: one small bundled scenario per gateway pattern, checked the way a person would check it.
import type { CommandModule, Options } from 'yargs';
import { describePatterns, PATTERN_NAMES, smokeCommand } from '../smoke/index.js';

interface SmokeArgs {
  target?: 'emulator' | 'iot-central' | 'iot-hub';
  'target-info'?: string;
  pattern: string[];
  junit?: string;
  'reports-dir': string;
  timeout: string;
  'state-dir': string;
  scenarios?: string;
  reprovision: boolean;
}

/** The command's options, in the order --help lists them. */
const SMOKE_OPTIONS = {
  target: {
    choices: ['emulator', 'iot-central', 'iot-hub'] as const,
    describe:
      'Where the fleets connect (default: the embedded emulator, started once); every pattern has IoT Edge devices, which need an Azure target',
  },
  'target-info': {
    type: 'string',
    describe: 'Use an emulator already running, described by its --info-file',
  },
  pattern: {
    type: 'string',
    array: true,
    nargs: 1,
    default: [] as string[],
    choices: PATTERN_NAMES,
    describe: 'Run only this pattern (repeatable); default all',
  },
  junit: {
    type: 'string',
    describe: 'Write JUnit XML here: a testsuite per pattern, a testcase per check',
  },
  'reports-dir': {
    type: 'string',
    default: 'reports/smoke',
    describe: "Where each pattern's run report goes (<dir>/<pattern>/<run-id>/)",
  },
  timeout: {
    type: 'string',
    default: '60s',
    describe: 'Budget of the whole smoke run; checks still waiting then fail',
  },
  'state-dir': {
    type: 'string',
    default: '.edgefleet',
    describe: "State directory: the embedded emulator's, and the assignment cache",
  },
  reprovision: {
    type: 'boolean',
    default: false,
    describe: 'Register every identity through DPS, ignoring the assignment cache',
  },
  scenarios: {
    type: 'string',
    describe: 'Directory with your own <pattern>.yaml files instead of the bundled scenarios/smoke/',
  },
} satisfies Record<string, Options>;

export const smokeCommandModule: CommandModule<object, SmokeArgs> = {
  command: 'smoke',
  describe:
    'Check each gateway pattern end to end against a target: PASS/FAIL per check, JUnit XML, exit 1 on a failure',
  builder: (y) =>
    y
      .options(SMOKE_OPTIONS)
      .example('$0 smoke', 'Every pattern against the embedded emulator, in under a minute')
      .example('$0 smoke --pattern edge-device --junit reports/smoke.xml', 'One pattern, with JUnit XML for CI')
      .epilogue(
        `Patterns and their checks:\n${describePatterns()}\n\nExit code: 0 every check passed, 1 a check failed, 2 bad options or scenario.`,
      ),
  handler: async (args) => {
    process.exitCode = await smokeCommand({
      patterns: args.pattern,
      reportsDir: args['reports-dir'],
      timeout: args.timeout,
      stateDir: args['state-dir'],
      reprovision: args.reprovision,
      ...(args.target === undefined ? {} : { target: args.target }),
      ...(args['target-info'] === undefined ? {} : { targetInfo: args['target-info'] }),
      ...(args.junit === undefined ? {} : { junit: args.junit }),
      ...(args.scenarios === undefined ? {} : { scenariosDir: args.scenarios }),
      out: (line) => process.stdout.write(`${line}\n`),
      err: (line) => process.stderr.write(`${line}\n`),
    });
  },
};
