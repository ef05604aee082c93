// The last messages of the identities somebody is looking at (the dashboard's drill-down). Nothing is kept
// for anybody else: while nobody looks, `of()` is a size check and the hooks that call it build nothing.
import { redactText } from './redact.js';

/** What became of a message: waiting for its acknowledgement, or settled one way or another. */
export type TracedStatus = 'pending' | 'sent' | 'acked' | 'failed' | 'lost' | 'received' | 'answered';

export interface TracedMessage {
  /** Epoch ms (the scheduler's clock) when it was sent or received. */
  atMs: number;
  /** up: device → cloud; down: cloud → device; absent: an event of the connection (an error). */
  direction?: 'up' | 'down';
  /** telemetry, reported, desiredAck, twinGet, desired, command, c2d, input, connect, provision, error… */
  kind: string;
  /** The IoT Edge module whose identity it went through, if any. */
  module?: string;
  status: TracedStatus;
  /** Payload size in bytes. */
  bytes?: number;
  /** Until acknowledged or answered (or the error came); null while pending. */
  latencyMs?: number | null;
  /** A short, redacted excerpt: a payload, a command name, an error. */
  summary?: string;
}

/** Longest excerpt kept; the drill-down shows one line per message. */
export const TRACE_SUMMARY_LENGTH = 60;

// eslint-disable-next-line no-control-regex -- control characters (C0, DEL, C1) are what it strips
const CONTROL_CHARACTERS = /[\u0000-\u001F\u007F-\u009F]+/g;

/** A bounded excerpt a person can read: credentials scrubbed, control characters and runs of space gone. */
export function traceExcerpt(text: string | Buffer): string {
  const head =
    typeof text === 'string'
      ? text.slice(0, TRACE_SUMMARY_LENGTH * 4)
      : text.subarray(0, TRACE_SUMMARY_LENGTH * 4).toString('utf8');
  const s = redactText(head).replace(CONTROL_CHARACTERS, ' ').replace(/\s+/g, ' ').trim();
  return s.length > TRACE_SUMMARY_LENGTH ? `${s.slice(0, TRACE_SUMMARY_LENGTH - 1)}…` : s;
}

export const byteLength = (body: string | Buffer): number =>
  typeof body === 'string' ? Buffer.byteLength(body) : body.length;

/** A fixed number of messages, the oldest overwritten. Entries are updated in place when they settle. */
export class MessageRing {
  private readonly entries: TracedMessage[] = [];
  private next = 0;
  /** Messages recorded since the ring was created (more than it holds, once it is full). */
  recorded = 0;

  constructor(readonly capacity: number) {}

  add(m: TracedMessage): TracedMessage {
    if (this.entries.length < this.capacity) this.entries.push(m);
    else this.entries[this.next] = m;
    this.next = (this.next + 1) % this.capacity;
    this.recorded += 1;
    return m;
  }

  /**
   * Copies, newest first by time. A connect or a provisioning is added when it ends but dated when it began, so
   * insertion order alone is not time order.
   */
  newestFirst(): TracedMessage[] {
    const n = this.entries.length;
    const out: TracedMessage[] = [];
    for (let i = 1; i <= n; i++) out.push({ ...this.entries[(this.next - i + n * 2) % n]! });
    return out.sort((a, b) => b.atMs - a.atMs);
  }
}

interface Watched {
  ring: MessageRing;
  /** Epoch ms when recording began. */
  sinceMs: number;
  /** Recording stops after this (epoch ms) unless somebody asks again. */
  untilMs: number;
}

/**
 * Which identities are being looked at, and their rings. A look lasts `leaseMs` from the last question, so a
 * dashboard that goes away (closed view, crashed terminal) stops the recording by itself.
 */
export class MessageWatch {
  private readonly watched = new Map<string, Watched>();

  constructor(
    readonly capacity = 32,
    readonly leaseMs = 15_000,
  ) {}

  /** The ring of a device being looked at, or undefined (nearly always). Keyed by device id: a module's
   * messages belong to its IoT Edge device. */
  of(deviceId: string): MessageRing | undefined {
    return this.watched.size === 0 ? undefined : this.watched.get(deviceId)?.ring;
  }

  /** Starts recording (or extends the look); returns the ring and when it began. */
  look(deviceId: string, nowMs: number): { ring: MessageRing; sinceMs: number } {
    let w = this.watched.get(deviceId);
    if (w === undefined)
      this.watched.set(deviceId, (w = { ring: new MessageRing(this.capacity), sinceMs: nowMs, untilMs: 0 }));
    w.untilMs = nowMs + this.leaseMs;
    return w;
  }

  /** Forgets the looks that lapsed; call it now and then (the worker does once a second). */
  expire(nowMs: number): void {
    for (const [id, w] of this.watched) if (w.untilMs <= nowMs) this.watched.delete(id);
  }

  get size(): number {
    return this.watched.size;
  }
}
