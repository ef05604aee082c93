// The emulator for the benchmark: `edgefleet emulator` in a child process of its own (so it has its own core
// and its own RSS), its CPU time and RSS read from /proc, and the bench devices registered over its REST API.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request, Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EmulatorInfo } from '../emulator/index.js';
import { readInfoFile } from '../endpoints/emulator-target.js';
import { readProcStat } from './measure.js';
import { pinned } from './pinning.js';

export interface BenchEmulator {
  info: EmulatorInfo;
  caPem: string;
  pid: number;
  /** CPU seconds (user + system) the emulator process used so far. */
  cpuSeconds(): number;
  rssBytes(): number;
  /** The emulator's /stats totals (messages received and so on), without the per-identity table. */
  totals(): Promise<EmulatorTotals>;
  stop(): Promise<void>;
}

export interface EmulatorTotals {
  messagesReceived: number;
  connects: number;
  disconnects: number;
  twinGets: number;
  rejections: Record<string, number>;
}

/** The emulator's child process: its stderr echoed to `log` (the last 4 kB kept for errors), `stop` ends it. */
interface EmulatorProcess {
  child: ChildProcess;
  lastStderr: () => string;
  /** SIGTERM (SIGKILL after 5 s), then removes `dir`. */
  stop: () => Promise<void>;
}

function spawnEmulator(command: string, args: string[], dir: string, log: (line: string) => void): EmulatorProcess {
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    const text = d.toString();
    stderr = (stderr + text).slice(-4000);
    for (const line of text.split('\n')) if (line.trim()) log(`[emulator] ${line}`);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    process.off('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  return { child, lastStderr: () => stderr, stop };
}

/** Waits for the emulator to write its info file (it does once it listens); refuses an early exit or a timeout. */
async function waitForInfoFile(emulator: EmulatorProcess, infoFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(infoFile)) {
    const code = emulator.child.exitCode;
    if (code !== null)
      throw new Error(`the emulator exited (${code}) before listening: ${emulator.lastStderr().trim()}`);
    if (Date.now() > deadline) throw new Error(`the emulator did not start within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * `cpuList`: the cores it may run on (`taskset -c`); the pid stays the emulator's, as taskset execs it. With
 * `durable`, it records its state in `stateDir` (which must be the phase's own); otherwise it is --ephemeral.
 */
export async function startBenchEmulator(
  stateDir: string,
  log: (line: string) => void,
  cpuList?: string,
  durable = false,
  timeoutMs = 30_000,
): Promise<BenchEmulator> {
  const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  if (!existsSync(cli)) throw new Error(`the emulator program ${cli} is missing: run "npm run build" first`);
  const dir = await mkdtemp(join(tmpdir(), 'edgefleet-bench-emulator-'));
  const infoFile = join(dir, 'info.json');
  const ports = ['--mqtt-port', '0', '--http-port', '0'];
  const [command, args] = pinned(cpuList, process.execPath, [
    cli,
    'emulator',
    ...ports,
    ...['--state-dir', stateDir, '--info-file', infoFile],
    ...(durable ? [] : ['--ephemeral']),
  ]);
  const emulator = spawnEmulator(command, args, dir, log);
  try {
    await waitForInfoFile(emulator, infoFile, timeoutMs);
    const info = await readInfoFile(infoFile);
    const caPem = await readFile(info.caCertPath, 'utf8');
    const pid = emulator.child.pid as number;
    return {
      info,
      caPem,
      pid,
      cpuSeconds: () => readProcStat(pid)?.cpuSeconds ?? NaN,
      rssBytes: () => readProcStat(pid)?.rssBytes ?? NaN,
      totals: () => emulatorTotals(info),
      stop: emulator.stop,
    };
  } catch (err) {
    await emulator.stop();
    throw err;
  }
}

function call(
  info: EmulatorInfo,
  agent: Agent,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; text: string }> {
  const url = new URL(path, info.restUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent,
        headers: {
          authorization: info.apiToken,
          ...(body === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${url.pathname}: no answer in 30 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Creates `ids` as plain devices (`PUT /api/devices/{id}`), `concurrency` requests at a time over keep-alive
 * connections. Their SAS keys derive from the `devices` enrollment group, as the emulator's REST API does it.
 */
export async function registerDevices(info: EmulatorInfo, ids: readonly string[], concurrency = 32): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++] as string;
      const r = await call(
        info,
        agent,
        'PUT',
        `/api/devices/${encodeURIComponent(id)}?api-version=2022-07-31`,
        '{"simulated":true}',
      );
      if (r.status !== 200 && r.status !== 201)
        throw new Error(`registering ${id}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, worker));
  } finally {
    agent.destroy();
  }
}

async function emulatorTotals(info: EmulatorInfo): Promise<EmulatorTotals> {
  const agent = new Agent({ keepAlive: false });
  try {
    const r = await call(info, agent, 'GET', '/stats?api-version=2022-07-31');
    if (r.status !== 200) throw new Error(`GET /stats: HTTP ${r.status}`);
    const s = JSON.parse(r.text) as { totals: EmulatorTotals; rejections: Record<string, number> };
    return { ...s.totals, rejections: s.rejections };
  } finally {
    agent.destroy();
  }
}
