// One bench phase: a fresh emulator process with the phase's devices registered, one client process running the
// job against it, then both gone (also on SIGINT/SIGTERM). Also the rules for a quiet machine and for picking
// the run that counts among repeated ones.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startBenchEmulator, registerDevices, type BenchEmulator, type EmulatorTotals } from './emulator.js';
import { deviceIdOf, type ClientJob, type ClientResult, type Variant } from './job.js';
import { cpuSeconds, machineBusySeconds, sleep } from './measure.js';
import type { Options } from './options.js';
import type { CorePinning } from './pinning.js';
import { runClient } from './run-client.js';

export const say = (line: string) => process.stdout.write(`${line}\n`);

/** Other processes' CPU (cores) below which the machine counts as quiet. */
export const QUIET_CORES = 0.25;

/** Waits until other processes use less than QUIET_CORES for a second, at most `maxMs`. */
export async function waitForQuiet(maxMs: number): Promise<{ otherCores: number; waitedMs: number }> {
  const start = Date.now();
  let otherCores: number;
  do {
    const b0 = machineBusySeconds();
    const c0 = cpuSeconds();
    await sleep(1000);
    otherCores = Math.max(0, machineBusySeconds() - b0 - (cpuSeconds() - c0));
    if (!(otherCores >= QUIET_CORES)) break;
  } while (Date.now() - start < maxMs);
  return { otherCores, waitedMs: Date.now() - start };
}

/**
 * Of repeated runs: the median by `metric` (upper median for an even count) among those the rest of the machine
 * left alone (every client gets the same rule), or, when none was left alone, the least disturbed.
 */
export function pick<T extends { otherCores: number }>(runs: T[], metric: (r: T) => number): T | undefined {
  const quiet = runs.filter((r) => r.otherCores <= QUIET_CORES).sort((a, b) => metric(a) - metric(b));
  if (quiet.length > 0) return quiet[Math.floor(quiet.length / 2)];
  return runs.reduce<T | undefined>(
    (best, r) => (best === undefined || r.otherCores < best.otherCores ? r : best),
    undefined,
  );
}

export interface PhaseRequest {
  label: string;
  variant: Variant;
  kind: ClientJob['kind'];
  /** Identities to register and connect. */
  n: number;
  telemetry?: ClientJob['telemetry'];
  /** Against an emulator recording its state (in a state directory made anew for the run) instead of --ephemeral. */
  durable?: boolean;
}

export interface PhaseResult {
  result: ClientResult;
  received?: number;
  totals?: EmulatorTotals;
}

export class PhaseRunner {
  private emulator: BenchEmulator | undefined;
  /** The durability run's emulator records its state here, made anew for each run and removed after it. */
  private readonly durableStateDir: string;
  private interrupted = false;

  constructor(
    private readonly opts: Options,
    private readonly pinning: CorePinning | undefined,
    private readonly log: (line: string) => void,
  ) {
    this.durableStateDir = join(opts.stateDir, 'durable-run');
  }

  /** SIGINT/SIGTERM stop the running emulator and exit 130; a second signal exits at once. */
  stopOnSignals(): void {
    const onSignal = (signal: NodeJS.Signals) => {
      if (this.interrupted) process.exit(130);
      this.interrupted = true;
      say(`${signal}: stopping`);
      void this.stopEmulator().then(() => process.exit(130));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }

  /** Fresh emulator with `n` devices registered; runs the job in a client process; always cleans up. */
  async run(req: PhaseRequest): Promise<PhaseResult> {
    const quiet = await waitForQuiet(this.opts.quietWaitSeconds * 1000);
    if (quiet.waitedMs >= 2000)
      say(
        `  (waited ${Math.round(quiet.waitedMs / 1000)} s for other processes to go quiet; they use ${quiet.otherCores.toFixed(2)} cores)`,
      );
    const t0 = Date.now();
    try {
      const { result, totals, registerMs } = await this.runOnFreshEmulator(req);
      const outcome = result.ok ? 'done' : `FAILED: ${result.error?.split('\n')[0]}`;
      say(
        `  ${req.label}: ${outcome} in ${((Date.now() - t0) / 1000).toFixed(0)} s (registering ${req.n} devices took ${(registerMs / 1000).toFixed(1)} s)`,
      );
      return { result, ...(totals === undefined ? {} : { totals, received: totals.messagesReceived }) };
    } catch (err) {
      const message = (err as Error).message;
      say(`  ${req.label}: FAILED: ${message}`);
      return { result: { ok: false, variant: req.variant, kind: req.kind, gcExposed: false, error: message } };
    } finally {
      await this.stopEmulator();
      if (req.durable === true) await rm(this.durableStateDir, { recursive: true, force: true });
    }
  }

  async stopEmulator(): Promise<void> {
    const e = this.emulator;
    this.emulator = undefined;
    await e?.stop().catch(() => {});
  }

  private async runOnFreshEmulator(req: PhaseRequest) {
    const cpuList = req.kind === 'telemetry' ? this.pinning : undefined;
    const durable = req.durable === true;
    if (durable) await rm(this.durableStateDir, { recursive: true, force: true });
    const emulator = (this.emulator = await startBenchEmulator(
      durable ? this.durableStateDir : this.opts.stateDir,
      this.opts.verbose ? (l) => say(`    ${l}`) : () => {},
      cpuList?.emulator,
      durable,
    ));
    const idPrefix = `bench-${req.kind[0]}-${req.variant}-`;
    const ids = [...Array.from({ length: req.n }, (_, i) => deviceIdOf(idPrefix, i)), `${idPrefix}warmup`];
    const r0 = Date.now();
    await registerDevices(emulator.info, ids, 32);
    const registerMs = Date.now() - r0;
    const job = this.jobFor(req, idPrefix, emulator);
    const { telemetry } = req;
    const timeoutMs =
      job.connectDeadlineMs + 60_000 + (telemetry === undefined ? 0 : telemetry.warmupMs + telemetry.durationMs);
    const result = await runClient(job, timeoutMs, this.log, cpuList?.client);
    const totals = await emulator.totals().catch(() => undefined);
    return { result, totals, registerMs };
  }

  private jobFor(req: PhaseRequest, idPrefix: string, emulator: BenchEmulator): ClientJob {
    const { variant, kind, n, telemetry } = req;
    return {
      variant,
      kind,
      idPrefix,
      identities: n,
      concurrency: this.opts.concurrency,
      localAddresses: variant === 'azureSdk' ? [] : this.opts.localAddresses,
      target: {
        host: '127.0.0.1',
        port: emulator.info.mqttPort,
        hubHost: `${emulator.info.hubHostName}:${emulator.info.mqttPort}`,
        caPem: emulator.caPem,
        groupKey: emulator.info.enrollmentGroups.devices.primaryKey,
      },
      emulatorPid: emulator.pid,
      connectDeadlineMs: Math.max(60_000, Math.ceil(n / 40) * 1000),
      ...(telemetry === undefined ? {} : { telemetry }),
    };
  }
}
