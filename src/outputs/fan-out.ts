// The coordinator's outputs as one: each is called in the order given; one that fails while the run goes on is
// logged and left out of the rest of the stream, never stopping the run.
import type { Output, RunFinal, RunSnapshot, RunStart } from './output.js';

type Log = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;

export class OutputFanOut {
  private readonly failed = new Set<Output>();

  constructor(
    private readonly outputs: readonly Output[],
    private readonly log: Log,
  ) {}

  /** Starts every output; one that cannot start (a port in use) stops the run before it measures anything. */
  async start(run: RunStart): Promise<void> {
    for (const o of this.outputs) await o.start?.(run);
  }

  snapshot(s: RunSnapshot): void {
    for (const o of this.outputs) {
      if (o.snapshot === undefined || this.failed.has(o)) continue;
      try {
        o.snapshot(s);
      } catch (err) {
        this.failed.add(o);
        this.log('error', `output ${o.name} failed and stops receiving snapshots: ${(err as Error).message}`);
      }
    }
  }

  /** Finishes each in order, handing on findings; the first error is thrown once every output had its turn. */
  async finish(final: RunFinal): Promise<RunFinal> {
    let current = final;
    let failure: { error: unknown } | undefined;
    for (const o of this.outputs) {
      try {
        const found = await o.finish?.(current);
        if (found) current = { ...current, ...found };
      } catch (err) {
        failure ??= { error: err };
        this.log('error', `output ${o.name} failed at the end of the run: ${(err as Error).message}`);
      }
    }
    if (failure !== undefined) throw failure.error;
    return current;
  }

  async close(): Promise<void> {
    for (const o of this.outputs) {
      try {
        await o.close?.();
      } catch (err) {
        this.log('warn', `output ${o.name} did not close cleanly: ${(err as Error).message}`);
      }
    }
  }
}
