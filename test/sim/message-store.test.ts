import { describe, expect, it } from 'vitest';
import { MessageStore } from '../../src/sim/edge/message-store.js';
import { DEFAULT_ROUTE_PRIORITY } from '../../src/sim/edge/routes.js';

function storeWith(capacity = 100) {
  let now = 1_000_000;
  const expired: { identity: string; item: string; why: string }[] = [];
  let fullNotices = 0;
  const store = new MessageStore<string>({
    capacity,
    now: () => now,
    onExpired: (identity, item, why) => expired.push({ identity, item, why }),
    onFull: () => void (fullNotices += 1),
  });
  const drain = (identity: string) => {
    const out: string[] = [];
    for (let m = store.take(identity); m !== undefined; m = store.take(identity)) out.push(m);
    return out;
  };
  return { store, expired, drain, advance: (ms: number) => void (now += ms), fullNotices: () => fullNotices };
}

describe('message store', () => {
  it('drains the highest priority first and, within a priority, in arrival order', () => {
    const { store, drain } = storeWith();
    store.add('d/m', 'low-1', DEFAULT_ROUTE_PRIORITY, 60);
    store.add('d/m', 'p5-1', 5, 60);
    store.add('d/m', 'p0-1', 0, 60);
    store.add('d/m', 'low-2', undefined, 60);
    store.add('d/m', 'p5-2', 5, 60);
    store.add('d/m', 'p0-2', 0, 60);
    expect(store.size('d/m')).toBe(6);
    expect(drain('d/m')).toEqual(['p0-1', 'p0-2', 'p5-1', 'p5-2', 'low-1', 'low-2']);
    expect(store.size()).toBe(0);
  });

  it('keeps each identity apart', () => {
    const { store, drain } = storeWith();
    store.add('d/a', 'a1', 0, 60);
    store.add('d/b', 'b1', 0, 60);
    store.add('d/a', 'a2', 0, 60);
    expect(drain('d/b')).toEqual(['b1']);
    expect(drain('d/a')).toEqual(['a1', 'a2']);
    expect(store.take('d/unknown')).toBeUndefined();
  });

  it('drops what outlives its TTL when draining, and counts it', () => {
    const { store, expired, drain, advance } = storeWith();
    store.add('d/m', 'short', 1, 2);
    store.add('d/m', 'long', 1, 10);
    advance(1999);
    store.add('d/m', 'later-short', 1, 2);
    advance(1);
    expect(drain('d/m')).toEqual(['long', 'later-short']);
    expect(expired).toEqual([{ identity: 'd/m', item: 'short', why: 'ttl' }]);
    expect(store.expiredCount).toBe(1);
  });

  it('drops expired messages on a scan, keeping the others in order', () => {
    const { store, expired, drain, advance } = storeWith();
    store.add('d/m', 'a', 3, 10);
    store.add('d/m', 'b', 3, 2);
    store.add('d/m', 'c', 3, 10);
    store.add('d/x', 'x', 3, 1);
    advance(1000);
    expect(store.scan()).toBe(1);
    advance(1000);
    expect(store.scan()).toBe(1);
    expect(expired.map((e) => e.item)).toEqual(['x', 'b']);
    expect(store.size()).toBe(2);
    expect(drain('d/m')).toEqual(['a', 'c']);
  });

  it('when full, expires the oldest message of the lowest priority, and says so once', () => {
    const { store, expired, drain, fullNotices } = storeWith(3);
    store.add('d/a', 'a-p1', 1, 60);
    store.add('d/b', 'b-low', undefined, 60);
    store.add('d/a', 'a-low', undefined, 60);
    store.add('d/a', 'a-p0', 0, 60); // evicts b-low (oldest of the lowest priority)
    store.add('d/b', 'b-p2', 2, 60); // evicts a-low
    store.add('d/b', 'b-p0', 0, 60); // evicts b-p2 (lowest priority now held: 2)
    expect(expired.map((e) => `${e.item}:${e.why}`)).toEqual(['b-low:capacity', 'a-low:capacity', 'b-p2:capacity']);
    expect(fullNotices()).toBe(1);
    expect(store.size()).toBe(3);
    expect(drain('d/a')).toEqual(['a-p0', 'a-p1']);
    expect(drain('d/b')).toEqual(['b-p0']);
  });

  it('stores nothing with a TTL of 0: the message counts as expired at once', () => {
    const { store, expired } = storeWith();
    expect(store.add('d/m', 'now', 0, 0)).toBe(false);
    expect(store.size()).toBe(0);
    expect(expired).toEqual([{ identity: 'd/m', item: 'now', why: 'ttl' }]);
  });

  it('keeps order over many messages (the queue compacts as it drains)', () => {
    const { store, drain } = storeWith(10_000);
    const sent: string[] = [];
    for (let i = 0; i < 1000; i++) {
      sent.push(`m${i}`);
      store.add('d/m', `m${i}`, 4, 60);
    }
    const first = [store.take('d/m'), store.take('d/m')];
    for (let i = 1000; i < 1200; i++) {
      sent.push(`m${i}`);
      store.add('d/m', `m${i}`, 4, 60);
    }
    expect([...first, ...drain('d/m')]).toEqual(sent);
  });
});
