// What every simulated device has in common: its plan, its state as the engine sees it, paced telemetry, how it
// gets its hub (DPS, the assignment cache, a connection string), and what it does when something fails: the one
// retry policy (transport/retry-policy.ts) decides, this carries it out. Each kind adds how it reaches its target.
import type { AzureTarget } from '../endpoints/target.js';
import type { RegisterPayload } from '../protocol/index.js';
import type { Operation } from '../metrics/operations.js';
import type { ProvisioningCounts } from '../metrics/types.js';
import { classify, type ClassifiedError } from '../transport/errors.js';
import {
  failureOf,
  isRefusal,
  PHASE_OPERATION,
  RetryState,
  type AssignedBy,
  type RetryDecision,
  type RetryPhase,
} from '../transport/retry-policy.js';
import type { SimContext, SimThing, ThingState } from './context.js';
import { provision, RequestPacer, type Assignment, type DpsPacing } from './dps-client.js';
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

/** What arriving needs again when the thing registers anew. */
interface Arrival {
  target: AzureTarget;
  auth: DeviceAuth;
  payload: RegisterPayload | undefined;
  connect: (assignment: Assignment, intendedAt: number) => Promise<void>;
}

export abstract class PacedThing implements SimThing {
  state: ThingState = 'waiting';
  /** The last few state changes, for a person drilling into this device. */
  readonly transitions: Transition[] = [];
  /** Backoff attempts and refusals in a row, for the retry policy. */
  protected readonly recovery = new RetryState();
  /** Connection generation: callbacks of a connection that is gone are ignored. */
  protected generation = 0;
  protected quiescing = false;
  protected readonly telemetry: TelemetryPacer;
  /** An assignment was made for this identity (in this run, or in an earlier one: the cache). */
  protected hadAssignment = false;
  /** Connected at least once with the assignment in use: a failure to connect is then a reconnect's. */
  protected connectedOnce = false;
  private arrival: Arrival | undefined;
  private dpsPacing: DpsPacing | undefined;
  private readonly counted = new Set<keyof ProvisioningCounts>();

  constructor(
    protected readonly ctx: SimContext,
    readonly plan: DeviceIdentityPlan,
    telemetryIntervalMs: number,
    source: TelemetrySource,
  ) {
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

  /** At the end of the run: stopped, unless it failed (a failed identity stays failed in every count). */
  protected setStopped(): ThingState {
    const previous = this.state;
    if (previous !== 'failed') this.setState('stopped');
    return previous;
  }

  /** A method, not a property test, so TypeScript does not narrow it away across awaits. */
  protected isStopped(): boolean {
    return this.state === 'stopped' || this.state === 'failed' || this.quiescing;
  }

  /** How this identity got its hub, for the retry policy (fixed credentials when it never went through DPS). */
  protected get assignedBy(): AssignedBy {
    const kind = this.arrival?.auth.kind;
    return kind === undefined || kind === 'direct-sas' ? 'connectionString' : 'dps';
  }

  /** Connected: the backoff starts over and refusals are no longer in a row. */
  protected connectedNow(): void {
    this.connectedOnce = true;
    this.recovery.connected();
  }

  /**
   * Gives up: the identity is failed, with the reason in the errors (class and message) and the log. What it had
   * in flight can no longer be acknowledged: failed too.
   */
  protected fail(e: ClassifiedError, reason?: string, operation?: Operation): void {
    if (this.state === 'failed' || this.state === 'stopped') return;
    const why = reason === undefined ? e.message : `${reason} (${e.message})`;
    this.ctx.log('warn', `${this.deviceId} gave up: ${why}`);
    this.ctx.metrics.recordError(e.errorClass, `${this.deviceId} gave up: ${why}`, operation);
    if (isRefusal(e) && this.assignedBy === 'dps') this.ctx.assignments?.forget(this.deviceId);
    this.telemetry.connectionLost(`${this.deviceId} gave up`);
    this.setState('failed');
    this.gaveUp();
  }

  /** Closes whatever the thing still holds once it has given up. */
  protected gaveUp(): void {}

  /**
   * A failure, as the retry policy decides: retried (`retry`, after the backoff), registered again through DPS
   * (then connected), or given up. The error is counted once, in its phase's operation.
   */
  protected recover(
    e: ClassifiedError,
    phase: RetryPhase,
    retry: (intendedAt: number) => void,
    assignedBy = this.assignedBy,
  ): void {
    const decision = this.decide(e, phase, assignedBy);
    if (decision === undefined) return;
    this.setState('backingOff');
    const reprovision = decision.action === 'reprovision' && this.assignedBy === 'dps';
    this.ctx.scheduler.after(decision.delayMs, reprovision ? (at) => void this.reprovision(at) : retry);
  }

  /** The retry policy's decision for a failure, the error counted; undefined when it gave up (the thing is failed). */
  protected decide(
    e: ClassifiedError,
    phase: RetryPhase,
    assignedBy = this.assignedBy,
  ): (RetryDecision & { delayMs: number }) | undefined {
    if (this.isStopped()) return undefined;
    const decision = this.recovery.next(
      { ...failureOf(e), phase, assignedBy, hadAssignment: this.hadAssignment },
      this.plan.random,
    );
    const operation = PHASE_OPERATION[phase];
    if (decision.action === 'giveUp') {
      this.fail(e, decision.reason, operation);
      return undefined;
    }
    this.ctx.metrics.recordError(e.errorClass, `${this.deviceId}: ${e.message}`, operation);
    return decision;
  }

  /** Registers again through DPS (the cache is not asked), then connects with the new assignment. */
  protected reprovision(intended: number): Promise<void> {
    return this.assign(intended, false);
  }

  /**
   * Arrival: the assignment (a connection string's hub; the cache's, when it has one for this payload; else DPS),
   * then `connect`. What goes wrong goes through the retry policy.
   */
  protected arriveThrough(
    target: AzureTarget,
    auth: DeviceAuth,
    payload: RegisterPayload | undefined,
    intended: number,
    connect: (assignment: Assignment, intendedAt: number) => Promise<void>,
  ): Promise<void> {
    this.arrival = { target, auth, payload, connect };
    return this.assign(intended, true);
  }

  private async assign(intended: number, useCache: boolean): Promise<void> {
    const arrival = this.arrival;
    if (arrival === undefined || this.isStopped()) return;
    let assignment: Assignment | undefined;
    if (arrival.auth.kind === 'direct-sas') {
      assignment = { assignedHub: arrival.auth.hubHost, deviceId: this.deviceId };
    } else {
      assignment = useCache ? this.ctx.assignments?.get(this.deviceId, arrival.payload) : undefined;
      if (assignment !== undefined) this.count('reusedFromCache');
      else assignment = await this.register(arrival, intended);
      if (assignment === undefined) return;
      this.hadAssignment = true;
    }
    if (this.isStopped()) return;
    this.connectedOnce = false;
    await arrival.connect(assignment, this.ctx.scheduler.now());
  }

  /** One registration through DPS; undefined when it failed (the retry policy has decided what comes next). */
  private async register(arrival: Arrival, intended: number): Promise<Assignment | undefined> {
    const { target, auth, payload } = arrival;
    if (auth.kind === 'direct-sas') return undefined;
    this.setState('provisioning');
    const started = this.ctx.scheduler.now();
    const pacing = (this.dpsPacing ??= {
      pacer: new RequestPacer(this.ctx.scheduler),
      random: this.plan.random,
      hadAssignment: false,
    });
    pacing.hadAssignment = this.hadAssignment;
    try {
      const assignment = await provision(
        this.ctx,
        target,
        this.deviceId,
        auth.kind === 'dps-sas'
          ? { kind: 'sas', deviceKey: auth.deviceKey }
          : { kind: 'x509', certPem: auth.certPem, keyPem: auth.keyPem },
        payload,
        this.ctx.localAddress(this.plan.ordinal),
        pacing,
      );
      const ended = this.ctx.scheduler.now();
      this.ctx.metrics.recordLatency('provision', intended, started, ended);
      this.traceProvision(started, ended, 'acked', assignment.assignedHub);
      this.count(this.hadAssignment ? 'reprovisioned' : 'provisioned');
      this.ctx.assignments?.assigned(this.deviceId, assignment, payload);
      this.recovery.progressed();
      return assignment;
    } catch (err) {
      const e = classify(err);
      this.traceProvision(started, this.ctx.scheduler.now(), 'failed', traceExcerpt(`${e.errorClass}: ${e.message}`));
      this.recover(e, 'provision', (at) => void this.assign(at, false));
      return undefined;
    }
  }

  /** The registration in the drill-down (only while somebody looks). */
  private traceProvision(started: number, ended: number, status: 'acked' | 'failed', summary: string): void {
    this.ctx.watch?.of(this.deviceId)?.add({
      atMs: started,
      direction: 'up',
      kind: 'provision',
      status,
      latencyMs: ended - started,
      summary,
    });
  }

  /** Each identity counts once in each of the run's provisioning figures. */
  private count(what: keyof ProvisioningCounts): void {
    if (this.counted.has(what)) return;
    this.counted.add(what);
    this.ctx.metrics.provisioning[what] += 1;
  }

  abstract start(): void;
  abstract drop(): void;
  abstract quiesce(): void;
  abstract stop(): Promise<void>;
}
