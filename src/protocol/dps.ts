// DPS register request and operation status bodies (docs/protocol.md §3.3, §3.5).
import { parseWireJson, WireJsonError, type WireJsonProblem } from './wire-json.js';

export interface IotcGateway {
  iotcGatewayId: string;
  iotcModuleId?: string;
}

/** What IoT Central reads from the register payload. */
export interface RegisterPayload {
  modelId?: string;
  /** Legacy key some IoT Central modules still send. */
  iotcModelId?: string;
  iotcGateway?: IotcGateway;
  [key: string]: unknown;
}

export interface RegisterRequest {
  registrationId: string;
  payload?: RegisterPayload;
}

export type RegistrationStatus = 'unassigned' | 'assigning' | 'assigned' | 'failed' | 'disabled';

export interface DeviceRegistrationState {
  registrationId: string;
  createdDateTimeUtc?: string;
  assignedHub?: string;
  deviceId?: string;
  status: RegistrationStatus;
  substatus?: 'initialAssignment' | 'deviceDataMigrated' | 'deviceDataReset' | 'reprovisionedToInitialAssignment';
  lastUpdatedDateTimeUtc?: string;
  etag?: string;
  errorCode?: number;
  errorMessage?: string;
  payload?: unknown;
}

export interface RegistrationOperationStatus {
  operationId: string;
  status: RegistrationStatus;
  registrationState?: DeviceRegistrationState;
}

export interface DpsErrorBody {
  errorCode: number;
  trackingId: string;
  message: string;
  timestampUtc: string;
  info?: unknown;
}

export function buildRegisterRequest(registrationId: string, payload?: RegisterPayload): RegisterRequest {
  return payload === undefined ? { registrationId } : { registrationId, payload };
}

export class DpsBodyError extends Error {
  /** Set when the body was refused as wire JSON (too deep, a `__proto__` key) rather than for its shape. */
  readonly problem?: WireJsonProblem;

  constructor(message: string, problem?: WireJsonProblem) {
    super(message);
    if (problem !== undefined) this.problem = problem;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Validates a register body as DPS would: JSON object, string registrationId, optional object payload. The body
 * comes from a client, so it is parsed as wire JSON (bounded nesting, no `__proto__` key).
 */
export function parseRegisterRequest(body: Buffer | string): RegisterRequest {
  let value: unknown;
  try {
    value = parseWireJson(typeof body === 'string' ? body : body.toString('utf8'));
  } catch (err) {
    const problem = err instanceof WireJsonError ? err.problem : 'syntax';
    if (problem === 'syntax') throw new DpsBodyError('the register body is not JSON', problem);
    throw new DpsBodyError(`the register body: ${(err as Error).message}`, problem);
  }
  if (!isObject(value)) throw new DpsBodyError('the register body must be a JSON object');
  const { registrationId, payload } = value;
  if (typeof registrationId !== 'string' || registrationId.length === 0) {
    throw new DpsBodyError('registrationId must be a non-empty string');
  }
  if (payload !== undefined && payload !== null && !isObject(payload)) {
    throw new DpsBodyError('payload must be a JSON object');
  }
  if (isObject(payload) && payload.iotcGateway !== undefined) {
    const gw = payload.iotcGateway;
    if (!isObject(gw) || typeof gw.iotcGatewayId !== 'string') {
      throw new DpsBodyError('payload.iotcGateway.iotcGatewayId must be a string');
    }
    if (gw.iotcModuleId !== undefined && typeof gw.iotcModuleId !== 'string') {
      throw new DpsBodyError('payload.iotcGateway.iotcModuleId must be a string');
    }
  }
  return isObject(payload) ? { registrationId, payload: payload } : { registrationId };
}

/** The model id a register payload carries, under its current or legacy key. */
export function modelIdOf(payload: RegisterPayload | undefined): string | undefined {
  if (payload === undefined) return undefined;
  if (typeof payload.modelId === 'string') return payload.modelId;
  return typeof payload.iotcModelId === 'string' ? payload.iotcModelId : undefined;
}

/** Parses an operation status response; throws on what a client could not act on. */
export function parseOperationStatus(body: Buffer | string): RegistrationOperationStatus {
  let value: unknown;
  try {
    value = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch {
    throw new DpsBodyError('the DPS response is not JSON');
  }
  if (!isObject(value) || typeof value.operationId !== 'string' || typeof value.status !== 'string') {
    throw new DpsBodyError('a DPS operation status has operationId and status');
  }
  return value as unknown as RegistrationOperationStatus;
}
