// `edgefleet emulator` as a user runs it: the built CLI in a child process.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const CLI = join(process.cwd(), 'dist/cli/main.js');
let child: ChildProcess | undefined;
let dir: string | undefined;

afterEach(() => {
  child?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function run(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const c = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  c.stdout.on('data', (d) => (out += d));
  c.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => c.on('exit', (code) => resolve(code)));
  return { child: c, output: () => out, exited };
}

describe('edgefleet emulator', () => {
  it('writes its info file once listening, serves REST, and exits cleanly on SIGTERM', async () => {
    expect(existsSync(CLI), 'build first: npm test runs tsc before vitest').toBe(true);
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-cli-'));
    const infoFile = join(dir, 'info.json');
    const r = run([
      'emulator',
      '--state-dir',
      join(dir, 'state'),
      '--mqtt-port',
      '0',
      '--http-port',
      '0',
      '--info-file',
      infoFile,
    ]);
    child = r.child;
    for (let i = 0; i < 150 && !existsSync(infoFile); i++) await sleep(100);
    expect(existsSync(infoFile), r.output()).toBe(true);
    const info = JSON.parse(readFileSync(infoFile, 'utf8'));
    for (const key of [
      'hubHostName',
      'mqttPort',
      'dpsHost',
      'dpsPort',
      'hubHttpsPort',
      'idScope',
      'caCertPath',
      'deviceCaCertPath',
      'deviceCaKeyPath',
      'restUrl',
      'apiToken',
    ]) {
      expect(info, key).toHaveProperty(key);
    }
    expect(info.mqttPort).toBeGreaterThan(0);
    expect(info.enrollmentGroups.devices.primaryKey).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(info.enrollmentGroups.edgeDevices.secondaryKey).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const res = await fetch(`${info.restUrl}/api/devices?api-version=2022-07-31`, {
      headers: { authorization: info.apiToken },
    });
    expect(res.status).toBe(200);
    // The console banner says where things are, never the keys themselves.
    expect(r.output()).toContain('listening');
    expect(r.output()).not.toContain(info.enrollmentGroups.devices.primaryKey);
    expect(r.output()).not.toContain(info.apiToken);
    r.child.kill('SIGTERM');
    expect(await r.exited).toBe(0);
  });

  it('explains itself with --help and examples', async () => {
    const r = run(['emulator', '--help']);
    expect(await r.exited).toBe(0);
    expect(r.output()).toContain('--info-file');
    expect(r.output()).toContain('Examples:');
  });

  it('says what is wrong with a bad option', async () => {
    const r = run(['emulator', '--mqtt-prot', '1']);
    expect(await r.exited).not.toBe(0);
    expect(r.output()).toMatch(/Unknown argument|mqtt-prot/);
  });
});
