// Identities of an IoT Edge device's modules, as the IoT Edge identity service handles them: keys from the hub's
// HTTPS registry (with the device's own SAS token), and one upstream connection per identity that reconnects
// with the SDKs' backoff, re-reads its twin after each connect and reports state as a diff of the twin.
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { isIP } from 'node:net';
import { splitHostPort, type AzureTarget } from '../../endpoints/target.js';
import { createSasToken, parseMethodPayload, sasResource } from '../../protocol/index.js';
import { ClassifiedError, classify, classifyStatus } from '../../transport/errors.js';
import {
  failureOf,
  isRefusal,
  PHASE_OPERATION,
  RetryState,
  type AssignedBy,
  type RetryDecision,
  type RetryPhase,
} from '../../transport/retry-policy.js';
import { secureContextFor } from '../../transport/tls-context.js';
import type { ScheduledHandle } from '../../core/scheduler.js';
import type { SimContext } from '../context.js';
import { HubClient, type Twin } from '../hub-client.js';

/** The identity service's registry API version (aziot-identityd uses a dated one too; the emulator takes any). */
export const IDENTITY_API_VERSION = '2021-04-12';
const TOKEN_TTL_SECONDS = 3600;
/** The SDKs renew a SAS token by reconnecting some time before it expires. */
const TOKEN_RENEWAL_MARGIN_SECONDS = 900;

export type JsonObject = Record<string, unknown>;
export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Where and how one IoT Edge device reaches its hub. */
export interface HubEndpoint {
  /** The assigned hub as devices name it (`host[:port]`): the username's and the tokens' resource. */
  hubHost: string;
  /** The MQTT listener. */
  mqtt: { host: string; port: number };
  /** The HTTPS registry. */
  https: { host: string; port: number };
  caPem?: string;
  localAddress?: string;
  /** A target outage held on the client side: no connection opens before this time (scheduler ms). */
  outageUntil?: number;
}

/** Throws, as a failed dial would, while a client-side target outage lasts. */
export function checkOutage(ctx: SimContext, endpoint: HubEndpoint): void {
  if (endpoint.outageUntil !== undefined && endpoint.outageUntil > ctx.scheduler.now()) {
    throw new ClassifiedError('network', `${endpoint.hubHost} is unreachable (target outage)`);
  }
}

export function hubEndpoint(target: AzureTarget, hubHost: string, localAddress: string | undefined): HubEndpoint {
  const mqtt = splitHostPort(hubHost);
  return {
    hubHost,
    mqtt,
    https: { host: mqtt.host, port: target.hubHttpsPort },
    ...(target.caPem === undefined ? {} : { caPem: target.caPem }),
    ...(localAddress === undefined ? {} : { localAddress }),
  };
}

export interface ModuleIdentityInfo {
  moduleId: string;
  primaryKey: string;
  managedBy?: string;
}

/** How the identity service proves it speaks for its device: the device's SAS key, or its certificate (mutual TLS). */
export type DeviceCredential = { kind: 'sas'; key: string } | { kind: 'x509'; certPem: string; keyPem: string };

/**
 * The registry calls of the identity service: GET an identity (edgeAgent, edgeHub: the hub creates them with the
 * device), PUT one (custom modules, `managedBy: iotEdge`), DELETE one the deployment no longer lists.
 */
export class IdentityService {
  constructor(
    private readonly endpoint: HubEndpoint,
    private readonly deviceId: string,
    private readonly credential: DeviceCredential,
    private readonly timeoutMs: number,
  ) {}

  get(moduleId: string): Promise<ModuleIdentityInfo> {
    return this.call('GET', moduleId).then((r) => this.info(moduleId, r));
  }

  create(moduleId: string): Promise<ModuleIdentityInfo> {
    return this.call('PUT', moduleId, { moduleId, deviceId: this.deviceId, managedBy: 'iotEdge' }).then((r) =>
      this.info(moduleId, r),
    );
  }

  async delete(moduleId: string): Promise<void> {
    await this.call('DELETE', moduleId);
  }

  private info(moduleId: string, body: unknown): ModuleIdentityInfo {
    const b = isObject(body) ? body : {};
    const auth = isObject(b.authentication) ? b.authentication : {};
    const keys = isObject(auth.symmetricKey) ? auth.symmetricKey : {};
    if (typeof keys.primaryKey !== 'string') {
      throw new ClassifiedError(
        'protocol',
        `module identity ${this.deviceId}/${moduleId} came without a symmetric key`,
      );
    }
    return {
      moduleId,
      primaryKey: keys.primaryKey,
      ...(typeof b.managedBy === 'string' ? { managedBy: b.managedBy } : {}),
    };
  }

  private call(method: 'GET' | 'PUT' | 'DELETE', moduleId: string, body?: unknown): Promise<unknown> {
    const { https: dial, caPem, localAddress } = this.endpoint;
    const path = `/devices/${encodeURIComponent(this.deviceId)}/modules/${encodeURIComponent(moduleId)}?api-version=${IDENTITY_API_VERSION}`;
    const text = body === undefined ? undefined : JSON.stringify(body);
    const what = `module identity ${this.deviceId}/${moduleId} (${method})`;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: dial.host,
          port: dial.port,
          path,
          method,
          // SNI takes a host name, never an address.
          ...(isIP(dial.host) === 0 ? { servername: dial.host } : {}),
          ...this.tls(caPem),
          ...(localAddress === undefined ? {} : { localAddress }),
          headers: {
            ...this.authorization(),
            accept: 'application/json',
            ...(text === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }),
          },
          timeout: this.timeoutMs,
        },
        (res) => jsonAnswer(res, what).then(resolve, reject),
      );
      req.on('timeout', () =>
        req.destroy(new ClassifiedError('timeout', `${what}: no answer within ${this.timeoutMs} ms`)),
      );
      req.on('error', (err) => reject(classify(err)));
      req.end(text);
    });
  }

  /**
   * The TLS options of a call: the shared context does the work; `ca` (and a certificate's `cert`) keep pooled
   * sockets apart in the agent, so that one device's certificate is never presented for another.
   */
  private tls(caPem: string | undefined): Record<string, unknown> {
    const ca = caPem === undefined ? {} : { ca: caPem };
    if (this.credential.kind === 'sas')
      return caPem === undefined ? {} : { ...ca, secureContext: secureContextFor(ca) };
    const { certPem, keyPem } = this.credential;
    return {
      ...ca,
      cert: certPem,
      key: keyPem,
      secureContext: secureContextFor({ ...ca, cert: certPem, key: keyPem }),
    };
  }

  /** A fresh SAS token per call (these calls are rare: start, deployment changes); none with a certificate. */
  private authorization(): { authorization?: string } {
    if (this.credential.kind === 'x509') return {};
    const token = createSasToken({
      resourceUri: sasResource.device(this.endpoint.hubHost, this.deviceId),
      key: this.credential.key,
      expiry: Math.floor(Date.now() / 1000) + TOKEN_TTL_SECONDS,
    });
    return { authorization: token };
  }
}

/** A registry answer: its JSON (undefined when empty), or a classified error for a status outside 2xx. */
function jsonAnswer(res: IncomingMessage, what: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (d: Buffer) => chunks.push(d));
    res.on('error', (err) => reject(classify(err)));
    res.on('end', () => {
      const status = res.statusCode ?? 0;
      const answer = Buffer.concat(chunks).toString('utf8');
      if (status < 200 || status >= 300) {
        const retryAfter = Number(res.headers['retry-after']);
        const wait = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined;
        return reject(classifyStatus(status, `${what}: ${answer.slice(0, 160)}`, wait));
      }
      try {
        resolve(answer.length === 0 ? undefined : JSON.parse(answer));
      } catch {
        reject(new ClassifiedError('protocol', `${what}: the answer is not JSON`));
      }
    });
  });
}

// ---- JSON merge patches (RFC 7396), as twins use them --------------------------------------------------------

/** Applies a merge patch in place (`$`-keys of the patch, such as `$version`, are skipped). */
export function applyMergePatch(target: JsonObject, patch: JsonObject): void {
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) continue;
    if (value === null) delete target[key];
    else if (isObject(value)) {
      const inner = isObject(target[key]) ? target[key] : (target[key] = {});
      applyMergePatch(inner, value);
    } else target[key] = value;
  }
}

/** The merge patch that turns `from` into `to` (`$`-keys ignored), or undefined when they are equal. */
export function mergeDiff(from: JsonObject, to: JsonObject): JsonObject | undefined {
  const patch: JsonObject = {};
  for (const key of Object.keys(from)) if (!key.startsWith('$') && !(key in to)) patch[key] = null;
  for (const [key, value] of Object.entries(to)) {
    if (key.startsWith('$') || value === undefined) continue;
    const before = from[key];
    if (isObject(value) && isObject(before)) {
      const inner = mergeDiff(before, value);
      if (inner !== undefined) patch[key] = inner;
    } else if (!sameJson(before, value)) {
      patch[key] = value;
    }
  }
  return Object.keys(patch).length === 0 ? undefined : patch;
}

function sameJson(a: unknown, b: unknown): boolean {
  return a === b || (typeof a === 'object' && typeof b === 'object' && JSON.stringify(a) === JSON.stringify(b));
}

const stripDollar = (o: JsonObject): JsonObject => {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(o)) if (!k.startsWith('$')) out[k] = v;
  return out;
};

const clone = <T>(v: T): T => structuredClone(v);

// ---- one identity's upstream connection ---------------------------------------------------------------------

export type LinkState = 'idle' | 'connecting' | 'up' | 'backoff' | 'closed';

export interface MethodReply {
  status: number;
  response?: unknown;
  /** Answer after this long (a slow module). */
  delayMs?: number;
}

export interface LinkOwner {
  /** Connected and the twin read: `desired` is the whole section (patches sent while away are not replayed). */
  onUp?(desired: JsonObject, version: number, link: IdentityLink): void;
  /** A desired patch, and the whole section with it applied. */
  onDesired?(patch: JsonObject, version: number, desired: JsonObject): void;
  /** undefined: no handler (answered 501, as the SDKs do). */
  onMethod?(name: string, request: unknown): MethodReply | undefined;
  /**
   * The connection is gone (lost, dropped or closed for renewal); what was in flight on it will not be
   * acknowledged.
   */
  onDown?(reason: string): void;
  /** Any state change, for the device's own state. */
  onState?(state: LinkState): void;
}

/** What an IoT Edge device's runtime identities ask of their device when the retry policy says so. */
export interface DeviceRecovery {
  /** How the device got its hub: a refused key fetch (the device's own token) is the device's refusal. */
  readonly assignedBy: AssignedBy;
  /** Register the device again through DPS (the hub no longer knows it); one registration at a time. */
  reprovision(): void;
  /** The device is registering again: refusals of its identities meanwhile are that registration's business. */
  registering(): boolean;
  /** The retry policy gave up on a runtime identity: the device is failed, with the reason. */
  gaveUp(err: ClassifiedError, reason: string): void;
}

/**
 * A failure of a runtime identity (`who`) through the retry policy: counted in the errors, the device asked to
 * register again when it says so. Undefined: the policy gave up (the device was told, and fails).
 */
export function runtimeDecision(
  ctx: SimContext,
  state: RetryState,
  device: DeviceRecovery,
  e: ClassifiedError,
  phase: RetryPhase,
  who: string,
  random: () => number,
): (RetryDecision & { delayMs: number }) | undefined {
  // Fetching a key is the device's own call (its token); connecting is the module identity's.
  const assignedBy = phase === 'moduleKey' ? device.assignedBy : 'module';
  const failure = failureOf(e);
  const decision =
    phase === 'moduleKey' && device.registering() && isRefusal(failure)
      ? state.meanwhile(random)
      : state.next({ ...failure, phase, assignedBy, hadAssignment: true }, random);
  if (decision.action === 'giveUp') {
    device.gaveUp(e, `${who}: ${decision.reason}`);
    return undefined;
  }
  ctx.metrics.recordError(e.errorClass, `${who}: ${e.message}`, PHASE_OPERATION[phase]);
  if (decision.action === 'reprovision') device.reprovision();
  return decision;
}

export interface LinkOptions {
  deviceId: string;
  moduleId: string;
  endpoint: HubEndpoint;
  /** The identity's key; `refresh` after the hub refused the last one (the identity may have been recreated). */
  key: (refresh: boolean) => Promise<string>;
  random: () => number;
  /** Whether reconnecting is still wanted (false once the device quiesces). */
  mayReconnect: () => boolean;
  device: DeviceRecovery;
}

/**
 * The upstream connection of one identity (`{device}/$edgeAgent`, `{device}/$edgeHub`, `{device}/{module}`):
 * connects, GETs the twin, keeps the desired section current from patches (re-reading it when a version is
 * skipped), answers methods through its owner, reports state as a diff against the reported section, and
 * reconnects with the SDKs' backoff when the connection goes.
 */
export class IdentityLink {
  state: LinkState = 'idle';
  private client: HubClient | undefined;
  private generation = 0;
  private readonly recovery = new RetryState();
  /** Connected at least once: a failure to connect is then a reconnect's. */
  private wasUp = false;
  private retryTimer: ScheduledHandle | undefined;
  private renewTimer: ScheduledHandle | undefined;
  private refreshKey = false;
  private desired: JsonObject = {};
  private desiredVersion = 0;
  /** What the twin's reported section holds, as far as this link knows (undefined before the first GET). */
  private reported: JsonObject | undefined;
  /** What the owner wants reported (the whole state it manages), if it reports by state. */
  private wanted: JsonObject | undefined;
  private flushing = false;
  private flushQueued = false;
  private attempted = false;
  private upWaiters: (() => void)[] = [];

  constructor(
    private readonly ctx: SimContext,
    private readonly opts: LinkOptions,
    private readonly owner: LinkOwner,
  ) {}

  get identity(): string {
    return `${this.opts.deviceId}/${this.opts.moduleId}`;
  }

  get up(): boolean {
    return this.state === 'up' && this.client !== undefined && this.client.connected;
  }

  /** The live connection, for telemetry. */
  get hub(): HubClient | undefined {
    return this.up ? this.client : undefined;
  }

  /** Resolves once the first connection attempt has either succeeded or failed. */
  firstAttempt(): Promise<void> {
    if (this.attempted || this.state === 'closed') return Promise.resolve();
    return new Promise((resolve) => this.upWaiters.push(resolve));
  }

  start(intendedAt = this.ctx.scheduler.now()): void {
    if (this.state !== 'idle') return;
    void this.connect(intendedAt);
  }

  private setState(next: LinkState): void {
    if (this.state === next) return;
    this.state = next;
    this.owner.onState?.(next);
  }

  private settleFirstAttempt(): void {
    this.attempted = true;
    const waiters = this.upWaiters;
    this.upWaiters = [];
    for (const w of waiters) w();
  }

  private async connect(intended: number): Promise<void> {
    if (this.state === 'closed') return;
    this.setState('connecting');
    const generation = ++this.generation;
    const started = this.ctx.scheduler.now();
    const phase: RetryPhase = this.wasUp ? 'reconnect' : 'connect';
    const key = await this.keyFor(generation, phase);
    if (key === undefined || generation !== this.generation) return;
    let client: HubClient;
    try {
      client = await this.open(generation, key);
    } catch (err) {
      if (generation !== this.generation) return;
      return this.failed(classify(err), phase);
    }
    if (generation !== this.generation) return void client.close(true);
    this.client = client;
    this.ctx.metrics.recordLatency('connect', intended, started, this.ctx.scheduler.now());
    this.scheduleRenewal(client, generation);
    if (!(await this.readTwin(client, generation))) return;
    this.recovery.connected();
    this.wasUp = true;
    this.setState('up');
    this.settleFirstAttempt();
    this.owner.onUp?.(this.desired, this.desiredVersion, this);
    this.flush();
  }

  /** The key to connect with; undefined when there is none now (the failure went through the retry policy). */
  private async keyFor(generation: number, phase: RetryPhase): Promise<string | undefined> {
    try {
      checkOutage(this.ctx, this.opts.endpoint);
    } catch (err) {
      this.failed(classify(err), phase);
      return undefined;
    }
    try {
      const key = await this.opts.key(this.refreshKey);
      this.refreshKey = false;
      return key;
    } catch (err) {
      if (generation === this.generation) this.failed(classify(err), 'moduleKey');
      return undefined;
    }
  }

  private open(generation: number, key: string): Promise<HubClient> {
    const { endpoint, deviceId, moduleId } = this.opts;
    return HubClient.connect(
      this.ctx,
      {
        identity: { deviceId, moduleId },
        hubHost: endpoint.hubHost,
        dial: endpoint.mqtt,
        credential: { kind: 'sas', key },
        ...(endpoint.caPem === undefined ? {} : { caPem: endpoint.caPem }),
        ...(endpoint.localAddress === undefined ? {} : { localAddress: endpoint.localAddress }),
        tokenTtlSeconds: TOKEN_TTL_SECONDS,
      },
      {
        onDesired: (patch, version) => this.desiredPatch(generation, patch, version),
        onMethod: (name, rid, payload) => this.method(generation, name, rid, payload),
        onLost: (err) => this.lost(generation, err),
      },
    );
  }

  /** Reads the twin after a connect; false when that failed (the connection is closed and tried again). */
  private async readTwin(client: HubClient, generation: number): Promise<boolean> {
    try {
      const twinStarted = this.ctx.scheduler.now();
      const twin = await client.getTwin();
      this.ctx.metrics.recordLatency('twinGet', twinStarted, twinStarted, this.ctx.scheduler.now());
      if (generation !== this.generation) return false;
      this.twinRead(twin);
      return true;
    } catch (err) {
      if (generation !== this.generation) return false;
      // Without its twin the identity cannot work: start over on a new connection.
      const e = classify(err);
      this.generation++;
      this.client = undefined;
      this.renewTimer?.cancel();
      this.owner.onDown?.(e.message);
      await client.close(true);
      this.failed(e, 'twin');
      return false;
    }
  }

  private twinRead(twin: Twin): void {
    this.desired = stripDollar(twin.desired);
    this.desiredVersion = twin.desired.$version;
    this.reported = stripDollar(twin.reported);
  }

  /** A failure, as the retry policy says: retried later (with a fresh key when it says so), or given up. */
  private failed(e: ClassifiedError, phase: RetryPhase): void {
    this.settleFirstAttempt();
    if (this.state === 'closed' || !this.opts.mayReconnect()) {
      if (this.state !== 'closed') this.setState('idle');
      return;
    }
    const { device, random } = this.opts;
    const decision = runtimeDecision(this.ctx, this.recovery, device, e, phase, this.identity, random);
    if (decision === undefined || (this.state as LinkState) === 'closed') return;
    // A refused key fetch means the device registers again: its next key is fetched anew too.
    if (decision.action === 'refreshKey' || decision.action === 'reprovision') this.refreshKey = true;
    this.setState('backoff');
    this.retryTimer?.cancel();
    this.retryTimer = this.ctx.scheduler.after(decision.delayMs, (at) => void this.connect(at));
  }

  private scheduleRenewal(client: HubClient, generation: number): void {
    this.renewTimer?.cancel();
    if (client.tokenExpiry === undefined) return;
    this.renewTimer = this.ctx.scheduler.at(
      (client.tokenExpiry - TOKEN_RENEWAL_MARGIN_SECONDS) * 1000,
      async (intended) => {
        if (generation !== this.generation || this.state !== 'up') return;
        // Renewal is a clean reconnect: a graceful close lets in-flight PUBACKs arrive first.
        this.generation++;
        this.client = undefined;
        await this.closeClient(client, true);
        this.owner.onDown?.('token renewal');
        void this.connect(intended);
      },
    );
  }

  private lost(generation: number, err: ClassifiedError): void {
    if (generation !== this.generation || this.state === 'closed') return;
    this.generation++;
    this.client = undefined;
    this.renewTimer?.cancel();
    this.owner.onDown?.(err.message);
    this.failed(err, 'reconnect');
  }

  /** Abrupt loss (power or network): the socket goes without DISCONNECT; reconnects with backoff. */
  drop(): void {
    const client = this.client;
    if (client === undefined || this.state !== 'up') return;
    const generation = this.generation;
    // Closing it ourselves raises no onLost: report the loss as the device would notice it.
    void client
      .close(true)
      .then(() => this.lost(generation, new ClassifiedError('network', 'connection dropped by the profile')));
  }

  /** Closes for good; `graceful` lets in-flight PUBACKs arrive first. */
  async close(graceful = false): Promise<void> {
    if (this.state === 'closed') return;
    this.setState('closed');
    this.generation++;
    this.retryTimer?.cancel();
    this.renewTimer?.cancel();
    this.settleFirstAttempt();
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) await this.closeClient(client, graceful);
  }

  /** A graceful close waits for in-flight PUBACKs, but not longer than an operation may take. */
  private async closeClient(client: HubClient, graceful: boolean): Promise<void> {
    if (!graceful) return client.close(true);
    let timer: ScheduledHandle | undefined;
    const late = new Promise<'late'>(
      (resolve) => (timer = this.ctx.scheduler.after(this.ctx.mqtt.operationTimeoutMs, () => resolve('late'))),
    );
    const outcome = await Promise.race([client.close(false).then(() => 'closed' as const), late]);
    timer?.cancel();
    if (outcome === 'late') await client.close(true);
  }

  // ---- twin --------------------------------------------------------------------------------------------------

  private desiredPatch(generation: number, patch: JsonObject, version: number): void {
    if (generation !== this.generation || this.state !== 'up') return;
    if (version <= this.desiredVersion) return; // already in what we read
    if (version !== this.desiredVersion + 1) {
      // A version was skipped: the patch alone would leave the section wrong; read it whole, as edgeAgent does.
      void this.reread(generation);
      return;
    }
    applyMergePatch(this.desired, patch);
    this.desiredVersion = version;
    this.owner.onDesired?.(stripDollar(patch), version, this.desired);
  }

  private async reread(generation: number): Promise<void> {
    const client = this.client;
    if (client === undefined) return;
    try {
      const started = this.ctx.scheduler.now();
      const twin = await client.getTwin();
      this.ctx.metrics.recordLatency('twinGet', started, started, this.ctx.scheduler.now());
      if (generation !== this.generation || twin.desired.$version <= this.desiredVersion) return;
      const before = this.desired;
      this.twinRead(twin);
      this.owner.onDesired?.(mergeDiff(before, this.desired) ?? {}, this.desiredVersion, this.desired);
      this.flush();
    } catch (err) {
      const e = classify(err);
      this.ctx.metrics.recordError(e.errorClass, `${this.identity}: ${e.message}`, 'twinGet');
    }
  }

  private method(generation: number, name: string, rid: string, payload: Buffer): void {
    const request = parseMethodPayload(payload) ?? null;
    let reply: MethodReply;
    try {
      // Without a handler, the SDKs answer 501.
      reply = this.owner.onMethod?.(name, request) ?? {
        status: 501,
        response: { message: `method ${name} is not implemented` },
      };
    } catch (err) {
      reply = { status: 500, response: { message: (err as Error).message } };
    }
    const respond = () => {
      if (generation === this.generation && this.client?.connected)
        this.client.respondMethod(rid, reply.status, reply.response ?? null);
    };
    if ((reply.delayMs ?? 0) > 0) this.ctx.scheduler.after(reply.delayMs!, respond);
    else respond();
  }

  /**
   * Reports `state` as the whole of what this identity reports: the patch sent is the difference with the twin's
   * reported section, so what went stale while disconnected (or in an earlier run) is removed too.
   */
  report(state: JsonObject): void {
    this.wanted = state;
    this.flush();
  }

  /** A reported patch as is (writable-property acknowledgements, a module's own properties); false when down. */
  patch(patch: JsonObject): Promise<boolean> {
    const client = this.hub;
    if (client === undefined) return Promise.resolve(false);
    const started = this.ctx.scheduler.now();
    return client.patchReported(patch).then(
      () => {
        this.ctx.metrics.recordLatency('reportedPatch', started, started, this.ctx.scheduler.now());
        if (this.reported !== undefined) applyMergePatch(this.reported, clone(patch));
        return true;
      },
      (err) => {
        const e = classify(err);
        this.ctx.metrics.recordError(e.errorClass, `${this.identity}: ${e.message}`, 'reportedPatch');
        return false;
      },
    );
  }

  /** What the twin's reported section holds as far as this link knows. */
  reportedSection(): Readonly<JsonObject> {
    return this.reported ?? {};
  }

  private flush(): void {
    // Coalesces reports made in the same turn; one PATCH at a time.
    if (this.flushQueued || this.flushing) {
      this.flushQueued = true;
      return;
    }
    this.flushQueued = true;
    queueMicrotask(() => void this.flushNow());
  }

  private async flushNow(): Promise<void> {
    this.flushQueued = false;
    const wanted = this.wanted;
    const reported = this.reported;
    const client = this.hub;
    if (wanted === undefined || reported === undefined || client === undefined) return;
    const diff = mergeDiff(reported, wanted);
    if (diff === undefined) return;
    this.flushing = true;
    const generation = this.generation;
    const started = this.ctx.scheduler.now();
    try {
      await client.patchReported(diff);
      this.ctx.metrics.recordLatency('reportedPatch', started, started, this.ctx.scheduler.now());
      if (generation === this.generation) applyMergePatch(reported, clone(diff));
    } catch (err) {
      // Not retried here: the next report, or the next connection, sends the difference again.
      const e = classify(err);
      this.ctx.metrics.recordError(e.errorClass, `${this.identity}: ${e.message}`, 'reportedPatch');
    } finally {
      this.flushing = false;
    }
    if (this.flushQueued) {
      this.flushQueued = false;
      this.flush();
    }
  }
}
