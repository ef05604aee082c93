// Every failure is classified where it happens: auth, throttled, timeout, protocol, network, server, exhaustion (the
// classes that reports and thresholds count: README "Thresholds", `errors.<class>.count`).
import type { ErrorClass } from '../metrics/operations.js';

export class ClassifiedError extends Error {
  constructor(
    readonly errorClass: ErrorClass,
    message: string,
    readonly status?: number,
    /** A throttled answer's `retry-after`, in seconds (the retry policy waits that long). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRINUSE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** This machine's limits (descriptors, memory, local ports), not the target's: README "Limits of one machine". */
const EXHAUSTION_CODES = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'EADDRNOTAVAIL']);
const EXHAUSTION_TEXT = /\b(EMFILE|ENFILE|ENOMEM|EADDRNOTAVAIL)\b/;

/**
 * CONNACK return codes of MQTT 3.1.1 as IoT Hub uses them (docs/protocol.md §1.5). `limited`: the target applies
 * rate limits, so a CONNACK 3 is its connect-rate throttle (3.1.1 has no better code for it) and is `throttled`.
 */
export function classifyConnack(code: number, limited = false): ClassifiedError {
  switch (code) {
    case 1:
      return new ClassifiedError('protocol', 'CONNACK 1: unacceptable protocol version', code);
    case 2:
      return new ClassifiedError('auth', 'CONNACK 2: identifier rejected', code);
    // Without limits, the node SDK's ServiceUnavailableError: retried on the normal backoff.
    case 3:
      return limited
        ? new ClassifiedError('throttled', 'CONNACK 3: server unavailable (the connect-rate throttle)', code)
        : new ClassifiedError('server', 'CONNACK 3: server unavailable', code);
    case 4:
      return new ClassifiedError('auth', 'CONNACK 4: bad user name or password', code);
    case 5:
      return new ClassifiedError('auth', 'CONNACK 5: not authorized', code);
    default:
      return new ClassifiedError('protocol', `CONNACK ${code}`, code);
  }
}

/** A status of a DPS, twin or HTTP answer, with its `retry-after` when it gave one. */
export function classifyStatus(status: number, what: string, retryAfterSeconds?: number): ClassifiedError {
  const cls: ErrorClass =
    status === 401 || status === 403
      ? 'auth'
      : status === 429
        ? 'throttled'
        : status === 408 || status === 504
          ? 'timeout'
          : status >= 500
            ? 'server'
            : 'protocol';
  const wait = retryAfterSeconds === undefined ? '' : ` (retry after ${retryAfterSeconds} s)`;
  return new ClassifiedError(cls, `${what}: status ${status}${wait}`, status, retryAfterSeconds);
}

/**
 * A connection the server closed. With sends still waiting for their PUBACK on a target that applies limits, it is
 * the target refusing device-to-cloud traffic (traffic shaping's queue full, or the daily quota spent: 3.1.1 has
 * no code for either), so `throttled`; otherwise the server or the network went away.
 */
export function closedByServer(unacknowledged: number, limited: boolean): ClassifiedError {
  if (limited && unacknowledged > 0) {
    return new ClassifiedError(
      'throttled',
      `connection closed by the target with ${unacknowledged} send(s) awaiting PUBACK (throttle or quota)`,
    );
  }
  return new ClassifiedError('network', 'connection closed by the server or the network');
}

export function classify(err: unknown, limited = false): ClassifiedError {
  if (err instanceof ClassifiedError) return err;
  const e = err as NodeJS.ErrnoException & { code?: unknown };
  if (typeof e?.code === 'number') return classifyConnack(e.code, limited);
  if (typeof e?.code === 'string') {
    if (EXHAUSTION_CODES.has(e.code)) return new ClassifiedError('exhaustion', `${e.code}: ${e.message}`);
    if (NETWORK_CODES.has(e.code)) return new ClassifiedError('network', `${e.code}: ${e.message}`);
    if (e.code === 'ETIMEDOUT') return new ClassifiedError('timeout', e.message);
    if (e.code.startsWith('ERR_SSL') || e.code.startsWith('ERR_TLS') || e.code.includes('CERT')) {
      return new ClassifiedError('network', `TLS: ${e.message}`);
    }
  }
  const message = e instanceof Error ? e.message : String(err);
  if (EXHAUSTION_TEXT.test(message)) return new ClassifiedError('exhaustion', message);
  if (/timed? ?out|timeout/i.test(message)) return new ClassifiedError('timeout', message);
  if (/not authori[sz]ed|unauthori[sz]ed|bad user/i.test(message)) return new ClassifiedError('auth', message);
  return new ClassifiedError('network', message);
}
