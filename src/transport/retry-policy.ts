// One retry policy for every simulated identity, as the Azure IoT SDKs and the DPS troubleshooting guidance advise
// (docs/protocol.md §1.5, §1.6, §3.4, §9): whether a failure is retried on the normal or the throttled backoff,
// answered by registering again through DPS, by fetching a module identity's key again, or given up, with why.
// Pure: the caller keeps the counts (attempt, refusals in a row) and acts on the decision.
import type { Operation } from '../metrics/operations.js';
import { backoffDelay } from './backoff.js';

/**
 * Where the failure happened. `connect`: the first CONNECT of an assignment (from DPS, the assignment cache or a
 * connection string); `reconnect`: connecting again after having been connected; `twin`: the twin GET after a
 * connect; `moduleKey`: a module identity's key from the hub's HTTPS registry, with the device's own token.
 */
export type RetryPhase = 'provision' | 'connect' | 'reconnect' | 'twin' | 'moduleKey';

/**
 * How the identity reaches its hub: assigned through DPS (now, or earlier and kept in the assignment cache); a
 * connection string (nothing to register again with); a module identity whose key its IoT Edge device fetches;
 * a downstream device's upstream leg, opened by its gateway's edgeHub (which can neither register it nor fetch its
 * key).
 * A `moduleKey` failure is the device's (its token was refused): it gives the device's `dps` or `connectionString`.
 */
export type AssignedBy = 'dps' | 'connectionString' | 'module' | 'gateway';

export interface RetrySituation {
  /** The failure as classified (transport/errors.ts); the status of an answer (DPS, twin, HTTPS), when it had one. */
  errorClass: string;
  status?: number;
  /** A throttled answer's `retry-after`, in seconds. */
  retryAfterSeconds?: number;
  phase: RetryPhase;
  assignedBy: AssignedBy;
  /** An assignment had been made for the identity before (in this run, or in an earlier one: the cache). */
  hadAssignment: boolean;
  /** Refusals in a row before this one (reset by a successful connect). */
  refusals: number;
}

export type RetryDecision =
  | { action: 'retry'; backoff: 'normal' }
  /** `retryAfterMs`: what the server said to wait; the throttled backoff when it said nothing. */
  | { action: 'retry'; backoff: 'throttled'; retryAfterMs?: number }
  /** Register again through DPS (after the normal backoff), then connect with the new assignment. */
  | { action: 'reprovision' }
  /** Fetch the module identity's key again (it may have been re-created), then connect. */
  | { action: 'refreshKey' }
  | { action: 'giveUp'; reason: string };

/** Where a failure of each phase counts in the error table (`errors.<class>.byOperation`). */
export const PHASE_OPERATION: Readonly<Record<RetryPhase, Operation>> = {
  provision: 'provision',
  connect: 'connect',
  reconnect: 'connect',
  twin: 'twinGet',
  moduleKey: 'provision',
};

/** A classified failure's part of the situation: its class, status, and a throttled answer's retry-after. */
export function failureOf(e: {
  errorClass: string;
  status?: number | undefined;
}): Pick<RetrySituation, 'errorClass' | 'status' | 'retryAfterSeconds'> {
  const retryAfter = (e as { retryAfterSeconds?: unknown }).retryAfterSeconds;
  return {
    errorClass: e.errorClass,
    ...(e.status === undefined ? {} : { status: e.status }),
    ...(typeof retryAfter === 'number' ? { retryAfterSeconds: retryAfter } : {}),
  };
}

/** Refusals in a row after which an identity is failed: five registrations or key fetches answered "not you". */
export const MAX_REFUSALS = 5;

/** A refusal: the target does not (or no longer) accept this identity or credential (CONNACK 2/4/5, 401/403/404). */
export function isRefusal(s: Pick<RetrySituation, 'errorClass' | 'status'>): boolean {
  return s.errorClass === 'auth' || s.status === 401 || s.status === 403 || s.status === 404;
}

/** The decision for one failure; see the table in test/transport/retry-policy.test.ts. */
export function decideRetry(s: RetrySituation): RetryDecision {
  if (s.errorClass === 'throttled' || s.status === 429) {
    return s.retryAfterSeconds === undefined
      ? { action: 'retry', backoff: 'throttled' }
      : { action: 'retry', backoff: 'throttled', retryAfterMs: Math.max(0, s.retryAfterSeconds * 1000) };
  }
  // This machine is out of descriptors, ports or memory: trying again at once only adds to it, so wait as long as
  // a throttled identity does while other identities finish or give theirs back.
  if (s.errorClass === 'exhaustion') return { action: 'retry', backoff: 'throttled' };
  if (isRefusal(s)) return refused(s);
  // An unacceptable protocol version, a malformed request or answer, a refused subscription: trying again sends the
  // same. A twin read is tried again on a new connection whatever went wrong.
  if (s.errorClass === 'protocol' && s.phase !== 'twin') {
    return { action: 'giveUp', reason: 'the target refused the protocol or request' };
  }
  return { action: 'retry', backoff: 'normal' };
}

function refused(s: RetrySituation): RetryDecision {
  if (s.refusals + 1 >= MAX_REFUSALS) return { action: 'giveUp', reason: `refused ${MAX_REFUSALS} times in a row` };
  switch (s.assignedBy) {
    case 'dps':
      // Never assigned: the enrollment does not take this identity, and registering again sends the same.
      if (s.phase === 'provision' && !s.hadAssignment) {
        return { action: 'giveUp', reason: 'DPS refused the registration' };
      }
      if (s.phase === 'twin') return { action: 'retry', backoff: 'normal' };
      // DPS troubleshooting: a device that was assigned and is refused (401, 403, 404) registers again.
      return { action: 'reprovision' };
    case 'connectionString':
      // Credentials that never worked will not; an identity that was connected may be enabled again.
      if (s.phase === 'connect' || s.phase === 'moduleKey') {
        return { action: 'giveUp', reason: "the hub refused the connection string's credentials" };
      }
      return { action: 'retry', backoff: 'normal' };
    case 'module':
      // The registry may have re-created the module with a new key.
      return s.phase === 'twin' ? { action: 'retry', backoff: 'normal' } : { action: 'refreshKey' };
    case 'gateway':
      // edgeHub cannot register a child again: the child is disconnected and connects (and registers) itself.
      return { action: 'giveUp', reason: 'the hub refused the downstream device upstream' };
  }
}

/**
 * How long to wait before acting on a decision, for retry number `attempt` (1 = first): the SDKs' backoff, the
 * first retry immediate unless throttled (docs/protocol.md §1.6); a server's `retry-after` as given.
 */
export function retryDelay(decision: RetryDecision, attempt: number, random: () => number): number {
  if (decision.action === 'giveUp') return 0;
  if (decision.action === 'retry' && decision.backoff === 'throttled') {
    return decision.retryAfterMs ?? backoffDelay(attempt, true, random);
  }
  return backoffDelay(attempt, false, random);
}

/** One identity's retry state: the attempt number for the backoff and its refusals in a row. */
export class RetryState {
  attempt = 0;
  refusals = 0;

  /** Decides for a failure and counts it; `delayMs` is how long to wait before acting. */
  next(s: Omit<RetrySituation, 'refusals'>, random: () => number): RetryDecision & { delayMs: number } {
    const decision = decideRetry({ ...s, refusals: this.refusals });
    if (isRefusal(s)) this.refusals += 1;
    if (decision.action === 'giveUp') return { ...decision, delayMs: 0 };
    this.attempt += 1;
    return { ...decision, delayMs: retryDelay(decision, this.attempt, random) };
  }

  /**
   * A failure already being answered elsewhere (a refusal while the device registers again): retried on the normal
   * backoff, and not counted as a refusal of its own.
   */
  meanwhile(random: () => number): RetryDecision & { delayMs: number } {
    this.attempt += 1;
    const decision: RetryDecision = { action: 'retry', backoff: 'normal' };
    return { ...decision, delayMs: retryDelay(decision, this.attempt, random) };
  }

  /** Connected: the next failure starts the backoff over, and refusals are no longer in a row. */
  connected(): void {
    this.attempt = 0;
    this.refusals = 0;
  }

  /** A step succeeded short of connecting (a registration): the backoff starts over, refusals still count. */
  progressed(): void {
    this.attempt = 0;
  }
}
