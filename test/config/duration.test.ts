import { describe, expect, it } from 'vitest';
import { DurationError, durationSchema, formatDuration, parseDuration } from '../../src/config/duration.js';

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['1m30s', 90_000],
    ['250ms', 250],
    ['2h', 7_200_000],
    ['1h30m', 5_400_000],
    ['2s500ms', 2_500],
    ['1.5s', 1_500],
    ['0s', 0],
    ['90', 90_000],
    [' 10s ', 10_000],
    [60, 60_000],
    [0.25, 250],
  ] as const)('%j is %d ms', (written, ms) => {
    expect(parseDuration(written)).toBe(ms);
  });

  it.each(['abc', '', '5x', '-1s', '1s1m', '1m1m', 's', '1 m', '10sec'])(
    'refuses %j and says which forms are accepted',
    (written) => {
      expect(() => parseDuration(written)).toThrow(DurationError);
      expect(() => parseDuration(written)).toThrow(/"30s", "1m30s", "250ms", "2h", or a number of seconds/);
      expect(() => parseDuration(written)).toThrow(`got ${JSON.stringify(written)}`);
    },
  );

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('refuses the number %d', (seconds) => {
    expect(() => parseDuration(seconds)).toThrow(DurationError);
  });
});

describe('durationSchema', () => {
  it('turns what people write into milliseconds', () => {
    expect(durationSchema.parse('1m')).toBe(60_000);
    expect(durationSchema.parse(5)).toBe(5_000);
  });

  it('fails with the accepted forms', () => {
    const result = durationSchema.safeParse('soon');
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/expected a duration such as "30s"/);
    expect(durationSchema.safeParse(true).success).toBe(false);
  });
});

describe('formatDuration', () => {
  it('writes the largest units that fit', () => {
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(3_600_250)).toBe('1h250ms');
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('never');
  });
});
