// `edgefleet cleanup SCENARIO --target iot-hub`: delete the identities runs of the scenario created in the hub.
import type { CommandModule } from 'yargs';
import { cleanupScenario } from '../api/cleanup.js';

interface CleanupArgs {
  scenario: string;
  target: 'iot-hub';
}

export const cleanupCommand: CommandModule<object, CleanupArgs> = {
  command: 'cleanup <scenario>',
  describe: "Delete, in bulk, the identities runs of a scenario created in an IoT Hub's registry (and nothing else)",
  builder: (y) =>
    y
      .positional('scenario', { type: 'string', demandOption: true, describe: 'Scenario file (YAML or JSON)' })
      .option('target', {
        choices: ['iot-hub'] as const,
        default: 'iot-hub' as const,
        describe: 'Whose registry (its settings come from the scenario: targets.iot-hub)',
      })
      .example('$0 cleanup scenarios/quickstart.yaml --target iot-hub', 'What quickstart runs created in the hub')
      .epilogue(
        'Finds the devices by their tag (tags.edgefleet.scenario, set on every identity a run creates) and deletes ' +
          'them in bulk calls of 100, children before their gateways; a device without the tag is never touched.',
      ),
  handler: async (args) => {
    const result = await cleanupScenario({ scenario: args.scenario, target: args.target });
    process.stdout.write(
      `${result.hub}: deleted ${result.deleted} of ${result.found} identities created by runs of ${result.scenario}\n`,
    );
    for (const f of result.failed.slice(0, 10)) process.stderr.write(`not deleted: ${f.deviceId}: ${f.reason}\n`);
    if (result.failed.length > 0) process.exitCode = 1;
  },
};
