// Telemetry phases: each identity starts at its own offset within one interval, drawn from its seeded random
// source, so a fleet does not send in lockstep and the same seed gives the same schedule.
import { describe, expect, it } from 'vitest';
import { Scheduler, type Task, type ScheduledHandle } from '../../src/core/scheduler.js';
import { MetricsRecorder } from '../../src/metrics/recorder.js';
import type { SimContext } from '../../src/sim/context.js';
import { Prng, seedFor } from '../../src/sim/model/random.js';
import { TelemetryPacer } from '../../src/sim/telemetry-pacer.js';

/** A scheduler on a fixed clock that remembers when each task was asked to run. */
class RecordingScheduler extends Scheduler {
  readonly asked: number[] = [];
  override at(atMs: number, task: Task): ScheduledHandle {
    this.asked.push(atMs);
    return super.at(atMs, task);
  }
}

function firstTicks(seed: string, identities: number): number[] {
  const scheduler = new RecordingScheduler(() => {}, { now: () => 1_000_000 });
  const ctx = { scheduler, metrics: new MetricsRecorder(), acknowledgedBy: () => {} } as unknown as SimContext;
  for (let i = 0; i < identities; i++) {
    const prng = new Prng(seedFor(seed, `dev-${i}`));
    const pacer = new TelemetryPacer(ctx, `dev-${i}`, () => prng.next(), 2000, { tick: () => [] });
    pacer.start(() => {});
  }
  scheduler.stop();
  return scheduler.asked.map((at) => at - 1_000_000);
}

describe('telemetry phases', () => {
  it('are the same for the same seed, differ for another, and spread over the interval', () => {
    const a = firstTicks('run-1', 200);
    expect(firstTicks('run-1', 200)).toEqual(a);
    expect(firstTicks('run-2', 200)).not.toEqual(a);
    expect(a.every((t) => t >= 0 && t < 2000)).toBe(true);
    // Spread: every tenth of the interval holds some first ticks, none holds most of them.
    const tenths = Array.from({ length: 10 }, (_, k) => a.filter((t) => Math.floor(t / 200) === k).length);
    expect(Math.min(...tenths)).toBeGreaterThan(0);
    expect(Math.max(...tenths)).toBeLessThan(60);
  });
});
