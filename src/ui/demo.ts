// A look at the dashboard without a fleet: synthetic, changing numbers folded by the real nextState.
// Not a command; run `node dist/ui/demo.js [--seconds N] [--tick-ms MS]` in a terminal (the tmux test does).
import type { IntervalView } from '../metrics/aggregate.js';
import { emptyLedger, type ThingState } from '../metrics/types.js';
import { initialState, nextState, startDashboard, type DashboardState, type DeviceDetail } from './index.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  return Number.isFinite(v) ? v : dflt;
};
const seconds = arg('seconds', 0);
const tickMs = arg('tick-ms', 1000);

let seed = 42;
const rnd = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;

const groups = [
  { name: 'thermostats', size: 1000 },
  { name: 'edge-gateways', size: 20, pattern: 'transparent' },
  { name: 'leaf-sensors', size: 200, pattern: 'identity translation' },
];
const deviceIds = groups.flatMap((g) =>
  Array.from({ length: Math.min(g.size, 50) }, (_, i) => `${g.name}-${String(i).padStart(4, '0')}`),
);
const startedAtMs = Date.now();
const durationMs = 5 * 60_000;
const ledger = emptyLedger();
const errors: Record<string, { count: number; lastMessage: string | null }> = {};
const totals: Record<string, number> = {};
let paused = false;
let stopping = false;
let second = Math.floor(startedAtMs / 1000);

function statesAt(t: number): Record<string, Record<string, number>>[] {
  // Two "workers", each with half of every group; identities arrive over the first 40 s.
  return [0, 1].map((w) =>
    Object.fromEntries(
      groups.map((g) => {
        const n = Math.floor(g.size / 2) + (w === 0 ? g.size % 2 : 0);
        const arrived = Math.min(n, Math.floor((n * t) / 40));
        const failed = g.name === 'leaf-sensors' ? Math.min(arrived, Math.floor(t / 10)) : 0;
        const backingOff = t > 20 ? Math.floor(arrived * 0.02) : 0;
        const joining = Math.min(arrived - failed - backingOff, Math.floor(n / 20));
        const connected = arrived - failed - backingOff - joining;
        const s: Record<ThingState, number> = {
          waiting: n - arrived,
          provisioning: Math.ceil(joining / 2),
          connecting: Math.floor(joining / 2),
          connected,
          backingOff,
          stopped: 0,
          failed,
        };
        return [g.name, s];
      }),
    ),
  );
}

/** Latency of one operation over the second: a slow wave with some noise on p99. */
function demoOperation(count: number, base: number, wave: number) {
  return {
    count,
    perSecond: count,
    p50: base * wave,
    p95: base * 2.5 * wave,
    p99: base * (4 + rnd() * 3) * wave,
    max: base * 9,
    raw: { p50: base, p95: base * 2, p99: base * 3, max: base * 8 },
  };
}

/** Telemetry all along, provisioning and connecting while the fleet arrives, a command and patches now and then. */
function demoOperations(t: number, sent: number): IntervalView['operations'] {
  const wave = 1 + 0.8 * Math.sin(t / 6);
  const operations: IntervalView['operations'] = { telemetry: demoOperation(sent, 3.2, wave) };
  if (t < 45) {
    operations.provision = demoOperation(30, 180, wave);
    operations.connect = demoOperation(30, 42, wave);
  }
  if (t % 5 === 0) operations.command = demoOperation(1, 12, wave);
  if (t % 3 === 0) operations.reportedPatch = demoOperation(4, 9, wave);
  return operations;
}

/** Timeouts whenever a message failed, auth errors after 12 s, throttling now and then after 25 s. */
function demoErrors(t: number, failed: number): void {
  if (failed > 0) {
    errors.timeout = {
      count: (errors.timeout?.count ?? 0) + failed,
      lastMessage: `telemetry to devices/thermostats-00${String(t % 100).padStart(2, '0')}/messages/events/ not acknowledged within 30000 ms (PUBACK never came; the connection stays up, the message is counted as failed in the ledger)`,
    };
  }
  if (t > 12)
    errors.auth = {
      count: Math.floor(t / 10),
      lastMessage: 'CONNACK 5 not authorized: SAS token for leaf-sensors-0007 expired at 2024-01-01T00:00:00Z',
    };
  if (t > 25 && t % 7 === 0)
    errors.throttled = {
      count: (errors.throttled?.count ?? 0) + 1,
      lastMessage: 'HTTP 429 IoTHubQuotaExceeded\nretry after 10 s',
    };
}

function interval(t: number): IntervalView {
  const connected = Math.min(1220, Math.floor((1220 * t) / 40));
  const sent = paused ? Math.floor(connected * 0.5) : connected * 2;
  const failed = Math.floor(rnd() * 3);
  const acked = Math.max(0, sent - failed - Math.floor(rnd() * 5));
  ledger.generated += sent;
  ledger.acknowledged += acked;
  ledger.failed += failed;
  const operations = demoOperations(t, sent);
  for (const [k, v] of Object.entries(operations)) totals[k] = (totals[k] ?? 0) + (v?.count ?? 0);
  demoErrors(t, failed);
  second += 1;
  return {
    startMs: second * 1000 - 1000,
    endMs: second * 1000,
    seconds: 1,
    operations,
    ledger: { ...emptyLedger(), generated: sent, acknowledged: acked, failed },
    rates: {
      generatedPerSecond: sent,
      acknowledgedPerSecond: acked,
      failedPerSecond: failed,
      errorsPerSecond: failed,
      throttledPerSecond: 0,
    },
    errors: {},
    gauges: {},
    connected,
    snapshots: 2,
    lateness: { count: 1000, p99: 0.5 + rnd() * (t % 10 === 0 ? 8 : 1), max: 14.5 },
  };
}

/** Eight recent messages, newest first as a worker answers: telemetry, one command, the newest still pending. */
function demoMessages(at: (s: number) => number, now: number): DeviceDetail['messages'] {
  return Array.from({ length: 8 }, (_, i) => ({
    atMs: at(Math.max(1, now - 8 + i)),
    direction: i === 5 ? ('down' as const) : ('up' as const),
    kind: i === 5 ? 'command' : 'telemetry',
    status: i === 7 ? ('pending' as const) : i === 5 ? ('answered' as const) : ('acked' as const),
    latencyMs: i === 7 ? null : 3 + i,
    bytes: i === 5 ? 2 : 20,
    summary: i === 5 ? 'getMaxMinReport → 200' : `{"temperature":${(20 + i / 3).toFixed(1)}}`,
  })).reverse();
}

function demoTransitions(group: string, at: (s: number) => number): DeviceDetail['transitions'] {
  return [
    { atMs: at(0.5), from: 'waiting', to: 'provisioning' },
    { atMs: at(0.9), from: 'provisioning', to: 'connecting' },
    { atMs: at(1.0), from: 'connecting', to: 'connected' },
    ...(group === 'leaf-sensors'
      ? [{ atMs: at(12), from: 'connected' as const, to: 'backingOff' as const, reason: 'connection lost: ECONNRESET' }]
      : []),
  ];
}

function detail(id: string): DeviceDetail | undefined {
  const group = groups.find((g) => id.startsWith(`${g.name}-`));
  if (!group || !deviceIds.includes(id)) return undefined;
  const at = (s: number) => startedAtMs + s * 1000;
  const now = (Date.now() - startedAtMs) / 1000;
  return {
    deviceId: id,
    group: group.name,
    pattern:
      group.name === 'edge-gateways' ? 'iotEdge' : group.name === 'leaf-sensors' ? 'identityTranslation' : 'device',
    state: group.name === 'leaf-sensors' ? 'backingOff' : 'connected',
    workerIndex: 1,
    pendingAcks: 2,
    transitions: demoTransitions(group.name, at),
    messages: demoMessages(at, now),
    messagesSinceMs: at(Math.max(0, now - 10)),
    messagesRecorded: 8,
    ...(group.name === 'edge-gateways'
      ? {
          modules: [
            { moduleId: '$edgeAgent', state: 'connected' as const },
            { moduleId: '$edgeHub', state: 'connected' as const },
            { moduleId: 'SimulatedTemperatureSensor', state: 'connected' as const },
          ],
        }
      : {}),
    ...(group.name === 'leaf-sensors'
      ? { lastError: { cls: 'network', message: 'connection lost: ECONNRESET', atMs: at(12) } }
      : {}),
    note: 'synthetic device (demo)',
  };
}

let state: DashboardState = initialState({
  scenario: 'quickstart',
  profile: 'ramp',
  target: 'emulator 127.0.0.1:8883',
  startedAtMs,
  durationMs,
  groups: groups.map((g) => ({ name: g.name, ...(g.pattern ? { pattern: g.pattern } : {}) })),
  stage: 'stage 1/2 → 50/s',
});
let t = 0;
const dash = await startDashboard({
  initial: state,
  deviceIds,
  onStop: () => {
    stopping = true;
    dash.log('demo: stop requested; closing in 1 s');
    setTimeout(() => void finish(), 1000);
  },
  onPause: (p) => {
    paused = p;
  },
  onDrill: async (id) => {
    await new Promise((r) => setTimeout(r, 100));
    return detail(id);
  },
  onInterrupt: () => void finish(),
});

const timer = setInterval(() => {
  t += 1;
  const iv = interval(t);
  state = nextState(state, {
    now: startedAtMs + t * 1000,
    interval: iv,
    ledger: { ...ledger, inFlight: ledger.generated - ledger.acknowledged - ledger.failed, balanced: true },
    errors,
    operationTotals: totals,
    lateness: { p99: 0.8 + rnd(), max: 14.5 },
    states: statesAt(t),
    workers: [0, 1, 2, 3].map((index) => ({ index, busyPercent: 20 + 70 * rnd(), heapMB: 60 + index * 5 + t / 10 })),
    process: { cpuPercent: 180 + 40 * rnd(), rssMB: 420 + t / 5 },
    stage: t < 120 ? 'stage 1/2 → 50/s' : 'hold 50/s',
    paused,
    stopping,
  });
  dash.update(state);
  if (t === 3) dash.log('demo: a log line printed above the dashboard');
  if (seconds > 0 && t * tickMs >= seconds * 1000) void finish();
}, tickMs);

let finished = false;
async function finish(): Promise<void> {
  if (finished) return;
  finished = true;
  clearInterval(timer);
  await dash.close();
  process.stdout.write('demo finished\n');
}
