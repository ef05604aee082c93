#!/usr/bin/env node
// edgefleet command line: one file per command, all logic lives outside cli/.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { emulatorCommand } from './emulator.js';
import { exportCommand } from './export.js';
import { runCommand } from './run.js';
import { findCapacityCommand } from './find-capacity.js';
import { reportCommand } from './report.js';
import { schemaCommand } from './schema.js';
import { validateCommand } from './validate.js';
import { smokeCommandModule } from './smoke.js';
import { k8sCommand } from './k8s.js';
import { cleanupCommand } from './cleanup.js';
import { ConfigError } from '../config/errors.js';

try {
  await yargs(hideBin(process.argv))
    .scriptName('edgefleet')
    .usage(
      '$0 <command> [options]\n\nSimulate fleets of Azure IoT Edge devices and load-test the cloud endpoint they talk to.',
    )
    .command(runCommand)
    .command(exportCommand)
    .command(findCapacityCommand)
    .command(reportCommand)
    .command(validateCommand)
    .command(schemaCommand)
    .command(emulatorCommand)
    .command(smokeCommandModule)
    .command(k8sCommand)
    .command(cleanupCommand)
    .demandCommand(1, 'Name a command; `edgefleet --help` lists them.')
    .strict()
    .recommendCommands()
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .epilogue('Docs: README.md. Every command has --help with examples.')
    .fail((message, err) => {
      if (err) throw err;
      process.stderr.write(`edgefleet: ${message}\nRun "edgefleet <command> --help" for the options and examples.\n`);
      process.exit(2);
    })
    .parseAsync();
} catch (err) {
  // Mistakes in files and options are the user's to fix: say what and where, without a stack trace.
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`edgefleet: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
}
