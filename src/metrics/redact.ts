// Error messages, log lines and library errors may echo credentials; scrub every shape we know.

const KEY_FIELD =
  '(?:primary|secondary|symmetric|device|group|module|shared|sharedAccess|access|account|api|private|signing|enrollment)[_-]?key|' +
  'password|passwd|pwd|passphrase|secret|client[_-]?secret|api[_-]?token|access[_-]?token|auth[_-]?token|sas[_-]?token|token|' +
  'connection[_-]?string|SharedAccessKey|sig|signature';

/** The scheme word of an Authorization header value, when there is one. */
const AUTH_SCHEME = '(?:(?:Basic|Bearer|Digest|SharedAccessSignature)\\s+)?';

const PATTERNS: ReadonlyArray<[RegExp, string]> = [
  [/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g, '[redacted private key]'],
  [/SharedAccessSignature\s+[^\s"',;]+/gi, 'SharedAccessSignature [redacted]'],
  [/\b(SharedAccessKey|sig|password|passwd|pwd|apikey|api_key|access_token|token)=[^\s&;,"']+/gi, '$1=[redacted]'],
  [/\bBearer\s+[A-Za-z0-9._~+/=-]+/g, 'Bearer [redacted]'],
  // "SharedAccessSignature%20sr%3D…%26sig%3D…" in a URL or a logged query string.
  [/SharedAccessSignature(?:%20|\+)[^\s"',;]+/gi, 'SharedAccessSignature [redacted]'],
  [/\b(sig|SharedAccessKey)(%3D)[^\s&"',;]*?(?=%26|[\s&"',;]|$)/gi, '$1$2[redacted]'],
  // Authorization / Proxy-Authorization headers, any scheme (Basic, Bearer, SharedAccessSignature, a raw token).
  [
    new RegExp(`\\b((?:proxy-)?authorization)(["']?\\s*[:=]\\s*["']?)${AUTH_SCHEME}[^\\s"',;]+`, 'gi'),
    '$1$2[redacted]',
  ],
  // key-like field, then ":" or "=" (JSON, YAML, util.inspect, query strings), then the value.
  [new RegExp(`\\b(${KEY_FIELD})(["']?\\s*[:=]\\s*["']?)(?!\\[redacted)[^\\s"',;&}\\]]+`, 'gi'), '$1$2[redacted]'],
  // A bare base64 key of 32 or 64 bytes (what IoT Hub, DPS and IoT Central issue), wherever it is.
  [/(?<![A-Za-z0-9+/=])(?:[A-Za-z0-9+/]{43}=|[A-Za-z0-9+/]{86}==)(?![A-Za-z0-9+/=])/g, '[redacted key]'],
];

export function redactText(text: string): string {
  let out = text;
  for (const [re, replacement] of PATTERNS) out = out.replace(re, replacement);
  return out;
}

/** Field names whose values are secrets (a part of the name, or the whole name where anchored). */
const SECRET_KEY_PARTS = [
  'secret',
  'password',
  'passwd',
  'passphrase',
  'token',
  'signature',
  'sas',
  'connectionstring',
  'privatekey',
  'private_key',
  'apikey',
  'api_key',
  'credential',
  'authorization',
  '^key$',
  '^sig$',
  'primarykey',
  'secondarykey',
  'groupkey',
  'symmetrickey',
  'sharedaccesskey',
  'devicekey',
  'keypem',
  '^pem$',
];
const SECRET_KEY = new RegExp(`(${SECRET_KEY_PARTS.join('|')})`, 'i');

/**
 * Deep copy with secret-looking fields replaced, for scenario/profile/target echoed into reports.
 * Numbers and booleans under such keys survive (a token TTL is not a secret).
 */
export function redactDeep(value: unknown, depth = 0): unknown {
  if (depth > 32) return '[too deep]';
  if (value instanceof Error) {
    return {
      name: value.name,
      message: redactText(value.message),
      ...(value.stack ? { stack: redactText(value.stack) } : {}),
    };
  }
  if (typeof value === 'string') return redactText(value);
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1));
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return `[${value.length} bytes]`;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (SECRET_KEY.test(k) && typeof v !== 'number' && typeof v !== 'boolean' && v !== null && v !== undefined) {
      out[k] = '[redacted]';
    } else {
      out[k] = redactDeep(v, depth + 1);
    }
  }
  return out;
}
