// A rate limit without a timer: a token bucket kept as one number in virtual time (the generic cell rate
// algorithm), and one timer for everything held back, whatever the number of identities.

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
