#!/usr/bin/env node
// edgefleet command line: one file per command, all logic lives outside cli/.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { emulatorCommand } from './emulator.js';

await yargs(hideBin(process.argv))
  .scriptName('edgefleet')
  .usage('$0 <command> [options]\n\nSimulate fleets of Azure IoT Edge devices and load-test the cloud endpoint they talk to.')
  .command(emulatorCommand)
  .demandCommand(1, 'Name a command; `edgefleet --help` lists them.')
  .strict()
  .recommendCommands()
  .wrap(Math.min(110, process.stdout.columns ?? 110))
  .epilogue('Docs: README.md. Every command has --help with examples.')
  .parseAsync();
