// A small aggregate with known numbers, shared by the report tests.
import { MetricsAggregate } from '../../src/metrics/aggregate.js';
import { MetricsRecorder } from '../../src/metrics/recorder.js';

export const T0 = Date.UTC(2026, 10, 26, 21, 40, 5);

/**
 * telemetry: 100 samples; raw latency i ms (1..100), each started 10 ms after its intended time,
 * so corrected is i + 10 ms. connect: one sample, intended 0, started 40, ended 50 (corrected 50, raw 10).
 */
export function knownAggregate(): MetricsAggregate {
  const agg = new MetricsAggregate();
  const w0 = new MetricsRecorder(T0);
  const w1 = new MetricsRecorder(T0);
  for (let i = 1; i <= 100; i++) {
    const w = i % 2 === 0 ? w0 : w1;
    const intended = 1000 * i;
    w.recordLatency('telemetry', intended, intended + 10, intended + 10 + i);
  }
  w0.recordLatency('connect', 0, 40, 50);
  w0.ledger.generated = 100;
  w0.ledger.acknowledged = 90;
  w0.ledger.failed = 3;
  w0.ledger.expired = 2;
  w0.ledger.dropped = 1;
  w0.ledger.stored = 5;
  w0.ledger.deliveredLate = 4;
  w0.recordError('throttled', 'first 429', 'telemetry');
  w0.recordError('throttled', 'HTTP 429 Too Many Requests', 'telemetry');
  w1.recordError('auth', 'CONNACK 5 not authorized', 'connect');
  w0.setGauge('connected', 7);
  w1.setGauge('connected', 3);
  for (let i = 0; i < 10; i++) w1.recordLateness(i * 0.5);
  agg.add(0, w0.snapshot(T0 + 1000));
  agg.add(1, w1.snapshot(T0 + 1500));
  w0.ledger.generated += 10;
  w0.ledger.acknowledged += 10;
  agg.add(0, w0.snapshot(T0 + 2000));
  return agg;
}
