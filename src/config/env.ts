// "${ENV_VAR}" references in scenario values, so that keys and tokens stay out of files. Resolved values are
// never put into messages: a problem names the variable and where it is used, nothing else.
import { formatPath } from './errors.js';

/** `${NAME}`, or `${NAME:-default}`: the default (possibly empty) stands in when NAME is unset or empty. */
const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export interface EnvProblem {
  path: string;
  message: string;
  segments: PropertyKey[];
}

export function hasEnvReference(value: string): boolean {
  REFERENCE.lastIndex = 0;
  return REFERENCE.test(value);
}

/** Returns a copy with every reference in every string replaced, and the problems (unset or empty variables). */
export function resolveEnv<T>(value: T, env: NodeJS.ProcessEnv = process.env): { value: T; problems: EnvProblem[] } {
  const problems: EnvProblem[] = [];
  const walk = (node: unknown, segments: PropertyKey[]): unknown => {
    if (typeof node === 'string') {
      return node.replace(REFERENCE, (whole, name: string, fallback: string | undefined) => {
        const resolved = env[name];
        if ((resolved === undefined || resolved === '') && fallback !== undefined) return fallback;
        if (resolved === undefined || resolved === '') {
          problems.push({
            path: formatPath(segments),
            segments,
            message: `environment variable ${name} is ${resolved === undefined ? 'not set' : 'empty'}`,
          });
          return whole;
        }
        return resolved;
      });
    }
    if (Array.isArray(node)) return node.map((item, index) => walk(item, [...segments, index]));
    if (node !== null && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(node)) out[key] = walk(item, [...segments, key]);
      return out;
    }
    return node;
  };
  return { value: walk(value, []) as T, problems };
}
