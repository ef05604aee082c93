// The hub's HTTPS registry endpoint, the part an IoT Edge device uses to manage its own module identities
// with its device credentials, as the IoT Edge identity service does (PUT/GET/DELETE /devices/{d}/modules/{m}).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { randomBytes, randomUUID } from 'node:crypto';
import { parseSasToken, parseWireJson, sasResource, verifySasToken, WireJsonError } from '../protocol/index.js';
import { commonNameOf } from '../protocol/x509.js';
import {
  MODULE_ID_PATTERN,
  RegistryLimitError,
  type DeviceIdentity,
  type ModuleIdentity,
  type Registry,
} from './registry.js';
import type { RejectionReason } from './stats.js';
import { ServiceError } from './service.js';

export interface HubHttpsOptions {
  registry: Registry;
  /** Host names (with and without ports) a token's resource may name. */
  hubHosts: () => string[];
  log: (line: string) => void;
  /** Counts a refusal in /stats. */
  count?: (reason: RejectionReason) => void;
  /** Resolves once every change made so far is recorded: each answer waits for it. */
  committed?: () => Promise<void>;
  /** The hub's service API: every request but the device-scope module calls made with a device token. */
  serviceApi?: (req: IncomingMessage, res: ServerResponse) => void;
  /**
   * Holds a module identity call until the identity registry's limit lets it run (they are registry operations);
   * refuses with a ServiceError carrying `retryAfterSeconds` past it. Without limits, nothing.
   */
  registryGate?: () => Promise<void>;
}

const DEVICE_SCOPE_ROUTE = /^\/devices\/([^/]+)\/modules(?:\/([^/]+))?\/?$/;

/** A module identity call of an IoT Edge device with its own token (no `skn`), or one with no token at all. */
function isDeviceScope(req: IncomingMessage): boolean {
  if (!DEVICE_SCOPE_ROUTE.test(new URL(req.url ?? '/', 'https://hub').pathname)) return false;
  const header = req.headers.authorization;
  if (header === undefined) return true;
  try {
    return parseSasToken(header).skn === undefined;
  } catch {
    return true;
  }
}

const MAX_BODY = 64 * 1024;

/** A refusal with its HTTP status and IoT Hub error code. */
class HubError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly reason?: RejectionReason,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

const unauthorized = (message: string) => new HubError(401, 'IotHubUnauthorizedAccess', message, 'auth');

/** Verified against when the device does not exist, so that an unknown device costs what a wrong key costs. */
const ABSENT_DEVICE_KEY = randomBytes(32).toString('base64');

function moduleJson(m: ModuleIdentity) {
  return {
    moduleId: m.moduleId,
    deviceId: m.deviceId,
    generationId: m.generationId,
    managedBy: m.managedBy ?? null,
    etag: m.etag,
    connectionState: 'Disconnected',
    authentication:
      m.authentication.type === 'sas'
        ? {
            type: 'sas',
            symmetricKey: { ...m.authentication.keys },
            x509Thumbprint: { primaryThumbprint: null, secondaryThumbprint: null },
          }
        : { type: 'certificateAuthority', symmetricKey: null },
  };
}

function reply(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

const error = (res: ServerResponse, err: HubError) =>
  reply(
    res,
    err.status,
    { Message: `ErrorCode:${err.code};${err.message}`, ExceptionMessage: `Tracking ID:${randomUUID()}` },
    err.retryAfterSeconds === undefined ? {} : { 'retry-after': String(err.retryAfterSeconds) },
  );

/** An answer to send once what it says is recorded. */
interface HubReply {
  status: number;
  body?: unknown;
}

/**
 * The IoT Edge device a request's SAS token speaks for. Every failure is the same 401, whether the device is
 * unknown or the token wrong, so that the answer says nothing about which device ids exist.
 */
function authorize(req: IncomingMessage, opts: HubHttpsOptions, deviceId: string): DeviceIdentity {
  const header = req.headers.authorization;
  if (header === undefined) return authorizeByCertificate(req, opts, deviceId);
  let token;
  try {
    token = parseSasToken(header);
  } catch (err) {
    throw unauthorized((err as Error).message);
  }
  // Device tokens carry no skn (docs/protocol.md §2.1); one with a key name is a policy token, not this device's.
  if (token.skn !== undefined) throw unauthorized('a device SAS token carries no skn');
  const device = opts.registry.get(deviceId);
  const keys = device?.authentication.type === 'sas' ? device.authentication.keys : undefined;
  const resources = opts.hubHosts().map((h) => sasResource.device(h, deviceId));
  const candidates = keys === undefined ? [ABSENT_DEVICE_KEY] : [keys.primaryKey, keys.secondaryKey];
  const verdict = verifySasToken(token, candidates, resources, Math.floor(Date.now() / 1000));
  if (device === undefined || keys === undefined || !verdict.ok) {
    throw unauthorized(`the token does not grant access to device "${deviceId}"`);
  }
  if (!device.iotEdge) {
    throw unauthorized(`device "${deviceId}" is not an IoT Edge device; only those manage module identities`);
  }
  return device;
}

/**
 * The IoT Edge device whose client certificate made the request (mutual TLS): as the IoT Edge identity service of a
 * device with an X.509 identity calls the registry. The certificate chains to a CA the emulator trusts, its CN is
 * the device id, and the device is registered for X.509; every other case is the same 401 as a wrong token.
 */
function authorizeByCertificate(req: IncomingMessage, opts: HubHttpsOptions, deviceId: string): DeviceIdentity {
  const socket = req.socket as TLSSocket;
  const cert = socket.authorized ? socket.getPeerX509Certificate() : undefined;
  if (cert === undefined) throw unauthorized('neither an Authorization header nor a trusted client certificate');
  const device = opts.registry.get(deviceId);
  if (commonNameOf(cert.raw) !== deviceId || device === undefined || device.authentication.type !== 'x509CA') {
    throw unauthorized(`the client certificate does not grant access to device "${deviceId}"`);
  }
  if (!device.iotEdge) {
    throw unauthorized(`device "${deviceId}" is not an IoT Edge device; only those manage module identities`);
  }
  return device;
}

async function readJson(req: IncomingMessage, count: (reason: RejectionReason) => void): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HubError(413, 'RequestEntityTooLarge', `body over ${MAX_BODY / 1024} KB`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.length === 0) return {};
  try {
    return parseWireJson(text);
  } catch (err) {
    const problem = err instanceof WireJsonError ? err.problem : 'syntax';
    if (problem !== 'syntax') count(problem);
    throw new HubError(400, 'BadRequest', `the body: ${(err as Error).message}`);
  }
}

export function createHubHttpsHandler(opts: HubHttpsOptions) {
  const count = opts.count ?? (() => {});
  return (req: IncomingMessage, res: ServerResponse): void => {
    if (opts.serviceApi !== undefined && !isDeviceScope(req)) {
      opts.serviceApi(req, res);
      return;
    }
    const fail = (err: unknown) => {
      if (err instanceof HubError) {
        if (err.reason !== undefined) count(err.reason);
        if (!res.headersSent) error(res, err);
        else res.destroy();
        return;
      }
      count('internalError');
      const stack = err instanceof Error ? (err.stack ?? err.message) : String(err);
      opts.log(`hub HTTPS ${req.method} ${req.url?.slice(0, 200)}: internal error: ${stack}`);
      if (!res.headersSent) error(res, new HubError(500, 'ServerError', 'internal error'));
      else res.destroy();
    };
    const committed = opts.committed ?? (() => Promise.resolve());
    try {
      handle(req, opts, count)
        .then(async (r) => {
          await committed();
          reply(res, r.status, r.body);
        })
        .catch(fail);
    } catch (err) {
      fail(err);
    }
  };
}

function decodeSegment(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new HubError(400, 'BadRequest', 'the path is not valid percent-encoding');
  }
}

/** A module id the request may name: IoT Hub's alphabet; `$` ids (the runtime's) only to read. */
function checkModuleId(moduleId: string, method: string | undefined): void {
  if (!MODULE_ID_PATTERN.test(moduleId)) {
    throw new HubError(400, 'ArgumentInvalid', "a module id is 1-128 of A-Z a-z 0-9 - . + % _ # * ? ! ( ) , = @ $ '");
  }
  if (moduleId.startsWith('$') && method !== 'GET') {
    throw new HubError(400, 'ArgumentInvalid', `"${moduleId}": ids starting with $ are the IoT Edge runtime's`);
  }
}

/** Waits for the identity registry's limit; its refusal becomes the hub's 429 with `retry-after`. */
async function throttled(opts: HubHttpsOptions): Promise<void> {
  try {
    await opts.registryGate?.();
  } catch (err) {
    if (!(err instanceof ServiceError)) throw err;
    const retryAfter = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    throw new HubError(
      err.status,
      err.code,
      err.message,
      undefined,
      typeof retryAfter === 'number' ? retryAfter : undefined,
    );
  }
}

async function handle(
  req: IncomingMessage,
  opts: HubHttpsOptions,
  count: (r: RejectionReason) => void,
): Promise<HubReply> {
  const url = new URL(req.url ?? '/', 'https://hub');
  const m = DEVICE_SCOPE_ROUTE.exec(url.pathname);
  if (m === null) throw new HubError(404, 'NotFound', `no route ${url.pathname.slice(0, 200)}`);
  if (!url.searchParams.get('api-version')) {
    throw new HubError(400, 'InvalidProtocolVersion', 'api-version is required');
  }
  const deviceId = decodeSegment(m[1] as string);
  const moduleId = m[2] === undefined ? undefined : decodeSegment(m[2]);
  const device = authorize(req, opts, deviceId);
  await throttled(opts);
  if (moduleId === undefined) {
    if (req.method !== 'GET') throw new HubError(405, 'MethodNotAllowed', `${req.method} on a module list`);
    return { status: 200, body: [...device.modules.values()].map(moduleJson) };
  }
  checkModuleId(moduleId, req.method);
  const missing = () => new HubError(404, 'ModuleNotFound', `module "${moduleId}" does not exist`);
  switch (req.method) {
    case 'GET': {
      const module = device.modules.get(moduleId);
      if (module === undefined) throw missing();
      return { status: 200, body: moduleJson(module) };
    }
    case 'PUT': {
      const body = await readJson(req, count);
      const given = (body as { managedBy?: unknown }).managedBy;
      const managedBy = typeof given === 'string' ? given.slice(0, 128) : undefined;
      return { status: 200, body: moduleJson(createModule(opts.registry, device, moduleId, managedBy)) };
    }
    case 'DELETE':
      if (!opts.registry.deleteModule(device, moduleId)) throw missing();
      return { status: 204 };
    default:
      throw new HubError(405, 'MethodNotAllowed', `${req.method} on a module`);
  }
}

function createModule(
  registry: Registry,
  device: DeviceIdentity,
  moduleId: string,
  managedBy: string | undefined,
): ModuleIdentity {
  try {
    return registry.createModule(device, moduleId, managedBy);
  } catch (err) {
    if (err instanceof RegistryLimitError) throw new HubError(403, 'TooManyModules', err.message, 'moduleCap');
    throw err;
  }
}
