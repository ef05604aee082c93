// The report folder of a run (reports/<run-id>/: summary.json, .hgrm, timeseries.csv, aggregate.json, report.html,
// junit.xml when there are thresholds), reports/latest, and the console text. Thresholds are judged here, on the
// final summary; the verdict is the run's exit code.
import { join, resolve } from 'node:path';
import type { Threshold } from '../config/thresholds.js';
import { formatConsoleReport } from '../report/console.js';
import { renderRunFolder } from '../report/render.js';
import { thresholdJudge, type Rejudged } from '../report/rejudge.js';
import type { RunMeta, RunSummary } from '../report/summary.js';
import { formatThresholdResults } from '../report/thresholds.js';
import { updateLatest } from '../report/write.js';
import type { Output, RunFinal, RunStart } from './output.js';

export interface RunReport {
  summary: RunSummary;
  reportDir: string;
  /** The end-of-run text for the terminal (no colour). */
  console: string;
  /** False when a threshold failed (or aborted the run). */
  thresholdsHeld: boolean;
  /** Why the figures miss part of the fleet (a worker crashed); absent for a whole run. */
  incomplete?: string;
}

export interface ReportOutput extends Output {
  /** The report, once finish has written it. */
  readonly report: RunReport | undefined;
}

export function reportOutput(options: { reportsDir: string; thresholds: readonly Threshold[] }): ReportOutput {
  let run: RunStart | undefined;
  let report: RunReport | undefined;
  return {
    name: 'report',
    get report() {
      return report;
    },
    start(started) {
      run = started;
    },
    async finish(final) {
      if (run === undefined) return;
      report = await writeReport(run, final, resolve(options.reportsDir), options.thresholds);
    },
  };
}

async function writeReport(
  run: RunStart,
  final: RunFinal,
  reportsDir: string,
  thresholds: readonly Threshold[],
): Promise<RunReport> {
  const meta: RunMeta & { runId: string } = {
    runId: run.runId,
    scenario: run.scenario,
    profile: run.profile,
    target: run.target,
    seed: run.seed,
    ...(run.shard === undefined ? {} : { shard: { index: run.shard.index, count: run.shard.count } }),
    ...(final.reconciliation === undefined ? {} : { reconciliation: final.reconciliation }),
  };
  let judged: Rejudged | undefined;
  const stored = thresholds.map((t) => ({ text: t.text, abortOnFail: t.abortOnFail }));
  const reportDir = join(reportsDir, run.runId);
  const extra = {
    ...(final.incomplete === undefined ? {} : { incomplete: { reason: final.incomplete } }),
    ...(final.events === undefined ? {} : { events: final.events }),
    ...(final.limits === undefined ? {} : { limits: final.limits }),
    ...(final.verdict === undefined ? {} : { verdict: final.verdict }),
  };
  const { summary } = await untilDescriptorsFree(() =>
    renderRunFolder(reportDir, final.aggregate, meta, {
      ...(thresholds.length === 0 ? {} : { judge: thresholdJudge(stored, undefined, (j) => (judged = j)) }),
      extra,
      generator: 'edgefleet run',
    }),
  );
  await updateLatest(reportDir);
  const results = judged?.results ?? [];
  const verdict = results.length === 0 ? '' : `\nthresholds\n${formatThresholdResults(results)}`;
  return {
    summary,
    reportDir,
    console: formatConsoleReport(summary, { color: false }) + verdict,
    thresholdsHeld: results.every((r) => r.passed) && (judged?.unreadable.length ?? 0) === 0,
    ...(final.incomplete === undefined ? {} : { incomplete: final.incomplete }),
  };
}

const OUT_OF_DESCRIPTORS = new Set(['EMFILE', 'ENFILE']);

/**
 * The report is written after the fleet has closed its connections, yet a process at its limit of open files may
 * take a moment to get them back: the measured run is not thrown away for that, it is written a moment later.
 */
async function untilDescriptorsFree<T>(write: () => Promise<T>, attempts = 20, waitMs = 250): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (attempt >= attempts || code === undefined || !OUT_OF_DESCRIPTORS.has(code)) throw err;
      await new Promise((r) => setTimeout(r, waitMs));
    }
  }
}
