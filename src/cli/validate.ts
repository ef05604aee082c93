// `edgefleet validate FILE…`: check scenarios and profiles without running anything.
import type { CommandModule } from 'yargs';
import { validateFile } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import { planFleet } from '../config/plan.js';
import { formatDuration } from '../config/duration.js';
import { compileRoutes, RouteError } from '../sim/edge/routes.js';

interface ValidateArgs {
  files: string[];
  target?: string;
}

export const validateCommand: CommandModule<object, ValidateArgs> = {
  command: 'validate <files..>',
  describe: 'Check scenario and profile files (and the manifests, models and routes they name) without running them',
  builder: (y) =>
    y
      .positional('files', { type: 'string', array: true, demandOption: true, describe: 'Scenario or profile files (YAML or JSON)' })
      .option('target', { type: 'string', choices: ['emulator', 'iot-central', 'mqtt'], describe: 'Check a scenario for this target (its ${ENV} secrets must be set)' })
      .example('$0 validate scenarios/quickstart.yaml', 'Check a scenario, its profile, manifests and models')
      .example('$0 validate profiles/*.yaml', 'Check profiles'),
  handler: async (args) => {
    let failed = 0;
    for (const file of args.files) {
      try {
        const result = await validateFile(file, { target: args.target });
        if (result.kind === 'profile') {
          const p = result.loaded.profile;
          process.stdout.write(`ok  ${file}: profile ${p.name}, ${formatDuration(p.duration)}, ${p.actions.length} action(s), ${p.events.length} event(s)\n`);
          continue;
        }
        const loaded = result.loaded;
        // Routes of each manifest compile as edgeHub would compile them.
        for (const group of loaded.groups) {
          if (group.kind !== 'iotEdge') continue;
          const hub = group.manifest.json.modulesContent.$edgeHub['properties.desired'] as { routes?: Record<string, string | { route: string }> };
          try {
            compileRoutes(hub.routes ?? {});
          } catch (err) {
            if (!(err instanceof RouteError)) throw err;
            throw new ConfigError([{ file: group.manifest.path, path: 'modulesContent.$edgeHub["properties.desired"].routes', message: err.message }]);
          }
        }
        const plan = planFleet({ scenario: loaded.scenario, profile: loaded.profile, durationMs: loaded.durationMs });
        const groups = [
          ...loaded.groups.map((g) => `${g.config.count} × ${g.name} (${g.kind})`),
          ...loaded.downstream.map((d) => `${d.config.countPerGateway} × ${d.name} behind each ${d.gatewayGroup} (downstream, ${d.config.auth})`),
        ].join(', ');
        process.stdout.write(`ok  ${file}: ${plan.identities.length} identities: ${groups}; profile ${loaded.profile.name}, ${formatDuration(loaded.durationMs)}, target ${loaded.target.kind}\n`);
        for (const w of loaded.warnings) process.stdout.write(`    warning: ${w}\n`);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        failed += 1;
        process.stdout.write(`bad ${file}:\n${err.message.split('\n').map((l) => `    ${l}`).join('\n')}\n`);
      }
    }
    if (failed > 0) process.exitCode = 1;
  },
};
