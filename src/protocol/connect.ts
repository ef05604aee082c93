// CONNECT usernames and client ids for IoT Hub and DPS (docs/protocol.md §1.2, §3.1).
import { decodePropertyBag, encodePropertyBag, type PropertyBag } from './property-bag.js';
import type { Identity } from './topics.js';

export const HUB_API_VERSION = '2021-04-12';
export const DPS_API_VERSION = '2019-03-31';

export const clientIdOf = (id: Identity) => (id.moduleId === undefined ? id.deviceId : `${id.deviceId}/${id.moduleId}`);

export function parseClientId(clientId: string): Identity {
  const slash = clientId.indexOf('/');
  return slash < 0
    ? { deviceId: clientId }
    : { deviceId: clientId.slice(0, slash), moduleId: clientId.slice(slash + 1) };
}

export interface HubUsernameInput extends Identity {
  /** The IoT Hub host name as the client knows it (with `:port` when it dialled one). */
  hubHost: string;
  modelId?: string;
  apiVersion?: string;
  /** Extra query fields, e.g. `DeviceClientType`. */
  extra?: Record<string, string>;
}

export function buildHubUsername(input: HubUsernameInput): string {
  const query: PropertyBag = { 'api-version': input.apiVersion ?? HUB_API_VERSION };
  if (input.modelId !== undefined) query['model-id'] = input.modelId;
  Object.assign(query, input.extra);
  return `${input.hubHost}/${clientIdOf(input)}/?${encodePropertyBag(query)}`;
}

export interface ParsedHubUsername extends Identity {
  hubHost: string;
  apiVersion?: string;
  modelId?: string;
  query: PropertyBag;
}

/** `{host}/{device}[/{module}]/?api-version=…`; `undefined` if it is not of that form. */
export function parseHubUsername(username: string): ParsedHubUsername | undefined {
  const q = username.indexOf('?');
  if (q < 0) return undefined;
  let path = username.slice(0, q);
  if (path.endsWith('/')) path = path.slice(0, -1);
  const parts = path.split('/');
  if (parts.length !== 2 && parts.length !== 3) return undefined;
  if (parts.some((p) => p.length === 0)) return undefined;
  const query = decodePropertyBag(username.slice(q + 1));
  const apiVersion = query['api-version'] ?? undefined;
  const modelId = query['model-id'] ?? undefined;
  return {
    hubHost: parts[0] as string,
    deviceId: parts[1] as string,
    ...(parts.length === 3 ? { moduleId: parts[2] as string } : {}),
    ...(apiVersion ? { apiVersion } : {}),
    ...(modelId ? { modelId } : {}),
    query,
  };
}

export function buildDpsUsername(idScope: string, registrationId: string, extra?: Record<string, string>): string {
  const tail = extra === undefined ? '' : '&' + encodePropertyBag(extra);
  return `${idScope}/registrations/${registrationId}/api-version=${DPS_API_VERSION}${tail}`;
}

export interface ParsedDpsUsername {
  idScope: string;
  registrationId: string;
  apiVersion: string;
}

/** `{idScope}/registrations/{registrationId}/api-version=…[&…]`; `undefined` if it is not of that form. */
export function parseDpsUsername(username: string): ParsedDpsUsername | undefined {
  const m = /^([^/]+)\/registrations\/([^/]+)\/(api-version=.*)$/.exec(username);
  if (m === null) return undefined;
  const query = decodePropertyBag(m[3] as string);
  const apiVersion = query['api-version'];
  if (typeof apiVersion !== 'string' || apiVersion.length === 0) return undefined;
  return { idScope: m[1] as string, registrationId: m[2] as string, apiVersion };
}
