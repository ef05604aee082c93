// `edgefleet emulator` in a process of its own, started from the built CLI with an info file: for tests that read
// its memory and descriptors, kill it, or give it flags (limits) the in-process emulator takes as options too.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EmulatorInfo } from '../../src/emulator/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist/cli/main.js');
/** The state directory test/global-setup.ts prepares; NODE_EXTRA_CA_CERTS trusts its CA. */
const STATE_DIR = join(ROOT, '.edgefleet-test');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ChildEmulator {
  info: EmulatorInfo;
  pid: number;
  /** What it wrote to stderr (with --verbose: every refusal). */
  stderr(): string;
  /** Whether the process is still running. */
  alive(): boolean;
  /** Sends `signal` and waits for the process to end: its exit code, or the signal that ended it. */
  kill(signal: NodeJS.Signals): Promise<number | NodeJS.Signals>;
  stop(): Promise<void>;
}

/** The newest modification time of the files under `dir`. */
function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

/** The built CLI, refusing a dist/ older than the sources (a stale build would test old code). */
function builtCli(): string {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" (npm test does) first`);
  const built = statSync(join(ROOT, 'dist/emulator/mqtt-front.js')).mtimeMs;
  const sources = Math.max(...['src/emulator', 'src/protocol', 'src/cli'].map((dir) => newest(join(ROOT, dir))));
  if (sources > built) throw new Error('dist/ is older than src/: run "npm run build" before this suite');
  return CLI;
}

/**
 * `edgefleet emulator` on free ports, as a user runs it, with `args` added: ephemeral on the shared test state
 * directory unless `args` name a --state-dir (then it keeps its state there, and it must be that test's own).
 */
export async function startChildEmulator(args: string[] = []): Promise<ChildEmulator> {
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-abuse-'));
  const infoFile = join(dir, 'info.json');
  const state = args.includes('--state-dir') ? [] : ['--state-dir', STATE_DIR, '--ephemeral'];
  const ports = ['--mqtt-port', '--http-port'].flatMap((flag) => (args.includes(flag) ? [] : [flag, '0']));
  const child: ChildProcess = spawn(
    process.execPath,
    [builtCli(), 'emulator', ...state, ...ports, '--info-file', infoFile, '--verbose', ...args],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-200_000);
  });
  const exited = new Promise<number | NodeJS.Signals>((r) => {
    child.once('exit', (code, signal) => r(code ?? (signal as NodeJS.Signals)));
  });
  for (let i = 0; i < 200 && !existsSync(infoFile); i++) {
    if (child.exitCode !== null) break;
    await sleep(50);
  }
  if (!existsSync(infoFile)) {
    child.kill('SIGKILL');
    throw new Error(`the emulator did not start: ${stderr}`);
  }
  const info = JSON.parse(readFileSync(infoFile, 'utf8')) as EmulatorInfo;
  return {
    info,
    pid: child.pid as number,
    stderr: () => stderr,
    alive: () => child.exitCode === null && child.signalCode === null,
    async kill(signal) {
      child.kill(signal);
      const outcome = await exited;
      rmSync(dir, { recursive: true, force: true });
      return outcome;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(5000)]);
        child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
