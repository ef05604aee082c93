// `npm run bench`: how fast edgefleet connects and sends, and how much memory it takes per identity, measured in
// the same run as its baselines (plain mqtt.js, the official Azure IoT SDK) against the same emulator program on
// the same machine. Each client runs in a process of its own; each phase gets a fresh emulator process.
//
//   node dist/bench/main.js [--quick] [--identities 10000] [--out reports/bench] [--local-address 127.0.0.2,127.0.0.3]
//                           [--concurrency 100] [--only connect,telemetry] [--clients edgefleet,mqttjs,azureSdk]
//                           [--telemetry-identities 1000,10000] [--rate 5000] [--window 15] [--repeat 3] [--help]
//
// A benchmark, not a test: it never fails on a figure. Targets are printed as pass/miss beside the measurements.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { startBenchEmulator, registerDevices, type BenchEmulator } from './emulator.js';
import type { ClientJob, ClientResult, Variant } from './job.js';
import { deviceIdOf } from './job.js';
import { fitIdentities, readLimits, unusableAddresses } from './limits.js';
import {
  computeRatios,
  durabilityFigures,
  renderTable,
  type BenchReport,
  type ConnectEntry,
  type DurabilityEntry,
  type TelemetryEntry,
} from './report.js';
import { runClient } from './run-client.js';
import { cpuSeconds, machineBusySeconds, sleep } from './measure.js';
import { schedulerOnly } from './scheduler-only.js';
import { corePinning } from './pinning.js';

interface Options {
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
  only: Set<'connect' | 'telemetry'>;
  clients: Set<Variant>;
  verbose: boolean;
  /** Telemetry phases: client and emulator on cores of their own (taskset). */
  pin: boolean;
  quietWaitSeconds: number;
  repeat: number;
}

/** Other processes' CPU (cores) below which the machine counts as quiet. */
const QUIET_CORES = 0.25;

/** Waits until other processes use less than QUIET_CORES for a second, at most `maxMs`. */
async function waitForQuiet(maxMs: number): Promise<{ otherCores: number; waitedMs: number }> {
  const start = Date.now();
  let otherCores = 0;
  do {
    const b0 = machineBusySeconds();
    const c0 = cpuSeconds();
    await sleep(1000);
    otherCores = Math.max(0, machineBusySeconds() - b0 - (cpuSeconds() - c0));
    if (!(otherCores >= QUIET_CORES)) break;
  } while (Date.now() - start < maxMs);
  return { otherCores, waitedMs: Date.now() - start };
}

const USAGE = `usage: node dist/bench/main.js [options]
  --quick                      a short run (about 2 minutes): 1,000 identities to connect, telemetry at 500 and 1,000
  --identities N               identities each client connects in the connect phase (default 10000; quick 1000)
  --telemetry-identities A,B   identity counts for the telemetry runs (default 1000,10000; quick 500,1000)
  --rate R                     offered telemetry msgs/s in total, spread over the identities (default 5000; quick 2500)
  --window S                   seconds of telemetry measured per run (default 15; quick 6)
  --concurrency C              connection attempts in flight at once (closed loop; default 100)
  --local-address A,B          source addresses for client connections, round robin (e.g. 127.0.0.2,127.0.0.3)
  --only connect,telemetry     run only these phases (lateness comes with telemetry)
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

function parseArgs(argv: string[]): Options {
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
    else if (['quick', 'verbose', 'no-pin'].includes(a.slice(2))) flags.set(a.slice(2), true);
    else {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      flags.set(a.slice(2), v);
    }
  }
  const known = [
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
  for (const k of flags.keys()) if (!known.includes(k)) throw new Error(`unknown option --${k}\n${USAGE}`);
  const quick = flags.get('quick') === true;
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
  const identities = int('identities', quick ? 1000 : 10_000);
  const telemetryIdentities = (
    list('telemetry-identities') ?? (quick ? ['500', '1000'] : ['1000', String(identities)])
  ).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n <= 0)
      throw new Error(`--telemetry-identities takes positive whole numbers, not "${s}"`);
    return n;
  });
  const only = new Set((list('only') ?? ['connect', 'telemetry']) as ('connect' | 'telemetry')[]);
  for (const o of only)
    if (o !== 'connect' && o !== 'telemetry') throw new Error(`--only takes connect and/or telemetry, not "${o}"`);
  const clients = new Set((list('clients') ?? ['edgefleet', 'mqttjs', 'azureSdk']) as Variant[]);
  for (const c of clients)
    if (!['edgefleet', 'mqttjs', 'azureSdk', 'mqttjsSharedTls'].includes(c))
      throw new Error(`--clients takes edgefleet, mqttjs, azureSdk, mqttjsSharedTls, not "${c}"`);
  return {
    quick,
    identities,
    telemetryIdentities: [...new Set(telemetryIdentities)].sort((a, b) => a - b),
    rate: int('rate', quick ? 2500 : 5000),
    windowSeconds: int('window', quick ? 6 : 15),
    warmupSeconds: quick ? 2 : 3,
    concurrency: int('concurrency', 100),
    out: str('out') ?? join('reports', 'bench'),
    stateDir: str('state-dir') ?? '.edgefleet-bench',
    localAddresses: list('local-address') ?? [],
    only,
    clients,
    verbose: flags.get('verbose') === true,
    pin: flags.get('no-pin') !== true,
    quietWaitSeconds: str('quiet-wait') === '0' ? 0 : int('quiet-wait', quick ? 3 : 10),
    repeat: int('repeat', 1),
  };
}

const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const limits = readLimits();

  const started = Date.now();
  const cpuModel = cpus()[0]?.model.trim() ?? 'unknown';
  const report: BenchReport = {
    version: 1,
    date: new Date(started).toISOString(),
    quick: opts.quick,
    durationSeconds: 0,
    machine: {
      cores: cpus().length,
      node: process.version,
      cpuModel,
      platform: `${process.platform}-${process.arch}`,
      totalMemoryGB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      openFilesLimit: limits.softFds,
      ephemeralPorts: limits.ephemeralPorts,
    },
    method: {
      connect: `closed loop, at most ${opts.concurrency} identities between start and done; done = TLS (CA-verified) + CONNECT with a SAS token + 4 subscriptions at QoS 1 ($iothub/twin/res/#, desired, methods, C2D) + a twin GET answered; rate = connected / wall time; RSS per identity = (RSS after all connected − RSS before) / connected, each after forced GC; one fresh client process and one fresh emulator process per client`,
      telemetry: `QoS 1, offered ${opts.rate} msgs/s in total, each identity paced on its own timer (edgefleet: its scheduler) with a random phase; ${opts.warmupSeconds} s warm-up then a ${opts.windowSeconds} s window; msgs/core-s = PUBACKs in the window / client CPU seconds (process.cpuUsage) in it; p99 = publish → PUBACK (raw), "corr" = intended send time → PUBACK`,
      lateness:
        'edgefleet Scheduler lateness (task run time − intended time) over the telemetry window of the largest edgefleet run',
      rss: 'clients run with --expose-gc; RSS and heap sampled after full collections',
      target:
        'emulator (`edgefleet emulator --ephemeral`, aedes over TLS) in its own process on the same machine; clients dial 127.0.0.1 (no name lookup), certificates verified against the emulator CA by IP SAN',
      durability:
        'edgefleet at the largest telemetry identity count and the same offered rate, once more against the emulator recording its state (SQLite in WAL mode, synchronous=NORMAL, group commits of 4 ms; a PUBACK waits for the commit of its message), in a fresh state directory; compared with the --ephemeral run of the same phase; emulator µs/msg = emulator CPU over the window / PUBACKs in it',
    },
    connect: {},
    telemetry: {},
    lateness: null,
    ratios: {},
    targets: [],
    notes: [],
    errors: [],
  };
  const log = opts.verbose
    ? (line: string) => say(`    ${line}`)
    : (line: string) => {
        if (/^\s+\w+: \d+\/\d+ after/.test(line)) say(`    ${line.trim()}`);
      };

  if (opts.repeat > 1) {
    report.method.repeat = `every phase ran ${opts.repeat} times, clients interleaved; each figure is that client's median run (by connects/s, or msgs/core-s) among those other processes left alone (else its least disturbed run); every run is under "runs"`;
  }
  const bad = await unusableAddresses(opts.localAddresses);
  if (bad.length > 0) throw new Error(`--local-address: cannot bind ${bad.join(', ')} here`);
  if (opts.localAddresses.length > 0) {
    report.method.localAddresses = `client connections spread over ${opts.localAddresses.join(', ')} (edgefleet and mqtt.js; the Azure IoT SDK has no option for a source address and uses the default)`;
  }
  if (opts.repeat === 1) {
    report.notes.push(
      'one run per client and phase: on this 2-core machine, identical runs spread by about ±10% even when nothing else runs (connects/s and msgs/core-s); ratios within ±0.1 of a target are not a verdict: use --repeat 3',
    );
  }
  const cores = cpus().length;
  const pinning = opts.pin && opts.only.has('telemetry') ? corePinning(cores) : undefined;
  report.notes.push(
    `${cores} cores shared by the client under test and the emulator${pinning === undefined ? '' : ' in connect phases (telemetry phases pin each to its own)'} (and this parent, idle while a phase runs): past about ${cores} busy cores in total, figures measure the box, not the client`,
  );
  report.method.pinning =
    pinning === undefined
      ? `telemetry phases not pinned (${opts.pin ? 'one core, or no taskset' : '--no-pin'}): client and emulator share the cores and preempt each other`
      : `telemetry phases: client on core(s) ${pinning.client}, emulator on core ${pinning.emulator} (taskset), as if on two machines; connect phases share every core`;

  let emulator: BenchEmulator | undefined;
  const stopEmulator = async () => {
    const e = emulator;
    emulator = undefined;
    await e?.stop().catch(() => {});
  };
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    say(`${signal}: stopping`);
    void stopEmulator().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  /** Fresh emulator with `n` devices registered; runs `job` in a client process; always cleans up. */
  /** The durability run's emulator records its state here, made anew for each run and removed after it. */
  const durableStateDir = join(opts.stateDir, 'durable-run');
  const phase = async (
    label: string,
    variant: Variant,
    kind: ClientJob['kind'],
    n: number,
    telemetry?: ClientJob['telemetry'],
    durable = false,
  ): Promise<{ result: ClientResult; received?: number; totals?: Awaited<ReturnType<BenchEmulator['totals']>> }> => {
    const quiet = await waitForQuiet(opts.quietWaitSeconds * 1000);
    if (quiet.waitedMs >= 2000)
      say(
        `  (waited ${Math.round(quiet.waitedMs / 1000)} s for other processes to go quiet; they use ${quiet.otherCores.toFixed(2)} cores)`,
      );
    const t0 = Date.now();
    const stateDir = durable ? durableStateDir : opts.stateDir;
    try {
      const cpuList = kind === 'telemetry' ? pinning : undefined;
      if (durable) await rm(durableStateDir, { recursive: true, force: true });
      emulator = await startBenchEmulator(
        stateDir,
        opts.verbose ? (l) => say(`    ${l}`) : () => {},
        cpuList?.emulator,
        durable,
      );
      const idPrefix = `bench-${kind[0]}-${variant}-`;
      const ids = [...Array.from({ length: n }, (_, i) => deviceIdOf(idPrefix, i)), `${idPrefix}warmup`];
      const r0 = Date.now();
      await registerDevices(emulator.info, ids, 32);
      const registerMs = Date.now() - r0;
      const connectDeadlineMs = Math.max(60_000, Math.ceil(n / 40) * 1000);
      const job: ClientJob = {
        variant,
        kind,
        idPrefix,
        identities: n,
        concurrency: opts.concurrency,
        localAddresses: variant === 'azureSdk' ? [] : opts.localAddresses,
        target: {
          host: '127.0.0.1',
          port: emulator.info.mqttPort,
          hubHost: `${emulator.info.hubHostName}:${emulator.info.mqttPort}`,
          caPem: emulator.caPem,
          groupKey: emulator.info.enrollmentGroups.devices.primaryKey,
        },
        emulatorPid: emulator.pid,
        connectDeadlineMs,
        ...(telemetry === undefined ? {} : { telemetry }),
      };
      const timeoutMs =
        connectDeadlineMs + 60_000 + (telemetry === undefined ? 0 : telemetry.warmupMs + telemetry.durationMs);
      const result = await runClient(job, timeoutMs, log, cpuList?.client);
      const totals = await emulator.totals().catch(() => undefined);
      say(
        `  ${label}: ${result.ok ? 'done' : `FAILED: ${result.error?.split('\n')[0]}`} in ${((Date.now() - t0) / 1000).toFixed(0)} s (registering ${n} devices took ${(registerMs / 1000).toFixed(1)} s)`,
      );
      return { result, ...(totals === undefined ? {} : { totals, received: totals.messagesReceived }) };
    } catch (err) {
      const message = (err as Error).message;
      say(`  ${label}: FAILED: ${message}`);
      return { result: { ok: false, variant, kind, gcExposed: false, error: message } };
    } finally {
      await stopEmulator();
      if (durable) await rm(durableStateDir, { recursive: true, force: true });
    }
  };

  const clientsInOrder = (['edgefleet', 'mqttjs', 'azureSdk', 'mqttjsSharedTls'] as const).filter((c) =>
    opts.clients.has(c),
  );

  /**
   * Of repeated runs: the median by `metric` (upper median for an even count) among those the rest of the machine
   * left alone (every client gets the same rule), or, when none was left alone, the least disturbed.
   */
  const pick = <T extends { otherCores: number }>(runs: T[], metric: (r: T) => number): T | undefined => {
    const quiet = runs.filter((r) => r.otherCores <= QUIET_CORES).sort((a, b) => metric(a) - metric(b));
    if (quiet.length > 0) return quiet[Math.floor(quiet.length / 2)];
    return runs.reduce<T | undefined>(
      (best, r) => (best === undefined || r.otherCores < best.otherCores ? r : best),
      undefined,
    );
  };
  const repeatLabel = (r: number) => (opts.repeat > 1 ? ` (run ${r + 1}/${opts.repeat})` : '');

  if (opts.only.has('connect')) {
    say(`connect: ${opts.identities} identities per client, ${opts.concurrency} in flight`);
    const runs = new Map<Variant, ConnectEntry[]>();
    for (let r = 0; r < opts.repeat; r++) {
      for (const variant of clientsInOrder) {
        const fit = fitIdentities(opts.identities, limits, variant === 'azureSdk' ? 1 : opts.localAddresses.length);
        if (fit.reason !== undefined && r === 0)
          report.notes.push(`connect ${variant}: scaled down to ${fit.identities} identities: ${fit.reason}`);
        const label = `connect ${variant}${repeatLabel(r)}`;
        const { result, totals } = await phase(label, variant, 'connect', fit.identities);
        if (result.connect === undefined) {
          report.errors.push(`${label}: ${result.error ?? 'no result'}`);
          continue;
        }
        if (!result.gcExposed) report.notes.push(`${label}: GC was not exposed; RSS figures include garbage`);
        if (result.connect.failed + result.connect.unfinished > 0) {
          report.errors.push(
            `${label}: ${result.connect.failed} failed, ${result.connect.unfinished} unfinished: ${JSON.stringify(result.connect.errors)}`,
          );
        }
        const entry: ConnectEntry = {
          ...result.connect,
          requested: opts.identities,
          identities: result.connect.connected,
          emulator:
            totals === undefined
              ? {}
              : { connects: totals.connects, twinGets: totals.twinGets, rejections: nonZero(totals.rejections) },
          ...(result.ok ? {} : { error: result.error ?? 'failed' }),
        };
        runs.set(variant, [...(runs.get(variant) ?? []), entry]);
      }
    }
    for (const [variant, list] of runs) {
      const best =
        pick(
          list.filter((e) => e.error === undefined),
          (e) => e.perSec,
        ) ?? list[0];
      if (best === undefined) continue;
      report.connect[variant] = {
        ...best,
        ...(list.length > 1
          ? {
              runs: list.map((e) => ({
                perSec: e.perSec,
                perCpuSec: e.perCpuSec,
                rssPerIdentityKB: e.rssPerIdentityKB,
                otherCores: e.otherCores,
              })),
            }
          : {}),
      };
      if (best.otherCores > QUIET_CORES) {
        report.notes.push(
          `connect ${variant}: other processes used ${best.otherCores} cores meanwhile: the figures are disturbed`,
        );
      }
    }
  }

  if (opts.only.has('telemetry') && opts.clients.has('edgefleet')) {
    const n = Math.max(...opts.telemetryIdentities);
    say(`scheduler alone: ${n} tasks every 2000 ms, no I/O`);
    await waitForQuiet(opts.quietWaitSeconds * 1000);
    const so = await schedulerOnly(n, 2000, 2000, opts.quick ? 4000 : 8000);
    report.lateness = {
      p99Ms: null,
      p50Ms: null,
      p999Ms: null,
      maxMs: null,
      identities: n,
      intervalMs: 2000,
      count: 0,
      schedulerOnly: so,
    };
  }

  if (opts.only.has('telemetry')) {
    const telemetryClients = clientsInOrder.filter(
      (c): c is 'edgefleet' | 'mqttjs' => c === 'edgefleet' || c === 'mqttjs',
    );
    const sizes = opts.telemetryIdentities.map((wanted) => ({
      wanted,
      ...fitIdentities(wanted, limits, opts.localAddresses.length),
    }));
    const largestFit = Math.max(...sizes.map((z) => z.identities));
    const runs = new Map<string, TelemetryEntry[]>();
    // The durability figure: edgefleet at the largest size, once more against an emulator that records its state.
    const durabilityAt = telemetryClients.includes('edgefleet') ? sizes[sizes.length - 1]?.wanted : undefined;
    for (const { wanted, identities: n, reason } of sizes) {
      if (reason !== undefined) report.notes.push(`telemetry @${wanted}: scaled down to ${n} identities: ${reason}`);
      const intervalMs = Math.round((n / opts.rate) * 1000);
      for (let r = 0; r < opts.repeat; r++) {
        const variants = [...telemetryClients, ...(wanted === durabilityAt ? ['edgefleet-durable' as const] : [])];
        for (const run of variants) {
          const durable = run === 'edgefleet-durable';
          const variant = durable ? 'edgefleet' : run;
          const label = `telemetry ${run} @${n}${repeatLabel(r)}`;
          say(`${label}: each identity every ${intervalMs} ms (${opts.rate} msgs/s offered)`);
          const { result, received } = await phase(
            label,
            variant,
            'telemetry',
            n,
            {
              intervalMs,
              warmupMs: opts.warmupSeconds * 1000,
              durationMs: opts.windowSeconds * 1000,
            },
            durable,
          );
          const t = result.telemetry;
          if (t === undefined) {
            report.errors.push(`${label}: ${result.error ?? 'no telemetry figures'}`);
            continue;
          }
          const entry: TelemetryEntry = {
            ...t,
            identities: n,
            connected: result.connect?.connected ?? 0,
            p99Ms: t.puback.p99Ms,
            ...(received === undefined ? {} : { emulatorReceived: received }),
            ...(result.ok ? {} : { error: result.error ?? 'failed' }),
          };
          const key = `${run}@${wanted}`;
          runs.set(key, [...(runs.get(key) ?? []), entry]);
        }
      }
    }
    if (durabilityAt !== undefined) {
      const size = sizes.find((z) => z.wanted === durabilityAt);
      const d = durabilityEntry(runs, durabilityAt, size?.identities ?? durabilityAt, pick);
      report.durability = d;
      if (
        d.ephemeral !== null &&
        d.durable !== null &&
        Math.abs(d.durable.offeredPerSec - d.ephemeral.offeredPerSec) > 0.01 * d.ephemeral.offeredPerSec
      ) {
        report.notes.push(
          `durability: the two runs did not offer the same rate (${d.ephemeral.connected} and ` +
            `${d.durable.connected} identities connected when the window began): compare acked/s with offered/s`,
        );
      }
    }
    for (const variant of telemetryClients) {
      const byIdentities: Record<string, TelemetryEntry> = {};
      for (const { wanted, identities: n } of sizes) {
        const list = runs.get(`${variant}@${wanted}`) ?? [];
        const t =
          pick(
            list.filter((e) => e.error === undefined),
            (e) => e.msgsPerCoreSec,
          ) ?? list[0];
        if (t === undefined) continue;
        byIdentities[String(wanted)] = {
          ...t,
          ...(list.length > 1
            ? {
                runs: list.map((e) => ({
                  achievedPerSec: e.achievedPerSec,
                  msgsPerCoreSec: e.msgsPerCoreSec,
                  p99Ms: e.p99Ms,
                  otherCores: e.otherCores,
                })),
              }
            : {}),
        };
        if (t.otherCores > QUIET_CORES) {
          report.notes.push(
            `telemetry ${variant} @${n}: other processes used ${t.otherCores} cores over the window: the figures are disturbed`,
          );
        }
        if (t.achievedPerSec < 0.95 * t.offeredPerSec) {
          report.notes.push(
            `telemetry ${variant} @${n}: acknowledged ${t.achievedPerSec}/s of ${t.offeredPerSec}/s offered: the pair did not keep up (client ${t.clientCpuCores} cores, emulator ${t.emulatorCores} cores, others ${t.otherCores})`,
          );
        }
        if (variant === 'edgefleet' && t.lateness !== undefined && n === largestFit) {
          const mqttjsEld = pick(runs.get(`mqttjs@${wanted}`) ?? [], (e) => e.msgsPerCoreSec)?.eventLoopDelay.p99Ms;
          report.lateness = {
            ...report.lateness,
            p99Ms: t.lateness.p99Ms,
            p50Ms: t.lateness.p50Ms,
            p999Ms: t.lateness.p999Ms,
            maxMs: t.lateness.maxMs,
            identities: n,
            intervalMs: t.intervalMs,
            count: t.lateness.count,
            ...(mqttjsEld === undefined ? {} : { mqttjsEventLoopDelayP99Ms: mqttjsEld }),
          };
        }
      }
      const keys = Object.keys(byIdentities).map(Number);
      const headline = keys.length === 0 ? undefined : byIdentities[String(Math.max(...keys))];
      report.telemetry[variant] = {
        identities: headline?.identities ?? 0,
        msgsPerCoreSec: headline?.msgsPerCoreSec ?? null,
        p99Ms: headline?.p99Ms ?? null,
        byIdentities,
      };
    }
    if (report.lateness !== null && (report.lateness.identities !== 10_000 || report.lateness.intervalMs !== 2000)) {
      report.notes.push(
        `lateness was measured at ${report.lateness.identities} identities every ${report.lateness.intervalMs} ms; the target is stated for 10,000 every 2,000 ms`,
      );
    }
  }

  computeRatios(report);
  report.durationSeconds = Math.round((Date.now() - started) / 1000);
  await mkdir(opts.out, { recursive: true });
  const stamp = report.date.replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
  const text = JSON.stringify(report, null, 2) + '\n';
  const dated = join(opts.out, `${stamp}${opts.quick ? '-quick' : ''}.json`);
  await writeFile(dated, text);
  await writeFile(join(opts.out, 'latest.json'), text);
  say('');
  say(renderTable(report));
  say('');
  say(`wrote ${dated} and ${join(opts.out, 'latest.json')}`);
}

/** The ephemeral and the durable edgefleet runs at `wanted` identities, each its median run by acked/s. */
function durabilityEntry(
  runs: Map<string, TelemetryEntry[]>,
  wanted: number,
  identities: number,
  pick: (list: TelemetryEntry[], metric: (e: TelemetryEntry) => number) => TelemetryEntry | undefined,
): DurabilityEntry {
  const ok = (key: string) => (runs.get(key) ?? []).filter((e) => e.error === undefined);
  const ephemeral = pick(ok(`edgefleet@${wanted}`), (e) => e.achievedPerSec);
  const durable = pick(ok(`edgefleet-durable@${wanted}`), (e) => e.achievedPerSec);
  const all = [
    ...ok(`edgefleet@${wanted}`).map((e) => ({ e, durable: false })),
    ...ok(`edgefleet-durable@${wanted}`).map((e) => ({ e, durable: true })),
  ];
  return {
    client: 'edgefleet',
    identities,
    offeredPerSec: (durable ?? ephemeral)?.offeredPerSec ?? 0,
    ephemeral: ephemeral === undefined ? null : durabilityFigures(ephemeral),
    durable: durable === undefined ? null : durabilityFigures(durable),
    ...(all.length > 2
      ? {
          runs: all.map(({ e, durable: d }) => ({
            durable: d,
            achievedPerSec: e.achievedPerSec,
            otherCores: e.otherCores,
            emulatorMicrosPerMessage: durabilityFigures(e).emulatorMicrosPerMessage,
          })),
        }
      : {}),
  };
}

function nonZero(r: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== 0));
}

main().catch((err) => {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exit(1);
});
