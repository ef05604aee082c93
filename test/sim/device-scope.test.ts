// edgeHub's device scope for devices outside the plan: cached, refreshed when a stranger connects, at most once per
// interval, one lookup shared by concurrent connects.
import { describe, expect, it } from 'vitest';
import { DeviceScope } from '../../src/sim/edge/device-scope.js';

function scopeWith(children: string[][]) {
  const clock = { t: 0 };
  let lookups = 0;
  const scope = new DeviceScope(
    () => Promise.resolve(children[Math.min(lookups++, children.length - 1)]!),
    () => clock.t,
    1_000,
  );
  return { scope, clock, lookups: () => lookups };
}

describe('DeviceScope', () => {
  it('knows a child after one lookup and asks again only for a stranger, once per interval', async () => {
    const { scope, clock, lookups } = scopeWith([['Leaf-1'], ['leaf-1', 'leaf-2']]);
    expect(await scope.includes('leaf-1')).toBe(true);
    expect(await scope.includes('LEAF-1')).toBe(true);
    expect(lookups()).toBe(1);
    expect(await scope.includes('leaf-2')).toBe(false); // within the interval: the cached scope answers
    expect(lookups()).toBe(1);
    clock.t = 1_000;
    expect(await scope.includes('leaf-2')).toBe(true); // attached since: a refresh finds it
    expect(lookups()).toBe(2);
  });

  it('shares one lookup between strangers connecting at once', async () => {
    const { scope, lookups } = scopeWith([['a']]);
    const answers = await Promise.all(['a', 'b', 'c'].map((id) => scope.includes(id)));
    expect(answers).toEqual([true, false, false]);
    expect(lookups()).toBe(1);
  });

  it('passes a failed lookup on to the caller', async () => {
    const scope = new DeviceScope(
      () => Promise.reject(new Error('401 Unauthorized')),
      () => 0,
    );
    await expect(scope.includes('x')).rejects.toThrow('401');
  });
});
