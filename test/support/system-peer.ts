// Programs some tests use as real peers (Mosquitto, Chromium, tmux) that `npm ci` cannot install. Missing, the tests
// that need one skip with one line on stderr naming the Debian package, so `npm test` passes on a machine with Node
// only; with CI set (CI=true, as .ci/run sets it) a missing peer fails the test file, so CI never silently skips.
import { accessSync, constants } from 'node:fs';
import { delimiter, join, relative } from 'node:path';
import { expect } from 'vitest';

export interface PeerOptions {
  /** The Debian package that installs it. */
  package: string;
  /** Program names looked up on PATH, the first found wins; default: the peer's name. */
  commands?: string[];
  /** An environment variable that, when set, names the program to use instead (e.g. CHROMIUM=/path/to/chrome). */
  env?: string;
}

export interface SystemPeer {
  /** The program to run; undefined when it is missing (and the tests that need it skip). */
  path: string | undefined;
  missing: boolean;
}

/** Set the way CI services set it (`true`, `1`, `yes`); empty, `0` and `false` are off. */
function onCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const ci = env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci !== 'false';
}

function onPath(names: string[]): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    for (const name of names) {
      try {
        accessSync(join(dir, name), constants.X_OK);
        return join(dir, name);
      } catch {
        // keep looking
      }
    }
  }
  return undefined;
}

/**
 * Finds `name` for the calling test file. Use its `missing` with `describe.skipIf` / `it.skipIf`; call it once per
 * file, at the top level, so the skip line is printed once.
 */
export function systemPeer(name: string, opts: PeerOptions): SystemPeer {
  const fromEnv = opts.env === undefined ? undefined : process.env[opts.env];
  const path = fromEnv !== undefined && fromEnv !== '' ? fromEnv : onPath(opts.commands ?? [name]);
  if (path !== undefined) return { path, missing: false };
  const file = relative(process.cwd(), expect.getState().testPath ?? '') || 'a test file';
  const orEnv = opts.env === undefined ? '' : `, or set ${opts.env}=/path/to/${name}`;
  const install = `apt-get install ${opts.package}${orEnv}`;
  const missing = `${file} needs ${name}, not on PATH (${install})`;
  if (onCi()) throw new Error(`${missing}; CI is set, so it fails instead of skipping`);
  process.stderr.write(`skipped: ${missing}\n`);
  return { path: undefined, missing: true };
}
