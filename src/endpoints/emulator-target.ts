// The emulator as a target: started in a child process (so it does not share the run's event loop), or one
// already running, described by its info file.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EmulatorInfo } from '../emulator/index.js';
import type { AzureTarget } from './target.js';

export async function targetFromInfo(info: EmulatorInfo): Promise<AzureTarget> {
  const [caPem, certPem, keyPem] = await Promise.all([
    readFile(info.caCertPath, 'utf8'), readFile(info.deviceCaCertPath, 'utf8'), readFile(info.deviceCaKeyPath, 'utf8'),
  ]);
  return {
    kind: 'emulator',
    dps: { host: info.dpsHost, port: info.dpsPort, idScope: info.idScope },
    groupKeys: { devices: info.enrollmentGroups.devices.primaryKey, edgeDevices: info.enrollmentGroups.edgeDevices.primaryKey },
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
    throw new Error(`cannot read the emulator info file ${path}: ${(err as Error).message}`);
  }
  const info = JSON.parse(text) as EmulatorInfo;
  for (const key of ['mqttPort', 'idScope', 'restUrl', 'caCertPath'] as const) {
    if (info[key] === undefined) throw new Error(`${path} is not an emulator info file: "${key}" is missing`);
  }
  return info;
}

export interface RunningEmulator {
  info: EmulatorInfo;
  stop(): Promise<void>;
}

/**
 * Starts `edgefleet emulator` on free ports in a child process and waits for its info file. It records its state in
 * `stateDir` (one emulator at a time there) unless `ephemeral`.
 */
export async function spawnEmulator(
  stateDir: string, log: (line: string) => void, opts: { ephemeral?: boolean; timeoutMs?: number } = {},
): Promise<RunningEmulator> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  if (!existsSync(cli)) throw new Error(`the emulator program ${cli} is missing: run "npm run build" first`);
  const dir = await mkdtemp(join(tmpdir(), 'edgefleet-emulator-'));
  const infoFile = join(dir, 'info.json');
  const child: ChildProcess = spawn(process.execPath, [
    cli, 'emulator', '--mqtt-port', '0', '--http-port', '0', '--state-dir', stateDir, '--info-file', infoFile,
    ...(opts.ephemeral === true ? ['--ephemeral'] : []),
  ], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  // Its own process group: a Ctrl-C at the terminal reaches only the run, which drains before it stops the
  // emulator. If the run exits anyway, the emulator goes with it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const line of d.toString().split('\n')) if (line.trim()) log(line);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(infoFile)) {
    if (child.exitCode !== null) throw new Error(`the emulator exited (${child.exitCode}) before listening: ${stderr.trim()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the emulator did not start within ${timeoutMs / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const info = await readInfoFile(infoFile);
  return {
    info,
    async stop() {
      process.off('exit', killOnExit);
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
