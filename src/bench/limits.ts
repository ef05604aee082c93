// How many connections one process may hold here: file descriptors (ulimit -n) and ephemeral ports per source
// address. Node raises its soft open-file limit to the hard one when it starts, and its children (the emulator,
// the clients) inherit that, so the hard limit is what counts; a phase that needs more is scaled down, saying so.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Descriptors a process needs besides its sockets: stdio, the event loop, libuv's threads, module files… */
export const FD_RESERVE = 128;

export interface Limits {
  softFds: number;
  hardFds: number;
  /** Size of net.ipv4.ip_local_port_range: connections per source address to one listener. */
  ephemeralPorts: number;
}

/** The limits as this process's children get them (a shell started from here reports them). */
export function readLimits(): Limits {
  let softFds = 1024;
  let hardFds = 1024;
  try {
    const out = execFileSync('/bin/sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' }).trim().split('\n');
    const parse = (s: string | undefined) => (s === 'unlimited' ? 1_048_576 : Number(s));
    softFds = parse(out[0]);
    hardFds = parse(out[1]);
  } catch {
    // keep the conservative default
  }
  let ephemeralPorts = 28_232;
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo !== undefined && hi !== undefined && hi >= lo) ephemeralPorts = hi - lo + 1;
  } catch {
    // not Linux: keep the usual size
  }
  return { softFds, hardFds, ephemeralPorts };
}

/**
 * The identities one client process can connect in a phase: limited by its fds and by the emulator's (which holds
 * one socket per connection too), and by ephemeral ports per source address. Returns the count and why it is lower.
 */
export function fitIdentities(
  wanted: number,
  limits: Limits,
  sourceAddresses: number,
): { identities: number; reason?: string } {
  const byFds = Math.max(0, limits.softFds - FD_RESERVE);
  const byPorts = limits.ephemeralPorts * Math.max(1, sourceAddresses) - 1000;
  const identities = Math.min(wanted, byFds, byPorts);
  if (identities >= wanted) return { identities };
  const reason =
    identities === byFds
      ? `a process may hold ${limits.softFds} open files here (ulimit -n; hard limit ${limits.hardFds}), and ${wanted} connections need about ${wanted + FD_RESERVE} in the client process and as many in the emulator, which is one process: raise the hard limit, or shard clients and emulator over processes`
      : `${limits.ephemeralPorts} ephemeral ports per source address allow about ${byPorts} connections to one listener: add --local-address addresses`;
  return { identities, reason };
}

/** Whether each address can be bound here (e.g. 127.0.0.2 on Linux loopback); the ones that cannot. */
export async function unusableAddresses(addresses: string[]): Promise<string[]> {
  const bad: string[] = [];
  for (const address of addresses) {
    const ok = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(0, address, () => server.close(() => resolve(true)));
    });
    if (!ok) bad.push(address);
  }
  return bad;
}
