// An identity the worker could not build (a certificate that could not be issued, a connection string without a key
// that slipped past the gate): it fails at its arrival, counted and shown like any identity that gave up, and the
// rest of the worker's fleet runs on.
import type { SimContext, SimThing, ThingState } from './context.js';
import type { DeviceIdentityPlan } from './thing.js';

export class UnbuiltThing implements SimThing {
  state: ThingState = 'waiting';
  readonly transitions: { atMs: number; from: ThingState; to: ThingState }[] = [];
  readonly pendingAcks = 0;

  constructor(
    private readonly ctx: SimContext,
    private readonly plan: DeviceIdentityPlan,
    private readonly reason: string,
  ) {}

  get deviceId(): string {
    return this.plan.deviceId;
  }

  start(): void {
    this.ctx.scheduler.at(this.plan.arrivalAt, () => {
      if (this.state !== 'waiting') return;
      this.ctx.metrics.recordError('other', `${this.deviceId}: could not be set up: ${this.reason}`, 'connect');
      this.ctx.log('warn', `${this.deviceId} gave up: could not be set up: ${this.reason}`);
      this.moveTo('failed');
    });
  }

  drop(): void {}

  quiesce(): void {}

  stop(): Promise<void> {
    // A failed identity stays failed at the end of the run; one that never arrived is stopped.
    if (this.state === 'waiting') this.moveTo('stopped');
    return Promise.resolve();
  }

  private moveTo(next: ThingState): void {
    this.ctx.stateChanged(this.plan.group, this.state, next);
    this.transitions.push({ atMs: Date.now(), from: this.state, to: next });
    this.state = next;
  }
}
