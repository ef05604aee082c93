// Starts an emulator for one test file on free ports, sharing the test state directory (its CA is what
// NODE_EXTRA_CA_CERTS points at; see test/global-setup.ts).
import { readFileSync } from 'node:fs';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
/** The state directory test/global-setup.ts prepares. */
export const TEST_STATE_DIR = '.edgefleet-test';

export async function startTestEmulator(): Promise<Emulator> {
  return startEmulator({ stateDir: TEST_STATE_DIR, mqttPort: 0, httpPort: 0, hubHttpsPort: 0, dpsRetryAfterSeconds: 0 });
}

export function caOf(emulator: Emulator): Buffer {
  return readFileSync(emulator.info.caCertPath);
}

/** Calls the emulator's REST API with its token. */
export async function rest(emulator: Emulator, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const sep = path.includes('?') ? '&' : '?';
  const res = await fetch(`${emulator.info.restUrl}${path}${path.startsWith('/api') ? `${sep}api-version=2022-07-31` : ''}`, {
    method,
    headers: { authorization: emulator.info.apiToken, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text.length > 0 ? JSON.parse(text) : undefined };
}
