// The service side of a target as the profile's actions and the smoke checks use it.
import { HubServiceClient } from './hub-service-client.js';
import { ServiceClient, type ServiceActions } from './service-client.js';
import type { Target } from './target.js';

/** The target's service API: an IoT Hub's own, or the IoT Central-shaped one; undefined when it has none. */
export function serviceActionsFor(target: Target, timeoutMs?: number): ServiceActions | undefined {
  if (target.kind === 'mqtt') return undefined;
  if (target.hubService !== undefined) return new HubServiceClient(target.hubService, timeoutMs);
  if (target.service !== undefined) return new ServiceClient(target.service, timeoutMs);
  return undefined;
}
