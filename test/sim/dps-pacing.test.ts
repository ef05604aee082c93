// DPS polling on the scheduler's clock (an injected one here): whatever retry-after says — the test emulator says
// 0 — one identity polls at most 5 times in any 10 s; a 429 waits its retry-after, or the throttled backoff.
import { describe, expect, it } from 'vitest';
import type { SchedulerClock } from '../../src/core/scheduler.js';
import {
  DPS_REQUESTS_PER_WINDOW,
  DPS_WINDOW_MS,
  RequestPacer,
  waitBeforeAsking,
  type DpsPacing,
} from '../../src/sim/dps-client.js';

/** A clock that only moves when told to. */
function manualClock(start = 1_000_000): SchedulerClock & { advance(ms: number): void } {
  let now = start;
  return { now: () => now, advance: (ms) => void (now += ms) };
}

/** Polls as the DPS client does: wait what the answer says, but no less than the pacer says; returns the poll times. */
type Answer = { status: number; retryAfter?: number };

function poll(clock: ReturnType<typeof manualClock>, pacing: DpsPacing, answers: Answer[]): number[] {
  const times: number[] = [];
  let throttled = 0;
  for (const answer of answers) {
    if (answer.status === 429) throttled += 1;
    const wait = Math.max(waitBeforeAsking(answer.status, answer.retryAfter, throttled, pacing), pacing.pacer.delay());
    clock.advance(wait);
    pacing.pacer.record();
    times.push(clock.now());
  }
  return times;
}

function mostInAnyWindow(times: number[]): number {
  let most = 0;
  for (const start of times) most = Math.max(most, times.filter((t) => t >= start && t < start + DPS_WINDOW_MS).length);
  return most;
}

describe('DPS poll pacing', () => {
  it('keeps polls within 5 per 10 s when DPS says retry-after 0', () => {
    const clock = manualClock();
    const pacing: DpsPacing = { pacer: new RequestPacer(clock), random: () => 0.5, hadAssignment: false };
    const times = poll(
      clock,
      pacing,
      Array.from({ length: 30 }, () => ({ status: 202, retryAfter: 0 })),
    );
    expect(DPS_REQUESTS_PER_WINDOW).toBe(5);
    expect(mostInAnyWindow(times)).toBe(5);
    // The first five go at once; then one more each time the oldest leaves the window.
    expect(times.slice(0, 5).every((t) => t === times[0])).toBe(true);
    expect(times[5]! - times[0]!).toBe(DPS_WINDOW_MS);
    expect(times[29]! - times[0]!).toBe(5 * DPS_WINDOW_MS);
  });

  it('waits what retry-after says when that is slower than the limit', () => {
    const clock = manualClock();
    const pacing: DpsPacing = { pacer: new RequestPacer(clock), random: () => 0.5, hadAssignment: false };
    const times = poll(
      clock,
      pacing,
      Array.from({ length: 10 }, () => ({ status: 202, retryAfter: 3 })),
    );
    expect(times.slice(1).map((t, i) => t - times[i]!)).toEqual(new Array(9).fill(3000));
  });

  it('polls 2 s apart when an assigning answer has no retry-after', () => {
    const clock = manualClock();
    const pacing: DpsPacing = { pacer: new RequestPacer(clock), random: () => 0.5, hadAssignment: false };
    const times = poll(clock, pacing, [{ status: 202 }, { status: 202 }, { status: 202 }]);
    expect(times[1]! - times[0]!).toBe(2000);
    expect(times[2]! - times[1]!).toBe(2000);
  });

  it('a 429 waits its retry-after (0 included, within the limit), else the throttled backoff', () => {
    const clock = manualClock();
    const pacing: DpsPacing = { pacer: new RequestPacer(clock), random: () => 0.5, hadAssignment: false };
    expect(waitBeforeAsking(429, 7, 1, pacing)).toBe(7000);
    expect(waitBeforeAsking(429, undefined, 1, pacing)).toBeGreaterThanOrEqual(10_000);
    expect(waitBeforeAsking(429, undefined, 5, pacing)).toBeLessThanOrEqual(60_000);
    const times = poll(
      clock,
      pacing,
      Array.from({ length: 12 }, () => ({ status: 429, retryAfter: 0 })),
    );
    expect(mostInAnyWindow(times)).toBe(5);
  });
});
