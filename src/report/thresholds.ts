// Thresholds judged on a run's summary (their grammar is src/config/thresholds.ts): they decide the exit code,
// and show in the console, summary.json and junit.xml with how far each one missed.
import type { LatencyStats } from '../metrics/histogram.js';
import { ERROR_CLASSES, OPERATIONS, type ErrorClass, type Operation } from '../metrics/operations.js';
import type { LedgerTotals } from '../metrics/types.js';
import {
  METRICS_HELP,
  ThresholdError,
  resolveMetric,
  type MetricRef,
  type Threshold,
  type ThresholdOp,
  type ThresholdUnit,
} from '../config/thresholds.js';
import type { FaultEventReport } from '../metrics/fault-events.js';
import type { Reconciliation, RunSummary } from './summary.js';

export type { Threshold } from '../config/thresholds.js';

export interface ThresholdResult {
  threshold: Threshold;
  /** The metric's value in its unit; null when there is no data for it. */
  actual: number | null;
  passed: boolean;
  /**
   * What the metric was and by how much it missed (or held), e.g. "telemetry.p99 was 250.3 ms, 50.3 ms over
   * 200 ms".
   */
  detail: string;
  /**
   * evaluateLive only: not decided yet (no data, too few samples, or a count that can still grow). passed is then
   * true.
   */
  pending?: boolean;
}

// --- reading a summary ----------------------------------------------------------------------------------------

/**
 * What evaluation reads: a RunSummary, or the live subset built during a run (see liveSummaryOf).
 * Everything optional, so a view without, say, reconciliation still evaluates (that metric has no data).
 */
export interface ThresholdInput {
  operations?: Partial<
    Record<
      Operation,
      | (Partial<LatencyStats> & { p90?: number | null; raw?: Partial<LatencyStats> & { p90?: number | null } })
      | undefined
    >
  >;
  ledger?: Partial<LedgerTotals>;
  errors?: Partial<Record<ErrorClass, { count: number } | undefined>>;
  scheduler?: { lateness?: Partial<RunSummary['scheduler']['lateness']> };
  reconciliation?: Reconciliation | null;
  events?: readonly Pick<FaultEventReport, 'index' | 'kind' | 'wholeAfterMs' | 'notWhole'>[];
}

interface Reading {
  value: number | null;
  /** Why there is no value, or what the value is made of. */
  note?: string;
  /** Samples behind a percentile, mean or rate (for evaluateLive's minimum). */
  samples?: number;
}

const sum = (xs: Iterable<number>): number => {
  let s = 0;
  for (const x of xs) s += x;
  return s;
};

type Ref<K extends MetricRef['kind']> = Extract<MetricRef, { kind: K }>;

const errorTotal = (s: ThresholdInput) => sum(ERROR_CLASSES.map((c) => s.errors?.[c]?.count ?? 0));

function readLatency(ref: Ref<'latency'>, s: ThresholdInput): Reading {
  const top = s.operations?.[ref.op];
  const stats = ref.raw ? top?.raw : top;
  const count = top?.count ?? 0;
  if (ref.stat === 'count') return { value: stats?.count ?? count };
  if (count === 0) return { value: null, note: `no ${ref.op} operation completed` };
  const v = stats?.[ref.stat];
  if (v === undefined || v === null) return { value: null, note: `this summary has no ${ref.stat} for ${ref.op}` };
  return { value: v, samples: count };
}

/**
 * errors.rate = E / (E + S), in percent. E: errors recorded, all classes (each failed attempt counts once, a retry
 * that fails again counts again). S: operations that completed (the latency counts, all operations). A command
 * answered with 4xx/5xx is both (it completed, and it is a server error).
 */
function readErrorRate(ref: Ref<'errorRate'>, s: ThresholdInput): Reading {
  const e = errorTotal(s);
  const ok = sum(OPERATIONS.map((op) => s.operations?.[op]?.count ?? 0));
  if (e + ok === 0) return { value: null, note: 'no operation completed and no error was recorded' };
  // errors.<class>.rate: that class's errors over the same attempts, so the classes' rates add up to errors.rate.
  const counted = ref.cls === undefined ? e : (s.errors?.[ref.cls]?.count ?? 0);
  const what = ref.cls === undefined ? 'error' : `${ref.cls} error`;
  return {
    value: (100 * counted) / (e + ok),
    note: `${counted} ${what}${counted === 1 ? '' : 's'} / ${e + ok} attempts`,
    samples: e + ok,
  };
}

function readLedger(ref: Ref<'ledger'>, s: ThresholdInput): Reading {
  const l = s.ledger;
  if (l === undefined) return { value: null, note: 'no ledger' };
  if (ref.field !== 'lost') {
    const v = l[ref.field];
    return v === undefined ? { value: null, note: `no ledger.${ref.field}` } : { value: v };
  }
  // Lost: given up on (failed), aged out (expired), and acknowledged yet never received by the target when a
  // reconciliation says so. Dropped-by-route is by design and in-flight is unresolved, so neither counts.
  const failed = l.failed ?? 0;
  const expired = l.expired ?? 0;
  const hidden = s.reconciliation?.acknowledgedNotReceived;
  const value = failed + expired + (hidden ?? 0);
  const note =
    `failed ${failed} + expired ${expired}` +
    (hidden === undefined ? '' : ` + acknowledged but not received ${hidden}`);
  return { value, note };
}

function readReconciliation(ref: Ref<'reconciliation'>, s: ThresholdInput): Reading {
  const v = s.reconciliation?.[ref.field];
  if (s.reconciliation === undefined || s.reconciliation === null) {
    return {
      value: null,
      note: 'no reconciliation (the target has no record of what it received; only the emulator does)',
    };
  }
  return typeof v === 'number' ? { value: v } : { value: null, note: `the reconciliation has no ${ref.field}` };
}

function readLateness(ref: Ref<'lateness'>, s: ThresholdInput): Reading {
  const l = s.scheduler?.lateness;
  if (ref.stat === 'count') return { value: l?.count ?? 0 };
  const v = l?.[ref.stat];
  if (!l?.count || v === undefined || v === null) return { value: null, note: 'no scheduler lateness was recorded' };
  return { value: v, samples: l.count };
}

function read(ref: MetricRef, s: ThresholdInput): Reading {
  switch (ref.kind) {
    case 'latency':
      return readLatency(ref, s);
    case 'errorRate':
      return readErrorRate(ref, s);
    case 'errorCount':
      return { value: ref.cls === undefined ? errorTotal(s) : (s.errors?.[ref.cls]?.count ?? 0) };
    case 'ledger':
      return readLedger(ref, s);
    case 'reconciliation':
      return readReconciliation(ref, s);
    case 'eventsWholeAfter':
      return eventsWholeAfter(s.events ?? []);
    case 'lateness':
      return readLateness(ref, s);
  }
}

/** The longest wait for the fleet to be whole again; no value when an event never left it whole (or none happened). */
function eventsWholeAfter(events: NonNullable<ThresholdInput['events']>): Reading {
  if (events.length === 0) return { value: null, note: 'the profile has no events' };
  const never = events.find((e) => e.wholeAfterMs === null);
  if (never !== undefined) {
    const why = never.notWhole ?? 'not yet';
    return { value: null, note: `events[${never.index}] ${never.kind} was not whole again: ${why}` };
  }
  const worst = events.reduce((a, b) => ((b.wholeAfterMs ?? 0) > (a.wholeAfterMs ?? 0) ? b : a));
  return { value: worst.wholeAfterMs, note: `events[${worst.index}] ${worst.kind}`, samples: events.length };
}

// --- evaluating -----------------------------------------------------------------------------------------------

const compare = (a: number, op: ThresholdOp, b: number): boolean => {
  switch (op) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '==':
      return a === b;
    case '!=':
      return a !== b;
  }
};

/** Shortest honest rendering: whole above 1000, four significant digits below. */
function num(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1000) return String(Math.round(v));
  return String(Number(v.toPrecision(4)));
}

const withUnit = (v: number, unit: ThresholdUnit): string =>
  unit === 'ms' ? `${num(v)} ms` : unit === '%' ? `${num(v)}%` : num(v);
const gapUnit = (v: number, unit: ThresholdUnit): string => (unit === '%' ? `${num(v)} points` : withUnit(v, unit));

function describe(t: Threshold, actual: number, passed: boolean, note: string | undefined): string {
  const was = `${t.metric} was ${withUnit(actual, t.unit)}${note ? ` (${note})` : ''}`;
  const limit = withUnit(t.value, t.unit);
  const gap = Math.abs(actual - t.value);
  if (t.op === '!=') return passed ? `${was}, not ${limit}` : `${was}, must not be ${limit}`;
  if (gap === 0) return passed ? `${was}, at the limit` : `${was}, at the limit (must be ${t.op} ${limit})`;
  return `${was}, ${gapUnit(gap, t.unit)} ${actual > t.value ? 'over' : 'under'} ${limit}`;
}

/** One threshold on a summary (or its live subset), with what evaluateLive needs to know if it is decided. */
export function judgeThreshold(
  t: Threshold,
  s: ThresholdInput,
): { result: ThresholdResult; samples: number | undefined; monotone: boolean } {
  const ref = resolveMetric(t.metric);
  if (ref === undefined) throw new ThresholdError(t.text, `unknown metric "${t.metric}"`, METRICS_HELP);
  const r = read(ref, s);
  if (r.value === null) {
    return {
      result: {
        threshold: t,
        actual: null,
        passed: false,
        detail: `${t.metric}: no data (${r.note ?? 'nothing recorded'})`,
      },
      samples: undefined,
      monotone: false,
    };
  }
  const passed = compare(r.value, t.op, t.value);
  return {
    result: { threshold: t, actual: r.value, passed, detail: describe(t, r.value, passed, r.note) },
    samples: r.samples,
    monotone: isMonotone(ref),
  };
}

/** Cumulative values that only grow during a run: once over an upper bound, they stay over. */
function isMonotone(ref: MetricRef): boolean {
  switch (ref.kind) {
    case 'latency':
      return ref.stat === 'count' || ref.stat === 'max';
    case 'errorCount':
      return true;
    case 'ledger':
      return ref.field !== 'inFlight';
    case 'lateness':
      return ref.stat === 'count' || ref.stat === 'max';
    default:
      return false;
  }
}

/** End of run: every threshold judged; a metric with no data fails (a target that answered nothing met nothing). */
export function evaluateThresholds(
  thresholds: readonly Threshold[],
  summary: RunSummary | ThresholdInput,
): ThresholdResult[] {
  return thresholds.map((t) => judgeThreshold(t, summary).result);
}

// --- output ---------------------------------------------------------------------------------------------------

/** Console block: one ✓/✗ line per threshold with its detail; empty when there are none. */
export function formatThresholdResults(results: readonly ThresholdResult[], options: { color?: boolean } = {}): string {
  if (results.length === 0) return '';
  const paint = (code: string, s: string) => (options.color ? `\u001b[${code}m${s}\u001b[0m` : s);
  const held = results.filter((r) => r.passed).length;
  const head =
    held === results.length
      ? `thresholds: all ${results.length} held`
      : `thresholds: ${results.length - held} of ${results.length} failed`;
  const width = Math.max(...results.map((r) => r.threshold.text.length));
  const lines = [held === results.length ? paint('32', head) : paint('31', head)];
  for (const r of results) {
    const mark = r.pending ? paint('33', '…') : r.passed ? paint('32', '✓') : paint('31', '✗');
    const abort = r.threshold.abortOnFail ? ' [abort on fail]' : '';
    lines.push(`  ${mark} ${r.threshold.text.padEnd(width)}  ${r.detail}${abort}`);
  }
  return lines.join('\n');
}

export interface ThresholdJUnitCase {
  name: string;
  classname: string;
  failure?: { message: string; detail: string };
}

/** One JUnit test case per threshold (src/report/junit.ts's JUnitCase shape). */
export function thresholdsJUnitCases(
  results: readonly ThresholdResult[],
  classname = 'edgefleet.thresholds',
): ThresholdJUnitCase[] {
  return results.map((r) => ({
    name: r.threshold.text,
    classname,
    ...(r.passed
      ? {}
      : {
          failure: {
            message: r.detail,
            detail:
              `threshold: ${r.threshold.text}\nmetric: ${r.threshold.metric}\n` +
              `actual: ${r.actual === null ? 'no data' : withUnit(r.actual, r.threshold.unit)}\n` +
              `limit: ${r.threshold.op} ${withUnit(r.threshold.value, r.threshold.unit)}\n${r.detail}` +
              (r.threshold.abortOnFail ? '\nabort on fail: yes' : ''),
          },
        }),
  }));
}

/** For summary.json: plain data, one entry per threshold. */
export interface ThresholdSummaryEntry {
  threshold: string;
  metric: string;
  op: ThresholdOp;
  value: number;
  unit: ThresholdUnit;
  abortOnFail: boolean;
  actual: number | null;
  passed: boolean;
  detail: string;
}

export function thresholdsSummary(results: readonly ThresholdResult[]): ThresholdSummaryEntry[] {
  return results.map(({ threshold: t, actual, passed, detail }) => ({
    threshold: t.text,
    metric: t.metric,
    op: t.op,
    value: t.value,
    unit: t.unit,
    abortOnFail: t.abortOnFail,
    actual,
    passed,
    detail,
  }));
}
