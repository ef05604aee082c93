// report.html: built from a synthetic run, opened in headless Chromium, charts checked in the DOM it drew.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetricsAggregate, type TimeseriesRow } from '../../src/metrics/aggregate.js';
import { OPERATIONS } from '../../src/metrics/operations.js';
import { MetricsRecorder } from '../../src/metrics/recorder.js';
import { formatHgrm } from '../../src/report/hgrm.js';
import {
  chartDataFromAggregate,
  curveFromHgrm,
  downsampleRows,
  renderHtmlReport,
  writeHtmlReport,
  type ChartData,
} from '../../src/report/html.js';
import { writeAggregateState } from '../../src/report/read.js';
import { renderHtmlFromFiles, renderRunFolder } from '../../src/report/render.js';
import { buildSummary } from '../../src/report/summary.js';
import type { FaultEventReport } from '../../src/metrics/fault-events.js';
import { systemPeer } from '../support/system-peer.js';
import { SYN_T0, syntheticAggregate } from './synthetic.js';

const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/**
 * Debian's `chromium`, or CHROMIUM=/path; missing, the browser tests skip (or fail with CI set) saying how to get it.
 */
const chromium = systemPeer('chromium');

/** The DOM after the page's script ran (--dump-dom prints it once the load event has fired). */
async function dumpDom(file: string, profileDir: string): Promise<string> {
  const bin = chromium.path!;
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      [...CHROMIUM_FLAGS, `--user-data-dir=${profileDir}`, '--dump-dom', pathToFileURL(file).href],
      { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${bin} failed: ${err.message}\n${stderr.slice(-2000)}`));
        else resolve(stdout);
      },
    );
  });
}

interface Figure {
  attrs: Record<string, string>;
  paths: { series: string; points: number; commands: number }[];
}

function attrsOf(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([\w:-]+)="([^"]*)"/g)) out[m[1]!] = m[2]!;
  return out;
}

/** Figures by id, with the paths drawn inside each. */
function figures(dom: string): Map<string, Figure> {
  const out = new Map<string, Figure>();
  for (const m of dom.matchAll(/<figure\b([^>]*)>([\s\S]*?)<\/figure>/g)) {
    const attrs = attrsOf(m[1]!);
    const paths = [...m[2]!.matchAll(/<path\b([^>]*)>/g)].map((p) => {
      const a = attrsOf(p[1]!);
      return {
        series: a['data-series'] ?? '',
        points: Number(a['data-points']),
        commands: (a.d ?? '').match(/[ML]/g)?.length ?? 0,
      };
    });
    out.set(attrs.id ?? '', { attrs, paths });
  }
  return out;
}

const bodyAttrs = (dom: string) => attrsOf(/<body\b([^>]*)>/.exec(dom)?.[1] ?? '');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgefleet-html-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const XSS = '</script><img src=x onerror="document.title=1">';

describe.skipIf(chromium.missing)('report.html in headless Chromium', () => {
  it('draws percentile curves (corrected and raw) for each operation with data, and the time charts', async () => {
    const agg = syntheticAggregate({ seconds: 40 });
    // A message that would break out of a <script> or inject markup if it were not escaped.
    const w = new MetricsRecorder(SYN_T0);
    w.recordError('protocol', `bad packet ${XSS}`);
    agg.add('x', w.snapshot(SYN_T0 + 39_500));
    agg.flush();
    const summary = buildSummary(agg, {
      runId: 'run-html',
      scenario: { name: `demo ${XSS}` },
      profile: 'ramp',
      target: 'emulator',
    });
    const file = await writeHtmlReport(dir, summary, agg, {
      checks: [
        { name: 'edgefleet', cases: [{ name: 'telemetry.p99 < 200ms', failure: { message: 'p99 was 279 ms' } }] },
      ],
    });

    const dom = await dumpDom(file, join(dir, 'profile'));
    expect(bodyAttrs(dom)['data-error'], 'the page script threw').toBeUndefined();
    const figs = figures(dom);

    const withData = OPERATIONS.filter((op) => (agg.histogram(op)?.totalCount ?? 0) > 0);
    expect(withData).toEqual(['provision', 'connect', 'telemetry', 'twinGet']);
    for (const op of withData) {
      const f = figs.get(`chart-latency-${op}`);
      expect(f, `no latency chart for ${op}`).toBeDefined();
      expect(f!.attrs['data-drawn'], op).toBe('true');
      expect(f!.paths.map((p) => p.series)).toEqual(['corrected', 'raw']);
      // As many points as the .hgrm file has rows below 100%, each one a path command.
      const expected = curveFromHgrm(formatHgrm(agg.histogram(op)!)).length;
      expect(expected).toBeGreaterThan(5);
      expect(f!.paths[0]!.points, op).toBe(expected);
      for (const p of f!.paths) expect(p.commands, `${op} ${p.series}`).toBe(p.points);
    }
    for (const op of OPERATIONS.filter((o) => !withData.includes(o)))
      expect(figs.has(`chart-latency-${op}`), op).toBe(false);

    const rows = agg.timeseries.length;
    expect(rows).toBeGreaterThanOrEqual(40);
    for (const [id, series] of [
      ['chart-throughput', ['generated/s', 'acknowledged/s']],
      ['chart-connected', ['connected']],
      ['chart-errors', ['errors/s', 'throttled/s', 'failed messages/s']],
    ] as const) {
      const f = figs.get(id)!;
      expect(f.attrs['data-drawn'], id).toBe('true');
      expect(f.paths.map((p) => p.series)).toEqual(series);
      for (const p of f.paths) expect(p.points, `${id} ${p.series}`).toBe(rows);
    }
    expect(bodyAttrs(dom)['data-charts-drawn']).toBe(String(withData.length + 3));

    // Escaped text, not markup: no injected element, the title untouched.
    expect(dom).not.toMatch(/<img src="?x/);
    expect(dom).toContain('bad packet &lt;/script&gt;&lt;img src=x');
    expect(dom).toContain('<title>edgefleet run run-html</title>');
    expect(dom).toContain('p99 was 279 ms');
  });

  it('says "no data" instead of drawing when a run recorded nothing', async () => {
    const agg = new MetricsAggregate();
    const sub = join(dir, 'empty');
    const summary = buildSummary(agg, { runId: 'run-empty', startedAt: SYN_T0, endedAt: SYN_T0 });
    const file = await writeHtmlReport(sub, summary, agg);
    const dom = await dumpDom(file, join(dir, 'profile-empty'));
    expect(bodyAttrs(dom)['data-error']).toBeUndefined();
    const figs = figures(dom);
    expect([...figs.keys()].filter((k) => k.startsWith('chart-latency-'))).toEqual([]);
    for (const id of ['chart-throughput', 'chart-connected', 'chart-errors']) {
      expect(figs.get(id)!.attrs['data-drawn'], id).toBe('empty');
      expect(figs.get(id)!.paths).toEqual([]);
    }
    expect(dom).toContain('No operation recorded a latency.');
  });

  it('marks each profile event on the time charts: where it happened, shaded until the fleet was whole', async () => {
    const agg = syntheticAggregate({ seconds: 30 });
    type Kind = FaultEventReport['kind'];
    const event = (index: number, kind: Kind, atMs: number, wholeAfterMs: number | null): FaultEventReport => ({
      index,
      kind,
      spec: {},
      atMs,
      at: new Date(SYN_T0 + atMs).toISOString(),
      startedAtMs: SYN_T0 + atMs,
      before: { identities: 10, connections: 10 },
      tookAway: { identities: 5, connections: 5 },
      lowestConnected: 5,
      wholeAfterMs,
      window: null,
      ledger: null,
      errors: {},
    });
    const summary = {
      ...buildSummary(agg, { runId: 'run-events' }),
      events: [event(0, 'networkDrop', 8000, 3000), event(1, 'targetRestart', 20_000, null)],
    };
    const file = await writeHtmlReport(join(dir, 'events'), summary, agg);
    const dom = await dumpDom(file, join(dir, 'profile-events'));
    expect(bodyAttrs(dom)['data-error'], 'the page script threw').toBeUndefined();
    for (const id of ['chart-throughput', 'chart-connected', 'chart-errors']) {
      const fig = new RegExp(`<figure\\b[^>]*id="${id}"[^>]*>([\\s\\S]*?)</figure>`).exec(dom)![1]!;
      expect(fig, id).toMatch(/<svg[^>]*data-events="2"/);
      expect(fig.match(/class="event-line"/g), id).toHaveLength(2);
      const spans = [...fig.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)"[^>]*class="event-span"/g)].map((m) =>
        Number(m[1]),
      );
      expect(spans).toHaveLength(2);
      // The restart was never whole: shaded to the end of the chart, wider than the drop's 3 s.
      expect(spans[1]!).toBeGreaterThan(spans[0]!);
      expect(fig).toContain('networkDrop #0');
      expect(fig).toContain('targetRestart #1');
    }
    // Latency charts have no time axis: no marks there.
    const latency = /<figure\b[^>]*id="chart-latency-telemetry"[^>]*>([\s\S]*?)<\/figure>/.exec(dom)![1];
    expect(latency).not.toContain('event-line');
  });
});

describe('report.html as a file', () => {
  const agg = syntheticAggregate({ seconds: 12 });
  const summary = buildSummary(agg, {
    runId: 'run-file',
    scenario: { name: 'quick', groupKey: 'c2VjcmV0LWdyb3VwLWtleQ==', fleet: [{ count: 3 }] },
    profile: { name: 'ramp', stages: [{ duration: '1m', rate: 10 }] },
    target: 'emulator',
  });
  const html = renderHtmlReport(summary, chartDataFromAggregate(agg));

  it('is self-contained: nothing to fetch, and a policy that forbids fetching', () => {
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'none';/);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).not.toMatch(/\bsrc\s*=/i);
    expect(html).not.toMatch(/@import|url\(/i);
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  });

  it('echoes the scenario and profile from the summary, redacted as the summary has them', () => {
    expect(html).toContain('[redacted]');
    expect(html).not.toContain('c2VjcmV0LWdyb3VwLWtleQ==');
    expect(html).toContain('&quot;stages&quot;');
    expect(html).toContain('<dd>quick</dd>');
  });

  it('shows the ledger with its balance and errors by class with the latest message', () => {
    const l = summary.ledger;
    expect(html).toContain(
      `generated <b>${l.generated}</b> = acknowledged <b>${l.acknowledged}</b> + failed <b>${l.failed}</b>`,
    );
    expect(html).toContain('<span class="good">balanced</span>');
    expect(html).toMatch(
      /<th scope="row">network<\/th><td class="num">2<\/td><td>connect 2<\/td><td class="msg">ECONNRESET<\/td>/,
    );

    const unbalanced = {
      ...summary,
      ledger: { ...l, acknowledged: l.generated + 5, inFlight: -5 - l.failed, balanced: false },
    };
    expect(renderHtmlReport(unbalanced, chartDataFromAggregate(agg))).toContain('UNBALANCED');
  });

  it('embeds numbers only, and nothing can close its data <script>', () => {
    const data = /<script type="application\/json" id="edgefleet-data">([\s\S]*?)<\/script>/.exec(html)![1]!;
    expect(data).not.toContain('<');
    const parsed = JSON.parse(data);
    expect(parsed.ops.map((o: { op: string }) => o.op)).toEqual(['provision', 'connect', 'telemetry', 'twinGet']);
    expect(parsed.timeseries.t).toHaveLength(12);
  });
});

describe('chart data', () => {
  it('takes the .hgrm rows below 100% as curve points', () => {
    const h = syntheticAggregate({ seconds: 3 }).histogram('telemetry')!;
    const text = formatHgrm(h);
    const rows = text.split('\n').filter((l) => /^\s+\d/.test(l));
    const curve = curveFromHgrm(text);
    expect(curve).toHaveLength(rows.length - 1);
    expect(curve[0]![0]).toBe(0);
    expect(curve.every(([p]) => p < 1)).toBe(true);
    expect(curve.at(-1)![1]).toBeLessThanOrEqual(h.maxValue / 1000 + 0.001);
    for (let i = 1; i < curve.length; i++) expect(curve[i]![1]).toBeGreaterThanOrEqual(curve[i - 1]![1]);
  });

  it('joins timeseries rows past the limit without losing counts', () => {
    const rows: TimeseriesRow[] = Array.from({ length: 5001 }, (_, i) => ({
      t: SYN_T0 + i * 1000,
      seconds: 1,
      generated: i % 7,
      acknowledged: i % 5,
      failed: i % 3,
      errors: i % 2,
      connected: i,
    }));
    const out = downsampleRows(rows, 2000);
    expect(out.length).toBeLessThanOrEqual(2000);
    for (const k of ['generated', 'acknowledged', 'failed', 'errors'] as const) {
      expect(out.reduce((n, r) => n + r[k], 0)).toBe(rows.reduce((n, r) => n + r[k], 0));
    }
    expect(out.reduce((n, r) => n + r.seconds, 0)).toBe(5001);
    expect(out.at(-1)!.connected).toBe(5000);
    expect(downsampleRows(rows.slice(0, 10), 2000)).toEqual(rows.slice(0, 10));
  });

  it('renders the same charts from an old folder (summary.json, .hgrm, timeseries.csv) as from the aggregate', async () => {
    const agg = syntheticAggregate({ seconds: 8 });
    const sub = join(dir, 'old-run');
    const { summary } = await renderRunFolder(sub, agg, { runId: 'old-run' });
    await rm(join(sub, 'aggregate.json')); // as written before aggregate.json existed
    const fromFiles = await renderHtmlFromFiles(sub);
    const a = extractData(await readFile(fromFiles, 'utf8'));
    const b = extractData(renderHtmlReport(summary, chartDataFromAggregate(agg)));
    expect(a).toEqual(b);

    // And with aggregate.json beside them, the same again.
    await writeAggregateState(sub, agg);
    await writeFile(join(sub, 'report.html'), '');
    const loaded = MetricsAggregate.fromState(JSON.parse(await readFile(join(sub, 'aggregate.json'), 'utf8')));
    expect(extractData(renderHtmlReport(summary, chartDataFromAggregate(loaded)))).toEqual(b);
  });
});

function extractData(html: string): ChartData {
  return JSON.parse(/<script type="application\/json" id="edgefleet-data">([\s\S]*?)<\/script>/.exec(html)![1]!);
}
