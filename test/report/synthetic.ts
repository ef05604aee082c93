// A run-shaped aggregate for the report tests: seconds of snapshots from a few workers, a ramp of connected
// identities, a stall where corrected latency grows and raw does not, and errors in some seconds.
import { MetricsAggregate } from '../../src/metrics/aggregate.js';
import { MetricsRecorder } from '../../src/metrics/recorder.js';
import { lcg } from '../metrics/helpers.js';

export const SYN_T0 = Date.UTC(2026, 10, 26, 21, 0, 0);

export interface SyntheticOptions {
  seed?: number;
  seconds?: number;
  workers?: number;
  /** Telemetry messages per worker per second. */
  rate?: number;
  t0?: number;
  shard?: string;
}

export function syntheticAggregate(options: SyntheticOptions = {}): MetricsAggregate {
  const { seed = 1, seconds = 30, workers = 2, rate = 50, t0 = SYN_T0 } = options;
  const random = lcg(seed);
  const agg = new MetricsAggregate(options.shard === undefined ? {} : { shard: options.shard });
  const recs = Array.from({ length: workers }, () => new MetricsRecorder(t0));
  for (let s = 0; s < seconds; s++) {
    recs.forEach((w, wi) => {
      const base = t0 + s * 1000;
      if (s < 3) {
        // Identities arrive over the first seconds: provision and connect.
        for (let i = 0; i < 5; i++) {
          const at = base + i * 100;
          w.recordLatency('provision', at, at, at + 80 + random() * 400);
          w.recordLatency('connect', at, at + 5, at + 20 + random() * 60);
        }
        w.setGauge('connected', (s + 1) * 5);
      }
      // Seconds 10-12: the generator stalls 300 ms, so sends start late (corrected grows, raw does not).
      const stall = s >= 10 && s < 13 ? 300 : 0;
      for (let i = 0; i < rate; i++) {
        const intended = base + (i * 1000) / rate;
        const started = intended + stall * random();
        const service = 2 + -Math.log(1 - random()) * 8; // exponential, mean ~10 ms
        w.recordLatency('telemetry', intended, started, started + service);
        w.ledger.generated++;
        if (random() < 0.01) w.ledger.failed++;
        else w.ledger.acknowledged++;
      }
      if (s % 7 === 3) w.recordLatency('twinGet', base, base, base + 30 + random() * 20);
      if (s >= 20 && s < 23)
        w.recordError('throttled', `HTTP 429 Too Many Requests (worker ${wi}, second ${s})`, 'telemetry');
      if (s === 5) w.recordError('network', 'ECONNRESET', 'connect');
      w.recordLateness(random() * 2 + (stall ? 250 : 0));
      agg.add(wi, w.snapshot(base + 1000));
    });
  }
  agg.flush();
  return agg;
}
