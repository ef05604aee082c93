// `--out KIND=ARGUMENT`: outputs named on the command line. A new kind is its output's file and one line here.
import { ConfigError } from '../config/errors.js';
import { jsonLinesOutput } from './json-lines.js';
import type { Output } from './output.js';

const KINDS: Record<string, { make(argument: string): Output; example: string }> = {
  json: { make: jsonLinesOutput, example: 'json=run.jsonl (a JSON object per line: one a second and a final one)' },
};

/** The outputs `--out` names, made now (a file that cannot be written is refused before anything connects). */
export function outputsFromSpecs(specs: readonly string[]): Output[] {
  return specs.map((spec) => {
    const at = spec.indexOf('=');
    const kind = KINDS[at < 0 ? spec : spec.slice(0, at)];
    const argument = at < 0 ? '' : spec.slice(at + 1);
    if (kind === undefined || argument === '') {
      const known = Object.values(KINDS)
        .map((k) => k.example)
        .join('; ');
      const message = `expected KIND=ARGUMENT such as ${known}, got "${spec}"`;
      throw new ConfigError([{ file: 'command line', path: '--out', message }]);
    }
    try {
      return kind.make(argument);
    } catch (err) {
      throw new ConfigError([{ file: 'command line', path: '--out', message: `${spec}: ${(err as Error).message}` }]);
    }
  });
}
