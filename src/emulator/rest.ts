// The emulator's REST front end, shaped like IoT Central's data-plane API (docs/protocol.md §6.3): JSON over node:http,
// authorized by an API token. It only maps HTTP onto CloudService and the registry; the MQTT front end does the rest.
import type http from 'node:http';
import { readBoundedBody } from './http-body.js';
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { parseWireJson, WireJsonError } from '../protocol/index.js';
import { ServiceError, type CloudService, type CommandRecord, type MethodResult } from './service.js';
import type { DeviceIdentity, SymmetricKeys } from './registry.js';
import type { RejectionReason } from './stats.js';
import { isJsonObject, type Json, type JsonObject, type Twin, type TwinSection } from './twin.js';
import type { OutageSpec } from './mqtt-front.js';
import { ThrottledError, type HubLimits, type LimitedOperation } from './limits/index.js';

export interface RestOptions {
  service: CloudService;
  apiToken: string;
  idScope: string;
  stats: () => unknown;
  log?: (line: string) => void;
  /**
   * Keys for a device created over REST. IoT Central derives them from the enrollment group key, so that the
   * device can then provision through DPS; without this option the registry's random keys are kept.
   */
  deviceKeys?: (deviceId: string, iotEdge: boolean) => SymmetricKeys;
  /** POST /admin/outages: closes the identities' connections and refuses them until it ends; how many closed. */
  outage?: (spec: OutageSpec) => number;
  /** Counts a refusal in /stats. */
  count?: (reason: RejectionReason) => void;
  /** Resolves once every change made so far is recorded: each answer waits for it (acknowledged means recorded). */
  committed?: () => Promise<void>;
  /** The hub's limits: device writes, twin reads and updates, commands and C2D go through them. */
  limits?: HubLimits;
}

/** What a call of the API counts as against the hub's limits (docs/protocol.md §7.1), by its route. */
function limitedOperationOf(segments: string[], method: Method): LimitedOperation | undefined {
  if (segments[0] !== 'api' || segments[1] !== 'devices' || segments.length < 3) return undefined;
  const last = segments[segments.length - 1];
  if (segments.length === 3) return method === 'GET' ? undefined : 'registry';
  if (last === 'properties') return method === 'GET' ? 'twinRead' : 'twinUpdate';
  if (segments[segments.length - 2] === 'commands' && method === 'POST') return 'method';
  return segments.length === 4 && last === 'messages' ? 'c2d' : undefined;
}

export const API_VERSIONS = ['1.0', '2022-07-31', '2022-10-31-preview', '2023-07-31'] as const;
const MAX_BODY_BYTES = 1024 * 1024;
/** Past this much we stop draining an oversized body and drop the connection. */
const MAX_DRAIN_BYTES = 16 * MAX_BODY_BYTES;
const PAGE_DEFAULT = 25;
const PAGE_MAX = 100;
/** Extra time on top of responseTimeout before we give up on the channel ourselves. */
const COMMAND_GRACE_MS = 5_000;
const CONNECT_POLL_MS = 100;
/** IoT Hub's device/module id alphabet. */
const ID_PATTERN = /^[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}$/;
/** DTDL component names. */
const COMPONENT_PATTERN = /^[A-Za-z](?:[A-Za-z0-9_]{0,62}[A-Za-z0-9])?$/;

// ---- plumbing ----------------------------------------------------------------------------------------

/** A ServiceError that also sets response headers (405 needs `Allow`). */
class HttpError extends ServiceError {
  constructor(
    status: number,
    code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(status, code, message);
  }
}

const badRequest = (message: string) => new ServiceError(400, 'BadRequest', message);
const notFound = (message: string) => new ServiceError(404, 'NotFound', message);
const conflict = (message: string) => new ServiceError(409, 'Conflict', message);

type Method = 'GET' | 'PUT' | 'PATCH' | 'POST' | 'DELETE';

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

interface Ctx {
  req: http.IncomingMessage;
  url: URL;
  params: Partial<Record<string, string>>;
  /** The parsed JSON body (undefined when empty); read on demand so GETs never wait for one. */
  body(): Promise<unknown>;
}

type Handler = (ctx: Ctx) => Reply | Promise<Reply>;

interface Route {
  segments: string[];
  methods: Partial<Record<Method, Handler>>;
  public?: boolean;
}

const ok = (body: unknown, status = 200): Reply => ({ status, body });

/** A gateway relationship as the API shows it: `source` is the gateway, `target` its downstream device. */
interface Relationship {
  id: string;
  name: 'gateway';
  source: string;
  target: string;
  /** The module the child was provisioned through (identity translation): the emulator's addition. */
  iotcModuleId?: string;
}
const noContent = (): Reply => ({ status: 204 });

function route(path: string, methods: Route['methods'], extra: { public?: boolean } = {}): Route {
  return { segments: path.split('/').filter((s) => s !== ''), methods, ...extra };
}

/** The four forms IoT Central gives device-scoped capabilities: device, module, component, module component. */
function scoped(suffix: string, methods: Route['methods']): Route[] {
  return ['', '/modules/:moduleId', '/components/:component', '/modules/:moduleId/components/:component'].map((scope) =>
    route(`/api/devices/:deviceId${scope}${suffix}`, methods),
  );
}

function matchRoute(routes: Route[], segments: string[]): { route: Route; params: Record<string, string> } | undefined {
  for (const r of routes) {
    if (r.segments.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const hit = r.segments.every((t, i) => {
      const s = segments[i] as string;
      if (t.startsWith(':')) params[t.slice(1)] = s;
      return t.startsWith(':') || t === s;
    });
    if (hit) return { route: r, params };
  }
  return undefined;
}

function pathSegments(pathname: string): string[] {
  try {
    return pathname
      .split('/')
      .filter((s) => s !== '')
      .map(decodeURIComponent);
  } catch {
    throw badRequest('the path is not valid percent-encoding');
  }
}

/** Reads the body, draining (not buffering) past the limit so the client still gets its 413. */
function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return readBoundedBody(req, {
    maxBytes: MAX_BODY_BYTES,
    drainBytes: MAX_DRAIN_BYTES,
    tooLarge: () => new ServiceError(413, 'PayloadTooLarge', `the request body is over ${MAX_BODY_BYTES} bytes`),
    cutShort: () => new ServiceError(400, 'BadRequest', 'the request body was cut short'),
  });
}

/** The body as wire JSON: bounded nesting and no `__proto__` key, so it can never reach a prototype. */
function parseJson(buf: Buffer, count: (reason: RejectionReason) => void): unknown {
  if (buf.length === 0) return undefined;
  try {
    return parseWireJson(buf.toString('utf8'));
  } catch (err) {
    const problem = err instanceof WireJsonError ? err.problem : 'syntax';
    if (problem === 'syntax') throw new ServiceError(400, 'InvalidJson', 'the request body is not valid JSON');
    count(problem);
    const code = problem === 'tooDeep' ? 'TooDeep' : 'InvalidKey';
    throw new ServiceError(400, code, `the request body: ${(err as Error).message}`);
  }
}

function tokenMatches(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function checkApiVersion(query: URLSearchParams): void {
  const v = query.get('api-version');
  if (v === null || !(API_VERSIONS as readonly string[]).includes(v)) {
    const got = v === null ? 'missing' : `"${v}" is not supported`;
    throw new ServiceError(400, 'InvalidApiVersion', `api-version ${got}; accepted: ${API_VERSIONS.join(', ')}`);
  }
}

// ---- body validation ---------------------------------------------------------------------------------

function requireObject(v: unknown, what = 'the request body'): JsonObject {
  if (!isJsonObject(v)) throw badRequest(`${what} must be a JSON object`);
  return v;
}

function optional<T>(body: JsonObject, key: string, type: 'string' | 'boolean' | 'number'): T | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== type) throw badRequest(`"${key}" must be a ${type}`);
  return v as T;
}

function requireId(id: string, what: string): string {
  if (!ID_PATTERN.test(id))
    throw badRequest(`${what} "${id}" is not valid (1-128 of A-Z a-z 0-9 - . % _ * ? ! ( ) , : = @ $ ')`);
  return id;
}

function param(ctx: Ctx, name: string): string {
  const v = ctx.params[name];
  if (v === undefined) throw new Error(`route has no :${name}`);
  return v;
}

/** A number of seconds within [min, max], or the default. */
function seconds(body: JsonObject, key: string, dflt: number, min: number, max: number): number {
  const v = optional<number>(body, key, 'number') ?? dflt;
  if (!(v >= min && v <= max)) throw badRequest(`"${key}" must be between ${min} and ${max} seconds`);
  return v;
}

/** Drops `$`-prefixed keys (`$metadata` echoed back from a GET) and the component marker. */
function writableValues(body: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(body).filter(([k]) => !k.startsWith('$') && k !== '__t'));
}

// ---- views -------------------------------------------------------------------------------------------

const isComponent = (v: Json | undefined): v is JsonObject => isJsonObject(v) && v.__t === 'c';

/** A twin section's values at the root or inside a component, with the last update time of each. */
interface SectionView {
  values: JsonObject;
  updatedAt: (name: string) => string | undefined;
}

function sectionView(section: TwinSection, component: string | undefined): SectionView {
  if (component === undefined) return { values: section.value, updatedAt: (name) => section.updatedAt.get(name) };
  const inner = section.value[component];
  const values = isJsonObject(inner) ? writableValues(inner) : {};
  // Times are kept per top-level key only, so a component's properties share the component's time.
  return { values, updatedAt: () => section.updatedAt.get(component) };
}

/** A writable-property acknowledgement `{value, ac, av, ad?}` as the device reports it (docs/protocol.md §6.2). */
const isAck = (v: Json | undefined): v is JsonObject => isJsonObject(v) && 'value' in v && typeof v.ac === 'number';

/**
 * IoT Central's property read: reported values (acks unwrapped) over desired ones, plus `$metadata` per name.
 * `desiredVersion` is the desired section's version: per-property versions are not tracked.
 */
function propertiesView(twin: Twin, component: string | undefined): JsonObject {
  const reported = sectionView(twin.reported, component);
  const desired = sectionView(twin.desired, component);
  // Keyed by property names: no prototype, so a name like `constructor` reads back as absent, not as a function.
  const out: JsonObject = Object.create(null) as JsonObject;
  const metadata: Record<string, JsonObject> = Object.create(null) as Record<string, JsonObject>;
  const meta = (name: string) => (metadata[name] ??= {});
  for (const [name, value] of Object.entries(desired.values)) {
    out[name] = value;
    Object.assign(meta(name), { desiredValue: value, desiredVersion: twin.desired.version });
  }
  for (const [name, value] of Object.entries(reported.values)) {
    out[name] = isAck(value) ? (value.value ?? null) : value;
    const m = meta(name);
    const at = reported.updatedAt(name);
    if (at !== undefined) m.lastUpdateTime = at;
    if (isAck(value)) {
      Object.assign(m, { ackCode: value.ac, ackVersion: value.av ?? null });
      if (value.ad !== undefined) m.ackDescription = value.ad;
    }
  }
  return { ...out, $metadata: metadata };
}

/** IoT Central's device object, plus the emulator's `iotEdge` and the assigned manifest. */
function deviceView(device: DeviceIdentity, service: CloudService): JsonObject {
  const manifest =
    device.deploymentManifestId === undefined ? undefined : service.manifests.get(device.deploymentManifestId);
  return {
    id: device.id,
    etag: device.etag,
    displayName: device.displayName,
    simulated: device.simulated,
    provisioned: device.provisioned,
    ...(device.modelId === undefined ? {} : { template: device.modelId }),
    enabled: device.enabled,
    iotEdge: device.iotEdge,
    ...(manifest === undefined ? {} : { deploymentManifest: manifest as unknown as JsonObject }),
  };
}

/**
 * Credentials: SAS devices as IoT Central answers. For X.509 (CA-signed) identities nothing per device is stored;
 * we answer `{idScope, x509: {clientCertificates: {}, commonName}}`: any leaf from a trusted CA with that CN.
 */
function credentialsView(device: DeviceIdentity, idScope: string): JsonObject {
  if (device.authentication.type === 'sas') return { idScope, symmetricKey: { ...device.authentication.keys } };
  return { idScope, x509: { clientCertificates: {}, commonName: device.id } };
}

// ---- paging ------------------------------------------------------------------------------------------

/**
 * One page of sorted keys. `$skiptoken` is the last key of the previous page (base64url), so deletions between
 * pages neither skip nor repeat anything.
 */
function page(keys: string[], ctx: Ctx): { keys: string[]; nextLink?: string } {
  const q = ctx.url.searchParams;
  const topText = q.get('$top');
  const top = topText === null ? PAGE_DEFAULT : Number(topText);
  if (!Number.isInteger(top) || top < 1 || top > PAGE_MAX)
    throw badRequest(`$top must be an integer from 1 to ${PAGE_MAX}`);
  const token = q.get('$skiptoken');
  const after = token === null ? undefined : Buffer.from(token, 'base64url').toString('utf8');
  const start = after === undefined ? 0 : firstAfter(keys, after);
  const slice = keys.slice(start, start + top);
  if (start + top >= keys.length) return { keys: slice };
  // Built by hand so `$top`/`$skiptoken` stay literal, as IoT Central writes them (URLSearchParams would give %24).
  const apiVersion = encodeURIComponent(q.get('api-version') ?? API_VERSIONS[0]);
  const skiptoken = Buffer.from(slice[slice.length - 1] as string).toString('base64url');
  const nextLink = `${baseUrl(ctx.req)}${ctx.url.pathname}?api-version=${apiVersion}&$top=${top}&$skiptoken=${skiptoken}`;
  return { keys: slice, nextLink };
}

/** Index of the first key greater than `after` in sorted keys (binary search). */
function firstAfter(keys: string[], after: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((keys[mid] as string) <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function baseUrl(req: http.IncomingMessage): string {
  const host = req.headers.host;
  return `http://${host !== undefined && /^[A-Za-z0-9.\-:[\]]+$/.test(host) ? host : 'localhost'}`;
}

const sorted = (keys: Iterable<string>) => [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

// ---- the API -----------------------------------------------------------------------------------------

interface Scope {
  deviceId: string;
  moduleId?: string;
  component?: string;
}

interface DeviceInput {
  displayName?: string;
  template?: string;
  simulated?: boolean;
  enabled?: boolean;
  iotEdge?: boolean;
  deploymentManifest?: string;
}

class RestApi {
  private readonly routes: Route[];

  constructor(private readonly opts: RestOptions) {
    this.routes = this.routeTable();
  }

  private get service(): CloudService {
    return this.opts.service;
  }

  private routeTable(): Route[] {
    return [
      route('/health', { GET: () => ok({ status: 'ok' }) }, { public: true }),
      route('/stats', { GET: () => ok(this.opts.stats()) }),
      route('/api/devices', { GET: (c) => this.listDevices(c) }),
      route('/api/devices/:deviceId', {
        GET: (c) => ok(deviceView(this.service.device(param(c, 'deviceId')), this.service)),
        PUT: (c) => this.writeDevice(c, false),
        PATCH: (c) => this.writeDevice(c, true),
        DELETE: (c) => this.deleteDevice(c),
      }),
      route('/api/devices/:deviceId/credentials', {
        GET: (c) => ok(credentialsView(this.service.device(param(c, 'deviceId')), this.opts.idScope)),
      }),
      route('/api/devices/:deviceId/modules', { GET: (c) => this.listModules(c) }),
      route('/api/devices/:deviceId/components', { GET: (c) => this.listComponents(c) }),
      route('/api/devices/:deviceId/modules/:moduleId/components', { GET: (c) => this.listComponents(c) }),
      // Emulator convenience (IoT Central assigns through the device object only): always re-applies the manifest.
      route('/api/devices/:deviceId/deploymentManifest', { POST: (c) => this.assignManifest(c) }),
      // Emulator extension, not in IoT Central: a cloud-to-device message.
      route('/api/devices/:deviceId/messages', { POST: (c) => this.sendMessage(c) }),
      route('/api/devices/:deviceId/relationships', {
        GET: (c) => ok({ value: this.relationshipsOf(param(c, 'deviceId')) }),
      }),
      route('/api/devices/:deviceId/relationships/:relationshipId', {
        GET: (c) => ok(this.findRelationship(c)),
        PUT: (c) => this.putRelationship(c),
        DELETE: (c) => this.deleteRelationship(c),
      }),
      ...scoped('/properties', {
        GET: (c) => ok(propertiesView(this.twinOf(scopeOf(c)), scopeOf(c).component)),
        PATCH: (c) => this.writeProperties(c, false),
        PUT: (c) => this.writeProperties(c, true),
      }),
      ...scoped('/commands/:command', { POST: (c) => this.runCommand(c), GET: (c) => this.commandHistory(c) }),
      ...scoped('/telemetry/:telemetry', { GET: (c) => this.lastTelemetry(c) }),
      // Emulator extension, not in IoT Central: take identities away for a while (store-and-forward tests).
      route('/admin/outages', { POST: (c) => this.startOutage(c) }),
      route('/api/deploymentManifests', { GET: (c) => this.listManifests(c) }),
      route('/api/deploymentManifests/:manifestId', {
        GET: (c) => ok(this.manifest(param(c, 'manifestId'))),
        PUT: (c) => this.saveManifest(c),
        DELETE: (c) => this.deleteManifest(c),
      }),
    ];
  }

  /** Never rejects: every failure becomes a JSON error reply (a 500 counted as `internalError` if unexpected). */
  async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const requestId = randomUUID();
    let reply: Reply;
    let text: string | undefined;
    try {
      reply = await this.dispatch(req);
      text = reply.body === undefined ? undefined : JSON.stringify(reply.body);
    } catch (err) {
      reply = this.errorReply(err, requestId);
      text = JSON.stringify(reply.body);
    }
    try {
      // What the answer says has been recorded before it leaves, reads included (what was seen stays seen).
      await this.opts.committed?.();
      send(res, reply, text, requestId);
    } catch (err) {
      this.opts.log?.(`rest: could not answer ${req.method} ${req.url}: ${String(err)}`);
      res.destroy();
    }
  }

  private async dispatch(req: http.IncomingMessage): Promise<Reply> {
    const rawUrl = req.url ?? '/';
    if (!rawUrl.startsWith('/')) throw badRequest('the request target must be a path');
    const url = new URL(`http://localhost${rawUrl}`);
    const found = matchRoute(this.routes, pathSegments(url.pathname));
    // Authorize before saying anything about routes, so unknown paths do not leak to callers without a token.
    if (found?.route.public !== true && !tokenMatches(req.headers.authorization, this.opts.apiToken)) {
      throw new ServiceError(401, 'Unauthorized', 'the Authorization header must carry a valid API token');
    }
    if (url.pathname === '/api' || url.pathname.startsWith('/api/')) checkApiVersion(url.searchParams);
    if (found === undefined) throw notFound(`no route for ${url.pathname}`);
    const handler = found.route.methods[req.method as Method];
    if (handler === undefined) {
      const allow = Object.keys(found.route.methods).join(', ');
      throw new HttpError(405, 'MethodNotAllowed', `${req.method} is not allowed here; allowed: ${allow}`, { allow });
    }
    let body: Promise<unknown> | undefined;
    const count = this.opts.count ?? (() => {});
    const readJson = () => readBody(req).then((b) => parseJson(b, count));
    const ctx: Ctx = { req, url, params: found.params, body: () => (body ??= readJson()) };
    await this.limit(found.route, req.method as Method, ctx);
    return handler(ctx);
  }

  /** Holds a call the hub limits until its turn; past the shaping queue, a ThrottledError (429, retry-after). */
  private async limit(route: Route, method: Method, ctx: Ctx): Promise<void> {
    const limits = this.opts.limits;
    const op = limits?.active === true ? limitedOperationOf(route.segments, method) : undefined;
    if (limits === undefined || op === undefined) return;
    const request = op === 'method' ? await ctx.body() : undefined;
    const bytes = isJsonObject(request) ? JSON.stringify(request.request ?? null).length : 0;
    await limits.acquire(op, ctx.params.deviceId, op === 'method' ? limits.methodCost(bytes) : 1);
  }

  private errorReply(err: unknown, requestId: string): Reply {
    if (err instanceof ServiceError) {
      if (err.status >= 500) this.opts.log?.(`rest: ${err.status} ${err.code}: ${err.message}`);
      return {
        status: err.status,
        body: { error: { code: err.code, message: err.message, requestId } },
        ...(err instanceof HttpError ? { headers: err.headers } : {}),
        ...(err instanceof ThrottledError ? { headers: { 'retry-after': String(err.retryAfterSeconds) } } : {}),
      };
    }
    this.opts.count?.('internalError');
    this.opts.log?.(`rest: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return { status: 500, body: { error: { code: 'InternalServerError', message: 'internal error', requestId } } };
  }

  // ---- devices ----

  private listDevices(ctx: Ctx): Reply {
    const { keys, nextLink } = page(sorted(this.service.registry.devices.keys()), ctx);
    const value = keys.map((id) => deviceView(this.service.device(id), this.service));
    return ok({ value, ...(nextLink === undefined ? {} : { nextLink }) });
  }

  /** PUT creates or updates, PATCH only updates; both may assign a deployment manifest. */
  private async writeDevice(ctx: Ctx, patch: boolean): Promise<Reply> {
    const id = requireId(param(ctx, 'deviceId'), 'device id');
    const input = parseDeviceInput(await ctx.body(), id);
    const existing = this.service.registry.get(id);
    if (existing === undefined && patch) throw notFound(`device "${id}" does not exist`);
    const manifestId = input.deploymentManifest;
    if (existing?.iotEdge === true && input.iotEdge === false) {
      throw conflict(`device "${id}" is an IoT Edge device and cannot stop being one`);
    }
    if (manifestId !== undefined) {
      this.manifest(manifestId); // 404 before anything changes
      if (input.iotEdge === false) throw badRequest('only an IoT Edge device takes a deployment manifest');
      input.iotEdge = true; // a manifest implies an IoT Edge device
    }
    const device = existing === undefined ? this.createDevice(id, input) : this.updateDevice(existing, input);
    // Re-assigning the same manifest is skipped, so a client may PUT back the object it read;
    // POST .../deploymentManifest re-applies.
    if (manifestId !== undefined && device.deploymentManifestId !== manifestId)
      this.service.assignManifest(id, manifestId);
    return ok(deviceView(device, this.service));
  }

  private createDevice(id: string, input: DeviceInput): DeviceIdentity {
    const iotEdge = input.iotEdge ?? false;
    const keys = this.opts.deviceKeys?.(id, iotEdge);
    return this.service.registry.create({
      id,
      iotEdge,
      ...(input.displayName === undefined ? {} : { displayName: input.displayName }),
      ...(input.enabled === undefined ? {} : { enabled: input.enabled }),
      ...(input.simulated === undefined ? {} : { simulated: input.simulated }),
      ...(input.template === undefined ? {} : { modelId: input.template }),
      ...(keys === undefined ? {} : { authentication: { type: 'sas' as const, keys } }),
    });
  }

  private updateDevice(device: DeviceIdentity, input: DeviceInput): DeviceIdentity {
    if (input.displayName !== undefined) device.displayName = input.displayName;
    if (input.enabled !== undefined) this.service.setEnabled(device, input.enabled);
    if (input.simulated !== undefined) device.simulated = input.simulated;
    if (input.template !== undefined) device.modelId = input.template;
    if (input.iotEdge === true && !device.iotEdge) {
      this.service.registry.makeIotEdge(device);
      // Edge devices derive their keys from the other enrollment group.
      const keys = this.opts.deviceKeys?.(device.id, true);
      if (keys !== undefined && device.authentication.type === 'sas') device.authentication = { type: 'sas', keys };
    }
    device.etag = randomBytes(6).toString('base64url');
    this.service.registry.changed(device);
    return device;
  }

  private deleteDevice(ctx: Ctx): Reply {
    this.service.deleteDevice(this.service.device(param(ctx, 'deviceId')).id);
    return noContent();
  }

  private listModules(ctx: Ctx): Reply {
    const device = this.service.device(param(ctx, 'deviceId'));
    const value = sorted(device.modules.keys())
      .filter((m) => m !== '$edgeAgent' && m !== '$edgeHub')
      .map((name) => ({ '@type': ['Relationship', 'EdgeModule'], name, displayName: name }));
    return ok({ value });
  }

  /** Components are not modelled; they are the `__t: "c"` objects found in the reported or desired properties. */
  private listComponents(ctx: Ctx): Reply {
    const twin = this.twinOf(scopeOf(ctx));
    const names = new Set<string>();
    for (const section of [twin.reported.value, twin.desired.value]) {
      for (const [name, value] of Object.entries(section)) if (isComponent(value)) names.add(name);
    }
    return ok({ value: sorted(names).map((name) => ({ '@type': 'Component', name, displayName: name })) });
  }

  private twinOf(scope: Scope): Twin {
    const device = this.service.device(scope.deviceId);
    if (scope.moduleId === undefined) return device.twin;
    const module = device.modules.get(scope.moduleId);
    if (module === undefined) throw notFound(`module "${scope.moduleId}" of device "${scope.deviceId}" does not exist`);
    return module.twin;
  }

  // ---- properties ----

  /** PATCH merges, PUT replaces (at the root, component objects are kept: they have their own path). */
  private async writeProperties(ctx: Ctx, replace: boolean): Promise<Reply> {
    const scope = scopeOf(ctx);
    if (scope.component !== undefined && !COMPONENT_PATTERN.test(scope.component)) {
      throw badRequest(`"${scope.component}" is not a component name`);
    }
    const values = writableValues(requireObject(await ctx.body()));
    const twin = this.twinOf(scope);
    const patch: JsonObject = {};
    if (replace) {
      for (const [key, value] of Object.entries(sectionView(twin.desired, scope.component).values)) {
        if (!(key in values) && (scope.component !== undefined || !isComponent(value))) patch[key] = null;
      }
    }
    Object.assign(patch, values);
    const desired = scope.component === undefined ? patch : { [scope.component]: { __t: 'c', ...patch } };
    const version = this.service.writeDesired(scope.deviceId, scope.moduleId, desired);
    const metadata = Object.fromEntries(
      Object.entries(values).map(([k, v]) => [k, { desiredValue: v, desiredVersion: version }]),
    );
    return ok({ ...values, $metadata: metadata }, 202);
  }

  // ---- commands ----

  private async runCommand(ctx: Ctx): Promise<Reply> {
    const scope = scopeOf(ctx);
    const command = param(ctx, 'command');
    const body = requireObject((await ctx.body()) ?? {});
    const connectionTimeout = seconds(body, 'connectionTimeout', 0, 0, 300);
    const responseTimeout = seconds(body, 'responseTimeout', 30, 5, 300);
    const request = body.request ?? null;
    this.twinOf(scope); // 404 for an unknown device or module before waiting for it
    await this.waitForConnection(scope, connectionTimeout);
    const name = scope.component === undefined ? command : `${scope.component}*${command}`;
    const result = await withDeadline(
      this.service.invokeMethod(scope.deviceId, scope.moduleId, name, request, responseTimeout),
      responseTimeout * 1000 + COMMAND_GRACE_MS,
    );
    const record: CommandRecord = {
      id: randomUUID(),
      connectionTimeout,
      responseTimeout,
      request,
      response: result.payload,
      responseCode: result.status,
    };
    this.service.rememberCommand(scope.deviceId, commandKey(scope, command), record);
    return ok(record, 201);
  }

  /** IoT Hub's connectTimeoutInSeconds: wait that long for an offline device before failing. */
  private async waitForConnection(scope: Scope, timeoutSeconds: number): Promise<void> {
    const deadline = Date.now() + timeoutSeconds * 1000;
    while (!this.service.isConnected(scope.deviceId, scope.moduleId) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, CONNECT_POLL_MS));
    }
  }

  private commandHistory(ctx: Ctx): Reply {
    const scope = scopeOf(ctx);
    this.twinOf(scope);
    return ok({ value: this.service.commandHistory.get(commandKey(scope, param(ctx, 'command'))) ?? [] });
  }

  // ---- messages and telemetry ----

  private async sendMessage(ctx: Ctx): Promise<Reply> {
    const id = param(ctx, 'deviceId');
    const body = requireObject(await ctx.body());
    if (!('data' in body)) throw badRequest('"data" is required');
    const data = body.data;
    const payload = Buffer.from(typeof data === 'string' ? data : JSON.stringify(data), 'utf8');
    const properties = requireObject(body.properties ?? {}, '"properties"');
    for (const [k, v] of Object.entries(properties))
      if (typeof v !== 'string') throw badRequest(`property "${k}" must be a string`);
    const delivery = this.service.sendC2D(id, payload, properties as Record<string, string>);
    return ok({ delivery }, 202);
  }

  private async startOutage(ctx: Ctx): Promise<Reply> {
    const body = requireObject(await ctx.body());
    const { deviceIds, idPrefix, durationMs } = body;
    if (typeof durationMs !== 'number' || !Number.isFinite(durationMs) || durationMs <= 0 || durationMs > 86_400_000) {
      throw badRequest('"durationMs" must be a number of milliseconds, more than 0 and at most a day');
    }
    if (
      deviceIds !== undefined &&
      (!Array.isArray(deviceIds) || !deviceIds.every((d) => typeof d === 'string' && d !== ''))
    ) {
      throw badRequest('"deviceIds" must be an array of device ids');
    }
    if (idPrefix !== undefined && (typeof idPrefix !== 'string' || idPrefix === ''))
      throw badRequest('"idPrefix" must be a non-empty string');
    if (deviceIds === undefined && idPrefix === undefined)
      throw badRequest('name the devices: "deviceIds" or "idPrefix"');
    if (this.opts.outage === undefined) throw notFound('outages are not available here');
    const spec: OutageSpec = {
      durationMs,
      ...(deviceIds === undefined ? {} : { deviceIds: deviceIds as string[] }),
      ...(idPrefix === undefined ? {} : { idPrefix }),
    };
    return ok({ closed: this.opts.outage(spec), durationMs }, 202);
  }

  private lastTelemetry(ctx: Ctx): Reply {
    const scope = scopeOf(ctx);
    this.twinOf(scope);
    const name = param(ctx, 'telemetry');
    const last = this.service
      .device(scope.deviceId)
      .lastTelemetry.get(`${scope.moduleId ?? ''}|${scope.component ?? ''}|${name}`);
    if (last === undefined) throw notFound(`no "${name}" telemetry received`);
    return ok({ timestamp: last.timestamp, value: last.value });
  }

  // ---- deployment manifests ----

  private manifest(id: string) {
    const manifest = this.service.manifests.get(id);
    if (manifest === undefined) throw notFound(`deployment manifest "${id}" does not exist`);
    return manifest;
  }

  private listManifests(ctx: Ctx): Reply {
    const { keys, nextLink } = page(sorted(this.service.manifests.keys()), ctx);
    return ok({ value: keys.map((id) => this.manifest(id)), ...(nextLink === undefined ? {} : { nextLink }) });
  }

  private async saveManifest(ctx: Ctx): Promise<Reply> {
    const id = requireId(param(ctx, 'manifestId'), 'deployment manifest id');
    const body = requireObject(await ctx.body());
    const bodyId = optional<string>(body, 'id', 'string');
    if (bodyId !== undefined && bodyId !== id) throw badRequest(`body id "${bodyId}" does not match the path`);
    const displayName = optional<string>(body, 'displayName', 'string') ?? id;
    return ok(this.service.saveManifest(id, displayName, body.data));
  }

  private deleteManifest(ctx: Ctx): Reply {
    const id = this.manifest(param(ctx, 'manifestId')).id;
    const users = [...this.service.registry.devices.values()]
      .filter((d) => d.deploymentManifestId === id)
      .map((d) => d.id);
    if (users.length > 0) {
      throw conflict(
        `deployment manifest "${id}" is assigned to ${users.slice(0, 5).join(', ')}${users.length > 5 ? ', …' : ''}`,
      );
    }
    this.service.deleteManifest(id);
    return noContent();
  }

  private async assignManifest(ctx: Ctx): Promise<Reply> {
    const id = param(ctx, 'deviceId');
    const body = requireObject(await ctx.body());
    const manifestId = optional<string>(body, 'id', 'string');
    if (manifestId === undefined) throw badRequest('"id" (the deployment manifest) is required');
    this.service.assignManifest(id, manifestId);
    return ok(deviceView(this.service.device(id), this.service));
  }

  // ---- relationships (gateway → downstream) ----

  private relationshipsOf(source: string): Relationship[] {
    this.service.device(source);
    const children = new Map(this.service.registry.downstreamOf(source).map((d) => [d.id, d.gateway?.iotcModuleId]));
    // The module a child was provisioned through (identity translation) is shown too: the emulator's addition.
    return sorted(children.keys()).map((target) => {
      const moduleId = children.get(target);
      const id = this.service.relationshipId(source, target);
      const relationship: Relationship = { id, name: 'gateway', source, target };
      return moduleId === undefined ? relationship : { ...relationship, iotcModuleId: moduleId };
    });
  }

  private findRelationship(ctx: Ctx): Relationship {
    const relId = param(ctx, 'relationshipId');
    const found = this.relationshipsOf(param(ctx, 'deviceId')).find((r) => r.id === relId);
    if (found === undefined) throw notFound(`relationship "${relId}" does not exist`);
    return found;
  }

  /** Attaches `target` as a downstream device of the path's device (a child has one parent: docs/protocol.md §5.3). */
  private async putRelationship(ctx: Ctx): Promise<Reply> {
    const source = this.service.device(param(ctx, 'deviceId')).id;
    const relId = requireId(param(ctx, 'relationshipId'), 'relationship id');
    const body = requireObject(await ctx.body());
    const targetId = optional<string>(body, 'target', 'string');
    if (targetId === undefined) throw badRequest('"target" (the downstream device id) is required');
    if (targetId === source) throw badRequest('a device cannot be its own gateway');
    const target = this.service.device(targetId);
    const parent = target.gateway?.iotcGatewayId;
    if (parent !== undefined && parent !== source)
      throw conflict(`device "${targetId}" is already attached to gateway "${parent}"`);
    const clash = this.relationshipsOf(source).find((r) => r.id === relId && r.target !== targetId);
    if (clash !== undefined) throw conflict(`relationship "${relId}" already links "${source}" to "${clash.target}"`);
    this.service.attach(source, target, relId);
    return ok({ id: relId, name: 'gateway', source, target: targetId });
  }

  private deleteRelationship(ctx: Ctx): Reply {
    const found = this.findRelationship(ctx);
    this.service.detach(found.source, this.service.device(found.target));
    return noContent();
  }
}

function scopeOf(ctx: Ctx): Scope {
  const { moduleId, component } = ctx.params;
  return {
    deviceId: param(ctx, 'deviceId'),
    ...(moduleId === undefined ? {} : { moduleId }),
    ...(component === undefined ? {} : { component }),
  };
}

const commandKey = (s: Scope, command: string) => `${s.deviceId}|${s.moduleId ?? ''}|${s.component ?? ''}|${command}`;

function parseDeviceInput(raw: unknown, id: string): DeviceInput {
  const body = requireObject(raw);
  const bodyId = optional<string>(body, 'id', 'string');
  if (bodyId !== undefined && bodyId !== id) throw badRequest(`body id "${bodyId}" does not match the path`);
  const input: DeviceInput = {};
  const set = <K extends keyof DeviceInput>(key: K, value: DeviceInput[K] | undefined) => {
    if (value !== undefined) input[key] = value;
  };
  set('displayName', optional<string>(body, 'displayName', 'string'));
  set('template', optional<string>(body, 'template', 'string'));
  set('simulated', optional<boolean>(body, 'simulated', 'boolean'));
  set('enabled', optional<boolean>(body, 'enabled', 'boolean'));
  set('iotEdge', optional<boolean>(body, 'iotEdge', 'boolean'));
  set('deploymentManifest', manifestRef(body.deploymentManifest));
  return input;
}

/** A manifest reference: its id, or an object with an `id` (the device object as read back). */
function manifestRef(v: Json | undefined): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (isJsonObject(v) && typeof v.id === 'string') return v.id;
  throw badRequest('"deploymentManifest" must be a manifest id or an object with an "id"');
}

function withDeadline(promise: Promise<MethodResult>, ms: number): Promise<MethodResult> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ServiceError(504, 'GatewayTimeout', 'the device did not answer in time')), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function send(res: http.ServerResponse, reply: Reply, text: string | undefined, requestId: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const headers: Record<string, string | number> = { 'x-ms-request-id': requestId, ...reply.headers };
  if (text !== undefined) {
    headers['content-type'] = 'application/json; charset=utf-8';
    headers['content-length'] = Buffer.byteLength(text);
  }
  res.writeHead(reply.status, headers);
  res.end(text);
}

export function createRestHandler(opts: RestOptions): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const api = new RestApi(opts);
  // Last resort: handle() answers every failure itself; anything still escaping drops that one request.
  return (req, res) => {
    const lost = (err: unknown) => {
      opts.count?.('internalError');
      opts.log?.(`rest: ${req.method} lost: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      res.destroy();
    };
    try {
      api.handle(req, res).catch(lost);
    } catch (err) {
      lost(err);
    }
  };
}
