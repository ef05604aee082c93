import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { validate } from '../../src/config/issues.js';
import { buildSummary } from '../../src/report/summary.js';
import { formatJUnit } from '../../src/report/junit.js';
import { parseThreshold, THRESHOLD_METRICS, ThresholdError, thresholdsSchema } from '../../src/config/thresholds.js';
import {
  evaluateThresholds,
  formatThresholdResults,
  thresholdsJUnitCases,
  thresholdsSummary,
  type ThresholdInput,
} from '../../src/report/thresholds.js';
import { abortingResults, evaluateLive, liveSummaryOf } from '../../src/outputs/thresholds.js';
import { knownAggregate } from './fixture.js';

const parseError = (text: string): ThresholdError => {
  try {
    parseThreshold(text);
  } catch (err) {
    expect(err).toBeInstanceOf(ThresholdError);
    return err as ThresholdError;
  }
  throw new Error(`"${text}" parsed, expected a ThresholdError`);
};

describe('parseThreshold', () => {
  it.each([
    ['telemetry.p99 < 200ms', { metric: 'telemetry.p99', op: '<', value: 200, unit: 'ms' }],
    ['connect.p95 < 1s', { metric: 'connect.p95', op: '<', value: 1000, unit: 'ms' }],
    ['connect.p95<=1.5s', { metric: 'connect.p95', op: '<=', value: 1500, unit: 'ms' }],
    ['  provision.max   >=  2m ', { metric: 'provision.max', op: '>=', value: 120_000, unit: 'ms' }],
    ['telemetry.raw.p99 < 250', { metric: 'telemetry.raw.p99', op: '<', value: 250, unit: 'ms' }],
    ['telemetry.p999 < 0.5s', { metric: 'telemetry.p999', op: '<', value: 500, unit: 'ms' }],
    ['errors.rate < 1%', { metric: 'errors.rate', op: '<', value: 1, unit: '%' }],
    ['errors.rate < 0.01', { metric: 'errors.rate', op: '<', value: 1, unit: '%' }],
    ['errors.rate <= 0.5%', { metric: 'errors.rate', op: '<=', value: 0.5, unit: '%' }],
    ['ledger.lost == 0', { metric: 'ledger.lost', op: '==', value: 0, unit: '' }],
    ['ledger.acknowledged > 100', { metric: 'ledger.acknowledged', op: '>', value: 100, unit: '' }],
    ['errors.auth.count != 3', { metric: 'errors.auth.count', op: '!=', value: 3, unit: '' }],
    ['errors.count < 10', { metric: 'errors.count', op: '<', value: 10, unit: '' }],
    ['telemetry.count > 1000', { metric: 'telemetry.count', op: '>', value: 1000, unit: '' }],
    ['scheduler.lateness.p99 < 50ms', { metric: 'scheduler.lateness.p99', op: '<', value: 50, unit: 'ms' }],
    [
      'reconciliation.acknowledgedNotReceived == 0',
      { metric: 'reconciliation.acknowledgedNotReceived', op: '==', value: 0, unit: '' },
    ],
  ] as const)('%s', (text, expected) => {
    expect(parseThreshold(text)).toEqual({ ...expected, text: text.trim(), abortOnFail: false });
  });

  it('carries abortOnFail', () => {
    expect(parseThreshold('connect.p95 < 1s', { abortOnFail: true }).abortOnFail).toBe(true);
  });

  it('accepts every metric it lists', () => {
    for (const metric of THRESHOLD_METRICS) {
      const value = metric.endsWith('.rate') ? '1%' : '1';
      expect(() => parseThreshold(`${metric} < ${value}`), metric).not.toThrow();
    }
    expect(THRESHOLD_METRICS).toContain('telemetry.raw.p99');
    expect(THRESHOLD_METRICS).toContain('ledger.lost');
  });

  it.each([
    ['telemtry.p99 < 200ms', /unknown metric "telemtry\.p99" \(did you mean "telemetry\.p99"\?\)/],
    ['latency.p99 < 200ms', /did you mean "telemetry\.p99"\?/],
    ['Telemetry.P99 < 200ms', /did you mean "telemetry\.p99"\?/],
    ['connect.avg < 1s', /did you mean "connect\.mean"\?/],
    ['error_rate < 1%', /did you mean "errors\.rate"\?/],
    ['telemetry < 1s', /did you mean "telemetry\.p99"\?/],
    ['errors.auth < 1', /did you mean "errors\.auth\.count"\?/],
    ['telemetry.raw < 1', /did you mean "telemetry\.raw\.p99"\?/],
    ['scheduler.p99 < 1', /did you mean "scheduler\.lateness\.p99"\?/],
    ['ledger.lsot == 0', /did you mean "ledger\.lost"\?/],
    ['telemetry.p(99) < 200ms', /written p99, not p\(99\) \(did you mean "telemetry\.p99"\?\)/],
    ['telemetry.p(99.9) < 200ms', /did you mean "telemetry\.p999"\?/],
    ['telemetry.p99 = 200ms', /unknown operator "=" \(did you mean "=="\?\)/],
    ['telemetry.p99 => 200ms', /did you mean ">="\?/],
    ['telemetry.p99 200ms', /no comparison operator/],
    ['< 200ms', /no metric before the operator/],
    ['telemetry.p99 <', /no value after the operator/],
    ['telemetry.p99 < 5%', /is a percentage.*telemetry\.p99 is a latency/],
    ['telemetry.p99 < fast', /cannot read the value "fast"/],
    ['telemetry.p99 < -5ms', /cannot be negative/],
    ['errors.rate < 5', /ambiguous for a rate \(write 5% or the fraction 0\.05\)/],
    ['errors.rate < 200%', /more than 100%/],
    ['errors.rate < 1s', /is a duration/],
    ['ledger.lost == 0.5', /not a whole number.*is a count/],
    ['ledger.lost == 1ms', /has a unit/],
    ['', /it is empty/],
  ])('refuses %j', (text, message) => {
    const err = parseError(text);
    expect(err.message).toMatch(message);
    expect(err.message).toContain(JSON.stringify(text));
    expect(err.text).toBe(text);
  });

  it('lists the metric forms when the metric is unknown, and the grammar when the syntax is wrong', () => {
    const metric = parseError('http_req_duration < 200');
    expect(metric.message).toContain('<operation>.<stat>');
    expect(metric.message).toContain('provision, connect, telemetry');
    expect(metric.message).toContain('errors.rate');
    expect(metric.message).toContain('ledger.<field> (lost,');
    expect(parseError('telemetry.p99 ~ 2').message).toContain('A threshold is "<metric> <op> <value>"');
  });
});

/** A summary-shaped input with exact numbers (HDR rounding would blur the details). */
function input(over: Partial<ThresholdInput> = {}): ThresholdInput {
  return {
    operations: {
      telemetry: {
        count: 90,
        p50: 20,
        p95: 120,
        p99: 250.3,
        p999: 400,
        max: 812.25,
        mean: 31,
        raw: { count: 90, p50: 10, p99: 90, max: 100 },
      },
      connect: { count: 5, p50: 300, p95: 900, p99: 1250, max: 1300, mean: 400, raw: { count: 5, p99: 200 } },
      command: { count: 0, p50: null, p99: null, max: null, raw: { count: 0, p99: null } },
    },
    ledger: {
      generated: 100,
      acknowledged: 90,
      failed: 2,
      expired: 1,
      dropped: 4,
      inFlight: 3,
      stored: 0,
      deliveredLate: 0,
      balanced: true,
    },
    errors: { auth: { count: 3 }, throttled: { count: 2 } },
    scheduler: { lateness: { count: 10, p50: 0.4, p99: 3, max: 7 } },
    reconciliation: null,
    ...over,
  };
}

const one = (text: string, s: ThresholdInput = input()) => evaluateThresholds([parseThreshold(text)], s)[0]!;

describe('evaluateThresholds', () => {
  it('says what the metric was and by how much it missed or held', () => {
    expect(one('telemetry.p99 < 200ms')).toMatchObject({
      passed: false,
      actual: 250.3,
      detail: 'telemetry.p99 was 250.3 ms, 50.3 ms over 200 ms',
    });
    expect(one('telemetry.p99 < 300ms')).toMatchObject({
      passed: true,
      actual: 250.3,
      detail: 'telemetry.p99 was 250.3 ms, 49.7 ms under 300 ms',
    });
    expect(one('connect.p99 < 1s')).toMatchObject({
      passed: false,
      detail: 'connect.p99 was 1250 ms, 250 ms over 1000 ms',
    });
    expect(one('telemetry.count > 1000')).toMatchObject({
      passed: false,
      actual: 90,
      detail: 'telemetry.count was 90, 910 under 1000',
    });
    expect(one('telemetry.p99 < 250.3')).toMatchObject({
      passed: false,
      detail: 'telemetry.p99 was 250.3 ms, at the limit (must be < 250.3 ms)',
    });
    expect(one('telemetry.p99 <= 250.3')).toMatchObject({
      passed: true,
      detail: 'telemetry.p99 was 250.3 ms, at the limit',
    });
    expect(one('errors.auth.count != 3')).toMatchObject({
      passed: false,
      detail: 'errors.auth.count was 3, must not be 3',
    });
  });

  it('reads corrected and raw latency from their own places', () => {
    expect(one('telemetry.raw.p99 < 200ms')).toMatchObject({ passed: true, actual: 90 });
    expect(one('connect.raw.p99 < 1s')).toMatchObject({ passed: true, actual: 200 });
    expect(one('telemetry.max < 1s')).toMatchObject({ passed: true, actual: 812.25 });
    expect(one('scheduler.lateness.p99 < 2ms')).toMatchObject({ passed: false, actual: 3 });
  });

  it('fails a metric with no data, saying so', () => {
    expect(one('command.p99 < 1s')).toMatchObject({
      passed: false,
      actual: null,
      detail: expect.stringMatching(/^command\.p99: no data \(no command operation completed\)/),
    });
    expect(one('c2d.p50 < 1s')).toMatchObject({ passed: false, actual: null });
    expect(one('telemetry.p90 < 1s')).toMatchObject({
      passed: false,
      actual: null,
      detail: expect.stringContaining('no p90'),
    });
    expect(one('reconciliation.duplicates == 0')).toMatchObject({
      passed: false,
      actual: null,
      detail: expect.stringContaining('no reconciliation'),
    });
    expect(one('errors.rate < 1%', { operations: {}, errors: {} })).toMatchObject({ passed: false, actual: null });
    // A count of nothing is data.
    expect(one('command.count == 0')).toMatchObject({ passed: true, actual: 0 });
  });

  it('errors.rate is errors over errors plus completed operations, in percent', () => {
    // 5 errors, 95 completed operations (90 telemetry + 5 connect).
    expect(one('errors.rate < 1%')).toMatchObject({
      passed: false,
      actual: 5,
      detail: 'errors.rate was 5% (5 errors / 100 attempts), 4 points over 1%',
    });
    expect(one('errors.rate < 0.06')).toMatchObject({ passed: true, actual: 5 });
    expect(one('errors.count == 5')).toMatchObject({ passed: true, actual: 5 });
    expect(one('errors.network.count == 0')).toMatchObject({ passed: true, actual: 0 });
  });

  it('ledger.lost is failed + expired, plus acknowledged-but-not-received when reconciled', () => {
    expect(one('ledger.lost == 0')).toMatchObject({
      passed: false,
      actual: 3,
      detail: 'ledger.lost was 3 (failed 2 + expired 1), 3 over 0',
    });
    const reconciled = input({ reconciliation: { acknowledgedNotReceived: 4, receivedNotAcknowledged: 0 } });
    expect(one('ledger.lost == 0', reconciled)).toMatchObject({ passed: false, actual: 7 });
    expect(one('reconciliation.acknowledgedNotReceived <= 4', reconciled)).toMatchObject({ passed: true, actual: 4 });
    expect(one('ledger.dropped == 4')).toMatchObject({ passed: true });
    expect(one('ledger.inFlight < 1')).toMatchObject({ passed: false, actual: 3 });
  });

  it('judges a real summary', () => {
    // knownAggregate: connect corrected 50 ms, raw 10 ms; telemetry corrected 11..110 ms; failed 3, expired 2;
    // 3 errors.
    const summary = buildSummary(knownAggregate(), { runId: 'run-1' });
    const results = evaluateThresholds(
      [
        'connect.raw.max < 20ms',
        'connect.max < 20ms',
        'telemetry.p99 < 1ms',
        'ledger.lost == 5',
        'errors.count == 3',
        'telemetry.count == 100',
      ].map((t) => parseThreshold(t)),
      summary,
    );
    expect(results.map((r) => r.passed)).toEqual([true, false, false, true, true, true]);
    expect(results[2]!.actual).toBe(summary.operations.telemetry.p99);
    expect(results[1]!.actual).toBe(summary.operations.connect.max);
  });
});

describe('evaluateLive', () => {
  const live = (text: string, s: ThresholdInput, minSamples?: number) =>
    evaluateLive([parseThreshold(text, { abortOnFail: true })], s, minSamples === undefined ? {} : { minSamples })[0]!;

  it('leaves what is not decided yet pending, and passing', () => {
    expect(live('command.p99 < 1s', input())).toMatchObject({ passed: true, pending: true, actual: null });
    expect(live('telemetry.count > 1000', input())).toMatchObject({ passed: true, pending: true });
    expect(live('reconciliation.acknowledgedNotReceived == 0', input())).toMatchObject({ passed: true, pending: true });
    // 90 samples < 100.
    expect(live('telemetry.p99 < 200ms', input(), 100)).toMatchObject({ passed: true, pending: true });
  });

  it('fails what cannot recover, and percentiles with enough samples', () => {
    expect(live('errors.count < 5', input())).toMatchObject({ passed: false, actual: 5 });
    expect(live('ledger.lost == 0', input())).toMatchObject({ passed: false });
    expect(live('telemetry.max < 500ms', input())).toMatchObject({ passed: false });
    expect(live('telemetry.p99 < 200ms', input(), 50)).toMatchObject({ passed: false, actual: 250.3 });
    expect(live('telemetry.p99 < 200ms', input(), 50).pending).toBeUndefined();
    // Already over a lower bound, and counts only grow: decided.
    expect(live('telemetry.count > 10', input()).pending).toBeUndefined();
  });

  it('abortingResults keeps only failed abort-on-fail thresholds', () => {
    const results = evaluateLive(
      [
        parseThreshold('errors.count < 5', { abortOnFail: true }),
        parseThreshold('ledger.lost == 0'),
        parseThreshold('command.p99 < 1s', { abortOnFail: true }),
      ],
      input(),
    );
    expect(abortingResults(results).map((r) => r.threshold.text)).toEqual(['errors.count < 5']);
  });

  it('liveSummaryOf reads the same numbers as the end-of-run summary', () => {
    const agg = knownAggregate();
    const thresholds = [
      'connect.raw.max < 20ms',
      'connect.max < 20ms',
      'telemetry.p99 < 1ms',
      'errors.rate < 1%',
      'ledger.lost == 5',
    ].map((t) => parseThreshold(t));
    const fromLive = evaluateThresholds(thresholds, liveSummaryOf(agg));
    const fromSummary = evaluateThresholds(thresholds, buildSummary(agg, { runId: 'r' }));
    expect(fromLive).toEqual(fromSummary);
  });
});

describe('output', () => {
  const results = evaluateThresholds(
    ['telemetry.p99 < 300ms', 'connect.p99 < 1s', 'command.p99 < 1s'].map((t) => parseThreshold(t)),
    input(),
  );

  it('console lines, ✓ and ✗ with the detail', () => {
    const text = formatThresholdResults(results);
    expect(text.split('\n')).toEqual([
      'thresholds: 2 of 3 failed',
      '  ✓ telemetry.p99 < 300ms  telemetry.p99 was 250.3 ms, 49.7 ms under 300 ms',
      '  ✗ connect.p99 < 1s       connect.p99 was 1250 ms, 250 ms over 1000 ms',
      '  ✗ command.p99 < 1s       command.p99: no data (no command operation completed)',
    ]);
    expect(formatThresholdResults([])).toBe('');
    expect(formatThresholdResults(results.slice(0, 1))).toMatch(/^thresholds: all 1 held/);
  });

  it('JUnit cases, a failure per failed threshold, readable by the JUnit writer', () => {
    const cases = thresholdsJUnitCases(results);
    expect(cases.map((c) => [c.name, c.failure?.message])).toEqual([
      ['telemetry.p99 < 300ms', undefined],
      ['connect.p99 < 1s', 'connect.p99 was 1250 ms, 250 ms over 1000 ms'],
      ['command.p99 < 1s', 'command.p99: no data (no command operation completed)'],
    ]);
    expect(cases[1]!.failure!.detail).toContain('actual: 1250 ms');
    const xml = formatJUnit([{ name: 'thresholds', cases }]);
    expect(xml).toContain('failures="2"');
    expect(xml).toContain('<failure message="connect.p99 was 1250 ms, 250 ms over 1000 ms"');
  });

  it('summary entries are plain data', () => {
    const entries = thresholdsSummary(results);
    expect(JSON.parse(JSON.stringify(entries))).toEqual(entries);
    expect(entries[1]).toMatchObject({
      threshold: 'connect.p99 < 1s',
      metric: 'connect.p99',
      actual: 1250,
      passed: false,
      unit: 'ms',
      value: 1000,
    });
  });
});

describe('thresholdsSchema', () => {
  const scenario = z.object({ thresholds: thresholdsSchema });
  const source = { shown: 'scenarios/s.yaml', locate: () => undefined };

  it('parses strings and { threshold, abortOnFail } entries into thresholds', () => {
    const r = validate(scenario, source, {
      thresholds: ['telemetry.p99 < 200ms', { threshold: 'connect.p95 < 1s', abortOnFail: true }],
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.thresholds).toEqual([
      parseThreshold('telemetry.p99 < 200ms'),
      parseThreshold('connect.p95 < 1s', { abortOnFail: true }),
    ]);
    const none = validate(scenario, source, {});
    expect(none.ok && none.value.thresholds).toEqual([]);
  });

  it('a bad threshold is a config problem at its path', () => {
    const r = validate(scenario, source, {
      thresholds: ['telemtry.p99 < 200ms', { threshold: 'connect.p95 < 5%' }, 42],
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => [p.file, p.path])).toEqual([
      ['scenarios/s.yaml', 'thresholds[0]'],
      ['scenarios/s.yaml', 'thresholds[1].threshold'],
      ['scenarios/s.yaml', 'thresholds[2]'],
    ]);
    expect(r.problems[0]!.message).toContain('did you mean "telemetry.p99"?');
    expect(r.problems[1]!.message).toContain('connect.p95 is a latency');
  });

  it('has a JSON Schema for editors', () => {
    const json = z.toJSONSchema(thresholdsSchema, { io: 'input' }) as { type: string; items: { anyOf: unknown[] } };
    expect(json.type).toBe('array');
    expect(json.items.anyOf).toHaveLength(2);
  });
});
