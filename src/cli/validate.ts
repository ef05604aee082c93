// `edgefleet validate FILE…`: check scenarios and profiles without running anything, through the same gate as a run.
import type { CommandModule } from 'yargs';
import { ConfigError } from '../config/errors.js';
import { DEFAULT_STATE_DIR, validateFile, type LoadedProfile, type LoadedScenario } from '../config/load.js';
import { planFleet } from '../config/plan.js';
import { formatDuration } from '../config/duration.js';

interface ValidateArgs {
  files: string[];
  target?: string;
  profile?: string;
  'state-dir': string;
}

export const validateCommand: CommandModule<object, ValidateArgs> = {
  command: 'validate <files..>',
  describe: 'Check scenarios and profiles (and the manifests, models, routes and generators they name) as a run would',
  builder: (y) =>
    y
      .positional('files', {
        type: 'string',
        array: true,
        demandOption: true,
        describe: 'Scenario or profile files (YAML or JSON)',
      })
      .option('target', {
        type: 'string',
        choices: ['emulator', 'iot-central', 'iot-hub', 'mqtt'],
        describe: 'Check a scenario for this target (its ${ENV} secrets must be set)',
      })
      .option('profile', {
        type: 'string',
        describe: 'Check a scenario with this profile (name or file), as run --profile does',
      })
      .option('state-dir', {
        type: 'string',
        default: DEFAULT_STATE_DIR,
        describe: 'Where models fetched from a model repository URL go',
      })
      .example('$0 validate scenarios/quickstart.yaml', 'Check a scenario, its profile, manifests and models')
      .example('$0 validate scenarios/*.yaml profiles/*.yaml', 'Check everything; exit 2 when a file is bad')
      .epilogue(
        'Whatever a run would refuse about a model, manifest, route or generator, validate refuses too (the ' +
          'same checks a run makes before anything connects). Each file gets an "ok" or a "bad" line; a bad ' +
          'one lists the file, the path inside it and what to fix. Exit code: 0 every file is ok, 2 a file is bad.',
      ),
  handler: async (args) => {
    let failed = 0;
    for (const file of args.files) {
      try {
        const overrides = { target: args.target, profile: args.profile, stateDir: args['state-dir'] };
        const result = await validateFile(file, overrides);
        const line = result.kind === 'profile' ? profileLine(result.loaded) : scenarioLine(result.loaded);
        process.stdout.write(`ok  ${file}: ${line}\n`);
        const warnings = result.kind === 'scenario' ? result.loaded.warnings : [];
        for (const w of warnings) process.stdout.write(`    warning: ${w}\n`);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        failed += 1;
        process.stdout.write(
          `bad ${file}:\n${err.message
            .split('\n')
            .map((l) => `    ${l}`)
            .join('\n')}\n`,
        );
      }
    }
    // Bad input is exit 2, as for every command (README: 0 ok, 99 thresholds, 2 bad input, 1 the tool failed).
    if (failed > 0) process.exitCode = 2;
  },
};

function profileLine({ profile: p }: LoadedProfile): string {
  return `profile ${p.name}, ${formatDuration(p.duration)}, ${p.actions.length} action(s), ${p.events.length} event(s)`;
}

function scenarioLine(loaded: LoadedScenario): string {
  const plan = planFleet({ scenario: loaded.scenario, profile: loaded.profile, durationMs: loaded.durationMs });
  const groups = [
    ...loaded.groups.map((g) => `${g.config.count} × ${g.name} (${g.kind})`),
    ...loaded.downstream.map((d) => {
      return `${d.config.countPerGateway} × ${d.name} behind each ${d.gatewayGroup} (downstream, ${d.config.auth})`;
    }),
  ].join(', ');
  const run = `profile ${loaded.profile.name}, ${formatDuration(loaded.durationMs)}, target ${loaded.target.kind}`;
  return `${plan.identities.length} identities: ${groups}; ${run}`;
}
