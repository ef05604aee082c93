// zod issues, rephrased for people who write YAML: "expected …, got …", one problem per line.
import type { z } from 'zod';
import { describeValue, formatPath, SECRET_KEY, type ConfigProblem } from './errors.js';
import type { SourceFile } from './source.js';

type Issue = z.core.$ZodIssue;
type RawIssue = z.core.$ZodRawIssue;

/** Validates `data` and returns the parsed value, or every problem found. */
export function validate<S extends z.ZodType>(
  schema: S,
  source: Pick<SourceFile, 'shown' | 'locate'>,
  data: unknown,
): { ok: true; value: z.output<S> } | { ok: false; problems: ConfigProblem[] } {
  const result = schema.safeParse(data, { reportInput: true, error: defaultMessage });
  if (result.success) return { ok: true, value: result.data };
  const problems = result.error.issues.flatMap((issue) => toProblems(issue, [], source));
  return { ok: false, problems };
}

const GENERIC_UNION = 'does not match any accepted form';

const TYPE_NAMES: Record<string, string> = {
  number: 'a number',
  int: 'a whole number',
  string: 'text',
  boolean: 'true or false',
  object: 'an object (key: value pairs)',
  record: 'an object (key: value pairs)',
  array: 'a list',
  null: 'null',
  undefined: 'nothing',
};

function defaultMessage(issue: RawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}`;
    case 'too_small': {
      const op = issue.inclusive === false ? '>' : '>=';
      if (issue.origin === 'string')
        return `expected at least ${issue.minimum} character${issue.minimum === 1 ? '' : 's'}`;
      if (issue.origin === 'array' || issue.origin === 'set')
        return `expected at least ${issue.minimum} item${issue.minimum === 1 ? '' : 's'}`;
      return `expected a number ${op} ${issue.minimum}`;
    }
    case 'too_big': {
      const op = issue.inclusive === false ? '<' : '<=';
      if (issue.origin === 'string') return `expected at most ${issue.maximum} characters`;
      if (issue.origin === 'array' || issue.origin === 'set') return `expected at most ${issue.maximum} items`;
      return `expected a number ${op} ${issue.maximum}`;
    }
    case 'invalid_value':
      return issue.values.length === 1
        ? `expected ${JSON.stringify(issue.values[0])}`
        : `expected one of ${issue.values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(' | ')}`;
    case 'invalid_format':
      return issue.format === 'regex'
        ? `expected text matching ${(issue as { pattern?: string }).pattern}`
        : `expected ${issue.format}`;
    case 'not_multiple_of':
      return `expected a multiple of ${issue.divisor}`;
    case 'unrecognized_keys':
      return `unknown key${issue.keys.length === 1 ? '' : 's'} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    case 'invalid_key':
      return 'invalid key';
    case 'invalid_union':
      if ('discriminator' in issue && typeof issue.discriminator === 'string') {
        const options = (issue as { options?: unknown[] }).options ?? [];
        return `expected one of ${options.map(String).join(' | ')}`;
      }
      return GENERIC_UNION;
    default:
      return undefined;
  }
}

// Keys that belong to the other kind of group get a hint, since that is the usual reason they are there.
const KIND_ONLY: Record<string, string> = {
  manifest: 'only for kind: iotEdge',
  modules: 'only for kind: iotEdge',
  telemetry: 'only for kind: device (an IoT Edge device sends what its modules send)',
  properties: 'only for kind: device',
  commands: 'only for kind: device (IoT Edge modules answer their own)',
};

function toProblems(
  original: Issue,
  prefix: ReadonlyArray<PropertyKey>,
  source: Pick<SourceFile, 'shown' | 'locate'>,
): ConfigProblem[] {
  let issue = original;
  const fullPath = [...prefix, ...issue.path];

  if (issue.code === 'invalid_union' && !('discriminator' in issue && issue.discriminator) && issue.errors.length > 0) {
    const branches = issue.errors as Issue[][];
    const branch = chosenBranch(branches);
    if (branch) return branch.flatMap((inner) => toProblems(inner, fullPath, source));
    if (issue.message === GENERIC_UNION) issue = { ...issue, message: unionExpectation(branches) ?? GENERIC_UNION };
  }

  if (issue.code === 'unrecognized_keys') {
    const inFleetGroup = fullPath.length === 2 && fullPath[0] === 'fleet' && typeof fullPath[1] === 'number';
    return issue.keys.map((key) => ({
      file: source.shown,
      path: formatPath(fullPath),
      message: `unknown key ${JSON.stringify(key)}${inFleetGroup && KIND_ONLY[key] ? ` (${KIND_ONLY[key]})` : ''}`,
      ...source.locate(fullPath, key),
    }));
  }

  let message = issue.message;
  if (issue.code === 'invalid_key' && issue.issues.length > 0)
    message = issue.issues.map((inner) => inner.message).join('; ');
  const input = 'input' in issue ? issue.input : undefined;
  const hasInput = 'input' in issue && input !== undefined;
  if (isDiscriminatorIssue(issue)) {
    const value =
      input !== null && typeof input === 'object'
        ? (input as Record<string, unknown>)[(issue as { discriminator: string }).discriminator]
        : undefined;
    message = value === undefined ? `required: ${message}` : `${message}, got ${describeValue(value)}`;
  } else if (issue.code !== 'custom') {
    const secret = fullPath.some((segment) => typeof segment === 'string' && SECRET_KEY.test(segment));
    if (!hasInput && issue.code === 'invalid_type') message = `required: ${message}`;
    else if (hasInput && !secret) message = `${message}, got ${describeValue(input)}`;
  }
  return [{ file: source.shown, path: formatPath(fullPath), message, ...source.locate(fullPath) }];
}

/**
 * Of a union's failed branches, the one meant by the value explains the mistake best: a branch is out when it
 * rejected the value itself, its discriminator, or a key that is present with a value of another type.
 * Returns undefined when every branch rejected the value as a whole (the union's own message says it).
 */
function chosenBranch(branches: Issue[][]): Issue[] | undefined {
  const candidates = branches.filter((branch) => branch.length > 0 && !branch.some(rejectsAtRoot));
  if (candidates.length > 0) return candidates.reduce((best, branch) => (branch.length < best.length ? branch : best));
  if (branches.every((branch) => branch.every((issue) => issue.path.length === 0))) return undefined;
  return branches.find((branch) => branch.some(isDiscriminatorIssue)) ?? branches.find((branch) => branch.length > 0);
}

function isDiscriminatorIssue(issue: Issue): boolean {
  return issue.code === 'invalid_union' && 'discriminator' in issue && typeof issue.discriminator === 'string';
}

function rejectsAtRoot(issue: Issue): boolean {
  if (issue.path.length === 0) return true;
  if (issue.path.length !== 1) return false;
  if (isDiscriminatorIssue(issue)) return true;
  const present = 'input' in issue && issue.input !== undefined;
  return present && (issue.code === 'invalid_type' || issue.code === 'invalid_value');
}

/** "expected a list or text" from the branches' own type expectations. */
function unionExpectation(branches: Issue[][]): string | undefined {
  const expected = branches.map((branch) =>
    branch.find((issue) => issue.path.length === 0 && issue.code === 'invalid_type'),
  );
  if (expected.some((issue) => issue === undefined)) return undefined;
  const names = expected.map(
    (issue) => TYPE_NAMES[(issue as { expected: string }).expected] ?? (issue as { expected: string }).expected,
  );
  return `expected ${[...new Set(names)].join(' or ')}`;
}
