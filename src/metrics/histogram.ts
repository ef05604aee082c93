// Histogram shapes shared by workers and the coordinator, and how we read them in milliseconds.
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';

/** Values are recorded in microseconds. */
export const US_PER_MS = 1000;
/** Above this (1 hour) a value is clamped and counted; a fixed range keeps recording allocation-free. */
export const MAX_TRACKABLE_US = 3_600_000_000;
export const SIGNIFICANT_DIGITS = 3;

/** Worker side: fixed range, no auto-resize, so recordValue never allocates. 32-bit counts suffice for one interval. */
export function newIntervalHistogram(): Histogram {
  return build({
    bitBucketSize: 32,
    autoResize: false,
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_TRACKABLE_US,
    numberOfSignificantValueDigits: SIGNIFICANT_DIGITS,
  });
}

/**
 * Coordinator side: 64-bit (float) counts so a long soak cannot overflow a bucket; auto-resize accepts foreign
 * ranges.
 */
export function newCumulativeHistogram(): Histogram {
  return build({
    bitBucketSize: 64,
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_TRACKABLE_US,
    numberOfSignificantValueDigits: SIGNIFICANT_DIGITS,
  });
}

export const encodeHistogram = (h: Histogram): string => encodeIntoCompressedBase64(h);
/**
 * 64-bit counts for cumulative state; a worker's one-second snapshot fits 32-bit counts and decodes
 * at half the cost (it allocates half the array).
 */
export const decodeHistogram = (b64: string, bits: 32 | 64 = 64): Histogram => decodeFromCompressedBase64(b64, bits);

/** Latency statistics in milliseconds; null when nothing was recorded (0 would read as "fast"). */
export interface LatencyStats {
  count: number;
  p50: number | null;
  p90: number | null;
  p95: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
  mean: number | null;
}

/** µs → ms, rounded to the µs so JSON shows no float noise. */
export const usToMs = (us: number): number => Math.round(us) / US_PER_MS;

/**
 * @param withMean the library's mean walks every recorded value (~ms on a wide histogram); the once-a-second
 * live view skips it.
 */
export function latencyStats(h: Histogram | undefined, withMean = true): LatencyStats {
  const count = h?.totalCount ?? 0;
  if (!h || count === 0)
    return { count: 0, p50: null, p90: null, p95: null, p99: null, p999: null, max: null, mean: null };
  return {
    count,
    p50: usToMs(h.getValueAtPercentile(50)),
    p90: usToMs(h.getValueAtPercentile(90)),
    p95: usToMs(h.getValueAtPercentile(95)),
    p99: usToMs(h.getValueAtPercentile(99)),
    p999: usToMs(h.getValueAtPercentile(99.9)),
    max: usToMs(h.maxValue),
    mean: withMean ? usToMs(h.mean) : null,
  };
}
