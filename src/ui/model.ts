// The dashboard's view model: plain data the coordinator folds once a second from what it already merged
// (the MetricsAggregate and the workers' state counts). The UI renders only this; it never asks a worker
// anything except through onDrill.
import type { ErrorStats, IntervalView, MetricsAggregate } from '../metrics/aggregate.js';
import type { FaultEventReport } from '../metrics/fault-events.js';
import type {
  LedgerTotals,
  ProcessLoad,
  ProvisioningCounts,
  StateCounts,
  ThingState,
  WorkerLoad,
} from '../metrics/types.js';
import { latencyStats } from '../metrics/histogram.js';
import { OPERATIONS } from '../metrics/operations.js';
import { fmtClock, fmtCount, oneLine } from './format.js';

export const THING_STATES = [
  'waiting',
  'provisioning',
  'connecting',
  'connected',
  'backingOff',
  'stopped',
  'failed',
] as const satisfies readonly ThingState[];

/** Seconds of p99 history behind each sparkline. */
export const HISTORY_SECONDS = 60;

// What the drill-down shows comes from the worker that owns the device.
export type { DeviceDetail, DeviceMessage, ProcessLoad, WorkerLoad } from '../metrics/types.js';

/** How the patterns things report are named on screen; a pattern not listed shows as reported. */
const PATTERN_LABELS: Record<string, string> = {
  device: 'plain device',
  iotEdge: 'IoT Edge device',
  downstream: 'downstream device',
  identityTranslation: 'id-translated sensor',
};
const PATTERN_ORDER = Object.keys(PATTERN_LABELS);

export const patternLabel = (pattern: string): string => PATTERN_LABELS[pattern] ?? pattern;

export interface GroupRow {
  name: string;
  /** How its things connect (plain device, IoT Edge device, …; several joined by " + "), when known. */
  pattern?: string;
  states: Record<ThingState, number>;
}

/** Identities of one pattern, over all groups. */
export interface PatternRow {
  /** As the things report it: 'device', 'iotEdge', 'downstream', 'identityTranslation', … */
  pattern: string;
  /** As shown. */
  label: string;
  states: Record<ThingState, number>;
}

export interface OperationRow {
  name: string;
  /** Samples since the start of the run. */
  count: number;
  /** Samples in the last second. */
  perSecond: number;
  /** Corrected latency of the last second, ms; null when the second had no sample. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
  /** p99 of the last HISTORY_SECONDS seconds, oldest first; null for a second without samples. */
  history: (number | null)[];
}

export interface ErrorRow {
  cls: string;
  count: number;
  lastMessage: string | null;
}

/** The ledger as the dashboard shows it: the aggregate's totals (stored, deliveredLate and resent are subsets). */
export type LedgerView = LedgerTotals;

/** A profile event as the dashboard shows it. */
export interface EventRow {
  /** "networkDrop #1": its kind and place in the profile. */
  name: string;
  phase: 'planned' | 'underway' | 'whole' | 'notWhole';
  /** When, what it took away, how it stands: "at 0:30 · took 40 connections of 20 identities · whole after 4.2 s". */
  text: string;
}

export interface DashboardState {
  scenario: string;
  profile: string;
  target: string;
  stage: string;
  /** Epoch ms of the run's t = 0 (device events are shown in run time). */
  startedAtMs: number;
  elapsedMs: number;
  durationMs: number;
  paused: boolean;
  stopping: boolean;
  groups: GroupRow[];
  /** Identities by state per pattern (plain device, IoT Edge device, downstream device, …). */
  patterns: PatternRow[];
  rates: {
    sentPerSecond: number;
    ackedPerSecond: number;
    failedPerSecond: number;
    errorsPerSecond: number;
    /** Of the errors, those the target pushed back with (429, CONNACK 3 under a limit, a quota close). */
    throttledPerSecond: number;
  };
  operations: OperationRow[];
  errors: ErrorRow[];
  /** The saturation verdict in a line, once the load generator has been found saturated (absent before). */
  saturation?: string;
  ledger: LedgerView;
  /**
   * Scheduler lateness (timers firing after their time), ms: p99 of the last second, its history (one value a
   * second, oldest first), and the p99 and max since the start.
   */
  lateness: { p99: number | null; history: (number | null)[]; runP99: number | null; max: number | null };
  workers: WorkerLoad[];
  process: ProcessLoad;
  /** Identities registered through DPS, reused from the assignment cache, registered again (absent before any). */
  provisioning?: ProvisioningCounts;
  /** The profile's events: planned, under way, whole again. */
  events: EventRow[];
  /** End (epoch ms) of the last interval folded in, so a second is folded once however often nextState runs. */
  intervalEndMs: number | null;
}

export interface InitialInput {
  scenario: string;
  profile: string;
  target: string;
  startedAtMs: number;
  durationMs: number;
  /** Groups of the plan, in the order to show them; a group seen later is appended. `patterns` as reported. */
  groups?: { name: string; pattern?: string; patterns?: readonly string[] }[];
  stage?: string;
}

export const emptyStates = (): Record<ThingState, number> => ({
  waiting: 0,
  provisioning: 0,
  connecting: 0,
  connected: 0,
  backingOff: 0,
  stopped: 0,
  failed: 0,
});

export function initialState(input: InitialInput): DashboardState {
  return {
    scenario: input.scenario,
    profile: input.profile,
    target: input.target,
    stage: input.stage ?? 'starting',
    startedAtMs: input.startedAtMs,
    elapsedMs: 0,
    durationMs: input.durationMs,
    paused: false,
    stopping: false,
    groups: (input.groups ?? []).map((g) => {
      const pattern =
        g.pattern ??
        (g.patterns === undefined || g.patterns.length === 0 ? undefined : g.patterns.map(patternLabel).join(' + '));
      return { name: g.name, ...(pattern === undefined ? {} : { pattern }), states: emptyStates() };
    }),
    patterns: [],
    rates: { sentPerSecond: 0, ackedPerSecond: 0, failedPerSecond: 0, errorsPerSecond: 0, throttledPerSecond: 0 },
    operations: [],
    errors: [],
    ledger: {
      generated: 0,
      acknowledged: 0,
      failed: 0,
      expired: 0,
      dropped: 0,
      inFlight: 0,
      stored: 0,
      deliveredLate: 0,
      resent: 0,
      balanced: true,
    },
    lateness: { p99: null, history: [], runP99: null, max: null },
    workers: [],
    process: { cpuPercent: null, rssMB: null },
    events: [],
    intervalEndMs: null,
  };
}

/** One second of coordinator data. Everything but `now` is optional: what is absent keeps its last value. */
export interface TickInput {
  /** Epoch ms of this tick. */
  now: number;
  /** aggregate.lastInterval(): the last closed second (rates, live percentiles). */
  interval?: IntervalView | undefined;
  /** aggregate.ledger(). */
  ledger?: LedgerTotals;
  /** aggregate.provisioning(). */
  provisioning?: ProvisioningCounts;
  /** aggregate.errors(): cumulative, per class. */
  errors?: Partial<Record<string, Pick<ErrorStats, 'count' | 'lastMessage'>>>;
  /** Samples since the start per operation (cumulative histogram counts). */
  operationTotals?: Partial<Record<string, number>>;
  /** Scheduler lateness since the start, ms (the last second's comes with `interval`). */
  lateness?: { p99: number | null; max: number | null };
  /** The coordinator's latest state counts of every worker: `states.values()`, each { group: { state: n } }. */
  states?: Iterable<StateCounts>;
  /** The same per pattern: each { pattern: { state: n } }. */
  patterns?: Iterable<StateCounts>;
  workers?: WorkerLoad[];
  process?: ProcessLoad;
  stage?: string;
  paused?: boolean;
  stopping?: boolean;
  /** The profile's events as the coordinator follows them. */
  events?: readonly FaultEventReport[];
}

const isThingState = (s: string): s is ThingState => (THING_STATES as readonly string[]).includes(s);

const ORDER = new Map<string, number>(OPERATIONS.map((op, i) => [op, i]));

/** Folds one tick into the state. Pure: returns a new state, `prev` is not modified. */
export function nextState(prev: DashboardState, input: TickInput): DashboardState {
  const next: DashboardState = {
    ...prev,
    elapsedMs: Math.max(0, input.now - prev.startedAtMs),
    stage: input.stage ?? prev.stage,
    paused: input.paused ?? prev.paused,
    stopping: input.stopping ?? prev.stopping,
  };
  if (input.states !== undefined) next.groups = foldGroups(prev.groups, input.states);
  if (input.patterns !== undefined) next.patterns = foldPatterns(prev.patterns, input.patterns);
  if (input.ledger !== undefined) next.ledger = input.ledger;
  if (input.provisioning !== undefined) next.provisioning = { ...input.provisioning };
  if (input.errors !== undefined) next.errors = errorRows(input.errors);
  if (input.lateness !== undefined)
    next.lateness = { ...prev.lateness, runP99: input.lateness.p99, max: input.lateness.max };
  if (input.workers !== undefined) next.workers = [...input.workers].sort((a, b) => a.index - b.index);
  if (input.process !== undefined) next.process = { ...input.process };
  if (input.events !== undefined) next.events = eventRows(input.events, input.now);

  const iv = input.interval;
  const fresh = iv !== undefined && (prev.intervalEndMs === null || iv.endMs > prev.intervalEndMs);
  if (iv !== undefined && fresh) {
    next.intervalEndMs = iv.endMs;
    next.rates = {
      sentPerSecond: iv.rates.generatedPerSecond,
      ackedPerSecond: iv.rates.acknowledgedPerSecond,
      failedPerSecond: iv.rates.failedPerSecond,
      errorsPerSecond: iv.rates.errorsPerSecond,
      throttledPerSecond: iv.rates.throttledPerSecond,
    };
    // Seconds the coordinator did not show us (a slow tick) are gaps in the sparkline, not squeezed out.
    const missed =
      prev.intervalEndMs === null
        ? 0
        : Math.min(HISTORY_SECONDS, Math.max(0, Math.round((iv.endMs - prev.intervalEndMs) / 1000) - 1));
    next.operations = foldOperations(prev.operations, iv, missed, input.operationTotals);
    const late = iv.lateness?.p99 ?? null;
    next.lateness = {
      ...next.lateness,
      p99: late,
      history: [...prev.lateness.history, ...new Array<null>(missed).fill(null), late].slice(-HISTORY_SECONDS),
    };
  } else if (input.operationTotals !== undefined) {
    next.operations = prev.operations.map((o) => ({ ...o, count: input.operationTotals?.[o.name] ?? o.count }));
  }
  return next;
}

function foldGroups(prev: readonly GroupRow[], perWorker: Iterable<StateCounts>): GroupRow[] {
  const sums = sumCounts(perWorker);
  // Known groups keep their place (and pattern) even before any worker reports them.
  const rows: GroupRow[] = prev.map((g) => ({ ...g, states: sums.get(g.name) ?? emptyStates() }));
  const known = new Set(prev.map((g) => g.name));
  for (const name of [...sums.keys()].filter((n) => !known.has(n)).sort()) rows.push({ name, states: sums.get(name)! });
  return rows;
}

function sumCounts(perWorker: Iterable<StateCounts>): Map<string, Record<ThingState, number>> {
  const sums = new Map<string, Record<ThingState, number>>();
  for (const byName of perWorker) {
    for (const [name, counts] of Object.entries(byName)) {
      let s = sums.get(name);
      if (!s) sums.set(name, (s = emptyStates()));
      for (const [state, n] of Object.entries(counts)) if (isThingState(state) && Number.isFinite(n)) s[state] += n;
    }
  }
  return sums;
}

/** Known patterns first in a fixed order, others by name; a pattern once seen keeps its row. */
function foldPatterns(prev: readonly PatternRow[], perWorker: Iterable<StateCounts>): PatternRow[] {
  const sums = sumCounts(perWorker);
  const names = new Set([...prev.map((p) => p.pattern), ...sums.keys()]);
  const rank = (p: string) => {
    const i = PATTERN_ORDER.indexOf(p);
    return i < 0 ? PATTERN_ORDER.length : i;
  };
  return [...names]
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
    .map((pattern) => ({ pattern, label: patternLabel(pattern), states: sums.get(pattern) ?? emptyStates() }));
}

function foldOperations(
  prev: readonly OperationRow[],
  iv: IntervalView,
  missed: number,
  totals: Partial<Record<string, number>> | undefined,
): OperationRow[] {
  const rows = new Map<string, OperationRow>(prev.map((o) => [o.name, o]));
  for (const name of Object.keys(iv.operations))
    if (!rows.has(name)) rows.set(name, { name, count: 0, perSecond: 0, p50: null, p95: null, p99: null, history: [] });
  const out: OperationRow[] = [];
  for (const [name, row] of rows) {
    const s = iv.operations[name as keyof IntervalView['operations']];
    const history = [...row.history, ...new Array<null>(missed).fill(null), s?.p99 ?? null].slice(-HISTORY_SECONDS);
    out.push({
      name,
      count: totals?.[name] ?? row.count + (s?.count ?? 0),
      perSecond: s?.perSecond ?? 0,
      p50: s?.p50 ?? null,
      p95: s?.p95 ?? null,
      p99: s?.p99 ?? null,
      history,
    });
  }
  return out.sort((a, b) => (ORDER.get(a.name) ?? 99) - (ORDER.get(b.name) ?? 99) || a.name.localeCompare(b.name));
}

/** Each event in a line: when, what it took away, and whether the fleet is whole again. */
export function eventRows(events: readonly FaultEventReport[], now: number): EventRow[] {
  return events.map((e): EventRow => {
    const name = `${e.kind} #${e.index}`;
    const at = `at ${fmtClock(e.atMs)}`;
    if (e.startedAtMs === null) return { name, phase: e.notWhole === undefined ? 'planned' : 'notWhole', text: at };
    const { connections, identities } = e.tookAway;
    const took = `took ${fmtCount(connections)} connections of ${fmtCount(identities)} identities`;
    const target = e.target?.error ?? (e.targetBackAtMs === null ? 'target down' : undefined);
    const parts = [at, took, ...(target === undefined ? [] : [target])];
    if (e.wholeAfterMs !== null) {
      const whole = `whole after ${(e.wholeAfterMs / 1000).toFixed(1)} s`;
      return { name, phase: 'whole', text: [...parts, whole].join(' · ') };
    }
    if (e.notWhole !== undefined) return { name, phase: 'notWhole', text: [...parts, e.notWhole].join(' · ') };
    return { name, phase: 'underway', text: [...parts, `not whole for ${fmtClock(now - e.startedAtMs)}`].join(' · ') };
  });
}

function errorRows(errors: Partial<Record<string, Pick<ErrorStats, 'count' | 'lastMessage'>>>): ErrorRow[] {
  return Object.entries(errors)
    .filter((e): e is [string, Pick<ErrorStats, 'count' | 'lastMessage'>] => e[1] !== undefined && e[1].count > 0)
    .map(([cls, e]) => ({ cls, count: e.count, lastMessage: e.lastMessage === null ? null : oneLine(e.lastMessage) }))
    .sort((a, b) => b.count - a.count || a.cls.localeCompare(b.cls));
}

/**
 * What nextState needs from the aggregate, read in one go. Costs a few HDR percentile walks a second
 * (lateness; the interval's are already computed by the aggregate).
 */
export function fromAggregate(
  aggregate: Pick<MetricsAggregate, 'lastInterval' | 'ledger' | 'errors' | 'histogram' | 'latenessHistogram'> &
    Partial<Pick<MetricsAggregate, 'provisioning'>>,
): Pick<TickInput, 'interval' | 'ledger' | 'errors' | 'operationTotals' | 'lateness' | 'provisioning'> {
  const operationTotals: Record<string, number> = {};
  for (const op of OPERATIONS) {
    const n = aggregate.histogram(op)?.totalCount ?? 0;
    if (n > 0) operationTotals[op] = n;
  }
  const late = latencyStats(aggregate.latenessHistogram(), false);
  return {
    interval: aggregate.lastInterval(),
    ledger: aggregate.ledger(),
    errors: aggregate.errors(),
    operationTotals,
    lateness: { p99: late.p99, max: late.max },
    ...(aggregate.provisioning === undefined ? {} : { provisioning: aggregate.provisioning() }),
  };
}
