// A real Mosquitto broker on a free loopback port, for the generic `mqtt` target.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Mosquitto {
  port: number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** `acl`: the text of a Mosquitto ACL file (`topic`/`pattern` lines) the broker enforces. */
export async function startMosquitto(options: { acl?: string } = {}): Promise<Mosquitto> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  let text = `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n`;
  if (options.acl !== undefined) {
    // Started as root, Mosquitto reads the ACL file after switching to its own user.
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'acl'), options.acl, { mode: 0o644 });
    text += `acl_file ${join(dir, 'acl')}\n`;
  }
  writeFileSync(conf, text);
  const child: ChildProcess = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (e) =>
      reject(new Error(`cannot run mosquitto (is it installed? .ci/run installs it): ${e.message}`)),
    ),
  );
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (await Promise.race([reachable(port), spawnError])) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`mosquitto did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
