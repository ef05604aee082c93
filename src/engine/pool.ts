// The coordinator's side of its workers: starts them, merges what they send into one aggregate and the state
// counts, answers drill-downs, and tells a worker that died from one that finished.
import type { MetricsAggregate } from '../metrics/aggregate.js';
import type { DeviceDetail, StateCounts, WorkerLoad } from '../metrics/types.js';
import type { WorkerHandle, WorkerSpawner } from './hosts.js';
import type { FromWorker, WorkerInit } from './messages.js';
import type { AssignmentChanges } from '../endpoints/assignment-cache.js';

export interface PoolEvents {
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
  notice(message: string): void;
  /** Assignments a worker's identities were given (or lost), for the assignment cache. */
  assignments?(changes: AssignmentChanges): void;
  /** A worker's part of a profile event, and its being whole again after it. */
  event?(message: Extract<FromWorker, { type: 'event' | 'eventWhole' }>): void;
  /** A worker died: it reports nothing more. */
  gone?(workerIndex: number): void;
}

interface Member {
  index: number;
  handle: WorkerHandle;
  states: StateCounts;
  patterns: StateCounts;
  heapMB: number | null;
  /** Connections its identities hold open to the target, and sockets of theirs in all, as it last reported them. */
  connections: number;
  sockets: number;
  /** Set when it sent its final report, or died. */
  done: boolean;
  elu?: ReturnType<Exclude<WorkerHandle['performance'], undefined>['eventLoopUtilization']>;
}

const INSPECT_TIMEOUT_MS = 2000;

export class WorkerPool {
  private readonly members: Member[];
  private readonly owner = new Map<string, number>();
  private readonly inspections = new Map<number, (detail: DeviceDetail | undefined) => void>();
  private nextRequest = 0;
  private started = false;
  /** Group → the patterns of its things, as the workers report them. */
  readonly groupPatterns = new Map<string, Set<string>>();
  readonly acknowledgedBy: Record<string, number> = {};
  /** Why workers died, in order ("worker 1 crashed: …"). */
  readonly failures: string[] = [];
  private readonly settled: Promise<void>;
  private readonly ready: Promise<void>;
  private onFailure: (why: string) => void = () => {};
  /** Resolves with the first failure once the run has started. */
  readonly failed: Promise<string>;

  constructor(
    inits: readonly WorkerInit[],
    spawn: WorkerSpawner,
    private readonly aggregate: MetricsAggregate,
    private readonly events: PoolEvents,
  ) {
    this.failed = new Promise((resolve) => (this.onFailure = resolve));
    for (const init of inits) for (const i of init.identities) this.owner.set(i.deviceId, init.workerIndex);
    const readies: Promise<void>[] = [];
    const finals: Promise<void>[] = [];
    this.members = inits.map((init) => {
      const member: Member = {
        index: init.workerIndex,
        handle: spawn(init),
        states: {},
        patterns: {},
        heapMB: null,
        connections: 0,
        sockets: 0,
        done: false,
      };
      const { ready, final } = this.listen(member);
      readies.push(ready);
      finals.push(final);
      return member;
    });
    this.settled = Promise.all(finals).then(() => undefined);
    this.ready = Promise.all(readies).then(() => undefined);
  }

  /** Resolves when every worker has built its things; rejects (all terminated) when one could not. */
  async whenReady(): Promise<void> {
    try {
      await this.ready;
    } catch (err) {
      await this.terminate();
      throw err;
    }
  }

  private listen(member: Member): { ready: Promise<void>; final: Promise<void> } {
    let readyResolve: () => void = () => {};
    let readyReject: (err: Error) => void = () => {};
    const ready = new Promise<void>((resolve, reject) => ((readyResolve = resolve), (readyReject = reject)));
    let finalResolve: () => void = () => {};
    const final = new Promise<void>((resolve) => (finalResolve = resolve));
    const die = (why: string) => {
      if (member.done) return;
      member.done = true;
      this.aggregate.removeWorker(member.index);
      this.failures.push(why);
      this.events.gone?.(member.index);
      readyReject(new Error(why));
      if (this.started) this.onFailure(why);
      finalResolve();
    };
    const { handle, index } = member;
    handle.on('message', (m: FromWorker) => {
      if (m.type === 'ready') {
        this.addGroupPatterns(m.groupPatterns);
        member.states = m.states;
        member.patterns = m.patterns;
        readyResolve();
      } else if (m.type === 'final') {
        this.merge(member, m);
        member.done = true;
        finalResolve();
      } else if (m.type === 'fatal') {
        die(`worker ${index}: ${m.message}`);
      } else {
        this.receive(member, m);
      }
    });
    handle.on('error', (err) => {
      this.events.log('error', `worker ${index} crashed: ${err.stack ?? err.message}`);
      die(`worker ${index} crashed: ${err.message}`);
    });
    handle.on('exit', (code) => {
      if (code !== 0) die(`worker ${index} exited with code ${code}`);
    });
    return { ready, final };
  }

  private receive(member: Member, m: FromWorker): void {
    switch (m.type) {
      case 'snapshot':
        member.heapMB = m.heapUsed === null ? member.heapMB : m.heapUsed / 1_048_576;
        member.connections = m.connections;
        member.sockets = m.sockets;
        this.merge(member, m);
        return;
      case 'event':
      case 'eventWhole':
        this.events.event?.(m);
        return;
      case 'inspection':
        this.inspections.get(m.requestId)?.(m.detail ?? undefined);
        return;
      case 'log':
        this.events.log(m.level, m.message);
        return;
      case 'notice':
        this.events.log('info', m.message);
        this.events.notice(m.message);
        return;
      default:
    }
  }

  private merge(member: Member, m: Extract<FromWorker, { type: 'snapshot' | 'final' }>): void {
    this.aggregate.add(String(member.index), m.snapshot);
    member.states = m.states;
    member.patterns = m.patterns;
    if (m.assignments !== undefined) this.events.assignments?.(m.assignments);
    if (m.type !== 'final') return;
    const acked = this.acknowledgedBy;
    for (const [id, n] of Object.entries(m.acknowledgedBy)) acked[id] = (acked[id] ?? 0) + n;
  }

  private addGroupPatterns(groupPatterns: Record<string, string[]>): void {
    for (const [group, list] of Object.entries(groupPatterns)) {
      const known = this.groupPatterns.get(group) ?? new Set<string>();
      for (const p of list) known.add(p);
      this.groupPatterns.set(group, known);
    }
  }

  start(startAt: number): void {
    this.started = true;
    this.loads(); // the baseline of the first second's utilization
    for (const m of this.live()) m.handle.postMessage({ type: 'start', startAt });
    if (this.failures.length > 0) this.onFailure(this.failures[0]!);
  }

  pause(paused: boolean): void {
    for (const m of this.live()) m.handle.postMessage({ type: 'pause', paused });
  }

  /** Asks every live worker to take its part in events[index] now; the indexes of those asked. */
  event(index: number): number[] {
    const live = this.live();
    for (const m of live) m.handle.postMessage({ type: 'event', index });
    return live.map((m) => m.index);
  }

  get workerIndexes(): number[] {
    return this.members.map((m) => m.index);
  }

  /** Connections the live workers' identities hold open to the target. */
  connections(): number {
    return this.live().reduce((n, m) => n + m.connections, 0);
  }

  /** Sockets the live workers' identities hold: connections and registrations in progress. */
  sockets(): number {
    return this.live().reduce((n, m) => n + m.sockets, 0);
  }

  /** Asks the worker that owns `deviceId`; undefined when no worker has it. */
  inspect(deviceId: string): Promise<DeviceDetail | undefined> {
    const member = this.members[this.owner.get(deviceId) ?? -1];
    if (member === undefined || member.done) return Promise.resolve(undefined);
    const requestId = ++this.nextRequest;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.inspections.delete(requestId);
        reject(new Error(`worker ${member.index} did not answer within ${INSPECT_TIMEOUT_MS / 1000} s`));
      }, INSPECT_TIMEOUT_MS);
      this.inspections.set(requestId, (detail) => {
        clearTimeout(timer);
        this.inspections.delete(requestId);
        resolve(detail);
      });
      member.handle.postMessage({ type: 'inspect', requestId, deviceId });
    });
  }

  /** Asks the live workers to drain and report; resolves when each has reported or died, or after the grace. */
  async stop(drainMs: number, graceMs = 30_000): Promise<void> {
    for (const m of this.live()) m.handle.postMessage({ type: 'stop', drainMs });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, drainMs + graceMs)));
    await Promise.race([this.settled, late]);
    clearTimeout(timer);
    for (const m of this.live()) {
      m.done = true;
      this.failures.push(`worker ${m.index} did not finish draining in time`);
    }
  }

  /** Ends every worker now (a thread ended this way exits with code 1: not a failure any more). */
  async terminate(): Promise<void> {
    for (const m of this.members) m.done = true;
    await Promise.all(this.members.map((m) => m.handle.terminate()));
  }

  private live(): Member[] {
    return this.members.filter((m) => !m.done);
  }

  /** States per group, and per pattern, summed over workers (a dead worker's as it last reported them). */
  counts(): { states: StateCounts; patterns: StateCounts } {
    return { states: sum(this.members.map((m) => m.states)), patterns: sum(this.members.map((m) => m.patterns)) };
  }

  /** Each worker's event-loop utilization since the last call, and heap. */
  loads(): WorkerLoad[] {
    return this.members.map((m) => {
      const perf = m.handle.performance;
      if (perf === undefined) return { index: m.index, busyPercent: 0, heapMB: m.heapMB };
      const current = perf.eventLoopUtilization();
      const busy = m.elu === undefined ? current.utilization : perf.eventLoopUtilization(current, m.elu).utilization;
      m.elu = current;
      return { index: m.index, busyPercent: busy * 100, heapMB: m.heapMB };
    });
  }
}

function sum(list: readonly StateCounts[]): StateCounts {
  const out: StateCounts = {};
  for (const counts of list) {
    for (const [name, byState] of Object.entries(counts)) {
      const o = (out[name] ??= {});
      for (const [state, n] of Object.entries(byState)) o[state] = (o[state] ?? 0) + n;
    }
  }
  return out;
}
