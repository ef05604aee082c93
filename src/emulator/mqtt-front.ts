// The MQTT/TLS front end of the emulator: DPS and IoT Hub on one listener, told apart by the CONNECT
// username (docs/protocol.md §1, §3). Every reply goes to the one client it is for, never through broker fan-out.
import { randomUUID } from 'node:crypto';
import { Aedes, type Client, type PublishPacket, type Subscription } from 'aedes';
import type { TLSSocket } from 'node:tls';
import {
  allowedFilters, clientIdOf, CREATION_TIME_PROPERTY, deriveDeviceKey, DpsBodyError, filter, modelIdOf,
  parseDpsUsername, parseHubUsername, parseRegisterRequest, parseSasToken, parseTopic, sasResource,
  SasTokenError, systemProperty, topic, verifySasToken, type DpsErrorBody, type ParsedTopic,
  type RegisterPayload, type RegistrationOperationStatus,
} from '../protocol/index.js';
import { commonNameOf } from '../protocol/x509.js';
import type { DeviceIdentity, Registry, SymmetricKeys } from './registry.js';
import { ServiceError, type DeviceChannel, type MethodResult } from './service.js';
import type { EmulatorStats, RejectionReason } from './stats.js';
import { isJsonObject, type Json, type JsonObject } from './twin.js';

export const MAX_D2C_BYTES = 256 * 1024;
export const MAX_DPS_BYTES = 96 * 1024;
const C2D_QUEUE_LIMIT = 50;
const DPS_OPERATION_TTL_MS = 5 * 60_000;

/** CONNACK return codes (MQTT 3.1.1). */
const CONNACK = { identifierRejected: 2, serverUnavailable: 3, notAuthorized: 5 } as const;

type Subscribed = 'c2d' | 'desired' | 'methods' | 'twin' | 'inputs';

interface PendingMethod {
  resolve: (r: MethodResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface HubSession {
  kind: 'hub';
  key: string;
  deviceId: string;
  moduleId?: string;
  client: Client;
  subscribed: Set<Subscribed>;
  /** Epoch seconds at which the SAS token used to connect expires; the connection is closed then. */
  tokenExpiry?: number;
  pendingMethods: Map<string, PendingMethod>;
}

type DpsGroup = 'devices' | 'edgeDevices' | 'x509' | 'individual';

interface DpsSession {
  kind: 'dps';
  registrationId: string;
  client: Client;
  /** How it authenticated; undefined means it did not, and every request gets 401. */
  group?: DpsGroup;
  /** Why it did not authenticate, for the 401 body. */
  authError?: string;
  keys?: SymmetricKeys;
}

type Session = HubSession | DpsSession;

interface DpsOperation {
  operationId: string;
  registrationId: string;
  group: DpsGroup;
  keys?: SymmetricKeys;
  payload?: RegisterPayload;
  createdAt: string;
  expiresAt: number;
  result?: RegistrationOperationStatus;
}

export interface MqttFrontOptions {
  registry: Registry;
  stats: EmulatorStats;
  hubHostName: string;
  idScope: string;
  enrollmentGroups: { devices: SymmetricKeys; edgeDevices: SymmetricKeys };
  /** `retry-after` in the DPS 202 answer; the device polls after that many seconds. */
  dpsRetryAfterSeconds: number;
  log: (line: string) => void;
}

const noop = () => {};

/** Which device ids an outage takes away (their modules with them), and until when (epoch ms). */
export interface OutageSpec {
  deviceIds?: readonly string[];
  idPrefix?: string;
  durationMs: number;
}

interface Outage {
  deviceIds: ReadonlySet<string>;
  idPrefix: string | undefined;
  until: number;
}

class AuthError extends Error {
  constructor(readonly returnCode: number, message: string) {
    super(message);
  }
}

export class MqttFront implements DeviceChannel {
  readonly broker: Aedes;
  /** The port clients dial; set once the listener is up (used for `host:port` forms). */
  port = 8883;
  private readonly sessions = new WeakMap<Client, Session>();
  private readonly hubSessions = new Map<string, HubSession>();
  private readonly operations = new Map<string, DpsOperation>();
  private readonly c2dQueues = new Map<string, { body: Buffer; properties: Record<string, string> }[]>();
  private readonly sweep: NodeJS.Timeout;
  private ridCounter = 0;
  private outages: Outage[] = [];

  private constructor(private readonly opts: MqttFrontOptions, broker: Aedes) {
    this.broker = broker;
    broker.authenticate = (client, username, password, done) => {
      try {
        this.authenticate(client, username, password);
        done(null, true);
      } catch (err) {
        const e = err instanceof AuthError ? err : new AuthError(CONNACK.notAuthorized, String(err));
        this.reject(e.returnCode === CONNACK.serverUnavailable ? 'outage' : 'auth', client, e.message);
        done(Object.assign(new Error(e.message), { returnCode: e.returnCode, counted: true }), false);
      }
    };
    broker.authorizeSubscribe = (client, sub, done) => done(null, this.authorizeSubscribe(client, sub));
    broker.authorizePublish = (client, packet, done) => {
      if (client === null) return done(new Error('no publishing without a client'));
      const refusal = this.onPublish(client, packet);
      done(refusal === undefined ? null : Object.assign(new Error(refusal), { counted: true }));
    };
    // Only what the emulator addresses to one client is delivered; clients never reach each other.
    broker.authorizeForward = (_client, packet) => (Object.hasOwn(packet, 'clientId') ? null : packet);
    broker.on('subscribe', (subs, client) => this.onSubscribed(client, subs));
    broker.on('clientReady', (client) => this.onReady(client));
    broker.on('clientDisconnect', (client) => this.onGone(client));
    broker.on('clientError', (client, err) => this.onClientError(client, err));
    broker.on('connectionError', (_client, err) => this.onClientError(undefined, err));
    broker.on('ack', (packet, client) => {
      const s = client === null ? undefined : this.sessions.get(client);
      if (s?.kind === 'hub' && packet && 'topic' in packet && packet.topic.startsWith(`devices/${s.deviceId}/messages/devicebound`)) {
        this.opts.stats.of(s.key).c2dCompleted += 1;
      }
    });
    this.sweep = setInterval(() => this.expire(), 1000);
    this.sweep.unref();
  }

  static async create(opts: MqttFrontOptions): Promise<MqttFront> {
    const broker = await Aedes.createBroker({ heartbeatInterval: 3_600_000, drainTimeout: 30_000, connectTimeout: 10_000, maxClientsIdLength: 256 });
    return new MqttFront(opts, broker);
  }

  async close(): Promise<void> {
    clearInterval(this.sweep);
    for (const s of this.hubSessions.values()) {
      for (const p of s.pendingMethods.values()) {
        clearTimeout(p.timer);
        p.reject(new ServiceError(503, 'ServiceUnavailable', 'the emulator is shutting down'));
      }
    }
    await new Promise<void>((resolve) => this.broker.close(() => resolve()));
  }

  // ---- connection -------------------------------------------------------------------------------------

  /** Hosts a hub client may name in its username and SAS resource: the host name with or without the port. */
  private hubHosts(): string[] {
    const h = this.opts.hubHostName.toLowerCase();
    return [h, `${h}:${this.port}`];
  }

  assignedHub(): string {
    return this.port === 8883 ? this.opts.hubHostName : `${this.opts.hubHostName}:${this.port}`;
  }

  private authenticate(client: Client, username: string | undefined, password: Buffer | undefined): void {
    if (username === undefined) throw new AuthError(CONNACK.notAuthorized, 'CONNECT without a username');
    const dps = parseDpsUsername(username);
    if (dps !== undefined) return this.authenticateDps(client, dps.idScope, dps.registrationId, password);
    const hub = parseHubUsername(username);
    if (hub === undefined) throw new AuthError(CONNACK.notAuthorized, `username "${username.slice(0, 80)}" is neither IoT Hub nor DPS`);
    if (!this.hubHosts().includes(hub.hubHost.toLowerCase())) {
      throw new AuthError(CONNACK.notAuthorized, `username names hub "${hub.hubHost}", this hub is "${this.assignedHub()}"`);
    }
    const identity = hub.moduleId === undefined ? { deviceId: hub.deviceId } : { deviceId: hub.deviceId, moduleId: hub.moduleId };
    const key = clientIdOf(identity);
    if (this.inOutage(hub.deviceId)) throw new AuthError(CONNACK.serverUnavailable, `"${key}" is in an outage`);
    if (client.id !== key) throw new AuthError(CONNACK.identifierRejected, `client id "${client.id}" does not match username identity "${key}"`);
    const device = this.opts.registry.get(hub.deviceId);
    if (device === undefined) throw new AuthError(CONNACK.notAuthorized, `device "${hub.deviceId}" is not registered`);
    if (!device.enabled) throw new AuthError(CONNACK.notAuthorized, `device "${hub.deviceId}" is disabled`);
    const module = hub.moduleId === undefined ? undefined : device.modules.get(hub.moduleId);
    if (hub.moduleId !== undefined && module === undefined) {
      throw new AuthError(CONNACK.notAuthorized, `module "${hub.moduleId}" of device "${hub.deviceId}" does not exist`);
    }
    const auth = module?.authentication ?? device.authentication;
    let tokenExpiry: number | undefined;
    if (password !== undefined && password.length > 0) {
      if (auth.type !== 'sas') throw new AuthError(CONNACK.notAuthorized, `"${key}" authenticates with X.509, not SAS`);
      let token;
      try {
        token = parseSasToken(password.toString('utf8'));
      } catch (err) {
        throw new AuthError(CONNACK.notAuthorized, `bad SAS token: ${(err as SasTokenError).message}`);
      }
      const resources = this.hubHosts().map((h) =>
        hub.moduleId === undefined ? sasResource.device(h, hub.deviceId) : sasResource.module(h, hub.deviceId, hub.moduleId),
      );
      const verdict = verifySasToken(token, [auth.keys.primaryKey, auth.keys.secondaryKey], resources, Math.floor(Date.now() / 1000));
      if (!verdict.ok) throw new AuthError(CONNACK.notAuthorized, `SAS token refused for "${key}": ${verdict.reason}`);
      tokenExpiry = token.se;
    } else {
      const cn = this.peerCommonName(client);
      if (cn === undefined) throw new AuthError(CONNACK.notAuthorized, `"${key}" sent neither a SAS token nor a trusted certificate`);
      if (auth.type !== 'x509CA') throw new AuthError(CONNACK.notAuthorized, `"${key}" is not registered for X.509`);
      if (cn !== hub.deviceId) throw new AuthError(CONNACK.notAuthorized, `certificate CN "${cn}" is not device "${hub.deviceId}"`);
    }
    if (this.hubSessions.has(key)) this.opts.stats.rejections.takenOver += 1;
    if (hub.modelId !== undefined && module === undefined) device.modelId = hub.modelId;
    const session: HubSession = {
      kind: 'hub', key, client, subscribed: new Set(), pendingMethods: new Map(), ...identity,
      ...(tokenExpiry === undefined ? {} : { tokenExpiry }),
    };
    this.sessions.set(client, session);
  }

  /** CN of a client certificate that chains to a trusted CA; undefined when there is none. */
  private peerCommonName(client: Client): string | undefined {
    const socket = client.conn as TLSSocket;
    if (typeof socket.getPeerCertificate !== 'function' || !socket.authorized) return undefined;
    const cert = socket.getPeerX509Certificate?.();
    return cert === undefined ? undefined : commonNameOf(cert.raw);
  }

  /** Whether the TLS layer saw a client certificate that did not verify (unknown CA, expired…). */
  private untrustedCertificate(client: Client): string | undefined {
    const socket = client.conn as TLSSocket;
    if (typeof socket.getPeerCertificate !== 'function' || socket.authorized) return undefined;
    const cert = socket.getPeerCertificate();
    return cert && Object.keys(cert).length > 0 ? String(socket.authorizationError ?? 'untrusted') : undefined;
  }

  private authenticateDps(client: Client, idScope: string, registrationId: string, password: Buffer | undefined): void {
    if (client.id !== registrationId) {
      throw new AuthError(CONNACK.identifierRejected, `client id "${client.id}" is not registration "${registrationId}"`);
    }
    const session: DpsSession = { kind: 'dps', registrationId, client };
    this.sessions.set(client, session);
    // DPS answers authentication failures on the register request (401 with a body), so CONNECT succeeds.
    if (idScope !== this.opts.idScope) {
      session.authError = `unknown ID scope "${idScope}"`;
    } else if (password !== undefined && password.length > 0) {
      this.authenticateDpsSas(session, idScope, password.toString('utf8'));
    } else {
      const cn = this.peerCommonName(client);
      const untrusted = this.untrustedCertificate(client);
      if (cn === registrationId) session.group = 'x509';
      else session.authError = cn !== undefined ? `certificate CN "${cn}" is not registration "${registrationId}"`
        : untrusted !== undefined ? `client certificate refused: ${untrusted}` : 'neither a SAS token nor a client certificate';
    }
    if (session.group === undefined) this.opts.stats.rejections.auth += 1;
  }

  private authenticateDpsSas(session: DpsSession, idScope: string, password: string): void {
    let token;
    try {
      token = parseSasToken(password);
    } catch (err) {
      session.authError = `bad SAS token: ${(err as Error).message}`;
      return;
    }
    const { registrationId } = session;
    const resource = [sasResource.registration(idScope, registrationId)];
    const now = Math.floor(Date.now() / 1000);
    const groups = this.opts.enrollmentGroups;
    const derive = (g: SymmetricKeys): SymmetricKeys => ({
      primaryKey: deriveDeviceKey(g.primaryKey, registrationId),
      secondaryKey: deriveDeviceKey(g.secondaryKey, registrationId),
    });
    const candidates: [DpsGroup, SymmetricKeys][] = [['devices', derive(groups.devices)], ['edgeDevices', derive(groups.edgeDevices)]];
    const existing = this.opts.registry.get(registrationId);
    if (existing?.authentication.type === 'sas') candidates.push(['individual', existing.authentication.keys]);
    let reason = 'signature';
    for (const [group, keys] of candidates) {
      const verdict = verifySasToken(token, [keys.primaryKey, keys.secondaryKey], resource, now);
      if (verdict.ok) {
        session.group = group;
        session.keys = keys;
        return;
      }
      reason = verdict.reason;
    }
    session.authError = `SAS token refused: ${reason}`;
  }

  private onReady(client: Client): void {
    const s = this.sessions.get(client);
    if (s?.kind !== 'hub') return;
    const previous = this.hubSessions.get(s.key);
    if (previous !== undefined && previous.client !== client) this.failPendingMethods(previous);
    this.hubSessions.set(s.key, s);
    this.opts.stats.of(s.key).connects += 1;
  }

  private onGone(client: Client): void {
    const s = this.sessions.get(client);
    if (s?.kind !== 'hub') return;
    this.opts.stats.of(s.key).disconnects += 1;
    // A takeover registers the new client first; only forget the session if it is still this one.
    if (this.hubSessions.get(s.key) === s) {
      this.hubSessions.delete(s.key);
      this.failPendingMethods(s);
    }
  }

  private failPendingMethods(s: HubSession): void {
    for (const p of s.pendingMethods.values()) {
      clearTimeout(p.timer);
      p.reject(new ServiceError(404, 'DeviceNotOnline', `"${s.key}" disconnected before answering`));
    }
    s.pendingMethods.clear();
  }

  private onClientError(client: Client | undefined, err: Error): void {
    const reason: RejectionReason = /too large|oversized/i.test(err.message) ? 'oversized' : 'protocol';
    // Errors we raised ourselves in authorizePublish are already counted.
    if ((err as { counted?: boolean }).counted) return;
    this.opts.stats.rejections[reason] += 1;
    this.opts.log(`client ${client?.id ?? '(not connected)'} dropped: ${err.message}`);
  }

  private reject(reason: RejectionReason, client: Client, detail: string): void {
    this.opts.stats.rejections[reason] += 1;
    this.opts.log(`${reason}: client ${client.id ?? '?'}: ${detail}`);
  }

  /** Closes connections whose SAS token expired (IoT Hub drops them; SDKs reconnect with a new token). */
  private expire(): void {
    const nowSeconds = Math.floor(Date.now() / 1000);
    for (const s of this.hubSessions.values()) {
      if (s.tokenExpiry !== undefined && s.tokenExpiry <= nowSeconds) {
        this.opts.log(`SAS token of ${s.key} expired: disconnecting`);
        s.client.close();
      }
    }
    const now = Date.now();
    for (const [id, op] of this.operations) if (op.expiresAt <= now) this.operations.delete(id);
  }

  // ---- subscriptions ----------------------------------------------------------------------------------

  private authorizeSubscribe(client: Client, sub: Subscription): Subscription | null {
    const s = this.sessions.get(client);
    const allowed = s === undefined ? [] : s.kind === 'dps' ? [filter.dpsResponses] : allowedFilters(s);
    if (!allowed.includes(sub.topic)) {
      this.reject('badSubscription', client, `filter "${sub.topic}" is not one IoT Hub accepts`);
      return null; // SUBACK 0x80
    }
    return sub.qos > 1 ? { ...sub, qos: 1 } : sub;
  }

  private onSubscribed(client: Client, subs: Subscription[]): void {
    const s = this.sessions.get(client);
    if (s?.kind !== 'hub') return;
    for (const sub of subs) {
      if (sub.topic === filter.twinResponses) s.subscribed.add('twin');
      else if (sub.topic === filter.desiredPatches) s.subscribed.add('desired');
      else if (sub.topic === filter.methods) s.subscribed.add('methods');
      else if (sub.topic.includes('/messages/devicebound/')) s.subscribed.add('c2d');
      else if (sub.topic.startsWith(`devices/${s.deviceId}/modules/`)) s.subscribed.add('inputs');
    }
    if (s.subscribed.has('c2d')) this.flushC2D(s);
  }

  // ---- publishes from clients -------------------------------------------------------------------------

  /** Handles one PUBLISH; returns why the client must be dropped, or undefined. */
  private onPublish(client: Client, packet: PublishPacket): string | undefined {
    const s = this.sessions.get(client);
    if (s === undefined) return 'not authenticated';
    const refuse = (reason: RejectionReason, detail: string) => {
      this.reject(reason, client, detail);
      return detail;
    };
    if (packet.qos === 2) return refuse('qos2', 'QoS 2 is not supported by IoT Hub');
    const limit = s.kind === 'dps' ? MAX_DPS_BYTES : MAX_D2C_BYTES;
    const payload = packet.payload as Buffer;
    if (payload.length > limit) return refuse('oversized', `payload of ${payload.length} bytes is over ${limit}`);
    const parsed = parseTopic(packet.topic);
    if (parsed === undefined) return refuse('unknownTopic', `topic "${packet.topic.slice(0, 120)}" is not part of IoT Hub's dialect`);
    if (s.kind === 'dps') {
      if (parsed.kind === 'dpsRegister') return this.dpsRegister(s, parsed.rid, payload);
      if (parsed.kind === 'dpsPoll') return this.dpsPoll(s, parsed.rid, parsed.operationId);
      return refuse('unknownTopic', `topic "${packet.topic.slice(0, 120)}" is not a DPS request`);
    }
    switch (parsed.kind) {
      case 'telemetry':
        if (parsed.deviceId !== s.deviceId || parsed.moduleId !== s.moduleId) {
          return refuse('unknownTopic', `"${s.key}" may not send as "${clientIdOf(parsed)}"`);
        }
        return this.telemetry(s, parsed, payload);
      case 'twinGet':
        return this.twinGet(s, parsed.rid);
      case 'twinReportedPatch':
        return this.twinReported(s, parsed.rid, payload);
      case 'methodResponse':
        return this.methodResponse(s, parsed.rid, parsed.status, payload);
      default:
        return refuse('unknownTopic', `topic "${packet.topic.slice(0, 120)}" is not something a device publishes`);
    }
  }

  private send(client: Client, topicName: string, payload: Buffer | string, qos: 0 | 1 = 0): void {
    client.publish({
      cmd: 'publish', topic: topicName, payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
      qos, retain: false, dup: false,
    } as PublishPacket, noop); // aedes calls the callback unconditionally

  }

  private telemetry(s: HubSession, parsed: Extract<ParsedTopic, { kind: 'telemetry' }>, payload: Buffer): undefined {
    const now = Date.now();
    const props = parsed.properties;
    const created = props[CREATION_TIME_PROPERTY] ?? undefined;
    this.opts.stats.recordTelemetry(s.key, payload.length, created, now);
    const device = this.opts.registry.get(s.deviceId);
    if (device !== undefined && payload.length <= 16 * 1024 && payload[0] === 0x7b /* { */) {
      let body: unknown;
      try {
        body = JSON.parse(payload.toString('utf8'));
      } catch {
        return undefined; // not JSON: counted, but no last value to keep
      }
      if (isJsonObject(body)) {
        const component = props[systemProperty.component] ?? '';
        const timestamp = created ?? new Date(now).toISOString();
        for (const [name, value] of Object.entries(body)) {
          device.lastTelemetry.set(`${s.moduleId ?? ''}|${component}|${name}`, { timestamp, value });
        }
      }
    }
    return undefined;
  }

  private twinOf(s: HubSession) {
    return this.opts.registry.twinOf(s.deviceId, s.moduleId);
  }

  private twinGet(s: HubSession, rid: string): undefined {
    this.opts.stats.of(s.key).twinGets += 1;
    const twin = this.twinOf(s);
    if (twin === undefined) this.send(s.client, topic.twinResponse(404, rid), '');
    else this.send(s.client, topic.twinResponse(200, rid), JSON.stringify(twin.toJson()));
    return undefined;
  }

  private twinReported(s: HubSession, rid: string, payload: Buffer): undefined {
    this.opts.stats.of(s.key).twinPatches += 1;
    const twin = this.twinOf(s);
    let patch: unknown;
    try {
      patch = JSON.parse(payload.toString('utf8'));
    } catch {
      patch = undefined;
    }
    if (twin === undefined) {
      this.send(s.client, topic.twinResponse(404, rid), '');
    } else if (!isJsonObject(patch)) {
      this.reject('badBody', s.client, 'reported patch is not a JSON object');
      this.send(s.client, topic.twinResponse(400, rid), JSON.stringify({ message: 'the reported patch must be a JSON object' }));
    } else if (!twin.reported.apply(patch, new Date().toISOString())) {
      this.reject('badBody', s.client, 'reported properties over 32 KB');
      this.send(s.client, topic.twinResponse(400, rid), JSON.stringify({ message: 'reported properties would exceed 32 KB' }));
    } else {
      this.send(s.client, topic.twinResponse(204, rid, twin.reported.version), '');
    }
    return undefined;
  }

  private methodResponse(s: HubSession, rid: string, status: number, payload: Buffer): undefined {
    this.opts.stats.of(s.key).methodResponses += 1;
    const pending = s.pendingMethods.get(rid);
    if (pending === undefined) return undefined; // late or unknown: IoT Hub ignores it
    s.pendingMethods.delete(rid);
    clearTimeout(pending.timer);
    let body: Json = null;
    if (payload.length > 0) {
      const text = payload.toString('utf8');
      try {
        body = JSON.parse(text) as Json;
      } catch {
        body = text;
      }
    }
    pending.resolve({ status, payload: body });
    return undefined;
  }

  // ---- DPS ----------------------------------------------------------------------------------------------

  private dpsError(s: DpsSession, rid: string, status: number, message: string): undefined {
    const body: DpsErrorBody = {
      errorCode: status * 1000 + 2, trackingId: randomUUID(), message, timestampUtc: new Date().toISOString(),
    };
    this.send(s.client, topic.dpsResponse(status, rid), JSON.stringify(body));
    return undefined;
  }

  private dpsRegister(s: DpsSession, rid: string, payload: Buffer): undefined {
    this.opts.stats.dps.registrations += 1;
    if (s.group === undefined) {
      this.opts.stats.dps.failed += 1;
      return this.dpsError(s, rid, 401, `Unauthorized: ${s.authError ?? 'not authenticated'}`);
    }
    let request;
    try {
      request = parseRegisterRequest(payload);
    } catch (err) {
      this.opts.stats.rejections.badBody += 1;
      return this.dpsError(s, rid, 400, (err as DpsBodyError).message);
    }
    if (request.registrationId !== s.registrationId) {
      return this.dpsError(s, rid, 400, `registrationId "${request.registrationId}" is not the connected "${s.registrationId}"`);
    }
    const op: DpsOperation = {
      operationId: `4.${randomUUID().slice(0, 16).replace(/-/g, '')}.${randomUUID()}`,
      registrationId: s.registrationId,
      group: s.group,
      ...(s.keys === undefined ? {} : { keys: s.keys }),
      ...(request.payload === undefined ? {} : { payload: request.payload }),
      createdAt: new Date().toISOString(),
      expiresAt: Date.now() + DPS_OPERATION_TTL_MS,
    };
    this.operations.set(op.operationId, op);
    const body: RegistrationOperationStatus = { operationId: op.operationId, status: 'assigning' };
    this.send(s.client, topic.dpsResponse(202, rid, this.opts.dpsRetryAfterSeconds), JSON.stringify(body));
    return undefined;
  }

  private dpsPoll(s: DpsSession, rid: string, operationId: string): undefined {
    this.opts.stats.dps.polls += 1;
    if (s.group === undefined) return this.dpsError(s, rid, 401, `Unauthorized: ${s.authError ?? 'not authenticated'}`);
    const op = this.operations.get(operationId);
    if (op === undefined || op.registrationId !== s.registrationId) {
      return this.dpsError(s, rid, 404, `operation "${operationId}" not found`);
    }
    op.result ??= this.assign(op);
    this.send(s.client, topic.dpsResponse(200, rid), JSON.stringify(op.result));
    return undefined;
  }

  /** Creates or updates the device for a registration, as an enrollment group with static allocation does. */
  private assign(op: DpsOperation): RegistrationOperationStatus {
    const now = new Date().toISOString();
    const registry = this.opts.registry;
    const modelId = modelIdOf(op.payload);
    let device: DeviceIdentity | undefined = registry.get(op.registrationId);
    const substatus = device === undefined ? 'initialAssignment' : 'reprovisionedToInitialAssignment';
    if (device === undefined) {
      device = registry.create({
        id: op.registrationId,
        iotEdge: op.group === 'edgeDevices',
        ...(modelId === undefined ? {} : { modelId }),
        authentication: op.group === 'x509' ? { type: 'x509CA' } : { type: 'sas', keys: op.keys as SymmetricKeys },
      });
    } else {
      if (op.group === 'edgeDevices') registry.makeIotEdge(device);
      if (op.group === 'x509') device.authentication = { type: 'x509CA' };
      else if (op.keys !== undefined) device.authentication = { type: 'sas', keys: op.keys };
      if (modelId !== undefined) device.modelId = modelId;
    }
    if (!device.enabled) {
      this.opts.stats.dps.failed += 1;
      return {
        operationId: op.operationId, status: 'disabled',
        registrationState: { registrationId: op.registrationId, status: 'disabled', errorCode: 401003, errorMessage: 'device is disabled' },
      };
    }
    const gateway = op.payload?.iotcGateway;
    if (gateway !== undefined) device.gateway = gateway;
    device.provisioned = true;
    this.opts.stats.dps.assigned += 1;
    return {
      operationId: op.operationId,
      status: 'assigned',
      registrationState: {
        registrationId: op.registrationId,
        createdDateTimeUtc: op.createdAt,
        assignedHub: this.assignedHub(),
        deviceId: device.id,
        status: 'assigned',
        substatus,
        lastUpdatedDateTimeUtc: now,
        etag: device.etag,
      },
    };
  }

  // ---- DeviceChannel: service-side operations --------------------------------------------------------

  isConnected(deviceId: string, moduleId?: string): boolean {
    return this.hubSessions.has(moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`);
  }

  private session(deviceId: string, moduleId?: string): HubSession | undefined {
    return this.hubSessions.get(moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`);
  }

  pushDesired(deviceId: string, moduleId: string | undefined, patch: JsonObject): void {
    const s = this.session(deviceId, moduleId);
    if (s === undefined || !s.subscribed.has('desired')) return; // it GETs the twin when it reconnects
    this.opts.stats.of(s.key).desiredPatchesSent += 1;
    this.send(s.client, topic.desiredPatch(patch.$version as number), JSON.stringify(patch));
  }

  invokeMethod(deviceId: string, moduleId: string | undefined, name: string, payload: Json, timeoutMs: number): Promise<MethodResult> {
    const s = this.session(deviceId, moduleId);
    const who = moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`;
    if (s === undefined || !s.subscribed.has('methods')) {
      return Promise.reject(new ServiceError(404, 'DeviceNotOnline', `"${who}" is not connected or not subscribed to methods`));
    }
    this.opts.stats.of(s.key).methodCalls += 1;
    const rid = (++this.ridCounter).toString(16);
    return new Promise<MethodResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        s.pendingMethods.delete(rid);
        reject(new ServiceError(504, 'GatewayTimeout', `"${who}" did not answer "${name}" within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      s.pendingMethods.set(rid, { resolve, reject, timer });
      this.send(s.client, topic.methodRequest(name, rid), payload === undefined ? '' : JSON.stringify(payload));
    });
  }

  sendC2D(deviceId: string, body: Buffer, properties: Record<string, string>): 'delivered' | 'queued' {
    const s = this.session(deviceId);
    if (s !== undefined && s.subscribed.has('c2d')) {
      this.deliverC2D(s, body, properties);
      return 'delivered';
    }
    const queue = this.c2dQueues.get(deviceId) ?? [];
    if (queue.length >= C2D_QUEUE_LIMIT) {
      throw new ServiceError(403, 'DeviceMaximumQueueDepthExceeded', `"${deviceId}" already has ${C2D_QUEUE_LIMIT} messages waiting`);
    }
    queue.push({ body, properties });
    this.c2dQueues.set(deviceId, queue);
    return 'queued';
  }

  /**
   * Takes identities away for a while (an outage, as a network partition would): their connections close now, and
   * CONNECTs from them get CONNACK 3 (server unavailable) until it ends. Returns how many connections closed.
   */
  startOutage(spec: OutageSpec): number {
    const outage: Outage = { deviceIds: new Set(spec.deviceIds ?? []), idPrefix: spec.idPrefix, until: Date.now() + spec.durationMs };
    this.outages.push(outage);
    let closed = 0;
    for (const s of [...this.hubSessions.values()]) {
      if (!matchesOutage(outage, s.deviceId)) continue;
      s.client.close();
      closed += 1;
    }
    this.opts.log(`outage of ${spec.durationMs} ms: ${closed} connection(s) closed`);
    return closed;
  }

  private inOutage(deviceId: string): boolean {
    if (this.outages.length === 0) return false;
    const now = Date.now();
    this.outages = this.outages.filter((o) => o.until > now);
    return this.outages.some((o) => matchesOutage(o, deviceId));
  }

  disconnect(deviceId: string): void {
    for (const s of [...this.hubSessions.values()]) if (s.deviceId === deviceId) s.client.close();
  }

  private deliverC2D(s: HubSession, body: Buffer, properties: Record<string, string>): void {
    this.opts.stats.of(s.key).c2dSent += 1;
    const bag = {
      [systemProperty.messageId]: randomUUID(),
      [systemProperty.to]: `/devices/${s.deviceId}/messages/devicebound`,
      ...properties,
    };
    this.send(s.client, topic.c2d(s.deviceId, bag), body, 1);
  }

  private flushC2D(s: HubSession): void {
    const queue = this.c2dQueues.get(s.deviceId);
    if (queue === undefined) return;
    this.c2dQueues.delete(s.deviceId);
    for (const m of queue) this.deliverC2D(s, m.body, m.properties);
  }
}

function matchesOutage(outage: Outage, deviceId: string): boolean {
  return outage.deviceIds.has(deviceId) || (outage.idPrefix !== undefined && deviceId.startsWith(outage.idPrefix));
}
