// Watches the MQTT byte stream of one connection and reports a packet whose declared length is over the
// limit as soon as its fixed header arrives, before the parser buffers it.
import type { Socket } from 'node:net';

/**
 * Observes `socket` through its 'data' events (emitted by each read() of the broker, so the broker's own
 * reading is unchanged) and calls `onOversized` once when a packet declares more than `maxPacketBytes`.
 */
export function guardPacketSize(socket: Socket, maxPacketBytes: number, onOversized: (declared: number) => void): void {
  let state: 'type' | 'length' | 'body' = 'type';
  let remaining = 0;
  let multiplier = 1;
  let lengthBytes = 0;
  const onData = (chunk: Buffer) => {
    let i = 0;
    while (i < chunk.length) {
      if (state === 'body') {
        const take = Math.min(remaining, chunk.length - i);
        remaining -= take;
        i += take;
        if (remaining === 0) state = 'type';
      } else if (state === 'type') {
        state = 'length';
        remaining = 0;
        multiplier = 1;
        lengthBytes = 0;
        i += 1;
      } else {
        const byte = chunk[i] as number;
        i += 1;
        remaining += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        lengthBytes += 1;
        if (remaining > maxPacketBytes) {
          socket.off('data', onData);
          onOversized(remaining);
          return;
        }
        if ((byte & 0x80) === 0 || lengthBytes === 4) state = remaining === 0 ? 'type' : 'body';
      }
    }
  };
  socket.on('data', onData);
}
