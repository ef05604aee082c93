// A worker's runtime: one scheduler drives this worker's share of the fleet; a snapshot of its metrics goes to the
// coordinator every second; on "stop" it drains acknowledgements (bounded), disconnects, and reports. It runs in a
// worker thread (worker.ts), or in the coordinator's own thread on a MessageChannel port (tests).
import { getHeapStatistics } from 'node:v8';
import type { SchedulerClock } from '../core/scheduler.js';
import { serviceActionsFor } from '../endpoints/service-actions.js';
import type { DeviceDetail, StateCounts } from '../metrics/types.js';
import { ActionRunner } from '../sim/actions.js';
import { buildActions, buildFleet, type BuiltThing } from '../sim/build.js';
import { FleetContext } from './fleet-context.js';
import { Prng, seedFor } from '../sim/model/random.js';
import type { FromWorker, ToWorker, WorkerInit } from './messages.js';
import { act, scheduleProfileEvents, scheduleRampDown, type EventScope } from './profile-events.js';

/** The coordinator's end of the conversation: a worker thread's parentPort, or a MessagePort. */
export interface CoordinatorPort {
  postMessage(message: FromWorker): void;
  on(event: 'message', listener: (message: ToWorker) => void): unknown;
  close(): void;
}

export interface WorkerRuntimeOptions {
  /** The scheduler's clock (default the wall clock). */
  clock?: SchedulerClock;
}

/**
 * Builds this worker's things and serves the coordinator until it says stop. Resolves with the runtime, or
 * undefined when the fleet could not be built (the coordinator was told why: a `fatal` message).
 */
export async function runWorker(
  port: CoordinatorPort,
  init: WorkerInit,
  options: WorkerRuntimeOptions = {},
): Promise<WorkerRuntime | undefined> {
  const runtime = new WorkerRuntime(port, init, options);
  try {
    await runtime.build();
  } catch (err) {
    port.postMessage({ type: 'fatal', message: (err as Error).message });
    port.close();
    return undefined;
  }
  port.on('message', (m) => runtime.receive(m));
  port.postMessage({ type: 'ready', ...runtime.readiness() });
  return runtime;
}

export class WorkerRuntime {
  private readonly fleet: FleetContext;
  private readonly random: () => number;
  private readonly heldGroups = new Set<string>();
  private things: BuiltThing[] = [];
  private actions: ActionRunner | undefined;
  private ticker: NodeJS.Timeout | undefined;
  /** Pausing holds back arrivals that have not happened yet; resuming shifts them by the time paused. */
  private pausedAt: number | undefined;
  private readonly heldBack: BuiltThing[] = [];
  private events: EventScope | undefined;

  constructor(
    private readonly port: CoordinatorPort,
    private readonly init: WorkerInit,
    options: WorkerRuntimeOptions,
  ) {
    this.fleet = new FleetContext(init.target, {
      logLevel: init.logLevel,
      localAddresses: init.localAddresses,
      log: (level, message) => this.post({ type: 'log', level, message }),
      notice: (message) => this.post({ type: 'notice', message }),
      desiredAcknowledged: (deviceId, moduleId, _version, atMs) => this.actions?.acknowledged(deviceId, moduleId, atMs),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(init.assignments === undefined ? {} : { assignments: init.assignments }),
    });
    const prng = new Prng(seedFor(init.seed, 'worker', init.workerIndex));
    this.random = () => prng.next();
  }

  private get scheduler() {
    return this.fleet.scheduler;
  }

  private post(message: FromWorker): void {
    this.port.postMessage(message);
  }

  async build(): Promise<void> {
    this.things = await buildFleet(this.fleet.sim, this.init);
    for (const { group, held } of this.things) {
      this.fleet.addWaiting(group, 1);
      for (const h of held ?? []) {
        this.heldGroups.add(h.group);
        this.fleet.addWaiting(h.group, h.count);
      }
    }
  }

  receive(m: ToWorker): void {
    if (m.type === 'start') this.start(m.startAt);
    else if (m.type === 'stop') void this.stop(m.drainMs);
    else if (m.type === 'pause') this.setPaused(m.paused);
    // The coordinator is about to take the target away (targetRestart): every connection to it goes.
    else if (m.type === 'event' && this.events !== undefined) act(this.events, m.index, () => this.fleet.level());
    else if (m.type === 'inspect') {
      this.post({ type: 'inspection', requestId: m.requestId, detail: this.inspect(m.deviceId) });
    }
  }

  /** t = 0 of the run: arrivals, actions, events and ramp-down are scheduled from it. */
  private start(startAt: number): void {
    const { init, scheduler } = this;
    const endAt = startAt + init.durationMs;
    for (const built of this.things) {
      built.plan.arrivalAt = startAt + built.arrivalOffsetMs;
      if (Number.isFinite(built.plan.arrivalAt)) scheduler.at(built.plan.arrivalAt, () => this.arrive(built));
    }
    const service = serviceActionsFor(init.target);
    if (service !== undefined) {
      this.actions = new ActionRunner(scheduler, this.fleet.metrics, service, this.things, this.random);
      for (const spec of buildActions(init)) this.actions.schedule(spec, init.actionShare, startAt, endAt);
    }
    const events: EventScope = {
      scheduler,
      things: this.things,
      init,
      ctx: this.fleet.sim,
      fleet: this.fleet,
      random: this.random,
      post: (message) => this.post(message),
    };
    this.events = events;
    scheduleProfileEvents(events, init.scenario.profile.events, startAt);
    scheduleRampDown(events, init.scenario.profile.rampDown, endAt);
    this.ticker = setInterval(() => this.sendSnapshot(), init.snapshotIntervalMs);
  }

  private sendSnapshot(): void {
    const { watch, metrics, states } = this.fleet;
    if (watch.size > 0) watch.expire(this.scheduler.now());
    const assignments = this.fleet.assignments?.takeChanges();
    this.post({
      type: 'snapshot',
      workerIndex: this.init.workerIndex,
      snapshot: metrics.snapshot(Date.now()),
      states: structuredClone(states),
      patterns: this.patternSnapshot(),
      pendingAcks: this.pendingAcks(),
      heapUsed: heapUsed(),
      connections: this.fleet.connections.open,
      sockets: this.fleet.connections.sockets,
      ...(assignments === undefined ? {} : { assignments }),
    });
  }

  private arrive(built: BuiltThing): void {
    if (this.pausedAt !== undefined) {
      this.heldBack.push(built);
      return;
    }
    built.thing.start();
  }

  private setPaused(paused: boolean): void {
    const { scheduler } = this;
    if (paused && this.pausedAt === undefined) this.pausedAt = scheduler.now();
    if (paused || this.pausedAt === undefined) return;
    const shift = scheduler.now() - this.pausedAt;
    this.pausedAt = undefined;
    for (const built of this.heldBack.splice(0)) {
      built.plan.arrivalAt += shift;
      scheduler.at(built.plan.arrivalAt, () => this.arrive(built));
    }
  }

  /** Identities by state per pattern, counted from the things themselves once a second (cheap next to a snapshot). */
  private patternSnapshot(): StateCounts {
    const out: StateCounts = {};
    for (const { pattern, thing } of this.things) {
      const p = (out[pattern] ??= {});
      p[thing.state] = (p[thing.state] ?? 0) + 1;
    }
    // Sensors a module holds (identity translation) are no things of their own: their groups' counts stand for them.
    for (const group of this.heldGroups) {
      const p = (out.identityTranslation ??= {});
      for (const [state, n] of Object.entries(this.fleet.states[group] ?? {})) p[state] = (p[state] ?? 0) + n;
    }
    return out;
  }

  /** What the coordinator knows before the start: every identity waiting, in its group and pattern. */
  readiness(): { groupPatterns: Record<string, string[]>; states: StateCounts; patterns: StateCounts } {
    const states = structuredClone(this.fleet.states);
    return { groupPatterns: this.groupPatterns(), states, patterns: this.patternSnapshot() };
  }

  private groupPatterns(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const { group, pattern } of this.things) {
      const list = (out[group] ??= []);
      if (!list.includes(pattern)) list.push(pattern);
    }
    for (const group of this.heldGroups) out[group] = ['identityTranslation'];
    return out;
  }

  private pendingAcks(): number {
    return this.things.reduce((n, t) => n + t.thing.pendingAcks, 0);
  }

  /**
   * What a person drilling into one device sees: its state machine's recent path and its last messages. Asking
   * starts (or keeps up) the recording of its messages.
   */
  private inspect(deviceId: string): DeviceDetail | null {
    const built = this.things.find((b) => b.thing.deviceId === deviceId);
    if (built === undefined) return null;
    const { thing } = built;
    const { ring, sinceMs } = this.fleet.watch.look(deviceId, this.scheduler.now());
    return {
      deviceId,
      group: built.group,
      pattern: built.pattern,
      state: thing.state,
      workerIndex: this.init.workerIndex,
      pendingAcks: thing.pendingAcks,
      transitions: [...(thing.transitions ?? [])],
      messages: ring.newestFirst(),
      messagesSinceMs: sinceMs,
      messagesRecorded: ring.recorded,
    };
  }

  private async stop(drainMs: number): Promise<void> {
    this.actions?.stop();
    for (const { thing } of this.things) thing.quiesce();
    const deadline = Date.now() + drainMs;
    while (this.pendingAcks() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await this.halt();
    const { metrics, states, acknowledgedBy } = this.fleet;
    const assignments = this.fleet.assignments?.takeChanges();
    this.post({
      type: 'final',
      workerIndex: this.init.workerIndex,
      snapshot: metrics.snapshot(Date.now()),
      states: structuredClone(states),
      patterns: this.patternSnapshot(),
      acknowledgedBy,
      ...(assignments === undefined ? {} : { assignments }),
    });
    this.port.close();
  }

  /** Stops every thing and timer now, without a final report (a worker being terminated). */
  async halt(): Promise<void> {
    if (this.ticker !== undefined) clearInterval(this.ticker);
    this.ticker = undefined;
    this.fleet.forgetWatches();
    await Promise.all(this.things.map(({ thing }) => thing.stop().catch(() => {})));
    this.scheduler.stop();
  }
}

/**
 * This isolate's heap from V8 directly: process.memoryUsage() also reads the resident set from /proc, which needs a
 * descriptor and throws EMFILE exactly when the fleet has used them all.
 */
function heapUsed(): number | null {
  try {
    return getHeapStatistics().used_heap_size;
  } catch {
    return null;
  }
}
