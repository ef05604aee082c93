// The sockets this worker's identities hold open, by device id (a module's under its device's): a network event
// destroys them as a failing network would, and profile events count what they took away.
import type { ConnectionRegistry, OpenSocket } from '../sim/context.js';

interface Held {
  socket: OpenSocket;
  kind: 'hub' | 'dps';
}

export class FleetConnections implements ConnectionRegistry {
  private readonly byIdentity = new Map<string, Set<Held>>();
  private hubOpen = 0;
  private allOpen = 0;

  /** `changed` hears the count of connections to the hub after each open and close. */
  constructor(private readonly changed: (hubConnections: number) => void = () => {}) {}

  opened(deviceId: string, socket: OpenSocket, kind: 'hub' | 'dps'): void {
    let held = this.byIdentity.get(deviceId);
    if (held === undefined) this.byIdentity.set(deviceId, (held = new Set()));
    const entry: Held = { socket, kind };
    const set = held;
    set.add(entry);
    this.allOpen += 1;
    if (kind === 'hub') this.hubOpen += 1;
    socket.once('close', () => {
      if (!set.delete(entry)) return;
      if (set.size === 0 && this.byIdentity.get(deviceId) === set) this.byIdentity.delete(deviceId);
      this.allOpen -= 1;
      if (kind === 'hub') this.hubOpen -= 1;
      this.changed(this.hubOpen);
    });
    this.changed(this.hubOpen);
  }

  /** Connections open to the target (hub connections; registrations in progress are not counted). */
  get open(): number {
    return this.hubOpen;
  }

  /** Every socket of the identities: connections to the hub and registrations in progress. */
  get sockets(): number {
    return this.allOpen;
  }

  /** Sockets these identities hold (registrations in progress included). */
  countOf(deviceIds: Iterable<string>): number {
    let n = 0;
    for (const id of deviceIds) n += this.byIdentity.get(id)?.size ?? 0;
    return n;
  }

  /**
   * Destroys every socket of these identities at once: no DISCONNECT, no word to their MQTT clients, which learn of
   * it from their socket closing as they would from a dead network. How many it destroyed.
   */
  cut(deviceIds: Iterable<string>): number {
    let n = 0;
    for (const id of deviceIds) {
      for (const { socket } of [...(this.byIdentity.get(id) ?? [])]) {
        socket.destroy();
        n += 1;
      }
    }
    return n;
  }
}
