// The IoT Hub dialect over one MQTT connection, for any identity: a device, an IoT Edge module, edgeAgent,
// edgeHub. Topics and the token are built once per connection; per message only the property bag changes.
import {
  buildHubUsername, createSasToken, encodePropertyBag, filter, parseTopic, sasResource, topic,
  type Identity, type PropertyBag,
} from '../protocol/index.js';
import { ClassifiedError, classifyStatus } from '../transport/errors.js';
import { MqttConnection } from '../transport/mqtt-connection.js';
import type { SimContext } from './context.js';

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

type Waiter = { resolve: (r: { status: number; version?: number; body: Buffer }) => void; reject: (e: Error) => void; cancel: () => void };

export class HubClient {
  /** Epoch seconds at which the token expires (SAS only). */
  readonly tokenExpiry: number | undefined;
  private readonly telemetryPrefix: string;
  private readonly waiters = new Map<string, Waiter>();
  private rid = 0;

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
    const clientId = identity.moduleId === undefined ? identity.deviceId : `${identity.deviceId}/${identity.moduleId}`;
    let password: string | undefined;
    let tokenExpiry: number | undefined;
    if (opts.credential.kind === 'sas') {
      tokenExpiry = Math.floor(Date.now() / 1000) + opts.tokenTtlSeconds;
      const resourceUri = identity.moduleId === undefined
        ? sasResource.device(opts.hubHost, identity.deviceId)
        : sasResource.module(opts.hubHost, identity.deviceId, identity.moduleId);
      password = createSasToken({ resourceUri, key: opts.credential.key, expiry: tokenExpiry });
    }
    let client: HubClient | undefined;
    const connection = await MqttConnection.connect(
      {
        host: opts.dial.host, port: opts.dial.port, tls: true, clientId, clean: false,
        username: buildHubUsername({ hubHost: opts.hubHost, ...identity, ...(opts.modelId === undefined ? {} : { modelId: opts.modelId }) }),
        ...(password === undefined ? {} : { password }),
        ...(opts.credential.kind === 'x509' ? { cert: opts.credential.certPem, key: opts.credential.keyPem } : {}),
        ...(opts.caPem === undefined ? {} : { ca: opts.caPem }),
        ...(opts.dial.servername === undefined ? {} : { servername: opts.dial.servername }),
        ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }),
        keepaliveSeconds: ctx.mqtt.keepaliveSeconds,
        connectTimeoutMs: ctx.mqtt.connectTimeoutMs,
      },
      (t, payload) => client?.dispatch(t, payload, handlers),
      (err) => {
        client?.failWaiters(err);
        handlers.onLost?.(err);
      },
    );
    client = new HubClient(ctx, connection, identity, tokenExpiry);
    const filters: string[] = [filter.twinResponses, filter.desiredPatches, filter.methods];
    if (identity.moduleId === undefined) filters.push(filter.c2d(identity.deviceId));
    else if (handlers.onModuleInput) filters.push(filter.moduleInputs(identity.deviceId, identity.moduleId));
    const granted = await connection.subscribe(filters, 1).catch(async (err) => {
      await connection.close(true);
      throw err;
    });
    if (granted.some((q) => q === 128)) {
      await connection.close(true);
      throw new ClassifiedError('protocol', `subscription refused: ${filters.filter((_, i) => granted[i] === 128).join(', ')}`);
    }
    return client;
  }

  get connected(): boolean {
    return this.connection.connected;
  }

  private dispatch(t: string, payload: Buffer, handlers: HubHandlers): void {
    const parsed = parseTopic(t);
    if (parsed === undefined) return;
    switch (parsed.kind) {
      case 'twinResponse': {
        const waiter = this.waiters.get(parsed.rid);
        if (waiter === undefined) return;
        this.waiters.delete(parsed.rid);
        waiter.cancel();
        waiter.resolve({ status: parsed.status, ...(parsed.version === undefined ? {} : { version: parsed.version }), body: payload });
        return;
      }
      case 'desiredPatch': {
        let patch: unknown;
        try {
          patch = JSON.parse(payload.toString('utf8'));
        } catch {
          this.ctx.log('warn', `${this.who()}: desired patch that is not JSON`);
          return;
        }
        handlers.onDesired?.(patch as Record<string, unknown>, parsed.version);
        return;
      }
      case 'methodRequest':
        handlers.onMethod?.(parsed.name, parsed.rid, payload);
        return;
      case 'c2d':
        handlers.onC2D?.(payload, parsed.properties);
        return;
      case 'moduleInput':
        handlers.onModuleInput?.(parsed.input, payload, parsed.properties);
        return;
      default:
    }
  }

  private who(): string {
    return this.identity.moduleId === undefined ? this.identity.deviceId : `${this.identity.deviceId}/${this.identity.moduleId}`;
  }

  private request(topicFor: (rid: string) => string, body: string): Promise<{ status: number; version?: number; body: Buffer }> {
    const rid = (++this.rid).toString(36);
    return new Promise((resolve, reject) => {
      const timeout = this.ctx.scheduler.after(this.ctx.mqtt.operationTimeoutMs, () => {
        if (!this.waiters.delete(rid)) return;
        reject(new ClassifiedError('timeout', `${this.who()}: no twin response within ${this.ctx.mqtt.operationTimeoutMs} ms`));
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
    const r = await this.request(topic.twinGet, '');
    if (r.status !== 200) throw classifyStatus(r.status, `${this.who()}: twin GET`);
    return JSON.parse(r.body.toString('utf8')) as Twin;
  }

  /** Resolves with the new reported version. */
  async patchReported(patch: Record<string, unknown>): Promise<number> {
    const r = await this.request(topic.twinReportedPatch, JSON.stringify(patch));
    if (r.status !== 204 && r.status !== 200) throw classifyStatus(r.status, `${this.who()}: reported PATCH`);
    return r.version ?? 0;
  }

  /** The telemetry topic before its property bag (`devices/{id}/messages/events/`). */
  get telemetryTopic(): string {
    return this.telemetryPrefix;
  }

  /** Sends telemetry on a topic the caller built (from telemetryTopic and its bag); `done` as sendTelemetry. */
  publishTelemetry(topicWithBag: string, body: string | Buffer, qos: 0 | 1, done: (err?: Error) => void): void {
    this.connection.publish(topicWithBag, body, qos, done);
  }

  /** Sends telemetry; `done` runs on PUBACK (QoS 1) or when written (QoS 0). */
  sendTelemetry(body: string | Buffer, properties: PropertyBag, qos: 0 | 1, done: (err?: Error) => void): void {
    this.connection.publish(this.telemetryPrefix + encodePropertyBag(properties), body, qos, done);
  }

  respondMethod(rid: string, status: number, body: unknown): void {
    this.connection.publish(topic.methodResponse(status, rid), body === undefined ? '' : JSON.stringify(body), 0);
  }

  close(force = false): Promise<void> {
    if (this.waiters.size > 0) this.failWaiters(new ClassifiedError('network', `${this.who()}: closed`));
    return this.connection.close(force);
  }
}
