import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetricsAggregate } from '../../src/metrics/aggregate.js';
import { renderRunFolder } from '../../src/report/render.js';
import { newRunId, readLatest, updateLatest } from '../../src/report/write.js';
import type { RunSummary } from '../../src/report/summary.js';
import { knownAggregate, T0 } from './fixture.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'edgefleet-report-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('newRunId', () => {
  it('is a sortable UTC stamp with a 4-hex suffix', () => {
    const id = newRunId(new Date(Date.UTC(2026, 10, 26, 21, 40, 5, 999)));
    expect(id).toMatch(/^2026-11-26T21-40-05Z-[0-9a-f]{4}$/);
    const later = newRunId(new Date(Date.UTC(2026, 10, 26, 21, 40, 6)));
    expect([later, id].sort()).toEqual([id, later]);
  });

  it('derives the suffix from a seed, reproducibly', () => {
    const d = new Date(T0);
    expect(newRunId(d, 42)).toBe(newRunId(d, '42'));
    expect(newRunId(d, 42)).not.toBe(newRunId(d, 43));
  });
});

/** A run's folder as the report output writes it: every file, then reports/latest. */
async function writeRun(
  dir: string,
  agg: MetricsAggregate,
  meta: Record<string, unknown> = {},
  latest: 'symlink' | 'file' = 'symlink',
) {
  const { summary } = await renderRunFolder(dir, agg, { runId: basename(dir), ...meta });
  return { summaryPath: join(dir, 'summary.json'), summary, latest: await updateLatest(dir, latest) };
}

describe('a run folder and reports/latest', () => {
  it('writes summary.json, .hgrm files, timeseries.csv and points latest at the run', async () => {
    const reports = join(root, 'reports');
    const id = newRunId(new Date(T0), 1);
    const agg = knownAggregate();
    const res = await writeRun(join(reports, id), agg, { seed: 1, profile: 'ci' });

    expect(res.summaryPath).toBe(join(reports, id, 'summary.json'));
    const summary: RunSummary = JSON.parse(await readFile(res.summaryPath, 'utf8'));
    expect(summary.runId).toBe(id);
    expect(summary.operations.telemetry.count).toBe(100);
    expect(summary).toMatchObject({ seed: 1, profile: 'ci' });

    const files = (await readdir(join(reports, id))).sort();
    expect(files).toEqual([
      'aggregate.json',
      'connect.hgrm',
      'connect.raw.hgrm',
      'report.html',
      'summary.json',
      'telemetry.hgrm',
      'telemetry.raw.hgrm',
      'timeseries.csv',
    ]);
    const hgrm = await readFile(join(reports, id, 'telemetry.hgrm'), 'utf8');
    expect(hgrm).toMatch(/^\s+Value\s+Percentile\s+TotalCount\s+1\/\(1-Percentile\)/);
    expect(hgrm).toMatch(/#\[Max\s+=\s+110\.015, Total count\s+=\s+100\]/);

    const csv = (await readFile(join(reports, id, 'timeseries.csv'), 'utf8')).trim().split('\n');
    expect(csv[0]).toBe(
      'time,epoch_ms,seconds,generated_per_s,acknowledged_per_s,failed_per_s,errors_per_s,connected,' +
        'lateness_p99_ms,throttled_per_s,events',
    );
    // The fixture's snapshots end in two different seconds; flush() closed the last one.
    expect(csv.slice(1).map((l) => l.split(',').slice(0, 4))).toEqual([
      [new Date(T0 + 1000).toISOString(), String(T0 + 1000), '1', '100'],
      [new Date(T0 + 2000).toISOString(), String(T0 + 2000), '1', '10'],
    ]);

    expect(res.latest.kind).toBe('symlink');
    expect((await lstat(join(reports, 'latest'))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(reports, 'latest'))).toBe(id); // relative, so the folder can move
    expect(JSON.parse(await readFile(join(reports, 'latest', 'summary.json'), 'utf8')).runId).toBe(id);
  });

  it('moves latest to a newer run but not back to an older one', async () => {
    const reports = join(root, 'reports');
    const older = newRunId(new Date(T0), 'a');
    const newer = newRunId(new Date(T0 + 60_000), 'b');
    await writeRun(join(reports, older), new MetricsAggregate());
    await writeRun(join(reports, newer), new MetricsAggregate());
    expect(await readLatest(reports)).toBe(newer);
    const again = await writeRun(join(reports, older), new MetricsAggregate());
    expect(again.latest.kind).toBe('unchanged');
    expect(await readLatest(reports)).toBe(newer);
  });

  it('writes latest as a text file holding the run id when asked (or when symlinks fail)', async () => {
    const reports = join(root, 'reports');
    const id = newRunId(new Date(T0), 7);
    const res = await writeRun(join(reports, id), knownAggregate(), {}, 'file');
    expect(res.latest.kind).toBe('file');
    expect((await lstat(join(reports, 'latest'))).isFile()).toBe(true);
    expect((await readFile(join(reports, 'latest'), 'utf8')).trim()).toBe(id);
    expect(await readLatest(reports)).toBe(id);
    // and a later symlink replaces the file
    const next = newRunId(new Date(T0 + 1000), 7);
    await mkdir(join(reports, next));
    expect((await updateLatest(join(reports, next))).kind).toBe('symlink');
    expect(await readlink(join(reports, 'latest'))).toBe(next);
  });

  it('leaves no temporary files behind', async () => {
    const reports = join(root, 'reports');
    const id = newRunId(new Date(T0), 3);
    await writeRun(join(reports, id), knownAggregate());
    expect((await readdir(reports)).sort()).toEqual([id, 'latest']);
    expect((await readdir(join(reports, id))).some((f) => f.endsWith('.tmp'))).toBe(false);
  });
});
