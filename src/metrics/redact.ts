// Error messages come from libraries and servers and may echo credentials; scrub the shapes we know.

const PATTERNS: ReadonlyArray<[RegExp, string]> = [
  [/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g, '[redacted private key]'],
  [/SharedAccessSignature\s+[^\s"',;]+/gi, 'SharedAccessSignature [redacted]'],
  [/\b(SharedAccessKey|sig|password|passwd|pwd|apikey|api_key|access_token|token)=[^\s&;,"']+/gi, '$1=[redacted]'],
  [/\bBearer\s+[A-Za-z0-9._~+/=-]+/g, 'Bearer [redacted]'],
];

export function redactText(text: string): string {
  let out = text;
  for (const [re, replacement] of PATTERNS) out = out.replace(re, replacement);
  return out;
}

const SECRET_KEY =
  /(secret|password|passphrase|token|signature|sas|connectionstring|privatekey|private_key|apikey|api_key|credential|^key$|primarykey|secondarykey|groupkey|symmetrickey|sharedaccesskey|devicekey)/i;

/**
 * Deep copy with secret-looking fields replaced, for scenario/profile/target echoed into reports.
 * Numbers and booleans under such keys survive (a token TTL is not a secret).
 */
export function redactDeep(value: unknown, depth = 0): unknown {
  if (depth > 32) return '[too deep]';
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1));
  if (value instanceof Date) return value.toISOString();
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
