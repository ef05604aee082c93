// An IoT Hub service connection string: the hub's host name and one shared access policy with its key.
import { connectionStringParts, ConnectionStringError } from '../protocol/connection-string.js';

export interface HubConnectionString {
  /** As written: a real hub's `name.azure-devices.net`, or `host:port` (the emulator's). */
  hostName: string;
  policyName: string;
  /** Base64. A secret. */
  key: string;
}

export class HubConnectionStringError extends Error {}

function partsOf(text: string): [string, string][] {
  try {
    return connectionStringParts(text);
  } catch (err) {
    throw err instanceof ConnectionStringError ? new HubConnectionStringError(err.message) : err;
  }
}

const FIELDS: Record<string, keyof HubConnectionString | 'deviceId'> = {
  hostname: 'hostName',
  sharedaccesskeyname: 'policyName',
  sharedaccesskey: 'key',
  deviceid: 'deviceId',
};

/**
 * Parses `HostName=…;SharedAccessKeyName=…;SharedAccessKey=…`. Messages never quote the key: they name the field that
 * is missing or wrong.
 */
export function parseHubConnectionString(text: string): HubConnectionString {
  const out: Partial<Record<keyof HubConnectionString | 'deviceId', string>> = {};
  for (const [name, value] of partsOf(text)) {
    const field = FIELDS[name.toLowerCase()];
    if (field === undefined) {
      throw new HubConnectionStringError(
        `unknown field "${name.slice(0, 30)}"; expected HostName, SharedAccessKeyName and SharedAccessKey`,
      );
    }
    out[field] = value;
  }
  if (out.deviceId !== undefined) {
    throw new HubConnectionStringError(
      "this is a device's connection string (it has DeviceId); expected the hub's, of a shared access policy " +
        '(Azure portal: the hub, "Shared access policies", iothubowner)',
    );
  }
  const missing = (['hostName', 'policyName', 'key'] as const).filter((f) => !out[f]);
  if (missing.length > 0) {
    const names = { hostName: 'HostName', policyName: 'SharedAccessKeyName', key: 'SharedAccessKey' };
    throw new HubConnectionStringError(`${missing.map((f) => names[f]).join(' and ')} missing`);
  }
  const key = out.key as string;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key) || Buffer.from(key, 'base64').length < 16) {
    throw new HubConnectionStringError('SharedAccessKey is not a base64 key of 16 bytes or more');
  }
  const hostName = out.hostName as string;
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(hostName)) {
    throw new HubConnectionStringError(
      `HostName "${hostName.slice(0, 80)}" is not a host name (with an optional :port)`,
    );
  }
  return { hostName, policyName: out.policyName as string, key };
}
