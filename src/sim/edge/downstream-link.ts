// One downstream device connected to a gateway's edgeHub: its upstream connection as itself (a token signed with
// its own key, as edgeHub does with MQTT upstream), and the relay both ways — telemetry through edgeHub's routes,
// twin GET and reported PATCH up, desired patches, direct methods and C2D down, method responses up.
import { Duplex } from 'node:stream';
import type { Client, PublishPacket } from 'aedes';
import {
  CREATION_TIME_PROPERTY,
  parseMethodPayload,
  parseTopic,
  topic,
  type PropertyBag,
} from '../../protocol/index.js';
import { classify, ClassifiedError } from '../../transport/errors.js';
import { failureOf, RetryState } from '../../transport/retry-policy.js';
import type { SimContext } from '../context.js';
import { HubClient, type HubCredential } from '../hub-client.js';
import { TelemetryPacer } from '../telemetry-pacer.js';
import type { EdgeHub, UpstreamLeg } from './edge-hub.js';
import { checkOutage, type HubEndpoint } from './module-identity.js';

const TOKEN_TTL_SECONDS = 3600;
const NO_EVENTS = { tick: () => [] };
const noop = () => {};

/** Two connected in-memory streams: what one writes, the other reads (real MQTT bytes, no socket). */
export function duplexPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const end = (peer: () => Duplex) =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        const other = peer();
        if (!other.destroyed) other.push(chunk);
        callback();
      },
      final(callback) {
        const other = peer();
        if (!other.destroyed) other.push(null);
        callback();
      },
      destroy(err, callback) {
        const other = peer();
        if (!other.destroyed) other.destroy();
        callback(err);
      },
    });
  ends.push(
    end(() => ends[1]!),
    end(() => ends[0]!),
  );
  return [ends[0]!, ends[1]!];
}

function publishTo(client: Client, topicName: string, payload: Buffer | string, qos: 0 | 1 = 0): void {
  if (client.closed) return;
  client.publish(
    {
      cmd: 'publish',
      topic: topicName,
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
      qos,
      retain: false,
      dup: false,
    },
    noop,
  );
}

export interface DownstreamLinkOptions {
  deviceId: string;
  gatewayId: string;
  endpoint: HubEndpoint;
  credential: HubCredential;
  /** The device's own ledger hook (in-process devices): edgeHub took its oldest message in flight. */
  takenOver?: () => void;
  /**
   * The upstream connection was refused for good (the identity is gone): the gateway closes the device's
   * connection.
   */
  onUpstreamLost(link: DownstreamLink): void;
}

export class DownstreamLink implements UpstreamLeg {
  readonly pacer: TelemetryPacer;
  private upstream: HubClient | undefined;
  private closed = false;
  private readonly recovery = new RetryState();
  private retryTimer: { cancel(): void } | undefined;
  private readonly random: () => number;
  private c2dWaiters: (() => void)[] = [];

  private constructor(
    private readonly ctx: SimContext,
    private readonly edgeHub: EdgeHub,
    private readonly child: Client,
    private readonly opts: DownstreamLinkOptions,
    random: () => number,
  ) {
    this.pacer = new TelemetryPacer(ctx, opts.deviceId, random, 0, NO_EVENTS);
    this.random = random;
  }

  /** Opens the upstream connection as the device; rejects when the hub refuses it. */
  static async open(
    ctx: SimContext,
    edgeHub: EdgeHub,
    child: Client,
    opts: DownstreamLinkOptions,
    random: () => number,
  ): Promise<DownstreamLink> {
    const link = new DownstreamLink(ctx, edgeHub, child, opts, random);
    link.upstream = await link.connectUpstream();
    return link;
  }

  private connectUpstream(): Promise<HubClient> {
    const { ctx, opts } = this;
    const { endpoint } = opts;
    checkOutage(ctx, endpoint);
    return HubClient.connect(
      ctx,
      {
        identity: { deviceId: opts.deviceId },
        hubHost: endpoint.hubHost,
        dial: endpoint.mqtt,
        credential: opts.credential,
        ...(endpoint.caPem === undefined ? {} : { caPem: endpoint.caPem }),
        ...(endpoint.localAddress === undefined ? {} : { localAddress: endpoint.localAddress }),
        tokenTtlSeconds: TOKEN_TTL_SECONDS,
        // C2D completes upstream when the device completes it (its PUBACK), or is abandoned after the timeout.
        relayC2D: (payload, properties) => this.relayC2D(payload, properties),
      },
      {
        onDesired: (patch, version) => publishTo(this.child, topic.desiredPatch(version), JSON.stringify(patch)),
        onMethod: (name, rid, payload) => publishTo(this.child, topic.methodRequest(name, rid), payload),
        onLost: (err) => this.upstreamLost(err),
      },
    );
  }

  /**
   * The device stays connected to edgeHub, which stores its messages until the upstream is back: what was on the
   * wire goes back into the store first (edgeHub resends it, as the real one does).
   */
  private upstreamLost(err: ClassifiedError): void {
    if (this.closed || this.upstream === undefined) return;
    this.upstream = undefined;
    this.edgeHub.upstreamDown(this);
    this.retry(err);
  }

  /** The upstream connection goes abruptly (a network outage); the device stays, and the leg reconnects. */
  dropUpstream(): void {
    const hub = this.upstream;
    if (hub === undefined) return;
    void hub
      .close(true)
      .catch(noop)
      .then(() => {
        if (this.upstream === hub)
          this.upstreamLost(new ClassifiedError('network', 'connection dropped by the profile'));
      });
  }

  /**
   * Reconnects the upstream leg as the retry policy says; an identity the hub refuses closes the device's
   * connection (edgeHub cannot register it again: the device does, when it is refused in turn).
   */
  private retry(err: ClassifiedError): void {
    if (this.closed) return;
    const who = `${this.opts.deviceId} (through ${this.opts.gatewayId})`;
    const decision = this.recovery.next(
      {
        ...failureOf(err),
        phase: 'reconnect',
        assignedBy: 'gateway',
        hadAssignment: true,
      },
      this.random,
    );
    if (decision.action === 'giveUp') {
      this.ctx.metrics.recordError(err.errorClass, `${who}: ${decision.reason}: ${err.message}`, 'connect');
      return this.opts.onUpstreamLost(this);
    }
    this.ctx.metrics.recordError(err.errorClass, `${who}: ${err.message}`, 'connect');
    this.retryTimer = this.ctx.scheduler.after(decision.delayMs, async () => {
      this.retryTimer = undefined;
      if (this.closed) return;
      try {
        const hub = await this.connectUpstream();
        if (this.closed) return void hub.close(true).catch(noop);
        this.upstream = hub;
        this.recovery.connected();
        this.edgeHub.upstreamBack(this);
      } catch (e) {
        this.retry(classify(e));
      }
    });
  }

  private relayC2D(payload: Buffer, properties: PropertyBag): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.ctx.scheduler.after(this.ctx.mqtt.operationTimeoutMs, () => {
        this.c2dWaiters = this.c2dWaiters.filter((w) => w !== complete);
        resolve();
      });
      const complete = () => {
        timer.cancel();
        resolve();
      };
      this.c2dWaiters.push(complete);
      publishTo(this.child, topic.c2d(this.opts.deviceId, properties), payload, 1);
    });
  }

  /** The device PUBACKed a C2D message: the oldest one waiting completes (QoS 1 acknowledgements keep order). */
  c2dCompleted(): void {
    this.c2dWaiters.shift()?.();
  }

  get identity(): string {
    return this.opts.deviceId;
  }

  get link(): { hub: HubClient | undefined; identity: string } {
    return { hub: this.upstream?.connected ? this.upstream : undefined, identity: this.opts.deviceId };
  }

  /** A packet the device published; a string says why it is refused. */
  fromChild(packet: PublishPacket): string | undefined {
    const parsed = parseTopic(packet.topic);
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    switch (parsed?.kind) {
      case 'telemetry': {
        if (parsed.deviceId !== this.opts.deviceId || parsed.moduleId !== undefined)
          return `${this.opts.deviceId} may not send as ${parsed.deviceId}`;
        return this.telemetry(payload, parsed.properties, packet.qos === 1) ? undefined : 'edgeHub is stopping';
      }
      case 'twinGet':
        void this.twinGet(parsed.rid);
        return undefined;
      case 'twinReportedPatch':
        void this.twinPatch(parsed.rid, payload);
        return undefined;
      case 'methodResponse': {
        this.upstream?.respondMethod(parsed.rid, parsed.status, parseMethodPayload(payload));
        return undefined;
      }
      default:
        return `topic "${packet.topic.slice(0, 120)}" is not something a device publishes`;
    }
  }

  /** False when edgeHub took nothing (it is stopping): the device's own ledger keeps the message. */
  private telemetry(body: Buffer, properties: PropertyBag, acknowledged: boolean): boolean {
    const created = properties[CREATION_TIME_PROPERTY];
    const parsedTime = typeof created === 'string' ? Date.parse(created) : Number.NaN;
    const intended = Number.isFinite(parsedTime) ? parsedTime : this.ctx.scheduler.now();
    const handedOver = acknowledged && this.opts.takenOver !== undefined;
    if (!this.edgeHub.forwardFromDevice(this, this.opts.deviceId, body, properties, intended, handedOver)) return false;
    // From here on the outcome is the upstream leg's (the device's PUBACK for it counts nothing).
    if (handedOver) this.opts.takenOver!();
    return true;
  }

  private async twinGet(rid: string): Promise<void> {
    const hub = this.upstream;
    if (hub === undefined) return publishTo(this.child, topic.twinResponse(503, rid), '');
    try {
      const twin = await hub.getTwin();
      publishTo(this.child, topic.twinResponse(200, rid), JSON.stringify(twin));
    } catch (err) {
      publishTo(this.child, topic.twinResponse(statusOf(err), rid), '');
    }
  }

  private async twinPatch(rid: string, payload: Buffer): Promise<void> {
    const hub = this.upstream;
    if (hub === undefined) return publishTo(this.child, topic.twinResponse(503, rid), '');
    let patch: Record<string, unknown>;
    try {
      patch = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
    } catch {
      return publishTo(this.child, topic.twinResponse(400, rid), '');
    }
    try {
      const version = await hub.patchReported(patch);
      publishTo(this.child, topic.twinResponse(204, rid, version), '');
    } catch (err) {
      publishTo(this.child, topic.twinResponse(statusOf(err), rid), '');
    }
  }

  /** Closes the upstream connection; what is in flight on it is acknowledged first (a graceful close). */
  async close(graceful: boolean): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.retryTimer?.cancel();
    const hub = this.upstream;
    this.upstream = undefined;
    if (!graceful) {
      this.pacer.abandon(); // the run is over: what is in flight stays in flight
      await hub?.close(true).catch(noop);
      return;
    }
    if (hub !== undefined) {
      let timer: { cancel(): void } | undefined;
      const late = new Promise<void>(
        (resolve) => (timer = this.ctx.scheduler.after(this.ctx.mqtt.operationTimeoutMs, () => resolve())),
      );
      await Promise.race([hub.close(false).catch(noop), late]);
      timer?.cancel();
      await hub.close(true).catch(noop);
    }
    this.pacer.connectionLost(`${this.opts.deviceId} left the gateway`);
  }
}

function statusOf(err: unknown): number {
  const e = classify(err);
  return e instanceof ClassifiedError && e.status !== undefined ? e.status : 500;
}
