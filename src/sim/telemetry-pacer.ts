// Paced telemetry for one identity: ticks at intended times on the worker's scheduler, publishes what the
// source produces, and keeps the ledger (generated = acknowledged + failed + … + in flight) honest across
// connection losses.
import type { ScheduledHandle, Task } from '../core/scheduler.js';
import { CREATION_TIME_PROPERTY, encodePropertyBag, systemProperty } from '../protocol/index.js';
import { classify } from '../transport/errors.js';
import type { SimContext } from './context.js';

/** What one telemetry tick produces: a JSON body per component (root has none). */
export interface TelemetrySource {
  tick(timeSeconds: number): { component?: string; body: Record<string, unknown> }[];
}

/** Sends one body; calls `done` on PUBACK (QoS 1), when written (QoS 0), or with the error. */
export type Publish = (body: string, component: string | undefined, intendedAt: number, done: (err?: Error) => void) => void;

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

export class TelemetryPacer {
  private inFlight = 0;
  /** Sent messages a gateway has taken over (their outcome is its to count), whose PUBACK has not come back yet. */
  private handedOver = 0;
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

  get pending(): number {
    return this.inFlight;
  }

  setRate(multiplier: number): void {
    this.multiplier = multiplier;
  }

  private interval(): number {
    return this.intervalMs / this.multiplier;
  }

  /** Starts ticking over a new connection; the first tick keeps the old phase or picks a random one. */
  start(publish: Publish): void {
    this.publish = publish;
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

  /** The connection is gone: what waited for a PUBACK on it will never get one. */
  connectionLost(why: string): void {
    this.pause();
    this.generation++;
    this.handedOver = 0;
    if (this.inFlight === 0) return;
    this.ctx.metrics.ledger.failed += this.inFlight;
    this.ctx.metrics.recordError('network', `${this.identity}: ${this.inFlight} message(s) lost: ${why}`, 'telemetry');
    this.inFlight = 0;
  }

  /** The run is over: late acknowledgements no longer count; what is pending stays in flight. */
  abandon(): void {
    this.pause();
    this.generation++;
    this.handedOver = 0;
  }

  /**
   * A gateway took the oldest message in flight (a downstream device's edgeHub): from now on the gateway's
   * upstream leg counts its outcome, so this device's PUBACK for it counts nothing. MQTT keeps order, so the
   * PUBACKs that come back first are for the messages taken first.
   */
  takenOver(): void {
    if (this.inFlight === 0) return;
    this.inFlight -= 1;
    this.handedOver += 1;
  }

  private tick(intended: number): void {
    const publish = this.publish;
    if (publish === undefined) return;
    this.nextAt = intended + this.interval();
    this.timer = this.ctx.scheduler.at(this.nextAt, this.tickTask);
    for (const { component, body } of this.source.tick(intended / 1000)) this.send(publish, JSON.stringify(body), component, intended);
  }

  /**
   * Sends one message outside the tick (a module output, say), with the same accounting. `generatedElsewhere`:
   * a message a downstream device generated and counted, that a gateway forwards. `late`: it waited in a
   * store-and-forward store, so its acknowledgement also counts as delivered late.
   */
  send(publish: Publish, body: string, component: string | undefined, intended: number, generatedElsewhere = false, late = false): void {
    const m = this.ctx.metrics;
    const generation = this.generation;
    const started = this.ctx.scheduler.now();
    if (!generatedElsewhere) m.ledger.generated += 1;
    this.inFlight += 1;
    publish(body, component, intended, (err) => {
      if (generation !== this.generation) return;
      if (this.handedOver > 0) {
        this.handedOver -= 1;
        return;
      }
      this.inFlight -= 1;
      if (err) {
        m.ledger.failed += 1;
        const e = classify(err);
        m.recordError(e.errorClass, `${this.identity}: ${e.message}`, 'telemetry');
        return;
      }
      m.ledger.acknowledged += 1;
      // A stored message's wait is the outage's length, not the target's latency: it is counted apart.
      if (late) m.ledger.deliveredLate += 1;
      else m.recordLatency('telemetry', intended, started, this.ctx.scheduler.now());
      this.ctx.acknowledgedBy(this.identity);
    });
  }
}
