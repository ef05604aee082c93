// report.html: one self-contained page (inline CSS, data and drawing script; a CSP forbids any fetch) with
// HdrHistogram-style percentile curves, throughput, connected identities and errors over time, the ledger,
// errors by class and the scenario/profile echo. Text comes only from summary.json (already redacted);
// from the aggregate only numbers are taken (percentile curves and timeseries counts).
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MetricsAggregate, type TimeseriesRow } from '../metrics/aggregate.js';
import { ERROR_CLASSES, OPERATIONS, type Operation } from '../metrics/operations.js';
import { formatMs } from './console.js';
import { formatHgrm } from './hgrm.js';
import type { JUnitSuite } from './junit.js';
import { writeAtomic } from './read.js';
import { eventTitle, limitsLines, targetText, tookAwayText, wholeText, windowText } from './events.js';
import type { OperationSummary, RunSummary } from './summary.js';
import { verdictTitle } from './verdict.js';

export const HTML_FILE = 'report.html';
/** Timeseries rows beyond this are joined (sums over a wider span) so a day-long soak stays a light page. */
export const MAX_TIMESERIES_POINTS = 2000;

/**
 * [percentile as a fraction in [0, 1), latency ms], as in an .hgrm file; the 100% row has no place on a 1/(1-p)
 * axis.
 */
export type CurvePoint = [number, number];

export interface ChartData {
  ops: { op: Operation; count: number; corrected: CurvePoint[]; raw: CurvePoint[] }[];
  timeseries: TimeseriesRow[];
}

/** The .hgrm text's rows as curve points (what HdrHistogram's plotter reads). */
export function curveFromHgrm(text: string): CurvePoint[] {
  const out: CurvePoint[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)\s+\d+/.exec(line);
    if (!m) continue;
    const p = Number(m[2]);
    if (p < 1) out.push([p, Number(m[1])]);
  }
  return out;
}

export function chartDataFromAggregate(aggregate: MetricsAggregate): ChartData {
  const ops: ChartData['ops'] = [];
  for (const op of OPERATIONS) {
    const c = aggregate.histogram(op, 'corrected');
    const r = aggregate.histogram(op, 'raw');
    if (!c || c.totalCount === 0) continue;
    ops.push({
      op,
      count: c.totalCount,
      corrected: curveFromHgrm(formatHgrm(c)),
      raw: r && r.totalCount > 0 ? curveFromHgrm(formatHgrm(r)) : [],
    });
  }
  return { ops, timeseries: [...aggregate.timeseries] };
}

/** Joins runs of consecutive rows so at most `max` remain; counts add, `connected` is the last of each run. */
export function downsampleRows(rows: readonly TimeseriesRow[], max = MAX_TIMESERIES_POINTS): TimeseriesRow[] {
  if (rows.length <= max) return rows.map((r) => ({ ...r }));
  const k = Math.ceil(rows.length / max);
  const out: TimeseriesRow[] = [];
  for (let i = 0; i < rows.length; i += k) {
    const chunk = rows.slice(i, i + k);
    const first = chunk[0]!;
    const last = chunk[chunk.length - 1]!;
    out.push({
      t: first.t,
      seconds: (last.t - first.t) / 1000 + last.seconds,
      generated: sum(chunk, 'generated'),
      acknowledged: sum(chunk, 'acknowledged'),
      failed: sum(chunk, 'failed'),
      errors: sum(chunk, 'errors'),
      throttled: sum(chunk, 'throttled'),
      connected: last.connected,
    });
  }
  return out;
}

const sum = (rows: readonly TimeseriesRow[], k: 'generated' | 'acknowledged' | 'failed' | 'errors' | 'throttled') =>
  rows.reduce((n, r) => n + (r[k] ?? 0), 0);

export interface HtmlReportOptions {
  /** Threshold and smoke-check results, shown at the top. */
  checks?: readonly JUnitSuite[];
  /** Shown in the footer, e.g. "edgefleet 0.1.0". */
  generator?: string;
}

/** Writes `<dir>/report.html` from the summary (text) and the aggregate (curves, timeseries); returns its path. */
export async function writeHtmlReport(
  dir: string,
  summary: RunSummary,
  aggregate: MetricsAggregate | ChartData,
  options: HtmlReportOptions = {},
): Promise<string> {
  const data = aggregate instanceof MetricsAggregate ? chartDataFromAggregate(aggregate) : aggregate;
  const path = join(resolve(dir), HTML_FILE);
  await mkdir(resolve(dir), { recursive: true });
  await writeAtomic(path, renderHtmlReport(summary, data, options));
  return path;
}

/** The numbers the page's charts draw: latency curves, the timeseries, and the profile's events as marks. */
function chartPayload(summary: RunSummary, data: ChartData) {
  const ts = downsampleRows(data.timeseries);
  const t0 = ts[0]?.t ?? 0;
  return {
    v: 1,
    ops: data.ops.map((o) => ({
      op: o.op,
      count: o.count,
      corrected: o.corrected.map(roundPoint),
      raw: o.raw.map(roundPoint),
    })),
    timeseries: {
      t0,
      t: ts.map((r) => r.t - t0),
      seconds: ts.map((r) => r.seconds),
      generated: ts.map((r) => r.generated),
      acknowledged: ts.map((r) => r.acknowledged),
      failed: ts.map((r) => r.failed),
      errors: ts.map((r) => r.errors),
      throttled: ts.map((r) => r.throttled ?? 0),
      connected: ts.map((r) => r.connected),
    },
    // Marks on the time charts: from the event to the fleet being whole again (or the end), ms after t0.
    events: (summary.events ?? [])
      .filter((e) => e.startedAtMs !== null)
      .map((e) => ({
        label: `${e.kind} #${e.index}`,
        t: (e.startedAtMs ?? t0) - t0,
        until: e.wholeAfterMs === null ? null : (e.startedAtMs ?? t0) + e.wholeAfterMs - t0,
      })),
  };
}

/** The page's sections: checks, latency, load, events, errors, ledger, load generator, scenario and profile. */
function renderSections(summary: RunSummary, data: ChartData, options: HtmlReportOptions): string {
  const opsWithCurves = data.ops.filter((o) => o.corrected.length > 0 || o.raw.length > 0);
  return `${options.checks && options.checks.length > 0 ? renderChecks(options.checks) : ''}
<section id="latency">
<h2>Latency</h2>
${renderLatencyTable(summary)}
<p class="note">Corrected: from when the operation <em>should</em> have started (coordinated omission corrected, like wrk2). Raw: from when it <em>did</em> start. The gap between the two curves is queueing the fleet would have suffered. The x axis is 1/(1&minus;percentile) on a log scale, as in HdrHistogram's plotter.</p>
<div class="charts">
${opsWithCurves.length === 0 ? '<p class="empty">No operation recorded a latency.</p>' : opsWithCurves.map((o) => chartFigure('latency', o.op, `${o.op} — ${o.count} samples`)).join('\n')}
</div>
</section>
<section id="load">
<h2>Throughput and connections</h2>
<div class="charts">
${chartFigure('throughput', undefined, 'Messages per second')}
${chartFigure('connected', undefined, 'Connected identities')}
</div>
</section>
${renderEvents(summary)}
<section id="errors">
<h2>Errors</h2>
<div class="charts">${chartFigure('errors', undefined, 'Errors, of which throttled, and failed messages per second')}</div>
${renderErrors(summary)}
</section>
<section id="ledger">
<h2>Message ledger</h2>
${renderLedger(summary)}
</section>
<section id="runtime">
<h2>Load generator</h2>
${renderRuntime(summary)}
</section>
<section id="config">
<h2>Scenario and profile</h2>
${renderEcho('Scenario', summary.scenario)}
${renderEcho('Profile', summary.profile)}
${renderEcho('Target', summary.target)}
</section>`;
}

export function renderHtmlReport(summary: RunSummary, data: ChartData, options: HtmlReportOptions = {}): string {
  // Numbers only: the page's script reads this; every string a person sees is rendered below, escaped.
  const payload = chartPayload(summary, data);
  const title = `edgefleet run ${summary.runId}`;

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="${h(options.generator ?? 'edgefleet')}">
<title>${h(title)}</title>
<style>${CSS}</style>
</head>
<body data-run-id="${h(summary.runId)}">
<header>
${renderVerdictBanner(summary)}
<h1>${h(title)}</h1>
${renderRunFacts(summary)}
<noscript><p class="warn">Charts need JavaScript; the tables below do not.</p></noscript>
</header>
<main>
${renderSections(summary, data, options)}
</main>
<footer>Generated by ${h(options.generator ?? 'edgefleet')}. Latency in ms; recorded with HdrHistogram at ${h(String(summary.recording?.significantDigits ?? 3))} significant digits.</footer>
<script type="application/json" id="edgefleet-data">${jsonForScript(payload)}</script>
<script>${CLIENT_JS}</script>
</body>
</html>
`;
}

/** At the very top when the load generator limited the run: what was seen and what to do. */
function renderVerdictBanner(summary: RunSummary): string {
  const v = summary.verdict;
  if (v?.generatorSaturated !== true) return '';
  const reasons = v.reasons.map((r) => `<li>${h(r)}</li>`).join('');
  const advice = v.advice.map((a) => `<li>${h(a)}</li>`).join('');
  return (
    `<div class="verdict" id="verdict" role="alert"><strong>${h(verdictTitle(v))}.</strong> ` +
    `The latency and throughput below include the generator's own delay.<ul>${reasons}</ul>` +
    `What to do:<ul>${advice}</ul></div>`
  );
}

const roundPoint = ([p, v]: CurvePoint): CurvePoint => [Number(p.toPrecision(12)), Math.round(v * 1000) / 1000];

/** JSON inside <script>: "<" escaped so no string can close the element; U+2028/9 for old parsers. */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** HTML text and attribute escaping. */
export function h(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function chartFigure(kind: string, op: string | undefined, caption: string): string {
  const id = op === undefined ? `chart-${kind}` : `chart-${kind}-${op}`;
  return `<figure class="chart" id="${h(id)}" data-chart="${h(kind)}"${op === undefined ? '' : ` data-op="${h(op)}"`}><figcaption>${h(caption)}</figcaption><div class="plot"></div></figure>`;
}

const display = (v: unknown): string => {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
};

function renderRunFacts(s: RunSummary): string {
  const shard =
    s.shard === null || s.shard === undefined
      ? null
      : typeof s.shard === 'string'
        ? s.shard
        : `${s.shard.index + 1}/${s.shard.count}`;
  const facts: [string, string][] = [
    ['Started', s.startedAt],
    ['Ended', s.endedAt],
    ['Duration', `${s.durationSeconds.toFixed(1)} s`],
    ['Scenario', typeof s.scenario === 'string' ? s.scenario : nameOf(s.scenario)],
    ['Profile', typeof s.profile === 'string' ? s.profile : nameOf(s.profile)],
    ['Target', typeof s.target === 'string' ? s.target : nameOf(s.target)],
    ['Seed', display(s.seed)],
  ];
  if (shard !== null) facts.push(['Shard', shard]);
  return `<dl class="facts">${facts.map(([k, v]) => `<div><dt>${h(k)}</dt><dd>${h(v)}</dd></div>`).join('')}</dl>`;
}

function nameOf(v: unknown): string {
  if (v && typeof v === 'object' && typeof (v as { name?: unknown }).name === 'string')
    return (v as { name: string }).name;
  if (v && typeof v === 'object' && typeof (v as { kind?: unknown }).kind === 'string')
    return (v as { kind: string }).kind;
  return v === null || v === undefined ? '—' : 'see below';
}

function renderChecks(suites: readonly JUnitSuite[]): string {
  const cases = suites.flatMap((s) => s.cases.map((c) => ({ suite: s.name, ...c })));
  const failed = cases.filter((c) => c.failure).length;
  const rows = cases.map((c) => {
    const status = c.failure
      ? '<span class="bad">failed</span>'
      : c.skipped
        ? '<span class="dim">skipped</span>'
        : '<span class="good">passed</span>';
    const why = c.failure
      ? `${h(c.failure.message)}${c.failure.detail ? `<pre>${h(c.failure.detail)}</pre>` : ''}`
      : c.skipped
        ? h(c.skipped.message)
        : '';
    return `<tr><td>${status}</td><td>${h(c.name)}</td><td>${h(c.classname ?? c.suite)}</td><td>${why}</td></tr>`;
  });
  return `<section id="checks"><h2>Checks <span class="${failed ? 'bad' : 'good'}">${failed ? `${failed} of ${cases.length} failed` : `all ${cases.length} passed`}</span></h2>
<table><thead><tr><th>result</th><th>check</th><th>suite</th><th>detail</th></tr></thead><tbody>${rows.join('')}</tbody></table></section>`;
}

function renderLatencyTable(s: RunSummary): string {
  const rows: string[] = [];
  for (const op of OPERATIONS) {
    const o: OperationSummary | undefined = s.operations?.[op];
    if (!o || o.count === 0) continue;
    const cells = (x: {
      p50: number | null;
      p95: number | null;
      p99: number | null;
      p999?: number | null;
      max: number | null;
      mean?: number | null;
    }) =>
      [x.p50, x.p95, x.p99, x.p999 ?? null, x.max, x.mean ?? null]
        .map((v) => `<td class="num">${h(formatMs(v))}</td>`)
        .join('');
    rows.push(`<tr><th scope="row">${h(op)}</th><td class="num">${o.count}</td><td>corrected</td>${cells(o)}</tr>`);
    rows.push(`<tr class="raw"><th scope="row"></th><td></td><td>raw</td>${cells(o.raw)}</tr>`);
  }
  if (rows.length === 0) return '<p class="empty">No operations recorded.</p>';
  return `<table class="latency"><thead><tr><th>operation</th><th>count</th><th>measured</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>mean ms</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function renderErrors(s: RunSummary): string {
  const classes = ERROR_CLASSES.filter((c) => (s.errors?.[c]?.count ?? 0) > 0);
  if (classes.length === 0) return '<p class="good">No errors.</p>';
  const rows = classes.map((c) => {
    const e = s.errors[c];
    const byOp = Object.entries(e.byOperation ?? {})
      .map(([op, n]) => `${op} ${n}`)
      .join(', ');
    return `<tr><th scope="row">${h(c)}</th><td class="num">${e.count}</td><td>${h(byOp || '—')}</td><td class="msg">${h(e.lastMessage ?? '—')}</td><td>${h(e.lastOperation ?? '—')}</td><td>${h(e.lastAt ?? '—')}</td></tr>`;
  });
  return `<table class="errors"><thead><tr><th>class</th><th>count</th><th>by operation</th><th>latest message</th><th>operation</th><th>at</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function renderLedger(s: RunSummary): string {
  const l = s.ledger;
  const verdict = l.balanced
    ? '<span class="good">balanced</span>'
    : `<span class="bad">UNBALANCED: ${-l.inFlight} more settled than generated</span>`;
  const terms: [string, number][] = [
    ['acknowledged', l.acknowledged],
    ['failed', l.failed],
    ['expired', l.expired],
    ['dropped by route', l.dropped],
    ['in flight at the end', l.inFlight],
  ];
  const rec = s.reconciliation;
  const recRows = rec
    ? Object.entries(rec)
        .map(
          ([k, v]) =>
            `<tr><th scope="row">${h(k)}</th><td class="num${k === 'acknowledgedNotReceived' && typeof v === 'number' && v > 0 ? ' bad' : ''}">${h(display(v))}</td></tr>`,
        )
        .join('')
    : '';
  return `<p class="equation">generated <b>${l.generated}</b> = ${terms.map(([k, v]) => `${h(k)} <b>${v}</b>`).join(' + ')} &nbsp; ${verdict}</p>
<table class="ledger"><tbody>
<tr><th scope="row">generated</th><td class="num">${l.generated}</td></tr>
${terms.map(([k, v]) => `<tr><th scope="row">${h(k)}</th><td class="num">${v}</td></tr>`).join('\n')}
<tr class="dim"><th scope="row">still stored, unsent (store and forward; part of in flight)</th><td class="num">${l.stored}</td></tr>
<tr class="dim"><th scope="row">delivered late, after being stored (part of acknowledged)</th><td class="num">${l.deliveredLate}</td></tr>
<tr class="dim"><th scope="row">resent after a connection loss (not new messages; the target may have them twice)</th><td class="num">${l.resent}</td></tr>
</tbody></table>
${rec ? `<h3>Reconciliation with the target</h3><table class="reconciliation"><tbody>${recRows}</tbody></table>` : ''}`;
}

/** One section per profile event: when, what it took away, how long until the fleet was whole, its window. */
function renderEvents(s: RunSummary): string {
  const events = s.events ?? [];
  if (events.length === 0) return '';
  const row = (k: string, v: string, cls = '') =>
    `<tr><th scope="row">${h(k)}</th><td${cls ? ` class="${cls}"` : ''}>${h(v)}</td></tr>`;
  const rows = (e: (typeof events)[number]) => {
    const target = targetText(e);
    return [
      row('happened', e.at ?? 'no'),
      row('took away', tookAwayText(e)),
      target === undefined ? '' : row('target', target, e.target?.error === undefined ? '' : 'bad'),
      row('whole again', wholeText(e), e.wholeAfterMs === null ? 'bad' : 'good'),
      row('over its window', windowText(e)),
    ].join('');
  };
  const sections = events.map((e) => {
    const whole = e.wholeAfterMs === null ? '' : ` data-whole-after-ms="${e.wholeAfterMs}"`;
    return (
      `<div class="event" data-event="${e.index}" data-kind="${h(e.kind)}"${whole}><h3>${h(eventTitle(e))}</h3>` +
      `<table><tbody>${rows(e)}</tbody></table></div>`
    );
  });
  return `<section id="events">
<h2>Events</h2>
${sections.join('\n')}
<p class="note">Whole again: every worker had as many identities connected and connections open as just before the
event. The window runs from the event to the second after the fleet was whole (or to the end of the run); lost =
failed + expired in it. Shaded on the time charts.</p>
</section>`;
}

function renderRuntime(s: RunSummary): string {
  const lt = s.scheduler?.lateness;
  const rec = s.recording;
  const gauges = Object.entries(s.gauges ?? {});
  const limits = limitsLines(s.limits);
  return `<table><tbody>
${limits
  .map(
    (line) =>
      `<tr><th scope="row">limits</th><td${/^limit reached/.test(line) ? ' class="bad"' : ''}>` +
      `${h(line)}</td></tr>`,
  )
  .join('\n')}
<tr><th scope="row">scheduler lateness</th><td>${lt && lt.count > 0 ? `p50 ${h(formatMs(lt.p50))} ms, p99 ${h(formatMs(lt.p99))} ms, max ${h(formatMs(lt.max))} ms over ${lt.count} timers` : '—'}</td></tr>
<tr><th scope="row">samples refused / clamped</th><td${rec && rec.rejectedSamples + rec.clampedSamples > 0 ? ' class="bad"' : ''}>${rec ? `${rec.rejectedSamples} / ${rec.clampedSamples}` : '—'}</td></tr>
<tr><th scope="row">identities at the end</th><td>${gauges.length === 0 ? '—' : h(gauges.map(([k, v]) => `${k} ${v}`).join(', '))}</td></tr>
</tbody></table>
<p class="note">A late scheduler means the load generator itself fell behind; corrected latency then includes its delay.</p>`;
}

function renderEcho(label: string, value: unknown): string {
  if (value === null || value === undefined) return `<h3>${h(label)}</h3><p class="dim">not recorded</p>`;
  const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
  return `<h3>${h(label)}</h3><pre class="echo">${h(text)}</pre>`;
}

const CSS = `
:root{--fg:#1b1f24;--dim:#667;--bg:#fff;--panel:#f6f8fa;--line:#d0d7de;--good:#1a7f37;--bad:#cf222e}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--dim:#8b949e;--bg:#0d1117;--panel:#161b22;--line:#30363d;--good:#3fb950;--bad:#f85149}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header,main,footer{max-width:1200px;margin:0 auto;padding:0 20px}
h1{font-size:22px;margin:20px 0 8px}h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
.facts{display:flex;flex-wrap:wrap;gap:6px 22px;margin:0}.facts dt{color:var(--dim);font-size:12px}.facts dd{margin:0;font-weight:600}
table{border-collapse:collapse;margin:6px 0}th,td{padding:3px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}tr.raw td,tr.raw th,.dim{color:var(--dim)}
td.msg{max-width:480px;word-break:break-word;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.verdict{margin:16px 0 0;padding:10px 14px;border:2px solid var(--bad);border-radius:6px;color:var(--bad)}
.good{color:var(--good)}.bad{color:var(--bad)}.warn{color:var(--bad)}.note{color:var(--dim);font-size:12px;max-width:900px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:14px}
figure.chart{margin:0;background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:8px}
figcaption{font-weight:600;margin-bottom:4px}
.legend{display:flex;gap:12px;font-size:12px;margin:2px 0 4px}.legend button{background:none;border:0;color:inherit;cursor:pointer;font:inherit;padding:0}
.legend button.off{opacity:.35}.swatch{display:inline-block;width:18px;height:0;border-top:3px solid;vertical-align:middle;margin-right:5px}
svg.plot-svg{width:100%;height:auto;display:block}svg text{fill:var(--dim);font-size:13px}
.axis line,.grid line{stroke:var(--line)}.tip rect{fill:var(--bg);stroke:var(--line)}.tip text{fill:var(--fg)}
pre.echo{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:10px;overflow:auto;max-height:480px;font-size:12px}
footer{color:var(--dim);font-size:12px;margin:30px auto 20px}
.event-span{fill:#f2a900;opacity:.12}.event-line{stroke:#f2a900;stroke-width:1.5;stroke-dasharray:4 3}
svg text.event-label{fill:#b07800;font-size:11px}
`;

// The drawing script, shipped as text. Plain ES2017, no template literals (this is one), no libraries.
const CLIENT_JS = String.raw`
(function () {
  'use strict';
  var NS = 'http://www.w3.org/2000/svg';
  var body = document.body;
  window.addEventListener('error', function (e) { body.setAttribute('data-error', String(e.message)); });
  var data = JSON.parse(document.getElementById('edgefleet-data').textContent);
  var W = 720, H = 330, M = { l: 62, r: 34, t: 12, b: 46 };
  var COLORS = { corrected: '#1f77b4', raw: '#ff7f0e', generated: '#1f77b4', acknowledged: '#2ca02c', connected: '#9467bd', errors: '#d62728', failed: '#8c564b', throttled: '#e6a100' };

  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, String(attrs[k]));
    if (parent) parent.appendChild(e);
    return e;
  }
  function niceStep(span, ticks) {
    var raw = span / ticks, mag = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10)), n = raw / mag;
    return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag;
  }
  function fmtNum(v) {
    var a = Math.abs(v);
    if (a === 0) return '0';
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
    if (a >= 1e4) return (v / 1e3).toFixed(a >= 1e5 ? 0 : 1) + 'k';
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return String(Number(v.toFixed(1)));
    if (a >= 1) return String(Number(v.toFixed(2)));
    return String(Number(v.toPrecision(2)));
  }
  function fmtMs(v) {
    var a = Math.abs(v);
    return v.toFixed(a >= 1000 ? 0 : a >= 100 ? 1 : a >= 10 ? 2 : 3);
  }
  function fmtPct(x) {
    var p = 100 * (1 - Math.pow(10, -x));
    return p.toFixed(Math.max(0, Math.ceil(x - 1e-9) - 2)) + '%';
  }
  function fmtElapsed(s) {
    s = Math.round(s);
    var hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
    var two = function (n) { return (n < 10 ? '0' : '') + n; };
    return hh > 0 ? hh + ':' + two(mm) + ':' + two(ss) : mm + ':' + two(ss);
  }
  var TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

  // spec: { kind: 'percentile'|'time', series: [{ label, color, dash, xs, ys, breaks }], yUnit }
  function draw(fig, spec) {
    var plot = fig.querySelector('.plot');
    var maxX = 0, maxY = 0, total = 0;
    spec.series.forEach(function (s) {
      total += s.xs.length;
      for (var i = 0; i < s.xs.length; i++) { if (s.xs[i] > maxX) maxX = s.xs[i]; if (s.ys[i] > maxY) maxY = s.ys[i]; }
    });
    if (total === 0) {
      plot.textContent = 'no data';
      fig.setAttribute('data-drawn', 'empty');
      return;
    }
    var x0 = 0, x1;
    if (spec.kind === 'percentile') x1 = Math.min(7, Math.max(5, Math.ceil(maxX)));
    else x1 = Math.max(maxX, 1);
    var yStep = niceStep(maxY > 0 ? maxY : 1, 5), y1 = Math.ceil((maxY > 0 ? maxY : 1) / yStep) * yStep;
    var pw = W - M.l - M.r, ph = H - M.t - M.b;
    var sx = function (x) { return M.l + (Math.min(x, x1) - x0) / (x1 - x0) * pw; };
    var sy = function (y) { return M.t + ph - y / y1 * ph; };

    var legend = document.createElement('div');
    legend.className = 'legend';
    plot.appendChild(legend);
    var svg = el('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'plot-svg', role: 'img', 'aria-label': fig.querySelector('figcaption').textContent }, plot);
    var grid = el('g', { class: 'grid' }, svg);
    var axis = el('g', { class: 'axis' }, svg);
    for (var y = 0; y <= y1 + yStep / 2; y += yStep) {
      el('line', { x1: M.l, x2: W - M.r, y1: sy(y), y2: sy(y) }, grid);
      el('text', { x: M.l - 6, y: sy(y) + 4, 'text-anchor': 'end' }, axis).textContent = fmtNum(y);
    }
    el('text', { x: 14, y: M.t + ph / 2, 'text-anchor': 'middle', transform: 'rotate(-90 14 ' + (M.t + ph / 2) + ')' }, axis).textContent = spec.yUnit;
    var xTicks = [];
    if (spec.kind === 'percentile') {
      for (var d = 0; d <= x1; d++) xTicks.push([d, fmtPct(d)]);
    } else {
      var step = TIME_STEPS[TIME_STEPS.length - 1];
      for (var k = 0; k < TIME_STEPS.length; k++) if (x1 / TIME_STEPS[k] <= 8) { step = TIME_STEPS[k]; break; }
      for (var t = 0; t <= x1 + 1e-9; t += step) xTicks.push([t, fmtElapsed(t)]);
    }
    xTicks.forEach(function (tk) {
      el('line', { x1: sx(tk[0]), x2: sx(tk[0]), y1: M.t, y2: M.t + ph }, grid);
      el('text', { x: sx(tk[0]), y: H - M.b + 18, 'text-anchor': 'middle' }, axis).textContent = tk[1];
    });
    el('text', { x: M.l + pw / 2, y: H - 6, 'text-anchor': 'middle' }, axis).textContent =
      spec.kind === 'percentile' ? 'percentile (log scale of 1/(1-p))' : 'time since start (m:ss)';

    var paths = 0, points = 0;
    spec.series.forEach(function (s) {
      var g = el('g', { 'data-series': s.label }, svg);
      var d = '', n = 0;
      for (var i = 0; i < s.xs.length; i++) {
        if (!isFinite(s.xs[i]) || !isFinite(s.ys[i])) continue;
        d += (n === 0 || (s.breaks && s.breaks[i]) ? 'M' : 'L') + sx(s.xs[i]).toFixed(1) + ' ' + sy(s.ys[i]).toFixed(1);
        n++;
      }
      if (n === 0) return;
      var attrs = { d: d, fill: 'none', stroke: s.color, 'stroke-width': 2, 'data-points': n, 'data-series': s.label };
      if (s.dash) attrs['stroke-dasharray'] = '6 4';
      el('path', attrs, g);
      // A lone point (one sample) has no line to show: mark it.
      if (n <= 2) for (var j = 0; j < s.xs.length; j++) el('circle', { cx: sx(s.xs[j]), cy: sy(s.ys[j]), r: 3.5, fill: s.color }, g);
      paths++;
      points += n;
      var btn = document.createElement('button');
      btn.type = 'button';
      btn.innerHTML = '<span class="swatch"></span>';
      btn.firstChild.style.borderTopColor = s.color;
      if (s.dash) btn.firstChild.style.borderTopStyle = 'dashed';
      btn.appendChild(document.createTextNode(s.label));
      btn.addEventListener('click', function () {
        var off = g.style.display === 'none';
        g.style.display = off ? '' : 'none';
        btn.className = off ? '' : 'off';
      });
      legend.appendChild(btn);
    });
    if (spec.kind === 'time') markEvents(svg, sx, x1);
    addTip(svg, spec, sx, sy, x1);
    fig.setAttribute('data-drawn', 'true');
    fig.setAttribute('data-paths', String(paths));
    fig.setAttribute('data-points', String(points));
  }

  // The profile's events: a line where each happened, shaded until the fleet was whole again (or to the end).
  function markEvents(svg, sx, x1) {
    var ph = H - M.t - M.b;
    var g = el('g', { class: 'events' }, svg);
    (data.events || []).forEach(function (e, i) {
      var a = e.t / 1000, b = e.until === null ? x1 : e.until / 1000;
      el('rect', { x: sx(a), y: M.t, width: Math.max(1, sx(b) - sx(a)), height: ph, class: 'event-span' }, g);
      el('line', { x1: sx(a), x2: sx(a), y1: M.t, y2: M.t + ph, class: 'event-line' }, g);
      el('text', { x: sx(a) + 3, y: M.t + 12 + 14 * (i % 3), class: 'event-label' }, g).textContent = e.label;
    });
    svg.setAttribute('data-events', String((data.events || []).length));
  }

  // Crosshair with the value of each series nearest the pointer.
  function addTip(svg, spec, sx, sy, x1) {
    var pw = W - M.l - M.r, ph = H - M.t - M.b;
    var cross = el('line', { y1: M.t, y2: M.t + ph, stroke: '#888', 'stroke-dasharray': '2 3', visibility: 'hidden' }, svg);
    var tip = el('g', { class: 'tip', visibility: 'hidden' }, svg);
    var box = el('rect', { rx: 4 }, tip);
    var lines = [];
    for (var i = 0; i <= spec.series.length; i++) lines.push(el('text', {}, tip));
    var hit = el('rect', { x: M.l, y: M.t, width: pw, height: ph, fill: 'transparent' }, svg);
    hit.addEventListener('mouseleave', function () { cross.setAttribute('visibility', 'hidden'); tip.setAttribute('visibility', 'hidden'); });
    hit.addEventListener('mousemove', function (ev) {
      var r = svg.getBoundingClientRect();
      var px = (ev.clientX - r.left) / r.width * W;
      var x = (px - M.l) / pw * x1;
      lines[0].textContent = spec.kind === 'percentile' ? fmtPct(x) : fmtElapsed(x);
      spec.series.forEach(function (s, si) {
        var best = -1, bd = Infinity;
        for (var i = 0; i < s.xs.length; i++) { var dd = Math.abs(s.xs[i] - x); if (dd < bd) { bd = dd; best = i; } }
        lines[si + 1].textContent = best < 0 ? '' : s.label + ': ' + (spec.kind === 'percentile' ? fmtMs(s.ys[best]) + ' ms' : fmtNum(s.ys[best]));
      });
      var tx = px + 12 > W - 190 ? px - 190 : px + 12;
      lines.forEach(function (t, i) { t.setAttribute('x', tx + 8); t.setAttribute('y', M.t + 18 + i * 15); });
      box.setAttribute('x', tx); box.setAttribute('y', M.t + 4);
      box.setAttribute('width', 180); box.setAttribute('height', 8 + lines.length * 15);
      cross.setAttribute('x1', px); cross.setAttribute('x2', px);
      cross.setAttribute('visibility', 'visible'); tip.setAttribute('visibility', 'visible');
    });
  }

  function curve(points) {
    return { xs: points.map(function (p) { return Math.log(1 / (1 - p[0])) / Math.LN10; }), ys: points.map(function (p) { return p[1]; }) };
  }

  var ts = data.timeseries;
  var xsTime = ts.t.map(function (t) { return t / 1000; });
  var breaks = ts.t.map(function (t, i) { return i > 0 && t > ts.t[i - 1] + ts.seconds[i - 1] * 1000 + 1000; });
  function rate(key) { return ts[key].map(function (n, i) { return ts.seconds[i] > 0 ? n / ts.seconds[i] : n; }); }
  function timeSeries(label, key, color, perSecond) {
    return { label: label, color: color, xs: xsTime, ys: perSecond ? rate(key) : ts[key], breaks: breaks };
  }

  var drawn = 0;
  var figs = document.querySelectorAll('figure[data-chart]');
  for (var i = 0; i < figs.length; i++) {
    var fig = figs[i];
    try {
      var kind = fig.getAttribute('data-chart'), spec = null;
      if (kind === 'latency') {
        var op = fig.getAttribute('data-op');
        var o = data.ops.filter(function (x) { return x.op === op; })[0];
        if (!o) continue;
        var c = curve(o.corrected), r = curve(o.raw);
        spec = { kind: 'percentile', yUnit: 'latency ms', series: [
          { label: 'corrected', color: COLORS.corrected, xs: c.xs, ys: c.ys },
          { label: 'raw', color: COLORS.raw, dash: true, xs: r.xs, ys: r.ys }] };
      } else if (kind === 'throughput') {
        spec = { kind: 'time', yUnit: 'messages/s', series: [
          timeSeries('generated/s', 'generated', COLORS.generated, true),
          timeSeries('acknowledged/s', 'acknowledged', COLORS.acknowledged, true)] };
      } else if (kind === 'connected') {
        spec = { kind: 'time', yUnit: 'identities', series: [timeSeries('connected', 'connected', COLORS.connected, false)] };
      } else if (kind === 'errors') {
        spec = { kind: 'time', yUnit: 'per second', series: [
          timeSeries('errors/s', 'errors', COLORS.errors, true),
          timeSeries('throttled/s', 'throttled', COLORS.throttled, true),
          timeSeries('failed messages/s', 'failed', COLORS.failed, true)] };
      }
      if (!spec) continue;
      draw(fig, spec);
      drawn++;
    } catch (err) {
      fig.setAttribute('data-drawn', 'error');
      fig.setAttribute('data-error', String(err && err.message || err));
    }
  }
  body.setAttribute('data-charts-drawn', String(drawn));
})();
`;
