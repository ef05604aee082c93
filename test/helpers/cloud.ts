// The cloud side of the conformance tests: an emulator per test file, its IoT Central-style REST API, /stats,
// and the hub's HTTPS registry endpoint (module identities). Plain Node APIs only, so a failure here is the
// emulator's, not a helper library's.
import { request as httpsRequest } from 'node:https';
import { readFileSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, type Emulator, type EmulatorInfo } from '../../src/emulator/index.js';

/** The state directory test/global-setup.ts prepares (`.edgefleet-test/` at the repository root). */
export const TEST_STATE_DIR = resolve(fileURLToPath(new URL('../..', import.meta.url)), '.edgefleet-test');

/** IoT Central data-plane API version the tests speak (the emulator must also accept `1.0`). */
export const API_VERSION = '2022-07-31';

/**
 * Starts an emulator on free ports with the shared test state directory. Fails fast, with the reason, when the
 * worker does not trust the emulator's CA (the provisioning client could not connect at all otherwise).
 */
export async function startConformanceEmulator(): Promise<Emulator> {
  const emulator = await startEmulator({ stateDir: TEST_STATE_DIR, mqttPort: 0, httpPort: 0, hubHttpsPort: 0 });
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  const sameFile = (a: string, b: string) => {
    try {
      return realpathSync(a) === realpathSync(b) || readFileSync(a, 'utf8').includes(readFileSync(b, 'utf8').trim());
    } catch {
      return false;
    }
  };
  if (extra === undefined || !sameFile(extra, emulator.info.caCertPath)) {
    await emulator.close();
    throw new Error(
      `NODE_EXTRA_CA_CERTS is ${extra === undefined ? 'not set' : `"${extra}"`}, not the emulator CA ${emulator.info.caCertPath}: ` +
        "add globalSetup: ['test/global-setup.ts'] to vitest.config.ts (the provisioning client can only trust a CA through it)",
    );
  }
  return emulator;
}

/** The CA that signed the emulator's TLS server certificate, for `Client.setOptions({ ca })`. */
export const caPem = (info: EmulatorInfo): string => readFileSync(info.caCertPath, 'utf8');

export interface RestReply {
  status: number;
  /** Parsed JSON body, or the raw text when it is not JSON, or undefined when empty. */
  json: any;
}

/** Calls the IoT Central-style REST API with the API token (`Authorization: <apiToken>`, as is). */
export async function rest(info: EmulatorInfo, method: string, path: string, body?: unknown, apiVersion = API_VERSION): Promise<RestReply> {
  const url = new URL(path, info.restUrl);
  if (url.pathname.startsWith('/api/')) url.searchParams.set('api-version', apiVersion);
  const res = await fetch(url, {
    method,
    headers: { authorization: info.apiToken, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text.length === 0 ? undefined : JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
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
export async function stats(info: EmulatorInfo): Promise<any> {
  const reply = await rest(info, 'GET', '/stats');
  if (reply.status !== 200) throw new Error(`GET /stats answered ${reply.status}: ${JSON.stringify(reply.json)}`);
  return reply.json;
}

/** The /stats counters of one identity (`deviceId` or `deviceId/moduleId`); all zero when it is not listed yet. */
export async function countersOf(info: EmulatorInfo, identity: string): Promise<IdentityCounters> {
  const s = await stats(info);
  const c = s?.identities?.[identity] as IdentityCounters | undefined;
  return c ?? { messagesReceived: 0, connects: 0, twinGets: 0, twinPatches: 0, methodCalls: 0 };
}

/** Polls `probe` until it returns a value `ok` accepts, or fails with the last value seen. */
export async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  for (;;) {
    last = await probe();
    if (ok(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A request to the hub's HTTPS registry endpoint (`https://localhost:{hubHttpsPort}`), trusting the emulator CA. */
export function hubHttps(info: EmulatorInfo, method: string, path: string, authorization: string | undefined, body?: unknown): Promise<RestReply> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
  return new Promise((resolvePromise, reject) => {
    const req = httpsRequest({
      host: 'localhost',
      port: info.hubHttpsPort,
      method,
      path,
      ca: readFileSync(info.caCertPath),
      servername: 'localhost',
      timeout: 10_000,
      headers: {
        ...(authorization === undefined ? {} : { authorization }),
        ...(payload === undefined ? {} : { 'content-type': 'application/json; charset=utf-8', 'content-length': payload.length }),
      },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = text.length === 0 ? undefined : JSON.parse(text);
        } catch {
          json = text;
        }
        resolvePromise({ status: res.statusCode ?? 0, json });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`hub HTTPS ${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}
