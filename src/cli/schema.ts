// `edgefleet schema`: the JSON Schema of scenario and profile files, for editors.
import type { CommandModule } from 'yargs';
import { profileJsonSchema, scenarioJsonSchema } from '../config/schema.js';

export const schemaCommand: CommandModule<object, { kind: 'scenario' | 'profile' }> = {
  command: 'schema [kind]',
  describe: 'Print the JSON Schema of scenario or profile files (for editor completion)',
  builder: (y) =>
    y
      .positional('kind', { choices: ['scenario', 'profile'] as const, default: 'scenario' as const })
      .example(
        '$0 schema > scenario.schema.json',
        'Then add "# yaml-language-server: $schema=scenario.schema.json" to a scenario',
      ),
  handler: (args) => {
    process.stdout.write(
      JSON.stringify(args.kind === 'profile' ? profileJsonSchema() : scenarioJsonSchema(), null, 2) + '\n',
    );
  },
};
