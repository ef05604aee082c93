// Where the run met a limit of this machine: the first `exhaustion` error (descriptors, memory, local ports) and
// how many identities were connected then, with the most that ever were. Read from the merged snapshots.
import type { MetricsAggregate } from '../metrics/aggregate.js';
import type { DescriptorBudget, ExhaustionFinding, RunLimits } from '../metrics/fault-events.js';
import type { TickLevel } from './ticker.js';

export class LimitsWatch {
  private found: ExhaustionFinding | null = null;
  private peak = 0;

  constructor(
    private readonly startAt: number,
    private readonly descriptors: DescriptorBudget | undefined,
    private readonly say: (line: string) => void = () => {},
  ) {}

  /** Once a second, with the fleet's level as merged now. */
  tick(aggregate: MetricsAggregate, { connected, connections, sockets }: TickLevel): void {
    this.peak = Math.max(this.peak, connected);
    if (this.found !== null) return;
    const e = aggregate.errors().exhaustion;
    if (e.count === 0) return;
    const atMs = e.lastAtMs ?? Date.now();
    this.found = {
      at: new Date(atMs).toISOString(),
      atMs: Math.max(0, atMs - this.startAt),
      connected,
      connections,
      sockets,
      message: e.lastMessage,
    };
    this.say(
      `this machine ran out of descriptors, memory or ports at t=${Math.round(this.found.atMs / 1000)} s ` +
        `with ${connected} identities connected, ${connections} connections open and ${sockets} sockets in all ` +
        `(registrations included): ${e.lastMessage ?? ''}`,
    );
  }

  result(): RunLimits {
    return {
      ...(this.descriptors === undefined ? {} : { descriptors: this.descriptors }),
      exhaustion: this.found,
      peakConnected: this.peak,
    };
  }
}
