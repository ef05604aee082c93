// Live `/metrics` in the Prometheus text exposition format (0.0.4), for Grafana during long soaks.
// Read on the coordinator's thread from the same aggregate the dashboard reads; a scrape costs a few
// percentile walks, nothing on the workers.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Histogram } from 'hdr-histogram-js';
import { ConfigError } from '../config/errors.js';
import type { MetricsAggregate } from '../metrics/aggregate.js';
import { ERROR_CLASSES, OPERATIONS } from '../metrics/operations.js';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
/** Quantiles of the cumulative latency summaries. */
export const QUANTILES = [0.5, 0.95, 0.99, 0.999] as const;

export type Labels = Record<string, string>;

export interface PrometheusExporter {
  port: number;
  host: string;
  /** e.g. http://127.0.0.1:9464/metrics */
  url: string;
  close(): Promise<void>;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const US_PER_S = 1_000_000;

/**
 * Serves GET /metrics on host:port (port 0: a free one, see `.port`).
 * @param labels added to every sample, e.g. { run_id, scenario, shard }, so several runs share a Prometheus.
 */
export async function startPrometheusExporter(
  port: number,
  host: string,
  getAggregate: () => MetricsAggregate,
  labels: Labels = {},
): Promise<PrometheusExporter> {
  checkLabels(labels);
  const server = createServer((req, res) => handle(req, res, getAggregate, labels));
  // Prometheus keeps connections open between scrapes; they must not hold the process after close().
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE'
          ? `port ${port} on ${host} is in use; choose another port (0 picks a free one)`
          : err.code === 'EACCES'
            ? `not allowed to listen on port ${port}; use a port above 1023`
            : err.code === 'EADDRNOTAVAIL'
              ? `${host} is not an address of this machine`
              : err.message;
      reject(new ConfigError([{ file: '--prometheus', path: '', message: why }]));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    port: address.port,
    host: address.address,
    url: `http://${shownHost}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function handle(req: IncomingMessage, res: ServerResponse, getAggregate: () => MetricsAggregate, labels: Labels): void {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/metrics') {
    res.writeHead(path === '/' ? 200 : 404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(path === '/' ? 'edgefleet: metrics at /metrics\n' : 'not found: metrics are at /metrics\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
    res.end('use GET\n');
    return;
  }
  let body: string;
  try {
    body = formatPrometheus(getAggregate(), labels);
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`edgefleet could not format its metrics: ${(err as Error).message}\n`);
    return;
  }
  res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** The whole exposition; every family has # HELP and # TYPE, counters end in _total, times are seconds. */
export function formatPrometheus(aggregate: MetricsAggregate, labels: Labels = {}): string {
  checkLabels(labels);
  const w = new Writer(labels);
  writeRunLatency(w, aggregate);
  writeLastSecond(w, aggregate);
  writeLedger(w, aggregate);
  writeErrors(w, aggregate);
  writeIdentities(w, aggregate);
  writeGeneratorHealth(w, aggregate);
  return w.text();
}

/** Latency over the whole run: quantiles and the highest, per operation and kind. */
function writeRunLatency(w: Writer, aggregate: MetricsAggregate): void {
  w.family(
    'edgefleet_operation_latency_seconds',
    'summary',
    'Latency of each operation over the whole run; kind="corrected" from the intended start (coordinated omission corrected), kind="raw" from the actual start.',
  );
  for (const op of OPERATIONS) {
    for (const kind of ['corrected', 'raw'] as const) {
      const h = aggregate.histogram(op, kind);
      if (!h || h.totalCount === 0) continue;
      w.summary('edgefleet_operation_latency_seconds', { operation: op, kind }, h);
    }
  }

  w.family(
    'edgefleet_operation_latency_max_seconds',
    'gauge',
    'Highest latency recorded for each operation over the whole run.',
  );
  for (const op of OPERATIONS) {
    for (const kind of ['corrected', 'raw'] as const) {
      const h = aggregate.histogram(op, kind);
      if (h && h.totalCount > 0)
        w.sample('edgefleet_operation_latency_max_seconds', { operation: op, kind }, h.maxValue / US_PER_S);
    }
  }
}

/** Latency and operations of the last closed second. */
function writeLastSecond(w: Writer, aggregate: MetricsAggregate): void {
  // The cumulative quantiles barely move late in a soak; the last second shows what is happening now.
  const view = aggregate.lastInterval();
  w.family(
    'edgefleet_interval_latency_seconds',
    'gauge',
    'Latency of the last closed second, per operation and kind; stat is p50, p95, p99 or max.',
  );
  w.family('edgefleet_interval_operations_per_second', 'gauge', 'Operations completed in the last closed second.');
  if (view) {
    for (const op of OPERATIONS) {
      const s = view.operations[op];
      if (!s) continue;
      w.sample('edgefleet_interval_operations_per_second', { operation: op }, s.perSecond);
      const kinds = [
        ['corrected', s],
        ['raw', s.raw],
      ] as const;
      for (const [kind, k] of kinds) {
        // "stat", not "quantile": Prometheus keeps the quantile label for summaries, whose _count only grows.
        for (const [stat, v] of [
          ['p50', k.p50],
          ['p95', k.p95],
          ['p99', k.p99],
          ['max', k.max],
        ] as const) {
          if (v !== null) w.sample('edgefleet_interval_latency_seconds', { operation: op, kind, stat }, v / 1000);
        }
      }
    }
  }
}

/** The message ledger: counters, what is stored and in flight now, and whether it balances. */
function writeLedger(w: Writer, aggregate: MetricsAggregate): void {
  const l = aggregate.ledger();
  const ledger = [
    ['generated', l.generated, 'Messages the scenario created.'],
    ['acknowledged', l.acknowledged, 'Messages confirmed by the target (PUBACK or 2xx).'],
    ['failed', l.failed, 'Messages given up on after an error.'],
    ['expired', l.expired, 'Messages whose store-and-forward TTL ran out before they were sent.'],
    ['dropped', l.dropped, 'Messages discarded by routing.'],
    [
      'delivered_late',
      l.deliveredLate,
      'Messages acknowledged after waiting in a store-and-forward store (part of acknowledged).',
    ],
    ['resent', l.resent, 'Messages sent again after a connection loss took them unacknowledged (not new messages).'],
  ] as const;
  for (const [name, value, help] of ledger) {
    w.family(`edgefleet_messages_${name}_total`, 'counter', help);
    w.sample(`edgefleet_messages_${name}_total`, {}, value);
  }
  w.family('edgefleet_messages_stored', 'gauge', 'Messages held in store-and-forward stores now (part of in flight).');
  w.sample('edgefleet_messages_stored', {}, l.stored);
  w.family('edgefleet_messages_in_flight', 'gauge', 'generated - acknowledged - failed - expired - dropped.');
  w.sample('edgefleet_messages_in_flight', {}, l.inFlight);
  w.family(
    'edgefleet_ledger_balanced',
    'gauge',
    '1 while no more messages were settled than generated, 0 when something was counted twice.',
  );
  w.sample('edgefleet_ledger_balanced', {}, l.balanced ? 1 : 0);
}

/** Errors by class, and by class and operation. */
function writeErrors(w: Writer, aggregate: MetricsAggregate): void {
  const errors = aggregate.errors();
  w.family(
    'edgefleet_errors_total',
    'counter',
    'Errors by class (auth, throttled, timeout, protocol, network, server, other).',
  );
  // Every class from zero, so rate() works from the first scrape.
  for (const cls of ERROR_CLASSES) w.sample('edgefleet_errors_total', { class: cls }, errors[cls].count);
  w.family('edgefleet_operation_errors_total', 'counter', 'Errors by class and by the operation they happened in.');
  for (const cls of ERROR_CLASSES) {
    for (const [op, n] of Object.entries(errors[cls].byOperation))
      if (n) w.sample('edgefleet_operation_errors_total', { class: cls, operation: op }, n);
  }
}

/** Identities connected, and by state. */
function writeIdentities(w: Writer, aggregate: MetricsAggregate): void {
  const gauges = aggregate.gauges();
  w.family('edgefleet_connected_identities', 'gauge', 'Simulated identities connected to the target now.');
  w.sample('edgefleet_connected_identities', {}, gauges['connected'] ?? 0);
  w.family(
    'edgefleet_identities',
    'gauge',
    'Simulated identities by state (waiting, provisioning, connecting, connected, backingOff, stopped, failed).',
  );
  for (const [state, n] of Object.entries(gauges).sort(([a], [b]) => a.localeCompare(b)))
    w.sample('edgefleet_identities', { state }, n);
}

/** The load generator's own health: scheduler lateness, samples not recorded as they came, the start. */
function writeGeneratorHealth(w: Writer, aggregate: MetricsAggregate): void {
  w.family(
    'edgefleet_scheduler_lateness_seconds',
    'summary',
    "How late the workers' schedulers fired timers; high values mean the load generator itself fell behind.",
  );
  const late = aggregate.latenessHistogram();
  if (late && late.totalCount > 0) w.summary('edgefleet_scheduler_lateness_seconds', {}, late);

  const rec = aggregate.recording;
  w.family(
    'edgefleet_samples_rejected_total',
    'counter',
    'Latency samples refused (NaN or negative); non-zero means a bug or a clock step.',
  );
  w.sample('edgefleet_samples_rejected_total', {}, rec.rejected);
  w.family(
    'edgefleet_samples_clamped_total',
    'counter',
    'Latency samples above the histogram ceiling (1 hour), recorded at the ceiling.',
  );
  w.sample('edgefleet_samples_clamped_total', {}, rec.clamped);
  if (aggregate.startMs !== null) {
    w.family('edgefleet_run_start_time_seconds', 'gauge', 'Start of the run, Unix time.');
    w.sample('edgefleet_run_start_time_seconds', {}, aggregate.startMs / 1000);
  }
}

/** Collects samples per family, so families with no sample still get their HELP and TYPE once. */
class Writer {
  private readonly lines: string[] = [];
  private readonly constant: string[];
  private readonly pending = new Map<string, string[]>();
  private readonly order: string[] = [];

  constructor(labels: Labels) {
    this.constant = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  }

  family(name: string, type: 'counter' | 'gauge' | 'summary', help: string): void {
    this.order.push(name);
    this.pending.set(name, [`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`]);
  }

  sample(name: string, labels: Labels, value: number, family = familyOf(name, this.pending)): void {
    const lines = this.pending.get(family);
    if (!lines) throw new Error(`sample ${name} before its family`);
    const all = [...this.constant, ...Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`)];
    lines.push(`${name}${all.length > 0 ? `{${all.join(',')}}` : ''} ${formatValue(value)}`);
  }

  /** Quantiles from the histogram (µs → s); _sum is mean × count, exact to HDR's resolution. */
  summary(name: string, labels: Labels, h: Histogram): void {
    for (const q of QUANTILES)
      this.sample(name, { ...labels, quantile: String(q) }, h.getValueAtPercentile(q * 100) / US_PER_S, name);
    this.sample(`${name}_sum`, labels, (h.mean * h.totalCount) / US_PER_S, name);
    this.sample(`${name}_count`, labels, h.totalCount, name);
  }

  text(): string {
    for (const name of this.order) this.lines.push(...this.pending.get(name)!);
    return this.lines.join('\n') + '\n';
  }
}

function familyOf(name: string, families: Map<string, string[]>): string {
  if (families.has(name)) return name;
  for (const suffix of ['_sum', '_count'])
    if (name.endsWith(suffix) && families.has(name.slice(0, -suffix.length))) return name.slice(0, -suffix.length);
  return name;
}

function checkLabels(labels: Labels): void {
  for (const [k, v] of Object.entries(labels)) {
    if (!LABEL_NAME.test(k) || k.startsWith('__'))
      throw new Error(`"${k}" is not a Prometheus label name (letters, digits and _, not starting with a digit or __)`);
    if (['operation', 'kind', 'quantile', 'stat', 'class', 'state'].includes(k))
      throw new Error(`label "${k}" is used by edgefleet's own metrics; choose another name`);
    if (typeof v !== 'string') throw new Error(`label "${k}" must be a string`);
  }
}

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
