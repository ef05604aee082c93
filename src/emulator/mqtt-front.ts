// The MQTT/TLS front end of the emulator: DPS and IoT Hub on one listener, told apart by the CONNECT username
// (docs/protocol.md §1, §3) before any broker sees the connection. Each has a broker of its own, so a DPS connection
// never shares a client table with a hub session. Every reply goes to the one client it is for, never through
// broker fan-out, and what is queued for one client is bounded.
import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Aedes, type AedesOptions, type Client, type PublishPacket, type Subscription } from 'aedes';
import {
  allowedFilters,
  clientIdOf,
  CREATION_TIME_PROPERTY,
  deriveDeviceKey,
  filter,
  modelIdOf,
  parseDpsUsername,
  parseHubUsername,
  parseRegisterRequest,
  parseSasToken,
  parseTopic,
  parseWireJson,
  sasResource,
  systemProperty,
  topic,
  verifySasToken,
  WireJsonError,
  type ConnectFields,
  type DpsBodyError,
  type DpsErrorBody,
  type IotcGateway,
  type ParsedTopic,
  type RegisterPayload,
  type RegistrationOperationStatus,
} from '../protocol/index.js';
import { commonNameOf } from '../protocol/x509.js';
import { routeFirstConnect } from './connect-router.js';
import { DpsOperations, type DpsGroup, type DpsOperation, type DpsRegistration } from './dps-operations.js';
import { guardPacketSize } from './frame-guard.js';
import type { Journal } from './journal.js';
import type { HubLimits, LimitedOperation } from './limits/index.js';
import type { DeviceIdentity, Registry, SymmetricKeys } from './registry.js';
import { ServiceError, type DeviceChannel, type MethodResult } from './service.js';
import type { EmulatorStats, RejectionReason } from './stats.js';
import { isJsonObject, TWIN_REFUSAL_MESSAGES, type Json, type JsonObject } from './twin.js';

export const MAX_D2C_BYTES = 256 * 1024;
export const MAX_DPS_BYTES = 96 * 1024;
/** Cloud-to-device messages pending per device, waiting or sent and not yet completed (IoT Hub's queue depth). */
export const C2D_QUEUE_LIMIT = 50;
/**
 * Reply bytes one client may have waiting (handed to the broker or in its socket buffer) before it is dropped as a
 * client that stopped reading: room for 16 whole twins at IoT Hub's limits (32 KB desired + 32 KB reported).
 */
export const MAX_CLIENT_QUEUE_BYTES = 1024 * 1024;
/** Longest model id kept from a DPS payload (DTMIs are far shorter). */
const MAX_MODEL_ID_LENGTH = 2048;
/** Longest telemetry body whose top-level values are kept as last values. */
const LAST_VALUE_BODY_BYTES = 16 * 1024;

/** CONNACK return codes (MQTT 3.1.1). */
const CONNACK = { identifierRejected: 2, serverUnavailable: 3, notAuthorized: 5 } as const;

type Subscribed = 'c2d' | 'desired' | 'methods' | 'twin' | 'inputs';

interface PendingMethod {
  resolve: (r: MethodResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export interface C2dMessage {
  body: Buffer;
  properties: Record<string, string>;
}

interface SessionBase {
  client: Client;
  /** Bytes of replies handed to the broker and not yet written to the socket. */
  pendingBytes: number;
  /** Dropped for not reading its replies; nothing more is sent to it. */
  dropped: boolean;
}

interface HubSession extends SessionBase {
  kind: 'hub';
  key: string;
  deviceId: string;
  moduleId?: string;
  subscribed: Set<Subscribed>;
  /** Epoch seconds at which the SAS token used to connect expires; the connection is closed then. */
  tokenExpiry?: number;
  pendingMethods: Map<string, PendingMethod>;
  /** C2D messages sent and not yet completed (PUBACK), oldest first; back to the queue if the connection ends. */
  c2dInFlight: C2dMessage[];
}

interface DpsSession extends SessionBase {
  kind: 'dps';
  registrationId: string;
  /** How it authenticated (at CONNECT: a DPS session exists only once it has). */
  group: DpsGroup;
  keys?: SymmetricKeys;
}

type Session = HubSession | DpsSession;

type BrokerKind = 'dps' | 'hub';

export interface MqttFrontOptions {
  registry: Registry;
  stats: EmulatorStats;
  hubHostName: string;
  idScope: string;
  enrollmentGroups: { devices: SymmetricKeys; edgeDevices: SymmetricKeys };
  /** `retry-after` in the DPS 202 answer; the device polls after that many seconds. */
  dpsRetryAfterSeconds: number;
  /** How long a connection has, once TLS is up, to send its whole CONNECT. */
  connectTimeoutMs: number;
  log: (line: string) => void;
  /** Told of every change; replies and PUBACKs wait until what they acknowledge is recorded. */
  journal: Journal;
  /** The hub's and DPS's limits (docs/protocol.md §7); absent or inactive: nothing is limited. */
  limits?: HubLimits;
}

type ConnectDone = (error: (Error & { returnCode: number }) | null, success: boolean | null) => void;
type PublishDone = (error?: Error | null) => void;

/** The limited operation a publish is, if any. */
function limitedOperationOf(kind: BrokerKind, parsed: ParsedTopic): LimitedOperation | undefined {
  if (kind === 'dps') return parsed.kind === 'dpsRegister' ? 'dps' : undefined;
  if (parsed.kind === 'telemetry') return 'd2c';
  if (parsed.kind === 'twinGet') return 'twinRead';
  return parsed.kind === 'twinReportedPatch' ? 'twinUpdate' : undefined;
}

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
  constructor(
    readonly returnCode: number,
    message: string,
  ) {
    super(message);
  }
}

const notAuthorized = (message: string) => new AuthError(CONNACK.notAuthorized, message);

/** An error handed back to aedes for a refusal already counted, so its error events do not count it again. */
const counted = (message: string) => Object.assign(new Error(message), { counted: true });

/**
 * aedes builds a SUBACK from the QoS asked for, before authorizeSubscribe runs; IoT Hub and DPS grant at most 1,
 * so the request is lowered as it is parsed (a listener put ahead of aedes' own on the client's packet parser).
 */
function capSubscribeQos(client: Client): void {
  const parser = (client as unknown as { _parser?: EventEmitter })._parser;
  if (parser === undefined) throw new Error('aedes no longer exposes its packet parser: cannot cap SUBSCRIBE QoS');
  parser.prependListener('packet', (packet: { cmd?: string; subscriptions?: { qos: number }[] }) => {
    if (packet.cmd !== 'subscribe') return;
    for (const sub of packet.subscriptions ?? []) if (sub.qos > 1) sub.qos = 1;
  });
}

export class MqttFront implements DeviceChannel {
  /** The port clients dial; set once the listener is up (used for `host:port` forms). */
  port = 8883;
  private readonly sessions = new WeakMap<Client, Session>();
  private readonly hubSessions = new Map<string, HubSession>();
  private readonly dpsSessions = new Map<string, DpsSession>();
  private readonly operations = new DpsOperations();
  /** DPS registrations that were assigned, per registration id. */
  readonly registrations = new Map<string, DpsRegistration>();
  private readonly c2dQueues = new Map<string, C2dMessage[]>();
  private readonly sweep: NodeJS.Timeout;
  private ridCounter = 0;
  private outages: Outage[] = [];

  private constructor(
    private readonly opts: MqttFrontOptions,
    private readonly brokers: Record<BrokerKind, Aedes>,
  ) {
    this.wire(brokers.dps);
    this.wire(brokers.hub);
    this.sweep = setInterval(() => this.guard(undefined, 'expiry sweep', () => this.expire()), 1000);
    this.sweep.unref();
  }

  static async create(opts: MqttFrontOptions): Promise<MqttFront> {
    const options: AedesOptions = {
      heartbeatInterval: 3_600_000,
      drainTimeout: 30_000,
      connectTimeout: opts.connectTimeoutMs,
      maxClientsIdLength: 256,
    };
    const [dps, hub] = await Promise.all([Aedes.createBroker(options), Aedes.createBroker(options)]);
    return new MqttFront(opts, { dps, hub });
  }

  async close(): Promise<void> {
    clearInterval(this.sweep);
    for (const s of this.hubSessions.values()) {
      for (const p of s.pendingMethods.values()) {
        clearTimeout(p.timer);
        p.reject(new ServiceError(503, 'ServiceUnavailable', 'the emulator is shutting down'));
      }
    }
    await Promise.all(Object.values(this.brokers).map((b) => new Promise<void>((resolve) => b.close(() => resolve()))));
  }

  /** Takes a TLS connection: reads its CONNECT, then hands it to the DPS or the IoT Hub broker. */
  handle(socket: TLSSocket, maxPacketBytes: number): void {
    socket.on('error', (err: Error) => this.opts.log(`connection error: ${err.message}`));
    routeFirstConnect(socket, {
      maxPacketBytes,
      timeoutMs: this.opts.connectTimeoutMs,
      route: (fields) => {
        this.guard(undefined, 'routing a CONNECT', () => this.startClient(socket, fields, maxPacketBytes), socket);
      },
      refuse: (reason, detail) => {
        this.opts.stats.count(reason);
        this.opts.log(`dropped a connection before CONNECT: ${detail}`);
      },
    });
  }

  private startClient(socket: TLSSocket, fields: ConnectFields, maxPacketBytes: number): void {
    const dps = fields.username !== undefined && parseDpsUsername(fields.username) !== undefined;
    const kind: BrokerKind = dps ? 'dps' : 'hub';
    guardPacketSize(socket, maxPacketBytes, (declared) => {
      this.opts.stats.count('oversized');
      this.opts.log(`dropped a connection announcing a ${declared}-byte packet`);
      socket.destroy();
    });
    capSubscribeQos(this.brokers[kind].handle(socket));
  }

  // ---- last resort ------------------------------------------------------------------------------------

  /** Runs one client's handler; a throw drops that client (counted `internalError`, logged), never the process. */
  private guard<T>(client: Client | undefined, what: string, fn: () => T, socket?: Socket): T | undefined {
    try {
      return fn();
    } catch (err) {
      this.internalError(client, what, err, socket);
      return undefined;
    }
  }

  private internalError(client: Client | undefined, what: string, err: unknown, socket?: Socket): void {
    this.opts.stats.count('internalError');
    const stack = err instanceof Error ? (err.stack ?? err.message) : String(err);
    this.opts.log(`internal error in ${what} (client ${client?.id ?? '?'}), dropping the client: ${stack}`);
    (socket ?? (client?.conn as Socket | undefined))?.destroy();
  }

  private wire(broker: Aedes): void {
    // No broker-side sessions: aedes would queue QoS 1 packets for clean-session=false clients without a bound.
    // What outlives a connection is the emulator's own (the C2D queue, capped); CONNACK says session-present 0.
    broker.preConnect = (_client, packet, done) => {
      packet.clean = true;
      done(null, true);
    };
    broker.authenticate = (client, username, password, done) => this.onConnect(client, username, password, done);
    broker.authorizeSubscribe = (client, sub, done) => {
      done(null, this.guard(client, 'SUBSCRIBE', () => this.authorizeSubscribe(client, sub)) ?? null);
    };
    broker.authorizePublish = (client, packet, done) => this.onPublishPacket(client, packet, done);
    // Only what the emulator addresses to one client is delivered; clients never reach each other.
    broker.authorizeForward = (_client, packet) => (Object.hasOwn(packet, 'clientId') ? null : packet);
    broker.on('subscribe', (subs, client) => this.guard(client, 'subscribe', () => this.onSubscribed(client, subs)));
    broker.on('clientReady', (client) => this.guard(client, 'CONNACK', () => this.onReady(client)));
    broker.on('clientDisconnect', (client) => this.guard(client, 'disconnect', () => this.onGone(client)));
    broker.on('clientError', (client, err) => this.guard(client, 'an error', () => this.onClientError(client, err)));
    broker.on('connectionError', (c, err) => this.guard(c, 'an error', () => this.onClientError(undefined, err)));
    broker.on('ack', (_packet, client) => this.guard(client, 'PUBACK', () => this.onAck(client)));
    (broker as EventEmitter).on('error', (err: Error) => this.internalError(undefined, 'the broker', err));
  }

  // ---- connection -------------------------------------------------------------------------------------

  private onConnect(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: ConnectDone,
  ): void {
    try {
      this.authenticate(client, username, password);
      this.admitConnect(client, done);
    } catch (err) {
      if (!(err instanceof AuthError)) {
        this.internalError(client, 'CONNECT', err);
        return done(Object.assign(counted('internal error'), { returnCode: CONNACK.serverUnavailable }), false);
      }
      this.reject(err.returnCode === CONNACK.serverUnavailable ? 'outage' : 'auth', client, err.message);
      // A live session with this client id (hub or DPS) stays: only a connection that authenticated as that same
      // identity, in the same broker, may displace it.
      if (this.hubSessions.has(client.id) || this.dpsSessions.has(client.id)) {
        this.reject('takeoverRefused', client, `"${client.id}" stays connected`);
      }
      done(Object.assign(counted(err.message), { returnCode: err.returnCode }), false);
    }
  }

  /**
   * An authenticated hub connection within the daily quota and the connection rate gets its CONNACK (later when
   * the shaping holds it); past them CONNACK 3, server unavailable (docs/protocol.md §10). DPS is not limited here.
   */
  private admitConnect(client: Client, done: ConnectDone): void {
    const s = this.sessions.get(client);
    // Counted when the CONNECT is let in, not when it authenticates: a throttled one takes nothing over.
    const admit = () => {
      if (s?.kind === 'hub' && this.hubSessions.has(s.key)) this.opts.stats.count('takenOver');
      done(null, true);
    };
    const limits = this.opts.limits;
    if (limits?.active !== true || s?.kind !== 'hub') return admit();
    const refuse = (why: string) => {
      this.opts.log(`throttled: client ${client.id}: ${why}`);
      done(Object.assign(counted(why), { returnCode: CONNACK.serverUnavailable }), false);
    };
    if (limits.refuseConnectForQuota()) return refuse('the daily message quota is used up (IoTHubQuotaExceeded)');
    const retryAfter = limits.take('connect', s.key, 1, () => {
      if (client.closed) return false;
      admit();
      return true;
    });
    if (retryAfter !== undefined) refuse(`over the hub's connection rate: retry in ${retryAfter} s`);
  }

  /** Hosts a hub client may name in its username and SAS resource: the host name with or without the port. */
  private hubHosts(): string[] {
    const h = this.opts.hubHostName.toLowerCase();
    return [h, `${h}:${this.port}`];
  }

  assignedHub(): string {
    return this.port === 8883 ? this.opts.hubHostName : `${this.opts.hubHostName}:${this.port}`;
  }

  private authenticate(client: Client, username: string | undefined, password: Buffer | undefined): void {
    if (username === undefined) throw notAuthorized('CONNECT without a username');
    const dps = parseDpsUsername(username);
    if (dps !== undefined) return this.authenticateDps(client, dps.idScope, dps.registrationId, password);
    const hub = parseHubUsername(username);
    if (hub === undefined) throw notAuthorized(`username "${username.slice(0, 80)}" is neither IoT Hub nor DPS`);
    if (!this.hubHosts().includes(hub.hubHost.toLowerCase())) {
      throw notAuthorized(`username names hub "${hub.hubHost}", this hub is "${this.assignedHub()}"`);
    }
    const identity =
      hub.moduleId === undefined ? { deviceId: hub.deviceId } : { deviceId: hub.deviceId, moduleId: hub.moduleId };
    const key = clientIdOf(identity);
    if (this.inOutage(hub.deviceId)) throw new AuthError(CONNACK.serverUnavailable, `"${key}" is in an outage`);
    if (client.id !== key) {
      throw new AuthError(
        CONNACK.identifierRejected,
        `client id "${client.id}" does not match username identity "${key}"`,
      );
    }
    const device = this.opts.registry.get(hub.deviceId);
    if (device === undefined) throw notAuthorized(`device "${hub.deviceId}" is not registered`);
    if (!device.enabled) throw notAuthorized(`device "${hub.deviceId}" is disabled`);
    const module = hub.moduleId === undefined ? undefined : device.modules.get(hub.moduleId);
    if (hub.moduleId !== undefined && module === undefined) {
      throw notAuthorized(`module "${hub.moduleId}" of device "${hub.deviceId}" does not exist`);
    }
    const auth = module?.authentication ?? device.authentication;
    const tokenExpiry = this.verifyHubCredentials(client, hub, auth, password);
    if (hub.modelId !== undefined && module === undefined && device.modelId !== hub.modelId) {
      device.modelId = hub.modelId;
      this.opts.registry.changed(device);
    }
    const session: HubSession = {
      kind: 'hub',
      key,
      client,
      subscribed: new Set(),
      pendingMethods: new Map(),
      c2dInFlight: [],
      pendingBytes: 0,
      dropped: false,
      ...identity,
      ...(tokenExpiry === undefined ? {} : { tokenExpiry }),
    };
    this.sessions.set(client, session);
  }

  /** Checks a hub CONNECT's SAS token or certificate; returns the token's expiry (epoch seconds) for SAS. */
  private verifyHubCredentials(
    client: Client,
    hub: { deviceId: string; moduleId?: string },
    auth: DeviceIdentity['authentication'],
    password: Buffer | undefined,
  ): number | undefined {
    const key = clientIdOf(hub);
    if (password === undefined || password.length === 0) {
      const cn = this.peerCommonName(client);
      if (cn === undefined) throw notAuthorized(`"${key}" sent neither a SAS token nor a trusted certificate`);
      if (auth.type !== 'x509CA') throw notAuthorized(`"${key}" is not registered for X.509`);
      if (cn !== hub.deviceId) throw notAuthorized(`certificate CN "${cn}" is not device "${hub.deviceId}"`);
      return undefined;
    }
    if (auth.type !== 'sas') throw notAuthorized(`"${key}" authenticates with X.509, not SAS`);
    let token;
    try {
      token = parseSasToken(password.toString('utf8'));
    } catch (err) {
      throw notAuthorized(`bad SAS token: ${(err as Error).message}`);
    }
    // Device and module tokens carry no skn (docs/protocol.md §2.1): one with a key name is a policy token.
    if (token.skn !== undefined) throw notAuthorized(`SAS token for "${key}" carries skn: not a device token`);
    const resources = this.hubHosts().map((h) =>
      hub.moduleId === undefined
        ? sasResource.device(h, hub.deviceId)
        : sasResource.module(h, hub.deviceId, hub.moduleId),
    );
    const keys = [auth.keys.primaryKey, auth.keys.secondaryKey];
    const verdict = verifySasToken(token, keys, resources, Math.floor(Date.now() / 1000));
    if (!verdict.ok) throw notAuthorized(`SAS token refused for "${key}": ${verdict.reason}`);
    return token.se;
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

  /** DPS decides at CONNECT, like the hub: a connection that does not authenticate gets CONNACK 5. */
  private authenticateDps(client: Client, idScope: string, registrationId: string, password: Buffer | undefined): void {
    if (client.id !== registrationId) {
      throw new AuthError(
        CONNACK.identifierRejected,
        `client id "${client.id}" is not registration "${registrationId}"`,
      );
    }
    if (idScope !== this.opts.idScope) throw notAuthorized(`unknown ID scope "${idScope}"`);
    let credentials: { group: DpsGroup; keys?: SymmetricKeys };
    if (password !== undefined && password.length > 0) {
      credentials = this.authenticateDpsSas(registrationId, idScope, password.toString('utf8'));
    } else {
      const cn = this.peerCommonName(client);
      const untrusted = this.untrustedCertificate(client);
      if (cn !== registrationId) {
        throw notAuthorized(
          cn !== undefined
            ? `certificate CN "${cn}" is not registration "${registrationId}"`
            : untrusted !== undefined
              ? `client certificate refused: ${untrusted}`
              : 'neither a SAS token nor a client certificate',
        );
      }
      credentials = { group: 'x509' };
    }
    this.sessions.set(client, { kind: 'dps', registrationId, client, pendingBytes: 0, dropped: false, ...credentials });
  }

  private authenticateDpsSas(
    registrationId: string,
    idScope: string,
    password: string,
  ): { group: DpsGroup; keys: SymmetricKeys } {
    let token;
    try {
      token = parseSasToken(password);
    } catch (err) {
      throw notAuthorized(`bad SAS token: ${(err as Error).message}`);
    }
    const resource = [sasResource.registration(idScope, registrationId)];
    const now = Math.floor(Date.now() / 1000);
    const groups = this.opts.enrollmentGroups;
    const derive = (g: SymmetricKeys): SymmetricKeys => ({
      primaryKey: deriveDeviceKey(g.primaryKey, registrationId),
      secondaryKey: deriveDeviceKey(g.secondaryKey, registrationId),
    });
    const candidates: [DpsGroup, SymmetricKeys][] = [
      ['devices', derive(groups.devices)],
      ['edgeDevices', derive(groups.edgeDevices)],
    ];
    const existing = this.opts.registry.get(registrationId);
    if (existing?.authentication.type === 'sas') candidates.push(['individual', existing.authentication.keys]);
    let reason = 'signature';
    for (const [group, keys] of candidates) {
      const verdict = verifySasToken(token, [keys.primaryKey, keys.secondaryKey], resource, now);
      if (verdict.ok) return { group, keys };
      reason = verdict.reason;
    }
    throw notAuthorized(`SAS token refused: ${reason}`);
  }

  private onReady(client: Client): void {
    const s = this.sessions.get(client);
    if (s?.kind === 'dps') {
      this.dpsSessions.set(s.registrationId, s);
      return;
    }
    if (s?.kind !== 'hub') return;
    const previous = this.hubSessions.get(s.key);
    if (previous !== undefined && previous.client !== client) this.failPendingMethods(previous);
    this.hubSessions.set(s.key, s);
    this.opts.stats.of(s.key).connects += 1;
  }

  private onGone(client: Client): void {
    const s = this.sessions.get(client);
    if (s?.kind === 'dps') {
      if (this.dpsSessions.get(s.registrationId) === s) this.dpsSessions.delete(s.registrationId);
      return;
    }
    if (s?.kind !== 'hub') return;
    this.opts.stats.of(s.key).disconnects += 1;
    this.requeueC2D(s);
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
    // Errors we raised ourselves are already counted.
    if ((err as { counted?: boolean }).counted) return;
    this.opts.stats.count(reason);
    this.opts.log(`client ${client?.id ?? '(not connected)'} dropped: ${err.message}`);
  }

  private reject(reason: RejectionReason, client: Client, detail: string): void {
    this.opts.stats.count(reason);
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
    this.operations.expire();
  }

  // ---- subscriptions ----------------------------------------------------------------------------------

  private authorizeSubscribe(client: Client, sub: Subscription): Subscription | null {
    const s = this.sessions.get(client);
    const allowed = s === undefined ? [] : s.kind === 'dps' ? [filter.dpsResponses] : allowedFilters(s);
    if (!allowed.includes(sub.topic)) {
      this.reject('badSubscription', client, `filter "${sub.topic.slice(0, 120)}" is not one IoT Hub accepts`);
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

  private onPublishPacket(client: Client | null, packet: PublishPacket, done: PublishDone): void {
    if (client === null) return done(new Error('no publishing without a client'));
    // IoT Hub keeps no retained messages (docs/protocol.md §1.2); cleared here, aedes stores none.
    packet.retain = false;
    if (this.opts.limits?.active === true && this.gatePublish(client, packet, done)) return;
    this.servePublish(client, packet, done);
  }

  /**
   * Holds back or refuses a publish over a limit (docs/protocol.md §7, §10): telemetry past the shaping queue or
   * the daily quota closes the connection, a twin request or a DPS registration is answered 429 with
   * `retry-after`. True when it has taken the publish over.
   */
  private gatePublish(client: Client, packet: PublishPacket, done: PublishDone): boolean {
    const s = this.sessions.get(client);
    const limits = this.opts.limits as HubLimits;
    const parsed = s === undefined || packet.qos === 2 ? undefined : parseTopic(packet.topic);
    const op = s === undefined || parsed === undefined ? undefined : limitedOperationOf(s.kind, parsed);
    if (s === undefined || parsed === undefined || op === undefined) return false;
    if (op === 'd2c' && limits.refuseSendForQuota()) {
      this.opts.log(`quota: client ${client.id}: the daily message quota is used up, closing the connection`);
      done(counted('the daily message quota is used up (IoTHubQuotaExceeded)'));
      return true;
    }
    const bytes = (packet.payload as Buffer).length;
    const identity = s.kind === 'hub' ? s.key : s.registrationId;
    const retryAfter = limits.take(op, identity, 1, () => {
      if (client.closed) return false;
      if (op === 'd2c') limits.chargeQuota(bytes);
      this.servePublish(client, packet, done);
      return true;
    });
    if (retryAfter === undefined) return true;
    const why = `over the ${op === 'dps' ? "DPS's registration" : `hub's ${op}`} rate: retry in ${retryAfter} s`;
    this.opts.log(`throttled: client ${client.id}: ${why}`);
    if (op === 'd2c') {
      done(counted(why));
      return true;
    }
    const rid = 'rid' in parsed ? parsed.rid : '';
    if (s.kind === 'dps') this.dpsError(s, rid, 429, why, retryAfter);
    else this.send(s, `${topic.twinResponse(429, rid)}&retry-after=${retryAfter}`, JSON.stringify({ message: why }));
    done(null);
    return true;
  }

  private servePublish(client: Client, packet: PublishPacket, done: PublishDone): void {
    let refusal: string | undefined;
    try {
      refusal = this.onPublish(client, packet);
    } catch (err) {
      this.internalError(client, 'PUBLISH', err);
      return done(counted('internal error'));
    }
    if (refusal !== undefined) return done(counted(refusal));
    if (packet.qos === 0) return done(null);
    // aedes sends the PUBACK when this calls back: only once what the message changed is recorded. A client gone
    // meanwhile gets none (calling back would count its closed connection as an error).
    this.opts.journal.afterCommit(() => {
      if (!client.closed) done(null);
    });
  }

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
    if (parsed === undefined) {
      return refuse('unknownTopic', `topic "${packet.topic.slice(0, 120)}" is not part of IoT Hub's dialect`);
    }
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

  /**
   * Sends to one client, unless the replies it has not read yet would pass MAX_CLIENT_QUEUE_BYTES: then the
   * client is dropped (counted `overBuffer`) and false returned.
   */
  private send(s: Session, topicName: string, payload: Buffer | string, qos: 0 | 1 = 0): boolean {
    if (s.dropped) return false;
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const bytes = body.length + Buffer.byteLength(topicName) + 8;
    const socket = s.client.conn as Socket;
    const waiting = s.pendingBytes + (socket.writableLength ?? 0);
    if (waiting + bytes > MAX_CLIENT_QUEUE_BYTES) {
      s.dropped = true;
      this.reject('overBuffer', s.client, `${waiting} bytes of replies unread: dropping the client`);
      socket.destroy();
      return false;
    }
    s.pendingBytes += bytes;
    const packet = { cmd: 'publish', topic: topicName, payload: body, qos, retain: false, dup: false } as PublishPacket;
    // Sent once what it tells of is recorded (a twin version, an assignment, a queued message), in order.
    this.opts.journal.afterCommit(() => {
      if (s.dropped || s.client.closed) {
        s.pendingBytes -= bytes;
        return;
      }
      // aedes calls the callback once the packet is written or the connection is gone.
      s.client.publish(packet, () => {
        s.pendingBytes -= bytes;
      });
    });
    return true;
  }

  private telemetry(s: HubSession, parsed: Extract<ParsedTopic, { kind: 'telemetry' }>, payload: Buffer): undefined {
    const now = Date.now();
    const props = parsed.properties;
    const created = props[CREATION_TIME_PROPERTY] ?? undefined;
    this.opts.stats.recordTelemetry(s.key, payload.length, created, now);
    const device = this.opts.registry.get(s.deviceId);
    if (device === undefined || payload.length > LAST_VALUE_BODY_BYTES || payload[0] !== 0x7b /* { */) return undefined;
    let body: unknown;
    try {
      body = parseWireJson(payload.toString('utf8'));
    } catch {
      return undefined; // not JSON we keep: counted, but no last value to keep
    }
    if (!isJsonObject(body)) return undefined;
    const component = props[systemProperty.component] ?? '';
    const timestamp = created ?? new Date(now).toISOString();
    let kept = true;
    for (const [name, value] of Object.entries(body)) {
      kept = this.opts.registry.recordLastValue(device, s.moduleId, component, name, value, timestamp) && kept;
    }
    if (!kept) this.reject('telemetryNameCap', s.client, `"${s.key}" sent more telemetry names than are kept`);
    return undefined;
  }

  private twinOf(s: HubSession) {
    return this.opts.registry.twinOf(s.deviceId, s.moduleId);
  }

  private twinGet(s: HubSession, rid: string): undefined {
    this.opts.stats.of(s.key).twinGets += 1;
    const twin = this.twinOf(s);
    if (twin === undefined) this.send(s, topic.twinResponse(404, rid), '');
    else this.send(s, topic.twinResponse(200, rid), JSON.stringify(twin.toJson()));
    return undefined;
  }

  private twinReported(s: HubSession, rid: string, payload: Buffer): undefined {
    this.opts.stats.of(s.key).twinPatches += 1;
    const twin = this.twinOf(s);
    if (twin === undefined) return void this.send(s, topic.twinResponse(404, rid), '');
    const refuse = (reason: RejectionReason, message: string) => {
      this.reject(reason, s.client, message);
      this.send(s, topic.twinResponse(400, rid), JSON.stringify({ message }));
    };
    let patch: unknown;
    try {
      patch = parseWireJson(payload.toString('utf8'));
    } catch (err) {
      const problem = err instanceof WireJsonError ? err.problem : 'syntax';
      return void refuse(problem === 'syntax' ? 'badBody' : problem, `the reported patch: ${(err as Error).message}`);
    }
    if (!isJsonObject(patch)) return void refuse('badBody', 'the reported patch must be a JSON object');
    const refusal = twin.reported.apply(patch, new Date().toISOString());
    if (refusal !== undefined) {
      return void refuse(refusal === 'tooLarge' ? 'badBody' : refusal, `reported ${TWIN_REFUSAL_MESSAGES[refusal]}`);
    }
    this.send(s, topic.twinResponse(204, rid, twin.reported.version), '');
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
        body = parseWireJson(text) as Json;
      } catch (err) {
        // Kept as the text it is: a string can reach no prototype.
        if (err instanceof WireJsonError && err.problem !== 'syntax') {
          this.reject(err.problem, s.client, `method response: ${err.message}`);
        }
        body = text;
      }
    }
    pending.resolve({ status, payload: body });
    return undefined;
  }

  // ---- DPS ----------------------------------------------------------------------------------------------

  private dpsError(s: DpsSession, rid: string, status: number, message: string, retryAfterSeconds?: number): undefined {
    const body: DpsErrorBody = {
      errorCode: status * 1000 + 2,
      trackingId: randomUUID(),
      message,
      timestampUtc: new Date().toISOString(),
    };
    this.send(s, topic.dpsResponse(status, rid, retryAfterSeconds), JSON.stringify(body));
    return undefined;
  }

  private dpsRegister(s: DpsSession, rid: string, payload: Buffer): undefined {
    this.opts.stats.countDps('registrations');
    let request;
    try {
      request = parseRegisterRequest(payload);
    } catch (err) {
      const problem = (err as DpsBodyError).problem;
      const reason = problem === 'tooDeep' || problem === 'prototypeKey' ? problem : 'badBody';
      this.reject(reason, s.client, (err as Error).message);
      return this.dpsError(s, rid, 400, (err as Error).message);
    }
    if (request.registrationId !== s.registrationId) {
      const given = request.registrationId.slice(0, 128);
      return this.dpsError(s, rid, 400, `registrationId "${given}" is not the connected "${s.registrationId}"`);
    }
    const kept = assignmentInput(request.payload);
    if (typeof kept === 'string') {
      this.reject('badBody', s.client, kept);
      return this.dpsError(s, rid, 400, kept);
    }
    const op = this.operations.start({
      registrationId: s.registrationId,
      group: s.group,
      ...(s.keys === undefined ? {} : { keys: s.keys }),
      ...kept,
    });
    if (op === undefined) {
      this.reject('dpsOperationCap', s.client, `${this.operations.size} registrations in progress`);
      const retryAfter = Math.max(1, this.opts.dpsRetryAfterSeconds);
      return this.dpsError(s, rid, 429, 'too many registrations in progress, retry later', retryAfter);
    }
    const body: RegistrationOperationStatus = { operationId: op.operationId, status: 'assigning' };
    this.send(s, topic.dpsResponse(202, rid, this.opts.dpsRetryAfterSeconds), JSON.stringify(body));
    return undefined;
  }

  private dpsPoll(s: DpsSession, rid: string, operationId: string): undefined {
    this.opts.stats.countDps('polls');
    const op = this.operations.get(operationId, s.registrationId);
    if (op === undefined) return this.dpsError(s, rid, 404, `operation "${operationId.slice(0, 200)}" not found`);
    op.result ??= this.assign(op);
    this.send(s, topic.dpsResponse(200, rid), JSON.stringify(op.result));
    return undefined;
  }

  /** The device a registration makes or updates, as an enrollment group with static allocation does. */
  private registeredDevice(op: DpsOperation): DeviceIdentity {
    const registry = this.opts.registry;
    const device = registry.get(op.registrationId);
    if (device === undefined) {
      return registry.create({
        id: op.registrationId,
        iotEdge: op.group === 'edgeDevices',
        ...(op.modelId === undefined ? {} : { modelId: op.modelId }),
        authentication: op.group === 'x509' ? { type: 'x509CA' } : { type: 'sas', keys: op.keys as SymmetricKeys },
      });
    }
    if (op.group === 'edgeDevices') registry.makeIotEdge(device);
    if (op.group === 'x509') device.authentication = { type: 'x509CA' };
    else if (op.keys !== undefined) device.authentication = { type: 'sas', keys: op.keys };
    if (op.modelId !== undefined) device.modelId = op.modelId;
    registry.changed(device);
    return device;
  }

  /** Assigns a registration to the hub; what was assigned is recorded before the answer says so. */
  private assign(op: DpsOperation): RegistrationOperationStatus {
    const now = new Date().toISOString();
    const substatus =
      this.opts.registry.get(op.registrationId) === undefined
        ? 'initialAssignment'
        : 'reprovisionedToInitialAssignment';
    const device = this.registeredDevice(op);
    if (!device.enabled) {
      this.opts.stats.countDps('failed');
      return {
        operationId: op.operationId,
        status: 'disabled',
        registrationState: {
          registrationId: op.registrationId,
          status: 'disabled',
          errorCode: 401003,
          errorMessage: 'device is disabled',
        },
      };
    }
    if (op.gateway !== undefined) device.gateway = op.gateway;
    device.provisioned = true;
    this.opts.registry.changed(device);
    this.opts.stats.countDps('assigned');
    this.recordRegistration(op, device, substatus, now);
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

  private recordRegistration(op: DpsOperation, device: DeviceIdentity, substatus: string, now: string): void {
    const registration: DpsRegistration = {
      registrationId: op.registrationId,
      group: op.group,
      ...(op.modelId === undefined ? {} : { modelId: op.modelId }),
      ...(op.gateway === undefined ? {} : { gateway: op.gateway }),
      deviceId: device.id,
      assignedHub: this.assignedHub(),
      substatus,
      createdAt: this.registrations.get(op.registrationId)?.createdAt ?? now,
      updatedAt: now,
    };
    this.registrations.set(op.registrationId, registration);
    this.opts.journal.dpsRegistration(op.registrationId);
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
    this.send(s, topic.desiredPatch(patch.$version as number), JSON.stringify(patch));
  }

  invokeMethod(
    deviceId: string,
    moduleId: string | undefined,
    name: string,
    payload: Json,
    timeoutMs: number,
  ): Promise<MethodResult> {
    const s = this.session(deviceId, moduleId);
    const who = moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`;
    if (s === undefined || !s.subscribed.has('methods')) {
      const message = `"${who}" is not connected or not subscribed to methods`;
      return Promise.reject(new ServiceError(404, 'DeviceNotOnline', message));
    }
    this.opts.stats.of(s.key).methodCalls += 1;
    const rid = (++this.ridCounter).toString(16);
    return new Promise<MethodResult>((resolve, reject) => {
      if (!this.send(s, topic.methodRequest(name, rid), payload === undefined ? '' : JSON.stringify(payload))) {
        return reject(new ServiceError(404, 'DeviceNotOnline', `"${who}" was dropped: it left its replies unread`));
      }
      const timer = setTimeout(() => {
        s.pendingMethods.delete(rid);
        const message = `"${who}" did not answer "${name}" within ${timeoutMs / 1000} s`;
        reject(new ServiceError(504, 'GatewayTimeout', message));
      }, timeoutMs);
      s.pendingMethods.set(rid, { resolve, reject, timer });
    });
  }

  /** Delivers now when the device listens, otherwise queues; at most C2D_QUEUE_LIMIT pending either way. */
  sendC2D(deviceId: string, body: Buffer, properties: Record<string, string>): 'delivered' | 'queued' {
    const s = this.session(deviceId);
    const queue = this.c2dQueues.get(deviceId) ?? [];
    if (queue.length + (s?.c2dInFlight.length ?? 0) >= C2D_QUEUE_LIMIT) {
      const message = `"${deviceId}" already has ${C2D_QUEUE_LIMIT} messages pending`;
      throw new ServiceError(403, 'DeviceMaximumQueueDepthExceeded', message);
    }
    this.opts.journal.c2d(deviceId);
    if (s !== undefined && s.subscribed.has('c2d') && queue.length === 0 && this.deliverC2D(s, { body, properties })) {
      return 'delivered';
    }
    queue.push({ body, properties });
    this.c2dQueues.set(deviceId, queue);
    return 'queued';
  }

  /** The device's C2D messages not yet completed, in flight first: what a restart must still deliver. */
  pendingC2D(deviceId: string): C2dMessage[] {
    return [...(this.session(deviceId)?.c2dInFlight ?? []), ...(this.c2dQueues.get(deviceId) ?? [])];
  }

  /** Puts back recorded C2D messages, to be delivered when the device subscribes. */
  restoreC2D(deviceId: string, messages: C2dMessage[]): void {
    if (messages.length > 0) this.c2dQueues.set(deviceId, messages);
  }

  /** Puts back a recorded DPS registration. */
  restoreRegistration(registration: DpsRegistration): void {
    this.registrations.set(registration.registrationId, registration);
  }

  forgetDevice(deviceId: string): void {
    if (this.c2dQueues.delete(deviceId)) this.opts.journal.c2d(deviceId);
    if (this.registrations.delete(deviceId)) this.opts.journal.dpsRegistration(deviceId);
  }

  /**
   * Takes identities away for a while (an outage, as a network partition would): their connections close now, and
   * CONNECTs from them get CONNACK 3 (server unavailable) until it ends. Returns how many connections closed.
   */
  startOutage(spec: OutageSpec): number {
    const outage: Outage = {
      deviceIds: new Set(spec.deviceIds ?? []),
      idPrefix: spec.idPrefix,
      until: Date.now() + spec.durationMs,
    };
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

  private deliverC2D(s: HubSession, m: C2dMessage): boolean {
    const bag = {
      [systemProperty.messageId]: randomUUID(),
      [systemProperty.to]: `/devices/${s.deviceId}/messages/devicebound`,
      ...m.properties,
    };
    if (!this.send(s, topic.c2d(s.deviceId, bag), m.body, 1)) return false;
    this.opts.stats.of(s.key).c2dSent += 1;
    s.c2dInFlight.push(m);
    return true;
  }

  /** A PUBACK: only C2D goes out at QoS 1, and acknowledgements come in order, so it completes the oldest. */
  private onAck(client: Client): void {
    const s = this.sessions.get(client);
    if (s?.kind !== 'hub' || s.c2dInFlight.shift() === undefined) return;
    this.opts.journal.c2d(s.deviceId);
    this.opts.stats.of(s.key).c2dCompleted += 1;
    this.flushC2D(s);
  }

  private flushC2D(s: HubSession): void {
    const queue = this.c2dQueues.get(s.deviceId);
    while (queue !== undefined && queue.length > 0 && !s.dropped) {
      if (!this.deliverC2D(s, queue[0] as C2dMessage)) break;
      queue.shift();
    }
    if (queue?.length === 0) this.c2dQueues.delete(s.deviceId);
  }

  /**
   * Messages a closed connection never completed go back to the front of the queue, as IoT Hub redelivers them
   * (in flight and waiting together stay within C2D_QUEUE_LIMIT).
   */
  private requeueC2D(s: HubSession): void {
    if (s.c2dInFlight.length === 0 || s.moduleId !== undefined) return;
    if (this.opts.registry.get(s.deviceId) === undefined) return; // deleted: its messages went with it
    this.c2dQueues.set(s.deviceId, [...s.c2dInFlight, ...(this.c2dQueues.get(s.deviceId) ?? [])]);
    s.c2dInFlight = [];
    this.opts.journal.c2d(s.deviceId);
  }
}

/** What assignment needs from a register payload, copied out (the payload itself is not kept), or why it is refused. */
function assignmentInput(payload: RegisterPayload | undefined): { modelId?: string; gateway?: IotcGateway } | string {
  const modelId = modelIdOf(payload);
  if (modelId !== undefined && modelId.length > MAX_MODEL_ID_LENGTH) {
    return `payload.modelId is over ${MAX_MODEL_ID_LENGTH} characters`;
  }
  const gw = payload?.iotcGateway;
  if (gw !== undefined && (gw.iotcGatewayId.length > 128 || (gw.iotcModuleId?.length ?? 0) > 128)) {
    return 'payload.iotcGateway ids are at most 128 characters';
  }
  const gateway =
    gw === undefined
      ? undefined
      : {
          iotcGatewayId: gw.iotcGatewayId,
          ...(gw.iotcModuleId === undefined ? {} : { iotcModuleId: gw.iotcModuleId }),
        };
  return { ...(modelId === undefined ? {} : { modelId }), ...(gateway === undefined ? {} : { gateway }) };
}

function matchesOutage(outage: Outage, deviceId: string): boolean {
  return outage.deviceIds.has(deviceId) || (outage.idPrefix !== undefined && deviceId.startsWith(outage.idPrefix));
}
