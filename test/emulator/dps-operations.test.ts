// DPS operations are bounded: one per registration, a TTL, and a cap on all of them together.
import { describe, expect, it } from 'vitest';
import { DPS_OPERATION_TTL_MS, DpsOperations, MAX_DPS_OPERATIONS } from '../../src/emulator/dps-operations.js';

const input = (registrationId: string) => ({ registrationId, group: 'devices' as const });

describe('DPS operations', () => {
  it('keeps one operation per registration: a new register replaces the previous one', () => {
    const ops = new DpsOperations();
    const first = ops.start(input('dev-1'))!;
    const second = ops.start(input('dev-1'))!;
    expect(ops.size).toBe(1);
    expect(ops.get(first.operationId, 'dev-1')).toBeUndefined();
    expect(ops.get(second.operationId, 'dev-1')).toBe(second);
    expect(ops.get(second.operationId, 'dev-2'), 'another registration cannot read it').toBeUndefined();
  });

  it('refuses new registrations past the cap, still replaces existing ones, and forgets them after the TTL', () => {
    const ops = new DpsOperations();
    const now = Date.now();
    for (let i = 0; i < MAX_DPS_OPERATIONS; i++) expect(ops.start(input(`dev-${i}`), now)).toBeDefined();
    expect(ops.start(input('one-more'), now)).toBeUndefined();
    expect(ops.start(input('dev-0'), now)).toBeDefined();
    expect(ops.size).toBe(MAX_DPS_OPERATIONS);
    ops.expire(now + DPS_OPERATION_TTL_MS);
    expect(ops.size).toBe(0);
    expect(ops.start(input('one-more'), now + DPS_OPERATION_TTL_MS)).toBeDefined();
  });
});
