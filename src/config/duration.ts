// Durations as people write them ("30s", "1m30s", "250ms", "2h") or a plain number of seconds; always ms inside.
import { z } from 'zod';
import { describeValue } from './errors.js';

export const DURATION_FORMS = 'a duration such as "30s", "1m30s", "250ms", "2h", or a number of seconds';

export class DurationError extends Error {
  constructor(value: unknown) {
    super(`expected ${DURATION_FORMS}, got ${describeValue(value)}`);
    this.name = 'DurationError';
  }
}

const NUMBER = String.raw`(\d+(?:\.\d+)?|\.\d+)`;
// Units in decreasing order, each at most once: "1h30m", "1m30s", "2s500ms".
const DURATION = new RegExp(`^(?:${NUMBER}h)?(?:${NUMBER}m(?!s))?(?:${NUMBER}s)?(?:${NUMBER}ms)?$`);
const PLAIN_SECONDS = new RegExp(`^${NUMBER}$`);
/** For JSON Schema: any accepted written form (the empty string aside, which the transform refuses). */
const WRITTEN = new RegExp(`^\\s*(?:${NUMBER}|${DURATION.source.slice(1, -1)})\\s*$`);

/** Milliseconds, or throws a DurationError saying which forms are accepted. */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new DurationError(value);
    return value * 1000;
  }
  if (typeof value !== 'string') throw new DurationError(value);
  const text = value.trim();
  if (PLAIN_SECONDS.test(text)) return Number(text) * 1000;
  const match = DURATION.exec(text);
  if (text === '' || match === null) throw new DurationError(value);
  const [, hours, minutes, seconds, millis] = match;
  return (
    Number(hours ?? 0) * 3_600_000 + Number(minutes ?? 0) * 60_000 + Number(seconds ?? 0) * 1000 + Number(millis ?? 0)
  );
}

/** Writes ms back in the largest units that fit, for messages: 90000 → "1m30s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return 'never';
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    const whole = Math.floor(rest / size);
    if (whole > 0) {
      out += `${whole}${unit}`;
      rest -= whole * size;
    }
  }
  if (rest > 0) out += `${Math.round(rest * 1000) / 1000}ms`;
  return out;
}

/** A duration field: accepts the written forms, outputs milliseconds. */
export const durationSchema = z
  .union(
    [
      z.string().regex(WRITTEN, { error: `expected ${DURATION_FORMS}` }),
      z.number().nonnegative({ error: `expected ${DURATION_FORMS}` }),
    ],
    { error: `expected ${DURATION_FORMS}` },
  )
  .transform((value, ctx) => {
    try {
      return parseDuration(value);
    } catch {
      ctx.addIssue({
        code: 'custom',
        message: `expected ${DURATION_FORMS}, got ${describeValue(value)}`,
        input: value,
      });
      return z.NEVER;
    }
  })
  .meta({ description: `A duration: ${DURATION_FORMS}.`, examples: ['30s', '1m30s', '250ms', '2h', 60] });

/** A duration with a default, written the way people write it (so the JSON Schema shows "10s", not 10000). */
export function durationWithDefault(written: string) {
  return durationSchema.prefault(written);
}
