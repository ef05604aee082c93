// What the emulator saw, per identity and in total, for /stats and for reconciling a run's ledger. Every change is
// told to the journal, so that the counts outlive the process (src/emulator/store.ts).
import * as hdr from 'hdr-histogram-js';
import { EPHEMERAL, type Journal } from './journal.js';

export interface IdentityStats {
  messagesReceived: number;
  bytesReceived: number;
  connects: number;
  disconnects: number;
  twinGets: number;
  twinPatches: number;
  desiredPatchesSent: number;
  methodCalls: number;
  methodResponses: number;
  c2dSent: number;
  c2dCompleted: number;
}

/** Why a client was refused or dropped. */
export type RejectionReason =
  | 'auth'
  | 'unknownTopic'
  | 'badSubscription'
  | 'qos2'
  | 'oversized'
  | 'badBody'
  | 'protocol'
  | 'takenOver'
  /** Refused with CONNACK 3 during an outage (POST /admin/outages). */
  | 'outage'
  /** JSON with a `__proto__` key (twin patch, DPS payload, REST or hub HTTPS body): 400. */
  | 'prototypeKey'
  /** JSON nested past the twin's 10 levels or the wire's 32: 400. */
  | 'tooDeep'
  /** More unsent replies queued for one client than MAX_CLIENT_QUEUE_BYTES: the client was dropped. */
  | 'overBuffer'
  /** A CONNECT for a client id that is connected, which did not authenticate as it: refused, the session stays. */
  | 'takeoverRefused'
  /** A TLS handshake not finished within the handshake timeout: the socket was destroyed. */
  | 'tlsHandshakeTimeout'
  /** A TLS handshake that failed (not TLS, no common cipher, bad certificate): the socket was destroyed. */
  | 'tlsHandshakeFailed'
  /** A handler threw on one client's input: that client was dropped (or answered 500), the emulator went on. */
  | 'internalError'
  /** Telemetry names past the per-identity cap of last values: the message counted, those values not kept. */
  | 'telemetryNameCap'
  /** A DPS register while the emulator already holds its cap of operations: 429, retry later. */
  | 'dpsOperationCap'
  /** A module identity past the per-device cap: refused. */
  | 'moduleCap';

export const IDENTITY_COUNTERS = [
  'messagesReceived',
  'bytesReceived',
  'connects',
  'disconnects',
  'twinGets',
  'twinPatches',
  'desiredPatchesSent',
  'methodCalls',
  'methodResponses',
  'c2dSent',
  'c2dCompleted',
] as const satisfies readonly (keyof IdentityStats)[];

export type DpsCounter = 'registrations' | 'assigned' | 'failed' | 'polls';

/** What is recorded of the totals besides the identities: refusals, DPS counts and the latency histogram. */
export interface RecordedTotals {
  rejections: Partial<Record<RejectionReason, number>>;
  dps: Partial<Record<DpsCounter, number>>;
  /** The histogram, compressed (HdrHistogram's base64 form), and the unstamped count. */
  latency?: { histogram: string; unstamped: number };
}

const newLatencyHistogram = () =>
  hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000, numberOfSignificantValueDigits: 3 });

export const newIdentityStats = (): IdentityStats => ({
  messagesReceived: 0,
  bytesReceived: 0,
  connects: 0,
  disconnects: 0,
  twinGets: 0,
  twinPatches: 0,
  desiredPatchesSent: 0,
  methodCalls: 0,
  methodResponses: 0,
  c2dSent: 0,
  c2dCompleted: 0,
});

export class EmulatorStats {
  /** When this process started. */
  readonly startedAt = new Date().toISOString();
  /** Since when the counts run: the first start on this state directory, or this process's start with --ephemeral. */
  countingSince = this.startedAt;
  readonly identities = new Map<string, IdentityStats>();
  readonly rejections: Record<RejectionReason, number> = {
    auth: 0,
    unknownTopic: 0,
    badSubscription: 0,
    qos2: 0,
    oversized: 0,
    badBody: 0,
    protocol: 0,
    takenOver: 0,
    outage: 0,
    prototypeKey: 0,
    tooDeep: 0,
    overBuffer: 0,
    takeoverRefused: 0,
    tlsHandshakeTimeout: 0,
    tlsHandshakeFailed: 0,
    internalError: 0,
    telemetryNameCap: 0,
    dpsOperationCap: 0,
    moduleCap: 0,
  };
  readonly dps: Record<DpsCounter, number> = { registrations: 0, assigned: 0, failed: 0, polls: 0 };
  /** End-to-end latency of telemetry, from `iothub-creation-time-utc` to arrival, in ms. */
  readonly latency = newLatencyHistogram();
  /** Messages whose creation time was missing or unreadable, so not in `latency`. */
  latencyUnstamped = 0;

  constructor(private readonly journal: Journal = EPHEMERAL) {}

  /** The counters of one identity, to change: the journal is told they changed. */
  of(identity: string): IdentityStats {
    let s = this.identities.get(identity);
    if (s === undefined) {
      s = newIdentityStats();
      this.identities.set(identity, s);
    }
    this.journal.identityStats(identity);
    return s;
  }

  /** Counts a refusal. */
  count(reason: RejectionReason): void {
    this.rejections[reason] += 1;
    this.journal.totals('counters');
  }

  countDps(counter: DpsCounter): void {
    this.dps[counter] += 1;
    this.journal.totals('counters');
  }

  recordTelemetry(identity: string, bytes: number, creationTimeUtc: string | undefined, now: number): void {
    const s = this.of(identity);
    s.messagesReceived += 1;
    s.bytesReceived += bytes;
    const created = creationTimeUtc === undefined ? NaN : Date.parse(creationTimeUtc);
    if (Number.isNaN(created)) this.latencyUnstamped += 1;
    else this.latency.recordValue(Math.min(Math.max(now - created, 0), 3_600_000));
    this.journal.totals('latency');
  }

  /** What the store records of the totals (the histogram only with `withLatency`: encoding it costs). */
  recordedTotals(withLatency: boolean): RecordedTotals {
    const latency = withLatency
      ? { latency: { histogram: hdr.encodeIntoCompressedBase64(this.latency), unstamped: this.latencyUnstamped } }
      : {};
    return { rejections: { ...this.rejections }, dps: { ...this.dps }, ...latency };
  }

  /** Puts back recorded totals; unknown counters (from another version) are left out. */
  restoreTotals(t: RecordedTotals): void {
    for (const key of Object.keys(this.rejections) as RejectionReason[]) this.rejections[key] = t.rejections[key] ?? 0;
    for (const key of Object.keys(this.dps) as DpsCounter[]) this.dps[key] = t.dps[key] ?? 0;
    if (t.latency !== undefined) {
      this.latency.reset();
      this.latency.add(hdr.decodeFromCompressedBase64(t.latency.histogram));
      this.latencyUnstamped = t.latency.unstamped;
    }
  }

  toJson() {
    const totals = newIdentityStats();
    const identities: Record<string, IdentityStats> = {};
    for (const [id, s] of this.identities) {
      identities[id] = s;
      for (const k of Object.keys(totals) as (keyof IdentityStats)[]) totals[k] += s[k];
    }
    const h = this.latency;
    return {
      startedAt: this.startedAt,
      countingSince: this.countingSince,
      totals,
      rejections: this.rejections,
      dps: this.dps,
      latency: {
        unit: 'ms',
        count: h.totalCount,
        min: h.totalCount === 0 ? 0 : h.minNonZeroValue,
        p50: h.getValueAtPercentile(50),
        p95: h.getValueAtPercentile(95),
        p99: h.getValueAtPercentile(99),
        max: h.maxValue,
        unstamped: this.latencyUnstamped,
      },
      identities,
    };
  }
}
