// Merges run folders (shards of one fleet run on several machines) into one: histograms add, counters add,
// timeseries rows of the same second add. Lossless because each folder keeps its full aggregate.
import { readdir, realpath } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { displayPath } from '../config/errors.js';
import { MetricsAggregate } from '../metrics/aggregate.js';
import { readRun, runError, type RunFolder } from './read.js';
import { storedThresholds, thresholdJudge, unionThresholds, type Rejudged, type StoredThreshold } from './rejudge.js';
import { renderRunFolder, type RenderResult } from './render.js';
import type { SaturationVerdict } from '../metrics/types.js';
import type { Reconciliation, RunMeta, RunSummary, ShardInfo } from './summary.js';

export interface MergeOptions {
  outDir: string;
  /** Default: the --out folder's name. */
  runId?: string;
  /** Write into an --out folder that already has files. */
  force?: boolean;
  /** Thresholds to judge besides those the runs were judged by (their union), e.g. from --threshold. */
  thresholds?: readonly StoredThreshold[];
  generator?: string;
}

export interface MergeResult extends RenderResult {
  inputs: { dir: string; runId: string; shard: ShardInfo | string | null }[];
  /** Things a person should know, e.g. a missing shard; the merge still happened. */
  warnings: string[];
  /** The thresholds judged on the merged numbers (each shard's own verdicts do not add up); undefined when none. */
  thresholds: Rejudged | undefined;
}

/** Reads the run folders; refuses fewer than two, one given twice, and an --out that is one of them or not empty. */
async function readInputs(dirs: readonly string[], options: MergeOptions, outDir: string): Promise<RunFolder[]> {
  if (dirs.length < 2) {
    throw runError(
      dirs[0] ?? '(none)',
      'merge needs two run folders or more; to re-render one, run "edgefleet report DIR"',
    );
  }
  const runs: RunFolder[] = [];
  const seen = new Map<string, string>();
  for (const d of dirs) {
    const run = await readRun(d);
    const real = await realpath(run.dir);
    const before = seen.get(real);
    if (before !== undefined) throw runError(d, `given twice (also as ${before}); it would be counted twice`);
    seen.set(real, d);
    runs.push(run);
  }
  if (seen.has(await realpath(outDir).catch(() => outDir))) {
    throw runError(options.outDir, '--out is one of the folders being merged; choose a new folder');
  }
  if (!options.force && (await nonEmpty(outDir))) {
    throw runError(displayPath(outDir), 'already exists and is not empty; choose a new --out folder or add --force');
  }
  return runs;
}

export async function mergeRuns(dirs: readonly string[], options: MergeOptions): Promise<MergeResult> {
  const outDir = resolve(options.outDir);
  const runs = await readInputs(dirs, options, outDir);
  const warnings = checkRuns(runs);
  const merged = new MetricsAggregate();
  for (const run of runs) merged.merge(run.state);

  const runId = options.runId ?? basename(outDir);
  const meta = mergedMeta(runs, runId, warnings);
  const verdict = mergedVerdict(runs);
  const extra = {
    mergedFrom: runs.map((r) => ({
      runId: r.runId,
      shard: r.summary?.shard ?? null,
      startedAt: r.summary?.startedAt ?? null,
    })),
    ...(verdict === undefined ? {} : { verdict }),
  };
  const thresholds = unionThresholds(storedThresholds(runs.map((r) => r.summary)), options.thresholds ?? []);
  let judged: Rejudged | undefined;
  // Smoke checks ran against each machine's own part; they do not carry over to the merged run.
  if (runs.some((r) => r.checks?.some((s) => s.cases.some((c) => c.classname !== 'edgefleet.thresholds')))) {
    warnings.push(
      "the runs' smoke checks (checks.json) are not carried into the merged report; thresholds are judged again on the merged numbers",
    );
  }
  const result = await renderRunFolder(outDir, merged, meta, {
    extra,
    ...(thresholds.length > 0 ? { judge: thresholdJudge(thresholds, undefined, (j) => (judged = j)) } : {}),
    ...(options.generator ? { generator: options.generator } : {}),
  });
  return {
    ...result,
    inputs: runs.map((r) => ({ dir: r.dir, runId: r.runId, shard: r.summary?.shard ?? null })),
    warnings,
    thresholds: judged,
  };
}

/**
 * The shards' saturation verdicts as one: a merged run whose generator saturated on any machine says so, each
 * reason named with the run it came from (the figures of that shard are its generator's, and so part of the whole).
 */
function mergedVerdict(runs: readonly RunFolder[]): SaturationVerdict | undefined {
  const judged = runs.filter((r) => r.summary?.verdict !== undefined);
  const first = judged[0]?.summary?.verdict;
  if (first === undefined) return undefined;
  const saturated = judged.filter((r) => r.summary!.verdict!.generatorSaturated);
  const label = (r: RunFolder) => {
    const shard = r.summary?.shard;
    return typeof shard === 'object' && shard !== null ? `shard ${shard.index + 1}/${shard.count}` : r.runId;
  };
  return {
    generatorSaturated: saturated.length > 0,
    reasons: saturated.flatMap((r) => r.summary!.verdict!.reasons.map((reason) => `${label(r)}: ${reason}`)),
    phases: saturated.flatMap((r) => r.summary!.verdict!.phases),
    advice: saturated[0]?.summary!.verdict!.advice ?? [],
    bounds: first.bounds,
  };
}

/** Refuses what would double-count; warns about what looks like a mistake but may be meant. */
function checkRuns(runs: readonly RunFolder[]): string[] {
  const warnings: string[] = [];
  refuseSameRun(runs);
  const numbered = checkShards(runs, warnings);
  checkEchoes(runs, numbered > 0, warnings);
  checkOverlap(runs, warnings);
  return warnings;
}

function refuseSameRun(runs: readonly RunFolder[]): void {
  const byId = new Map<string, string>();
  for (const r of runs) {
    const other = byId.get(r.runId);
    if (other !== undefined) {
      throw runError(
        displayPath(r.dir),
        `is the same run as ${displayPath(other)} (run id ${r.runId}); merging would count it twice`,
      );
    }
    byId.set(r.runId, r.dir);
  }
}

/**
 * Refuses shards of different splits and a shard given twice; warns of missing shards and of runs without
 * --shard among shards. Returns how many runs were numbered shards.
 */
function checkShards(runs: readonly RunFolder[], warnings: string[]): number {
  const shards = runs.map((r) => ({ dir: r.dir, shard: r.summary?.shard }));
  const numbered = shards.filter(
    (s): s is { dir: string; shard: ShardInfo } =>
      typeof s.shard === 'object' && s.shard !== null && typeof s.shard.index === 'number',
  );
  if (numbered.length === 0) return 0;
  const counts = new Set(numbered.map((s) => s.shard.count));
  if (counts.size > 1) {
    const list = numbered.map((s) => `${s.shard.index + 1}/${s.shard.count} in ${displayPath(s.dir)}`).join(', ');
    throw runError(
      displayPath(numbered[0]!.dir),
      `shards of different splits (${list}); merge shards of one --shard i/n split`,
    );
  }
  const byIndex = new Map<number, string>();
  for (const s of numbered) {
    const other = byIndex.get(s.shard.index);
    if (other !== undefined) {
      throw runError(
        displayPath(s.dir),
        `shard ${s.shard.index + 1}/${s.shard.count} is also in ${displayPath(other)}; merging would count that part of the fleet twice`,
      );
    }
    byIndex.set(s.shard.index, s.dir);
  }
  const n = [...counts][0]!;
  const missing = [...Array(n).keys()].filter((i) => !byIndex.has(i)).map((i) => `${i + 1}/${n}`);
  if (missing.length > 0)
    warnings.push(
      `shard${missing.length > 1 ? 's' : ''} ${missing.join(', ')} missing: the merged report covers ${byIndex.size} of ${n} shards`,
    );
  if (numbered.length < runs.length)
    warnings.push('some runs were not started with --shard; check they are parts of the same fleet run');
  return numbered.length;
}

/** Warns when the runs echo different scenarios, profiles or (for shards) seeds, or have no summary. */
function checkEchoes(runs: readonly RunFolder[], sharded: boolean, warnings: string[]): void {
  const distinct = (f: (s: RunSummary) => unknown) => uniq(runs.flatMap((r) => (r.summary ? [f(r.summary)] : [])));
  if (distinct((s) => s.scenario).length > 1)
    warnings.push('the runs used different scenarios; the merged report lists them all');
  if (distinct((s) => s.profile).length > 1)
    warnings.push('the runs used different profiles; the merged report lists them all');
  if (sharded && distinct((s) => s.seed).length > 1)
    warnings.push('the runs used different seeds; shards of one fleet need the same seed, or their identities overlap');
  if (runs.some((r) => !r.summary))
    warnings.push('some runs have no summary.json: their scenario, profile and target are not echoed');
}

/** Shards run side by side; runs far apart in time are probably not one fleet run. */
function checkOverlap(runs: readonly RunFolder[], warnings: string[]): void {
  const spans = runs
    .map((r) => [r.aggregate.startMs, r.aggregate.endMs] as const)
    .filter((x): x is readonly [number, number] => x[0] !== null && x[1] !== null);
  for (let i = 1; i < spans.length; i++) {
    const [a0, a1] = spans[0]!;
    const [b0, b1] = spans[i]!;
    if (b0 > a1 || a0 > b1) {
      warnings.push('some runs do not overlap in time; their timeseries sit side by side rather than adding up');
      break;
    }
  }
}

function mergedMeta(runs: readonly RunFolder[], runId: string, warnings: string[]): RunMeta & { runId: string } {
  const summaries = runs.flatMap((r) => (r.summary ? [r.summary] : []));
  const pick = (f: (s: RunSummary) => unknown): unknown => {
    const values = uniq(summaries.map(f));
    return values.length === 0 ? undefined : values.length === 1 ? values[0] : values;
  };
  const starts = runs
    .map((r) => r.summary?.startedAt ?? r.aggregate.startMs)
    .filter((x) => x !== null && x !== undefined)
    .map((x) => new Date(x).getTime());
  const ends = runs
    .map((r) => r.summary?.endedAt ?? r.aggregate.endMs)
    .filter((x) => x !== null && x !== undefined)
    .map((x) => new Date(x).getTime());
  const meta: RunMeta & { runId: string } = { runId };
  if (starts.length > 0) meta.startedAt = Math.min(...starts);
  if (ends.length > 0) meta.endedAt = Math.max(...ends);
  const scenario = pick((s) => s.scenario);
  const profile = pick((s) => s.profile);
  const target = pick((s) => s.target);
  if (scenario !== undefined) meta.scenario = scenario;
  if (profile !== undefined) meta.profile = profile;
  if (target !== undefined) meta.target = target;
  const seeds = uniq(summaries.map((s) => s.seed)).filter((s): s is string | number => s !== null && s !== undefined);
  if (seeds.length === 1) meta.seed = seeds[0]!;
  meta.shard = `merged: ${runs.map((r) => shardLabel(r)).join(', ')}`;

  const recs = summaries.map((s) => s.reconciliation).filter((r): r is Reconciliation => !!r);
  if (recs.length > 0) {
    const sum: Reconciliation = {};
    for (const r of recs)
      for (const [k, v] of Object.entries(r))
        if (typeof v === 'number') sum[k] = ((sum[k] as number | undefined) ?? 0) + v;
    if (recs.length < runs.length)
      warnings.push(
        `only ${recs.length} of ${runs.length} runs were reconciled with the target; the merged reconciliation covers those`,
      );
    meta.reconciliation = sum;
  }
  return meta;
}

function shardLabel(r: RunFolder): string {
  const s = r.summary?.shard;
  if (s && typeof s === 'object') return `${s.index + 1}/${s.count}`;
  if (typeof s === 'string') return s;
  return r.runId;
}

function uniq(values: readonly unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const v of values) if (!out.some((o) => isDeepStrictEqual(o, v))) out.push(v);
  return out;
}

async function nonEmpty(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length > 0;
  } catch {
    return false;
  }
}
