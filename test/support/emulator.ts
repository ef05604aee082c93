// The emulator from a test's side: one per test file on free ports, sharing the test state directory (its CA is
// what NODE_EXTRA_CA_CERTS points at; see test/global-setup.ts), its REST API, /stats, and the hub's HTTPS
// registry endpoint. Plain Node APIs only, so a failure here is the emulator's, not a helper library's.
//
// The shared directory never holds a database: emulators started on it are ephemeral, and a test that needs a
// durable one (or `edgefleet run`, whose emulator records its state) takes a copy of it of its own
// (isolatedStateDir), so that test files running in parallel never share a database or wait on its lock.
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, type Emulator, type EmulatorInfo, type EmulatorOptions } from '../../src/emulator/index.js';

/** The state directory test/global-setup.ts prepares (`.edgefleet-test/` at the repository root). */
export const TEST_STATE_DIR = resolve(fileURLToPath(new URL('../..', import.meta.url)), '.edgefleet-test');

/** IoT Central data-plane API version the tests speak (the emulator must also accept `1.0`). */
export const API_VERSION = '2022-07-31';

const infoOf = (e: Emulator | EmulatorInfo): EmulatorInfo => ('info' in e ? e.info : e);

/**
 * Starts an emulator on free ports with the shared test state directory, ephemeral (DPS answers at once unless
 * `options` say otherwise; a durable one needs a state directory of its own: isolatedStateDir). Fails fast, with
 * the reason, when this process does not trust the emulator's CA: the official provisioning client can trust a CA
 * only through NODE_EXTRA_CA_CERTS.
 */
export async function startTestEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  if (options.ephemeral === false && (options.stateDir === undefined || resolve(options.stateDir) === TEST_STATE_DIR)) {
    throw new Error('a durable test emulator needs a state directory of its own: isolatedStateDir()');
  }
  const emulator = await startEmulator({
    stateDir: TEST_STATE_DIR,
    mqttPort: 0,
    httpPort: 0,
    hubHttpsPort: 0,
    dpsRetryAfterSeconds: 0,
    ephemeral: true,
    ...options,
  });
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  if (extra === undefined || !sameCa(extra, emulator.info.caCertPath)) {
    await emulator.close();
    throw new Error(
      `NODE_EXTRA_CA_CERTS is ${extra === undefined ? 'not set' : `"${extra}"`}, not the emulator CA ${emulator.info.caCertPath}: ` +
        "add globalSetup: ['test/global-setup.ts'] to vitest.config.ts (the provisioning client can only trust a CA through it)",
    );
  }
  return emulator;
}

/**
 * A fresh state directory with the test state directory's certificates, keys and secrets (so NODE_EXTRA_CA_CERTS
 * trusts its emulator) and no database; `remove` deletes it.
 */
export function isolatedStateDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-state-'));
  for (const name of readdirSync(TEST_STATE_DIR)) {
    const from = join(TEST_STATE_DIR, name);
    if (name.startsWith('emulator.') || !statSync(from).isFile()) continue;
    copyFileSync(from, join(dir, name));
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

function sameCa(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b) || readFileSync(a, 'utf8').includes(readFileSync(b, 'utf8').trim());
  } catch {
    return false;
  }
}

/** The CA that signed the emulator's TLS server certificate (PEM), for a client's `ca` option. */
export const caOf = (emulator: Emulator | EmulatorInfo): string => readFileSync(infoOf(emulator).caCertPath, 'utf8');

export interface RestReply {
  status: number;
  /** Parsed JSON body, or the raw text when it is not JSON, or undefined when empty. */
  json: any;
}

/** Calls the IoT Central-style REST API with the API token (`Authorization: <apiToken>`, as is). */
export async function rest(
  emulator: Emulator | EmulatorInfo,
  method: string,
  path: string,
  body?: unknown,
  apiVersion = API_VERSION,
): Promise<RestReply> {
  const info = infoOf(emulator);
  const url = new URL(path, info.restUrl);
  if (url.pathname.startsWith('/api/')) url.searchParams.set('api-version', apiVersion);
  const res = await fetch(url, {
    method,
    headers: { authorization: info.apiToken, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: res.status, json: parsed(await res.text()) };
}

function parsed(text: string): unknown {
  try {
    return text.length === 0 ? undefined : JSON.parse(text);
  } catch {
    return text;
  }
}

export interface IdentityCounters {
  messagesReceived: number;
  connects: number;
  twinGets: number;
  twinPatches: number;
  methodCalls: number;
  [counter: string]: number;
}

/** `GET /stats`, whole. */
export async function stats(emulator: Emulator | EmulatorInfo): Promise<any> {
  const reply = await rest(emulator, 'GET', '/stats');
  if (reply.status !== 200) throw new Error(`GET /stats answered ${reply.status}: ${JSON.stringify(reply.json)}`);
  return reply.json;
}

/** The /stats counters of one identity (`deviceId` or `deviceId/moduleId`); all zero when it is not listed yet. */
export async function countersOf(emulator: Emulator | EmulatorInfo, identity: string): Promise<IdentityCounters> {
  const s = await stats(emulator);
  const c = s?.identities?.[identity] as IdentityCounters | undefined;
  return c ?? { messagesReceived: 0, connects: 0, twinGets: 0, twinPatches: 0, methodCalls: 0 };
}

/** A request to the hub's HTTPS registry endpoint (`https://localhost:{hubHttpsPort}`), trusting the emulator CA. */
export function hubHttps(
  emulator: Emulator | EmulatorInfo,
  method: string,
  path: string,
  authorization: string | undefined,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<RestReply & { headers: IncomingHttpHeaders }> {
  const info = infoOf(emulator);
  const payload =
    body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body), 'utf8');
  return new Promise((resolvePromise, reject) => {
    const req = httpsRequest(
      {
        host: 'localhost',
        port: info.hubHttpsPort,
        method,
        path,
        ca: caOf(info),
        servername: 'localhost',
        timeout: 10_000,
        headers: {
          ...headers,
          ...(authorization === undefined ? {} : { authorization }),
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json; charset=utf-8', 'content-length': payload.length }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolvePromise({
            status: res.statusCode ?? 0,
            json: parsed(Buffer.concat(chunks).toString('utf8')),
            headers: res.headers,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`hub HTTPS ${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}
