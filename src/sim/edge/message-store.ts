// edgeHub's store-and-forward: while an identity's upstream is away, what its routes send to $upstream waits
// here, per identity, by route priority, each message until its time to live runs out. Pure logic: the clock
// and the outcome callbacks come from the owner.

/** Priorities 0 (highest) to 9; a route without one (edgeHub's default) ranks below them all. */
const PRIORITY_LEVELS = 11;
const LOWEST = PRIORITY_LEVELS - 1;

interface Entry<T> {
  readonly item: T;
  readonly expiresAt: number;
  /** Arrival order over the whole store: the oldest of a priority is evicted first when the store is full. */
  readonly seq: number;
}

/** A FIFO that does not shift its array on every take. */
class Fifo<T> {
  private items: (Entry<T> | undefined)[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(entry: Entry<T>): void {
    this.items.push(entry);
  }

  /** In front of the others: the next shift() returns it. */
  unshift(entry: Entry<T>): void {
    if (this.head > 0) this.items[--this.head] = entry;
    else this.items.unshift(entry);
  }

  peek(): Entry<T> | undefined {
    return this.items[this.head];
  }

  shift(): Entry<T> | undefined {
    const entry = this.items[this.head];
    if (entry === undefined) return undefined;
    this.items[this.head++] = undefined;
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return entry;
  }
}

class IdentityQueue<T> {
  readonly levels: Fifo<T>[] = Array.from({ length: PRIORITY_LEVELS }, () => new Fifo<T>());
  size = 0;
}

export interface MessageStoreOptions<T> {
  /** Most messages held at once over every identity of the gateway. */
  capacity: number;
  /** Clock, ms. */
  now(): number;
  /** A message left the store unsent: its time to live ran out, or it made room in a full store. */
  onExpired(identity: string, item: T, why: 'ttl' | 'capacity'): void;
  /** The store was full for the first time (to log it once). */
  onFull?(capacity: number): void;
}

/** edgeHub's priority rank: 0-9 as given, anything else (no priority) lowest. */
export function priorityLevel(priority: number | undefined): number {
  return priority !== undefined && Number.isInteger(priority) && priority >= 0 && priority < LOWEST ? priority : LOWEST;
}

export class MessageStore<T> {
  private readonly queues = new Map<string, IdentityQueue<T>>();
  private total = 0;
  private seq = 0;
  /** Messages put back go before everything held (older than any): their order numbers count down from -1. */
  private frontSeq = -1;
  private fullSeen = false;
  /** Messages that expired or were evicted, since the store was made. */
  expiredCount = 0;

  constructor(private readonly opts: MessageStoreOptions<T>) {
    if (!(opts.capacity >= 1)) throw new Error(`the store capacity must be at least 1, not ${opts.capacity}`);
  }

  /** Messages held, for one identity or all. */
  size(identity?: string): number {
    if (identity === undefined) return this.total;
    return this.queues.get(identity)?.size ?? 0;
  }

  /**
   * Holds a message for `ttlSecs`; false when it is not kept (TTL 0: edgeHub stores nothing, and the message
   * counts as expired at once).
   */
  add(identity: string, item: T, priority: number | undefined, ttlSecs: number): boolean {
    if (!(ttlSecs > 0)) {
      this.expire(identity, item, 'ttl');
      return false;
    }
    this.makeRoom();
    const expiresAt = this.opts.now() + ttlSecs * 1000;
    this.queueOf(identity).levels[priorityLevel(priority)]!.push({ item, expiresAt, seq: this.seq++ });
    this.total += 1;
    return true;
  }

  /**
   * Puts a message back in front of its priority, keeping when it expires: it was on its way upstream when the
   * connection went, and goes again first (put several back newest first). False when it has expired meanwhile.
   */
  putBack(identity: string, item: T, priority: number | undefined, expiresAt: number): boolean {
    if (expiresAt <= this.opts.now()) {
      this.expire(identity, item, 'ttl');
      return false;
    }
    this.makeRoom();
    this.queueOf(identity).levels[priorityLevel(priority)]!.unshift({ item, expiresAt, seq: this.frontSeq-- });
    this.total += 1;
    return true;
  }

  private makeRoom(): void {
    if (this.total < this.opts.capacity) return;
    if (!this.fullSeen) {
      this.fullSeen = true;
      this.opts.onFull?.(this.opts.capacity);
    }
    this.evictOne();
  }

  /** The identity's queue, made when it has none; counts one more message in it. */
  private queueOf(identity: string): IdentityQueue<T> {
    let queue = this.queues.get(identity);
    if (queue === undefined) this.queues.set(identity, (queue = new IdentityQueue<T>()));
    queue.size += 1;
    return queue;
  }

  /** The next message to send for `identity`: highest priority first, in arrival order; expired ones go first. */
  take(identity: string): T | undefined {
    const queue = this.queues.get(identity);
    if (queue === undefined) return undefined;
    const now = this.opts.now();
    for (const level of queue.levels) {
      for (let entry = level.shift(); entry !== undefined; entry = level.shift()) {
        queue.size -= 1;
        this.total -= 1;
        if (entry.expiresAt <= now) {
          this.expire(identity, entry.item, 'ttl');
          continue;
        }
        if (queue.size === 0) this.queues.delete(identity);
        return entry.item;
      }
    }
    this.queues.delete(identity);
    return undefined;
  }

  /** Drops whatever outlived its TTL; returns how many. */
  scan(): number {
    const now = this.opts.now();
    let n = 0;
    for (const [identity, queue] of this.queues) {
      for (const level of queue.levels) {
        // Within a level messages arrived in order, but routes differ in TTL: look at every one.
        const kept: Entry<T>[] = [];
        for (let entry = level.shift(); entry !== undefined; entry = level.shift()) {
          if (entry.expiresAt <= now) {
            queue.size -= 1;
            this.total -= 1;
            n += 1;
            this.expire(identity, entry.item, 'ttl');
          } else kept.push(entry);
        }
        for (const entry of kept) level.push(entry);
      }
      if (queue.size === 0) this.queues.delete(identity);
    }
    return n;
  }

  /** Makes room: the oldest message of the lowest priority held, over every identity. */
  private evictOne(): void {
    for (let level = LOWEST; level >= 0; level--) {
      let oldest: { identity: string; queue: IdentityQueue<T>; seq: number } | undefined;
      for (const [identity, queue] of this.queues) {
        const head = queue.levels[level]!.peek();
        if (head !== undefined && (oldest === undefined || head.seq < oldest.seq))
          oldest = { identity, queue, seq: head.seq };
      }
      if (oldest === undefined) continue;
      const entry = oldest.queue.levels[level]!.shift()!;
      oldest.queue.size -= 1;
      this.total -= 1;
      if (oldest.queue.size === 0) this.queues.delete(oldest.identity);
      this.expire(oldest.identity, entry.item, 'capacity');
      return;
    }
  }

  private expire(identity: string, item: T, why: 'ttl' | 'capacity'): void {
    this.expiredCount += 1;
    this.opts.onExpired(identity, item, why);
  }
}
