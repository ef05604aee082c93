// IoT Hub device and module connection strings.

export interface ConnectionString {
  hostName: string;
  deviceId: string;
  moduleId?: string;
  sharedAccessKey?: string;
  sharedAccessKeyName?: string;
  gatewayHostName?: string;
  x509?: boolean;
}

export class ConnectionStringError extends Error {}

const FIELDS: Record<string, keyof ConnectionString> = {
  hostname: 'hostName',
  deviceid: 'deviceId',
  moduleid: 'moduleId',
  sharedaccesskey: 'sharedAccessKey',
  sharedaccesskeyname: 'sharedAccessKeyName',
  gatewayhostname: 'gatewayHostName',
  x509: 'x509',
};

/**
 * The `Name=value` parts of a connection string, in order: names as written (trimmed), values trimmed and free to
 * contain `=`; blank parts skipped. A part without a value is refused (its name only: the value may be a key).
 */
export function connectionStringParts(text: string): [name: string, value: string][] {
  const parts: [string, string][] = [];
  for (const part of text.split(';')) {
    if (part.trim().length === 0) continue;
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim();
    if (eq <= 0) throw new ConnectionStringError(`"${name.slice(0, 30)}" has no value; expected Name=value`);
    parts.push([name, part.slice(eq + 1).trim()]);
  }
  return parts;
}

/** Parses `HostName=…;DeviceId=…;SharedAccessKey=…` (field names case-insensitive; values may contain `=`). */
export function parseConnectionString(text: string): ConnectionString {
  const out: Partial<Record<keyof ConnectionString, string>> = {};
  for (const [name, value] of connectionStringParts(text)) {
    const field = FIELDS[name.toLowerCase()];
    if (field === undefined) throw new ConnectionStringError(`unknown connection string field "${name}"`);
    out[field] = value;
  }
  if (!out.hostName) throw new ConnectionStringError('a connection string needs HostName');
  if (!out.deviceId) throw new ConnectionStringError('a connection string needs DeviceId');
  const x509 = out.x509 === undefined ? undefined : out.x509.toLowerCase() === 'true';
  if (!out.sharedAccessKey && !x509) {
    throw new ConnectionStringError('a connection string needs SharedAccessKey, or x509=true for a certificate');
  }
  return {
    hostName: out.hostName,
    deviceId: out.deviceId,
    ...(out.moduleId ? { moduleId: out.moduleId } : {}),
    ...(out.sharedAccessKey ? { sharedAccessKey: out.sharedAccessKey } : {}),
    ...(out.sharedAccessKeyName ? { sharedAccessKeyName: out.sharedAccessKeyName } : {}),
    ...(out.gatewayHostName ? { gatewayHostName: out.gatewayHostName } : {}),
    ...(x509 !== undefined ? { x509 } : {}),
  };
}

export function formatConnectionString(cs: ConnectionString): string {
  const parts = [`HostName=${cs.hostName}`, `DeviceId=${cs.deviceId}`];
  if (cs.moduleId !== undefined) parts.push(`ModuleId=${cs.moduleId}`);
  if (cs.sharedAccessKeyName !== undefined) parts.push(`SharedAccessKeyName=${cs.sharedAccessKeyName}`);
  if (cs.sharedAccessKey !== undefined) parts.push(`SharedAccessKey=${cs.sharedAccessKey}`);
  if (cs.x509) parts.push('x509=true');
  if (cs.gatewayHostName !== undefined) parts.push(`GatewayHostName=${cs.gatewayHostName}`);
  return parts.join(';');
}
