// `edgefleet report` and `edgefleet report merge`, parsed by yargs as main.ts parses them.
import { mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import yargs from 'yargs';
import { reportCommand } from '../../src/cli/report.js';
import type { MetricsAggregate } from '../../src/metrics/aggregate.js';
import { writeChecks } from '../../src/report/read.js';
import type { RunSummary } from '../../src/report/summary.js';
import { parseThreshold } from '../../src/config/thresholds.js';
import { evaluateThresholds, thresholdsJUnitCases, thresholdsSummary } from '../../src/report/thresholds.js';
import { renderRunFolder } from '../../src/report/render.js';
import { SYN_T0, syntheticAggregate } from './synthetic.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'edgefleet-report-cli-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function cli(
  args: string[],
): Promise<{ out: string; err: string; error?: Error; help: string; exitCode: number | undefined }> {
  let out = '';
  let err = '';
  let help = '';
  const exitBefore = process.exitCode;
  let exitCode: number | undefined;
  const so = vi
    .spyOn(process.stdout, 'write')
    .mockImplementation((c: string | Uint8Array) => ((out += String(c)), true));
  const se = vi
    .spyOn(process.stderr, 'write')
    .mockImplementation((c: string | Uint8Array) => ((err += String(c)), true));
  try {
    await yargs()
      .scriptName('edgefleet')
      .command(reportCommand)
      .demandCommand(1)
      .strict()
      .exitProcess(false)
      .fail((msg, e) => {
        throw e ?? new Error(msg);
      })
      .parseAsync(args, {}, (_e, _argv, output) => {
        help += output;
      });
    exitCode = process.exitCode === undefined ? undefined : Number(process.exitCode);
    return { out, err, help, exitCode };
  } catch (e) {
    return { out, err, help, exitCode, error: e as Error };
  } finally {
    process.exitCode = exitBefore;
    so.mockRestore();
    se.mockRestore();
  }
}

async function writeRun(
  name: string,
  agg: MetricsAggregate,
  meta: Record<string, unknown> = {},
  withAggregate = true,
): Promise<string> {
  const dir = join(root, 'reports', name);
  const { thresholds, ...rest } = meta;
  await renderRunFolder(
    dir,
    agg,
    { runId: name, scenario: 'quick', profile: 'ramp', ...rest },
    thresholds === undefined ? {} : { extra: { thresholds } },
  );
  // A folder written before aggregate.json existed.
  if (!withAggregate) await rm(join(dir, 'aggregate.json'));
  return dir;
}

describe('edgefleet report DIR', () => {
  it('re-renders report.html and the rest from aggregate.json, keeping fields it does not build', async () => {
    const dir = await writeRun('2026-11-26T21-00-00Z-aaaa', syntheticAggregate({ seconds: 5 }));
    const original: RunSummary & { thresholds?: unknown; note?: string } = JSON.parse(
      await readFile(join(dir, 'summary.json'), 'utf8'),
    );
    // As the thresholds step leaves it: its verdicts in summary.json; a smoke check in checks.json.
    const results = evaluateThresholds([parseThreshold('telemetry.p99 < 5ms')], original);
    original.thresholds = thresholdsSummary(results);
    original.note = 'kept';
    await writeFile(join(dir, 'summary.json'), JSON.stringify(original));
    await writeChecks(dir, [
      {
        name: 'edgefleet',
        cases: [...thresholdsJUnitCases(results), { name: 'gateway smoke', classname: 'edgefleet.smoke' }],
      },
    ]);
    await rm(join(dir, 'telemetry.hgrm'));

    const r = await cli(['report', dir]);
    expect(r.error).toBeUndefined();
    expect(r.out).toMatch(
      /^re-rendered .*: summary\.json, .*telemetry\.hgrm.*, junit\.xml, checks\.json, report\.html\n/,
    );
    expect(r.out).toContain('thresholds: 1 of 1 failed');
    expect(r.exitCode).toBe(99);
    const files = await readdir(dir);
    for (const f of ['report.html', 'junit.xml', 'telemetry.hgrm', 'aggregate.json']) expect(files).toContain(f);
    expect(JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8'))).toEqual(original);
    const junit = await readFile(join(dir, 'junit.xml'), 'utf8');
    expect(junit).toContain('<testsuites name="edgefleet" tests="2" failures="1"');
    expect(junit).toContain(`<failure message="${results[0]!.detail}"`);
    expect(junit).toContain('<testcase name="gateway smoke" classname="edgefleet.smoke"/>');
    expect(await readFile(join(dir, 'report.html'), 'utf8')).toContain('1 of 2 failed');
  });

  it('judges thresholds given with --threshold on a finished run', async () => {
    const dir = await writeRun('2026-11-26T21-00-00Z-cccc', syntheticAggregate({ seconds: 3 }));
    const held = await cli([
      'report',
      dir,
      '--threshold',
      'ledger.generated > 0',
      '--threshold',
      'errors.auth.count == 0',
    ]);
    expect(held.error).toBeUndefined();
    expect(held.out).toContain('thresholds: all 2 held');
    expect(held.exitCode).toBeUndefined();
    const s = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8'));
    expect(s.thresholds.map((t: { threshold: string }) => t.threshold)).toEqual([
      'ledger.generated > 0',
      'errors.auth.count == 0',
    ]);

    // Stored thresholds stay; a new one joins them.
    const failed = await cli(['report', dir, '--threshold', 'telemetry.p50 < 0.001ms']);
    expect(failed.exitCode).toBe(99);
    expect(failed.out).toContain('thresholds: 1 of 3 failed');
    expect(await readFile(join(dir, 'junit.xml'), 'utf8')).toContain('tests="3" failures="1"');

    const bad = await cli(['report', dir, '--threshold', 'telemetry.p98 < 1s']);
    expect(bad.error?.message).toMatch(/^--threshold: threshold "telemetry\.p98 < 1s": /);
  });

  it('follows reports/latest as a symlink or as a file, and points at it when given reports/', async () => {
    const dir = await writeRun('2026-11-26T21-00-00Z-bbbb', syntheticAggregate({ seconds: 2 }));
    await symlink('2026-11-26T21-00-00Z-bbbb', join(root, 'reports', 'latest'));
    expect((await cli(['report', join(root, 'reports', 'latest')])).error).toBeUndefined();
    expect((await stat(join(dir, 'report.html'))).isFile()).toBe(true);

    await rm(join(root, 'reports', 'latest'));
    await writeFile(join(root, 'reports', 'latest'), '2026-11-26T21-00-00Z-bbbb\n');
    await rm(join(dir, 'report.html'));
    expect((await cli(['report', join(root, 'reports', 'latest')])).error).toBeUndefined();
    expect((await stat(join(dir, 'report.html'))).isFile()).toBe(true);

    const r = await cli(['report', join(root, 'reports')]);
    expect(r.error?.message).toMatch(/reports: holds runs, not a run; did you mean .*reports\/latest\?/);
  });

  it('renders report.html alone for a run folder that has no aggregate.json', async () => {
    const dir = await writeRun('old', syntheticAggregate({ seconds: 3 }), {}, false);
    const before = await readFile(join(dir, 'summary.json'), 'utf8');
    const r = await cli(['report', dir]);
    expect(r.error).toBeUndefined();
    expect(r.out).toContain('this run has no aggregate.json, so only report.html was rewritten');
    expect(await readFile(join(dir, 'report.html'), 'utf8')).toContain('data-chart="latency" data-op="telemetry"');
    expect(await readFile(join(dir, 'summary.json'), 'utf8')).toBe(before);
  });

  it('says what is wrong with a folder that is not a run', async () => {
    expect((await cli(['report', join(root, 'missing')])).error?.message).toMatch(/missing: no such folder/);
    await mkdir(join(root, 'empty'));
    expect((await cli(['report', join(root, 'empty')])).error?.message).toMatch(
      /empty: not an edgefleet run folder \(no aggregate\.json nor summary\.json\)/,
    );
    const dir = await writeRun('bad', syntheticAggregate({ seconds: 2 }));
    await writeFile(join(dir, 'summary.json'), '{"schema":"something/else"}');
    expect((await cli(['report', dir])).error?.message).toMatch(/summary\.json: expected an edgefleet summary/);
  });

  it('explains itself with --help and examples', async () => {
    const r = await cli(['report', '--help']);
    expect(r.help).toContain('edgefleet report merge <dirs..>');
    expect(r.help).toContain('Examples:');
    expect(r.help).toContain('edgefleet report reports/latest');
    const m = await cli(['report', 'merge', '--help']);
    expect(m.help).toContain('--out');
    expect(m.help).toContain('Examples:');
  });
});

describe('edgefleet report merge DIR… --out DIR', () => {
  it('merges shards into a new run folder and says what it did', async () => {
    const a = await writeRun('a', syntheticAggregate({ seed: 1, seconds: 4, shard: '1/2' }), {
      shard: { index: 0, count: 2 },
      seed: 5,
    });
    const b = await writeRun('b', syntheticAggregate({ seed: 2, seconds: 4, shard: '2/2' }), {
      shard: { index: 1, count: 2 },
      seed: 5,
    });
    const out = join(root, 'merged');
    const r = await cli(['report', 'merge', a, b, '--out', out]);
    expect(r.error).toBeUndefined();
    expect(r.err).toBe('');
    expect(r.out).toContain('merged 2 runs (a, b) into');
    expect(r.out).toContain('ledger balanced');
    const s: RunSummary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    expect(s.ledger.generated).toBe(2 * 4 * 2 * 50);
    for (const f of ['summary.json', 'report.html', 'aggregate.json', 'telemetry.hgrm', 'timeseries.csv'])
      expect(await readdir(out)).toContain(f);

    // The merged folder is a run folder like any other: it re-renders.
    expect((await cli(['report', out])).error).toBeUndefined();

    const judged = await cli([
      'report',
      'merge',
      a,
      b,
      '--out',
      join(root, 'm2'),
      '--threshold',
      'telemetry.count < 100',
    ]);
    expect(judged.exitCode).toBe(99);
    expect(judged.out).toMatch(/thresholds: 1 of 1 failed\n.*telemetry\.count < 100/);
  });

  it('prints warnings on stderr and refuses a run without aggregate.json', async () => {
    const a = await writeRun('a', syntheticAggregate({ seconds: 2 }), { shard: { index: 0, count: 3 } });
    const b = await writeRun('b', syntheticAggregate({ seconds: 2, t0: SYN_T0 }), { shard: { index: 1, count: 3 } });
    const r = await cli(['report', 'merge', a, b, '--out', join(root, 'm')]);
    expect(r.error).toBeUndefined();
    expect(r.err).toBe('warning: shard 3/3 missing: the merged report covers 2 of 3 shards\n');

    const old = await writeRun('old', syntheticAggregate({ seconds: 2 }), {}, false);
    const bad = await cli(['report', 'merge', a, old, '--out', join(root, 'm2')]);
    expect(bad.exitCode).toBeUndefined();
    expect(bad.error?.message).toMatch(
      /old: not an edgefleet run folder \(no aggregate\.json\) — runs made before edgefleet/,
    );
  });

  it('needs --out', async () => {
    const r = await cli(['report', 'merge', 'a', 'b']);
    expect(r.error?.message).toMatch(/Missing required argument: out/);
  });
});
