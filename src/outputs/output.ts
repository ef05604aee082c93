// The output interface, as k6 keeps it: the coordinator produces one stream of merged per-second snapshots and a
// final aggregate; each output (the dashboard, the progress line, Prometheus, live thresholds, reconciliation, the
// report files, a JSON-lines stream) reads that stream and nothing else. A new output is one new file.
import type { MetricsAggregate } from '../metrics/aggregate.js';
import type { FaultEventReport, RunLimits } from '../metrics/fault-events.js';
import type { DeviceDetail, ProcessLoad, SaturationVerdict, StateCounts, WorkerLoad } from '../metrics/types.js';
import type { Reconciliation } from '../report/summary.js';

/** What an output may ask of the run. */
export interface RunControl {
  /** Ends the run now (drain, then finish); `reason` is logged and kept in the final. */
  stop(reason: string): void;
  /** Holds back arrivals that have not happened yet, or releases them. */
  pause(paused: boolean): void;
  /** What the worker that owns a device says about it (the dashboard's drill-down). */
  inspect(deviceId: string): Promise<DeviceDetail | undefined>;
}

/** The run, as outputs learn it when it starts. */
export interface RunStart {
  runId: string;
  scenario: string;
  profile: string;
  /** How the target is shown to people (never with secrets). */
  target: string;
  seed: number;
  shard?: { index: number; count: number };
  /** Epoch ms of t = 0. */
  startedAtMs: number;
  durationMs: number;
  /** Groups of this run in plan order, with the patterns their things connect by. */
  groups: { name: string; patterns: string[] }[];
  deviceIds: readonly string[];
  /** Everything merged so far; it grows between snapshots (a Prometheus scrape reads it as it stands). */
  aggregate: MetricsAggregate;
  control: RunControl;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
  /** A line for the person running the fleet (an address to connect to). */
  notice(message: string): void;
}

/** One second of the run, merged over every worker. */
export interface RunSnapshot {
  /** Epoch ms when it was taken. */
  atMs: number;
  elapsedMs: number;
  /** Where the run is in its profile: "stage 2/3 → 50/s", "hold 50/s", "ramp-down", "draining". */
  stage: string;
  paused: boolean;
  stopping: boolean;
  /** Everything merged so far; `aggregate.lastInterval()` is the second that just closed. */
  aggregate: MetricsAggregate;
  /** Identities by state per group, and per pattern. */
  states: StateCounts;
  patterns: StateCounts;
  workers: WorkerLoad[];
  process: ProcessLoad;
  /** Connections the identities hold open to the target. */
  connections: number;
  /** The profile's events as they stand: planned, under way (not whole yet), or whole again. */
  events: FaultEventReport[];
}

/** What an output finds at the end and hands on to the outputs after it (a reconciliation for the report). */
export interface RunFindings {
  reconciliation?: Reconciliation;
  /** Whether the load generator, not the target, limited the run (outputs/saturation.ts). */
  verdict?: SaturationVerdict;
}

/** The end of the run: the final aggregate and what it was made of. */
export interface RunFinal extends RunFindings {
  endedAtMs: number;
  aggregate: MetricsAggregate;
  states: StateCounts;
  patterns: StateCounts;
  /** Messages the target acknowledged, per identity (reconciliation compares them with what it received). */
  acknowledgedBy: Record<string, number>;
  /** Why the run ended before its profile did (the operator, a threshold); absent when it ran to the end. */
  stoppedEarly?: string;
  /** Why part of the fleet's figures are missing (a worker crashed); the run is then reported as incomplete. */
  incomplete?: string;
  /** The profile's events: what each took away, how long until the fleet was whole again. */
  events?: FaultEventReport[];
  /** The descriptors the plan needed against this process's limit, and where the run met a limit. */
  limits?: RunLimits;
}

export interface Output {
  readonly name: string;
  start?(run: RunStart): void | Promise<void>;
  /** Once a second; must not block (the coordinator's loop merges the workers' snapshots). */
  snapshot?(snapshot: RunSnapshot): void;
  /** In the order the outputs were given; findings returned here are in the final the next outputs get. */
  finish?(final: RunFinal): void | RunFindings | Promise<void | RunFindings>;
  /** Releases what it holds (a terminal, a port, a file), whether or not the run finished. */
  close?(): void | Promise<void>;
}
