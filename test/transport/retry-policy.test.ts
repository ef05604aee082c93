// The one retry policy as a table: error class × phase × what the identity has → what it does next.
import { describe, expect, it } from 'vitest';
import {
  decideRetry, MAX_REFUSALS, retryDelay, RetryState, type RetryDecision, type RetrySituation,
} from '../../src/transport/retry-policy.js';
import { classifyConnack, classifyStatus } from '../../src/transport/errors.js';

type Row = [string, Partial<RetrySituation> & Pick<RetrySituation, 'errorClass' | 'phase' | 'assignedBy'>, RetryDecision['action'], string?];

const normal = 'retry normal';
const throttled = 'retry throttled';

const rows: Row[] = [
  // DPS registration
  ['DPS 401 for an identity never assigned', { errorClass: 'auth', status: 401, phase: 'provision', assignedBy: 'dps' }, 'giveUp'],
  ['DPS 401 while registering again', { errorClass: 'auth', status: 401, phase: 'provision', assignedBy: 'dps', hadAssignment: true }, 'reprovision'],
  ['DPS 404 while registering again', { errorClass: 'protocol', status: 404, phase: 'provision', assignedBy: 'dps', hadAssignment: true }, 'reprovision'],
  ['DPS 400 (bad request body)', { errorClass: 'protocol', status: 400, phase: 'provision', assignedBy: 'dps' }, 'giveUp'],
  ['DPS 429 with retry-after', { errorClass: 'throttled', status: 429, retryAfterSeconds: 3, phase: 'provision', assignedBy: 'dps' }, 'retry', throttled],
  ['DPS 429 without retry-after', { errorClass: 'throttled', status: 429, phase: 'provision', assignedBy: 'dps' }, 'retry', throttled],
  ['DPS 500', { errorClass: 'server', status: 500, phase: 'provision', assignedBy: 'dps' }, 'retry', normal],
  ['DPS does not answer', { errorClass: 'timeout', phase: 'provision', assignedBy: 'dps' }, 'retry', normal],
  ['DPS unreachable', { errorClass: 'network', phase: 'provision', assignedBy: 'dps' }, 'retry', normal],
  // The first CONNECT of an assignment
  ['CONNACK 5 for a DPS assignment', { errorClass: 'auth', status: 5, phase: 'connect', assignedBy: 'dps', hadAssignment: true }, 'reprovision'],
  ['CONNACK 5 for a cached assignment', { errorClass: 'auth', status: 5, phase: 'connect', assignedBy: 'dps', hadAssignment: true }, 'reprovision'],
  ['CONNACK 5 for a connection string', { errorClass: 'auth', status: 5, phase: 'connect', assignedBy: 'connectionString' }, 'giveUp'],
  ['CONNACK 3 (server unavailable)', { errorClass: 'server', status: 3, phase: 'connect', assignedBy: 'dps', hadAssignment: true }, 'retry', normal],
  ['CONNACK 1 (protocol version)', { errorClass: 'protocol', status: 1, phase: 'connect', assignedBy: 'dps', hadAssignment: true }, 'giveUp'],
  ['connect timed out', { errorClass: 'timeout', phase: 'connect', assignedBy: 'connectionString' }, 'retry', normal],
  ['CONNACK 5 for a module identity', { errorClass: 'auth', status: 5, phase: 'connect', assignedBy: 'module', hadAssignment: true }, 'refreshKey'],
  ['CONNACK 5 for a downstream device\'s upstream leg', { errorClass: 'auth', status: 5, phase: 'connect', assignedBy: 'gateway', hadAssignment: true }, 'giveUp'],
  // Connecting again after having been connected
  ['connection lost', { errorClass: 'network', phase: 'reconnect', assignedBy: 'dps', hadAssignment: true }, 'retry', normal],
  ['CONNACK 5 again for a DPS identity', { errorClass: 'auth', status: 5, phase: 'reconnect', assignedBy: 'dps', hadAssignment: true }, 'reprovision'],
  ['CONNACK 5 again for a connection string', { errorClass: 'auth', status: 5, phase: 'reconnect', assignedBy: 'connectionString' }, 'retry', normal],
  ['CONNACK 5 again for a module identity', { errorClass: 'auth', status: 5, phase: 'reconnect', assignedBy: 'module', hadAssignment: true }, 'refreshKey'],
  ['CONNACK 5 again upstream of a downstream device', { errorClass: 'auth', status: 5, phase: 'reconnect', assignedBy: 'gateway' }, 'giveUp'],
  ['throttled on reconnect', { errorClass: 'throttled', phase: 'reconnect', assignedBy: 'module' }, 'retry', throttled],
  // The twin GET after a connect
  ['twin 429', { errorClass: 'throttled', status: 429, phase: 'twin', assignedBy: 'module' }, 'retry', throttled],
  ['twin 500', { errorClass: 'server', status: 500, phase: 'twin', assignedBy: 'module' }, 'retry', normal],
  ['twin 400', { errorClass: 'protocol', status: 400, phase: 'twin', assignedBy: 'dps' }, 'retry', normal],
  ['twin timed out', { errorClass: 'timeout', phase: 'twin', assignedBy: 'dps' }, 'retry', normal],
  // A module identity's key from the hub's HTTPS registry (the device's token)
  ['registry 401 for a DPS-assigned IoT Edge device', { errorClass: 'auth', status: 401, phase: 'moduleKey', assignedBy: 'dps', hadAssignment: true }, 'reprovision'],
  ['registry 404 (the device is gone)', { errorClass: 'protocol', status: 404, phase: 'moduleKey', assignedBy: 'dps', hadAssignment: true }, 'reprovision'],
  ['registry 401 for a connection string device', { errorClass: 'auth', status: 401, phase: 'moduleKey', assignedBy: 'connectionString' }, 'giveUp'],
  ['registry 429', { errorClass: 'throttled', status: 429, phase: 'moduleKey', assignedBy: 'dps', hadAssignment: true }, 'retry', throttled],
  ['registry 503', { errorClass: 'server', status: 503, phase: 'moduleKey', assignedBy: 'dps', hadAssignment: true }, 'retry', normal],
  ['registry answer without a key', { errorClass: 'protocol', phase: 'moduleKey', assignedBy: 'dps', hadAssignment: true }, 'giveUp'],
  ['an X.509 IoT Edge device', { errorClass: 'auth', phase: 'moduleKey', assignedBy: 'dps', hadAssignment: true, x509: true }, 'giveUp'],
];

describe('decideRetry', () => {
  it.each(rows)('%s', (_name, situation, action, detail) => {
    const decision = decideRetry({ hadAssignment: false, refusals: 0, ...situation });
    expect(decision.action).toBe(action);
    if (detail === normal) expect(decision).toEqual({ action: 'retry', backoff: 'normal' });
    if (detail === throttled) expect(decision).toMatchObject({ action: 'retry', backoff: 'throttled' });
    if (action === 'giveUp') expect((decision as { reason: string }).reason.length).toBeGreaterThan(0);
  });

  it('gives up on the fifth refusal in a row, whatever the phase', () => {
    for (const phase of ['connect', 'reconnect', 'provision', 'moduleKey'] as const) {
      const base = { errorClass: 'auth', status: 5, phase, assignedBy: 'dps' as const, hadAssignment: true };
      expect(decideRetry({ ...base, refusals: MAX_REFUSALS - 2 }).action).toBe('reprovision');
      expect(decideRetry({ ...base, refusals: MAX_REFUSALS - 1 })).toEqual({ action: 'giveUp', reason: `refused ${MAX_REFUSALS} times in a row` });
    }
    expect(MAX_REFUSALS).toBe(5);
  });

  it('takes the classes transport/errors.ts gives CONNACK codes and statuses', () => {
    const c5 = classifyConnack(5);
    expect(decideRetry({ errorClass: c5.errorClass, status: c5.status, phase: 'reconnect', assignedBy: 'dps', hadAssignment: true, refusals: 0 }).action).toBe('reprovision');
    const c3 = classifyConnack(3);
    expect(decideRetry({ errorClass: c3.errorClass, status: c3.status, phase: 'reconnect', assignedBy: 'dps', hadAssignment: true, refusals: 0 }).action).toBe('retry');
    const s403 = classifyStatus(403, 'registry');
    expect(decideRetry({ errorClass: s403.errorClass, status: s403.status, phase: 'moduleKey', assignedBy: 'dps', hadAssignment: true, refusals: 0 }).action).toBe('reprovision');
  });

  it('retries on the normal backoff for a class it does not know (a class added later)', () => {
    expect(decideRetry({ errorClass: 'exhaustion', phase: 'connect', assignedBy: 'dps', hadAssignment: true, refusals: 0 })).toEqual({ action: 'retry', backoff: 'normal' });
  });
});

describe('retryDelay', () => {
  const mid = () => 0.5;
  it('honours a server\'s retry-after, even 0, and uses the throttled backoff when there is none', () => {
    expect(retryDelay({ action: 'retry', backoff: 'throttled', retryAfterMs: 3000 }, 1, mid)).toBe(3000);
    expect(retryDelay({ action: 'retry', backoff: 'throttled', retryAfterMs: 0 }, 4, mid)).toBe(0);
    expect(retryDelay({ action: 'retry', backoff: 'throttled' }, 1, mid)).toBeGreaterThanOrEqual(10_000);
    expect(retryDelay({ action: 'retry', backoff: 'throttled' }, 9, mid)).toBe(60_000);
  });

  it('waits the normal backoff before retrying, registering again or refreshing a key (the first at once)', () => {
    for (const d of [{ action: 'retry', backoff: 'normal' }, { action: 'reprovision' }, { action: 'refreshKey' }] as RetryDecision[]) {
      expect(retryDelay(d, 1, mid)).toBe(0);
      expect(retryDelay(d, 2, mid)).toBeGreaterThanOrEqual(100);
      expect(retryDelay(d, 20, mid)).toBe(10_000);
    }
  });
});

describe('RetryState', () => {
  it('counts refusals in a row until a connect succeeds, and the backoff attempts until a step succeeds', () => {
    const state = new RetryState();
    const refused = { errorClass: 'auth', status: 5, phase: 'reconnect' as const, assignedBy: 'dps' as const, hadAssignment: true };
    for (let i = 1; i < MAX_REFUSALS; i++) expect(state.next(refused, () => 0.5).action).toBe('reprovision');
    state.progressed(); // a registration went through: still refused in a row
    expect(state.attempt).toBe(0);
    expect(state.next(refused, () => 0.5).action).toBe('giveUp');
    state.connected();
    expect(state.next(refused, () => 0.5).action).toBe('reprovision');
    // Other failures leave the refusals alone.
    expect(state.next({ ...refused, errorClass: 'network', status: undefined }, () => 0.5).action).toBe('retry');
    expect(state.refusals).toBe(1);
  });
});
