// The emulator as a target: started in a child process (so it does not share the run's event loop), or one
// already running, described by its info file.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EmulatorInfo } from '../emulator/index.js';
import type { EmulatorTargetSettings } from '../config/scenario.js';
import type { AzureTarget } from './target.js';

export async function targetFromInfo(info: EmulatorInfo): Promise<AzureTarget> {
  const [caPem, certPem, keyPem] = await Promise.all([
    readFile(info.caCertPath, 'utf8'),
    readFile(info.deviceCaCertPath, 'utf8'),
    readFile(info.deviceCaKeyPath, 'utf8'),
  ]);
  return {
    kind: 'emulator',
    dps: { host: info.dpsHost, port: info.dpsPort, idScope: info.idScope },
    groupKeys: {
      devices: info.enrollmentGroups.devices.primaryKey,
      edgeDevices: info.enrollmentGroups.edgeDevices.primaryKey,
    },
    x509Ca: { certPem, keyPem },
    caPem,
    hubHttpsPort: info.hubHttpsPort,
    service: { baseUrl: info.restUrl, apiToken: info.apiToken, apiVersion: '2022-07-31' },
  };
}

export async function readInfoFile(path: string): Promise<EmulatorInfo> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the emulator info file ${path}: ${(err as Error).message}`, { cause: err });
  }
  const info = JSON.parse(text) as EmulatorInfo;
  for (const key of ['mqttPort', 'idScope', 'restUrl', 'caCertPath'] as const) {
    if (info[key] === undefined) throw new Error(`${path} is not an emulator info file: "${key}" is missing`);
  }
  return info;
}

/** The `edgefleet emulator` flags for a scenario's `targets.emulator.limits`. */
export function emulatorLimitArgs(settings: EmulatorTargetSettings | undefined): string[] {
  const limits = settings?.limits;
  if (limits === undefined) return [];
  if (limits === 'iot-central') return ['--limits', 'iot-central'];
  const flag = (name: string, value: string | number | undefined) => (value === undefined ? [] : [name, String(value)]);
  const ms = (value: number | undefined) => (value === undefined ? undefined : `${value}ms`);
  return [
    ...flag('--hub-tier', limits.hubTier),
    ...flag('--hub-units', limits.hubUnits),
    ...flag('--dps-rate', limits.dpsRate),
    ...flag('--shaping-burst', ms(limits.shapingBurst)),
    ...flag('--shaping-queue', ms(limits.shapingQueue)),
    ...flag('--daily-quota', limits.dailyQuota),
  ];
}

export interface RunningEmulator {
  /** What it listens on; the same after a restart. */
  readonly info: EmulatorInfo;
  /** Its process id; null while it is down. */
  readonly pid: number | null;
  /** SIGKILL, as a crash or the OOM killer would; resolves once it has exited, with the pid it had. */
  kill(): Promise<number | null>;
  /** Starts it again on the same ports and state directory; resolves with the new pid once it listens. */
  start(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts `edgefleet emulator` on free ports in a child process and waits for its info file. It records its state in
 * `stateDir` (one emulator at a time there) unless `ephemeral`; a restart (targetRestart) keeps its ports.
 */
export async function spawnEmulator(
  stateDir: string,
  log: (line: string) => void,
  opts: EmulatorProcessOptions = {},
): Promise<RunningEmulator> {
  const cli = emulatorProgram();
  const dir = await mkdtemp(join(tmpdir(), 'edgefleet-emulator-'));
  const emulator = new EmulatorProcess(cli, stateDir, dir, log, opts);
  try {
    await emulator.startOnFreePorts();
  } catch (err) {
    await emulator.forget();
    throw err;
  }
  return emulator;
}

interface EmulatorProcessOptions {
  ephemeral?: boolean;
  timeoutMs?: number;
  /** More `edgefleet emulator` flags (its limits: emulatorLimitArgs). */
  args?: readonly string[];
}

/** The emulator's child process: killed, restarted on the same ports, stopped; its info file lives in `dir`. */
class EmulatorProcess implements RunningEmulator {
  private child: ChildProcess | undefined;
  private exited: Promise<unknown> = Promise.resolve();
  private current: EmulatorInfo | undefined;
  private samePorts: string[] = [];
  private readonly infoFile: string;
  private readonly timeoutMs: number;
  /** If the run exits anyway, the emulator goes with it. */
  private readonly killOnExit = () => void this.child?.kill('SIGKILL');

  constructor(
    private readonly cli: string,
    private readonly stateDir: string,
    private readonly dir: string,
    private readonly log: (line: string) => void,
    private readonly opts: EmulatorProcessOptions,
  ) {
    this.infoFile = join(dir, 'info.json');
    this.timeoutMs = opts.timeoutMs ?? 20_000;
    process.on('exit', this.killOnExit);
  }

  get info(): EmulatorInfo {
    if (this.current === undefined) throw new Error('the emulator has not started');
    return this.current;
  }

  get pid(): number | null {
    const child = this.child;
    return child?.exitCode === null && child.signalCode === null ? (child.pid ?? null) : null;
  }

  /** The first start: free ports, remembered for every restart. */
  async startOnFreePorts(): Promise<void> {
    const info = await this.launch(['--mqtt-port', '0', '--http-port', '0']);
    this.samePorts = [
      '--mqtt-port',
      String(info.mqttPort),
      '--http-port',
      new URL(info.restUrl).port,
      '--hub-https-port',
      String(info.hubHttpsPort),
    ];
  }

  async kill(): Promise<number | null> {
    const running = this.child;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return null;
    running.kill('SIGKILL');
    await this.exited;
    this.child = undefined;
    return running.pid ?? null;
  }

  async start(): Promise<number> {
    const child = this.child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) return child.pid ?? 0;
    await this.launch(this.samePorts);
    return this.child?.pid ?? 0;
  }

  async stop(): Promise<void> {
    process.off('exit', this.killOnExit);
    const running = this.child;
    if (running !== undefined && running.exitCode === null && running.signalCode === null) {
      running.kill('SIGTERM');
      const timer = setTimeout(() => running.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }

  /** After a first start that failed: nothing to stop, only the exit hook and the folder to drop. */
  async forget(): Promise<void> {
    process.off('exit', this.killOnExit);
    await rm(this.dir, { recursive: true, force: true });
  }

  private async launch(ports: readonly string[]): Promise<EmulatorInfo> {
    await rm(this.infoFile, { force: true });
    const ephemeral = this.opts.ephemeral === true ? ['--ephemeral'] : [];
    const args = [
      ...ports,
      '--state-dir',
      this.stateDir,
      '--info-file',
      this.infoFile,
      ...ephemeral,
      ...(this.opts.args ?? []),
    ];
    const started = startChild(this.cli, args, this.log);
    this.child = started.child;
    this.exited = started.exited;
    try {
      this.current = await waitForInfo(started, this.infoFile, this.timeoutMs);
      return this.current;
    } catch (err) {
      this.child = undefined;
      throw err;
    }
  }
}

/** The CLI next to this file in dist/, or in dist/ when running from the sources (tests). */
function emulatorProgram(): string {
  const here = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  if (existsSync(here)) return here;
  const dist = here.replace(/([/\\])src([/\\])cli([/\\])main\.js$/, '$1dist$2cli$3main.js');
  if (existsSync(dist)) return dist;
  throw new Error(`the emulator program ${here} is missing: run "npm run build" first`);
}

interface StartedChild {
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
}

function startChild(cli: string, args: readonly string[], log: (line: string) => void): StartedChild {
  const child: ChildProcess = spawn(process.execPath, [cli, 'emulator', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  // Its own process group: a Ctrl-C at the terminal reaches only the run, which drains before it stops the emulator.
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const line of d.toString().split('\n')) if (line.trim()) log(line);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

async function waitForInfo(started: StartedChild, infoFile: string, timeoutMs: number): Promise<EmulatorInfo> {
  const { child } = started;
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(infoFile)) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const how = child.exitCode ?? child.signalCode;
      throw new Error(`the emulator exited (${how}) before listening: ${started.stderr().trim()}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the emulator did not start within ${timeoutMs / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return readInfoFile(infoFile);
}
