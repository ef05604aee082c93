// Shared access signatures as IoT Hub and DPS use them (docs/protocol.md §2).
import { createHmac, timingSafeEqual } from 'node:crypto';

/** encodeURIComponent plus ! ' ( ) *, as the Azure SDKs encode SAS fields. */
export function encodeUriComponentStrict(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** The string a SAS signs: the encoded resource URI, a newline, the expiry in epoch seconds. */
export function stringToSign(encodedResourceUri: string, expiry: number | string): string {
  return `${encodedResourceUri}\n${expiry}`;
}

/** base64(HMAC-SHA256(base64decode(key), message)). */
export function hmacSign(base64Key: string, message: string): string {
  return createHmac('sha256', Buffer.from(base64Key, 'base64')).update(message, 'utf8').digest('base64');
}

/** A device key derived from a group enrollment key: HMAC of the registration id. */
export function deriveDeviceKey(groupKey: string, registrationId: string): string {
  return hmacSign(groupKey, registrationId);
}

export interface SasTokenInput {
  /** Resource URI, unencoded, e.g. `myhub.azure-devices.net/devices/dev1`. */
  resourceUri: string;
  /** Base64 shared access key. */
  key: string;
  /** Expiry, seconds since the epoch. */
  expiry: number;
  /** Policy or key name (`registration` for DPS); omitted for device and module keys. */
  keyName?: string;
}

/** `SharedAccessSignature sr=…&sig=…[&skn=…]&se=…`, in the order the Node SDK writes it. */
export function createSasToken(input: SasTokenInput): string {
  const sr = encodeUriComponentStrict(input.resourceUri);
  const sig = encodeUriComponentStrict(hmacSign(input.key, stringToSign(sr, input.expiry)));
  const skn = input.keyName === undefined ? '' : `&skn=${encodeUriComponentStrict(input.keyName)}`;
  return `SharedAccessSignature sr=${sr}&sig=${sig}${skn}&se=${input.expiry}`;
}

export interface ParsedSasToken {
  /** `sr` exactly as sent (still encoded, or not, as the client chose). */
  sr: string;
  /** `sig`, URL-decoded to plain base64. */
  sig: string;
  se: number;
  skn?: string;
  /** `sr` decoded: the resource URI itself. */
  resourceUri: string;
}

export class SasTokenError extends Error {}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new SasTokenError(`bad URL encoding in "${value.slice(0, 40)}"`);
  }
}

export function parseSasToken(token: string): ParsedSasToken {
  const trimmed = token.trim();
  const space = trimmed.indexOf(' ');
  if (space < 0 || trimmed.slice(0, space) !== 'SharedAccessSignature') {
    throw new SasTokenError('a SAS token starts with "SharedAccessSignature "');
  }
  const fields = new Map<string, string>();
  for (const part of trimmed
    .slice(space + 1)
    .trim()
    .split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new SasTokenError(`SAS field without a value: "${part.slice(0, 40)}"`);
    fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const sr = fields.get('sr');
  const sig = fields.get('sig');
  const se = fields.get('se');
  if (sr === undefined || sig === undefined || se === undefined) {
    throw new SasTokenError('a SAS token needs sr, sig and se');
  }
  if (!/^\d+$/.test(se)) throw new SasTokenError(`se must be epoch seconds, got "${se.slice(0, 20)}"`);
  const skn = fields.get('skn');
  return {
    sr,
    sig: safeDecode(sig),
    se: Number(se),
    ...(skn === undefined ? {} : { skn: safeDecode(skn) }),
    resourceUri: safeDecode(sr),
  };
}

export type SasVerdict = { ok: true } | { ok: false; reason: 'expired' | 'signature' | 'resource' };

/**
 * Checks a parsed token against a key. The signature is computed over `sr` exactly as the client sent it
 * (the DPS client signs it unencoded, the hub client encoded); `acceptedResources` are compared
 * case-insensitively against the decoded resource URI.
 */
export function verifySasToken(
  token: ParsedSasToken,
  keys: readonly string[],
  acceptedResources: readonly string[],
  nowSeconds: number,
): SasVerdict {
  const resource = token.resourceUri.toLowerCase();
  if (!acceptedResources.some((r) => r.toLowerCase() === resource)) return { ok: false, reason: 'resource' };
  if (token.se <= nowSeconds) return { ok: false, reason: 'expired' };
  const given = Buffer.from(token.sig, 'base64');
  for (const key of keys) {
    const expected = Buffer.from(hmacSign(key, stringToSign(token.sr, token.se)), 'base64');
    if (expected.length === given.length && timingSafeEqual(expected, given)) return { ok: true };
  }
  return { ok: false, reason: 'signature' };
}

/** Resource URIs that IoT Hub and DPS tokens are scoped to. */
export const sasResource = {
  device: (hubHost: string, deviceId: string) => `${hubHost}/devices/${deviceId}`,
  module: (hubHost: string, deviceId: string, moduleId: string) => `${hubHost}/devices/${deviceId}/modules/${moduleId}`,
  registration: (idScope: string, registrationId: string) => `${idScope}/registrations/${registrationId}`,
};
