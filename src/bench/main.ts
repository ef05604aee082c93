// `npm run bench`: how fast edgefleet connects and sends, and how much memory it takes per identity, measured in
// the same run as its baselines (plain mqtt.js, the official Azure IoT SDK) against the same emulator program on
// the same machine. Each client runs in a process of its own; each phase gets a fresh emulator process.
//
//   node dist/bench/main.js [--quick] [--identities 10000] [--out reports/bench] [--local-address 127.0.0.2,127.0.0.3]
//                           [--concurrency 100] [--only connect,telemetry] [--clients edgefleet,mqttjs,azureSdk]
//                           [--telemetry-identities 1000,10000] [--rate 5000] [--window 15] [--repeat 3] [--help]
//
// A benchmark, not a test: it never fails on a figure. Targets are printed as pass/miss beside the measurements.
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { readLimits, unusableAddresses, type Limits } from './limits.js';
import { parseArgs, type Options } from './options.js';
import { PhaseRunner, say } from './phase.js';
import { connectPhases, limiterPhase, schedulerAlone, telemetryPhases } from './phases.js';
import { corePinning, type CorePinning } from './pinning.js';
import { computeRatios, renderTable, type BenchReport } from './report.js';

/** How each figure is measured, as the report states it. */
function methodOf(opts: Options): BenchReport['method'] {
  return {
    connect: `closed loop, at most ${opts.concurrency} identities between start and done; done = TLS (CA-verified) + CONNECT with a SAS token + 4 subscriptions at QoS 1 ($iothub/twin/res/#, desired, methods, C2D) + a twin GET answered; rate = connected / wall time; RSS per identity = (RSS after all connected − RSS before) / connected, each after forced GC; one fresh client process and one fresh emulator process per client`,
    telemetry: `QoS 1, offered ${opts.rate} msgs/s in total, each identity paced on its own timer (edgefleet: its scheduler) with a random phase; ${opts.warmupSeconds} s warm-up then a ${opts.windowSeconds} s window; msgs/core-s = PUBACKs in the window / client CPU seconds (process.cpuUsage) in it; p99 = publish → PUBACK (raw), "corr" = intended send time → PUBACK`,
    lateness:
      'edgefleet Scheduler lateness (task run time − intended time) over the telemetry window of the largest edgefleet run',
    rss: 'clients run with --expose-gc; RSS and heap sampled after full collections',
    target:
      'emulator (`edgefleet emulator --ephemeral`, aedes over TLS) in its own process on the same machine; clients dial 127.0.0.1 (no name lookup), certificates verified against the emulator CA by IP SAN',
    durability:
      'edgefleet at the largest telemetry identity count and the same offered rate, once more against the emulator recording its state (SQLite in WAL mode, synchronous=NORMAL, group commits of 4 ms; a PUBACK waits for the commit of its message), in a fresh state directory; compared with the --ephemeral run of the same phase; emulator µs/msg = emulator CPU over the window / PUBACKs in it',
  };
}

function newReport(opts: Options, limits: Limits, started: number): BenchReport {
  return {
    version: 1,
    date: new Date(started).toISOString(),
    quick: opts.quick,
    durationSeconds: 0,
    machine: {
      cores: cpus().length,
      node: process.version,
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
      platform: `${process.platform}-${process.arch}`,
      totalMemoryGB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      openFilesLimit: limits.softFds,
      ephemeralPorts: limits.ephemeralPorts,
    },
    method: methodOf(opts),
    connect: {},
    telemetry: {},
    lateness: null,
    ratios: {},
    targets: [],
    notes: [],
    errors: [],
  };
}

/** What the report says of the run's set-up: repetition, source addresses, cores and pinning. */
function describeSetUp(report: BenchReport, opts: Options, pinning: CorePinning | undefined): void {
  if (opts.repeat > 1) {
    report.method.repeat = `every phase ran ${opts.repeat} times, clients interleaved; each figure is that client's median run (by connects/s, or msgs/core-s) among those other processes left alone (else its least disturbed run); every run is under "runs"`;
  }
  if (opts.localAddresses.length > 0) {
    report.method.localAddresses = `client connections spread over ${opts.localAddresses.join(', ')} (edgefleet and mqtt.js; the Azure IoT SDK has no option for a source address and uses the default)`;
  }
  if (opts.repeat === 1) {
    report.notes.push(
      'one run per client and phase: on this 2-core machine, identical runs spread by about ±10% even when nothing else runs (connects/s and msgs/core-s); ratios within ±0.1 of a target are not a verdict: use --repeat 3',
    );
  }
  const cores = cpus().length;
  report.notes.push(
    `${cores} cores shared by the client under test and the emulator${pinning === undefined ? '' : ' in connect phases (telemetry phases pin each to its own)'} (and this parent, idle while a phase runs): past about ${cores} busy cores in total, figures measure the box, not the client`,
  );
  report.method.pinning =
    pinning === undefined
      ? `telemetry phases not pinned (${opts.pin ? 'one core, or no taskset' : '--no-pin'}): client and emulator share the cores and preempt each other`
      : `telemetry phases: client on core(s) ${pinning.client}, emulator on core ${pinning.emulator} (taskset), as if on two machines; connect phases share every core`;
}

/** The report as JSON (dated, and as latest.json) in the output folder, and as a table on stdout. */
async function writeReport(report: BenchReport, opts: Options): Promise<void> {
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

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const limits = readLimits();
  const started = Date.now();
  const report = newReport(opts, limits, started);
  // Without --verbose, only the clients' progress lines reach the console.
  const log = opts.verbose
    ? (line: string) => say(`    ${line}`)
    : (line: string) => {
        if (/^\s+\w+: \d+\/\d+ after/.test(line)) say(`    ${line.trim()}`);
      };
  const bad = await unusableAddresses(opts.localAddresses);
  if (bad.length > 0) throw new Error(`--local-address: cannot bind ${bad.join(', ')} here`);
  const pinning = opts.pin && opts.only.has('telemetry') ? corePinning(cpus().length) : undefined;
  describeSetUp(report, opts, pinning);
  const runner = new PhaseRunner(opts, pinning, log);
  runner.stopOnSignals();
  const bench = { opts, limits, report, runner };
  if (opts.only.has('connect')) await connectPhases(bench);
  if (opts.only.has('telemetry') && opts.clients.has('edgefleet')) await schedulerAlone(bench);
  if (opts.only.has('telemetry')) await telemetryPhases(bench);
  if (opts.only.has('limits')) await limiterPhase(bench);
  computeRatios(report);
  report.durationSeconds = Math.round((Date.now() - started) / 1000);
  await writeReport(report, opts);
}

main().catch((err) => {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exit(1);
});
