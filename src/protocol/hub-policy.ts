// IoT Hub shared access policies: their rights, the resources a policy token may name, and the service connection
// string (docs/protocol.md §2.1, §8).

/**
 * What a policy grants (learn.microsoft.com, azure/iot-hub/iot-hub-dev-guide-sas, "Access control and permissions").
 */
export type HubRight = 'registryRead' | 'registryWrite' | 'serviceConnect' | 'deviceConnect';

/**
 * The policies a hub is created with (`iothubowner`, `service`, `device`, `registryRead`, `registryReadWrite`), and
 * `serviceConnect`, the policy with service connect alone that the emulator adds for tests of under-privileged
 * tokens and for back ends that only invoke methods and write twins.
 */
export const HUB_POLICY_RIGHTS = {
  iothubowner: ['registryRead', 'registryWrite', 'serviceConnect', 'deviceConnect'],
  service: ['serviceConnect'],
  device: ['deviceConnect'],
  registryRead: ['registryRead'],
  registryReadWrite: ['registryRead', 'registryWrite'],
  serviceConnect: ['serviceConnect'],
} as const satisfies Record<string, readonly HubRight[]>;

export type HubPolicyName = keyof typeof HUB_POLICY_RIGHTS;

export const HUB_POLICY_NAMES = Object.keys(HUB_POLICY_RIGHTS) as HubPolicyName[];

export const isHubPolicyName = (name: string): name is HubPolicyName => Object.hasOwn(HUB_POLICY_RIGHTS, name);

/** Whether the policy grants every right in `needed`. */
export function policyGrants(policy: HubPolicyName, needed: readonly HubRight[]): boolean {
  const rights: readonly HubRight[] = HUB_POLICY_RIGHTS[policy];
  return needed.every((r) => rights.includes(r));
}

/**
 * The resources a policy token may be scoped to for a request: the hub host itself, or the host followed by the
 * first segments of the request path (`{host}/devices`, `{host}/devices/{id}`, …), for each accepted host name.
 */
export function policyTokenResources(hubHosts: readonly string[], pathname: string): string[] {
  const segments = pathname.split('/').filter((s) => s !== '');
  const prefixes = [''];
  for (let i = 1; i <= segments.length; i++) prefixes.push(`/${segments.slice(0, i).join('/')}`);
  return hubHosts.flatMap((host) => prefixes.map((p) => `${host}${p}`));
}

/** `HostName=…;SharedAccessKeyName=…;SharedAccessKey=…`: what the service SDKs take. */
export function formatServiceConnectionString(hostName: string, policy: string, key: string): string {
  return `HostName=${hostName};SharedAccessKeyName=${policy};SharedAccessKey=${key}`;
}
