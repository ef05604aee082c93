// Who may call the hub's service API: a SAS token signed with a shared access policy's key (`skn` names the policy),
// scoped to the hub (or to a leading part of the request path), not expired, and from a policy with the rights the
// operation needs (docs/protocol.md §8). Every refusal is a 401 IotHubUnauthorizedAccess.
import type { IncomingMessage } from 'node:http';
import { randomBytes } from 'node:crypto';
import {
  HUB_POLICY_RIGHTS,
  isHubPolicyName,
  parseSasToken,
  policyGrants,
  policyTokenResources,
  verifySasToken,
  type HubPolicyName,
  type HubRight,
  type ParsedSasToken,
} from '../../protocol/index.js';
import type { SymmetricKeys } from '../registry.js';
import { unauthorized } from './http.js';

export interface ServiceAuthOptions {
  /** The policies' keys (secrets.json `servicePolicies`). */
  policies: Record<HubPolicyName, SymmetricKeys>;
  /** Host names (with and without ports) a token's resource may name. */
  hubHosts: () => string[];
}

/** Verified against when the policy does not exist, so that an unknown policy costs what a wrong key costs. */
const ABSENT_POLICY_KEY = randomBytes(32).toString('base64');

const VERDICT_MESSAGES = {
  expired: 'the SAS token has expired',
  signature: 'the SAS token signature does not match the policy key',
  resource: 'the SAS token resource (sr) is not this hub',
} as const;

/** The policy token a request carries, parsed; undefined when there is none (no header, or a device token). */
export function policyTokenOf(req: IncomingMessage): ParsedSasToken | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  try {
    const token = parseSasToken(header);
    return token.skn === undefined ? undefined : token;
  } catch {
    return undefined;
  }
}

function parsedToken(req: IncomingMessage): ParsedSasToken {
  const header = req.headers.authorization;
  if (header === undefined) throw unauthorized('missing Authorization header (a shared access policy SAS token)');
  let token: ParsedSasToken;
  try {
    token = parseSasToken(header);
  } catch (err) {
    throw unauthorized((err as Error).message);
  }
  if (token.skn === undefined) {
    throw unauthorized('the SAS token names no policy (skn): the service API takes shared access policy tokens');
  }
  return token;
}

/**
 * The policy a request's token is signed with, once it is verified and grants one of `accepted`; throws a 401
 * otherwise.
 */
export function authorizeService(
  req: IncomingMessage,
  pathname: string,
  opts: ServiceAuthOptions,
  accepted: readonly HubRight[],
): HubPolicyName {
  const token = parsedToken(req);
  const name = token.skn as string;
  const known = isHubPolicyName(name);
  const keys = known ? opts.policies[name] : undefined;
  const candidates = keys === undefined ? [ABSENT_POLICY_KEY] : [keys.primaryKey, keys.secondaryKey];
  const resources = policyTokenResources(opts.hubHosts(), pathname);
  const verdict = verifySasToken(token, candidates, resources, Math.floor(Date.now() / 1000));
  if (!known || keys === undefined) throw unauthorized(`there is no shared access policy "${name.slice(0, 64)}"`);
  if (!verdict.ok) throw unauthorized(VERDICT_MESSAGES[verdict.reason]);
  if (!accepted.some((right) => policyGrants(name, [right]))) {
    const has = HUB_POLICY_RIGHTS[name].join(', ');
    throw unauthorized(`policy "${name}" grants ${has}; this operation needs ${accepted.join(' or ')}`);
  }
  return name;
}
