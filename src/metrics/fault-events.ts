// A profile event (a connection drop, a network drop, a target outage or restart) as the run saw it: what it took
// away and how long the fleet took to be whole again. The coordinator keeps it; snapshots carry it live, and
// summary.json has it as `events`. Also where the run met a limit of this machine (descriptors, memory, ports).
import type { ErrorClass } from './operations.js';
import type { LedgerCounts } from './types.js';

export type FaultEventKind = 'dropConnections' | 'networkDrop' | 'targetOutage' | 'targetRestart';

/** Identities connected, and connections open to the target (registrations with DPS in progress not counted). */
export interface FleetLevel {
  identities: number;
  connections: number;
}

export interface FaultEventReport {
  /** Its place in the profile: events[index]. */
  index: number;
  kind: FaultEventKind;
  /** What the profile asks: fraction, group, duration. */
  spec: Record<string, unknown>;
  /** When, ms from the start of the run, as the profile plans it. */
  atMs: number;
  /** When it happened: ISO 8601 and epoch ms; null before. */
  at: string | null;
  startedAtMs: number | null;
  /** The fleet just before it. */
  before: FleetLevel;
  /** Identities it hit and sockets it closed (a networkDrop also cuts registrations with DPS in progress). */
  tookAway: FleetLevel;
  /** Events that take the target away for a while: when it was back (epoch ms); null while it is not. */
  targetBackAtMs?: number | null;
  /** The fewest identities connected in a per-second snapshot of its window. */
  lowestConnected: number | null;
  /** From the event until each worker had its identities and connections back to their level before; null while not. */
  wholeAfterMs: number | null;
  /** Targets that came back: from then until the fleet was whole. */
  wholeAfterTargetBackMs?: number | null;
  /** Why the fleet was not whole again by the end of the run. */
  notWhole?: string;
  /** What the ledger and the errors count: from the event to the second after the fleet was whole (or the end). */
  window: { fromMs: number; toMs: number } | null;
  /** Ledger increments over the window; lost = failed + expired. */
  ledger: (LedgerCounts & { lost: number }) | null;
  errors: Partial<Record<ErrorClass, number>>;
  /** targetRestart: the emulator process killed and the one started again in its place. */
  target?: { killedPid: number | null; pid: number | null; mqttPort: number | null; error?: string };
}

/** The first time this machine ran out of descriptors, memory or ports during the run. */
export interface ExhaustionFinding {
  /** ISO 8601 of the first error of the `exhaustion` class (to the second), and ms from the start of the run. */
  at: string;
  atMs: number;
  /** Identities connected, connections open and sockets in all (registrations included) then (per-second snapshot). */
  connected: number;
  connections: number;
  sockets: number;
  /** The first error's message. */
  message: string | null;
}

/** The descriptors a run needs at its peak, against the limit of the process (pre-flight). */
export interface DescriptorBudget {
  /** The soft limit of open files of this process, and the hard one it can be raised to. */
  limit: number;
  hardLimit: number;
  /** Descriptors the plan needs at its peak in this process, and what they are. */
  needed: number;
  parts: { what: string; count: number }[];
  /** The embedded emulator's needs, in its own process (same limit). */
  emulator?: number;
  /** Connections to one target address against the local ports one source address has. */
  ports?: { needed: number; available: number; localAddresses: number };
  /** Run anyway (--force) though it does not fit. */
  forced?: boolean;
}

/** summary.json `limits`: the pre-flight budget and where the run met a limit. */
export interface RunLimits {
  descriptors?: DescriptorBudget;
  exhaustion?: ExhaustionFinding | null;
  /** The most identities connected at once (per-second snapshots), and connections open then. */
  peakConnected?: number;
}
