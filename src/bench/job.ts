// What the bench parent asks a client process to do, and what the client answers (one JSON line on stdout).
import type { Percentiles } from './measure.js';

/**
 * `mqttjsSharedTls` is plain mqtt.js with one TLS SecureContext shared by all its connections (instead of `ca` per
 * connection, which makes Node build a context per socket): not a baseline, an experiment for what edgefleet's
 * MqttConnection would gain by sharing one.
 */
export type Variant = 'edgefleet' | 'mqttjs' | 'azureSdk' | 'mqttjsSharedTls';

export interface ClientJob {
  variant: Variant;
  kind: 'connect' | 'telemetry';
  /** Device ids are `${idPrefix}${index padded to 6}` for index in [0, identities). */
  idPrefix: string;
  identities: number;
  /** Unfinished connection attempts at most (closed loop). */
  concurrency: number;
  /** Source addresses, round robin by device index; empty = the system's choice. */
  localAddresses: string[];
  target: {
    /** Where to dial (an IP, so no name lookup). */
    host: string;
    port: number;
    /** IoT Hub host name as devices know it (`localhost:PORT`): in usernames and SAS resources. */
    hubHost: string;
    caPem: string;
    /** Primary key of the `devices` enrollment group; device keys derive from it. Never printed. */
    groupKey: string;
  };
  /** The emulator's process id, so the client can read its CPU time and RSS over the same windows. */
  emulatorPid: number;
  /** Whole job deadline for connecting, ms. */
  connectDeadlineMs: number;
  telemetry?: {
    intervalMs: number;
    warmupMs: number;
    durationMs: number;
  };
}

export interface ConnectFigures {
  identities: number;
  connected: number;
  failed: number;
  unfinished: number;
  errors: Record<string, number>;
  elapsedMs: number;
  perSec: number;
  /** Client CPU seconds spent connecting, and connects per client CPU second. */
  cpuSeconds: number;
  perCpuSec: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  heapPerIdentityKB: number;
  externalPerIdentityKB: number;
  rssPerIdentityKB: number;
  /** Emulator CPU (cores busy on average) while connecting, and its RSS growth per connected identity. */
  emulatorCores: number;
  emulatorRssPerIdentityKB: number;
  /** CPU the rest of the machine used meanwhile (cores): anything well above 0 means the figures are disturbed. */
  otherCores: number;
  /** Time from starting an identity to its twin answered (edgefleet: connect+subscribe, then twin GET). */
  latency?: Percentiles;
  notes: string[];
}

export interface TelemetryFigures {
  intervalMs: number;
  offeredPerSec: number;
  windowMs: number;
  sent: number;
  acknowledged: number;
  failed: number;
  achievedPerSec: number;
  clientCpuSeconds: number;
  /** Share of one core the client used in the window. */
  clientCpuCores: number;
  msgsPerCoreSec: number;
  /** Emulator CPU over the window (cores busy on average), the other half of the pair. */
  emulatorCores: number;
  /** CPU the rest of the machine used over the window (cores). */
  otherCores: number;
  /**
   * Estimate: the rate at which client and emulator together would fill every core of the machine, from their
   * CPU per message at this rate (linear extrapolation, so an upper bound).
   */
  pairCeilingPerSec: number;
  /** PUBACK latency, from the publish call to the PUBACK (raw). */
  puback: Percentiles;
  /** From the intended send time to the PUBACK (coordinated-omission corrected). */
  pubackCorrected: Percentiles;
  /** Scheduler lateness (edgefleet only). */
  lateness?: Percentiles;
  /** Event-loop delay over the window (perf_hooks.monitorEventLoopDelay, 5 ms resolution), for every client. */
  eventLoopDelay: Percentiles;
  /** Garbage collections over the window: how many, their pauses in total and the longest (major: mark-compact). */
  gc?: GcFigures;
  inFlightAtEnd: number;
}

export interface GcFigures {
  count: number;
  totalMs: number;
  maxMs: number;
  major: number;
  majorMaxMs: number;
}

export interface ClientResult {
  ok: boolean;
  error?: string;
  variant: Variant;
  kind: ClientJob['kind'];
  gcExposed: boolean;
  connect?: ConnectFigures;
  telemetry?: TelemetryFigures;
}

export const RESULT_MARKER = '@@bench-result ';

export const deviceIdOf = (prefix: string, i: number) => `${prefix}${String(i).padStart(6, '0')}`;
