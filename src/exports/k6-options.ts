// The k6 options of an exported script: the profile's arrivals as an arrival-rate executor (one iteration, so one
// VU, per device) and the scenario's thresholds as k6 thresholds, with the ones k6 cannot judge named.
import { formatDuration } from '../config/duration.js';
import { arrivalOffsets } from '../config/plan.js';
import type { Profile } from '../config/profile.js';
import type { Threshold } from '../config/thresholds.js';
import { resolveMetric, type LatencyStat, type MetricRef } from '../config/thresholds.js';

/** Room past the script's own end (run end + drain) before k6 interrupts an iteration. */
const STOP_MARGIN_MS = 5000;

export interface K6Executor {
  executor: 'constant-arrival-rate' | 'ramping-arrival-rate';
  [option: string]: unknown;
}

/** Rates as k6 takes them: whole numbers per timeUnit (1s, 1m or 1h, the first that keeps them exact). */
function timeUnitFor(rates: number[]): { unit: string; seconds: number } {
  for (const [unit, seconds] of [
    ['1s', 1],
    ['1m', 60],
    ['1h', 3600],
  ] as const) {
    if (rates.every((r) => Math.abs(r * seconds - Math.round(r * seconds)) < 1e-9)) return { unit, seconds };
  }
  return { unit: '1h', seconds: 3600 };
}

/**
 * How long arrivals last, ms: halfway between the last device's arrival and the one after it, so that k6's pacing
 * (an iteration each time the rate's integral passes a whole number) starts exactly `total` iterations. Capped at
 * the run's duration: devices the rate never reaches do not start.
 */
export function arrivalWindowMs(profile: Profile, total: number, durationMs: number): number {
  const offsets = arrivalOffsets(profile, total + 1);
  const last = offsets[total - 1] ?? 0;
  const next = offsets[total] ?? Infinity;
  const window = Number.isFinite(next) ? (last + next) / 2 : Number.isFinite(last) ? last + 1 : durationMs;
  return Math.min(durationMs, Math.ceil(window));
}

/** The k6 scenario that starts `total` devices as the profile's arrivals do. */
export function k6Executor(profile: Profile, total: number, durationMs: number): K6Executor {
  const windowMs = arrivalWindowMs(profile, total, durationMs);
  const stages = stagesWithin(profile, windowMs);
  const { unit, seconds } = timeUnitFor([profile.arrivals.startRate, ...stages.map((s) => s.target)]);
  const perUnit = (rate: number) => Math.round(rate * seconds);
  const common = {
    timeUnit: unit,
    preAllocatedVUs: total,
    maxVUs: total,
    gracefulStop: `${durationMs + profile.drain - windowMs + STOP_MARGIN_MS}ms`,
  };
  if (profile.arrivals.stages.length === 0) {
    return {
      executor: 'constant-arrival-rate',
      rate: perUnit(profile.arrivals.startRate),
      duration: `${windowMs}ms`,
      ...common,
    };
  }
  return {
    executor: 'ramping-arrival-rate',
    startRate: perUnit(profile.arrivals.startRate),
    stages: stages.map((s) => ({ duration: `${s.durationMs}ms`, target: perUnit(s.target) })),
    ...common,
  };
}

/** The profile's stages cut at the end of the arrival window; the last target holds until then. */
function stagesWithin(profile: Profile, windowMs: number): { durationMs: number; target: number }[] {
  const out: { durationMs: number; target: number }[] = [];
  let at = 0;
  let rate = profile.arrivals.startRate;
  for (const stage of profile.arrivals.stages) {
    if (at >= windowMs) return out;
    const end = at + stage.duration;
    if (end > windowMs) {
      const part = (windowMs - at) / stage.duration;
      out.push({ durationMs: windowMs - at, target: rate + (stage.target - rate) * part });
      return out;
    }
    out.push({ durationMs: stage.duration, target: stage.target });
    at = end;
    rate = stage.target;
  }
  if (at < windowMs) out.push({ durationMs: windowMs - at, target: rate });
  return out;
}

// --- thresholds ------------------------------------------------------------------------------------------------

const K6_STAT: Record<LatencyStat, string> = {
  p50: 'med',
  p90: 'p(90)',
  p95: 'p(95)',
  p99: 'p(99)',
  p999: 'p(99.9)',
  max: 'max',
  mean: 'avg',
  count: 'count',
};

/** Operations the script times, as Trends of the same name. */
export const K6_TRENDS = ['provision', 'connect', 'telemetry', 'twinGet', 'reportedPatch'] as const;

/** The k6 metric and aggregation for an edgefleet metric, or why there is none. */
function k6Metric(ref: MetricRef): { metric: string; aggregation: string; scale?: number } | { none: string } {
  switch (ref.kind) {
    case 'latency':
      if (!(K6_TRENDS as readonly string[]).includes(ref.op)) {
        return { none: `${ref.op} is timed on the service side, which the script does not play` };
      }
      if (ref.raw && ref.op === 'telemetry') return { none: 'the script times telemetry from its intended send only' };
      return { metric: ref.op, aggregation: K6_STAT[ref.stat] };
    case 'errorRate':
      return { metric: 'errors', aggregation: 'rate', scale: 0.01 };
    case 'errorCount':
      return { metric: ref.cls === undefined ? 'error_count' : `error_count{class:${ref.cls}}`, aggregation: 'count' };
    case 'ledger':
      if (ref.field === 'generated' || ref.field === 'acknowledged' || ref.field === 'failed') {
        return { metric: `ledger_${ref.field}`, aggregation: 'count' };
      }
      if (ref.field === 'lost') return { metric: 'ledger_failed', aggregation: 'count' };
      return { none: `ledger.${ref.field} belongs to edgefleet's engine (stores, routes, resends), not to k6` };
    case 'reconciliation':
      return { none: 'reconciliation compares with what the emulator received, after the run' };
    case 'lateness':
      return { none: "the scheduler's lateness is edgefleet's own; k6 reports dropped_iterations instead" };
    case 'eventsWholeAfter':
      return { none: 'profile events do not happen in k6' };
  }
}

export interface K6Thresholds {
  thresholds: Record<string, (string | { threshold: string; abortOnFail: boolean })[]>;
  /** Each translated threshold with its k6 form, and each left out with why. */
  notes: string[];
}

export function k6Thresholds(list: readonly Threshold[]): K6Thresholds {
  const out: K6Thresholds = { thresholds: {}, notes: [] };
  for (const t of list) {
    const ref = resolveMetric(t.metric);
    const target = ref === undefined ? { none: 'unknown metric' } : k6Metric(ref);
    if ('none' in target) {
      out.notes.push(`left out: ${t.text} (${target.none})`);
      continue;
    }
    const value = target.scale === undefined ? t.value : t.value * target.scale;
    const expression = `${target.aggregation}${t.op}${Number(value.toPrecision(12))}`;
    (out.thresholds[target.metric] ??= []).push(
      t.abortOnFail ? { threshold: expression, abortOnFail: true } : expression,
    );
    const lost = ref?.kind === 'ledger' && ref.field === 'lost' ? ' (failed only: k6 cannot reconcile)' : '';
    out.notes.push(`${t.text} → ${target.metric}: ${expression}${lost}`);
  }
  return out;
}

/** "1m 30s" for a header line. */
export const shownDuration = (ms: number): string => formatDuration(ms);
