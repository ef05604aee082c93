// Telemetry phases pin the client and the emulator to cores of their own (taskset), as if on two machines. Sharing
// two cores, the emulator's wake-ups and batches preempted the client's event loop 5–24 ms at a time (perf
// sched_switch: the client runnable, the emulator running), which the scheduler's lateness then measured.
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';

export interface CorePinning {
  /** `taskset -c` lists: the client gets every core but the last, the emulator the last. */
  client: string;
  emulator: string;
}

/** Undefined on one core or without taskset: then nothing is pinned (and the report says so). */
export function corePinning(cores = cpus().length): CorePinning | undefined {
  if (cores < 2) return undefined;
  const probe = spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
  if (probe.error !== undefined || probe.status !== 0) return undefined;
  return { client: cores === 2 ? '0' : `0-${cores - 2}`, emulator: String(cores - 1) };
}

/** The command and arguments that run `file args` on `cpuList` (or as they are, without one). */
export function pinned(cpuList: string | undefined, file: string, args: string[]): [string, string[]] {
  return cpuList === undefined ? [file, args] : ['taskset', ['-c', cpuList, file, ...args]];
}
