// A device against a generic MQTT broker (the `mqtt` target): no DPS, twin or methods, just CONNECT with
// templated credentials and paced telemetry on a templated topic, accounted like every other device.
import { fillTemplate, type MqttTarget } from '../endpoints/target.js';
import { classify, type ClassifiedError } from '../transport/errors.js';
import { MqttConnection } from '../transport/mqtt-connection.js';
import type { SimContext } from './context.js';
import { byteLength, traceExcerpt, type MessageRing } from '../metrics/message-ring.js';
import { PacedThing, type DeviceIdentityPlan, type TelemetrySource } from './thing.js';

export interface MqttDeviceBehaviour {
  telemetryIntervalMs: number;
  telemetryQos: 0 | 1;
  telemetry: TelemetrySource;
}

export class MqttDevice extends PacedThing {
  private connection: MqttConnection | undefined;
  private readonly topic: string;

  constructor(
    ctx: SimContext,
    private readonly target: MqttTarget,
    plan: DeviceIdentityPlan,
    private readonly behaviour: MqttDeviceBehaviour,
  ) {
    super(ctx, plan, behaviour.telemetryIntervalMs, behaviour.telemetry);
    this.topic = fillTemplate(target.topics.telemetry, { deviceId: plan.deviceId, group: plan.group });
  }

  start(): void {
    this.ctx.scheduler.at(this.plan.arrivalAt, (intended) => void this.connect(intended));
  }

  private async connect(intended: number): Promise<void> {
    if (this.isStopped()) return;
    this.setState('connecting');
    const started = this.ctx.scheduler.now();
    const generation = ++this.generation;
    try {
      const connection = await MqttConnection.connect(
        this.connectOptions(),
        () => {},
        (err) => this.lost(generation, err),
      );
      if (this.isStopped()) {
        await connection.close();
        return;
      }
      this.connection = connection;
      this.ctx.connections?.opened(this.deviceId, connection.client.stream, 'hub');
      this.ctx.metrics.recordLatency('connect', intended, started, this.ctx.scheduler.now());
      this.connectedNow();
      this.setState('connected');
      if (!this.quiescing) this.startTelemetry(connection);
    } catch (err) {
      // A broker's fixed credentials are a connection string's: nothing to register again with.
      const phase = this.connectedOnce ? 'reconnect' : 'connect';
      this.recover(classify(err), phase, (at) => void this.connect(at), 'connectionString');
    }
  }

  /** The broker's settings, with this device's id and group in its client id and username. */
  private connectOptions(): Parameters<typeof MqttConnection.connect>[0] {
    const ids = { deviceId: this.deviceId, group: this.plan.group };
    const t = this.target;
    const localAddress = this.ctx.localAddress(this.plan.ordinal);
    return {
      host: t.host,
      port: t.port,
      tls: t.tls,
      clean: true,
      clientId: fillTemplate(t.clientId, ids),
      ...(t.username === undefined ? {} : { username: fillTemplate(t.username, ids) }),
      ...(t.password === undefined ? {} : { password: t.password }),
      ...(t.caPem === undefined ? {} : { ca: t.caPem }),
      rejectUnauthorized: t.rejectUnauthorized,
      keepaliveSeconds: this.ctx.mqtt.keepaliveSeconds,
      connectTimeoutMs: this.ctx.mqtt.connectTimeoutMs,
      ...(localAddress === undefined ? {} : { localAddress }),
    };
  }

  private startTelemetry(connection: MqttConnection): void {
    const qos = this.behaviour.telemetryQos;
    this.telemetry.start((body, _component, _intended, done) => {
      const ring = this.ctx.watch?.of(this.deviceId);
      connection.publish(
        this.topic,
        body,
        qos,
        ring === undefined ? done : traced(ring, this.ctx.scheduler, body, qos, done),
      );
    });
  }

  private lost(generation: number, err: ClassifiedError): void {
    if (generation !== this.generation || this.state === 'stopped' || this.state === 'failed') return;
    this.connection = undefined;
    // A clean session: QoS 1 messages still unacknowledged are published again on the next connection.
    const resend = this.behaviour.telemetryQos === 1 && !this.quiescing;
    this.telemetry.connectionLost('connection lost before PUBACK', resend);
    if (this.quiescing) return;
    this.recover(err, 'reconnect', (at) => void this.connect(at), 'connectionString');
  }

  protected override gaveUp(): void {
    const connection = this.connection;
    this.connection = undefined;
    this.generation++;
    if (connection !== undefined) void connection.close(true);
  }

  drop(): void {
    const connection = this.connection;
    if (connection === undefined) return;
    const generation = this.generation;
    void connection
      .close(true)
      .then(() => this.lost(generation, classify(new Error('connection dropped by the profile'))));
  }

  quiesce(): void {
    this.quiescing = true;
    this.telemetry.pause();
  }

  async stop(): Promise<void> {
    const previous = this.setStopped();
    this.telemetry.abandon();
    this.generation++;
    const connection = this.connection;
    this.connection = undefined;
    if (connection !== undefined && previous === 'connected') await connection.close();
  }
}

/** Records one publish for the drill-down and settles it when the broker acknowledges (or refuses) it. */
function traced(
  ring: MessageRing,
  clock: { now(): number },
  body: string,
  qos: 0 | 1,
  done: (err?: Error) => void,
): (err?: Error) => void {
  const m = ring.add({
    atMs: clock.now(),
    direction: 'up',
    kind: 'telemetry',
    status: 'pending',
    bytes: byteLength(body),
    latencyMs: null,
    summary: traceExcerpt(body),
  });
  return (err) => {
    m.status = err ? 'failed' : qos === 1 ? 'acked' : 'sent';
    m.latencyMs = clock.now() - m.atMs;
    if (err) m.summary = traceExcerpt(err.message);
    done(err);
  };
}
