// What every simulated device has in common: its plan, its state as the engine sees it, paced telemetry, and
// retrying with the SDKs' backoff. Each kind adds how it reaches its target.
import type { AzureTarget } from '../endpoints/target.js';
import type { RegisterPayload } from '../protocol/index.js';
import { backoffDelay } from '../transport/backoff.js';
import { classify, type ClassifiedError } from '../transport/errors.js';
import type { SimContext, SimThing, ThingState } from './context.js';
import { provision, type Assignment } from './dps-client.js';
import { TelemetryPacer, type TelemetrySource } from './telemetry-pacer.js';
import { traceExcerpt } from '../metrics/message-ring.js';

/** How a device proves who it is: through DPS (a derived key or a certificate), or a connection string. */
export type DeviceAuth =
  | { kind: 'dps-sas'; deviceKey: string }
  | { kind: 'dps-x509'; certPem: string; keyPem: string }
  /** Already registered: a connection string's hub and key (GatewayHostName: where to dial). */
  | { kind: 'direct-sas'; hubHost: string; deviceKey: string; gatewayHost?: string };

/** One identity as the engine planned it. */
export interface DeviceIdentityPlan {
  deviceId: string;
  group: string;
  ordinal: number;
  /** Wall-clock ms when it should arrive (provision/connect). */
  arrivalAt: number;
  /** Seeded [0,1) for jitter and phases. */
  random: () => number;
}

export type { TelemetrySource } from './telemetry-pacer.js';

const TRANSITIONS_KEPT = 10;

export interface Transition {
  atMs: number;
  from: ThingState;
  to: ThingState;
}

export abstract class PacedThing implements SimThing {
  state: ThingState = 'waiting';
  /** The last few state changes, for a person drilling into this device. */
  readonly transitions: Transition[] = [];
  protected attempt = 0;
  /** Connection generation: callbacks of a connection that is gone are ignored. */
  protected generation = 0;
  protected quiescing = false;
  protected readonly telemetry: TelemetryPacer;

  constructor(protected readonly ctx: SimContext, readonly plan: DeviceIdentityPlan, telemetryIntervalMs: number, source: TelemetrySource) {
    this.telemetry = new TelemetryPacer(ctx, plan.deviceId, plan.random, telemetryIntervalMs, source);
  }

  get deviceId(): string {
    return this.plan.deviceId;
  }

  get pendingAcks(): number {
    return this.telemetry.pending;
  }

  setTelemetryRate(multiplier: number): void {
    this.telemetry.setRate(multiplier);
  }

  protected setState(next: ThingState): void {
    if (next === this.state) return;
    this.ctx.stateChanged(this.plan.group, this.state, next);
    if (this.transitions.length === TRANSITIONS_KEPT) this.transitions.shift();
    this.transitions.push({ atMs: Date.now(), from: this.state, to: next });
    this.state = next;
  }

  /** A method, not a property test, so TypeScript does not narrow it away across awaits. */
  protected isStopped(): boolean {
    return this.state === 'stopped' || this.quiescing;
  }

  protected fail(e: ClassifiedError): void {
    this.ctx.log('warn', `${this.deviceId} gave up: ${e.message}`);
    this.setState('failed');
  }

  /**
   * Arrival: provisions through DPS (once; a device keeps its assignment across reconnects), then calls
   * `connect`. Refusals (auth, protocol) fail the device; other errors retry with backoff.
   */
  protected async arriveThrough(
    target: AzureTarget, auth: DeviceAuth, payload: RegisterPayload | undefined, intended: number,
    connect: (assignment: Assignment, intendedAt: number) => Promise<void>,
  ): Promise<void> {
    if (this.isStopped()) return;
    let assignment: Assignment;
    if (auth.kind === 'direct-sas') {
      assignment = { assignedHub: auth.hubHost, deviceId: this.deviceId };
    } else {
      this.setState('provisioning');
      const started = this.ctx.scheduler.now();
      try {
        assignment = await provision(
          this.ctx, target, this.deviceId,
          auth.kind === 'dps-sas' ? { kind: 'sas', deviceKey: auth.deviceKey } : { kind: 'x509', certPem: auth.certPem, keyPem: auth.keyPem },
          payload, this.ctx.localAddress(this.plan.ordinal),
        );
        this.ctx.metrics.recordLatency('provision', intended, started, this.ctx.scheduler.now());
        this.ctx.watch?.of(this.deviceId)?.add({ atMs: started, direction: 'up', kind: 'provision', status: 'acked', latencyMs: this.ctx.scheduler.now() - started, summary: assignment.assignedHub });
      } catch (err) {
        const e = classify(err);
        this.ctx.watch?.of(this.deviceId)?.add({ atMs: started, direction: 'up', kind: 'provision', status: 'failed', latencyMs: this.ctx.scheduler.now() - started, summary: traceExcerpt(`${e.errorClass}: ${e.message}`) });
        this.ctx.metrics.recordError(e.errorClass, `${this.deviceId}: ${e.message}`, 'provision');
        if (e.errorClass === 'auth' || e.errorClass === 'protocol') return this.fail(e);
        return this.retry(e, (at) => void this.arriveThrough(target, auth, payload, at, connect));
      }
    }
    if (this.isStopped()) return;
    this.attempt = 0;
    await connect(assignment, this.ctx.scheduler.now());
  }

  /** Tries again after the SDKs' backoff; `again` gets the time it was meant to run at. */
  protected retry(e: ClassifiedError, again: (intendedAt: number) => void): void {
    if (this.isStopped()) return;
    this.attempt += 1;
    this.setState('backingOff');
    this.ctx.scheduler.after(backoffDelay(this.attempt, e.errorClass === 'throttled', this.plan.random), again);
  }

  abstract start(): void;
  abstract drop(): void;
  abstract quiesce(): void;
  abstract stop(): Promise<void>;
}
