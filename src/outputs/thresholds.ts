// Live thresholds: those with abortOnFail are judged on the merged aggregate every few seconds, and the first that
// has certainly failed stops the run (k6's abortOnFail). At the end, every threshold is judged by the report.
import type { MetricsAggregate } from '../metrics/aggregate.js';
import { latencyStats } from '../metrics/histogram.js';
import { OPERATIONS } from '../metrics/operations.js';
import type { Threshold } from '../config/thresholds.js';
import { judgeThreshold, type ThresholdInput, type ThresholdResult } from '../report/thresholds.js';
import type { Output, RunStart } from './output.js';

/** Seconds between two live judgements. */
const EVERY_SECONDS = 2;

export function liveThresholdsOutput(thresholds: readonly Threshold[]): Output {
  const abortable = thresholds.filter((t) => t.abortOnFail);
  let run: RunStart | undefined;
  let seen = 0;
  let aborted = false;
  return {
    name: 'thresholds',
    start(started) {
      run = started;
    },
    snapshot(s) {
      if (run === undefined || aborted || abortable.length === 0 || ++seen % EVERY_SECONDS !== 0) return;
      const failed = abortingResults(evaluateLive(abortable, liveSummaryOf(s.aggregate)));
      if (failed.length === 0) return;
      aborted = true;
      const why = failed.map((r) => `${r.threshold.text}: ${r.detail}`).join('; ');
      run.log('error', `aborting: a threshold failed: ${why}`);
      run.control.stop(`a threshold failed: ${why}`);
    },
  };
}

export interface LiveOptions {
  /**
   * Percentiles, means and rates are not judged on fewer samples than this (one slow connect is not a p95).
   * Default 50.
   */
  minSamples?: number;
}

/**
 * During a run, for abort-on-fail: failed only when already decided. A count or max over an upper bound
 * (<, <=, ==) can only stay over; a percentile, mean or rate is judged as it stands once it has minSamples.
 * Anything else (no data yet, a count still below a lower bound) is pending, with passed = true.
 */
export function evaluateLive(
  thresholds: readonly Threshold[],
  live: ThresholdInput,
  options: LiveOptions = {},
): ThresholdResult[] {
  const minSamples = options.minSamples ?? 50;
  return thresholds.map((t) => {
    const { result, samples, monotone } = judgeThreshold(t, live);
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
