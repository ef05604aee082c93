// The hub's HTTPS registry endpoint, the part an IoT Edge device uses to manage its own module identities
// with its device credentials, as the IoT Edge identity service does (PUT/GET/DELETE /devices/{d}/modules/{m}).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { parseSasToken, sasResource, verifySasToken } from '../protocol/index.js';
import type { DeviceIdentity, ModuleIdentity, Registry } from './registry.js';
import { EDGE_SYSTEM_MODULES } from './registry.js';

export interface HubHttpsOptions {
  registry: Registry;
  /** Host names (with and without ports) a token's resource may name. */
  hubHosts: () => string[];
  log: (line: string) => void;
}

const MAX_BODY = 64 * 1024;

function moduleJson(m: ModuleIdentity) {
  return {
    moduleId: m.moduleId,
    deviceId: m.deviceId,
    generationId: m.generationId,
    managedBy: m.managedBy ?? null,
    etag: m.etag,
    connectionState: 'Disconnected',
    authentication: m.authentication.type === 'sas'
      ? { type: 'sas', symmetricKey: { ...m.authentication.keys }, x509Thumbprint: { primaryThumbprint: null, secondaryThumbprint: null } }
      : { type: 'certificateAuthority', symmetricKey: null },
  };
}

function reply(res: ServerResponse, status: number, body?: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const error = (res: ServerResponse, status: number, code: string, message: string) =>
  reply(res, status, { Message: `ErrorCode:${code};${message}`, ExceptionMessage: `Tracking ID:${randomUUID()}` });

/** The device a request's SAS token speaks for, or an error already sent. */
function authorize(req: IncomingMessage, res: ServerResponse, opts: HubHttpsOptions, deviceId: string): DeviceIdentity | undefined {
  const header = req.headers.authorization;
  const device = opts.registry.get(deviceId);
  if (header === undefined) return void error(res, 401, 'IotHubUnauthorizedAccess', 'missing Authorization header');
  if (device === undefined) return void error(res, 404, 'DeviceNotFound', `device "${deviceId}" does not exist`);
  if (device.authentication.type !== 'sas') {
    return void error(res, 401, 'IotHubUnauthorizedAccess', 'only SAS-authenticated devices can manage modules here');
  }
  let token;
  try {
    token = parseSasToken(header);
  } catch (err) {
    return void error(res, 401, 'IotHubUnauthorizedAccess', (err as Error).message);
  }
  const keys = device.authentication.keys;
  const resources = opts.hubHosts().map((h) => sasResource.device(h, deviceId));
  const verdict = verifySasToken(token, [keys.primaryKey, keys.secondaryKey], resources, Math.floor(Date.now() / 1000));
  if (!verdict.ok) return void error(res, 401, 'IotHubUnauthorizedAccess', `SAS token refused: ${verdict.reason}`);
  return device;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('body over 64 KB');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text.length === 0 ? {} : JSON.parse(text);
}

export function createHubHttpsHandler(opts: HubHttpsOptions) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res, opts).catch((err: Error) => {
      opts.log(`hub HTTPS ${req.method} ${req.url}: ${err.message}`);
      if (!res.headersSent) error(res, 400, 'BadRequest', err.message);
      else res.destroy();
    });
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: HubHttpsOptions): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://hub');
  const m = /^\/devices\/([^/]+)\/modules(?:\/([^/]+))?\/?$/.exec(url.pathname);
  if (m === null) return error(res, 404, 'NotFound', `no route ${url.pathname}`);
  if (!url.searchParams.get('api-version')) return error(res, 400, 'InvalidProtocolVersion', 'api-version is required');
  const deviceId = decodeURIComponent(m[1] as string);
  const moduleId = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
  const device = authorize(req, res, opts, deviceId);
  if (device === undefined) return;
  if (moduleId === undefined) {
    if (req.method !== 'GET') return error(res, 405, 'MethodNotAllowed', `${req.method} on a module list`);
    return reply(res, 200, [...device.modules.values()].map(moduleJson));
  }
  switch (req.method) {
    case 'GET': {
      const module = device.modules.get(moduleId);
      return module === undefined ? error(res, 404, 'ModuleNotFound', `module "${moduleId}" does not exist`) : reply(res, 200, moduleJson(module));
    }
    case 'PUT': {
      const body = await readJson(req);
      const managedBy = typeof (body as { managedBy?: unknown }).managedBy === 'string' ? (body as { managedBy: string }).managedBy : undefined;
      return reply(res, 200, moduleJson(opts.registry.createModule(device, moduleId, managedBy)));
    }
    case 'DELETE': {
      if ((EDGE_SYSTEM_MODULES as readonly string[]).includes(moduleId)) {
        return error(res, 400, 'BadRequest', `${moduleId} belongs to the IoT Edge runtime`);
      }
      if (!device.modules.delete(moduleId)) return error(res, 404, 'ModuleNotFound', `module "${moduleId}" does not exist`);
      return reply(res, 204);
    }
    default:
      return error(res, 405, 'MethodNotAllowed', `${req.method} on a module`);
  }
}
