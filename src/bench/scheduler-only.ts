// The Scheduler alone: `identities` periodic tasks every `intervalMs` with random phases, tasks that do nothing
// but reschedule themselves. Its lateness is what the mechanism itself adds (timer granularity, heap, batching),
// apart from what a busy event loop adds under real telemetry.
import { Scheduler } from '../core/scheduler.js';
import { clampUs, latencyHistogram, percentiles, sleep, type Percentiles } from './measure.js';

export interface SchedulerOnlyFigures extends Percentiles {
  identities: number;
  intervalMs: number;
  tasksPerSec: number;
  cpuMicrosPerTask: number;
}

export async function schedulerOnly(
  identities: number,
  intervalMs: number,
  warmupMs: number,
  windowMs: number,
): Promise<SchedulerOnlyFigures> {
  const h = latencyHistogram();
  let recording = false;
  let tasks = 0;
  const scheduler = new Scheduler((lateMs) => {
    if (recording) h.recordValue(clampUs(lateMs * 1000));
  });
  const start = scheduler.now();
  for (let i = 0; i < identities; i++) {
    const tick = (at: number) => {
      tasks++;
      scheduler.at(at + intervalMs, tick);
    };
    scheduler.at(start + Math.random() * intervalMs, tick);
  }
  try {
    await sleep(warmupMs);
    recording = true;
    tasks = 0;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await sleep(windowMs);
    const cpu = process.cpuUsage(c0);
    const elapsed = (performance.now() - t0) / 1000;
    recording = false;
    return {
      ...percentiles(h),
      identities,
      intervalMs,
      tasksPerSec: Math.round(tasks / elapsed),
      cpuMicrosPerTask: Math.round(((cpu.user + cpu.system) / Math.max(tasks, 1)) * 100) / 100,
    };
  } finally {
    scheduler.stop();
  }
}
