// Pre-flight: the file descriptors a plan needs at its peak (a socket per connection, by how each identity reaches
// the target, plus registrations in flight, worker threads and the process's own files) against the limit of open
// files of this process; and connections to one target address against the local ports there are. Node raises the
// soft limit to the hard one when it starts (src/node.cc, PlatformInit), so the limit read here is already raised.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { LoadedGroup } from '../config/load.js';
import type { PlannedIdentity } from '../config/plan.js';
import type { Arrivals } from '../config/profile.js';
import type { DescriptorBudget } from '../metrics/fault-events.js';

/**
 * A registration with DPS takes a TLS handshake, a register, retry-after (1 s by default) and a poll. Those in flight
 * at the peak arrival rate are counted on top of the fleet's connections: a margin for registration sockets still
 * closing as their identities connect, and for identities that register again.
 */
export const ARRIVAL_WINDOW_S = 2;
/** libuv's loop of a worker thread: its epoll descriptor, event and signal descriptors. */
export const PER_WORKER = 6;
/** Log and report files, the JSON-lines output, Prometheus scrapes, the service API's keep-alive sockets. */
export const RESERVE = 32;
/** The emulator process on its own: stdio, its event loop, three listening sockets, its state files. */
export const EMULATOR_BASELINE = 40;
/** Linux's default ephemeral port range (32768-60999), when it cannot be read. */
const DEFAULT_PORTS = 28_232;

export interface DescriptorInput {
  identities: readonly Pick<PlannedIdentity, 'kind' | 'group'>[];
  groups: readonly LoadedGroup[];
  target: 'emulator' | 'iot-central' | 'iot-hub' | 'mqtt';
  arrivals: Arrivals;
  workers: number;
  /** The embedded emulator runs in a child process with the same limit. */
  embeddedEmulator: boolean;
  /** Gateways that open a TLS port (--gateway-listen). */
  gatewayListen: number;
  /** Descriptors this process holds now (stdio, its event loop, loaded files). */
  baseline: number;
}

export interface DescriptorEstimate {
  needed: number;
  parts: { what: string; count: number }[];
  /** The embedded emulator's own need, in its process. */
  emulator?: number;
  /** Sockets to the target at the peak (they all go to one address and port of the emulator or a broker). */
  connections: number;
}

/** What the plan needs at its peak, part by part. */
export function estimateDescriptors(input: DescriptorInput): DescriptorEstimate {
  const byGroup = new Map(input.groups.map((g) => [g.name, g]));
  const count = (kind: PlannedIdentity['kind']) => input.identities.filter((i) => i.kind === kind).length;
  const parts: { what: string; count: number }[] = [];
  const add = (what: string, n: number) => {
    if (n > 0) parts.push({ what, count: n });
  };
  let registering = 0;
  let edges = 0;
  if (input.target === 'mqtt') {
    add(`${fmt(input.identities.length)} devices: a connection to the broker each`, input.identities.length);
  } else {
    const plain = input.identities.filter((i) => i.kind === 'device');
    add(`${fmt(plain.length)} plain devices: a connection to the hub each`, plain.length);
    registering += plain.filter((i) => byGroup.get(i.group)?.config.auth !== 'connectionString').length;
    const edge = edgeConnections(input.identities, byGroup);
    edges = edge.devices;
    for (const part of edge.parts) add(part.what, part.count);
    registering += edge.registering;
    const leaves = count('downstream');
    add(`${fmt(leaves)} downstream devices: an upstream connection each, opened by their gateway`, leaves);
    registering += leaves;
  }
  const inFlight = Math.min(registering, Math.ceil(peakRate(input.arrivals) * ARRIVAL_WINDOW_S));
  const https = registering === 0 ? 0 : Math.ceil((inFlight * edges) / registering);
  add(`${fmt(inFlight)} registrations with DPS in flight (the peak arrival rate over ${ARRIVAL_WINDOW_S} s)`, inFlight);
  add(`${fmt(https)} calls to the hub's HTTPS registry in flight (IoT Edge devices getting module keys)`, https);
  const connections = parts.reduce((n, p) => n + p.count, 0);
  add(`${fmt(input.gatewayListen)} gateways listening for devices`, input.gatewayListen);
  add(`${fmt(input.workers)} worker threads`, input.workers * PER_WORKER);
  const own = `this process: ${input.baseline} open now, ${RESERVE} for logs, reports and service calls`;
  add(own, input.baseline + RESERVE);
  const needed = parts.reduce((n, p) => n + p.count, 0);
  const emulator = input.embeddedEmulator ? { emulator: connections + EMULATOR_BASELINE } : {};
  return { needed, parts, connections, ...emulator };
}

/** IoT Edge devices: edgeAgent, edgeHub and a connection per module; the sensors of identity-translation modules. */
function edgeConnections(
  identities: DescriptorInput['identities'],
  byGroup: Map<string, LoadedGroup>,
): { parts: { what: string; count: number }[]; devices: number; registering: number } {
  const parts: { what: string; count: number }[] = [];
  let devices = 0;
  let registering = 0;
  for (const group of byGroup.values()) {
    if (group.kind !== 'iotEdge') continue;
    const n = identities.filter((i) => i.group === group.name).length;
    if (n === 0) continue;
    devices += n;
    const modules = group.modules.length;
    const sensors = group.modules.reduce(
      (s, m) => s + (m.behaviour.behaviour === 'identity-translation' ? m.behaviour.sensors.count : 0),
      0,
    );
    const each = `${2 + modules} connections each (edgeAgent, edgeHub, ${modules} modules)`;
    parts.push({ what: `${fmt(n)} IoT Edge devices of ${group.name}: ${each}`, count: n * (2 + modules) });
    const what = `${fmt(n * sensors)} sensors of identity-translation modules: a connection each`;
    if (sensors > 0) parts.push({ what, count: n * sensors });
    registering += (group.config.auth === 'connectionString' ? 0 : n) + n * sensors;
  }
  return { parts, devices, registering };
}

/** The highest arrival rate of the profile (identities per second). */
export function peakRate(arrivals: Arrivals): number {
  return Math.max(arrivals.startRate, ...arrivals.stages.map((s) => s.target));
}

/** The limit of open files of this process (soft) and the hard one; undefined where there is none to read. */
export function readDescriptorLimit(): { soft: number; hard: number } | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const m = line === undefined ? null : /Max open files\s+(\S+)\s+(\S+)/.exec(line);
    if (m !== null) return { soft: limitValue(m[1]!), hard: limitValue(m[2]!) };
  } catch {
    // No /proc (macOS): ask the shell.
  }
  if (process.platform === 'win32') return undefined;
  try {
    const out = execFileSync('/bin/sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' }).trim().split('\n');
    return { soft: limitValue(out[0] ?? ''), hard: limitValue(out[1] ?? '') };
  } catch {
    return undefined;
  }
}

/** 21000 → "21,000"; Infinity → "unlimited". */
const fmt = (n: number): string => (Number.isFinite(n) ? n.toLocaleString('en-US') : 'unlimited');

const limitValue = (text: string): number => (text === 'unlimited' ? Number.POSITIVE_INFINITY : Number(text));

/** Descriptors this process holds now; a guess where they cannot be listed. */
export function openDescriptors(): number {
  for (const dir of ['/proc/self/fd', '/dev/fd']) {
    try {
      return Math.max(0, readdirSync(dir).length - 1); // less the one listing them
    } catch {
      // The next, or the guess.
    }
  }
  return 24;
}

/** Local ports one source address has for connections to one address and port. */
export function localPortRange(): number {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo !== undefined && hi !== undefined && hi >= lo) return hi - lo + 1;
  } catch {
    // Not Linux.
  }
  return DEFAULT_PORTS;
}

/** The budget: the estimate against the limit and the ports. */
export function descriptorBudget(
  estimate: DescriptorEstimate,
  limit: { soft: number; hard: number },
  ports: number,
  localAddresses: number,
): DescriptorBudget {
  const available = ports * Math.max(1, localAddresses);
  return {
    limit: limit.soft,
    hardLimit: limit.hard,
    needed: estimate.needed,
    parts: estimate.parts,
    ...(estimate.emulator === undefined ? {} : { emulator: estimate.emulator }),
    ports: { needed: estimate.connections, available, localAddresses: Math.max(1, localAddresses) },
  };
}

export function fits(budget: DescriptorBudget): boolean {
  return (
    budget.needed <= budget.limit &&
    (budget.emulator ?? 0) <= budget.limit &&
    (budget.ports === undefined || budget.ports.needed <= budget.ports.available)
  );
}

/** What a person reads when the plan does not fit: how much, made of what, what to do (or, forced, what happens). */
export function budgetAdvice(budget: DescriptorBudget): string {
  const lines = [
    `this run needs about ${fmt(budget.needed)} file descriptors at its peak, and this process may open ` +
      `${fmt(budget.limit)} (ulimit -n; hard limit ${fmt(budget.hardLimit)}):`,
    ...budget.parts.map((p) => `  ${fmt(p.count).padStart(8)}  ${p.what}`),
  ];
  if (budget.emulator !== undefined) {
    lines.push(`  the embedded emulator, in its own process with the same limit, needs about ${fmt(budget.emulator)}`);
  }
  const worst = Math.max(budget.needed, budget.emulator ?? 0);
  const todo: string[] = [];
  if (worst > budget.limit) {
    const wanted = Math.ceil((worst * 1.1) / 1000) * 1000;
    todo.push(
      wanted <= budget.hardLimit
        ? `raise the limit: ulimit -n ${wanted}`
        : `raise the limit: ulimit -n ${wanted} (above the hard limit: as root, in /etc/security/limits.conf or ` +
            `with LimitNOFILE= for a systemd service)`,
    );
    const shards = Math.max(2, Math.ceil(worst / Math.max(1, budget.limit * 0.9)));
    todo.push(
      `or split the fleet over ${shards} processes or machines: ` +
        `--shard 1/${shards} … --shard ${shards}/${shards} (then edgefleet report merge)`,
    );
  }
  const ports = budget.ports;
  if (ports !== undefined && ports.needed > ports.available) {
    const more = Math.ceil(ports.needed / (ports.available / ports.localAddresses));
    lines.push(
      `  ${fmt(ports.needed)} connections to one address and port, and ${fmt(ports.available)} local ports ` +
        `for them from ${ports.localAddresses} source address(es)`,
    );
    todo.push(`spread the connections over ${more} source addresses: --local-address 127.0.0.2,127.0.0.3,…`);
  }
  const anyway =
    'identities past the limit fail with "exhaustion" errors, and the report says where the limit ' + 'was reached';
  if (budget.forced === true) return [...lines, `going on (--force): ${anyway}`].join('\n');
  todo.push(`or run anyway with --force: ${anyway}`);
  return [...lines, 'what to do:', ...todo.map((t) => `  - ${t}`)].join('\n');
}

/** The plan does not fit this process's limits (refused unless forced). */
export class PlanExceedsLimits extends Error {
  constructor(readonly budget: DescriptorBudget) {
    super(budgetAdvice(budget));
    this.name = 'PlanExceedsLimits';
  }
}
