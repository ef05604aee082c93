// Thresholds, like k6's: "<metric> <op> <value>" pass/fail criteria on a run's summary. This file is their
// grammar: the metrics a threshold can name, parsing with errors that say what to fix, and the scenario field.
// Judging them on a summary is the report's (src/report/thresholds.ts); live, during a run, an output's.
import { z } from 'zod';
import { closest } from './suggest.js';
import {
  ERROR_CLASSES,
  OPERATIONS,
  isErrorClass,
  isOperation,
  type ErrorClass,
  type Operation,
} from '../metrics/operations.js';
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
export type LatencyStat = (typeof LATENCY_STATS)[number];
const LEDGER_FIELDS = [
  'lost',
  'generated',
  'acknowledged',
  'failed',
  'expired',
  'dropped',
  'inFlight',
  'stored',
  'deliveredLate',
  'resent',
] as const;
export type LedgerField = (typeof LEDGER_FIELDS)[number];
const RECONCILIATION_FIELDS = [
  'acknowledgedNotReceived',
  'receivedNotAcknowledged',
  'duplicates',
  'outOfOrder',
] as const;
export type ReconciliationField = (typeof RECONCILIATION_FIELDS)[number];
const LATENESS_STATS = ['p50', 'p99', 'max', 'count'] as const;
export type LatenessStat = (typeof LATENESS_STATS)[number];

/** What a metric name designates. */
export type MetricRef =
  | { kind: 'latency'; op: Operation; raw: boolean; stat: LatencyStat }
  /** Errors (of one class, when given) over attempts, in percent. */
  | { kind: 'errorRate'; cls?: ErrorClass }
  | { kind: 'errorCount'; cls?: ErrorClass }
  | { kind: 'ledger'; field: LedgerField }
  | { kind: 'reconciliation'; field: ReconciliationField }
  | { kind: 'lateness'; stat: LatenessStat }
  /** The longest time a profile event left the fleet short (summary.json events[].wholeAfterMs). */
  | { kind: 'eventsWholeAfter' };

const includes = <T extends string>(list: readonly T[], x: string): x is T => (list as readonly string[]).includes(x);

function metricNames(): string[] {
  const names: string[] = [];
  for (const op of OPERATIONS) for (const s of LATENCY_STATS) names.push(`${op}.${s}`, `${op}.raw.${s}`);
  names.push('errors.rate', 'errors.count');
  names.push(...ERROR_CLASSES.flatMap((c) => [`errors.${c}.count`, `errors.${c}.rate`]));
  names.push(...LEDGER_FIELDS.map((f) => `ledger.${f}`), ...RECONCILIATION_FIELDS.map((f) => `reconciliation.${f}`));
  names.push(...LATENESS_STATS.map((s) => `scheduler.lateness.${s}`));
  names.push('events.wholeAfter.max');
  return names;
}

/** Every metric a threshold can name. */
export const THRESHOLD_METRICS: readonly string[] = Object.freeze(metricNames());

export const GRAMMAR =
  'A threshold is "<metric> <op> <value>", e.g. "telemetry.p99 < 200ms", "connect.p95 < 1s", "errors.rate < 1%", "ledger.lost == 0"; ' +
  '<op> is one of < <= > >= == !=';
export const METRICS_HELP =
  `Metrics: <operation>.<stat> and <operation>.raw.<stat> (operations: ${OPERATIONS.join(', ')}; stats: ${LATENCY_STATS.join(', ')}), ` +
  `errors.rate, errors.count, errors.<class>.count, errors.<class>.rate (classes: ${ERROR_CLASSES.join(', ')}), ` +
  `ledger.<field> (${LEDGER_FIELDS.join(', ')}), reconciliation.<field> (${RECONCILIATION_FIELDS.join(', ')}), ` +
  `scheduler.lateness.<stat> (${LATENESS_STATS.join(', ')}), events.wholeAfter.max`;

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
  latency: 'telemetry',
  messages: 'telemetry',
  message: 'telemetry',
  publish: 'telemetry',
  d2c: 'telemetry',
  send: 'telemetry',
  provisioning: 'provision',
  dps: 'provision',
  register: 'provision',
  connection: 'connect',
  connack: 'connect',
  commands: 'command',
  method: 'command',
  methods: 'command',
  twin: 'twinGet',
  reported: 'reportedPatch',
  desired: 'desiredAck',
};
const STAT_ALIASES: Record<string, LatencyStat> = {
  avg: 'mean',
  average: 'mean',
  median: 'p50',
  med: 'p50',
  'p99.9': 'p999',
  p100: 'max',
  n: 'count',
};

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
  const bySegment =
    op !== undefined && stat !== undefined && parts.length <= (raw ? 3 : 2)
      ? `${op}.${raw ? 'raw.' : ''}${stat}`
      : undefined;
  if (bySegment && (opAlias || statAlias)) return bySegment;
  return closest(name, THRESHOLD_METRICS) ?? bySegment;
}

export function resolveMetric(name: string): MetricRef | undefined {
  const p = name.split('.');
  const [a, b, c] = p;
  if (a === undefined || b === undefined) return undefined;
  if (isOperation(a)) {
    if (p.length === 2 && includes(LATENCY_STATS, b)) return { kind: 'latency', op: a, raw: false, stat: b };
    if (p.length === 3 && b === 'raw' && c !== undefined && includes(LATENCY_STATS, c))
      return { kind: 'latency', op: a, raw: true, stat: c };
    return undefined;
  }
  if (a === 'errors') {
    if (p.length === 2 && b === 'rate') return { kind: 'errorRate' };
    if (p.length === 2 && b === 'count') return { kind: 'errorCount' };
    if (p.length === 3 && isErrorClass(b) && c === 'count') return { kind: 'errorCount', cls: b };
    if (p.length === 3 && isErrorClass(b) && c === 'rate') return { kind: 'errorRate', cls: b };
    return undefined;
  }
  if (a === 'ledger' && p.length === 2 && includes(LEDGER_FIELDS, b)) return { kind: 'ledger', field: b };
  if (a === 'reconciliation' && p.length === 2 && includes(RECONCILIATION_FIELDS, b))
    return { kind: 'reconciliation', field: b };
  if (a === 'scheduler' && b === 'lateness' && p.length === 3 && c !== undefined && includes(LATENESS_STATS, c))
    return { kind: 'lateness', stat: c };
  if (a === 'events' && b === 'wholeAfter' && c === 'max' && p.length === 3) return { kind: 'eventsWholeAfter' };
  return undefined;
}

export function unitOf(ref: MetricRef): ThresholdUnit {
  switch (ref.kind) {
    case 'latency':
      return ref.stat === 'count' ? '' : 'ms';
    case 'lateness':
      return ref.stat === 'count' ? '' : 'ms';
    case 'eventsWholeAfter':
      return 'ms';
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
    const fix: Record<string, string> = {
      '=': '==',
      '=<': '<=',
      '=>': '>=',
      '≤': '<=',
      '≥': '>=',
      '===': '==',
      '!==': '!=',
      '<>': '!=',
    };
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
      const hint = resolveMetric(fixed)
        ? ` (did you mean "${fixed}"?)`
        : ` (percentiles: ${LATENCY_STATS.filter((s) => s.startsWith('p')).join(', ')})`;
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
    if (n >= 1)
      throw new ThresholdError(
        text,
        `"${written}" is ambiguous for a rate (write ${n}% or the fraction ${n / 100})`,
        accepted,
      );
    return n * 100;
  }
  if (suffix !== '') throw new ThresholdError(text, `"${written}" has a unit`, accepted);
  if (!Number.isInteger(n)) throw new ThresholdError(text, `"${written}" is not a whole number`, accepted);
  return n;
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
      ctx.addIssue({
        code: 'custom',
        message: error.message,
        input: entry,
        ...(typeof entry === 'string' ? {} : { path: ['threshold'] }),
      });
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
  .meta({
    examples: [['telemetry.p99 < 200ms', { threshold: 'connect.p95 < 1s', abortOnFail: true }, 'ledger.lost == 0']],
  });
