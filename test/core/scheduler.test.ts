import { describe, expect, it, vi } from 'vitest';
import { Scheduler, type SchedulerClock } from '../../src/core/scheduler.js';

describe('Scheduler', () => {
  it('runs tasks in intended-time order, ties in insertion order, each told its intended time', async () => {
    const s = new Scheduler();
    const t0 = s.now();
    const seen: [string, number][] = [];
    s.at(t0 + 30, (at) => seen.push(['c', at - t0]));
    s.at(t0 + 10, (at) => seen.push(['a', at - t0]));
    s.at(t0 + 10, (at) => seen.push(['b', at - t0]));
    s.at(t0 - 5, (at) => seen.push(['past', at - t0]));
    await new Promise((r) => setTimeout(r, 80));
    expect(seen).toEqual([
      ['past', -5],
      ['a', 10],
      ['b', 10],
      ['c', 30],
    ]);
    s.stop();
  });

  it('does not run cancelled tasks, and keeps going when a task throws', async () => {
    const s = new Scheduler();
    const seen: string[] = [];
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    const handle = s.after(5, () => seen.push('cancelled'));
    s.after(5, () => {
      throw new Error('boom');
    });
    s.after(10, () => seen.push('after'));
    handle.cancel();
    await new Promise((r) => setTimeout(r, 50));
    process.off('warning', onWarning);
    expect(seen).toEqual(['after']);
    expect(warnings.some((w) => w.includes('boom'))).toBe(true);
    s.stop();
  });

  it('reports how late each task ran against its intended time', async () => {
    let fake = 1000;
    const clock: SchedulerClock = { now: () => fake };
    const lateness: number[] = [];
    const s = new Scheduler((late) => lateness.push(late), clock);
    s.at(990, () => {});
    s.at(1000, () => {});
    await new Promise((r) => setTimeout(r, 10));
    expect(lateness).toEqual([10, 0]);
    fake = 2000;
    s.at(1500, () => {});
    await new Promise((r) => setTimeout(r, 10));
    expect(lateness[2]).toBe(500);
    s.stop();
  });

  it('runs a backlog in slices bounded in time, letting other callbacks run in between', async () => {
    // Each task takes 0.5 ms of a fake clock: a 4 ms slice holds a few dozen at most, whatever the machine.
    let fake = 0;
    const s = new Scheduler(() => {}, { now: () => fake }, 100_000, 4);
    let others = 0;
    let watching = true;
    const other = () => {
      others++;
      if (watching) setImmediate(other);
    };
    setImmediate(other);
    const seen: number[] = [];
    for (let i = 0; i < 200; i++) {
      s.at(0, () => {
        fake += 0.5;
        seen.push(others);
      });
    }
    while (seen.length < 200) await new Promise((r) => setTimeout(r, 5));
    watching = false;
    expect(new Set(seen).size).toBeGreaterThan(5);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    s.stop();
  });

  it('yields to I/O between batches when many tasks are due at once', async () => {
    const s = new Scheduler(() => {}, undefined, 100);
    const now = s.now();
    let ran = 0;
    let ioTurns = 0;
    for (let i = 0; i < 1000; i++) s.at(now, () => void ran++);
    const io = setInterval(() => void ioTurns++, 0);
    await new Promise((r) => setTimeout(r, 100));
    clearInterval(io);
    expect(ran).toBe(1000);
    expect(ioTurns).toBeGreaterThan(1);
    s.stop();
  });

  it('arms its timer once per run, however many tasks schedule their next turn from inside it', async () => {
    // Every periodic device reschedules itself from inside run(); re-arming there doubled the timers created.
    const fake = { t: 0 };
    const s = new Scheduler(() => {}, { now: () => fake.t });
    let ran = 0;
    const tick = (at: number) => {
      ran++;
      s.at(at + 2000, tick);
    };
    for (let i = 0; i < 500; i++) s.at(0, tick);
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    try {
      // The first turn is a timer due now; a loaded machine may take more than one loop turn to fire it.
      await vi.waitFor(() => expect(ran).toBe(500), { timeout: 5000, interval: 5 });
      const armed = setTimeoutSpy.mock.calls.filter(
        ([fn]) => typeof fn === 'function' && fn.name.includes('runNow'),
      ).length;
      expect(armed).toBe(1);
    } finally {
      setTimeoutSpy.mockRestore();
      s.stop();
    }
  });
});
