// Paced telemetry for one identity: ticks at intended times on the worker's scheduler, publishes what the
// source produces, and keeps the ledger (generated = acknowledged + failed + … + in flight) honest across
// connection losses: what was on the wire is resent on the next connection (QoS 1), handed back to its sender
// (edgeHub's store), or counted failed — never lost, never counted twice.
import type { ScheduledHandle, Task } from '../core/scheduler.js';
import { CREATION_TIME_PROPERTY, encodePropertyBag, systemProperty } from '../protocol/index.js';
import { classify } from '../transport/errors.js';
import type { SimContext } from './context.js';

/** What one telemetry tick produces: a JSON body per component (root has none). */
export interface TelemetrySource {
  tick(timeSeconds: number): { component?: string; body: Record<string, unknown> }[];
}

/** Sends one body; calls `done` on PUBACK (QoS 1), when written (QoS 0), or with the error. */
export type Publish = (
  body: string,
  component: string | undefined,
  intendedAt: number,
  done: (err?: Error) => void,
) => void;

/** The bag every device message starts with, up to the value of its creation time (same order as ever). */
const CONSTANT_BAG = `${encodePropertyBag({ [systemProperty.contentType]: 'application/json', [systemProperty.contentEncoding]: 'utf-8' })}&${encodeURIComponent(CREATION_TIME_PROPERTY)}=`;
const COMPONENT_KEY = `&${encodeURIComponent(systemProperty.component)}=`;

/** Encoded `&$.sub=` suffixes by component name; components are few (those of the models in use). */
const componentSuffixes = new Map<string, string>();
const MAX_COMPONENT_SUFFIXES = 1024;

function componentSuffix(component: string): string {
  let suffix = componentSuffixes.get(component);
  if (suffix === undefined) {
    suffix = COMPONENT_KEY + encodeURIComponent(component);
    if (componentSuffixes.size < MAX_COMPONENT_SUFFIXES) componentSuffixes.set(component, suffix);
  }
  return suffix;
}

// The encoded creation time of the last millisecond asked for: a fleet sends several messages per millisecond.
let lastCreationMs = NaN;
let lastCreationEncoded = '';

function encodedCreationTime(intendedMs: number): string {
  const ms = Math.floor(intendedMs);
  if (ms !== lastCreationMs) {
    lastCreationMs = ms;
    lastCreationEncoded = encodeURIComponent(new Date(ms).toISOString());
  }
  return lastCreationEncoded;
}

/**
 * Telemetry topics of one identity: `{prefix}$.ct=application/json&$.ce=utf-8&iothub-creation-time-utc={time}`
 * (and `&$.sub={component}`), URL-encoded; the constant part is built once per connection, not per message.
 */
export class TelemetryTopics {
  private readonly start: string;

  constructor(topicPrefix: string) {
    this.start = topicPrefix + CONSTANT_BAG;
  }

  at(intendedMs: number, component: string | undefined): string {
    const t = this.start + encodedCreationTime(intendedMs);
    return component === undefined ? t : t + componentSuffix(component);
  }
}

/** A message sent and not settled yet. */
export interface InFlightMessage<T = unknown> {
  readonly body: string;
  readonly component: string | undefined;
  /** When it should have been sent the first time: its latency is measured from here, resent or not. */
  readonly intended: number;
  /** It waited in a store-and-forward store: its acknowledgement counts as delivered late. */
  readonly late: boolean;
  /** What the sender needs to take it back (edgeHub: the stored message). */
  readonly tag: T | undefined;
  started: number;
}

export class TelemetryPacer {
  /** On the current connection, oldest first (a Set keeps insertion order). */
  private readonly sent = new Set<InFlightMessage>();
  /** On the wire when the last connection went (QoS 1): sent again, first, on the next one. */
  private kept: InFlightMessage[] = [];
  /** Bumped when a connection goes: its late callbacks no longer count. */
  private generation = 0;
  private timer: ScheduledHandle | undefined;
  private nextAt = 0;
  private multiplier = 1;
  private publish: Publish | undefined;
  /** Built once: a tick reschedules itself without a new closure. */
  private readonly tickTask: Task = (at) => this.tick(at);

  constructor(
    private readonly ctx: SimContext,
    private readonly identity: string,
    private readonly random: () => number,
    private readonly intervalMs: number,
    private readonly source: TelemetrySource,
  ) {}

  /** Messages sent and not settled, those waiting to be resent included. */
  get pending(): number {
    return this.sent.size + this.kept.length;
  }

  setRate(multiplier: number): void {
    this.multiplier = multiplier;
  }

  private interval(): number {
    return this.intervalMs / this.multiplier;
  }

  /** On a new connection: first what the last one left unacknowledged, then ticking (old phase, or a random one). */
  start(publish: Publish): void {
    this.publish = publish;
    const kept = this.kept;
    this.kept = [];
    this.ctx.metrics.ledger.resent += kept.length;
    for (const message of kept) this.transmit(publish, message);
    const interval = this.interval();
    if (!(interval > 0 && Number.isFinite(interval))) return;
    const now = this.ctx.scheduler.now();
    // A random phase within one interval, so a fleet does not send in lockstep.
    if (this.nextAt < now) this.nextAt = now + this.random() * interval;
    this.timer?.cancel();
    this.timer = this.ctx.scheduler.at(this.nextAt, this.tickTask);
  }

  /** Stops ticking; in-flight messages may still be acknowledged. */
  pause(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.publish = undefined;
  }

  /**
   * The connection is gone: what waited for a PUBACK on it will never get one there. `resend` (QoS 1, the same
   * identity connects again): it goes again on the next connection; otherwise it counts as failed.
   */
  connectionLost(why: string, resend = false): void {
    this.pause();
    this.generation++;
    const lost = [...this.kept, ...this.sent];
    this.sent.clear();
    if (resend) {
      this.kept = lost;
      return;
    }
    this.kept = [];
    if (lost.length === 0) return;
    this.ctx.metrics.ledger.failed += lost.length;
    this.ctx.metrics.recordError('network', `${this.identity}: ${lost.length} message(s) lost: ${why}`, 'telemetry');
  }

  /**
   * The connection is gone and the sender takes back what was on it, oldest first, to send it again itself
   * (edgeHub puts it back in its store). Nothing is settled: the messages stay generated and unsettled.
   */
  withdraw<T>(): InFlightMessage<T>[] {
    this.pause();
    this.generation++;
    const back = [...this.kept, ...this.sent] as InFlightMessage<T>[];
    this.kept = [];
    this.sent.clear();
    return back;
  }

  /** The run is over: late acknowledgements no longer count; what is pending stays in flight. */
  abandon(): void {
    this.pause();
    this.generation++;
  }

  /**
   * A gateway took the oldest message in flight (a downstream device's edgeHub): from now on the gateway's
   * upstream leg counts its outcome, so this device's PUBACK for it counts nothing. MQTT keeps order, so the
   * oldest in flight is the one taken.
   */
  takenOver(): void {
    for (const message of this.sent) {
      this.sent.delete(message);
      return;
    }
  }

  private tick(intended: number): void {
    const publish = this.publish;
    if (publish === undefined) return;
    this.nextAt = intended + this.interval();
    this.timer = this.ctx.scheduler.at(this.nextAt, this.tickTask);
    for (const { component, body } of this.source.tick(intended / 1000))
      this.send(publish, JSON.stringify(body), component, intended);
  }

  /**
   * Sends one message outside the tick (a module output, say), with the same accounting. `generatedElsewhere`:
   * a message a downstream device generated and counted, that a gateway forwards. `late`: it waited in a
   * store-and-forward store, so its acknowledgement also counts as delivered late. `tag`: what withdraw() gives back.
   */
  send(
    publish: Publish,
    body: string,
    component: string | undefined,
    intended: number,
    generatedElsewhere = false,
    late = false,
    tag?: unknown,
  ): void {
    if (!generatedElsewhere) this.ctx.metrics.ledger.generated += 1;
    this.transmit(publish, { body, component, intended, late, tag, started: 0 });
  }

  private transmit(publish: Publish, message: InFlightMessage): void {
    const generation = this.generation;
    message.started = this.ctx.scheduler.now();
    this.sent.add(message);
    publish(message.body, message.component, message.intended, (err) => {
      // A connection that is gone, or a message a gateway took over: settled elsewhere.
      if (generation !== this.generation || !this.sent.delete(message)) return;
      this.settle(message, err);
    });
  }

  private settle(message: InFlightMessage, err: Error | undefined): void {
    const m = this.ctx.metrics;
    if (err) {
      m.ledger.failed += 1;
      const e = classify(err);
      m.recordError(e.errorClass, `${this.identity}: ${e.message}`, 'telemetry');
      return;
    }
    m.ledger.acknowledged += 1;
    // A stored message's wait is the outage's length, not the target's latency: it is counted apart.
    if (message.late) m.ledger.deliveredLate += 1;
    else m.recordLatency('telemetry', message.intended, message.started, this.ctx.scheduler.now());
    this.ctx.acknowledgedBy(this.identity);
  }
}
