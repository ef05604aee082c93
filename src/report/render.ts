// Renders every file of a run folder from an aggregate and the run's metadata: what `edgefleet report` and
// `edgefleet report merge` write. Reports/latest is left alone (a re-render is not a new run).
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { MetricsAggregate } from '../metrics/aggregate.js';
import { OPERATIONS } from '../metrics/operations.js';
import { writeHgrmFiles } from './hgrm.js';
import { curveFromHgrm, writeHtmlReport, type ChartData } from './html.js';
import { writeJUnit, type JUnitSuite } from './junit.js';
import {
  CHECKS_FILE,
  parseTimeseriesCsv,
  readHgrmTexts,
  readSummary,
  runError,
  writeAggregateState,
  writeAtomic,
  SUMMARY_FILE,
} from './read.js';
import { buildSummary, type RunMeta, type RunSummary } from './summary.js';
import { withVerdict } from './verdict.js';
import { formatTimeseriesCsv } from './write.js';
import { displayPath } from '../config/errors.js';

export interface RenderOptions {
  /** Threshold and smoke-check results for junit.xml and report.html. */
  checks?: readonly JUnitSuite[];
  /**
   * Called with the new summary before anything is written, to judge thresholds on it: its checks replace
   * `checks`, its extra fields join the summary.
   */
  judge?: (summary: RunSummary) => { checks?: readonly JUnitSuite[]; extra?: Record<string, unknown> };
  /** Top-level summary fields buildSummary does not produce (e.g. thresholds results, mergedFrom), kept as given. */
  extra?: Record<string, unknown>;
  /** Footer of report.html. */
  generator?: string;
}

export interface RenderResult {
  dir: string;
  summary: RunSummary;
  files: string[];
}

/**
 * summary.json, .hgrm, timeseries.csv, aggregate.json, report.html, and junit.xml + checks.json when there are
 * checks.
 */
export async function renderRunFolder(
  dir: string,
  aggregate: MetricsAggregate,
  meta: RunMeta & { runId: string },
  options: RenderOptions = {},
): Promise<RenderResult> {
  const runDir = resolve(dir);
  await mkdir(runDir, { recursive: true });
  aggregate.flush();
  const built = buildSummary(aggregate, meta);
  // Extra fields go after the built ones and never replace them: the numbers come from the aggregate.
  const summary = { ...built } as RunSummary & Record<string, unknown>;
  for (const [k, v] of Object.entries(options.extra ?? {})) if (!(k in built)) summary[k] = v;
  const judged = options.judge?.(summary);
  for (const [k, v] of Object.entries(judged?.extra ?? {})) if (!(k in built)) summary[k] = v;
  const checks = withVerdict(judged?.checks ?? options.checks, summary.verdict);

  const files: string[] = [];
  const summaryPath = join(runDir, SUMMARY_FILE);
  await writeAtomic(summaryPath, JSON.stringify(summary, null, 2) + '\n');
  files.push(summaryPath);
  files.push(...(await writeHgrmFiles(runDir, aggregate)));
  const csvPath = join(runDir, 'timeseries.csv');
  await writeAtomic(csvPath, formatTimeseriesCsv(aggregate.timeseries, summary.events ?? []));
  files.push(csvPath);
  files.push(await writeAggregateState(runDir, aggregate));

  if (checks && checks.length > 0) {
    files.push(await writeJUnit(runDir, checks, { timestamp: new Date(summary.startedAt) }));
    files.push(join(runDir, CHECKS_FILE));
  }
  files.push(
    await writeHtmlReport(runDir, summary, aggregate, {
      ...(checks ? { checks } : {}),
      ...(options.generator ? { generator: options.generator } : {}),
    }),
  );
  return { dir: runDir, summary, files };
}

/** Top-level fields of a stored summary that buildSummary does not produce, to carry over on a re-render. */
export function extraSummaryFields(summary: RunSummary | undefined, built: RunSummary): Record<string, unknown> {
  if (!summary) return {};
  return Object.fromEntries(Object.entries(summary).filter(([k]) => !(k in built)));
}

/**
 * report.html for a folder written before aggregate.json existed: the summary for text, the .hgrm files for
 * the curves, timeseries.csv for the rates. Nothing else is rewritten (the .hgrm files are the only histograms).
 */
export async function renderHtmlFromFiles(
  dirArg: string,
  options: { generator?: string; checks?: readonly JUnitSuite[] } = {},
): Promise<string> {
  const dir = resolve(dirArg);
  const summary = await readSummary(dir);
  if (!summary) throw runError(displayPath(dir), 'not an edgefleet run folder (no aggregate.json nor summary.json)');
  const texts = await readHgrmTexts(dir);
  const ops: ChartData['ops'] = [];
  for (const op of OPERATIONS) {
    const t = texts[op];
    if (!t?.corrected) continue;
    ops.push({
      op,
      count: summary.operations?.[op]?.count ?? 0,
      corrected: curveFromHgrm(t.corrected),
      raw: t.raw ? curveFromHgrm(t.raw) : [],
    });
  }
  let csv = '';
  try {
    csv = await readFile(join(dir, 'timeseries.csv'), 'utf8');
  } catch {
    // No timeseries: the time charts say "no data".
  }
  return writeHtmlReport(dir, summary, { ops, timeseries: parseTimeseriesCsv(csv) }, options);
}
