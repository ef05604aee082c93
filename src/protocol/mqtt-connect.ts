// Reading the first packet of an MQTT 3.1.1 connection (a CONNECT) from raw bytes, enough to tell who it claims to
// be before a broker takes the connection (MQTT 3.1.1 §2.2, §3.1).

export class MqttConnectError extends Error {}

const CONNECT = 1;

/** The fixed header: packet type, remaining length and the header's own size; undefined while incomplete. */
export function mqttFixedHeader(buf: Buffer): { type: number; remaining: number; headerBytes: number } | undefined {
  if (buf.length < 2) return undefined;
  let remaining = 0;
  let multiplier = 1;
  for (let i = 1; i <= 4; i++) {
    if (i >= buf.length) return undefined;
    const byte = buf[i] as number;
    remaining += (byte & 0x7f) * multiplier;
    multiplier *= 128;
    if ((byte & 0x80) === 0) return { type: (buf[0] as number) >> 4, remaining, headerBytes: i + 1 };
  }
  throw new MqttConnectError('the remaining length takes more than 4 bytes');
}

export interface ConnectFields {
  clientId: string;
  username?: string;
}

/** A length-prefixed field at `offset`; throws past the end of the packet. */
function field(buf: Buffer, offset: number, end: number): { value: Buffer; next: number } {
  if (offset + 2 > end) throw new MqttConnectError('CONNECT ends inside a field length');
  const length = buf.readUInt16BE(offset);
  const next = offset + 2 + length;
  if (next > end) throw new MqttConnectError('CONNECT ends inside a field');
  return { value: buf.subarray(offset + 2, next), next };
}

/**
 * The client id and username of a complete CONNECT packet at the start of `buf` (fixed header included).
 * Throws MqttConnectError for anything else; the broker that takes the connection validates the rest.
 */
export function readConnect(buf: Buffer): ConnectFields {
  const header = mqttFixedHeader(buf);
  if (header === undefined) throw new MqttConnectError('the packet is incomplete');
  if (header.type !== CONNECT) throw new MqttConnectError(`the first packet is type ${header.type}, not CONNECT`);
  const end = header.headerBytes + header.remaining;
  if (buf.length < end) throw new MqttConnectError('the packet is incomplete');
  const protocol = field(buf, header.headerBytes, end);
  // Level (1 byte), flags (1), keepalive (2).
  if (protocol.next + 4 > end) throw new MqttConnectError('CONNECT ends inside its variable header');
  const flags = buf[protocol.next + 1] as number;
  const clientId = field(buf, protocol.next + 4, end);
  let offset = clientId.next;
  if ((flags & 0x04) !== 0) offset = field(buf, field(buf, offset, end).next, end).next; // will topic, will message
  const fields: ConnectFields = { clientId: clientId.value.toString('utf8') };
  if ((flags & 0x80) !== 0) fields.username = field(buf, offset, end).value.toString('utf8');
  return fields;
}
