// The run's logger: human lines on stderr, optionally JSON lines in a file (--log-file), both filtered by
// level (--log-level) and both scrubbed of credentials, since log lines carry library and server messages
// that may echo a key, a SAS token or a PEM block.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { redactText } from './redact.js';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export const isLogLevel = (x: unknown): x is LogLevel => typeof x === 'string' && x in RANK;

// --- redaction, beyond redact.ts -------------------------------------------------------------------------------
// Forms redact.ts's redactText misses (meant to be merged into its PATTERNS): URL-encoded SAS tokens, key-like
// fields written "name: value" or JSON-style, Authorization headers of any scheme, and bare 32/64-byte base64 keys.

const KEY_FIELD =
  '(?:primary|secondary|symmetric|device|group|module|shared|sharedAccess|access|account|api|private|signing|enrollment)[_-]?key|' +
  'password|passwd|pwd|passphrase|secret|client[_-]?secret|api[_-]?token|access[_-]?token|auth[_-]?token|sas[_-]?token|token|' +
  'connection[_-]?string|SharedAccessKey|sig|signature';

const EXTRA_PATTERNS: ReadonlyArray<[RegExp, string]> = [
  // "SharedAccessSignature%20sr%3D…%26sig%3D…" in a URL or a logged query string.
  [/SharedAccessSignature(?:%20|\+)[^\s"',;]+/gi, 'SharedAccessSignature [redacted]'],
  [/\b(sig|SharedAccessKey)(%3D)[^\s&"',;]*?(?=%26|[\s&"',;]|$)/gi, '$1$2[redacted]'],
  // Authorization / Proxy-Authorization headers, any scheme (Basic, Bearer, SharedAccessSignature, a raw token).
  [/\b((?:proxy-)?authorization)(["']?\s*[:=]\s*["']?)(?:(?:Basic|Bearer|Digest|SharedAccessSignature)\s+)?[^\s"',;]+/gi, '$1$2[redacted]'],
  // key-like field, then ":" or "=" (JSON, YAML, util.inspect, query strings), then the value.
  [new RegExp(`\\b(${KEY_FIELD})(["']?\\s*[:=]\\s*["']?)(?!\\[redacted)[^\\s"',;&}\\]]+`, 'gi'), '$1$2[redacted]'],
  // A bare base64 key of 32 or 64 bytes (what IoT Hub, DPS and IoT Central issue), wherever it is.
  [/(?<![A-Za-z0-9+/=])(?:[A-Za-z0-9+/]{43}=|[A-Za-z0-9+/]{86}==)(?![A-Za-z0-9+/=])/g, '[redacted key]'],
];

/** redactText plus the forms above. Idempotent: redacting twice changes nothing more. */
export function redactSecrets(text: string): string {
  let out = redactText(text);
  for (const [re, replacement] of EXTRA_PATTERNS) out = out.replace(re, replacement);
  return out;
}

// Field names whose values never reach a log, whatever they hold (redact.ts's list, plus what log fields use).
const SECRET_FIELD =
  /(secret|password|passwd|passphrase|token|signature|sas|connectionstring|privatekey|private_key|apikey|api_key|credential|authorization|^key$|^sig$|primarykey|secondarykey|groupkey|symmetrickey|sharedaccesskey|devicekey|keypem|^pem$)/i;

/** Fields of a log record: values under secret-looking names replaced, strings scrubbed, errors made plain. */
export function redactFields(value: unknown, depth = 0): unknown {
  if (depth > 16) return '[too deep]';
  if (value instanceof Error) {
    return { name: value.name, message: redactSecrets(value.message), ...(value.stack ? { stack: redactSecrets(value.stack) } : {}) };
  }
  if (typeof value === 'string') return redactSecrets(value);
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactFields(v, depth + 1));
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return `[${value.length} bytes]`;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    // A TTL or a count under a secret-looking name is not a secret.
    out[k] = SECRET_FIELD.test(k) && typeof v !== 'number' && typeof v !== 'boolean' && v !== null && v !== undefined ? '[redacted]' : redactFields(v, depth + 1);
  }
  return out;
}

// --- the logger ---------------------------------------------------------------------------------------------

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  log(level: LogLevel, msg: string, fields?: LogFields): void;
  /** Whether a record at this level goes anywhere (skip building costly messages). */
  enabled(level: LogLevel): boolean;
  /** The lowest level any sink wants: what workers should be told to send. */
  readonly level: LogLevel;
  /** A logger adding these fields to every record (e.g. { worker: 2 }). */
  child(fields: LogFields): Logger;
  /** Closes the log file; later records go to stderr only. */
  close(): void;
}

export interface LoggerOptions {
  /** stderr threshold (--log-level). Default warn. */
  level?: LogLevel;
  /** JSON-lines file (--log-file), appended to, created 0600 with its folder. */
  file?: string;
  /** The file's threshold; default: the same as level. */
  fileLevel?: LogLevel;
  /** Where human lines go; default process.stderr; null for none. */
  stderr?: { write(chunk: string): unknown } | null;
  /** For tests. */
  now?: () => Date;
}

/** Human line: `[warn] message key=value …`, continuation lines indented. */
function humanLine(level: LogLevel, msg: string, fields: LogFields): string {
  const extra = Object.entries(fields)
    .map(([k, v]) => {
      if (typeof v !== 'string') return ` ${k}=${JSON.stringify(v) ?? String(v)}`;
      return ` ${k}=${v !== '' && /^[^\s"=]*$/.test(v) ? v : JSON.stringify(v)}`;
    })
    .join('');
  return `[${level}] ${msg}${extra}`.replace(/\n/g, '\n    ') + '\n';
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const consoleRank = RANK[options.level ?? 'warn'];
  const fileRank = RANK[options.fileLevel ?? options.level ?? 'warn'];
  const stderr = options.stderr === undefined ? process.stderr : options.stderr;
  const now = options.now ?? (() => new Date());
  let fd: number | undefined;
  if (options.file !== undefined) {
    const path = resolve(options.file);
    mkdirSync(dirname(path), { recursive: true });
    fd = openSync(path, 'a', 0o600);
  }
  const state = { fd };
  const wants = (rank: number) => (stderr !== null && rank >= consoleRank) || (state.fd !== undefined && rank >= fileRank);
  const minRank = Math.min(stderr === null ? 3 : consoleRank, state.fd === undefined ? 3 : fileRank);

  const write = (level: LogLevel, msg: string, base: LogFields, fields: LogFields | undefined) => {
    const rank = RANK[level];
    if (!wants(rank)) return;
    const clean = redactSecrets(String(msg));
    const cleanFields = redactFields({ ...base, ...fields }) as LogFields;
    // Sync writes: log lines are rare next to samples, and a process.exit() must not lose the last ones.
    if (stderr !== null && rank >= consoleRank) stderr.write(humanLine(level, clean, cleanFields));
    if (state.fd !== undefined && rank >= fileRank) {
      const { t: _t, level: _l, msg: _m, ...rest } = cleanFields;
      writeSync(state.fd, JSON.stringify({ t: now().toISOString(), level, msg: clean, ...rest }) + '\n');
    }
  };

  const make = (base: LogFields): Logger => ({
    debug: (m, f) => write('debug', m, base, f),
    info: (m, f) => write('info', m, base, f),
    warn: (m, f) => write('warn', m, base, f),
    error: (m, f) => write('error', m, base, f),
    log: (level, m, f) => write(isLogLevel(level) ? level : 'info', m, base, f),
    enabled: (level) => wants(RANK[level]),
    level: LOG_LEVELS[minRank]!,
    child: (fields) => make({ ...base, ...fields }),
    close() {
      if (state.fd !== undefined) closeSync(state.fd);
      state.fd = undefined;
    },
  });
  return make({});
}
