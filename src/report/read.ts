// A run folder's files back into memory: aggregate.json (the full, lossless aggregate), summary.json (the
// redacted echo of scenario, profile, target) and checks.json; so a run can be re-rendered or merged offline.
import { randomBytes } from 'node:crypto';
import { readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError, displayPath } from '../config/errors.js';
import { MetricsAggregate, type AggregateState, type TimeseriesRow } from '../metrics/aggregate.js';
import { OPERATIONS, type Operation } from '../metrics/operations.js';
import { hgrmFileName } from './hgrm.js';
import type { JUnitSuite } from './checks.js';
import { SUMMARY_SCHEMA, type RunMeta, type RunSummary } from './summary.js';

export const AGGREGATE_FILE = 'aggregate.json';
export const SUMMARY_FILE = 'summary.json';
/** Threshold and smoke-check results in formatJUnit's shape, kept so junit.xml can be re-rendered. */
export const CHECKS_FILE = 'checks.json';
/** The first edgefleet version whose run folders hold aggregate.json. */
export const AGGREGATE_SINCE_VERSION = '0.1.0';

/** Writes `<dir>/aggregate.json` (aggregate.toState()); returns its path. */
export async function writeAggregateState(dir: string, aggregate: MetricsAggregate): Promise<string> {
  const path = join(resolve(dir), AGGREGATE_FILE);
  // One line: it is for machines, and histograms are long base64 strings anyway.
  await writeAtomic(path, JSON.stringify(aggregate.toState()) + '\n');
  return path;
}

/** Writes `<dir>/checks.json`; the thresholds and smoke commands call it beside junit.xml. */
export async function writeChecks(dir: string, suites: readonly JUnitSuite[]): Promise<string> {
  const path = join(resolve(dir), CHECKS_FILE);
  await writeAtomic(path, JSON.stringify({ v: 1, suites }, null, 2) + '\n');
  return path;
}

export interface RunFolder {
  dir: string;
  runId: string;
  /** Undefined when the folder has no summary.json (the aggregate alone still renders, without the echo). */
  summary: RunSummary | undefined;
  aggregate: MetricsAggregate;
  state: AggregateState;
  /** What buildSummary needs to rebuild summary.json as it was: run id, times, scenario/profile/target echo, seed. */
  meta: RunMeta & { runId: string };
  checks: JUnitSuite[] | undefined;
}

/** Loads a run folder; `reports/latest` (symlink or file) is followed. Errors say what to fix. */
export async function readRun(dirArg: string): Promise<RunFolder> {
  const dir = await resolveRunDir(dirArg);
  const shown = displayPath(dir);
  const aggPath = join(dir, AGGREGATE_FILE);
  if (!(await isFile(aggPath))) {
    throw runError(shown, noAggregateMessage(await hasFile(dir, SUMMARY_FILE)));
  }
  const state = parseAggregateState(await readFile(aggPath, 'utf8'), displayPath(aggPath));
  let aggregate: MetricsAggregate;
  try {
    aggregate = MetricsAggregate.fromState(state);
  } catch (err) {
    throw runError(displayPath(aggPath), `cannot load the aggregate: ${(err as Error).message}`);
  }
  const summary = await readSummary(dir);
  const checks = await readChecks(dir);
  const runId = summary?.runId ?? basename(dir);
  return { dir, runId, summary, aggregate, state, meta: metaOf(summary, runId), checks };
}

export function noAggregateMessage(hasSummary: boolean): string {
  return hasSummary
    ? `not an edgefleet run folder (no ${AGGREGATE_FILE}) — runs made before edgefleet ${AGGREGATE_SINCE_VERSION} cannot be merged`
    : `not an edgefleet run folder (no ${AGGREGATE_FILE} nor ${SUMMARY_FILE}); give a folder under reports/, e.g. reports/latest`;
}

/** summary.json, or undefined when absent; a present but broken file is an error. */
export async function readSummary(dir: string): Promise<RunSummary | undefined> {
  const path = join(dir, SUMMARY_FILE);
  if (!(await isFile(path))) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw runError(
      displayPath(path),
      `not valid JSON (${(err as Error).message}); rebuild it with "edgefleet report ${displayPath(dir)}"`,
    );
  }
  const schema = (parsed as { schema?: unknown } | null)?.schema;
  if (schema !== SUMMARY_SCHEMA) {
    throw runError(
      displayPath(path),
      `expected an edgefleet summary (schema "${SUMMARY_SCHEMA}"), got schema ${JSON.stringify(schema ?? null)}`,
    );
  }
  return parsed as RunSummary;
}

export async function readChecks(dir: string): Promise<JUnitSuite[] | undefined> {
  const path = join(dir, CHECKS_FILE);
  if (!(await isFile(path))) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw runError(displayPath(path), `not valid JSON (${(err as Error).message})`);
  }
  const suites = (parsed as { suites?: unknown } | null)?.suites;
  if (!Array.isArray(suites) || !suites.every(isSuite)) {
    throw runError(displayPath(path), 'expected {"v": 1, "suites": [{"name": …, "cases": [{"name": …}]}]}');
  }
  return suites;
}

function isSuite(x: unknown): x is JUnitSuite {
  const s = x as JUnitSuite | null;
  return typeof s?.name === 'string' && Array.isArray(s.cases) && s.cases.every((c) => typeof c?.name === 'string');
}

export function parseAggregateState(text: string, shownPath: string): AggregateState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw runError(
      shownPath,
      `not valid JSON (${(err as Error).message}); the run was probably cut short while writing it`,
    );
  }
  const s = parsed as Partial<AggregateState> | null;
  if (s?.v !== 1)
    throw runError(
      shownPath,
      `unsupported aggregate version ${JSON.stringify(s?.v ?? null)} (this edgefleet reads version 1)`,
    );
  if (typeof s.ops !== 'object' || s.ops === null || typeof s.ledger !== 'object' || !Array.isArray(s.timeseries)) {
    throw runError(shownPath, 'not an edgefleet aggregate (expected ops, ledger and timeseries)');
  }
  return parsed as AggregateState;
}

/** RunMeta from a summary, so buildSummary reproduces the echo (already redacted: redacting twice is a no-op). */
export function metaOf(summary: RunSummary | undefined, runId: string): RunMeta & { runId: string } {
  if (!summary) return { runId };
  const meta: RunMeta & { runId: string } = {
    runId,
    startedAt: summary.startedAt,
    endedAt: summary.endedAt,
    scenario: summary.scenario,
    profile: summary.profile,
    target: summary.target,
  };
  if (summary.seed !== null && summary.seed !== undefined) meta.seed = summary.seed;
  if (summary.shard !== null && summary.shard !== undefined) meta.shard = summary.shard;
  if (summary.reconciliation) meta.reconciliation = summary.reconciliation;
  return meta;
}

/**
 * A folder, or `reports/latest` as a symlink (followed by the OS) or as a file holding the run id.
 */
export async function resolveRunDir(dirArg: string): Promise<string> {
  const dir = resolve(dirArg);
  let st;
  try {
    st = await stat(dir);
  } catch {
    throw runError(displayPath(dir), 'no such folder; give a run folder under reports/, e.g. reports/latest');
  }
  if (st.isFile() && basename(dir) === 'latest') {
    const id = (await readFile(dir, 'utf8')).trim();
    if (id === '') throw runError(displayPath(dir), 'empty; it should hold the newest run id');
    return resolveRunDir(join(dirname(dir), id));
  }
  if (!st.isDirectory())
    throw runError(displayPath(dir), 'not a folder; give a run folder under reports/, e.g. reports/latest');
  // Pointed at reports/ itself: say which folder was meant.
  if (!(await hasFile(dir, AGGREGATE_FILE)) && !(await hasFile(dir, SUMMARY_FILE)) && (await hasFile(dir, 'latest'))) {
    throw runError(displayPath(dir), `holds runs, not a run; did you mean ${displayPath(join(dir, 'latest'))}?`);
  }
  return dir;
}

/** Percentile distributions written as .hgrm, for re-rendering a folder that predates aggregate.json. */
export async function readHgrmTexts(
  dir: string,
): Promise<Partial<Record<Operation, { corrected?: string; raw?: string }>>> {
  const out: Partial<Record<Operation, { corrected?: string; raw?: string }>> = {};
  const names = new Set(await readdir(dir));
  for (const op of OPERATIONS) {
    for (const kind of ['corrected', 'raw'] as const) {
      const name = hgrmFileName(op, kind);
      if (!names.has(name)) continue;
      (out[op] ??= {})[kind] = await readFile(join(dir, name), 'utf8');
    }
  }
  return out;
}

/**
 * timeseries.csv back into rows. The CSV holds rates rounded to 1/1000; rate × seconds gives the counts
 * back to that precision, which is all a chart needs.
 */
export function parseTimeseriesCsv(text: string): TimeseriesRow[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = lines.shift()?.split(',') ?? [];
  const col = (name: string) => header.indexOf(name);
  const idx = {
    t: col('epoch_ms'),
    seconds: col('seconds'),
    generated: col('generated_per_s'),
    acknowledged: col('acknowledged_per_s'),
    failed: col('failed_per_s'),
    errors: col('errors_per_s'),
    connected: col('connected'),
  };
  if (Object.values(idx).some((i) => i < 0)) return [];
  // Added later: older folders do not have it.
  const lateness = col('lateness_p99_ms');
  const throttled = col('throttled_per_s');
  const rows: TimeseriesRow[] = [];
  for (const line of lines) {
    const texts = line.split(',');
    const cells = texts.map(Number);
    const get = (i: number) => cells[i] ?? NaN;
    const seconds = get(idx.seconds);
    const row: TimeseriesRow = {
      t: get(idx.t),
      seconds,
      generated: Math.round(get(idx.generated) * seconds),
      acknowledged: Math.round(get(idx.acknowledged) * seconds),
      failed: Math.round(get(idx.failed) * seconds),
      errors: Math.round(get(idx.errors) * seconds),
      connected: get(idx.connected),
    };
    const late = lateness < 0 || (texts[lateness] ?? '') === '' ? NaN : get(lateness);
    if (!Object.values(row).every(Number.isFinite)) continue;
    if (Number.isFinite(late)) row.latenessP99Ms = late;
    const throttledRate = throttled < 0 ? NaN : get(throttled);
    if (Number.isFinite(throttledRate)) row.throttled = Math.round(throttledRate * seconds);
    rows.push(row);
  }
  return rows;
}

export function runError(where: string, message: string): ConfigError {
  return new ConfigError([{ file: where, path: '', message }]);
}

async function hasFile(dir: string, name: string): Promise<boolean> {
  try {
    await stat(join(dir, name));
    return true;
  } catch {
    return false;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Write then rename, so a reader (or a crash) never sees half a file. */
export async function writeAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}
