// Run ids, timeseries.csv's text, and reports/latest (the files of a run folder are render.ts's).
import { createHash, randomBytes } from 'node:crypto';
import { readFile, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { TimeseriesRow } from '../metrics/aggregate.js';
import type { FaultEventReport } from '../metrics/fault-events.js';
import { writeAtomic } from './read.js';

/** How reports/latest was updated; "unchanged" when it already points at a newer run. */
export interface LatestUpdate {
  path: string;
  kind: 'symlink' | 'file' | 'unchanged' | 'none';
}

const RUN_ID_RE = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z-[0-9a-f]{4}$/;

/**
 * Sortable run id, e.g. `2026-11-26T21-40-05Z-3fa1` (UTC, no colons so it is a valid folder name everywhere).
 * With a seed the suffix is derived from it (reproducible); without, random.
 */
export function newRunId(date: Date = new Date(), seed?: string | number): string {
  const stamp = `${date.toISOString().slice(0, 19).replace(/:/g, '-')}Z`;
  const suffix =
    seed === undefined
      ? randomBytes(2).toString('hex')
      : createHash('sha256').update(String(seed)).digest('hex').slice(0, 4);
  return `${stamp}-${suffix}`;
}

/** The profile's events on the timeline: "networkDrop#1" where one happened, "networkDrop#1 whole" where it ended. */
function eventMarks(events: readonly FaultEventReport[]): { t: number; mark: string }[] {
  return events.flatMap((e) => {
    if (e.startedAtMs === null) return [];
    const name = `${e.kind}#${e.index}`;
    const start = { t: e.startedAtMs, mark: name };
    return e.wholeAfterMs === null ? [start] : [start, { t: e.startedAtMs + e.wholeAfterMs, mark: `${name} whole` }];
  });
}

export function formatTimeseriesCsv(rows: readonly TimeseriesRow[], events: readonly FaultEventReport[] = []): string {
  const out = [
    'time,epoch_ms,seconds,generated_per_s,acknowledged_per_s,failed_per_s,errors_per_s,connected,' +
      'lateness_p99_ms,throttled_per_s,events',
  ];
  const rate = (n: number, s: number) => String(Math.round((n / s) * 1000) / 1000);
  const marks = eventMarks(events);
  for (const r of rows) {
    const s = r.seconds > 0 ? r.seconds : 1;
    const here = marks
      .filter((m) => m.t >= r.t && m.t < r.t + s * 1000)
      .map((m) => m.mark)
      .join(';');
    out.push(
      [
        new Date(r.t).toISOString(),
        r.t,
        r.seconds,
        rate(r.generated, s),
        rate(r.acknowledged, s),
        rate(r.failed, s),
        rate(r.errors, s),
        r.connected,
        // Empty when no timer fired in that second.
        r.latenessP99Ms === undefined ? '' : Math.round(r.latenessP99Ms * 1000) / 1000,
        rate(r.throttled ?? 0, s),
        here,
      ].join(','),
    );
  }
  return out.join('\n') + '\n';
}

/**
 * Points `<parent>/latest` at runDir: a relative symlink, replaced atomically; where symlinks fail
 * (Windows without the privilege, some CI artifact stores) a `latest` text file holding the run id.
 * A re-report of an older run (both names are run ids) leaves a newer `latest` alone.
 */
export async function updateLatest(
  runDir: string,
  mode: 'symlink' | 'file' | 'none' = 'symlink',
): Promise<LatestUpdate> {
  const parent = dirname(runDir);
  const name = basename(runDir);
  const path = join(parent, 'latest');
  if (mode === 'none') return { path, kind: 'none' };

  const current = await readLatest(parent);
  if (current !== undefined && current !== name && RUN_ID_RE.test(current) && RUN_ID_RE.test(name) && current > name) {
    if (await exists(join(parent, current))) return { path, kind: 'unchanged' };
  }

  if (mode === 'symlink') {
    const tmp = join(parent, `.latest-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await symlink(name, tmp, 'dir');
      await rename(tmp, path);
      return { path, kind: 'symlink' };
    } catch {
      await rm(tmp, { force: true }).catch(() => undefined);
    }
  }
  await writeAtomic(path, `${name}\n`);
  return { path, kind: 'file' };
}

/** The run id `latest` designates, from either form; undefined when there is none. */
export async function readLatest(reportsDir: string): Promise<string | undefined> {
  const path = join(reportsDir, 'latest');
  try {
    return basename(await readlink(path));
  } catch {
    try {
      const text = (await readFile(path, 'utf8')).trim();
      return text === '' ? undefined : text;
    } catch {
      return undefined;
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
