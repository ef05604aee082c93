// targetRestart: the coordinator owns the embedded emulator's process, so it runs this event itself. At the event's
// time the workers take their levels, the emulator is killed (SIGKILL, as a crash would), and after the event's
// duration it starts again on the same ports and state directory.
import type { ProfileEvent } from '../config/profile.js';
import type { RunningEmulator } from '../endpoints/emulator-target.js';
import type { EventTracker } from './event-tracker.js';
import type { WorkerPool } from './pool.js';

type Log = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;

/** How long the workers have to take their levels before the target goes. */
const REPORT_TIMEOUT_MS = 3000;
const START_ATTEMPTS = 5;
const START_RETRY_MS = 500;

export class TargetRestarts {
  private readonly timers: NodeJS.Timeout[] = [];
  private running: Promise<void> = Promise.resolve();
  /** Ends the downtime now (the run is ending). */
  private wake: (() => void) | undefined;
  private ending = false;

  constructor(
    private readonly events: readonly ProfileEvent[],
    private readonly startAt: number,
    private readonly emulator: RunningEmulator | undefined,
    private readonly pool: WorkerPool,
    private readonly tracker: EventTracker,
    private readonly log: Log,
  ) {}

  /** Each restart at its time, one after the other. */
  schedule(): void {
    this.events.forEach((event, index) => {
      if (event.kind !== 'targetRestart') return;
      const delay = Math.max(0, this.startAt + event.at - Date.now());
      this.timers.push(
        setTimeout(() => {
          this.running = this.running.then(() => this.restart(index, event.duration));
        }, delay),
      );
    });
  }

  /** The run is ending: no restart starts any more, and a target still down starts again now. */
  async settle(): Promise<void> {
    this.ending = true;
    for (const t of this.timers) clearTimeout(t);
    this.wake?.();
    await this.running;
  }

  private async restart(index: number, downMs: number): Promise<void> {
    const { emulator, tracker } = this;
    if (this.ending) return;
    if (emulator === undefined) {
      tracker.started(index, Date.now());
      const error = 'no emulator started by edgefleet to restart';
      tracker.setTarget(index, { killedPid: null, pid: null, mqttPort: null, error });
      this.log('error', `events[${index}] targetRestart: ${error}`);
      return;
    }
    const mqttPort = emulator.info.mqttPort;
    await tracker.whenReported(index, this.pool.event(index), REPORT_TIMEOUT_MS);
    const killedPid = await emulator.kill();
    tracker.started(index, Date.now());
    tracker.setTarget(index, { killedPid, pid: null, mqttPort });
    this.log('info', `events[${index}] targetRestart: killed the emulator (pid ${killedPid}); back in ${downMs} ms`);
    await this.down(downMs);
    try {
      const pid = await this.startAgain(emulator);
      tracker.setTarget(index, { killedPid, pid, mqttPort: emulator.info.mqttPort });
      tracker.targetBack(index, Date.now());
      this.log('info', `events[${index}] targetRestart: the emulator is back (pid ${pid}) on port ${mqttPort}`);
    } catch (err) {
      const error = `could not start the emulator again: ${(err as Error).message}`;
      tracker.setTarget(index, { killedPid, pid: null, mqttPort, error });
      this.log('error', `events[${index}] targetRestart: ${error}`);
    }
  }

  private down(ms: number): Promise<void> {
    if (this.ending) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  /** The ports it listened on were just freed; a moment's retry covers a kernel slow to release them. */
  private async startAgain(emulator: RunningEmulator): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await emulator.start();
      } catch (err) {
        if (attempt >= START_ATTEMPTS) throw err;
        this.log('warn', `the emulator did not start again (attempt ${attempt}): ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, START_RETRY_MS));
      }
    }
  }
}
