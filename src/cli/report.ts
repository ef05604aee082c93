// `edgefleet report DIR` re-renders a run folder; `edgefleet report merge DIR… --out DIR` merges shards.
import type { Argv, CommandModule } from 'yargs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { displayPath } from '../config/errors.js';
import { mergeRuns } from '../report/merge.js';
import { AGGREGATE_FILE, AGGREGATE_SINCE_VERSION, readRun, resolveRunDir, runError } from '../report/read.js';
import {
  parseThresholdOptions,
  storedThresholds,
  thresholdJudge,
  unionThresholds,
  type Rejudged,
} from '../report/rejudge.js';
import { extraSummaryFields, renderHtmlFromFiles, renderRunFolder } from '../report/render.js';
import { buildSummary } from '../report/summary.js';
import { formatThresholdResults } from '../report/thresholds.js';

interface RenderArgs {
  dir: string;
  threshold: string[];
}

interface MergeArgs {
  dirs: string[];
  out: string;
  'run-id'?: string;
  force: boolean;
  threshold: string[];
}

/** As `edgefleet run` does: any failed threshold makes the exit code 99. */
export const THRESHOLDS_FAILED_EXIT_CODE = 99;

function reportThresholds(judged: Rejudged | undefined): void {
  if (!judged || judged.results.length + judged.unreadable.length === 0) return;
  process.stdout.write(`${formatThresholdResults(judged.results)}\n`);
  for (const u of judged.unreadable) process.stdout.write(`  ✗ cannot judge ${u}\n`);
  if (judged.unreadable.length > 0 || judged.results.some((r) => !r.passed))
    process.exitCode = THRESHOLDS_FAILED_EXIT_CODE;
}

const thresholdOption = {
  type: 'string',
  array: true,
  default: [] as string[],
  describe: 'Also judge this threshold, e.g. "telemetry.p99 < 200ms" (repeatable); failures exit with 99',
} as const;

const renderCommand: CommandModule<object, RenderArgs> = {
  command: '$0 <dir>',
  describe:
    'Re-render report.html, summary.json, .hgrm, timeseries.csv (and junit.xml when checks are stored) from a run folder',
  builder: (y) =>
    y
      .positional('dir', { type: 'string', demandOption: true, describe: 'A run folder, e.g. reports/latest' })
      .option('threshold', thresholdOption),
  handler: async (args) => {
    const extraThresholds = parseThresholdOptions(args.threshold);
    const dir = await resolveRunDir(args.dir);
    const hasAggregate = await access(join(dir, AGGREGATE_FILE)).then(
      () => true,
      () => false,
    );
    if (!hasAggregate) {
      if (extraThresholds.length > 0)
        throw runError(
          displayPath(dir),
          `no ${AGGREGATE_FILE} (runs made before edgefleet ${AGGREGATE_SINCE_VERSION}), so thresholds cannot be judged again; without --threshold, report.html is redrawn from the .hgrm files`,
        );
      // An older folder: its .hgrm files and timeseries.csv still draw the charts; nothing else can be rebuilt.
      const path = await renderHtmlFromFiles(dir);
      process.stdout.write(
        `${displayPath(path)} (from summary.json, .hgrm and timeseries.csv: this run has no ${AGGREGATE_FILE}, so only report.html was rewritten)\n`,
      );
      return;
    }
    const run = await readRun(dir);
    const extra = extraSummaryFields(run.summary, buildSummary(run.aggregate, run.meta));
    const thresholds = unionThresholds(storedThresholds([run.summary]), extraThresholds);
    let judged: Rejudged | undefined;
    const result = await renderRunFolder(run.dir, run.aggregate, run.meta, {
      extra,
      ...(run.checks ? { checks: run.checks } : {}),
      ...(thresholds.length > 0 ? { judge: thresholdJudge(thresholds, run.checks, (j) => (judged = j)) } : {}),
    });
    process.stdout.write(
      `re-rendered ${displayPath(result.dir)}: ${result.files.map((f) => f.slice(result.dir.length + 1)).join(', ')}\n`,
    );
    reportThresholds(judged);
  },
};

const mergeCommand: CommandModule<object, MergeArgs> = {
  command: 'merge <dirs..>',
  describe: 'Merge run folders (shards of one fleet run) into one, losslessly: histograms add, counters add',
  builder: (y) =>
    y
      .positional('dirs', {
        type: 'string',
        array: true,
        demandOption: true,
        describe: 'Run folders to merge (two or more)',
      })
      .option('out', { type: 'string', demandOption: true, describe: 'New run folder for the merged report' })
      .option('run-id', { type: 'string', describe: "Run id of the merged report (default: the --out folder's name)" })
      .option('force', {
        type: 'boolean',
        default: false,
        describe: 'Write into an --out folder that already has files',
      })
      .option('threshold', thresholdOption)
      .example(
        '$0 report merge shard1/reports/latest shard2/reports/latest --out reports/fleet-merged',
        'One report for a fleet run on two machines (--shard 1/2 and 2/2)',
      )
      .example(
        '$0 report merge a b --out m --threshold "telemetry.p99 < 200ms"',
        'Judge a threshold on the fleet as a whole',
      ),
  handler: async (args) => {
    const thresholds = parseThresholdOptions(args.threshold);
    const result = await mergeRuns(args.dirs, {
      outDir: args.out,
      force: args.force,
      thresholds,
      ...(args['run-id'] === undefined ? {} : { runId: args['run-id'] }),
    });
    for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
    const l = result.summary.ledger;
    process.stdout.write(
      `merged ${result.inputs.length} runs (${result.inputs.map((i) => i.runId).join(', ')}) into ${displayPath(result.dir)}\n` +
        `  generated ${l.generated}, acknowledged ${l.acknowledged}, failed ${l.failed}; ${l.balanced ? 'ledger balanced' : 'LEDGER UNBALANCED'}\n` +
        `  ${result.files.map((f) => f.slice(result.dir.length + 1)).join(', ')}\n`,
    );
    reportThresholds(result.thresholds);
  },
};

export const reportCommand: CommandModule<object, object> = {
  command: 'report',
  describe: "Re-render a run's report from its files, or merge the reports of shards run on several machines",
  builder: (y: Argv) =>
    y
      .command(mergeCommand)
      .command(renderCommand)
      .example('$0 report reports/latest', 'Rewrite report.html (and summary.json, .hgrm) of the newest run')
      .example(
        '$0 report merge a/reports/latest b/reports/latest --out reports/merged',
        'Merge two shards into one report',
      )
      .epilogue(
        'report.html opens in any browser without network access; summary.json and aggregate.json are for machines.',
      ),
  handler: () => {},
};
