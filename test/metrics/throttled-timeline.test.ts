// Throttled per second on the timeline: the live interval, timeseries.csv (written and read back), and the rows of
// two shards adding up.
import { describe, expect, it } from 'vitest';
import { MetricsAggregate } from '../../src/metrics/aggregate.js';
import { MetricsRecorder } from '../../src/metrics/recorder.js';
import { parseTimeseriesCsv } from '../../src/report/read.js';
import { formatTimeseriesCsv } from '../../src/report/write.js';

const T0 = 1_790_000_000_000;

/** One worker's second: `throttled` throttled errors and `network` others. */
function second(r: MetricsRecorder, at: number, throttled: number, network: number) {
  for (let i = 0; i < throttled; i++) r.recordError('throttled', 'DPS register throttled (429)', 'provision');
  for (let i = 0; i < network; i++) r.recordError('network', 'closed', 'connect');
  return r.snapshot(at);
}

describe('throttled per second', () => {
  it('is in the closed second, next to errors', () => {
    const agg = new MetricsAggregate({ closeGraceMs: 0 });
    const r = new MetricsRecorder(T0);
    agg.add(1, second(r, T0 + 500, 3, 2));
    agg.tick(T0 + 1500);
    const iv = agg.lastInterval();
    expect(iv?.rates.errorsPerSecond).toBe(5);
    expect(iv?.rates.throttledPerSecond).toBe(3);
  });

  it('is a column of timeseries.csv that reads back', () => {
    const agg = new MetricsAggregate({ closeGraceMs: 0 });
    const r = new MetricsRecorder(T0);
    agg.add(1, second(r, T0 + 500, 4, 1));
    agg.tick(T0 + 1500);
    agg.add(1, second(r, T0 + 1500, 0, 2));
    agg.flush();
    const csv = formatTimeseriesCsv(agg.timeseries);
    const [header, ...lines] = csv.trim().split('\n');
    const col = header!.split(',').indexOf('throttled_per_s');
    expect(col).toBeGreaterThan(header!.split(',').indexOf('errors_per_s'));
    expect(lines.map((l) => l.split(',')[col])).toEqual(['4', '0']);
    expect(parseTimeseriesCsv(csv).map((row) => [row.errors, row.throttled])).toEqual([
      [5, 4],
      [2, 0],
    ]);
  });

  it('adds up over shards and reads as 0 from a folder written before the column', () => {
    const a = new MetricsAggregate({ shard: 'a', closeGraceMs: 0 });
    const b = new MetricsAggregate({ shard: 'b', closeGraceMs: 0 });
    a.add(1, second(new MetricsRecorder(T0), T0 + 500, 2, 0));
    b.add(1, second(new MetricsRecorder(T0), T0 + 500, 5, 0));
    a.flush();
    b.flush();
    a.merge(b.toState());
    expect(a.timeseries.map((row) => row.throttled)).toEqual([7]);
    const old =
      'time,epoch_ms,seconds,generated_per_s,acknowledged_per_s,failed_per_s,errors_per_s,connected\nx,1,1,0,0,0,3,0\n';
    expect(parseTimeseriesCsv(old)[0]).toMatchObject({ errors: 3 });
    expect(parseTimeseriesCsv(old)[0]?.throttled).toBeUndefined();
  });
});
