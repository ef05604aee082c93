// errors.throttled.count and errors.throttled.rate (and every class's .rate): the grammar reads them, and judged on
// a summary they count the target's push-back against all attempts, as errors.rate counts every class.
import { describe, expect, it } from 'vitest';
import { parseThreshold, THRESHOLD_METRICS, ThresholdError } from '../../src/config/thresholds.js';
import { evaluateThresholds, type ThresholdInput } from '../../src/report/thresholds.js';

const summary: ThresholdInput = {
  // 990 operations completed; 10 errors of which 6 throttled: 1000 attempts.
  operations: { telemetry: { count: 900 }, connect: { count: 90 } },
  errors: { throttled: { count: 6 }, network: { count: 4 } },
};

const judge = (text: string) => evaluateThresholds([parseThreshold(text)], summary)[0]!;

describe('throttled thresholds', () => {
  it('parses errors.throttled.count as a count and errors.throttled.rate as a rate', () => {
    expect(parseThreshold('errors.throttled.count == 0')).toMatchObject({ unit: '', value: 0 });
    expect(parseThreshold('errors.throttled.rate < 1%')).toMatchObject({ unit: '%', value: 1 });
    expect(parseThreshold('errors.throttled.rate < 0.005')).toMatchObject({ unit: '%', value: 0.5 });
    expect(THRESHOLD_METRICS).toEqual(expect.arrayContaining(['errors.throttled.rate', 'errors.auth.rate']));
  });

  it('says what to write when a rate is given as a count', () => {
    expect(() => parseThreshold('errors.throttled.rate < 2')).toThrow(ThresholdError);
    expect(() => parseThreshold('errors.throttled.rate < 2')).toThrow(/write 2% or the fraction 0\.02/);
    expect(() => parseThreshold('errors.throttled.rates < 2%')).toThrow(/did you mean "errors\.throttled\.rate"/);
  });

  it('judges the class over every attempt, so the classes add up to errors.rate', () => {
    expect(judge('errors.throttled.count < 10')).toMatchObject({ passed: true, actual: 6 });
    expect(judge('errors.throttled.rate < 0.5%')).toMatchObject({
      passed: false,
      actual: 0.6,
      detail: 'errors.throttled.rate was 0.6% (6 throttled errors / 1000 attempts), 0.1 points over 0.5%',
    });
    expect(judge('errors.network.rate < 0.5%')).toMatchObject({ passed: true, actual: 0.4 });
    expect(judge('errors.rate < 1%')).toMatchObject({ passed: false, actual: 1 });
  });

  it('reads 0% when nothing was throttled and a run made attempts', () => {
    const calm = evaluateThresholds([parseThreshold('errors.throttled.rate == 0')], {
      operations: { telemetry: { count: 10 } },
    });
    expect(calm[0]).toMatchObject({ passed: true, actual: 0 });
  });
});
