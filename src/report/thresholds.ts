// Thresholds, like k6's: "<metric> <op> <value>" pass/fail criteria on a run's summary. They decide the exit
// code, and show in the console, summary.json and junit.xml with how far each one missed.
import { z } from 'zod';
import { closest } from '../config/suggest.js';
import type { MetricsAggregate } from '../metrics/aggregate.js';
import { latencyStats, type LatencyStats } from '../metrics/histogram.js';
import { ERROR_CLASSES, OPERATIONS, isErrorClass, isOperation, type ErrorClass, type Operation } from '../metrics/operations.js';
import type { LedgerTotals } from '../metrics/types.js';
import type { Reconciliation, RunSummary } from './summary.js';

export type ThresholdOp = '<' | '<=' | '>' | '>=' | '==' | '!=';
export type ThresholdUnit = 'ms' | '%' | '';

export interface Threshold {
  /** As written, for messages and JUnit case names. */
  text: string;
  /** Canonical metric name, e.g. `telemetry.raw.p99`. */
  metric: string;
  op: ThresholdOp;
  /** In the metric's unit: ms for latency ("1s" → 1000), percent for rates ("0.01" → 1), plain for counts. */
  value: number;
  /** The metric's unit (not necessarily the one written). */
  unit: ThresholdUnit;
  abortOnFail: boolean;
}

export interface ThresholdResult {
  threshold: Threshold;
  /** The metric's value in its unit; null when there is no data for it. */
  actual: number | null;
  passed: boolean;
  /** What the metric was and by how much it missed (or held), e.g. "telemetry.p99 was 250.3 ms, 50.3 ms over 200 ms". */
  detail: string;
  /** evaluateLive only: not decided yet (no data, too few samples, or a count that can still grow). passed is then true. */
  pending?: boolean;
}

/** What is wrong with a threshold's text, the text itself, and what the grammar accepts. */
export class ThresholdError extends Error {
  readonly text: string;
  readonly reason: string;
  constructor(text: string, reason: string, hint: string) {
    super(`threshold ${JSON.stringify(text)}: ${reason}. ${hint}`);
    this.name = 'ThresholdError';
    this.text = text;
    this.reason = reason;
  }
}

// --- the metric catalogue ----------------------------------------------------------------------------------

export const LATENCY_STATS = ['p50', 'p90', 'p95', 'p99', 'p999', 'max', 'mean', 'count'] as const;
type LatencyStat = (typeof LATENCY_STATS)[number];
const LEDGER_FIELDS = ['lost', 'generated', 'acknowledged', 'failed', 'expired', 'dropped', 'inFlight', 'stored', 'deliveredLate'] as const;
type LedgerField = (typeof LEDGER_FIELDS)[number];
const RECONCILIATION_FIELDS = ['acknowledgedNotReceived', 'receivedNotAcknowledged', 'duplicates', 'outOfOrder'] as const;
type ReconciliationField = (typeof RECONCILIATION_FIELDS)[number];
const LATENESS_STATS = ['p50', 'p99', 'max', 'count'] as const;
type LatenessStat = (typeof LATENESS_STATS)[number];

type MetricRef =
  | { kind: 'latency'; op: Operation; raw: boolean; stat: LatencyStat }
  | { kind: 'errorRate' }
  | { kind: 'errorCount'; cls?: ErrorClass }
  | { kind: 'ledger'; field: LedgerField }
  | { kind: 'reconciliation'; field: ReconciliationField }
  | { kind: 'lateness'; stat: LatenessStat };

const includes = <T extends string>(list: readonly T[], x: string): x is T => (list as readonly string[]).includes(x);

function metricNames(): string[] {
  const names: string[] = [];
  for (const op of OPERATIONS) for (const s of LATENCY_STATS) names.push(`${op}.${s}`, `${op}.raw.${s}`);
  names.push('errors.rate', 'errors.count', ...ERROR_CLASSES.map((c) => `errors.${c}.count`));
  names.push(...LEDGER_FIELDS.map((f) => `ledger.${f}`), ...RECONCILIATION_FIELDS.map((f) => `reconciliation.${f}`));
  names.push(...LATENESS_STATS.map((s) => `scheduler.lateness.${s}`));
  return names;
}

/** Every metric a threshold can name. */
export const THRESHOLD_METRICS: readonly string[] = Object.freeze(metricNames());

const GRAMMAR =
  'A threshold is "<metric> <op> <value>", e.g. "telemetry.p99 < 200ms", "connect.p95 < 1s", "errors.rate < 1%", "ledger.lost == 0"; ' +
  '<op> is one of < <= > >= == !=';
const METRICS_HELP =
  `Metrics: <operation>.<stat> and <operation>.raw.<stat> (operations: ${OPERATIONS.join(', ')}; stats: ${LATENCY_STATS.join(', ')}), ` +
  `errors.rate, errors.count, errors.<class>.count (classes: ${ERROR_CLASSES.join(', ')}), ` +
  `ledger.<field> (${LEDGER_FIELDS.join(', ')}), reconciliation.<field> (${RECONCILIATION_FIELDS.join(', ')}), ` +
  `scheduler.lateness.<stat> (${LATENESS_STATS.join(', ')})`;

// Names people bring from k6 or everyday speech; only used for "did you mean".
const WHOLE_ALIASES: Record<string, string> = {
  errors: 'errors.count',
  error_rate: 'errors.rate',
  'error.rate': 'errors.rate',
  errorrate: 'errors.rate',
  http_req_failed: 'errors.rate',
  lost: 'ledger.lost',
  loss: 'ledger.lost',
  'ledger.loss': 'ledger.lost',
  lateness: 'scheduler.lateness.p99',
  'scheduler.lateness': 'scheduler.lateness.p99',
};
const OPERATION_ALIASES: Record<string, Operation> = {
  latency: 'telemetry', messages: 'telemetry', message: 'telemetry', publish: 'telemetry', d2c: 'telemetry', send: 'telemetry',
  provisioning: 'provision', dps: 'provision', register: 'provision', connection: 'connect', connack: 'connect',
  commands: 'command', method: 'command', methods: 'command', twin: 'twinGet', reported: 'reportedPatch', desired: 'desiredAck',
};
const STAT_ALIASES: Record<string, LatencyStat> = { avg: 'mean', average: 'mean', median: 'p50', med: 'p50', 'p99.9': 'p999', p100: 'max', n: 'count' };

function suggestMetric(name: string): string | undefined {
  const alias = WHOLE_ALIASES[name.toLowerCase()];
  if (alias) return alias;
  // A prefix of real names ("errors.auth", "telemetry.raw", "ledger"): complete it.
  const longer = THRESHOLD_METRICS.filter((m) => m.startsWith(`${name}.`));
  if (longer.length > 0) return longer.find((m) => /\.(p99|count|lost)$/.test(m)) ?? longer[0];
  const last = name.split('.').pop()!;
  if (name.startsWith('scheduler.') && includes(LATENESS_STATS, last)) return `scheduler.lateness.${last}`;
  // Segment by segment, words people use first: "latency.p99" is telemetry.p99, "connect.avg" is connect.mean.
  const parts = name.split('.');
  const opWord = parts[0]!;
  const raw = parts[1] === 'raw';
  const statWord = parts[raw ? 2 : 1];
  const opAlias = OPERATION_ALIASES[opWord.toLowerCase()];
  const statAlias = statWord === undefined ? undefined : STAT_ALIASES[statWord.toLowerCase()];
  const op = opAlias ?? closest(opWord, OPERATIONS);
  const stat = statAlias ?? (statWord === undefined ? 'p99' : closest(statWord, LATENCY_STATS));
  const bySegment = op !== undefined && stat !== undefined && parts.length <= (raw ? 3 : 2) ? `${op}.${raw ? 'raw.' : ''}${stat}` : undefined;
  if (bySegment && (opAlias || statAlias)) return bySegment;
  return closest(name, THRESHOLD_METRICS) ?? bySegment;
}

function resolveMetric(name: string): MetricRef | undefined {
  const p = name.split('.');
  const [a, b, c] = p;
  if (a === undefined || b === undefined) return undefined;
  if (isOperation(a)) {
    if (p.length === 2 && includes(LATENCY_STATS, b)) return { kind: 'latency', op: a, raw: false, stat: b };
    if (p.length === 3 && b === 'raw' && c !== undefined && includes(LATENCY_STATS, c)) return { kind: 'latency', op: a, raw: true, stat: c };
    return undefined;
  }
  if (a === 'errors') {
    if (p.length === 2 && b === 'rate') return { kind: 'errorRate' };
    if (p.length === 2 && b === 'count') return { kind: 'errorCount' };
    if (p.length === 3 && isErrorClass(b) && c === 'count') return { kind: 'errorCount', cls: b };
    return undefined;
  }
  if (a === 'ledger' && p.length === 2 && includes(LEDGER_FIELDS, b)) return { kind: 'ledger', field: b };
  if (a === 'reconciliation' && p.length === 2 && includes(RECONCILIATION_FIELDS, b)) return { kind: 'reconciliation', field: b };
  if (a === 'scheduler' && b === 'lateness' && p.length === 3 && c !== undefined && includes(LATENESS_STATS, c)) return { kind: 'lateness', stat: c };
  return undefined;
}

function unitOf(ref: MetricRef): ThresholdUnit {
  switch (ref.kind) {
    case 'latency':
      return ref.stat === 'count' ? '' : 'ms';
    case 'lateness':
      return ref.stat === 'count' ? '' : 'ms';
    case 'errorRate':
      return '%';
    default:
      return '';
  }
}

// --- parsing ------------------------------------------------------------------------------------------------

const OPS: readonly ThresholdOp[] = ['<=', '>=', '==', '!=', '<', '>'];
const VALUE = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|%)?$/;
const PERCENTILE_CALL = /p\(\s*(\d+(?:\.\d+)?)\s*\)/;

/** Parses one threshold, or throws a ThresholdError saying what is wrong and what is accepted. */
export function parseThreshold(text: string, opts: { abortOnFail?: boolean } = {}): Threshold {
  if (typeof text !== 'string') throw new ThresholdError(String(text), 'expected text', GRAMMAR);
  const src = text.trim();
  if (src === '') throw new ThresholdError(text, 'it is empty', GRAMMAR);

  const at = src.search(/[<>=!≤≥]/);
  if (at < 0) throw new ThresholdError(text, 'no comparison operator', GRAMMAR);
  const metric = src.slice(0, at).trim();
  const rest = src.slice(at);
  const op = OPS.find((o) => rest.startsWith(o));
  const opWritten = /^[<>=!≤≥]+/.exec(rest)?.[0] ?? '';
  if (op === undefined || opWritten !== op) {
    const fix: Record<string, string> = { '=': '==', '=<': '<=', '=>': '>=', '≤': '<=', '≥': '>=', '===': '==', '!==': '!=', '<>': '!=' };
    const hint = fix[opWritten] ? ` (did you mean "${fix[opWritten]}"?)` : '';
    throw new ThresholdError(text, `unknown operator "${opWritten}"${hint}`, GRAMMAR);
  }
  if (metric === '') throw new ThresholdError(text, 'no metric before the operator', `${GRAMMAR}. ${METRICS_HELP}`);

  const ref = resolveMetric(metric);
  if (ref === undefined) {
    const call = PERCENTILE_CALL.exec(metric);
    if (call) {
      const stat = STAT_ALIASES[`p${call[1]}`] ?? `p${call[1]!.replace('.', '')}`;
      const fixed = metric.replace(PERCENTILE_CALL, stat);
      const hint = resolveMetric(fixed) ? ` (did you mean "${fixed}"?)` : ` (percentiles: ${LATENCY_STATS.filter((s) => s.startsWith('p')).join(', ')})`;
      throw new ThresholdError(text, `percentiles are written p99, not p(99)${hint}`, METRICS_HELP);
    }
    const suggestion = suggestMetric(metric);
    const hint = suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`;
    throw new ThresholdError(text, `unknown metric "${metric}"${hint}`, METRICS_HELP);
  }

  const unit = unitOf(ref);
  const valueText = rest.slice(op.length).trim();
  const value = parseValue(text, metric, unit, valueText);
  return { text: src, metric, op, value, unit, abortOnFail: opts.abortOnFail ?? false };
}

function parseValue(text: string, metric: string, unit: ThresholdUnit, written: string): number {
  const accepted =
    unit === 'ms'
      ? `${metric} is a latency: write a duration such as 200ms, 1s, 1.5s or 2m (a plain number is ms)`
      : unit === '%'
        ? `${metric} is a rate: write a percentage such as 1% or 0.5%, or a fraction below 1 such as 0.01`
        : `${metric} is a count: write a whole number such as 0 or 100`;
  if (written === '') throw new ThresholdError(text, 'no value after the operator', accepted);
  const m = VALUE.exec(written);
  if (m === null) {
    const negative = /^-\s*\d/.test(written) ? 'values cannot be negative; ' : '';
    throw new ThresholdError(text, `cannot read the value "${written}"`, `${negative}${accepted}`);
  }
  const n = Number(m[1]);
  const suffix = m[2] ?? '';
  if (unit === 'ms') {
    if (suffix === '%') throw new ThresholdError(text, `"${written}" is a percentage`, accepted);
    return n * (suffix === 's' ? 1000 : suffix === 'm' ? 60_000 : 1);
  }
  if (unit === '%') {
    if (suffix === '%') {
      if (n > 100) throw new ThresholdError(text, `${written} is more than 100%`, accepted);
      return n;
    }
    if (suffix !== '') throw new ThresholdError(text, `"${written}" is a duration`, accepted);
    // A bare 1 (or more) could mean 1% or 100%: refuse rather than guess.
    if (n >= 1) throw new ThresholdError(text, `"${written}" is ambiguous for a rate (write ${n}% or the fraction ${n / 100})`, accepted);
    return n * 100;
  }
  if (suffix !== '') throw new ThresholdError(text, `"${written}" has a unit`, accepted);
  if (!Number.isInteger(n)) throw new ThresholdError(text, `"${written}" is not a whole number`, accepted);
  return n;
}

// --- reading a summary ----------------------------------------------------------------------------------------

/**
 * What evaluation reads: a RunSummary, or the live subset built during a run (see liveSummaryOf).
 * Everything optional, so a view without, say, reconciliation still evaluates (that metric has no data).
 */
export interface ThresholdInput {
  operations?: Partial<Record<Operation, (Partial<LatencyStats> & { p90?: number | null; raw?: Partial<LatencyStats> & { p90?: number | null } }) | undefined>>;
  ledger?: Partial<LedgerTotals>;
  errors?: Partial<Record<ErrorClass, { count: number } | undefined>>;
  scheduler?: { lateness?: Partial<RunSummary['scheduler']['lateness']> };
  reconciliation?: Reconciliation | null;
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

function read(ref: MetricRef, s: ThresholdInput): Reading {
  switch (ref.kind) {
    case 'latency': {
      const top = s.operations?.[ref.op];
      const stats = ref.raw ? top?.raw : top;
      const count = top?.count ?? 0;
      if (ref.stat === 'count') return { value: stats?.count ?? count };
      if (count === 0) return { value: null, note: `no ${ref.op} operation completed` };
      const v = stats?.[ref.stat];
      if (v === undefined || v === null) return { value: null, note: `this summary has no ${ref.stat} for ${ref.op}` };
      return { value: v, samples: count };
    }
    case 'errorRate': {
      // errors.rate = E / (E + S), in percent. E: errors recorded, all classes (each failed attempt counts once,
      // a retry that fails again counts again). S: operations that completed (the latency counts, all operations).
      // A command answered with 4xx/5xx is both (it completed, and it is a server error).
      const e = sum(ERROR_CLASSES.map((c) => s.errors?.[c]?.count ?? 0));
      const ok = sum(OPERATIONS.map((op) => s.operations?.[op]?.count ?? 0));
      if (e + ok === 0) return { value: null, note: 'no operation completed and no error was recorded' };
      return { value: (100 * e) / (e + ok), note: `${e} error${e === 1 ? '' : 's'} / ${e + ok} attempts`, samples: e + ok };
    }
    case 'errorCount':
      return { value: ref.cls === undefined ? sum(ERROR_CLASSES.map((c) => s.errors?.[c]?.count ?? 0)) : (s.errors?.[ref.cls]?.count ?? 0) };
    case 'ledger': {
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
      const note = `failed ${failed} + expired ${expired}` + (hidden === undefined ? '' : ` + acknowledged but not received ${hidden}`);
      return { value, note };
    }
    case 'reconciliation': {
      const v = s.reconciliation?.[ref.field];
      if (s.reconciliation === undefined || s.reconciliation === null) {
        return { value: null, note: 'no reconciliation (the target has no record of what it received; only the emulator does)' };
      }
      return typeof v === 'number' ? { value: v } : { value: null, note: `the reconciliation has no ${ref.field}` };
    }
    case 'lateness': {
      const l = s.scheduler?.lateness;
      if (ref.stat === 'count') return { value: l?.count ?? 0 };
      const v = l?.[ref.stat];
      if (!l?.count || v === undefined || v === null) return { value: null, note: 'no scheduler lateness was recorded' };
      return { value: v, samples: l.count };
    }
  }
}

// --- evaluating -----------------------------------------------------------------------------------------------

const compare = (a: number, op: ThresholdOp, b: number): boolean => {
  switch (op) {
    case '<': return a < b;
    case '<=': return a <= b;
    case '>': return a > b;
    case '>=': return a >= b;
    case '==': return a === b;
    case '!=': return a !== b;
  }
};

/** Shortest honest rendering: whole above 1000, four significant digits below. */
function num(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1000) return String(Math.round(v));
  return String(Number(v.toPrecision(4)));
}

const withUnit = (v: number, unit: ThresholdUnit): string => (unit === 'ms' ? `${num(v)} ms` : unit === '%' ? `${num(v)}%` : num(v));
const gapUnit = (v: number, unit: ThresholdUnit): string => (unit === '%' ? `${num(v)} points` : withUnit(v, unit));

function describe(t: Threshold, actual: number, passed: boolean, note: string | undefined): string {
  const was = `${t.metric} was ${withUnit(actual, t.unit)}${note ? ` (${note})` : ''}`;
  const limit = withUnit(t.value, t.unit);
  const gap = Math.abs(actual - t.value);
  if (t.op === '!=') return passed ? `${was}, not ${limit}` : `${was}, must not be ${limit}`;
  if (gap === 0) return passed ? `${was}, at the limit` : `${was}, at the limit (must be ${t.op} ${limit})`;
  return `${was}, ${gapUnit(gap, t.unit)} ${actual > t.value ? 'over' : 'under'} ${limit}`;
}

function judge(t: Threshold, s: ThresholdInput): { result: ThresholdResult; samples: number | undefined; monotone: boolean } {
  const ref = resolveMetric(t.metric);
  if (ref === undefined) throw new ThresholdError(t.text, `unknown metric "${t.metric}"`, METRICS_HELP);
  const r = read(ref, s);
  if (r.value === null) {
    return { result: { threshold: t, actual: null, passed: false, detail: `${t.metric}: no data (${r.note ?? 'nothing recorded'})` }, samples: undefined, monotone: false };
  }
  const passed = compare(r.value, t.op, t.value);
  return { result: { threshold: t, actual: r.value, passed, detail: describe(t, r.value, passed, r.note) }, samples: r.samples, monotone: isMonotone(ref) };
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
export function evaluateThresholds(thresholds: readonly Threshold[], summary: RunSummary | ThresholdInput): ThresholdResult[] {
  return thresholds.map((t) => judge(t, summary).result);
}

export interface LiveOptions {
  /** Percentiles, means and rates are not judged on fewer samples than this (one slow connect is not a p95). Default 50. */
  minSamples?: number;
}

/**
 * During a run, for abort-on-fail: failed only when already decided. A count or max over an upper bound
 * (<, <=, ==) can only stay over; a percentile, mean or rate is judged as it stands once it has minSamples.
 * Anything else (no data yet, a count still below a lower bound) is pending, with passed = true.
 */
export function evaluateLive(thresholds: readonly Threshold[], live: ThresholdInput, options: LiveOptions = {}): ThresholdResult[] {
  const minSamples = options.minSamples ?? 50;
  return thresholds.map((t) => {
    const { result, samples, monotone } = judge(t, live);
    if (result.actual === null) return { ...result, passed: true, pending: true, detail: `${t.metric}: no data yet` };
    const upperBound = t.op === '<' || t.op === '<=' || t.op === '==';
    // A growing value that already passed a lower bound (>, >=, !=) stays passed; anything else can still change.
    if (result.passed) return monotone && !upperBound ? result : { ...result, pending: true };
    const decided = monotone ? upperBound : (samples ?? 0) >= minSamples;
    return decided ? result : { ...result, passed: true, pending: true, detail: `${result.detail} (not decided yet)` };
  });
}

/** The failed abort-on-fail thresholds among live results: stop the run when this is not empty. */
export function abortingResults(results: readonly ThresholdResult[]): ThresholdResult[] {
  return results.filter((r) => r.threshold.abortOnFail && !r.passed && !r.pending);
}

/**
 * The live subset of a summary straight from the coordinator's aggregate (cumulative, all workers),
 * without building a whole RunSummary every few seconds.
 */
export function liveSummaryOf(aggregate: MetricsAggregate): ThresholdInput {
  const operations: NonNullable<ThresholdInput['operations']> = {};
  for (const op of OPERATIONS) operations[op] = { ...aggregate.latency(op), raw: aggregate.latency(op, 'raw') };
  const late = latencyStats(aggregate.latenessHistogram(), false);
  return {
    operations,
    ledger: aggregate.ledger(),
    errors: aggregate.errors(),
    scheduler: { lateness: { count: late.count, p50: late.p50, p99: late.p99, max: late.max } },
  };
}

// --- output ---------------------------------------------------------------------------------------------------

/** Console block: one ✓/✗ line per threshold with its detail; empty when there are none. */
export function formatThresholdResults(results: readonly ThresholdResult[], options: { color?: boolean } = {}): string {
  if (results.length === 0) return '';
  const paint = (code: string, s: string) => (options.color ? `\u001b[${code}m${s}\u001b[0m` : s);
  const held = results.filter((r) => r.passed).length;
  const head = held === results.length ? `thresholds: all ${results.length} held` : `thresholds: ${results.length - held} of ${results.length} failed`;
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
export function thresholdsJUnitCases(results: readonly ThresholdResult[], classname = 'edgefleet.thresholds'): ThresholdJUnitCase[] {
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
    threshold: t.text, metric: t.metric, op: t.op, value: t.value, unit: t.unit, abortOnFail: t.abortOnFail, actual, passed, detail,
  }));
}

// --- the scenario field ---------------------------------------------------------------------------------------

const thresholdObjectSchema = z
  .strictObject({
    threshold: z.string().min(1).describe('The threshold, e.g. "connect.p95 < 1s".'),
    abortOnFail: z.boolean().default(false).describe('Stop the run as soon as the threshold fails (default false).'),
  })
  .describe('A threshold with options.');

/** One entry: "telemetry.p99 < 200ms", or { threshold, abortOnFail }; output is a parsed Threshold. */
export const thresholdEntrySchema = z
  .union([z.string().min(1).describe('A threshold, e.g. "telemetry.p99 < 200ms".'), thresholdObjectSchema])
  .transform((entry, ctx) => {
    const text = typeof entry === 'string' ? entry : entry.threshold;
    try {
      return parseThreshold(text, { abortOnFail: typeof entry === 'string' ? false : entry.abortOnFail });
    } catch (error) {
      if (!(error instanceof ThresholdError)) throw error;
      ctx.addIssue({ code: 'custom', message: error.message, input: entry, ...(typeof entry === 'string' ? {} : { path: ['threshold'] }) });
      return z.NEVER;
    }
  });

/** `thresholds:` of a scenario. Defaults to none. */
export const thresholdsSchema = z
  .array(thresholdEntrySchema)
  .default([])
  .describe(
    'Pass/fail criteria, like k6\'s: "<metric> <op> <value>", e.g. "telemetry.p99 < 200ms", "errors.rate < 1%", "ledger.lost == 0". ' +
      'Any failed threshold makes the run exit with code 99. --threshold adds more.',
  )
  .meta({ examples: [['telemetry.p99 < 200ms', { threshold: 'connect.p95 < 1s', abortOnFail: true }, 'ledger.lost == 0']] });
