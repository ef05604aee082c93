// Reads the CONNECT at the start of a connection before any broker sees it, so that DPS and IoT Hub connections
// can go to brokers (and client tables) of their own. The bytes are put back unread for the broker.
import type { Socket } from 'node:net';
import { mqttFixedHeader, readConnect, type ConnectFields } from '../protocol/index.js';

export interface ConnectRouteOptions {
  /** The largest packet accepted; a CONNECT announcing more is refused as soon as its header arrives. */
  maxPacketBytes: number;
  /** How long the client has to send its whole CONNECT. */
  timeoutMs: number;
  /** Called once with the CONNECT's fields; the socket's bytes are back in place, unread. */
  route(fields: ConnectFields): void;
  /** Called once when the connection is dropped before that; the socket is destroyed. */
  refuse(reason: 'oversized' | 'protocol', detail: string): void;
}

/** Reads `socket` until its first packet is complete, then routes it (or refuses it). */
export function routeFirstConnect(socket: Socket, opts: ConnectRouteOptions): void {
  let buffered: Buffer = Buffer.alloc(0);
  let settled = false;
  const settle = () => {
    settled = true;
    clearTimeout(timer);
    socket.off('readable', onReadable);
  };
  const refuse = (reason: 'oversized' | 'protocol', detail: string) => {
    settle();
    opts.refuse(reason, detail);
    socket.destroy();
  };
  const timer = setTimeout(() => refuse('protocol', `no CONNECT within ${opts.timeoutMs} ms`), opts.timeoutMs);
  socket.once('close', () => {
    if (!settled) settle();
  });
  const onReadable = () => {
    const read = () => socket.read() as Buffer | null;
    for (let chunk = read(); chunk !== null && !settled; chunk = read()) {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      let header;
      let fields: ConnectFields;
      try {
        header = mqttFixedHeader(buffered);
        if (header === undefined) continue;
        if (header.remaining > opts.maxPacketBytes) {
          return refuse('oversized', `a ${header.remaining}-byte packet announced`);
        }
        if (buffered.length < header.headerBytes + header.remaining) continue;
        fields = readConnect(buffered);
      } catch (err) {
        return refuse('protocol', (err as Error).message);
      }
      settle();
      socket.unshift(buffered);
      opts.route(fields);
      return;
    }
  };
  socket.on('readable', onReadable);
}
