// /metrics over real HTTP, read back with a strict parser of the text exposition format (0.0.4).
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { MetricsAggregate } from '../../src/metrics/aggregate.js';
import { MetricsRecorder } from '../../src/metrics/recorder.js';
import { formatPrometheus, startPrometheusExporter, type PrometheusExporter } from '../../src/report/prometheus.js';
import { SYN_T0, syntheticAggregate } from './synthetic.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Parses and validates: every sample under a declared family, HELP and TYPE once each, legal names and values. */
function parseExposition(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const families = new Map<string, Family>();
  let current: Family | undefined;
  for (const [i, line] of text.slice(0, -1).split('\n').entries()) {
    const where = `line ${i + 1}: ${line}`;
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta;
      if (!NAME.test(name!)) throw new Error(`bad metric name, ${where}`);
      let f = families.get(name!);
      if (!f) families.set(name!, (f = { name: name!, type: '', help: '', samples: [] }));
      else if (f !== current) throw new Error(`family ${name} declared in two places, ${where}`);
      current = f;
      if (kind === 'HELP') {
        if (f.help) throw new Error(`second HELP, ${where}`);
        f.help = rest!.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      } else {
        if (f.type) throw new Error(`second TYPE, ${where}`);
        if (f.samples.length > 0) throw new Error(`TYPE after samples, ${where}`);
        if (!['counter', 'gauge', 'summary', 'histogram', 'untyped'].includes(rest!))
          throw new Error(`bad type, ${where}`);
        f.type = rest!;
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample, ${where}`);
    const [, name, labelText, valueText] = m;
    const labels: Record<string, string> = {};
    if (labelText) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
      let pos = 0;
      while (pos < labelText.length) {
        re.lastIndex = pos;
        const l = re.exec(labelText);
        if (!l) throw new Error(`bad labels at ${pos}, ${where}`);
        if (l[1]! in labels) throw new Error(`duplicate label ${l[1]}, ${where}`);
        labels[l[1]!] = l[2]!.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
        pos = re.lastIndex;
      }
    }
    const value =
      valueText === '+Inf'
        ? Infinity
        : valueText === '-Inf'
          ? -Infinity
          : valueText === 'NaN'
            ? NaN
            : Number(valueText);
    if (
      !/^[-+]?(\d+\.?\d*(e[-+]?\d+)?|\.\d+|Inf|NaN)$/i.test(valueText!) ||
      (Number.isNaN(value) && valueText !== 'NaN')
    ) {
      throw new Error(`bad value, ${where}`);
    }
    if (!current) throw new Error(`sample before any family, ${where}`);
    const base =
      current.type === 'summary' || current.type === 'histogram' ? name!.replace(/_(sum|count|bucket)$/, '') : name!;
    if (base !== current.name) throw new Error(`sample ${name} outside its family (${current.name}), ${where}`);
    current.samples.push({ name: name!, labels, value });
  }
  for (const f of families.values()) {
    if (!f.type || !f.help) throw new Error(`family ${f.name} lacks TYPE or HELP`);
    if (f.type === 'counter' && !f.name.endsWith('_total')) throw new Error(`counter ${f.name} does not end in _total`);
    for (const s of f.samples) {
      if (f.type === 'summary' && s.name === f.name && !('quantile' in s.labels))
        throw new Error(`summary sample without quantile: ${f.name}`);
      if (f.type === 'counter' && !(s.value >= 0)) throw new Error(`negative counter ${f.name}`);
    }
  }
  return families;
}

function get(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name.replace(/_(sum|count)$/, '')) ?? families.get(name);
  const matches = (family?.samples ?? []).filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (matches.length !== 1) throw new Error(`${matches.length} samples of ${name} ${JSON.stringify(labels)}`);
  return matches[0]!.value;
}

function httpGet(
  url: string,
  method = 'GET',
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

let exporter: PrometheusExporter | undefined;
afterEach(async () => {
  await exporter?.close();
  exporter = undefined;
});

const LABELS = { run_id: '2026-11-26T21-00-00Z-ab12', scenario: 'quick "start"\\ \n2' };

describe('Prometheus exporter', () => {
  it('serves /metrics over HTTP: latency summaries, the ledger, errors, identities, lateness', async () => {
    const agg = syntheticAggregate({ seconds: 25 });
    exporter = await startPrometheusExporter(0, '127.0.0.1', () => agg, LABELS);
    expect(exporter.port).toBeGreaterThan(0);
    expect(exporter.url).toBe(`http://127.0.0.1:${exporter.port}/metrics`);

    const res = await httpGet(exporter.url);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const fams = parseExposition(res.body);

    for (const f of fams.values()) {
      expect(f.name.startsWith('edgefleet_'), f.name).toBe(true);
      // The run's labels on every sample, escaped and read back intact.
      for (const s of f.samples) expect(s.labels, s.name).toMatchObject(LABELS);
    }
    expect(fams.get('edgefleet_operation_latency_seconds')!.type).toBe('summary');

    for (const op of ['telemetry', 'connect', 'provision', 'twinGet'] as const) {
      for (const kind of ['corrected', 'raw'] as const) {
        const s = agg.latency(op, kind);
        const l = { operation: op, kind };
        expect(get(fams, 'edgefleet_operation_latency_seconds', { ...l, quantile: '0.5' })).toBeCloseTo(
          s.p50! / 1000,
          9,
        );
        expect(get(fams, 'edgefleet_operation_latency_seconds', { ...l, quantile: '0.95' })).toBeCloseTo(
          s.p95! / 1000,
          9,
        );
        expect(get(fams, 'edgefleet_operation_latency_seconds', { ...l, quantile: '0.99' })).toBeCloseTo(
          s.p99! / 1000,
          9,
        );
        expect(get(fams, 'edgefleet_operation_latency_seconds_count', l)).toBe(s.count);
        // mean × count: summary.json rounds the mean to the µs, hence a relative comparison.
        expect(
          Math.abs(get(fams, 'edgefleet_operation_latency_seconds_sum', l) / ((s.mean! * s.count) / 1000) - 1),
        ).toBeLessThan(1e-4);
        expect(get(fams, 'edgefleet_operation_latency_max_seconds', l)).toBeCloseTo(s.max! / 1000, 9);
      }
    }
    // Operations that never ran are absent, not zero (a zero latency would read as "fast").
    expect(fams.get('edgefleet_operation_latency_seconds')!.samples.some((s) => s.labels.operation === 'c2d')).toBe(
      false,
    );
    // The stall makes corrected p99 far above raw.
    expect(
      get(fams, 'edgefleet_operation_latency_seconds', { operation: 'telemetry', kind: 'corrected', quantile: '0.99' }),
    ).toBeGreaterThan(
      2 * get(fams, 'edgefleet_operation_latency_seconds', { operation: 'telemetry', kind: 'raw', quantile: '0.99' }),
    );

    const l = agg.ledger();
    expect(get(fams, 'edgefleet_messages_generated_total')).toBe(l.generated);
    expect(get(fams, 'edgefleet_messages_acknowledged_total')).toBe(l.acknowledged);
    expect(get(fams, 'edgefleet_messages_failed_total')).toBe(l.failed);
    expect(get(fams, 'edgefleet_messages_in_flight')).toBe(l.inFlight);
    expect(get(fams, 'edgefleet_ledger_balanced')).toBe(1);

    expect(get(fams, 'edgefleet_errors_total', { class: 'throttled' })).toBe(6);
    expect(get(fams, 'edgefleet_errors_total', { class: 'network' })).toBe(2);
    expect(get(fams, 'edgefleet_errors_total', { class: 'auth' })).toBe(0);
    expect(get(fams, 'edgefleet_operation_errors_total', { class: 'throttled', operation: 'telemetry' })).toBe(6);
    expect(get(fams, 'edgefleet_connected_identities')).toBe(30);
    expect(get(fams, 'edgefleet_identities', { state: 'connected' })).toBe(30);

    const late = agg.latenessHistogram()!;
    expect(get(fams, 'edgefleet_scheduler_lateness_seconds_count')).toBe(late.totalCount);
    expect(get(fams, 'edgefleet_scheduler_lateness_seconds', { quantile: '0.99' })).toBeCloseTo(
      late.getValueAtPercentile(99) / 1e6,
      9,
    );

    // The last closed second, for "now" panels.
    const view = agg.lastInterval()!;
    expect(get(fams, 'edgefleet_interval_operations_per_second', { operation: 'telemetry' })).toBe(
      view.operations.telemetry!.perSecond,
    );
    expect(
      get(fams, 'edgefleet_interval_latency_seconds', { operation: 'telemetry', kind: 'raw', stat: 'p99' }),
    ).toBeCloseTo(view.operations.telemetry!.raw.p99! / 1000, 9);
    expect(get(fams, 'edgefleet_run_start_time_seconds')).toBe(SYN_T0 / 1000);
  });

  it('reads the aggregate at each scrape, so counters grow as the run goes', async () => {
    const agg = new MetricsAggregate();
    const w = new MetricsRecorder(SYN_T0);
    exporter = await startPrometheusExporter(0, '127.0.0.1', () => agg, {});
    const before = parseExposition((await httpGet(exporter.url)).body);
    expect(get(before, 'edgefleet_messages_generated_total')).toBe(0);
    expect(before.get('edgefleet_operation_latency_seconds')!.samples).toEqual([]);
    expect(get(before, 'edgefleet_errors_total', { class: 'timeout' })).toBe(0);

    w.ledger.generated = 7;
    w.recordLatency('telemetry', 0, 0, 12);
    w.recordError('timeout', 'no PUBACK in 30 s', 'telemetry');
    agg.add(0, w.snapshot(SYN_T0 + 1000));
    const after = parseExposition((await httpGet(exporter.url)).body);
    expect(get(after, 'edgefleet_messages_generated_total')).toBe(7);
    expect(get(after, 'edgefleet_errors_total', { class: 'timeout' })).toBe(1);
    expect(get(after, 'edgefleet_operation_latency_seconds_count', { operation: 'telemetry', kind: 'corrected' })).toBe(
      1,
    );
    expect(
      get(after, 'edgefleet_operation_latency_seconds', { operation: 'telemetry', kind: 'corrected', quantile: '0.5' }),
    ).toBeCloseTo(0.012, 4);
  });

  it('answers HEAD, 404 elsewhere, 405 to other methods, 500 when the aggregate cannot be read', async () => {
    let broken = false;
    const agg = syntheticAggregate({ seconds: 2 });
    exporter = await startPrometheusExporter(0, '127.0.0.1', () => {
      if (broken) throw new Error('aggregate gone');
      return agg;
    });
    const head = await httpGet(exporter.url, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect((await httpGet(exporter.url.replace('/metrics', '/nope'))).status).toBe(404);
    expect((await httpGet(exporter.url.replace('/metrics', '/'))).body).toContain('/metrics');
    expect((await httpGet(exporter.url, 'POST')).status).toBe(405);
    expect((await httpGet(`${exporter.url}?x=1`)).status).toBe(200);
    broken = true;
    const res = await httpGet(exporter.url);
    expect(res.status).toBe(500);
    expect(res.body).toContain('aggregate gone');
  });

  it('says what to do when the port is taken, and frees it on close', async () => {
    const agg = new MetricsAggregate();
    exporter = await startPrometheusExporter(0, '127.0.0.1', () => agg);
    const { port } = exporter;
    await expect(startPrometheusExporter(port, '127.0.0.1', () => agg)).rejects.toThrow(
      /port \d+ on 127\.0\.0\.1 is in use; choose another port/,
    );

    // A keep-alive connection (as Prometheus keeps) must not hold close() up.
    const agent = new (await import('node:http')).Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      request(exporter!.url, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      })
        .on('error', reject)
        .end();
    });
    const t = Date.now();
    await exporter.close();
    expect(Date.now() - t).toBeLessThan(2000);
    agent.destroy();
    exporter = await startPrometheusExporter(port, '127.0.0.1', () => agg);
    expect(exporter.port).toBe(port);
  });

  it('refuses label names Prometheus or its own metrics would reject', () => {
    const agg = new MetricsAggregate();
    expect(() => formatPrometheus(agg, { 'run-id': 'x' })).toThrow(/not a Prometheus label name/);
    expect(() => formatPrometheus(agg, { __name__: 'x' })).toThrow(/not a Prometheus label name/);
    expect(() => formatPrometheus(agg, { operation: 'x' })).toThrow(/used by edgefleet/);
  });

  it('the parser used here rejects malformed expositions', () => {
    expect(() => parseExposition('x 1\n')).toThrow(/before any family/);
    expect(() => parseExposition('# HELP a_total h\n# TYPE a_total counter\na_total{l="x} 1\n')).toThrow(
      /bad labels|not a sample/,
    );
    expect(() => parseExposition('# HELP a h\n# TYPE a counter\na 1\n')).toThrow(/_total/);
    expect(() => parseExposition('# HELP a h\n# TYPE a gauge\nb 1\n')).toThrow(/outside its family/);
    expect(() => parseExposition('# HELP a h\n# TYPE a gauge\na one\n')).toThrow(/bad value/);
  });
});
