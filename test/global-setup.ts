// vitest globalSetup: prepares the shared test state directory (CA, server certificate, device CA, secrets) once,
// before any worker starts, and points NODE_EXTRA_CA_CERTS at its CA.
//
// Why here: the official Azure IoT provisioning client (azure-iot-provisioning-device-mqtt) has no `ca` option;
// it trusts only Node's CA store, and Node reads NODE_EXTRA_CA_CERTS once, when the process starts. Setting it in
// the main vitest process before the fork pool spawns its workers makes every test worker trust the emulator.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator } from '../src/emulator/index.js';
import { checkSystemPeers } from './support/system-peer.js';

/** `.edgefleet-test/` at the repository root (the one test/support/emulator.ts uses). */
const STATE_DIR = resolve(fileURLToPath(new URL('..', import.meta.url)), '.edgefleet-test');

export default async function setup(): Promise<void> {
  // Mosquitto, Chromium, tmux: one line for each that is missing (a failure with CI set).
  checkSystemPeers();
  // Starting (then closing) one emulator creates whatever is missing in the state directory and reuses the rest,
  // so every emulator the test files start later on port 0 serves a certificate from this same CA.
  // Ephemeral: the shared directory holds certificates and keys only, never a database (test/support/emulator.ts).
  const emulator = await startEmulator({
    stateDir: STATE_DIR,
    mqttPort: 0,
    httpPort: 0,
    hubHttpsPort: 0,
    ephemeral: true,
  });
  const caCertPath = emulator.info.caCertPath;
  await emulator.close();

  // NODE_EXTRA_CA_CERTS names one file. When the environment already set one (e.g. a distribution bundle or a
  // corporate proxy CA), keep trusting it: hand the workers a bundle of it plus the emulator CA.
  const previous = process.env.NODE_EXTRA_CA_CERTS;
  let bundle = caCertPath;
  if (previous !== undefined && previous !== '' && resolve(previous) !== caCertPath) {
    try {
      const existing = readFileSync(previous, 'utf8');
      bundle = join(STATE_DIR, 'node-extra-ca-certs.pem');
      writeFileSync(bundle, `${existing.trimEnd()}\n${readFileSync(caCertPath, 'utf8')}`);
    } catch {
      bundle = caCertPath; // unreadable: Node would ignore it anyway
    }
  }
  process.env.NODE_EXTRA_CA_CERTS = bundle;
}
