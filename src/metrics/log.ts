// The run's logger: human lines on stderr, optionally JSON lines in a file (--log-file), both filtered by
// level (--log-level) and both scrubbed of credentials, since log lines carry library and server messages
// that may echo a key, a SAS token or a PEM block.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { redactDeep, redactText } from './redact.js';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export const isLogLevel = (x: unknown): x is LogLevel => typeof x === 'string' && x in RANK;

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
  const wants = (rank: number) =>
    (stderr !== null && rank >= consoleRank) || (state.fd !== undefined && rank >= fileRank);
  const minRank = Math.min(stderr === null ? 3 : consoleRank, state.fd === undefined ? 3 : fileRank);

  const write = (level: LogLevel, msg: string, base: LogFields, fields: LogFields | undefined) => {
    const rank = RANK[level];
    if (!wants(rank)) return;
    const clean = redactText(String(msg));
    const cleanFields = redactDeep({ ...base, ...fields }) as LogFields;
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
