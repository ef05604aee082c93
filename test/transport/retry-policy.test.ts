// The one retry policy as a table: error class × phase × what the identity has → what it does next.
import { describe, expect, it } from 'vitest';
import {
  decideRetry,
  failureOf,
  MAX_REFUSALS,
  retryDelay,
  RetryState,
  type AssignedBy,
  type RetryDecision,
  type RetryPhase,
  type RetrySituation,
} from '../../src/transport/retry-policy.js';
import { classifyConnack, classifyStatus } from '../../src/transport/errors.js';

type Row = [string, Omit<RetrySituation, 'refusals'>, RetryDecision['action'], string?];

const normal = 'retry normal';
const throttled = 'retry throttled';

/** A situation: class, phase, how the identity has its hub; `assigned` says an assignment was made before. */
function on(
  errorClass: string,
  phase: RetryPhase,
  assignedBy: AssignedBy,
  more: Partial<RetrySituation> = {},
): Omit<RetrySituation, 'refusals'> {
  return { errorClass, phase, assignedBy, hadAssignment: false, ...more };
}
const assigned = (status?: number, more: Partial<RetrySituation> = {}) => ({
  hadAssignment: true,
  ...(status === undefined ? {} : { status }),
  ...more,
});

const rows: Row[] = [
  // DPS registration
  ['DPS 401 for an identity never assigned', on('auth', 'provision', 'dps', { status: 401 }), 'giveUp'],
  ['DPS 401 while registering again', on('auth', 'provision', 'dps', assigned(401)), 'reprovision'],
  ['DPS 404 while registering again', on('protocol', 'provision', 'dps', assigned(404)), 'reprovision'],
  ['DPS 400 (bad request body)', on('protocol', 'provision', 'dps', { status: 400 }), 'giveUp'],
  [
    'DPS 429 with retry-after',
    on('throttled', 'provision', 'dps', { status: 429, retryAfterSeconds: 3 }),
    'retry',
    throttled,
  ],
  ['DPS 429 without retry-after', on('throttled', 'provision', 'dps', { status: 429 }), 'retry', throttled],
  ['DPS 500', on('server', 'provision', 'dps', { status: 500 }), 'retry', normal],
  ['DPS does not answer', on('timeout', 'provision', 'dps'), 'retry', normal],
  ['DPS unreachable', on('network', 'provision', 'dps'), 'retry', normal],
  // The first CONNECT of an assignment (from DPS or the cache: both are assignments made before)
  ['CONNACK 5 for an assignment', on('auth', 'connect', 'dps', assigned(5)), 'reprovision'],
  ['CONNACK 5 for a connection string', on('auth', 'connect', 'connectionString', { status: 5 }), 'giveUp'],
  ['CONNACK 3 (server unavailable)', on('server', 'connect', 'dps', assigned(3)), 'retry', normal],
  ['CONNACK 1 (protocol version)', on('protocol', 'connect', 'dps', assigned(1)), 'giveUp'],
  ['connect timed out', on('timeout', 'connect', 'connectionString'), 'retry', normal],
  ['CONNACK 5 for a module identity', on('auth', 'connect', 'module', assigned(5)), 'refreshKey'],
  ["CONNACK 5 for a downstream device's upstream leg", on('auth', 'connect', 'gateway', assigned(5)), 'giveUp'],
  // Connecting again after having been connected
  ['connection lost', on('network', 'reconnect', 'dps', assigned()), 'retry', normal],
  ['CONNACK 5 again for a DPS identity', on('auth', 'reconnect', 'dps', assigned(5)), 'reprovision'],
  [
    'CONNACK 5 again for a connection string',
    on('auth', 'reconnect', 'connectionString', { status: 5 }),
    'retry',
    normal,
  ],
  ['CONNACK 5 again for a module identity', on('auth', 'reconnect', 'module', assigned(5)), 'refreshKey'],
  ['CONNACK 5 again upstream of a downstream device', on('auth', 'reconnect', 'gateway', { status: 5 }), 'giveUp'],
  ['throttled on reconnect', on('throttled', 'reconnect', 'module'), 'retry', throttled],
  // This machine out of descriptors or ports (EMFILE, EADDRNOTAVAIL): wait longer, do not register again
  ['out of descriptors on connect', on('exhaustion', 'connect', 'dps', assigned()), 'retry', throttled],
  ['out of ports while registering', on('exhaustion', 'provision', 'dps'), 'retry', throttled],
  // The twin GET after a connect
  ['twin 429', on('throttled', 'twin', 'module', { status: 429 }), 'retry', throttled],
  ['twin 500', on('server', 'twin', 'module', { status: 500 }), 'retry', normal],
  ['twin 400', on('protocol', 'twin', 'dps', { status: 400 }), 'retry', normal],
  ['twin timed out', on('timeout', 'twin', 'dps'), 'retry', normal],
  // A module identity's key from the hub's HTTPS registry (the device's own token)
  ['registry 401 for a DPS-assigned IoT Edge device', on('auth', 'moduleKey', 'dps', assigned(401)), 'reprovision'],
  ['registry 404 (the device is gone)', on('protocol', 'moduleKey', 'dps', assigned(404)), 'reprovision'],
  [
    'registry 401 for a connection string device',
    on('auth', 'moduleKey', 'connectionString', { status: 401 }),
    'giveUp',
  ],
  ['registry 429', on('throttled', 'moduleKey', 'dps', assigned(429)), 'retry', throttled],
  ['registry 503', on('server', 'moduleKey', 'dps', assigned(503)), 'retry', normal],
  ['registry answer without a key', on('protocol', 'moduleKey', 'dps', assigned()), 'giveUp'],
];

describe('decideRetry', () => {
  it.each(rows)('%s', (_name, situation, action, detail) => {
    const decision = decideRetry({ ...situation, refusals: 0 });
    expect(decision.action).toBe(action);
    if (detail === normal) expect(decision).toEqual({ action: 'retry', backoff: 'normal' });
    if (detail === throttled) expect(decision).toMatchObject({ action: 'retry', backoff: 'throttled' });
    if (action === 'giveUp') expect((decision as { reason: string }).reason.length).toBeGreaterThan(0);
  });

  it('gives up on the fifth refusal in a row, whatever the phase', () => {
    for (const phase of ['connect', 'reconnect', 'provision', 'moduleKey'] as const) {
      const base = { errorClass: 'auth', status: 5, phase, assignedBy: 'dps' as const, hadAssignment: true };
      expect(decideRetry({ ...base, refusals: MAX_REFUSALS - 2 }).action).toBe('reprovision');
      expect(decideRetry({ ...base, refusals: MAX_REFUSALS - 1 })).toEqual({
        action: 'giveUp',
        reason: `refused ${MAX_REFUSALS} times in a row`,
      });
    }
    expect(MAX_REFUSALS).toBe(5);
  });

  it('takes the classes transport/errors.ts gives CONNACK codes and statuses', () => {
    const decide = (e: { errorClass: string; status?: number | undefined }, phase: RetryPhase) =>
      decideRetry({ ...failureOf(e), phase, assignedBy: 'dps', hadAssignment: true, refusals: 0 }).action;
    expect(decide(classifyConnack(5), 'reconnect')).toBe('reprovision');
    expect(decide(classifyConnack(3), 'reconnect')).toBe('retry');
    expect(decide(classifyStatus(403, 'registry'), 'moduleKey')).toBe('reprovision');
  });

  it('retries on the normal backoff for a class it does not know (a class added later)', () => {
    const situation = { ...on('someNewClass', 'connect', 'dps', assigned()), refusals: 0 };
    expect(decideRetry(situation)).toEqual({ action: 'retry', backoff: 'normal' });
  });
});

describe('retryDelay', () => {
  const mid = () => 0.5;
  it("honours a server's retry-after, even 0, and uses the throttled backoff when there is none", () => {
    expect(retryDelay({ action: 'retry', backoff: 'throttled', retryAfterMs: 3000 }, 1, mid)).toBe(3000);
    expect(retryDelay({ action: 'retry', backoff: 'throttled', retryAfterMs: 0 }, 4, mid)).toBe(0);
    expect(retryDelay({ action: 'retry', backoff: 'throttled' }, 1, mid)).toBeGreaterThanOrEqual(10_000);
    expect(retryDelay({ action: 'retry', backoff: 'throttled' }, 9, mid)).toBe(60_000);
  });

  it('waits the normal backoff before retrying, registering again or refreshing a key (the first at once)', () => {
    const decisions: RetryDecision[] = [
      { action: 'retry', backoff: 'normal' },
      { action: 'reprovision' },
      { action: 'refreshKey' },
    ];
    for (const d of decisions) {
      expect(retryDelay(d, 1, mid)).toBe(0);
      expect(retryDelay(d, 2, mid)).toBeGreaterThanOrEqual(100);
      expect(retryDelay(d, 20, mid)).toBe(10_000);
    }
  });
});

describe('RetryState', () => {
  it('counts refusals in a row until a connect succeeds, and the backoff attempts until a step succeeds', () => {
    const state = new RetryState();
    const refused = on('auth', 'reconnect', 'dps', assigned(5));
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
