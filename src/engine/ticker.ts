// The coordinator's second: closes the aggregate's interval and hands one merged snapshot to the outputs.
import type { MetricsAggregate } from '../metrics/aggregate.js';
import type { ProcessLoad } from '../metrics/types.js';
import { describeStage } from '../config/stage.js';
import type { Profile } from '../config/profile.js';
import type { FaultEventReport } from '../metrics/fault-events.js';
import type { RunSnapshot } from '../outputs/output.js';
import type { WorkerPool } from './pool.js';

/** What the coordinator follows each second beside the snapshot: the profile's events, limits met. */
export type TickObserver = (now: number, fleet: TickLevel) => FaultEventReport[];

/** Identities connected, connections to the target open, and sockets of the identities in all. */
export interface TickLevel {
  connected: number;
  connections: number;
  sockets: number;
}

export class SnapshotTicker {
  paused = false;
  stopping = false;
  private readonly timer: NodeJS.Timeout;
  private cpuMark = process.cpuUsage();
  private cpuAt = performance.now();

  constructor(
    private readonly run: { startAt: number; durationMs: number; profile: Profile; observe?: TickObserver },
    private readonly pool: WorkerPool,
    private readonly aggregate: MetricsAggregate,
    onSnapshot: (s: RunSnapshot) => void,
    periodMs = 1000,
  ) {
    this.timer = setInterval(() => onSnapshot(this.take()), periodMs);
  }

  take(now = Date.now()): RunSnapshot {
    this.aggregate.tick(now);
    const { startAt, durationMs, profile } = this.run;
    const rampDown = profile.rampDown === undefined ? {} : { rampDownMs: profile.rampDown };
    const connections = this.pool.connections();
    const connected = this.aggregate.gauges()['connected'] ?? 0;
    const events = this.run.observe?.(now, { connected, connections, sockets: this.pool.sockets() }) ?? [];
    return {
      atMs: now,
      elapsedMs: Math.max(0, now - startAt),
      stage: describeStage(profile.arrivals, now - startAt, { durationMs, ...rampDown, stopping: this.stopping }),
      paused: this.paused,
      stopping: this.stopping,
      aggregate: this.aggregate,
      ...this.pool.counts(),
      workers: this.pool.loads(),
      process: this.processLoad(),
      connections,
      events,
    };
  }

  private processLoad(): ProcessLoad {
    const cpu = process.cpuUsage(this.cpuMark);
    const at = performance.now();
    const cpuPercent = ((cpu.user + cpu.system) / 1000 / Math.max(1, at - this.cpuAt)) * 100;
    this.cpuMark = process.cpuUsage();
    this.cpuAt = at;
    return { cpuPercent, rssMB: residentMB() };
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** The resident set reads /proc with a descriptor of its own: when the fleet has used them all, it is unknown. */
function residentMB(): number | null {
  try {
    return process.memoryUsage.rss() / 1_048_576;
  } catch {
    return null;
  }
}
