// Shards written as runs write them, merged, and checked against one histogram that saw every sample.
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetricsAggregate } from '../../src/metrics/aggregate.js';
import { decodeHistogram, encodeHistogram, newCumulativeHistogram } from '../../src/metrics/histogram.js';
import { MetricsRecorder } from '../../src/metrics/recorder.js';
import { mergeRuns } from '../../src/report/merge.js';
import { readRun } from '../../src/report/read.js';
import { buildSummary, type RunMeta, type RunSummary } from '../../src/report/summary.js';
import { parseThreshold } from '../../src/config/thresholds.js';
import { evaluateThresholds, thresholdsSummary } from '../../src/report/thresholds.js';
import { renderRunFolder } from '../../src/report/render.js';
import { lcg } from '../metrics/helpers.js';
import { SYN_T0, syntheticAggregate } from './synthetic.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'edgefleet-merge-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A run folder as `edgefleet run` leaves it. */
async function writeRun(
  name: string,
  agg: MetricsAggregate,
  meta: RunMeta & { thresholds?: unknown } = {},
): Promise<string> {
  const dir = join(root, name);
  const { thresholds, ...rest } = meta;
  await renderRunFolder(dir, agg, { runId: name, ...rest }, thresholds === undefined ? {} : { extra: { thresholds } });
  return dir;
}

/**
 * Shard i of n records every n-th of the same sample stream over the same seconds, so the union of the shards is
 * exactly the stream; `all` records the whole stream in one histogram, the reference a merge must reproduce.
 */
function shardedStream(n: number, seconds = 10) {
  const random = lcg(42);
  const all = { corrected: newCumulativeHistogram(), raw: newCumulativeHistogram() };
  const recs = Array.from({ length: n }, () => new MetricsRecorder(SYN_T0));
  const aggs = Array.from({ length: n }, (_, i) => new MetricsAggregate({ shard: `${i + 1}/${n}` }));
  let k = 0;
  for (let s = 0; s < seconds; s++) {
    for (let j = 0; j < 300; j++, k++) {
      const shard = k % n;
      const intended = SYN_T0 + s * 1000 + j;
      const started = intended + (random() < 0.05 ? random() * 500 : 0);
      const ended = started + 1 + random() ** 3 * 2000;
      recs[shard]!.recordLatency('telemetry', intended, started, ended);
      recs[shard]!.ledger.generated++;
      recs[shard]!.ledger.acknowledged++;
      all.corrected.recordValue(Math.round(Math.max(ended - intended, ended - started) * 1000));
      all.raw.recordValue(Math.round((ended - started) * 1000));
    }
    recs.forEach((r, i) => {
      r.setGauge('connected', 10 + i);
      if (s === 2 + i) r.recordError('auth', `CONNACK 5 on shard ${i + 1}`, 'connect');
      aggs[i]!.add(0, r.snapshot(SYN_T0 + (s + 1) * 1000));
    });
  }
  for (const a of aggs) a.flush();
  return { aggs, all };
}

describe('edgefleet report merge', () => {
  it('adds histograms exactly: the merged distribution is that of one histogram that saw every sample', async () => {
    const { aggs, all } = shardedStream(3);
    const dirs = await Promise.all(
      aggs.map((a, i) =>
        writeRun(`shard${i + 1}`, a, { shard: { index: i, count: 3 }, seed: 7, scenario: 'quick', profile: 'ramp' }),
      ),
    );
    const out = join(root, 'merged');
    const result = await mergeRuns(dirs, { outDir: out });
    expect(result.warnings).toEqual([]);

    const merged = await readRun(out);
    for (const kind of ['corrected', 'raw'] as const) {
      const h = merged.aggregate.histogram('telemetry', kind)!;
      // As an unsharded run holds it: recorded in a worker, shipped encoded (the max becomes its bucket's top).
      const ref = decodeHistogram(encodeHistogram(all[kind]));
      expect(h.totalCount).toBe(ref.totalCount);
      for (const p of [0, 10, 50, 90, 99, 99.9, 99.99, 100])
        expect(h.getValueAtPercentile(p), `${kind} p${p}`).toBe(ref.getValueAtPercentile(p));
      expect(h.maxValue).toBe(ref.maxValue);
    }
    // The .hgrm files are those of the reference histogram.
    const hgrm = await readFile(join(out, 'telemetry.hgrm'), 'utf8');
    expect(hgrm).toBe(decodeHistogram(encodeHistogram(all.corrected)).outputPercentileDistribution(5, 1000));

    const s: RunSummary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    expect(s.operations.telemetry.count).toBe(3000);
    expect(s.ledger).toMatchObject({ generated: 3000, acknowledged: 3000, inFlight: 0, balanced: true });
    expect(s.errors.auth.count).toBe(3);
    expect(s.errors.auth.byOperation).toEqual({ connect: 3 });
    expect(s.gauges.connected).toBe(10 + 11 + 12);
    expect(s).toMatchObject({
      runId: 'merged',
      scenario: 'quick',
      profile: 'ramp',
      seed: 7,
      shard: 'merged: 1/3, 2/3, 3/3',
    });
    expect((s as unknown as { mergedFrom: unknown[] }).mergedFrom).toHaveLength(3);
    expect((await readdir(out)).sort()).toEqual([
      'aggregate.json',
      'report.html',
      'summary.json',
      'telemetry.hgrm',
      'telemetry.raw.hgrm',
      'timeseries.csv',
    ]);
  });

  it('aligns timeseries by time: the same second adds up, shifted shards interleave', async () => {
    const a = syntheticAggregate({ seed: 1, seconds: 6, shard: '1/2' });
    const b = syntheticAggregate({ seed: 2, seconds: 6, shard: '2/2', t0: SYN_T0 + 3000 });
    const dirs = [
      await writeRun('a', a, { shard: { index: 0, count: 2 } }),
      await writeRun('b', b, { shard: { index: 1, count: 2 } }),
    ];
    const res = await mergeRuns(dirs, { outDir: join(root, 'm') });
    const rows = (await readRun(join(root, 'm'))).aggregate.timeseries;
    // Seconds 1-6 of a and 4-9 of b: 9 rows; 4, 5, 6 hold both.
    expect(rows.map((r) => (r.t - SYN_T0) / 1000)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const at = (rs: readonly { t: number; generated: number; connected: number }[], sec: number) =>
      rs.find((r) => r.t === SYN_T0 + sec * 1000);
    expect(at(rows, 4)!.generated).toBe(at(a.timeseries, 4)!.generated + at(b.timeseries, 4)!.generated);
    expect(at(rows, 4)!.connected).toBe(at(a.timeseries, 4)!.connected + at(b.timeseries, 4)!.connected);
    expect(at(rows, 8)!.generated).toBe(at(b.timeseries, 8)!.generated);
    expect(res.summary.startedAt).toBe(new Date(SYN_T0).toISOString());
    expect(res.summary.endedAt).toBe(new Date(SYN_T0 + 9000).toISOString());

    const csv = (await readFile(join(root, 'm', 'timeseries.csv'), 'utf8')).trim().split('\n');
    expect(csv).toHaveLength(10);
  });

  it('sums reconciliations and keeps the newest error message of each class', async () => {
    const mk = (msg: string, at: number) => {
      const agg = new MetricsAggregate();
      const w = new MetricsRecorder(SYN_T0);
      w.recordError('throttled', msg, 'telemetry');
      const snap = w.snapshot(SYN_T0 + 1000);
      snap.errors.throttled!.lastAtMs = at;
      agg.add(0, snap);
      return agg;
    };
    const dirs = [
      await writeRun('old', mk('older 429', SYN_T0 + 100), {
        reconciliation: { acknowledgedNotReceived: 1, receivedNotAcknowledged: 2 },
      }),
      await writeRun('new', mk('newer 429', SYN_T0 + 900), {
        reconciliation: { acknowledgedNotReceived: 3, receivedNotAcknowledged: 0 },
      }),
    ];
    const res = await mergeRuns(dirs, { outDir: join(root, 'm') });
    expect(res.summary.reconciliation).toEqual({ acknowledgedNotReceived: 4, receivedNotAcknowledged: 2 });
    expect(res.summary.errors.throttled).toMatchObject({ count: 2, lastMessage: 'newer 429' });
  });

  it("says the generator saturated when any shard's did, naming the shard; not when none did", async () => {
    const { aggs } = shardedStream(2, 3);
    const bounds = { latenessBoundMs: 200, busyPercent: 95, phaseSeconds: 5 };
    const phase = { reason: 'lateness' as const, fromSeconds: 10, toSeconds: 16, stage: 'stage 1/1', peak: 850 };
    const calm = { generatorSaturated: false, reasons: [], phases: [], advice: [], bounds };
    const saturated = {
      generatorSaturated: true,
      reasons: ['scheduler lateness p99 up to 850 ms for 6 s'],
      phases: [phase],
      advice: ['more workers'],
      bounds,
    };
    const write = (name: string, i: number, verdict: object) =>
      renderRunFolder(
        join(root, name),
        aggs[i]!,
        { runId: name, shard: { index: i, count: 2 } },
        { extra: { verdict } },
      );
    await write('calm-1', 0, calm);
    await write('calm-2', 1, calm);
    const quiet = await mergeRuns([join(root, 'calm-1'), join(root, 'calm-2')], { outDir: join(root, 'm1') });
    expect(quiet.summary.verdict).toMatchObject({ generatorSaturated: false, reasons: [] });
    await write('late-2', 1, saturated);
    const merged = await mergeRuns([join(root, 'calm-1'), join(root, 'late-2')], { outDir: join(root, 'm2') });
    expect(merged.summary.verdict).toEqual({
      generatorSaturated: true,
      reasons: ['shard 2/2: scheduler lateness p99 up to 850 ms for 6 s'],
      phases: [phase],
      advice: ['more workers'],
      bounds,
    });
    expect(await readFile(join(root, 'm2', 'report.html'), 'utf8')).toContain('id="verdict"');
  });

  it("judges the runs' thresholds again on the merged numbers, with any given besides", async () => {
    const { aggs } = shardedStream(2, 3);
    // Each shard held its threshold alone; the count over the fleet is what is judged after the merge.
    const judgedAs = (agg: MetricsAggregate, text: string) =>
      thresholdsSummary(evaluateThresholds([parseThreshold(text)], buildSummary(agg, { runId: 'x' })));
    const dirs = [
      await writeRun('a', aggs[0]!, { thresholds: judgedAs(aggs[0]!, 'telemetry.count <= 500') }),
      await writeRun('b', aggs[1]!, { thresholds: judgedAs(aggs[1]!, 'telemetry.count <= 500') }),
    ];
    for (const d of dirs)
      expect(JSON.parse(await readFile(join(d, 'summary.json'), 'utf8')).thresholds[0].passed).toBe(true);
    const res = await mergeRuns(dirs, {
      outDir: join(root, 'm'),
      thresholds: [{ text: 'ledger.generated == 900', abortOnFail: false }],
    });
    expect(res.thresholds!.results.map((r) => [r.threshold.text, r.passed, r.actual])).toEqual([
      ['telemetry.count <= 500', false, 900],
      ['ledger.generated == 900', true, 900],
    ]);
    const s = JSON.parse(await readFile(join(res.dir, 'summary.json'), 'utf8'));
    expect(s.thresholds.map((t: { threshold: string; passed: boolean }) => [t.threshold, t.passed])).toEqual([
      ['telemetry.count <= 500', false],
      ['ledger.generated == 900', true],
    ]);
    const junit = await readFile(join(res.dir, 'junit.xml'), 'utf8');
    expect(junit).toContain('<testsuites name="edgefleet" tests="2" failures="1"');
    expect(junit).toContain('<testcase name="telemetry.count &lt;= 500" classname="edgefleet.thresholds">');
    expect(JSON.parse(await readFile(join(res.dir, 'checks.json'), 'utf8')).suites[0].cases).toHaveLength(2);
  });

  it('warns about a missing shard, different seeds and runs that do not overlap, and merges anyway', async () => {
    const a = syntheticAggregate({ seed: 1, seconds: 3 });
    const b = syntheticAggregate({ seed: 2, seconds: 3, t0: SYN_T0 + 60_000 });
    const dirs = [
      await writeRun('a', a, { shard: { index: 0, count: 3 }, seed: 1 }),
      await writeRun('b', b, { shard: { index: 2, count: 3 }, seed: 2 }),
    ];
    const res = await mergeRuns(dirs, { outDir: join(root, 'm') });
    expect(res.warnings).toEqual([
      'shard 2/3 missing: the merged report covers 2 of 3 shards',
      'the runs used different seeds; shards of one fleet need the same seed, or their identities overlap',
      'some runs do not overlap in time; their timeseries sit side by side rather than adding up',
    ]);
    expect(res.summary.seed).toBeNull();
  });

  describe('refuses what would count something twice, saying what to fix', () => {
    it('a folder without aggregate.json', async () => {
      const a = await writeRun('a', syntheticAggregate({ seconds: 2 }));
      const old = join(root, 'old');
      await renderRunFolder(old, syntheticAggregate({ seconds: 2 }), { runId: 'old' });
      await rm(join(old, 'aggregate.json')); // as written before aggregate.json existed
      await expect(mergeRuns([a, old], { outDir: join(root, 'm') })).rejects.toThrow(
        /old: not an edgefleet run folder \(no aggregate\.json\) — runs made before edgefleet \S+ cannot be merged/,
      );
      await mkdir(join(root, 'nothing'));
      await expect(mergeRuns([a, join(root, 'nothing')], { outDir: join(root, 'm') })).rejects.toThrow(
        /not an edgefleet run folder/,
      );
    });

    it('the same folder twice, or a copy of one', async () => {
      const a = await writeRun('a', syntheticAggregate({ seconds: 2 }));
      await expect(mergeRuns([a, `${a}/`], { outDir: join(root, 'm') })).rejects.toThrow(/given twice/);
      const copy = join(root, 'copy');
      await mkdir(copy);
      for (const f of await readdir(a)) await writeFile(join(copy, f), await readFile(join(a, f)));
      await expect(mergeRuns([a, copy], { outDir: join(root, 'm') })).rejects.toThrow(
        /is the same run as .* \(run id a\); merging would count it twice/,
      );
    });

    it('the same shard twice, or shards of different splits', async () => {
      const a = await writeRun('a', syntheticAggregate({ seconds: 2 }), { shard: { index: 0, count: 2 } });
      const b = await writeRun('b', syntheticAggregate({ seconds: 2 }), { shard: { index: 0, count: 2 } });
      const c = await writeRun('c', syntheticAggregate({ seconds: 2 }), { shard: { index: 1, count: 3 } });
      await expect(mergeRuns([a, b], { outDir: join(root, 'm') })).rejects.toThrow(/shard 1\/2 is also in/);
      await expect(mergeRuns([a, c], { outDir: join(root, 'm') })).rejects.toThrow(
        /shards of different splits \(1\/2 in .*, 2\/3 in .*\)/,
      );
    });

    it('one folder, an --out that is an input or already holds files, a broken aggregate.json', async () => {
      const a = await writeRun('a', syntheticAggregate({ seconds: 2 }));
      const b = await writeRun('b', syntheticAggregate({ seconds: 2 }));
      await expect(mergeRuns([a], { outDir: join(root, 'm') })).rejects.toThrow(/merge needs two run folders or more/);
      await expect(mergeRuns([a, b], { outDir: a })).rejects.toThrow(/--out is one of the folders being merged/);
      await mkdir(join(root, 'full'));
      await writeFile(join(root, 'full', 'x'), '');
      await expect(mergeRuns([a, b], { outDir: join(root, 'full') })).rejects.toThrow(
        /already exists and is not empty; choose a new --out folder or add --force/,
      );
      await expect(mergeRuns([a, b], { outDir: join(root, 'full'), force: true })).resolves.toMatchObject({
        dir: join(root, 'full'),
      });
      await writeFile(join(b, 'aggregate.json'), '{"v":1,"ops":');
      await expect(mergeRuns([a, b], { outDir: join(root, 'm2') })).rejects.toThrow(/aggregate\.json: not valid JSON/);
      await writeFile(join(b, 'aggregate.json'), '{"v":2}');
      await expect(mergeRuns([a, b], { outDir: join(root, 'm2') })).rejects.toThrow(/unsupported aggregate version 2/);
    });
  });
});

describe('aggregate.json', () => {
  it('reloads into the same summary: a re-render changes nothing', async () => {
    const agg = syntheticAggregate({ seconds: 15 });
    const meta: RunMeta = {
      scenario: { name: 'quick', groupKey: 'secret==' },
      profile: 'ramp',
      target: 'emulator',
      seed: 3,
      shard: { index: 1, count: 4 },
      reconciliation: { acknowledgedNotReceived: 0 },
    };
    const dir = await writeRun('r', agg, meta);
    const original: RunSummary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8'));
    const run = await readRun(dir);
    expect(run.summary).toEqual(original);
    expect(buildSummary(run.aggregate, run.meta)).toEqual(original);
    expect(run.aggregate.timeseries).toEqual(agg.timeseries);
    expect(JSON.stringify(run.aggregate.toState())).toBe(JSON.stringify(agg.toState()));
  });
});
