import { describe, expect, it } from 'vitest';
import { MetricsAggregate } from '../../src/metrics/aggregate.js';
import { MetricsRecorder } from '../../src/metrics/recorder.js';
import { formatHgrm } from '../../src/report/hgrm.js';
import { expectWithinHdr } from '../metrics/helpers.js';
import { knownAggregate, T0 } from './fixture.js';

interface HgrmRow {
  value: number;
  percentile: number;
  totalCount: number;
  inverse: number | null;
}
interface Hgrm {
  rows: HgrmRow[];
  mean: number;
  stdDeviation: number;
  max: number;
  totalCount: number;
}

/** What HdrHistogram's plotter reads: a header, rows of 4 columns (3 on the last), then #[…] footer lines. */
function parseHgrm(text: string): Hgrm {
  const lines = text.split('\n');
  expect(lines[0]!.trim().split(/\s+/)).toEqual(['Value', 'Percentile', 'TotalCount', '1/(1-Percentile)']);
  const rows: HgrmRow[] = [];
  const footer: Record<string, number> = {};
  for (const line of lines.slice(1)) {
    const t = line.trim();
    if (t === '') continue;
    if (t.startsWith('#[')) {
      for (const m of t.matchAll(/([A-Za-z][A-Za-z ]*?)\s*=\s*([-\d.]+)/g)) footer[m[1]!.trim()] = Number(m[2]);
      continue;
    }
    const cols = t.split(/\s+/).map(Number);
    expect(cols.length === 4 || cols.length === 3).toBe(true);
    expect(cols.every((n) => Number.isFinite(n))).toBe(true);
    rows.push({ value: cols[0]!, percentile: cols[1]!, totalCount: cols[2]!, inverse: cols[3] ?? null });
  }
  return {
    rows,
    mean: footer['Mean']!,
    stdDeviation: footer['StdDeviation']!,
    max: footer['Max']!,
    totalCount: footer['Total count']!,
  };
}

describe('.hgrm output', () => {
  it('parses back, in milliseconds, with the right 50th percentile row', () => {
    const agg = knownAggregate();
    const corrected = parseHgrm(formatHgrm(agg.histogram('telemetry', 'corrected')!));
    const raw = parseHgrm(formatHgrm(agg.histogram('telemetry', 'raw')!));

    for (const h of [corrected, raw]) {
      expect(h.totalCount).toBe(100);
      expect(h.rows.at(-1)!.percentile).toBe(1);
      expect(h.rows.at(-1)!.inverse).toBeNull();
      expect(h.rows.at(-1)!.totalCount).toBe(100);
      for (let i = 1; i < h.rows.length; i++) {
        expect(h.rows[i]!.percentile).toBeGreaterThanOrEqual(h.rows[i - 1]!.percentile);
        expect(h.rows[i]!.value).toBeGreaterThanOrEqual(h.rows[i - 1]!.value);
      }
    }
    // raw latencies are 1..100 ms, corrected 11..110 ms
    const p50 = (h: Hgrm) => h.rows.find((r) => r.percentile === 0.5)!;
    expectWithinHdr(p50(raw).value, 50);
    expect(p50(raw).totalCount).toBe(50);
    expectWithinHdr(p50(corrected).value, 60);
    expectWithinHdr(raw.max, 100);
    expectWithinHdr(corrected.max, 110);
    expectWithinHdr(raw.mean, 50.5);
    expectWithinHdr(corrected.mean, 60.5);
  });

  it('keeps microsecond resolution for sub-millisecond latencies', () => {
    const agg = new MetricsAggregate();
    const r = new MetricsRecorder(T0);
    for (let i = 0; i < 10; i++) r.recordLatency('twinGet', 0, 0, 0.25);
    agg.add(0, r.snapshot(T0 + 1000));
    const h = parseHgrm(formatHgrm(agg.histogram('twinGet')!));
    expect(h.rows[0]!.value).toBe(0.25);
    expect(h.max).toBe(0.25);
  });
});
