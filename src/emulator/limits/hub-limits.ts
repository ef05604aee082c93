// The limits the emulator enforces, for every part that serves an operation: the MQTT front end (connections,
// telemetry, twins, DPS), the REST API and the hub's service API (registry, twins, methods, cloud-to-device). Each
// operation is shaped, then refused, as IoT Hub documents (docs/protocol.md §7): what is held back waits in its
// operation's queue, one timer each, never one per identity.
import { ServiceError } from '../service.js';
import {
  LIMITED_OPERATIONS,
  METHOD_METER_BYTES,
  type LimitedOperation,
  type LimitsPlan,
  type OperationRate,
} from './profiles.js';
import { HeldQueue, RateLimit, Shaper } from './rate.js';

export interface OperationCounts {
  /** Let through at once. */
  admitted: number;
  /** Let through late, held by the shaping. */
  shaped: number;
  /** Refused: the shaping queue was full (429, CONNACK 3 or a closed connection). */
  throttled: number;
  /** Held now, waiting for their turn. */
  queued: number;
  /** Held, and their client left before their turn: dropped, at no cost to the others. */
  abandoned: number;
  /** The longest any operation was held, in ms. */
  maxDelayMs: number;
}

/** A refusal for being over a limit, with when to try again: the REST APIs answer it 429 with `retry-after`. */
export class ThrottledError extends ServiceError {
  constructor(
    readonly retryAfterSeconds: number,
    message: string,
  ) {
    super(429, 'ThrottlingException', message);
  }
}

const retrySeconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** One operation's limit: the hub-wide rate and, for IoT Central's telemetry, one per identity. */
class OperationLimit {
  readonly counts: OperationCounts = { admitted: 0, shaped: 0, throttled: 0, queued: 0, abandoned: 0, maxDelayMs: 0 };
  private readonly hub: Shaper;
  private readonly identities = new Map<string, RateLimit>();
  private sweepAt = 1024;

  constructor(
    readonly rate: OperationRate,
    burstMs: number,
    private readonly queueMs: number,
    /** Where an identity's own limit holds operations back (IoT Central's devices). */
    private readonly held: HeldQueue,
    onError: (err: unknown) => void,
  ) {
    const events = {
      served: (waitedMs: number, ran: boolean) => {
        this.counts.queued -= 1;
        if (!ran) return void (this.counts.abandoned += 1);
        this.counts.shaped += 1;
        this.counts.maxDelayMs = Math.max(this.counts.maxDelayMs, waitedMs);
      },
      error: onError,
    };
    // DPS counts a minute's registrations and refuses the next, unshaped.
    this.hub = rate.perMinuteWindow
      ? new Shaper(rate.perSecond, 60_000, 0, events)
      : new Shaper(rate.perSecond, burstMs, queueMs, events);
  }

  /** Runs `proceed` now or later; the ms until it would fit when refused. */
  take(identity: string | undefined, cost: number, proceed: () => boolean | void): number | undefined {
    const now = Date.now();
    const own = identity === undefined ? undefined : this.identityLimit(identity, now);
    if (own === undefined) return this.offer(undefined, cost, proceed);
    const admission = own.probe(now);
    if ('retryAfterMs' in admission) {
      this.counts.throttled += 1;
      return admission.retryAfterMs;
    }
    own.take(now, 1);
    if (admission.at <= now) return this.offer(undefined, cost, proceed);
    // Held by its own limit first, then in the hub's queue whatever it holds (its own limit bounds it).
    this.counts.queued += 1;
    this.held.hold(admission.at, () => {
      this.counts.queued -= 1;
      this.offer(now, cost, proceed);
    });
    return undefined;
  }

  /** Offers an operation to the hub-wide limit; `heldSince`: when its own limit began holding it (then it is kept). */
  private offer(heldSince: number | undefined, cost: number, proceed: () => boolean | void): number | undefined {
    const now = Date.now();
    const verdict = this.hub.offer(now, cost, proceed, heldSince !== undefined);
    if (typeof verdict === 'number') {
      this.counts.throttled += 1;
      return verdict;
    }
    if (verdict === 'held') {
      this.counts.queued += 1;
      return undefined;
    }
    if (heldSince === undefined) {
      this.counts.admitted += 1;
    } else {
      this.counts.shaped += 1;
      this.counts.maxDelayMs = Math.max(this.counts.maxDelayMs, now - heldSince);
    }
    proceed();
    return undefined;
  }

  close(): void {
    this.hub.close();
  }

  /** The identity's own limit, when there is one; idle ones are forgotten as the map grows (no timer). */
  private identityLimit(identity: string, now: number): RateLimit | undefined {
    const perSecond = this.rate.perIdentityPerSecond;
    if (perSecond === undefined) return undefined;
    let limit = this.identities.get(identity);
    if (limit === undefined) {
      if (this.identities.size >= this.sweepAt) {
        for (const [id, l] of this.identities) if (l.idle(now)) this.identities.delete(id);
        this.sweepAt = Math.max(1024, 2 * this.identities.size);
      }
      // A device may burst to its rate for a second, then is shaped like the hub.
      limit = new RateLimit(perSecond, Math.max(0, 1000 - 1000 / perSecond), this.queueMs);
      this.identities.set(identity, limit);
    }
    return limit;
  }

  toJson() {
    return {
      perSecond: Math.round(this.rate.perSecond * 1000) / 1000,
      ...(this.rate.perMinuteWindow === true ? { perMinute: Math.round(this.rate.perSecond * 60) } : {}),
      ...(this.rate.meter === undefined ? {} : { meter: this.rate.meter }),
      ...(this.rate.perIdentityPerSecond === undefined ? {} : { perIdentityPerSecond: this.rate.perIdentityPerSecond }),
      ...this.counts,
    };
  }
}

/** The day's message quota, counted in chunks; it starts again at 00:00 UTC. */
class DailyQuotaCounter {
  used = 0;
  refusedSends = 0;
  refusedConnects = 0;
  private day = '';

  constructor(
    readonly messages: number,
    readonly chunkBytes: number,
  ) {}

  exhausted(now: number): boolean {
    const day = new Date(now).toISOString().slice(0, 10);
    if (day !== this.day) {
      this.day = day;
      this.used = 0;
    }
    return this.used >= this.messages;
  }

  /** Counts one message, in chunks (one at least). */
  charge(bytes: number, now: number): void {
    this.exhausted(now); // a new day starts from 0
    this.used += Math.max(1, Math.ceil(bytes / this.chunkBytes));
  }

  toJson() {
    const resetsAt = new Date(`${this.day || new Date().toISOString().slice(0, 10)}T00:00:00Z`);
    resetsAt.setUTCDate(resetsAt.getUTCDate() + 1);
    return {
      messagesPerDay: this.messages,
      chunkBytes: this.chunkBytes,
      used: this.used,
      exhausted: this.used >= this.messages,
      refusedSends: this.refusedSends,
      refusedConnects: this.refusedConnects,
      resetsAt: resetsAt.toISOString(),
    };
  }
}

export class HubLimits {
  private readonly operations: Partial<Record<LimitedOperation, OperationLimit>> = {};
  private readonly held: HeldQueue;
  readonly quota: DailyQuotaCounter | undefined;

  /** `plan` undefined: nothing is limited, and every call lets its operation go on at once. */
  constructor(
    readonly plan: LimitsPlan | undefined,
    onError: (err: unknown) => void = () => {},
  ) {
    this.held = new HeldQueue(onError);
    if (plan === undefined) return;
    for (const op of LIMITED_OPERATIONS) {
      const rate = plan.rates[op];
      if (rate === undefined) continue;
      this.operations[op] = new OperationLimit(rate, plan.shapingBurstMs, plan.shapingQueueMs, this.held, onError);
    }
    if (plan.quota !== undefined) this.quota = new DailyQuotaCounter(plan.quota.messages, plan.quota.chunkBytes);
  }

  get active(): boolean {
    return this.plan !== undefined;
  }

  limits(op: LimitedOperation): boolean {
    return this.operations[op] !== undefined;
  }

  /**
   * Runs `proceed` now, or later when the shaping holds it back; returns the seconds to wait before trying again
   * when it is refused (and then `proceed` never runs). `cost`: metered units (4 KB for methods). A held `proceed`
   * that returns false did not go on (its client left): it costs nothing, and those behind it move up.
   */
  take(
    op: LimitedOperation,
    identity: string | undefined,
    cost: number,
    proceed: () => boolean | void,
  ): number | undefined {
    const limit = this.operations[op];
    if (limit === undefined) {
      proceed();
      return undefined;
    }
    const refusedForMs = limit.take(identity, cost, proceed);
    return refusedForMs === undefined ? undefined : retrySeconds(refusedForMs);
  }

  /** What a direct method with a payload of `bytes` costs: 4 KB meters on a hub tier, one call otherwise. */
  methodCost(bytes: number): number {
    const meter = this.plan?.rates.method?.meter === undefined ? 0 : METHOD_METER_BYTES;
    return meter === 0 ? 1 : Math.max(1, Math.ceil(bytes / meter));
  }

  /** Resolves when the operation may go on; rejects with ThrottledError when it is refused. */
  acquire(op: LimitedOperation, identity?: string, cost = 1): Promise<void> {
    if (this.operations[op] === undefined) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const refused = this.take(op, identity, cost, resolve);
      if (refused !== undefined) reject(new ThrottledError(refused, `${op} is over the hub's limit: retry later`));
    });
  }

  /** Whether the day's quota is used up; a device-to-cloud send is then refused (counted here). */
  refuseSendForQuota(): boolean {
    if (this.quota === undefined || !this.quota.exhausted(Date.now())) return false;
    this.quota.refusedSends += 1;
    return true;
  }

  /** Counts one device-to-cloud message of `bytes` against the daily quota, in its chunks. */
  chargeQuota(bytes: number): void {
    this.quota?.charge(bytes, Date.now());
  }

  /** Whether the day's quota is used up; a connection is then refused (counted here). */
  refuseConnectForQuota(): boolean {
    if (this.quota === undefined || !this.quota.exhausted(Date.now())) return false;
    this.quota.refusedConnects += 1;
    return true;
  }

  /** What `/stats` shows under `limits`: null when nothing is limited. */
  toJson() {
    const plan = this.plan;
    if (plan === undefined) return null;
    const operations: Partial<Record<LimitedOperation, ReturnType<OperationLimit['toJson']>>> = {};
    for (const op of LIMITED_OPERATIONS) {
      const limit = this.operations[op];
      if (limit !== undefined) operations[op] = limit.toJson();
    }
    return {
      name: plan.name,
      shaping: { burstSeconds: plan.shapingBurstMs / 1000, queueSeconds: plan.shapingQueueMs / 1000 },
      operations,
      quota: this.quota?.toJson() ?? null,
    };
  }

  /** Drops what is held: the emulator is closing. */
  close(): void {
    this.held.close();
    for (const limit of Object.values(this.operations)) limit.close();
  }
}
