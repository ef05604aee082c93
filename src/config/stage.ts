// Where a run is in its profile, named as the operator can match it against the profile file.

export interface ArrivalsShape {
  startRate: number;
  stages: readonly { duration: number; target: number }[];
}

/**
 * A name for where the run is: "stage 2/3 → 50/s", "hold 50/s", "ramp-down", "draining". Profile stages
 * have no names; this is what the operator can match against the profile file.
 */
export function describeStage(
  arrivals: ArrivalsShape,
  elapsedMs: number,
  run: { durationMs: number; rampDownMs?: number; stopping?: boolean },
): string {
  if (run.stopping || elapsedMs >= run.durationMs) return 'draining';
  if (run.rampDownMs !== undefined && run.rampDownMs > 0 && elapsedMs >= run.durationMs - run.rampDownMs)
    return 'ramp-down';
  let t = 0;
  let rate = arrivals.startRate;
  for (const [i, stage] of arrivals.stages.entries()) {
    if (elapsedMs < t + stage.duration)
      return `stage ${i + 1}/${arrivals.stages.length} → ${fmtRateShort(stage.target)}/s`;
    t += stage.duration;
    rate = stage.target;
  }
  return arrivals.stages.length === 0 ? `arrivals ${fmtRateShort(rate)}/s` : `hold ${fmtRateShort(rate)}/s`;
}

const fmtRateShort = (r: number) => (Number.isInteger(r) ? String(r) : r.toFixed(1));
