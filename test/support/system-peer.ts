// Programs some tests use as real peers (Mosquitto, Chromium, tmux) that `npm ci` cannot install. vitest's global
// setup looks for each one once: a missing one prints ONE line naming its Debian package, and the test files that
// need it skip; with CI set (CI=true, as .ci/run sets it) a missing peer fails the run, so CI never silently skips.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export type PeerName = 'mosquitto' | 'chromium' | 'tmux';

interface PeerSpec {
  /** The Debian package that installs it. */
  package: string;
  /** Program names looked up on PATH (and the sbin directories), the first found wins. */
  commands: string[];
  /** An environment variable that, when set, names the program to use instead. */
  env?: string;
  /** What skips without it, for the skip line. */
  needs: string;
}

const PEERS: Record<PeerName, PeerSpec> = {
  mosquitto: { package: 'mosquitto', commands: ['mosquitto'], needs: 'the mqtt target against a real broker' },
  chromium: {
    package: 'chromium',
    commands: ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'],
    env: 'CHROMIUM',
    needs: 'report.html in headless Chromium',
  },
  tmux: { package: 'tmux', commands: ['tmux'], needs: 'the dashboard in a real terminal' },
};

/** Passed from the global setup to the test workers: the peers found missing there. */
const MISSING_ENV = 'EDGEFLEET_TEST_MISSING_PEERS';

/** Set the way CI services set it (`true`, `1`, `yes`); empty, `0` and `false` are off. */
export function onCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const ci = env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci !== 'false';
}

function find(spec: PeerSpec): string | undefined {
  const fromEnv = spec.env === undefined ? undefined : process.env[spec.env];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  // Debian installs mosquitto in /usr/sbin, which a non-root PATH may lack.
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    for (const name of spec.commands) {
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

function skipLine(name: PeerName): string {
  const spec = PEERS[name];
  const orEnv = spec.env === undefined ? '' : `, or set ${spec.env}=/path/to/${name}`;
  return `${name} not found (apt-get install ${spec.package}${orEnv}): skipping ${spec.needs}`;
}

/**
 * For the global setup: looks for every peer once, prints one line per missing one (or, with CI set, throws naming
 * them all), and tells the test workers which are missing.
 */
export function checkSystemPeers(): void {
  const missing = (Object.keys(PEERS) as PeerName[]).filter((name) => find(PEERS[name]) === undefined);
  if (missing.length > 0 && onCi()) {
    throw new Error(`CI is set and the tests need: ${missing.map(skipLine).join('; ')}`);
  }
  for (const name of missing) process.stderr.write(`skipped: ${skipLine(name)}\n`);
  process.env[MISSING_ENV] = missing.join(',');
}

export interface SystemPeer {
  /** The program to run; undefined when it is missing (and the tests that need it skip). */
  path: string | undefined;
  missing: boolean;
}

/**
 * The peer for a test file: use `missing` with `describe.skipIf` / `it.skipIf`. The global setup already said what
 * is missing; a file run without it (another config) checks for itself and says so once.
 */
export function systemPeer(name: PeerName): SystemPeer {
  const path = find(PEERS[name]);
  if (path !== undefined) return { path, missing: false };
  const reported = process.env[MISSING_ENV]?.split(',').includes(name) ?? false;
  if (!reported) {
    if (onCi()) throw new Error(`CI is set and this test needs ${skipLine(name)}`);
    process.stderr.write(`skipped: ${skipLine(name)}\n`);
  }
  return { path: undefined, missing: true };
}
