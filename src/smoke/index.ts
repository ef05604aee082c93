// `edgefleet smoke` as one call: which patterns, run them, print each check, write JUnit, say the exit code.
import { fileURLToPath } from 'node:url';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../config/errors.js';
import { parseDuration } from '../config/duration.js';
import { countResults, formatResultLine, formatTotals, smokeJUnit } from './output.js';
import { PATTERN_NAMES, SMOKE_PATTERNS, type SmokePattern } from './patterns.js';
import { runSmoke } from './run.js';

export { SMOKE_PATTERNS, PATTERN_NAMES } from './patterns.js';

/** scenarios/smoke/ of this installation (two levels up from src/smoke or dist/smoke). */
export const BUNDLED_SCENARIOS = fileURLToPath(new URL('../../scenarios/smoke/', import.meta.url));

export interface SmokeCommandOptions {
  target?: 'emulator' | 'iot-central' | 'iot-hub';
  targetInfo?: string;
  patterns: string[];
  junit?: string;
  reportsDir: string;
  timeout: string;
  stateDir: string;
  scenariosDir?: string;
  /** Register every identity through DPS, ignoring the assignment cache. */
  reprovision?: boolean;
  out: (line: string) => void;
  err: (line: string) => void;
}

/** Runs the smoke checks; resolves with the exit code (0 all passed, 1 any failed). Bad options throw ConfigError. */
export async function smokeCommand(o: SmokeCommandOptions): Promise<number> {
  const timeoutMs = timeoutOf(o.timeout);
  const patterns = patternsNamed(o.patterns);
  const started = Date.now();
  const against = o.targetInfo ?? o.target ?? 'the embedded emulator';
  o.out(`edgefleet smoke: ${patterns.map((p) => p.name).join(', ')} against ${against}`);
  const results = await runSmoke({
    patterns,
    scenariosDir: o.scenariosDir ?? BUNDLED_SCENARIOS,
    stateDir: o.stateDir,
    reportsDir: o.reportsDir,
    timeoutMs,
    ...(o.reprovision === true ? { reprovision: true } : {}),
    ...(o.target === undefined ? {} : { target: o.target }),
    ...(o.targetInfo === undefined ? {} : { targetInfo: o.targetInfo }),
    onResult: (r) => o.out(formatResultLine(r)),
    log: (line) => o.err(line),
  });
  const elapsed = Date.now() - started;
  o.out(formatTotals(results, elapsed));
  if (o.junit !== undefined) {
    const file = resolve(o.junit);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, smokeJUnit(patterns, results, new Date(started)));
    o.out(`junit: ${file}`);
  }
  const c = countResults(results);
  const undecided = patterns.reduce((n, p) => n + p.checks.length, 0) - results.length;
  return c.failed > 0 || undecided > 0 ? 1 : 0;
}

/** --timeout: a duration of at least 10 s (a smoke run has to start a fleet and let it drain). */
function timeoutOf(text: string): number {
  let timeoutMs: number;
  try {
    timeoutMs = parseDuration(text);
  } catch (err) {
    throw new ConfigError([{ file: 'command line', path: '--timeout', message: (err as Error).message }]);
  }
  if (timeoutMs < 10_000) {
    throw new ConfigError([{ file: 'command line', path: '--timeout', message: `expected at least 10s, got ${text}` }]);
  }
  return timeoutMs;
}

/** --pattern: the named patterns, or every one when none is named. */
function patternsNamed(names: readonly string[]): SmokePattern[] {
  const unknown = names.filter((p) => !PATTERN_NAMES.includes(p));
  if (unknown.length > 0) {
    const message = `expected one of ${PATTERN_NAMES.join(', ')}, got ${unknown.join(', ')}`;
    throw new ConfigError([{ file: 'command line', path: '--pattern', message }]);
  }
  return names.length === 0 ? [...SMOKE_PATTERNS] : SMOKE_PATTERNS.filter((p) => names.includes(p.name));
}

/** For --help: each pattern and what it checks. */
export function describePatterns(): string {
  return SMOKE_PATTERNS.map((p) =>
    [
      `${p.name}${p.available ? '' : ' (not available in this build: its checks are skipped)'} — ${p.describe}`,
      ...p.checks.map((c) => `    ${c.name}: ${c.describe}`),
    ].join('\n'),
  ).join('\n');
}
