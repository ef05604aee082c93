// One scheduler per worker drives every simulated thing: a binary min-heap of intended times behind a single
// timer, instead of a timer per device. Each task learns the time it was meant to run at, so latency can be
// measured from intent (coordinated-omission corrected) and the scheduler's own lateness is recorded.

export type Task = (intendedAtMs: number) => void;

/** A scheduled task; it is its own handle, so scheduling allocates one object. */
class Entry implements ScheduledHandle {
  cancelled = false;

  constructor(
    readonly at: number,
    readonly seq: number,
    readonly task: Task,
  ) {}

  cancel(): void {
    this.cancelled = true;
  }
}

export interface SchedulerClock {
  now(): number;
}

const timeOrigin = performance.timeOrigin; // a getter that calls into the runtime: read once

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across worker threads. */
export const wallClock: SchedulerClock = {
  now: () => timeOrigin + performance.now(),
};

export interface ScheduledHandle {
  cancel(): void;
}

export class Scheduler {
  private readonly heap: Entry[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private armedFor = Infinity;
  private stopped = false;
  /** Inside run(): tasks scheduling their next turn must not re-arm the timer (run arms it once at the end). */
  private running = false;
  private readonly runNow = () => this.run();

  /**
   * @param onLateness called with how late (ms) each task ran versus its intended time.
   * @param maxBatch tasks run per turn of the event loop before yielding, so I/O is not starved.
   * @param maxSliceMs time spent running due tasks before yielding to I/O (a backlog after a stall is run in
   *   slices, so PUBACKs and other I/O are read in between).
   */
  constructor(
    private readonly onLateness: (lateMs: number) => void = () => {},
    private readonly clock: SchedulerClock = wallClock,
    private readonly maxBatch = 2000,
    private readonly maxSliceMs = 4,
  ) {}

  now(): number {
    return this.clock.now();
  }

  get size(): number {
    return this.heap.length;
  }

  /** Runs `task` at wall-clock time `atMs` (or as soon as possible if that is past). */
  at(atMs: number, task: Task): ScheduledHandle {
    const entry = new Entry(atMs, this.seq++, task);
    this.push(entry);
    if (atMs < this.armedFor && !this.running) this.arm();
    return entry;
  }

  after(delayMs: number, task: Task): ScheduledHandle {
    return this.at(this.now() + delayMs, task);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    this.heap.length = 0;
  }

  private arm(): void {
    if (this.stopped || this.immediate !== undefined) return; // a slice is pending: it re-arms
    const next = this.heap[0];
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (next === undefined) {
      this.timer = undefined;
      this.armedFor = Infinity;
      return;
    }
    this.armedFor = next.at;
    this.timer = setTimeout(this.runNow, Math.max(0, next.at - this.now()));
  }

  private run(): void {
    this.timer = undefined;
    this.immediate = undefined;
    this.armedFor = Infinity;
    let budget = this.maxBatch;
    let now = this.now();
    const sliceEnd = now + this.maxSliceMs;
    this.running = true;
    while (budget > 0 && !this.stopped) {
      const top = this.heap[0];
      if (top === undefined || top.at > now) break;
      this.pop();
      if (top.cancelled) continue;
      budget -= 1;
      this.onLateness(now - top.at);
      try {
        top.task(top.at);
      } catch (err) {
        // A task's failure belongs to its device; the scheduler goes on.
        process.emitWarning(`scheduled task failed: ${(err as Error).stack ?? String(err)}`);
      }
      if ((budget & 15) === 0) {
        now = this.now();
        if (now >= sliceEnd) break;
      }
    }
    this.running = false;
    const top = this.heap[0];
    if (!this.stopped && top !== undefined && top.at <= now) {
      // Still due: yield to I/O for one turn of the loop (no timer's 1 ms floor), then go on.
      this.armedFor = -Infinity;
      this.immediate = setImmediate(this.runNow);
      return;
    }
    this.arm();
  }

  private push(entry: Entry): void {
    const h = this.heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, h[parent] as Entry)) break;
      h[i] = h[parent] as Entry;
      i = parent;
    }
    h[i] = entry;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop() as Entry;
    if (h.length === 0) return;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && before(h[r] as Entry, h[l] as Entry) ? r : l;
      if (!before(h[child] as Entry, last)) break;
      h[i] = h[child] as Entry;
      i = child;
    }
    h[i] = last;
  }
}

const before = (a: Entry, b: Entry) => a.at < b.at || (a.at === b.at && a.seq < b.seq);
