// What a worker gives the things it runs (their SimContext) and what it keeps from them: one scheduler, one
// recorder, identities by state, acknowledgements per identity. Tests build their things on the same one.
import { Scheduler, type SchedulerClock } from '../core/scheduler.js';
import type { Target } from '../endpoints/target.js';
import { samePayload, type AssignmentChanges, type AssignmentEntries } from '../endpoints/assignment-cache.js';
import { MessageWatch } from '../metrics/message-ring.js';
import { MetricsRecorder } from '../metrics/recorder.js';
import type { FleetLevel } from '../metrics/fault-events.js';
import type { StateCounts, ThingState } from '../metrics/types.js';
import type { AssignedHub, AssignmentBook, SimContext } from '../sim/context.js';
import type { RegisterPayload } from '../protocol/index.js';
import { FleetConnections } from './connections.js';

type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 } as const;
const DRILL_MESSAGES_KEPT = 20;
const DRILL_LEASE_MS = 15_000;

export interface FleetContextOptions {
  /** Lines at this level and above reach `log`. */
  logLevel: LogLevel;
  log(level: LogLevel, message: string): void;
  notice?(message: string): void;
  /** A device acknowledged a desired version (the actions measure desiredAck latency from it). */
  desiredAcknowledged?(deviceId: string, moduleId: string | undefined, version: number, atMs: number): void;
  /** Source addresses to spread connections over (--local-address). */
  localAddresses?: readonly string[];
  clock?: SchedulerClock;
  mqtt?: SimContext['mqtt'];
  /** The assignment cache's entries for these identities; absent: nothing is cached (a target without DPS). */
  assignments?: AssignmentEntries;
}

/** A worker's part of the assignment cache: its identities' entries, and what changed since it last reported. */
export class WorkerAssignments implements AssignmentBook {
  private changes: AssignmentChanges = {};
  private changed = false;

  constructor(private readonly entries: AssignmentEntries) {}

  get(registrationId: string, payload: RegisterPayload | undefined): AssignedHub | undefined {
    const entry = this.entries[registrationId];
    if (entry === undefined || !samePayload(entry.payload, payload)) return undefined;
    return { assignedHub: entry.assignedHub, deviceId: entry.deviceId };
  }

  assigned(registrationId: string, assignment: AssignedHub, payload: RegisterPayload | undefined): void {
    const entry = {
      assignedHub: assignment.assignedHub,
      deviceId: assignment.deviceId,
      ...(payload === undefined ? {} : { payload }),
      assignedAt: new Date().toISOString(),
    };
    this.entries[registrationId] = entry;
    this.note(registrationId, entry);
  }

  forget(registrationId: string): void {
    if (this.entries[registrationId] === undefined) return;
    delete this.entries[registrationId];
    this.note(registrationId, null);
  }

  /** What changed since the last call, or undefined when nothing did. */
  takeChanges(): AssignmentChanges | undefined {
    if (!this.changed) return undefined;
    const changes = this.changes;
    this.changes = {};
    this.changed = false;
    return changes;
  }

  private note(registrationId: string, entry: AssignmentChanges[string]): void {
    this.changes[registrationId] = entry;
    this.changed = true;
  }
}

export class FleetContext {
  readonly metrics = new MetricsRecorder(Date.now());
  readonly scheduler: Scheduler;
  /** Messages of the devices somebody drills into; recording starts with the first question, lapses without one. */
  readonly watch = new MessageWatch(DRILL_MESSAGES_KEPT, DRILL_LEASE_MS);
  /** Identities by state, per group. */
  readonly states: StateCounts = {};
  /** Identities by state over all groups, also sent as gauges (the live view's "connected"). */
  readonly stateTotals: Record<string, number> = {};
  /** Messages the target acknowledged, per identity (reconciliation compares them with what it received). */
  readonly acknowledgedBy: Record<string, number> = {};
  /** The assignment cache as this worker's things use it; absent when nothing is cached. */
  readonly assignments: WorkerAssignments | undefined;
  /** The sockets of this worker's identities (a network event cuts them). */
  readonly connections = new FleetConnections(() => this.checkWhole());
  readonly sim: SimContext;
  /** Profile events waiting for this worker's identities and connections to be back to their level. */
  private wholeWatches: WholeWatch[] = [];

  constructor(target: Target, options: FleetContextOptions) {
    this.scheduler = new Scheduler((late) => this.metrics.recordLateness(late), options.clock);
    const addresses = options.localAddresses ?? [];
    const entries = options.assignments;
    this.assignments = entries === undefined ? undefined : new WorkerAssignments({ ...entries });
    this.sim = {
      scheduler: this.scheduler,
      metrics: this.metrics,
      target,
      watch: this.watch,
      localAddress: (ordinal) => (addresses.length === 0 ? undefined : addresses[ordinal % addresses.length]),
      stateChanged: (group, from, to) => this.stateChanged(group, from, to),
      desiredAcknowledged: (...args) => options.desiredAcknowledged?.(...args),
      acknowledgedBy: (identity) => void (this.acknowledgedBy[identity] = (this.acknowledgedBy[identity] ?? 0) + 1),
      log: (level, message) => {
        if (LEVELS[level] >= LEVELS[options.logLevel]) options.log(level, message);
      },
      notice: (message) => options.notice?.(message),
      ...(this.assignments === undefined ? {} : { assignments: this.assignments }),
      connections: this.connections,
      mqtt: options.mqtt ?? { keepaliveSeconds: 180, connectTimeoutMs: 30_000, operationTimeoutMs: 30_000 },
    };
  }

  private stateChanged(group: string, from: ThingState, to: ThingState): void {
    const g = (this.states[group] ??= {});
    g[from] = (g[from] ?? 0) - 1;
    g[to] = (g[to] ?? 0) + 1;
    this.stateTotals[from] = (this.stateTotals[from] ?? 0) - 1;
    this.stateTotals[to] = (this.stateTotals[to] ?? 0) + 1;
    this.metrics.setGauge(from, this.stateTotals[from]);
    this.metrics.setGauge(to, this.stateTotals[to]);
    if (from === 'connected' || to === 'connected') this.checkWhole();
  }

  /** Identities connected and connections open now. */
  level(): FleetLevel {
    return { identities: this.stateTotals.connected ?? 0, connections: this.connections.open };
  }

  /**
   * Calls `whole` once this worker has as many identities connected and connections open as `before` again, after
   * having had fewer (an event that took nothing away is whole at once). Stops watching with `forgetWatches`.
   */
  whenWhole(before: FleetLevel, tookAway: FleetLevel, whole: (atMs: number) => void): void {
    if (tookAway.identities === 0 && tookAway.connections === 0) return whole(Date.now());
    this.wholeWatches.push({ before, dipped: false, whole });
    this.checkWhole();
  }

  forgetWatches(): void {
    this.wholeWatches = [];
  }

  private checkWhole(): void {
    if (this.wholeWatches.length === 0) return;
    const now = this.level();
    this.wholeWatches = this.wholeWatches.filter((w) => {
      const back = now.identities >= w.before.identities && now.connections >= w.before.connections;
      if (!back) w.dipped = true;
      if (!back || !w.dipped) return true;
      w.whole(Date.now());
      return false;
    });
  }

  /** `count` identities of `group` wait to arrive. */
  addWaiting(group: string, count: number): void {
    const g = (this.states[group] ??= {});
    g.waiting = (g.waiting ?? 0) + count;
    this.stateTotals.waiting = (this.stateTotals.waiting ?? 0) + count;
    this.metrics.setGauge('waiting', this.stateTotals.waiting);
  }
}

interface WholeWatch {
  before: FleetLevel;
  /** Seen below its level since: what the event took away has gone (sockets close a moment after they are cut). */
  dipped: boolean;
  whole(atMs: number): void;
}
