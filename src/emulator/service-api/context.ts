// What the service API's routes share: its options and the request as a route sees it.
import type { IncomingMessage } from 'node:http';
import type { HubPolicyName } from '../../protocol/index.js';
import type { SymmetricKeys } from '../registry.js';
import type { CloudService } from '../service.js';
import type { RejectionReason } from '../stats.js';

/**
 * What the identity registry's throttle says about an operation (IoT Hub counts a bulk request of n records as n
 * operations): it throws a ServiceError (429 `ThrottlingException`) to refuse, answered as it is, or returns to
 * let it run. The emulator's service limits plug in here; without them every operation runs.
 */
export type RegistryOperationGate = (operation: 'read' | 'write', records: number) => void;

export interface ServiceApiOptions {
  service: CloudService;
  /** The policies' keys (secrets.json `servicePolicies`). */
  policies: Record<HubPolicyName, SymmetricKeys>;
  /** Host names (with and without ports) a token's resource may name. */
  hubHosts: () => string[];
  /** How many cloud-to-device messages wait for a device. */
  pendingC2D: (deviceId: string) => number;
  log: (line: string) => void;
  count: (reason: RejectionReason) => void;
  /** Resolves once every change made so far is recorded: each answer waits for it. */
  committed: () => Promise<void>;
  registryGate?: RegistryOperationGate;
}

/** What a route needs: the request, its path parameters and its body (read once, on demand). */
export interface RouteContext {
  req: IncomingMessage;
  url: URL;
  params: string[];
  body: () => Promise<unknown>;
}
