// What every client under test offers the bench: connect identity i (CONNECT with SAS over TLS, the four usual
// subscriptions, a twin GET answered), optionally stream paced QoS 1 telemetry, and close.
import type { ClientJob } from '../job.js';
import type { ClosedLoop, Percentiles } from '../measure.js';

export interface TelemetryWindow {
  sent: number;
  acknowledged: number;
  failed: number;
  inFlight: number;
  puback: Percentiles;
  pubackCorrected: Percentiles;
  lateness?: Percentiles;
}

export interface ClientAdapter {
  /**
   * Builds what a fleet of this client holds before it connects (edgefleet builds its devices up front, as the
   * engine does). Called after the memory baseline, so it counts in RSS per identity.
   */
  prepare(loop: ClosedLoop): void;
  /**
   * Connects one extra identity and closes it, before anything is measured: module loading, TLS set-up and
   * one-time work of the client (the Azure SDK spawns `lsb_release` for its user agent until it has one) stay
   * out of the figures.
   */
  warmup(): Promise<void>;
  /** Starts identity i; the adapter calls loop.complete once when its twin is answered (or it gave up). */
  launch(i: number): void;
  /** After all completed: waits for what the client does in the background (subscriptions), bounded. */
  finish?(): Promise<string[]>;
  /** Per-identity connect latency, if the adapter measured it; with what it means. */
  connectLatency(): { what: string; stats: Percentiles } | undefined;
  /** Telemetry starts with each connection (job.telemetry set); these open and close a measuring window. */
  windowStart?(): void;
  windowEnd?(): TelemetryWindow;
  close(): Promise<void>;
}

export type AdapterFactory = (
  job: ClientJob,
  keys: string[],
  ids: string[],
  warm: { id: string; key: string },
) => Promise<ClientAdapter>;

/** One small JSON body, the same for every client. */
export const TELEMETRY_BODY = { temperature: 21.5, humidity: 48.25 };

export const localAddressFor = (job: ClientJob, i: number): string | undefined =>
  job.localAddresses.length === 0 ? undefined : job.localAddresses[i % job.localAddresses.length];
