// Reconnect delays as the Azure IoT SDKs compute them (ExponentialBackOffWithJitter, docs/protocol.md §1.6):
// F(x) = min(Cmin + (2^(x-1) - 1) * rand(C*(1-Jd), C*(1-Ju)), Cmax), the first retry immediate unless throttled.

export interface BackoffParameters {
  c: number;
  cMin: number;
  cMax: number;
  ju: number;
  jd: number;
}

export const NORMAL_BACKOFF: BackoffParameters = { c: 100, cMin: 100, cMax: 10_000, ju: 0.25, jd: 0.5 };
export const THROTTLED_BACKOFF: BackoffParameters = { c: 5000, cMin: 10_000, cMax: 60_000, ju: 0.25, jd: 0.5 };

/**
 * Delay in ms before retry number `attempt` (1 = first retry). `random` returns [0, 1): pass a seeded one
 * for reproducible runs.
 */
export function backoffDelay(attempt: number, throttled: boolean, random: () => number): number {
  const p = throttled ? THROTTLED_BACKOFF : NORMAL_BACKOFF;
  if (attempt <= 1 && !throttled) return 0;
  const low = p.c * (1 - p.jd);
  const high = p.c * (1 - p.ju);
  const jitter = low + (high - low) * random();
  return Math.min(p.cMin + (2 ** (attempt - 1) - 1) * jitter, p.cMax);
}
