// The IoT Hub dialect over one MQTT connection, for any identity: a device, an IoT Edge module, edgeAgent,
// edgeHub. Topics and the token are built once per connection; per message only the property bag changes.
import {
  buildHubUsername,
  createSasToken,
  encodePropertyBag,
  filter,
  parseTopic,
  sasResource,
  topic,
  type Identity,
  type PropertyBag,
} from '../protocol/index.js';
import { ClassifiedError, classifyStatus } from '../transport/errors.js';
import { MqttConnection } from '../transport/mqtt-connection.js';
import {
  byteLength,
  traceExcerpt,
  type MessageRing,
  type TracedMessage,
  type TracedStatus,
} from '../metrics/message-ring.js';
import type { SimContext } from './context.js';
import type { Duplex } from 'node:stream';

/** A twin request's answer: its status, the twin's version, a throttled answer's retry-after, the body. */
type TwinAnswer = { status: number; version?: number; retryAfterSeconds?: number; body: Buffer };

export type HubCredential = { kind: 'sas'; key: string } | { kind: 'x509'; certPem: string; keyPem: string };

export interface HubClientOptions {
  identity: Identity;
  /** Host name as the device knows the hub (`host[:port]`), used in the username and token. */
  hubHost: string;
  /** Where to dial (a gateway, or the hub itself). */
  dial: { host: string; port: number; servername?: string };
  credential: HubCredential;
  modelId?: string;
  caPem?: string;
  localAddress?: string;
  tokenTtlSeconds: number;
  /** MQTT over this stream (an in-process gateway) instead of dialling `dial`. */
  stream?: () => Duplex;
  /** C2D messages go here instead of `onC2D`; their completion (PUBACK) waits for the promise (a gateway's child). */
  relayC2D?: (payload: Buffer, properties: PropertyBag) => Promise<void>;
}

export interface HubHandlers {
  onDesired?(patch: Record<string, unknown>, version: number): void;
  onMethod?(name: string, rid: string, payload: Buffer): void;
  onC2D?(payload: Buffer, properties: PropertyBag): void;
  onModuleInput?(input: string, payload: Buffer, properties: PropertyBag): void;
  /** The connection went away without us closing it. */
  onLost?(err: ClassifiedError): void;
}

export interface Twin {
  desired: Record<string, unknown> & { $version: number };
  reported: Record<string, unknown> & { $version: number };
}

type Waiter = {
  resolve: (r: TwinAnswer) => void;
  reject: (e: Error) => void;
  cancel: () => void;
};

function c2dHold(
  relay: (payload: Buffer, properties: PropertyBag) => Promise<void>,
): (t: string, payload: Buffer) => Promise<void> | undefined {
  return (t, payload) => {
    const parsed = parseTopic(t);
    return parsed?.kind === 'c2d' ? relay(payload, parsed.properties) : undefined;
  };
}

/** A SAS token for the identity, valid for the options' TTL from now (expiry in epoch seconds). */
function sasToken(opts: HubClientOptions, key: string): { password: string; expiry: number } {
  const { identity } = opts;
  const expiry = Math.floor(Date.now() / 1000) + opts.tokenTtlSeconds;
  const resourceUri =
    identity.moduleId === undefined
      ? sasResource.device(opts.hubHost, identity.deviceId)
      : sasResource.module(opts.hubHost, identity.deviceId, identity.moduleId);
  return { password: createSasToken({ resourceUri, key, expiry }), expiry };
}

/** The MQTT connection as IoT Hub expects it: client id, username, credential, persistent session. */
function connectOptions(
  ctx: SimContext,
  opts: HubClientOptions,
  password: string | undefined,
): Parameters<typeof MqttConnection.connect>[0] {
  const { identity } = opts;
  return {
    host: opts.dial.host,
    port: opts.dial.port,
    tls: true,
    clientId: identity.moduleId === undefined ? identity.deviceId : `${identity.deviceId}/${identity.moduleId}`,
    clean: false,
    username: buildHubUsername({
      hubHost: opts.hubHost,
      ...identity,
      ...(opts.modelId === undefined ? {} : { modelId: opts.modelId }),
    }),
    ...(password === undefined ? {} : { password }),
    ...(opts.credential.kind === 'x509' ? { cert: opts.credential.certPem, key: opts.credential.keyPem } : {}),
    ...(opts.caPem === undefined ? {} : { ca: opts.caPem }),
    ...(opts.dial.servername === undefined ? {} : { servername: opts.dial.servername }),
    ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }),
    ...(opts.stream === undefined ? {} : { stream: opts.stream }),
    ...(opts.relayC2D === undefined ? {} : { holdAck: c2dHold(opts.relayC2D) }),
    keepaliveSeconds: ctx.mqtt.keepaliveSeconds,
    connectTimeoutMs: ctx.mqtt.connectTimeoutMs,
    // Through a gateway, the gateway's edgeHub answers, not the limited hub.
    limited: ctx.target.kind !== 'mqtt' && ctx.target.limited === true && opts.stream === undefined,
  };
}

/** Records the connect in the drill-down (only while somebody looks), from now until it is settled. */
function connectTracer(ctx: SimContext, identity: Identity): (status: TracedStatus, summary?: string) => void {
  const started = ctx.scheduler.now();
  return (status, summary) =>
    ctx.watch?.of(identity.deviceId)?.add({
      atMs: started,
      direction: 'up',
      kind: 'connect',
      status,
      latencyMs: ctx.scheduler.now() - started,
      ...(identity.moduleId === undefined ? {} : { module: identity.moduleId }),
      ...(summary === undefined ? {} : { summary: traceExcerpt(summary) }),
    });
}

/** Subscribes to what the identity receives; a refused subscription closes the connection. */
async function subscribe(connection: MqttConnection, identity: Identity, handlers: HubHandlers): Promise<void> {
  const filters: string[] = [filter.twinResponses, filter.desiredPatches, filter.methods];
  if (identity.moduleId === undefined) filters.push(filter.c2d(identity.deviceId));
  else if (handlers.onModuleInput) filters.push(filter.moduleInputs(identity.deviceId, identity.moduleId));
  const granted = await connection.subscribe(filters, 1).catch(async (err) => {
    await connection.close(true);
    throw err;
  });
  if (granted.some((q) => q === 128)) {
    await connection.close(true);
    const refused = filters.filter((_, i) => granted[i] === 128).join(', ');
    throw new ClassifiedError('protocol', `subscription refused: ${refused}`);
  }
}

export class HubClient {
  /** Epoch seconds at which the token expires (SAS only). */
  readonly tokenExpiry: number | undefined;
  private readonly telemetryPrefix: string;
  private readonly waiters = new Map<string, Waiter>();
  private rid = 0;
  /** Traced messages (drill-down) still waiting on this connection, and method requests not yet answered. */
  private traced: Set<TracedMessage> | undefined;
  private tracedMethods: Map<string, TracedMessage> | undefined;

  private constructor(
    private readonly ctx: SimContext,
    private readonly connection: MqttConnection,
    readonly identity: Identity,
    tokenExpiry: number | undefined,
  ) {
    this.tokenExpiry = tokenExpiry;
    this.telemetryPrefix = topic.telemetry(identity);
  }

  static async connect(ctx: SimContext, opts: HubClientOptions, handlers: HubHandlers): Promise<HubClient> {
    const { identity } = opts;
    const token = opts.credential.kind === 'sas' ? sasToken(opts, opts.credential.key) : undefined;
    // eslint-disable-next-line prefer-const -- the connection's callbacks read it; it is set once the connection exists
    let client: HubClient | undefined;
    const traceConnect = connectTracer(ctx, identity);
    const connection = await MqttConnection.connect(
      connectOptions(ctx, opts, token?.password),
      (t, payload) => client?.dispatch(t, payload, handlers),
      (err) => {
        client?.failWaiters(err);
        client?.settleTraced('lost', err.message);
        handlers.onLost?.(err);
      },
    ).catch((err: Error) => {
      traceConnect('failed', err.message);
      throw err;
    });
    client = new HubClient(ctx, connection, identity, token?.expiry);
    // A socket of ours (not an in-process stream to a gateway): a network event can cut it.
    if (opts.stream === undefined) ctx.connections?.opened(identity.deviceId, connection.client.stream, 'hub');
    await subscribe(connection, identity, handlers);
    traceConnect('acked');
    return client;
  }

  get connected(): boolean {
    return this.connection.connected;
  }

  private dispatch(t: string, payload: Buffer, handlers: HubHandlers): void {
    const parsed = parseTopic(t);
    if (parsed === undefined) return;
    switch (parsed.kind) {
      case 'twinResponse':
        this.twinResponse(parsed, payload);
        return;
      case 'desiredPatch':
        this.desiredPatch(parsed.version, payload, handlers);
        return;
      case 'methodRequest': {
        this.traceMethod(parsed.rid, parsed.name, payload);
        handlers.onMethod?.(parsed.name, parsed.rid, payload);
        return;
      }
      case 'c2d': {
        this.traceC2D(payload, parsed.properties);
        handlers.onC2D?.(payload, parsed.properties);
        return;
      }
      case 'moduleInput':
        this.ring()?.add(
          this.down('input', 'received', payload, `${parsed.input}: ${payload.subarray(0, 120).toString('utf8')}`),
        );
        handlers.onModuleInput?.(parsed.input, payload, parsed.properties);
        return;
      default:
    }
  }

  private twinResponse(
    r: { rid: string; status: number; version?: number; retryAfterSeconds?: number },
    body: Buffer,
  ): void {
    const waiter = this.waiters.get(r.rid);
    if (waiter === undefined) return;
    this.waiters.delete(r.rid);
    waiter.cancel();
    const { rid: _rid, ...answer } = r;
    waiter.resolve({ ...answer, body });
  }

  private desiredPatch(version: number, payload: Buffer, handlers: HubHandlers): void {
    let patch: unknown;
    try {
      patch = JSON.parse(payload.toString('utf8'));
    } catch {
      this.ctx.log('warn', `${this.who()}: desired patch that is not JSON`);
      return;
    }
    const ring = this.ring();
    if (ring !== undefined) {
      const names = Object.keys(patch as object).filter((k) => k !== '$version');
      ring.add(this.down('desired', 'received', payload, `v${version} ${names.join(', ')}`));
    }
    handlers.onDesired?.(patch as Record<string, unknown>, version);
  }

  // ---- the drill-down's record of this identity's messages (only while somebody looks) ----

  private ring(): MessageRing | undefined {
    return this.ctx.watch?.of(this.identity.deviceId);
  }

  private down(kind: string, status: TracedStatus, payload: Buffer, summary: string | Buffer): TracedMessage {
    return {
      atMs: this.ctx.scheduler.now(),
      direction: 'down',
      kind,
      status,
      bytes: payload.length,
      latencyMs: null,
      summary: traceExcerpt(summary),
      ...(this.identity.moduleId === undefined ? {} : { module: this.identity.moduleId }),
    };
  }

  /** A method request, kept until it is answered (respondMethod settles it). */
  private traceMethod(rid: string, name: string, payload: Buffer): void {
    const ring = this.ring();
    if (ring === undefined) return;
    const asked = (this.tracedMethods ??= new Map());
    if (asked.size >= ring.capacity) asked.clear(); // never answered: forget them rather than grow
    asked.set(rid, ring.add(this.down('command', 'received', payload, name)));
  }

  private traceC2D(payload: Buffer, properties: PropertyBag): void {
    const ring = this.ring();
    if (ring === undefined) return;
    // Stamped with its send time by an edgefleet action: the delivery latency.
    const sentAt = Number(properties['edgefleet-sent-at']);
    const m = ring.add(this.down('c2d', 'received', payload, payload));
    if (Number.isFinite(sentAt)) m.latencyMs = m.atMs - sentAt;
  }

  /** Records an outgoing message; the returned function settles it (acknowledged, failed). */
  private up(
    kind: string,
    body: string | Buffer,
    summary: string | Buffer,
  ): ((status: TracedStatus, error?: string) => void) | undefined {
    const ring = this.ring();
    if (ring === undefined) return undefined;
    const m = ring.add({
      atMs: this.ctx.scheduler.now(),
      direction: 'up',
      kind,
      status: 'pending',
      bytes: byteLength(body),
      latencyMs: null,
      summary: traceExcerpt(summary),
      ...(this.identity.moduleId === undefined ? {} : { module: this.identity.moduleId }),
    });
    const pending = (this.traced ??= new Set());
    pending.add(m);
    return (status, error) => {
      if (!pending.delete(m)) return;
      m.status = status;
      m.latencyMs = this.ctx.scheduler.now() - m.atMs;
      if (error !== undefined) m.summary = traceExcerpt(error);
    };
  }

  /** The connection went: what was traced and not settled on it never will be. */
  private settleTraced(status: TracedStatus, why: string): void {
    if (this.traced === undefined) return;
    for (const m of this.traced) {
      m.status = status;
      m.summary = traceExcerpt(why);
    }
    this.traced.clear();
  }

  private who(): string {
    return this.identity.moduleId === undefined
      ? this.identity.deviceId
      : `${this.identity.deviceId}/${this.identity.moduleId}`;
  }

  private request(topicFor: (rid: string) => string, body: string): Promise<TwinAnswer> {
    const rid = (++this.rid).toString(36);
    return new Promise((resolve, reject) => {
      const timeout = this.ctx.scheduler.after(this.ctx.mqtt.operationTimeoutMs, () => {
        if (!this.waiters.delete(rid)) return;
        reject(
          new ClassifiedError(
            'timeout',
            `${this.who()}: no twin response within ${this.ctx.mqtt.operationTimeoutMs} ms`,
          ),
        );
      });
      this.waiters.set(rid, { resolve, reject, cancel: () => timeout.cancel() });
      this.connection.publish(topicFor(rid), body, 0);
    });
  }

  private failWaiters(err: Error): void {
    for (const w of this.waiters.values()) {
      w.cancel();
      w.reject(err);
    }
    this.waiters.clear();
  }

  async getTwin(): Promise<Twin> {
    const settle = this.up('twinGet', '', 'GET');
    try {
      const r = await this.request(topic.twinGet, '');
      if (r.status !== 200) throw classifyStatus(r.status, `${this.who()}: twin GET`, r.retryAfterSeconds);
      settle?.('acked');
      return JSON.parse(r.body.toString('utf8')) as Twin;
    } catch (err) {
      settle?.('failed', (err as Error).message);
      throw err;
    }
  }

  /** Resolves with the new reported version. */
  async patchReported(patch: Record<string, unknown>): Promise<number> {
    const body = JSON.stringify(patch);
    // A patch that carries `av` acknowledges a desired version (a writable property); looked at only when watched.
    const settle =
      this.ring() === undefined ? undefined : this.up(body.includes('"av":') ? 'desiredAck' : 'reported', body, body);
    try {
      const r = await this.request(topic.twinReportedPatch, body);
      if (r.status !== 204 && r.status !== 200) {
        throw classifyStatus(r.status, `${this.who()}: reported PATCH`, r.retryAfterSeconds);
      }
      settle?.('acked');
      return r.version ?? 0;
    } catch (err) {
      settle?.('failed', (err as Error).message);
      throw err;
    }
  }

  /** The telemetry topic before its property bag (`devices/{id}/messages/events/`). */
  get telemetryTopic(): string {
    return this.telemetryPrefix;
  }

  /** Sends telemetry on a topic the caller built (from telemetryTopic and its bag); `done` as sendTelemetry. */
  publishTelemetry(topicWithBag: string, body: string | Buffer, qos: 0 | 1, done: (err?: Error) => void): void {
    const settle = this.up('telemetry', body, body);
    const callback =
      settle === undefined
        ? done
        : (err?: Error) => {
            settle(err ? 'failed' : qos === 1 ? 'acked' : 'sent', err?.message);
            done(err);
          };
    this.connection.publish(topicWithBag, body, qos, callback);
  }

  /** Sends telemetry; `done` runs on PUBACK (QoS 1) or when written (QoS 0). */
  sendTelemetry(body: string | Buffer, properties: PropertyBag, qos: 0 | 1, done: (err?: Error) => void): void {
    this.publishTelemetry(this.telemetryPrefix + encodePropertyBag(properties), body, qos, done);
  }

  respondMethod(rid: string, status: number, body: unknown): void {
    const m = this.tracedMethods?.get(rid);
    if (m !== undefined) {
      this.tracedMethods!.delete(rid);
      m.status = 'answered';
      m.latencyMs = this.ctx.scheduler.now() - m.atMs;
      m.summary = traceExcerpt(`${m.summary ?? ''} → ${status}`);
    }
    this.connection.publish(topic.methodResponse(status, rid), body === undefined ? '' : JSON.stringify(body), 0);
  }

  close(force = false): Promise<void> {
    if (this.waiters.size > 0) this.failWaiters(new ClassifiedError('network', `${this.who()}: closed`));
    return this.connection.close(force);
  }
}
