// The bench's command line: `node dist/bench/main.js [options]`, read into Options with --quick's defaults.
import { join } from 'node:path';
import type { Variant } from './job.js';

export type Phase = 'connect' | 'telemetry' | 'limits';

export interface Options {
  quick: boolean;
  identities: number;
  telemetryIdentities: number[];
  /** Total offered telemetry rate (msgs/s) for every telemetry run; each identity sends every identities/rate s. */
  rate: number;
  windowSeconds: number;
  warmupSeconds: number;
  concurrency: number;
  out: string;
  stateDir: string;
  localAddresses: string[];
  only: Set<Phase>;
  clients: Set<Variant>;
  verbose: boolean;
  /** Telemetry phases: client and emulator on cores of their own (taskset). */
  pin: boolean;
  quietWaitSeconds: number;
  repeat: number;
}

export const USAGE = `usage: node dist/bench/main.js [options]
  --quick                      a short run (about 2 minutes): 1,000 identities to connect, telemetry at 500 and 1,000
  --identities N               identities each client connects in the connect phase (default 10000; quick 1000)
  --telemetry-identities A,B   identity counts for the telemetry runs (default 1000,10000; quick 500,1000)
  --rate R                     offered telemetry msgs/s in total, spread over the identities (default 5000; quick 2500)
  --window S                   seconds of telemetry measured per run (default 15; quick 6)
  --concurrency C              connection attempts in flight at once (closed loop; default 100)
  --local-address A,B          source addresses for client connections, round robin (e.g. 127.0.0.2,127.0.0.3)
  --only connect,telemetry,limits   run only these phases (lateness comes with telemetry; limits: what the
                               emulator's limiters cost per operation, in process)
  --clients edgefleet,mqttjs,azureSdk   run only these clients (mqttjsSharedTls: an extra, plain mqtt.js sharing one
                               TLS context; connect phase only)
  --out DIR                    where reports go (default reports/bench)
  --state-dir DIR              the emulator's CA and keys (default .edgefleet-bench); the emulator runs with
                               --ephemeral, but for the durability run, which records its state in DIR/durable-run
  --quiet-wait S               before each phase, wait up to S seconds for other processes to go quiet (default 10;
                               quick 3)
  --repeat N                   run every phase N times, clients interleaved; keep each client's median run among those
                               other processes left alone (else the least disturbed); all runs stay in the JSON
  --verbose                    show the client and emulator processes' output
  --no-pin                     telemetry phases: do not pin the client and the emulator to cores of their own (by default,
                               with taskset and 2+ cores, the emulator gets the last core and the client the others)
environment: EDGEFLEET_BENCH_CLIENT_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" adds node flags to the client processes`;

const KNOWN = [
  'quick',
  'identities',
  'telemetry-identities',
  'rate',
  'window',
  'concurrency',
  'local-address',
  'only',
  'clients',
  'out',
  'state-dir',
  'verbose',
  'no-pin',
  'quiet-wait',
  'repeat',
];
const SWITCHES = ['quick', 'verbose', 'no-pin'];
const VARIANTS: readonly Variant[] = ['edgefleet', 'mqttjs', 'azureSdk', 'mqttjsSharedTls'];

/** `--name value`, `--name=value` and the switches, by name; --help prints the usage and exits. */
function readFlags(argv: string[]): Map<string, string | true> {
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    if (!a.startsWith('--')) throw new Error(`unexpected argument "${a}"\n${USAGE}`);
    const eq = a.indexOf('=');
    if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
    else if (SWITCHES.includes(a.slice(2))) flags.set(a.slice(2), true);
    else {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      flags.set(a.slice(2), v);
    }
  }
  for (const k of flags.keys()) if (!KNOWN.includes(k)) throw new Error(`unknown option --${k}\n${USAGE}`);
  return flags;
}

/** Typed reads of the flags: a string, a positive whole number with its default, a comma-separated list. */
function flagReader(flags: Map<string, string | true>) {
  const str = (k: string) => {
    const v = flags.get(k);
    return typeof v === 'string' ? v : undefined;
  };
  const int = (k: string, dflt: number) => {
    const v = str(k);
    if (v === undefined) return dflt;
    const n = Number(v.replaceAll('_', '').replaceAll(',', ''));
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${k} must be a positive whole number, not "${v}"`);
    return n;
  };
  const list = (k: string) =>
    str(k)
      ?.split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  return { str, int, list, on: (k: string) => flags.get(k) === true };
}

function telemetrySizes(given: string[]): number[] {
  const sizes = given.map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n <= 0)
      throw new Error(`--telemetry-identities takes positive whole numbers, not "${s}"`);
    return n;
  });
  return [...new Set(sizes)].sort((a, b) => a - b);
}

function phasesOf(given: string[]): Set<Phase> {
  const isPhase = (o: string): o is Phase => o === 'connect' || o === 'telemetry' || o === 'limits';
  for (const o of given) {
    if (!isPhase(o)) throw new Error(`--only takes connect, telemetry and/or limits, not "${o}"`);
  }
  return new Set(given.filter(isPhase));
}

function clientsOf(given: string[]): Set<Variant> {
  const isVariant = (c: string): c is Variant => (VARIANTS as readonly string[]).includes(c);
  for (const c of given)
    if (!isVariant(c)) throw new Error(`--clients takes edgefleet, mqttjs, azureSdk, mqttjsSharedTls, not "${c}"`);
  return new Set(given.filter(isVariant));
}

export function parseArgs(argv: string[]): Options {
  const { str, int, list, on } = flagReader(readFlags(argv));
  const quick = on('quick');
  const identities = int('identities', quick ? 1000 : 10_000);
  const telemetryIdentities = telemetrySizes(
    list('telemetry-identities') ?? (quick ? ['500', '1000'] : ['1000', String(identities)]),
  );
  const only = phasesOf(list('only') ?? ['connect', 'telemetry', 'limits']);
  const clients = clientsOf(list('clients') ?? ['edgefleet', 'mqttjs', 'azureSdk']);
  return {
    quick,
    identities,
    telemetryIdentities,
    rate: int('rate', quick ? 2500 : 5000),
    windowSeconds: int('window', quick ? 6 : 15),
    warmupSeconds: quick ? 2 : 3,
    concurrency: int('concurrency', 100),
    out: str('out') ?? join('reports', 'bench'),
    stateDir: str('state-dir') ?? '.edgefleet-bench',
    localAddresses: list('local-address') ?? [],
    only,
    clients,
    verbose: on('verbose'),
    pin: !on('no-pin'),
    quietWaitSeconds: str('quiet-wait') === '0' ? 0 : int('quiet-wait', quick ? 3 : 10),
    repeat: int('repeat', 1),
  };
}
