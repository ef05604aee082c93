// Rate limits without a timer per identity: a token bucket serving a queue (one timer per operation), a bucket kept
// as one number in virtual time for each identity (the generic cell rate algorithm), and one timer for what those
// hold back.

/** When an operation may go on: `at` (epoch ms, now or later), or refused with the ms until it would fit. */
export type Admission = { at: number } | { retryAfterMs: number };

/**
 * One rate: `perSecond` units pass; up to `burstMs` of them at that rate are let through at once (a bucket that
 * refills at the rate), the next `queueMs` worth are held and let go at the rate, anything past that is refused.
 */
export class RateLimit {
  /** The theoretical time at which everything admitted so far would have passed at the rate. */
  private tat = 0;
  private readonly msPerUnit: number;

  constructor(
    perSecond: number,
    private readonly burstMs: number,
    private readonly queueMs: number,
  ) {
    this.msPerUnit = 1000 / perSecond;
  }

  /** When an operation arriving at `now` may go on, or its refusal; nothing is taken. */
  probe(now: number): Admission {
    const delay = Math.max(this.tat, now) - now - this.burstMs;
    if (delay > this.queueMs) return { retryAfterMs: delay - this.queueMs };
    return { at: now + Math.max(0, delay) };
  }

  take(now: number, cost: number): void {
    this.tat = Math.max(this.tat, now) + cost * this.msPerUnit;
  }

  /** Whether nothing taken is still within the bucket (an idle identity's limit can be forgotten). */
  idle(now: number): boolean {
    return this.tat <= now;
  }
}

interface Held {
  at: number;
  seq: number;
  run: () => void;
}

/** Operations held until their time: a binary heap by time (then arrival) and one timer for its head. */
export class HeldQueue {
  private readonly heap: Held[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private closed = false;

  constructor(private readonly onError: (err: unknown) => void) {}

  get size(): number {
    return this.heap.length;
  }

  hold(at: number, run: () => void): void {
    if (this.closed) return;
    this.push({ at, seq: this.seq++, run });
    this.arm();
  }

  /** Drops what is held, for good. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.heap.length = 0;
  }

  private arm(): void {
    const head = this.heap[0];
    if (head === undefined || head.at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = head.at;
    this.timer = setTimeout(() => this.release(), Math.max(0, head.at - Date.now()));
  }

  private release(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = Date.now();
    for (let head = this.heap[0]; head !== undefined && head.at <= now; head = this.heap[0]) {
      this.pop();
      try {
        head.run();
      } catch (err) {
        this.onError(err);
      }
    }
    this.arm();
  }

  private static before(a: Held, b: Held): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(item: Held): void {
    const h = this.heap;
    let i = h.push(item) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!HeldQueue.before(h[i] as Held, h[parent] as Held)) break;
      [h[i], h[parent]] = [h[parent] as Held, h[i] as Held];
      i = parent;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop() as Held;
    if (h.length === 0) return;
    h[0] = last;
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < h.length && HeldQueue.before(h[l] as Held, h[best] as Held)) best = l;
      if (r < h.length && HeldQueue.before(h[r] as Held, h[best] as Held)) best = r;
      if (best === i) return;
      [h[i], h[best]] = [h[best] as Held, h[i] as Held];
      i = best;
    }
  }
}

interface Waiting {
  cost: number;
  arrivedAt: number;
  /** Goes on; false when it could not (its client left): it then costs nothing. */
  run: () => boolean | void;
}

export interface ShaperEvents {
  /** A held operation had its turn after `waitedMs`; `ran` false when it no longer could. */
  served(waitedMs: number, ran: boolean): void;
  error(err: unknown): void;
}

/**
 * One operation's hub-wide limit: a bucket refilled at `perSecond` and holding `burstMs` of it (one operation at
 * least) lets operations through at once; when it is empty they wait in order, up to `queueMs` of them at the rate,
 * and are let go as it refills (one timer); past that they are refused. One that can no longer go on when its turn
 * comes is skipped and costs nothing, so those behind it move up.
 */
export class Shaper {
  private tokens: number;
  private refilledAt = Date.now();
  private readonly capacity: number;
  private readonly maxQueued: number;
  private waiting: (Waiting | undefined)[] = [];
  private head = 0;
  private queuedCost = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly perSecond: number,
    burstMs: number,
    queueMs: number,
    private readonly events: ShaperEvents,
  ) {
    this.capacity = Math.max(1, (burstMs * perSecond) / 1000);
    this.tokens = this.capacity;
    this.maxQueued = (queueMs * perSecond) / 1000;
  }

  get queued(): number {
    return this.waiting.length - this.head;
  }

  /**
   * `now`: it may go on at once (what it costs is taken); `held`: `run` runs when its turn comes; a number: it is
   * refused, and that many ms would make room. `force` holds it whatever the queue holds.
   */
  offer(now: number, cost: number, run: Waiting['run'], force = false): 'now' | 'held' | number {
    this.refill(now);
    const need = Math.min(cost, this.capacity);
    if (this.queued === 0 && this.tokens >= need) {
      this.tokens -= cost;
      return 'now';
    }
    if (!force && this.queuedCost + cost > this.maxQueued) {
      const excess = this.queuedCost > 0 ? this.queuedCost + cost - this.maxQueued : 0;
      return (Math.max(excess, need - this.tokens, 0) * 1000) / this.perSecond;
    }
    this.waiting.push({ cost, arrivedAt: now, run });
    this.queuedCost += cost;
    this.arm();
    return 'held';
  }

  /** Drops what is held, for good. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.waiting = [];
    this.head = 0;
  }

  /** Refills for the time since the last refill; while some wait, what a late timer let accrue is theirs. */
  private refill(now: number): void {
    const cap = this.queued > 0 ? this.capacity + this.queuedCost : this.capacity;
    this.tokens = Math.min(cap, this.tokens + ((now - this.refilledAt) * this.perSecond) / 1000);
    this.refilledAt = now;
  }

  private arm(): void {
    const next = this.waiting[this.head];
    if (this.timer !== undefined || this.closed || next === undefined) return;
    const deficit = Math.min(next.cost, this.capacity) - this.tokens;
    this.timer = setTimeout(() => this.drain(), Math.max(1, Math.ceil((deficit * 1000) / this.perSecond)));
  }

  private drain(): void {
    this.timer = undefined;
    const now = Date.now();
    this.refill(now);
    for (let next = this.waiting[this.head]; next !== undefined; next = this.waiting[this.head]) {
      if (this.tokens < Math.min(next.cost, this.capacity)) break;
      this.waiting[this.head++] = undefined;
      this.queuedCost -= next.cost;
      let ran = true;
      try {
        ran = next.run() !== false;
      } catch (err) {
        this.events.error(err);
      }
      if (ran) this.tokens -= next.cost;
      this.events.served(now - next.arrivedAt, ran);
    }
    if (this.queued === 0) this.tokens = Math.min(this.tokens, this.capacity);
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.head);
      this.head = 0;
    }
    this.arm();
  }
}
