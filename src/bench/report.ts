// The bench report: figures per client, ratios against the baselines, targets (pass/miss, never a failure), and
// a table for people.
import type { ConnectFigures, TelemetryFigures, Variant } from './job.js';
import type { SchedulerOnlyFigures } from './scheduler-only.js';
import type { LimiterCostFigures } from './limiter-cost.js';

export interface ConnectEntry extends ConnectFigures {
  /** Identities asked for, before any scaling down. */
  requested: number;
  emulator: { received?: number; connects?: number; twinGets?: number; rejections?: Record<string, number> };
  error?: string;
  /** With --repeat: every run's key figures (the entry itself is the least disturbed run). */
  runs?: { perSec: number; perCpuSec: number; rssPerIdentityKB: number; otherCores: number }[];
}

export interface TelemetryEntry extends TelemetryFigures {
  identities: number;
  connected: number;
  p99Ms: number | null;
  emulatorReceived?: number;
  error?: string;
  runs?: { achievedPerSec: number; msgsPerCoreSec: number; p99Ms: number | null; otherCores: number }[];
}

export interface TelemetryByClient {
  /** Headline figures: the run at the largest identity count. */
  identities: number;
  msgsPerCoreSec: number | null;
  p99Ms: number | null;
  byIdentities: Record<string, TelemetryEntry>;
}

/** One telemetry run's figures for the durability comparison. */
export interface DurabilityFigures {
  /** Identities connected when the window began, and what they offered together. */
  connected: number;
  offeredPerSec: number;
  achievedPerSec: number;
  msgsPerCoreSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
  /** Emulator CPU per acknowledged message, µs: what recording costs the emulator. */
  emulatorMicrosPerMessage: number | null;
  emulatorCores: number;
  otherCores: number;
  failed: number;
}

/** The same client at the same offered rate against the emulator with its state recorded and with --ephemeral. */
export interface DurabilityEntry {
  client: 'edgefleet';
  identities: number;
  offeredPerSec: number;
  ephemeral: DurabilityFigures | null;
  durable: DurabilityFigures | null;
  runs?: { durable: boolean; achievedPerSec: number; emulatorMicrosPerMessage: number | null; otherCores: number }[];
}

export function durabilityFigures(t: TelemetryEntry): DurabilityFigures {
  return {
    connected: t.connected,
    offeredPerSec: t.offeredPerSec,
    achievedPerSec: t.achievedPerSec,
    msgsPerCoreSec: t.msgsPerCoreSec,
    p50Ms: t.puback.p50Ms,
    p99Ms: t.puback.p99Ms,
    emulatorMicrosPerMessage: t.achievedPerSec > 0 ? Math.round((t.emulatorCores / t.achievedPerSec) * 1e7) / 10 : null,
    emulatorCores: t.emulatorCores,
    otherCores: t.otherCores,
    failed: t.failed,
  };
}

export interface Target {
  name: string;
  want: string;
  value: number | null;
  pass: boolean | null;
}

export interface BenchReport {
  version: 1;
  date: string;
  quick: boolean;
  durationSeconds: number;
  machine: {
    cores: number;
    node: string;
    cpuModel: string;
    platform: string;
    totalMemoryGB: number;
    openFilesLimit: number;
    ephemeralPorts: number;
  };
  method: Record<string, string>;
  connect: Partial<Record<Variant, ConnectEntry & { perSec: number; rssPerIdentityKB: number; identities: number }>>;
  telemetry: Partial<Record<'edgefleet' | 'mqttjs', TelemetryByClient>>;
  lateness: {
    p99Ms: number | null;
    p50Ms: number | null;
    p999Ms: number | null;
    maxMs: number | null;
    identities: number;
    intervalMs: number;
    count: number;
    /** The plain mqtt.js client's event-loop delay in the same configuration, for comparison. */
    mqttjsEventLoopDelayP99Ms?: number | null;
    /** The Scheduler with tasks that do nothing (no I/O): what the mechanism itself adds. */
    schedulerOnly?: SchedulerOnlyFigures;
  } | null;
  /** Telemetry with the emulator recording its state, next to --ephemeral (absent when not measured). */
  durability?: DurabilityEntry;
  /** What the emulator's limiters cost per operation (absent when not measured). */
  limiter?: LimiterCostFigures;
  ratios: Record<string, number | null>;
  targets: Target[];
  notes: string[];
  errors: string[];
}

const ratio = (a: number | null | undefined, b: number | null | undefined): number | null =>
  a === null || a === undefined || b === null || b === undefined || !(b > 0) || !Number.isFinite(a)
    ? null
    : Math.round((a / b) * 1000) / 1000;

/** Ours against the baselines, and the baselines against each other. */
function ratiosOf(r: BenchReport): Record<string, number | null> {
  const e = r.connect.edgefleet;
  const m = r.connect.mqttjs;
  const s = r.connect.azureSdk;
  const ratios: Record<string, number | null> = {
    connectRateVsMqttjs: ratio(e?.perSec, m?.perSec),
    rssPerIdentityVsMqttjs: ratio(e?.rssPerIdentityKB, m?.rssPerIdentityKB),
    devicesPerSecVsAzureSdk: ratio(e?.perSec, s?.perSec),
    // devices per GB is 1 / (RSS per identity): the ratio of theirs to ours.
    devicesPerGBVsAzureSdk: ratio(s?.rssPerIdentityKB, e?.rssPerIdentityKB),
    mqttjsVsAzureSdkConnectRate: ratio(m?.perSec, s?.perSec),
    azureSdkVsMqttjsRss: ratio(s?.rssPerIdentityKB, m?.rssPerIdentityKB),
    // Less noisy when the machine is shared: connects per client CPU second.
    connectPerCpuVsMqttjs: ratio(e?.perCpuSec, m?.perCpuSec),
  };
  const shared = r.connect.mqttjsSharedTls;
  if (shared !== undefined) {
    ratios.sharedTlsVsMqttjsConnectPerCpu = ratio(shared.perCpuSec, m?.perCpuSec);
    ratios.sharedTlsVsMqttjsRss = ratio(shared.rssPerIdentityKB, m?.rssPerIdentityKB);
  }
  const te = r.telemetry.edgefleet;
  const tm = r.telemetry.mqttjs;
  ratios.msgsPerCoreVsMqttjs = ratio(te?.msgsPerCoreSec, tm?.msgsPerCoreSec);
  for (const n of Object.keys(te?.byIdentities ?? {})) {
    ratios[`msgsPerCoreVsMqttjs@${n}`] = ratio(
      te?.byIdentities[n]?.msgsPerCoreSec,
      tm?.byIdentities[n]?.msgsPerCoreSec,
    );
  }
  const d = r.durability;
  if (d !== undefined) {
    ratios.durableVsEphemeralAcked = ratio(d.durable?.achievedPerSec, d.ephemeral?.achievedPerSec);
    ratios.durableVsEphemeralEmulatorCpuPerMessage = ratio(
      d.durable?.emulatorMicrosPerMessage,
      d.ephemeral?.emulatorMicrosPerMessage,
    );
  }
  return ratios;
}

const at = (name: string, want: string, value: number | null, ok: (v: number) => boolean): Target => ({
  name,
  want,
  value,
  pass: value === null ? null : ok(value),
});

/** The targets, judged (pass, miss, or n/a when not measured). */
function targetsOf(r: BenchReport, ratios: Record<string, number | null>): Target[] {
  const targets = [
    at('connect rate vs plain mqtt.js', '≥ 0.9×', ratios.connectRateVsMqttjs ?? null, (v) => v >= 0.9),
    at('msgs/s per core vs plain mqtt.js', '≥ 0.9×', ratios.msgsPerCoreVsMqttjs ?? null, (v) => v >= 0.9),
    at('RSS per identity vs plain mqtt.js', '≤ 1.1×', ratios.rssPerIdentityVsMqttjs ?? null, (v) => v <= 1.1),
    at('devices/s vs Azure IoT SDK', '≥ 1.4×', ratios.devicesPerSecVsAzureSdk ?? null, (v) => v >= 1.4),
    at('devices per GB vs Azure IoT SDK', '≥ 1.2×', ratios.devicesPerGBVsAzureSdk ?? null, (v) => v >= 1.2),
    at('scheduler lateness p99', '< 5 ms', r.lateness?.p99Ms ?? null, (v) => v < 5),
  ];
  if (r.durability !== undefined) {
    targets.push(
      at(
        'telemetry acked/s, state recorded vs --ephemeral',
        '≥ 0.8×',
        ratios.durableVsEphemeralAcked ?? null,
        (v) => v >= 0.8,
      ),
    );
  }
  const e = r.connect.edgefleet;
  const fleet = at(
    'identities connected and subscribed (edgefleet)',
    '10,000',
    e?.connected ?? null,
    (v) => v >= 10_000,
  );
  if (r.quick || (e?.requested ?? 0) < 10_000) fleet.pass = null; // a smaller run does not test it
  targets.unshift(fleet);
  return targets;
}

export function computeRatios(r: BenchReport): void {
  r.ratios = ratiosOf(r);
  r.targets = targetsOf(r, r.ratios);
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
const fmt = (v: number | null | undefined, digits = 0) =>
  v === null || v === undefined || !Number.isFinite(v)
    ? '–'
    : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const NAMES: Record<string, string> = {
  edgefleet: 'edgefleet',
  mqttjs: 'plain mqtt.js',
  azureSdk: 'Azure IoT SDK',
  mqttjsSharedTls: 'mqtt.js, 1 TLS ctx',
};

function table(header: string[], rows: string[][], align: ('l' | 'r')[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    '  ' + cells.map((c, i) => (align[i] === 'l' ? pad(c, widths[i]!) : lpad(c, widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

function renderDurability(d: DurabilityEntry | undefined): string[] {
  if (d === undefined) return [];
  const row = (label: string, f: DurabilityFigures | null) =>
    f === null
      ? [label, ...Array<string>(9).fill('–')]
      : [
          label,
          fmt(f.connected),
          fmt(f.offeredPerSec),
          fmt(f.achievedPerSec),
          fmt(f.msgsPerCoreSec),
          fmt(f.p50Ms, 2),
          fmt(f.p99Ms, 2),
          fmt(f.emulatorCores, 2),
          fmt(f.emulatorMicrosPerMessage, 1),
          fmt(f.otherCores, 2),
        ];
  return [
    '',
    `Durability: ${NAMES[d.client]} @${fmt(d.identities)}, ${fmt(d.offeredPerSec)} msgs/s offered, against the emulator ` +
      'with --ephemeral and with its state recorded (SQLite, group commits; a PUBACK waits for its commit):',
    ...table(
      [
        'emulator',
        'connected',
        'offered/s',
        'acked/s',
        'msgs/core-s',
        'p50 ms',
        'p99 ms',
        'emulator cores',
        'emulator µs/msg',
        'other cores',
      ],
      [row('--ephemeral', d.ephemeral), row('state recorded', d.durable)],
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  ];
}

const CONNECT_COLUMNS = [
  'client',
  'identities',
  'connected/s',
  'per CPU s',
  'RSS KB/identity',
  'heap KB/id',
  'p50 ms',
  'p99 ms',
  'emulator cores',
  'other cores',
  'errors',
];

function renderConnect(r: BenchReport): string[] {
  const rows = (['edgefleet', 'mqttjs', 'azureSdk', 'mqttjsSharedTls'] as const).flatMap((v) => {
    const c = r.connect[v];
    if (c === undefined) return [];
    const errs = c.failed + c.unfinished;
    return [
      [
        NAMES[v]!,
        `${fmt(c.connected)}/${fmt(c.identities)}`,
        fmt(c.perSec),
        fmt(c.perCpuSec),
        fmt(c.rssPerIdentityKB, 1),
        fmt(c.heapPerIdentityKB, 1),
        fmt(c.latency?.p50Ms, 1),
        fmt(c.latency?.p99Ms, 1),
        fmt(c.emulatorCores, 2),
        fmt(c.otherCores, 2),
        c.error !== undefined ? 'FAILED' : String(errs),
      ],
    ];
  });
  return [`Connect: ${r.method.connect}`, ...table(CONNECT_COLUMNS, rows, ['l', ...Array<'r'>(10).fill('r')])];
}

const TELEMETRY_COLUMNS = [
  'client',
  'identities',
  'every ms',
  'offered/s',
  'acked/s',
  'msgs/core-s',
  'p50 ms',
  'p99 ms',
  'p99 corr ms',
  'loop delay p99',
  'lateness p99',
  'client cores',
  'emulator cores',
  'other cores',
  'failed',
];

/** Every telemetry entry of both clients, by client and then by identities. */
const telemetryEntries = (r: BenchReport) =>
  (['edgefleet', 'mqttjs'] as const).flatMap((v) =>
    Object.entries(r.telemetry[v]?.byIdentities ?? {})
      .sort((a, b) => Number(a[0]) - Number(b[0]))
      .map(([n, e]) => ({ v, n, e })),
  );

function telemetryRows(r: BenchReport): string[][] {
  return telemetryEntries(r).map(({ v, n, e }) => [
    NAMES[v]!,
    fmt(Number(n)),
    fmt(e.intervalMs),
    fmt(e.offeredPerSec),
    fmt(e.achievedPerSec),
    fmt(e.msgsPerCoreSec),
    fmt(e.puback.p50Ms, 2),
    fmt(e.puback.p99Ms, 2),
    fmt(e.pubackCorrected.p99Ms, 2),
    fmt(e.eventLoopDelay?.p99Ms, 1),
    fmt(e.lateness?.p99Ms, 1),
    fmt(e.clientCpuCores, 2),
    fmt(e.emulatorCores, 2),
    fmt(e.otherCores, 2),
    e.error !== undefined ? 'FAILED' : String(e.failed),
  ]);
}

function renderTelemetry(r: BenchReport): string[] {
  const out = [`Telemetry: ${r.method.telemetry}`];
  if (r.method.pinning !== undefined) out.push(`  (${r.method.pinning})`);
  out.push(
    "  (loop delay: the client's event-loop delay over the window; lateness: edgefleet's scheduler, task start − intended time)",
  );
  const rows = telemetryRows(r);
  out.push(...table(TELEMETRY_COLUMNS, rows, ['l', ...Array<'r'>(14).fill('r')]));
  const ceilings =
    rows.length === 0
      ? []
      : telemetryEntries(r).map(({ v, e }) => `${NAMES[v]} @${fmt(e.identities)}: ~${fmt(e.pairCeilingPerSec)}/s`);
  if (ceilings.length > 0) {
    out.push(
      `  Client and emulator share ${r.machine.cores} cores; from their CPU per message, the pair would fill them at about: ${ceilings.join(', ')} (linear estimate, an upper bound).`,
    );
  }
  const gcs = telemetryEntries(r).flatMap(({ v, e }) =>
    e.gc === undefined
      ? []
      : [
          `${NAMES[v]} @${fmt(e.identities)}: ${fmt(e.gc.count)} pauses, ${fmt(e.gc.totalMs)} ms in all, longest ${fmt(e.gc.maxMs, 1)} ms (${fmt(e.gc.major)} major, longest ${fmt(e.gc.majorMaxMs, 1)} ms)`,
        ],
  );
  if (gcs.length > 0) out.push(`  Garbage collection over the window: ${gcs.join('; ')}.`);
  return out;
}

function renderLateness(l: BenchReport['lateness']): string[] {
  if (l === null) return ['Scheduler lateness: not measured'];
  const out: string[] = [];
  if (l.count > 0) {
    out.push(
      `Scheduler lateness (edgefleet sending telemetry, ${fmt(l.identities)} identities every ${fmt(l.intervalMs)} ms, ${fmt(l.count)} tasks): p50 ${fmt(l.p50Ms, 2)} ms, p99 ${fmt(l.p99Ms, 2)} ms, p99.9 ${fmt(l.p999Ms, 2)} ms, max ${fmt(l.maxMs, 2)} ms` +
        (l.mqttjsEventLoopDelayP99Ms === undefined
          ? ''
          : `; plain mqtt.js event-loop delay p99 in the same configuration ${fmt(l.mqttjsEventLoopDelayP99Ms, 1)} ms`),
    );
  }
  const so = l.schedulerOnly;
  if (so !== undefined) {
    out.push(
      `Scheduler alone (${fmt(so.identities)} tasks every ${fmt(so.intervalMs)} ms, no I/O): p50 ${fmt(so.p50Ms, 2)} ms, p99 ${fmt(so.p99Ms, 2)} ms, max ${fmt(so.maxMs, 2)} ms (${fmt(so.tasksPerSec)} tasks/s; ${fmt(so.cpuMicrosPerTask, 1)} µs of process CPU per task, timer wake-ups included)`,
    );
  }
  return out;
}

const measured = (t: Target) =>
  t.value === null
    ? '–'
    : t.name.includes('lateness')
      ? `${fmt(t.value, 2)} ms`
      : t.name.startsWith('identities')
        ? fmt(t.value)
        : `${fmt(t.value, 3)}×`;

function renderLimiter(l: LimiterCostFigures | undefined): string[] {
  if (l === undefined) return [];
  const c = l.cpuMicrosPerOp;
  return [
    `Limits (${fmt(l.identities)} identities, ${fmt(l.operations)} operations, in process): ${fmt(c.none, 3)} µs of ` +
      `CPU per operation without limits, ${fmt(c.hubTier, 3)} µs with S3 × 10's, ${fmt(c.perIdentity, 3)} µs with ` +
      `a bucket per identity (IoT Central), ${fmt(c.held, 3)} µs for one held and let go by the shaping's timer`,
  ];
}

function renderTargets(r: BenchReport): string[] {
  return [
    'Targets (reported, not enforced):',
    ...table(
      ['', 'target', 'measured', ''],
      r.targets.map((t) => [t.name, t.want, measured(t), t.pass === null ? 'n/a' : t.pass ? 'pass' : 'MISS']),
      ['l', 'l', 'r', 'l'],
    ),
  ];
}

/** The ratios, notes and errors, each under a blank line when there are any. */
function renderNotes(r: BenchReport): string[] {
  const out: string[] = [];
  const shown = Object.entries(r.ratios)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${k} ${fmt(v, 2)}`);
  if (shown.length > 0) out.push('', `Ratios: ${shown.join(', ')}`);
  if (r.notes.length > 0) out.push('', 'Notes:', ...r.notes.map((n) => `  - ${n}`));
  if (r.errors.length > 0) out.push('', 'Errors:', ...r.errors.map((e) => `  - ${e}`));
  return out;
}

export function renderTable(r: BenchReport): string {
  return [
    `edgefleet bench ${r.date}${r.quick ? ' (quick)' : ''}: ${r.machine.cores} cores ${r.machine.cpuModel}, Node ${r.machine.node}, ${r.durationSeconds} s`,
    '',
    ...renderConnect(r),
    '',
    ...renderTelemetry(r),
    ...renderDurability(r.durability),
    '',
    ...renderLateness(r.lateness),
    ...renderLimiter(r.limiter),
    '',
    ...renderTargets(r),
    ...renderNotes(r),
  ].join('\n');
}
