// One error type for every configuration mistake: it carries all the problems found, so a person fixes
// a file in one go instead of one problem per run.
import path from 'node:path';

export interface ConfigProblem {
  /** The file the problem is in, as shown to people (relative to the working directory when inside it). */
  file: string;
  /** Where inside the file, e.g. `fleet[1].telemetry.interval`; empty for the file as a whole. */
  path: string;
  message: string;
  line?: number;
  column?: number;
}

export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** `scenarios/bad.yaml: fleet[0].count: expected a whole number >= 1, got "ten" (line 7, column 12)` */
export function formatProblem(problem: ConfigProblem): string {
  const where = problem.path === '' ? '' : `${problem.path}: `;
  const at =
    problem.line === undefined
      ? ''
      : ` (line ${problem.line}${problem.column === undefined ? '' : `, column ${problem.column}`})`;
  return `${problem.file}: ${where}${problem.message}${at}`;
}

/** Files are named relative to the working directory when they are inside it, absolute otherwise. */
export function displayPath(file: string): string {
  if (!path.isAbsolute(file)) return file;
  const relative = path.relative(process.cwd(), file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

const PLAIN_KEY = /^[A-Za-z0-9_$*-]+$/;

/** `['fleet', 1, 'telemetry', 'values', 'comp.temp']` → `fleet[1].telemetry.values["comp.temp"]` */
export function formatPath(segments: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else {
      const key = String(segment);
      if (PLAIN_KEY.test(key)) out += out === '' ? key : `.${key}`;
      else out += `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}

/** A short rendering of a value a person wrote, for "got …" in messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  return typeof value;
}

/** Keys whose values must never be echoed, even when they are wrong. */
export const SECRET_KEY = /(key|token|password|secret|connectionstrings?|sas|signature|credential)$/i;
