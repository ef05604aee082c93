// .hgrm files: HdrHistogram's percentile-distribution text, loadable by the HdrHistogram plotter.
import type { Histogram } from 'hdr-histogram-js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MetricsAggregate } from '../metrics/aggregate.js';
import { US_PER_MS } from '../metrics/histogram.js';
import { OPERATIONS, type Operation } from '../metrics/operations.js';

/** Reporting ticks per half-distance, as HdrHistogram's own tools default to. */
export const HGRM_TICKS_PER_HALF = 5;

/** Recorded µs, written in ms via the output value unit scaling ratio. */
export function formatHgrm(h: Histogram): string {
  return h.outputPercentileDistribution(HGRM_TICKS_PER_HALF, US_PER_MS);
}

export const hgrmFileName = (op: Operation, kind: 'corrected' | 'raw'): string =>
  kind === 'corrected' ? `${op}.hgrm` : `${op}.raw.hgrm`;

/**
 * Writes `<op>.hgrm` (corrected) and `<op>.raw.hgrm` for every operation that has samples;
 * an operation that never ran gets no file (an empty distribution plots as nothing). Returns the paths.
 */
export async function writeHgrmFiles(dir: string, aggregate: MetricsAggregate): Promise<string[]> {
  const paths: string[] = [];
  for (const op of OPERATIONS) {
    for (const kind of ['corrected', 'raw'] as const) {
      const h = aggregate.histogram(op, kind);
      if (!h || h.totalCount === 0) continue;
      const path = join(dir, hgrmFileName(op, kind));
      await writeFile(path, formatHgrm(h));
      paths.push(path);
    }
  }
  return paths;
}
