// A simulated device: gets its hub (DPS, or the assignment cache), connects, keeps its twin, answers commands,
// streams telemetry on the worker's scheduler, and recovers as the retry policy says when the connection goes
// away or is refused (a refused assignment registers again through DPS).
import { parseMethodPayload, type PropertyBag } from '../protocol/index.js';
import type { AzureTarget } from '../endpoints/target.js';
import { splitHostPort } from '../endpoints/target.js';
import { classify, ClassifiedError } from '../transport/errors.js';
import type { ScheduledHandle } from '../core/scheduler.js';
import type { SimContext } from './context.js';
import { PacedThing, type DeviceAuth, type DeviceIdentityPlan, type TelemetrySource } from './thing.js';
import { TelemetryTopics } from './telemetry-pacer.js';

export type { DeviceAuth } from './thing.js';
import type { Assignment } from './dps-client.js';
import { HubClient, type HubClientOptions, type HubCredential } from './hub-client.js';
import { acknowledgement } from './writable.js';
import type { GatewayServer } from './edge/gateway-server.js';

/** A downstream device reaches its hub through its gateway's edgeHub, in this process, instead of dialling it. */
export interface GatewayTransport {
  gateway: GatewayServer;
}

export interface CommandReply {
  status: number;
  delayMs: number;
  response: unknown;
}

/** How a device behaves, apart from how many there are and when they arrive (that is the scenario's). */
export interface DeviceBehaviour {
  modelId?: string;
  telemetryIntervalMs: number;
  telemetryQos: 0 | 1;
  telemetry: TelemetrySource;
  /** Reported properties sent once connected (read-only properties of the model, configured values). */
  reported(): Record<string, unknown> | undefined;
  writableAck: { code: number; delayMs: number; description?: string };
  isWritable?: (component: string | undefined, name: string) => boolean;
  command(name: string, request: unknown): CommandReply;
}

const TOKEN_TTL_SECONDS = 3600;
const TOKEN_RENEWAL_MARGIN_SECONDS = 900;

export class SimDevice extends PacedThing {
  private hub: HubClient | undefined;
  private assignment: Assignment | undefined;
  private renewTimer: ScheduledHandle | undefined;

  constructor(
    ctx: SimContext,
    private readonly target: AzureTarget,
    plan: DeviceIdentityPlan,
    private readonly auth: DeviceAuth,
    private readonly behaviour: DeviceBehaviour,
    private readonly transport?: GatewayTransport,
    /** Provisioned as the child of an IoT Edge device's module that connects on its behalf (identity translation). */
    private readonly parent?: { gatewayId: string; moduleId: string },
  ) {
    super(ctx, plan, behaviour.telemetryIntervalMs, behaviour.telemetry);
  }

  /** Schedules arrival. */
  start(): void {
    this.ctx.scheduler.at(this.plan.arrivalAt, (intended) => void this.arrive(intended));
  }

  private arrive(intended: number): Promise<void> {
    // A downstream device provisions directly with DPS, attached to its gateway (IoT Central does not provision
    // through it).
    const gatewayId = this.transport?.gateway.gatewayId ?? this.parent?.gatewayId;
    const moduleId = this.parent?.moduleId;
    const payload =
      this.behaviour.modelId === undefined && gatewayId === undefined
        ? undefined
        : {
            ...(this.behaviour.modelId === undefined ? {} : { modelId: this.behaviour.modelId }),
            ...(gatewayId === undefined
              ? {}
              : {
                  iotcGateway: {
                    iotcGatewayId: gatewayId,
                    ...(moduleId === undefined ? {} : { iotcModuleId: moduleId }),
                  },
                }),
          };
    return this.arriveThrough(this.target, this.auth, payload, intended, (assignment, at) => {
      this.assignment = assignment;
      return this.connect(at);
    });
  }

  private async connect(intended: number): Promise<void> {
    if (this.state === 'stopped' || this.assignment === undefined) return;
    this.setState('connecting');
    const started = this.ctx.scheduler.now();
    const options = this.hubOptions(this.assignment.assignedHub);
    const generation = ++this.generation;
    const gateway = this.transport?.gateway;
    try {
      // At its planned time a downstream device waits for its gateway's edgeHub (bounded), then backs off like any
      // device.
      if (gateway !== undefined && !(await gateway.whenListening(this.ctx.mqtt.connectTimeoutMs))) {
        throw new ClassifiedError('network', `gateway ${gateway.gatewayId}: edgeHub is not listening`);
      }
      if (this.isStopped()) return;
      const hub = await HubClient.connect(this.ctx, options, {
        onDesired: (patch, version) => this.acknowledge(patch, version),
        onMethod: (name, rid, payload) => this.answer(name, rid, payload),
        onC2D: (payload, properties) => this.receiveC2D(payload, properties),
        onLost: (err) => this.lost(generation, err),
      });
      if (this.isStopped()) {
        await hub.close();
        return;
      }
      this.hub = hub;
      this.ctx.metrics.recordLatency('connect', intended, started, this.ctx.scheduler.now());
      this.connectedNow();
      this.setState('connected');
      this.scheduleRenewal(hub);
      this.startTelemetry(hub);
      await this.syncTwin(hub);
    } catch (err) {
      this.recover(classify(err), this.connectedOnce ? 'reconnect' : 'connect', (at) => void this.connect(at));
    }
  }

  /** Where and how this device connects to its assigned hub (directly, or through its gateway's edgeHub). */
  private hubOptions(assignedHub: string): HubClientOptions {
    // A connection string's GatewayHostName is where to dial; the token still names the hub.
    const dial = splitHostPort(
      this.auth.kind === 'direct-sas' && this.auth.gatewayHost !== undefined ? this.auth.gatewayHost : assignedHub,
    );
    const credential: HubCredential =
      this.auth.kind === 'dps-x509'
        ? { kind: 'x509', certPem: this.auth.certPem, keyPem: this.auth.keyPem }
        : { kind: 'sas', key: this.auth.deviceKey };
    const localAddress = this.ctx.localAddress(this.plan.ordinal);
    const gateway = this.transport?.gateway;
    const x509 =
      this.auth.kind === 'dps-x509' ? { x509: { certPem: this.auth.certPem, keyPem: this.auth.keyPem } } : {};
    return {
      identity: { deviceId: this.deviceId },
      hubHost: this.auth.kind === 'direct-sas' ? this.auth.hubHost : assignedHub,
      dial,
      credential,
      ...(this.behaviour.modelId === undefined ? {} : { modelId: this.behaviour.modelId }),
      ...(this.target.caPem === undefined ? {} : { caPem: this.target.caPem }),
      ...(localAddress === undefined ? {} : { localAddress }),
      tokenTtlSeconds: TOKEN_TTL_SECONDS,
      ...(gateway === undefined
        ? {}
        : { stream: () => gateway.open(this.deviceId, { takenOver: () => this.telemetry.takenOver(), ...x509 }) }),
    };
  }

  /** GET the twin, acknowledge what is desired, send the initial reported properties. */
  private async syncTwin(hub: HubClient): Promise<void> {
    const m = this.ctx.metrics;
    try {
      let started = this.ctx.scheduler.now();
      const twin = await hub.getTwin();
      m.recordLatency('twinGet', started, started, this.ctx.scheduler.now());
      this.acknowledge(twin.desired, twin.desired.$version);
      const reported = this.behaviour.reported();
      if (reported !== undefined) {
        started = this.ctx.scheduler.now();
        await hub.patchReported(reported);
        m.recordLatency('reportedPatch', started, started, this.ctx.scheduler.now());
      }
    } catch (err) {
      const e = classify(err);
      if (e.errorClass !== 'throttled') {
        m.recordError(e.errorClass, `${this.deviceId}: ${e.message}`, 'twinGet');
        return;
      }
      // A throttled twin read is asked again on the same connection, after the throttled backoff (or retry-after).
      const decision = this.decide(e, 'twin');
      if (decision === undefined) return;
      this.ctx.scheduler.after(decision.delayMs, () => {
        if (this.hub === hub && this.state === 'connected') void this.syncTwin(hub);
      });
    }
  }

  private acknowledge(desired: Record<string, unknown>, version: number): void {
    const ack = this.behaviour.writableAck;
    const patch = acknowledgement(
      desired,
      version,
      { code: ack.code, description: ack.description ?? 'completed' },
      this.behaviour.isWritable,
    );
    if (patch === undefined) return;
    const send = () => {
      const hub = this.hub;
      if (hub === undefined || this.state !== 'connected') return;
      const started = this.ctx.scheduler.now();
      hub.patchReported(patch).then(
        () => {
          const now = this.ctx.scheduler.now();
          this.ctx.metrics.recordLatency('reportedPatch', started, started, now);
          this.ctx.desiredAcknowledged(this.deviceId, undefined, version, now);
        },
        (err) => {
          const e = classify(err);
          this.ctx.metrics.recordError(e.errorClass, `${this.deviceId}: ${e.message}`, 'reportedPatch');
        },
      );
    };
    if (this.behaviour.writableAck.delayMs > 0) this.ctx.scheduler.after(this.behaviour.writableAck.delayMs, send);
    else send();
  }

  private answer(name: string, rid: string, payload: Buffer): void {
    const request = parseMethodPayload(payload) ?? null;
    const reply = this.behaviour.command(name, request);
    const hub = this.hub;
    const respond = () => {
      if (this.hub === hub && hub?.connected) hub.respondMethod(rid, reply.status, reply.response);
    };
    if (reply.delayMs > 0) this.ctx.scheduler.after(reply.delayMs, respond);
    else respond();
  }

  private receiveC2D(_payload: Buffer, properties: PropertyBag): void {
    // A C2D message stamped with its send time by an edgefleet action measures delivery latency.
    const sentAt = Number(properties['edgefleet-sent-at']);
    if (Number.isFinite(sentAt)) {
      const now = this.ctx.scheduler.now();
      this.ctx.metrics.recordLatency('c2d', sentAt, sentAt, now);
    }
  }

  private scheduleRenewal(hub: HubClient): void {
    this.renewTimer?.cancel();
    if (hub.tokenExpiry === undefined) return;
    const at = (hub.tokenExpiry - TOKEN_RENEWAL_MARGIN_SECONDS) * 1000;
    this.renewTimer = this.ctx.scheduler.at(at, async (intended) => {
      if (this.hub !== hub || this.state !== 'connected') return;
      // The SDKs renew by reconnecting with a new token.
      this.generation++;
      this.hub = undefined;
      this.telemetry.connectionLost('token renewal', this.qos === 1);
      await hub.close();
      await this.connect(intended);
    });
  }

  /** Through a gateway always QoS 1: edgeHub's PUBACK is the hand-over of the message to its upstream leg. */
  private get qos(): 0 | 1 {
    return this.transport === undefined ? this.behaviour.telemetryQos : 1;
  }

  private lost(generation: number, err: ClassifiedError): void {
    if (generation !== this.generation || this.state === 'stopped' || this.state === 'failed') return;
    this.hub = undefined;
    // QoS 1 messages still unacknowledged go again on the next connection; nothing reconnects once quiescing.
    this.telemetry.connectionLost('connection lost before PUBACK', this.qos === 1 && !this.quiescing);
    if (this.quiescing) return;
    this.renewTimer?.cancel();
    this.recover(err, 'reconnect', (at) => void this.connect(at));
  }

  /** Given up: nothing reconnects, and the connection (if any) goes. */
  protected override gaveUp(): void {
    this.renewTimer?.cancel();
    const hub = this.hub;
    this.hub = undefined;
    this.generation++;
    if (hub !== undefined) void hub.close(true);
  }

  private startTelemetry(hub: HubClient): void {
    if (this.quiescing) return;
    const qos = this.qos;
    const topics = new TelemetryTopics(hub.telemetryTopic);
    this.telemetry.start((body, component, intended, done) =>
      hub.publishTelemetry(topics.at(intended, component), body, qos, done),
    );
  }

  /** Abrupt loss of the connection, as when a device loses power (a reconnect storm). */
  drop(): void {
    const hub = this.hub;
    if (hub === undefined) return;
    // Closing it ourselves raises no onLost, so report the loss as the device would notice it.
    const generation = this.generation;
    void hub
      .close(true)
      .then(() => this.lost(generation, new ClassifiedError('network', 'connection dropped by the profile')));
  }

  /** Stops sending and reconnecting; in-flight messages may still be acknowledged until stop(). */
  quiesce(): void {
    this.quiescing = true;
    this.telemetry.pause();
    this.renewTimer?.cancel();
  }

  /** Disconnects; what is still in flight stays counted as in flight. */
  async stop(): Promise<void> {
    const previous = this.setStopped();
    this.telemetry.abandon(); // late acknowledgements after the drain no longer count
    this.renewTimer?.cancel();
    const hub = this.hub;
    this.hub = undefined;
    this.generation++;
    if (hub !== undefined && previous === 'connected') await hub.close(true);
  }
}
