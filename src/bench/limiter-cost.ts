// What the emulator's limits cost: 100,000 identities' worth of operations fed to its limiters in process, with no
// limits, a hub tier's (hub-wide buckets), IoT Central's (a bucket per identity as well), and with every operation
// held back and let go by the shaping's one timer. Process CPU per operation, nothing else running.
import { HubLimits, planLimits, type LimitedOperation, type LimitsPlan } from '../emulator/index.js';

export interface LimiterCostFigures {
  identities: number;
  /** Operations fed per configuration. */
  operations: number;
  /** Process CPU per operation, in µs. */
  cpuMicrosPerOp: { none: number; hubTier: number; perIdentity: number; held: number };
  /** Operations each configuration refused or held (0 but for `held`: the feed stays within the limits). */
  notAdmitted: { hubTier: number; perIdentity: number };
}

const OPERATIONS: LimitedOperation[] = ['connect', 'd2c', 'twinRead', 'd2c'];
const micros = (cpu: NodeJS.CpuUsage, ops: number) => Math.round(((cpu.user + cpu.system) / ops) * 1000) / 1000;

/** Feeds `rounds` operations per identity, round after round; the CPU it took. */
function feed(limits: HubLimits, ids: string[], rounds: number): NodeJS.CpuUsage {
  const proceed = () => {};
  const c0 = process.cpuUsage();
  for (let r = 0; r < rounds; r++) {
    const op = OPERATIONS[r % OPERATIONS.length] as LimitedOperation;
    for (const id of ids) limits.take(op, id, 1, proceed);
  }
  return process.cpuUsage(c0);
}

function notAdmitted(limits: HubLimits): number {
  const ops = limits.toJson()?.operations ?? {};
  return Object.values(ops).reduce((n, o) => n + o.throttled + o.shaped, 0);
}

/** Every operation held for a moment, then let go by the one timer: the cost of the shaping queue. */
async function heldCost(ids: string[]): Promise<NodeJS.CpuUsage> {
  const plan: LimitsPlan = {
    name: 'held',
    rates: { d2c: { perSecond: 1_000_000 } },
    shapingBurstMs: 0,
    shapingQueueMs: 60_000,
  };
  const limits = new HubLimits(plan);
  let released = 0;
  let allReleased: () => void = () => {};
  const done = new Promise<void>((resolve) => (allReleased = resolve));
  const proceed = () => {
    if (++released === ids.length) allReleased();
  };
  const c0 = process.cpuUsage();
  for (const id of ids) limits.take('d2c', id, 1, proceed);
  await done;
  const cpu = process.cpuUsage(c0);
  limits.close();
  return cpu;
}

export async function limiterCost(identities = 100_000, rounds = 8): Promise<LimiterCostFigures> {
  const ids = Array.from({ length: identities }, (_, i) => `bench-device-${i}`);
  const operations = identities * rounds;
  // S3 × 10 takes 60,000 connections and messages a second, 60 s of them at once: the feed stays within it.
  const hub = new HubLimits(planLimits({ hubTier: 'S3', hubUnits: 10 }));
  // IoT Central's bucket per identity (10 at once each), under a hub-wide rate the feed stays within.
  const perIdentityPlan: LimitsPlan = {
    name: 'per identity',
    rates: { d2c: { perSecond: 1e9, perIdentityPerSecond: 10 } },
    shapingBurstMs: 60_000,
    shapingQueueMs: 10_000,
  };
  const perIdentity = new HubLimits(perIdentityPlan);
  const none = new HubLimits(undefined);
  feed(none, ids, 1); // warm up the code paths
  const cpuNone = feed(none, ids, rounds);
  const cpuHub = feed(hub, ids, rounds);
  const cpuPerIdentity = feed(perIdentity, ids, Math.min(rounds, 10));
  const cpuHeld = await heldCost(ids);
  return {
    identities,
    operations,
    cpuMicrosPerOp: {
      none: micros(cpuNone, operations),
      hubTier: micros(cpuHub, operations),
      perIdentity: micros(cpuPerIdentity, identities * Math.min(rounds, 10)),
      held: micros(cpuHeld, identities),
    },
    notAdmitted: { hubTier: notAdmitted(hub), perIdentity: notAdmitted(perIdentity) },
  };
}
