// A network partition between devices and the emulator, as a test needs one: a TCP relay on a free loopback port
// that can stop carrying the emulator's answers (PUBACKs never come back, so messages stay on the wire), slow them
// down, and cut every connection at once without a DISCONNECT, as a failing network does. The bytes are TLS end to
// end: the relay only carries them.
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface Partition {
  /** Where devices dial instead of the emulator: `127.0.0.1:<port>`. */
  readonly address: string;
  /** From now on nothing the emulator sends reaches the devices (what devices send still reaches it). */
  mute(): void;
  /** What the emulator sends reaches the devices `ms` later (in order); 0: at once. */
  delay(ms: number): void;
  /** Every relayed connection goes at once; new ones are carried again, both ways. */
  cut(): void;
  /** Connections relayed so far. */
  readonly connections: number;
  close(): Promise<void>;
}

export async function startPartition(target: { host: string; port: number }): Promise<Partition> {
  const pairs = new Set<[Socket, Socket]>();
  let muted = false;
  let delayMs = 0;
  let connections = 0;
  const server: Server = createServer((device) => {
    connections += 1;
    const emulator = connect(target.port, target.host);
    const pair: [Socket, Socket] = [device, emulator];
    pairs.add(pair);
    device.on('data', (chunk) => emulator.write(chunk));
    emulator.on('data', (chunk) => {
      if (muted) return;
      if (delayMs === 0) device.write(chunk);
      else setTimeout(() => device.destroyed || device.write(chunk), delayMs);
    });
    const end = () => {
      pairs.delete(pair);
      device.destroy();
      emulator.destroy();
    };
    for (const s of pair) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  const cut = () => {
    for (const [device, emulator] of [...pairs]) {
      device.destroy();
      emulator.destroy();
    }
    pairs.clear();
    muted = false;
  };
  return {
    address: `127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    mute() {
      muted = true;
    },
    delay(ms) {
      delayMs = ms;
    },
    cut,
    close() {
      cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
