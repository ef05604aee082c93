// DPS registration operations between a register request and the poll that reads its result: bounded in number,
// in lifetime, and in what each keeps (only what assignment needs, never the whole register payload).
import { randomUUID } from 'node:crypto';
import type { IotcGateway, RegistrationOperationStatus } from '../protocol/index.js';
import type { SymmetricKeys } from './registry.js';

export type DpsGroup = 'devices' | 'edgeDevices' | 'x509' | 'individual';

export interface DpsOperation {
  operationId: string;
  registrationId: string;
  group: DpsGroup;
  keys?: SymmetricKeys;
  modelId?: string;
  gateway?: IotcGateway;
  createdAt: string;
  expiresAt: number;
  result?: RegistrationOperationStatus;
}

/** A device polls within seconds (retry-after); two minutes covers slow clients, not parked memory. */
export const DPS_OPERATION_TTL_MS = 2 * 60_000;

/**
 * Operations held at once, all registrations together: ten times what DPS registers in one TTL at its documented
 * rate (1,000 registrations per minute, docs/protocol.md §7.2), a few MB at most. Past it, registers get 429.
 */
export const MAX_DPS_OPERATIONS = 20_000;

export type DpsOperationInput = Omit<DpsOperation, 'operationId' | 'createdAt' | 'expiresAt' | 'result'>;

export class DpsOperations {
  private readonly byId = new Map<string, DpsOperation>();
  /** One operation per registration: a new register replaces the previous one. */
  private readonly byRegistration = new Map<string, string>();

  get size(): number {
    return this.byId.size;
  }

  /** Starts an operation, replacing the registration's previous one; undefined when the cap is reached. */
  start(input: DpsOperationInput, now = Date.now()): DpsOperation | undefined {
    const previous = this.byRegistration.get(input.registrationId);
    if (previous !== undefined) this.byId.delete(previous);
    else if (this.byId.size >= MAX_DPS_OPERATIONS) return undefined;
    const op: DpsOperation = {
      ...input,
      operationId: `4.${randomUUID().slice(0, 16).replace(/-/g, '')}.${randomUUID()}`,
      createdAt: new Date(now).toISOString(),
      expiresAt: now + DPS_OPERATION_TTL_MS,
    };
    this.byId.set(op.operationId, op);
    this.byRegistration.set(op.registrationId, op.operationId);
    return op;
  }

  /** The operation, if it exists and belongs to `registrationId`. */
  get(operationId: string, registrationId: string): DpsOperation | undefined {
    const op = this.byId.get(operationId);
    return op?.registrationId === registrationId ? op : undefined;
  }

  /** Forgets operations past their TTL. */
  expire(now = Date.now()): void {
    for (const [id, op] of this.byId) {
      if (op.expiresAt > now) continue;
      this.byId.delete(id);
      if (this.byRegistration.get(op.registrationId) === id) this.byRegistration.delete(op.registrationId);
    }
  }
}

/** What DPS keeps of a registration once it was assigned: the payload it came with and where it went. */
export interface DpsRegistration {
  registrationId: string;
  /** The enrollment it registered through. */
  group: DpsGroup;
  modelId?: string;
  gateway?: IotcGateway;
  deviceId: string;
  assignedHub: string;
  /** `initialAssignment` the first time, `reprovisionedToInitialAssignment` after. */
  substatus: string;
  createdAt: string;
  updatedAt: string;
}
