import { describe, expect, it } from 'vitest';
import { MessageRing, MessageWatch, TRACE_SUMMARY_LENGTH, traceExcerpt } from '../../src/metrics/message-ring.js';

const msg = (atMs: number) => ({ atMs, kind: 'telemetry', status: 'acked' as const });

describe('MessageRing', () => {
  it('keeps the last `capacity` messages, newest first, as copies', () => {
    const ring = new MessageRing(3);
    expect(ring.newestFirst()).toEqual([]);
    ring.add(msg(1));
    ring.add(msg(2));
    expect(ring.newestFirst().map((m) => m.atMs)).toEqual([2, 1]);
    for (let t = 3; t <= 7; t++) ring.add(msg(t));
    expect(ring.newestFirst().map((m) => m.atMs)).toEqual([7, 6, 5]);
    expect(ring.recorded).toBe(7);
    ring.newestFirst()[0]!.atMs = 99;
    expect(ring.newestFirst()[0]!.atMs).toBe(7);
  });

  it('orders by time, not by when an entry was added (a connect is added when it ends, dated when it began)', () => {
    const ring = new MessageRing(4);
    ring.add(msg(10));
    ring.add(msg(12));
    ring.add({ atMs: 11, kind: 'connect', status: 'acked' });
    expect(ring.newestFirst().map((m) => m.atMs)).toEqual([12, 11, 10]);
  });

  it('settles an entry in place (an acknowledgement arriving later)', () => {
    const ring = new MessageRing(2);
    const m = ring.add({ atMs: 1, kind: 'telemetry', status: 'pending', latencyMs: null });
    m.status = 'acked';
    m.latencyMs = 3;
    expect(ring.newestFirst()[0]).toMatchObject({ status: 'acked', latencyMs: 3 });
  });
});

describe('MessageWatch', () => {
  it('has a ring only for a device being looked at, until the look lapses', () => {
    const w = new MessageWatch(5, 1000);
    expect(w.of('a')).toBeUndefined();
    const { ring, sinceMs } = w.look('a', 100);
    expect(sinceMs).toBe(100);
    expect(w.of('a')).toBe(ring);
    expect(w.of('b')).toBeUndefined();
    // Looking again keeps the ring and its start, and extends the look.
    w.expire(1000);
    expect(w.look('a', 1000)).toMatchObject({ ring, sinceMs: 100 });
    w.expire(1999);
    expect(w.of('a')).toBe(ring);
    w.expire(2000);
    expect(w.of('a')).toBeUndefined();
    expect(w.size).toBe(0);
  });
});

describe('traceExcerpt', () => {
  it('is one short line with credentials scrubbed', () => {
    const token = 'SharedAccessSignature sr=hub%2Fdevices%2Fd1&sig=abcDEF123%3D&se=1700000000';
    const s = traceExcerpt(`{"auth":"${token}",\n"key":"${'A'.repeat(43)}="}`);
    expect(s).not.toContain('sig=abc');
    expect(s).not.toContain('A'.repeat(43));
    expect(s).not.toMatch(/\n/);
    expect(traceExcerpt(Buffer.from('x'.repeat(500)))).toHaveLength(TRACE_SUMMARY_LENGTH);
    expect(traceExcerpt('x'.repeat(500)).endsWith('…')).toBe(true);
  });
});
