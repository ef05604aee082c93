// The limits' arithmetic on its own: the documented figures per tier (docs/protocol.md §7), the bucket's burst,
// shaping and refusal, the held operations let go in order by one timer, and the bench's limiter figure.
import { describe, expect, it } from 'vitest';
import { HubLimits, planLimits, type LimitsPlan } from '../../src/emulator/index.js';
import { RateLimit } from '../../src/emulator/limits/rate.js';
import { limiterCost } from '../../src/bench/limiter-cost.js';

describe('planLimits', () => {
  it('gives the documented throttles of each tier and unit count', () => {
    const s1x2 = planLimits({ hubTier: 'S1', hubUnits: 2 });
    expect(s1x2?.rates.d2c?.perSecond).toBe(100); // max(100, 12 × 2)
    expect(planLimits({ hubTier: 'S1', hubUnits: 9 })?.rates.connect?.perSecond).toBe(108);
    expect(planLimits({ hubTier: 'S2', hubUnits: 2 })?.rates.d2c?.perSecond).toBe(240);
    expect(planLimits({ hubTier: 'S3', hubUnits: 1 })?.rates.twinRead?.perSecond).toBe(500);
    expect(planLimits({ hubTier: 'B2', hubUnits: 20 })?.rates.twinUpdate?.perSecond).toBe(100);
    expect(s1x2?.rates.method).toEqual({ perSecond: 80, meter: '4 KB' });
    expect(s1x2?.rates.registry?.perSecond).toBeCloseTo(200 / 60);
    expect(s1x2?.rates.dps?.perSecond).toBeCloseTo(1000 / 60);
    expect(s1x2?.quota).toEqual({ messages: 800_000, chunkBytes: 4096 });
    expect(planLimits({ hubTier: 'F1' })?.quota).toEqual({ messages: 8_000, chunkBytes: 512 });
    expect(planLimits({ hubTier: 'S2', hubUnits: 3 })?.quota?.messages).toBe(18_000_000);
    expect(planLimits({ iotCentral: true })?.rates).toMatchObject({
      d2c: { perSecond: 200, perIdentityPerSecond: 10 },
      method: { perSecond: 20 },
      twinUpdate: { perSecond: 100 },
    });
    expect(planLimits({})).toBeUndefined();
  });

  it('refuses what does not fit a tier, saying what to fix', () => {
    expect(() => planLimits({ hubTier: 'S3', hubUnits: 11 })).toThrow('from 1 to 10 (got 11)');
    expect(() => planLimits({ hubTier: 'S1', hubUnits: 1.5 })).toThrow('whole number');
    expect(() => planLimits({ dpsRatePerMinute: 0 })).toThrow('DPS rate');
    expect(() => planLimits({ iotCentral: true, dailyQuota: 5 })).toThrow('a daily quota needs a hub tier');
  });
});

describe('RateLimit', () => {
  it('lets a burst through, then holds the excess at the rate, then refuses with when to retry', () => {
    const limit = new RateLimit(10, 300, 500); // 10/s: 100 ms each; 3 at once; 0.5 s held
    const now = 1_000_000;
    const admitted: number[] = [];
    let refusal: number | undefined;
    for (let i = 0; i < 12 && refusal === undefined; i++) {
      const a = limit.probe(now);
      if ('retryAfterMs' in a) refusal = a.retryAfterMs;
      else {
        limit.take(now, 1);
        admitted.push(a.at - now);
      }
    }
    expect(admitted).toEqual([0, 0, 0, 0, 100, 200, 300, 400, 500]);
    expect(refusal).toBe(100);
    // A second later, ten have drained.
    expect(limit.probe(now + 1000)).toEqual({ at: now + 1000 });
  });
});

describe('HubLimits', () => {
  const plan: LimitsPlan = { name: 't', rates: { d2c: { perSecond: 50 } }, shapingBurstMs: 0, shapingQueueMs: 200 };

  it('runs held operations in their order, counting them, and refuses past the queue', async () => {
    const limits = new HubLimits(plan);
    const ran: number[] = [];
    const refusals: number[] = [];
    for (let i = 0; i < 15; i++) {
      const refused = limits.take('d2c', 'dev', 1, () => void ran.push(i));
      if (refused !== undefined) refusals.push(refused);
    }
    expect(ran).toEqual([0]);
    expect(refusals.length).toBe(4); // 1 at once, 10 held (200 ms at 50/s), the rest refused
    expect(refusals.every((s) => s >= 1)).toBe(true);
    expect(limits.toJson()?.operations.d2c).toMatchObject({ admitted: 1, shaped: 0, throttled: 4, queued: 10 });
    await new Promise((r) => setTimeout(r, 400));
    expect(ran).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(limits.toJson()?.operations.d2c).toMatchObject({ shaped: 10, queued: 0 });
    limits.close();
  });

  it('skips a held operation whose client left, at no cost to those behind it', async () => {
    const limits = new HubLimits(plan);
    const ran: number[] = [];
    for (let i = 0; i < 6; i++) limits.take('d2c', 'dev', 1, () => (i % 2 === 1 ? false : void ran.push(i)));
    await new Promise((r) => setTimeout(r, 200));
    expect(ran).toEqual([0, 2, 4]);
    expect(limits.toJson()?.operations.d2c).toMatchObject({ admitted: 1, shaped: 2, abandoned: 3, queued: 0 });
    await expect(limits.acquire('d2c')).resolves.toBeUndefined();
    expect(limits.limits('twinRead')).toBe(false);
    limits.close();
  });

  it('limits nothing without a plan', () => {
    const limits = new HubLimits(undefined);
    let ran = 0;
    for (let i = 0; i < 1000; i++) expect(limits.take('d2c', 'dev', 1, () => void ran++)).toBeUndefined();
    expect(ran).toBe(1000);
    expect(limits.toJson()).toBeNull();
    expect(limits.refuseConnectForQuota()).toBe(false);
  });

  it('counts the daily quota in chunks and refuses once it is used up', () => {
    const limits = new HubLimits(planLimits({ hubTier: 'F1', dailyQuota: 4 }));
    limits.chargeQuota(100); // 1 chunk of 512 bytes
    limits.chargeQuota(1100); // 3 chunks
    expect(limits.refuseSendForQuota()).toBe(true);
    expect(limits.refuseConnectForQuota()).toBe(true);
    expect(limits.toJson()?.quota).toMatchObject({ used: 4, exhausted: true, refusedSends: 1, refusedConnects: 1 });
  });
});

describe('the bench figure', () => {
  it("feeds the limiters within their limits and measures each configuration's CPU", async () => {
    const figures = await limiterCost(2000, 2);
    expect(figures.operations).toBe(4000);
    expect(figures.notAdmitted).toEqual({ hubTier: 0, perIdentity: 0 });
    for (const v of Object.values(figures.cpuMicrosPerOp)) expect(Number.isFinite(v)).toBe(true);
  });
});
