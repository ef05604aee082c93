// How big one shard's pod must be, from the bench's per-identity figures (README, "Speed and memory") and the
// descriptors and local ports the largest shard needs at its peak (the same estimate `edgefleet run` checks before
// anything connects).
import type { LoadedScenario } from '../config/load.js';
import { planFleet, shardOf, type PlannedIdentity } from '../config/plan.js';
import type { Arrivals } from '../config/profile.js';
import { estimateDescriptors, EMULATOR_BASELINE, peakRate, PER_WORKER } from '../engine/descriptors.js';

/** The bench's figures of 27 November 2026 (README, "Speed and memory"): edgefleet on one core, Node 20. */
export const BENCH = {
  /** RSS per connected identity: TLS, SAS, the usual subscriptions and a twin GET. */
  rssPerConnectionKiB: 57,
  /** Identities connected per second by one client process. */
  connectsPerSecondPerCore: 349,
  /** QoS 1 telemetry acknowledged per client core, 10,000 identities every 2 s. */
  messagesPerSecondPerCore: 8_690,
  /** The emulator's CPU per message, recording its state (README figures of 6 December 2026). */
  emulatorCpuPerMessageMicros: 129,
} as const;

/** The process before any identity: Node, the coordinator, reports; and each worker thread's own heap. */
const BASE_MIB = 160;
const PER_WORKER_MIB = 64;
/** Bursts the steady figure does not show: DPS registrations, twin documents, resends. */
const HEADROOM = 1.5;
/** Local ports of one source address per target address (Linux's default ip_local_port_range, 32768–60999). */
export const PORTS_PER_ADDRESS = 28_232;

export interface ShardSize {
  /** The largest shard's identities and the connections they hold at once. */
  identities: number;
  connections: number;
  /** Identities arriving per second at the profile's peak, and telemetry messages per second, per shard. */
  connectsPerSecond: number;
  messagesPerSecond: number;
  workers: number;
  cpu: string;
  memoryRequest: string;
  memoryLimit: string;
  /** File descriptors the shard's process needs at its peak (and its embedded emulator's, in the same container). */
  descriptors: number;
  emulatorDescriptors?: number;
}

const scaled = (arrivals: Arrivals, shards: number): Arrivals => ({
  startRate: arrivals.startRate / shards,
  stages: arrivals.stages.map((stage) => ({ ...stage, target: stage.target / shards })),
});

/** Telemetry messages per second of plain and downstream devices (IoT Edge modules send at their own pace). */
function telemetryRate(loaded: LoadedScenario, identities: readonly PlannedIdentity[]): number {
  const intervalOf = new Map<string, number>();
  for (const group of loaded.groups)
    if (group.kind === 'device') intervalOf.set(group.name, group.config.telemetry.interval);
  for (const leaf of loaded.downstream) intervalOf.set(leaf.name, leaf.config.telemetry.interval);
  const multiplier = loaded.profile.telemetry.rateMultiplier;
  let rate = 0;
  for (const identity of identities) {
    const interval = intervalOf.get(identity.group);
    if (interval !== undefined && interval > 0) rate += (1000 / interval) * multiplier;
  }
  return rate;
}

const halves = (cores: number) => Math.max(0.5, Math.ceil(cores * 2) / 2);
const mebibytes = (mib: number) => `${Math.ceil(mib / 64) * 64}Mi`;

/** The largest of the shards (by connections), sized. */
export function shardSize(loaded: LoadedScenario, shards: number): ShardSize {
  const plan = planFleet({ scenario: loaded.scenario, profile: loaded.profile, durationMs: loaded.durationMs });
  const arrivals = scaled(loaded.profile.arrivals, shards);
  // Against the emulator target each shard starts its own embedded emulator, in its container.
  const embeddedEmulator = loaded.target.kind === 'emulator';
  let largest: { identities: PlannedIdentity[]; connections: number; descriptors: number } | undefined;
  for (let index = 0; index < shards; index++) {
    const identities = shardOf(plan.identities, { index, count: shards });
    const estimate = estimateDescriptors({
      identities,
      groups: loaded.groups,
      target: loaded.target.kind,
      arrivals,
      workers: 1,
      embeddedEmulator,
      gatewayListen: 0,
      baseline: EMULATOR_BASELINE,
    });
    if (largest === undefined || estimate.connections > largest.connections)
      largest = { identities, connections: estimate.connections, descriptors: estimate.needed };
  }
  const { identities, connections, descriptors } = largest!;
  const connectsPerSecond = Math.min(identities.length, peakRate(arrivals));
  const messagesPerSecond = telemetryRate(loaded, identities);
  const emulatorCores = embeddedEmulator ? (messagesPerSecond * BENCH.emulatorCpuPerMessageMicros) / 1e6 : 0;
  const clientCores = Math.max(
    connectsPerSecond / BENCH.connectsPerSecondPerCore,
    messagesPerSecond / BENCH.messagesPerSecondPerCore,
  );
  const cores = halves(clientCores + emulatorCores);
  const workers = Math.max(1, Math.ceil(clientCores));
  // The embedded emulator holds the other end of every connection; the client's figure stands in for its own.
  const ends = embeddedEmulator ? 2 : 1;
  const perConnections = (connections * ends * BENCH.rssPerConnectionKiB * HEADROOM) / 1024;
  const memory = BASE_MIB * ends + workers * PER_WORKER_MIB + perConnections;
  return {
    identities: identities.length,
    connections,
    connectsPerSecond,
    messagesPerSecond,
    workers,
    cpu: String(cores),
    memoryRequest: mebibytes(memory),
    memoryLimit: mebibytes(memory * HEADROOM),
    descriptors: descriptors + (workers - 1) * PER_WORKER,
    ...(embeddedEmulator ? { emulatorDescriptors: connections + EMULATOR_BASELINE } : {}),
  };
}
