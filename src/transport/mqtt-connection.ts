// One MQTT connection for one identity, over mqtt.js: connect with a deadline, publish with a callback on
// PUBACK, and every failure classified. Reconnection is the owner's business (reconnectPeriod 0), as in the
// Azure IoT SDKs, so that backoff and token renewal are decided by the simulated thing.
import type { Duplex } from 'node:stream';
import mqtt, { MqttClient, type IClientOptions } from 'mqtt';
import { ClassifiedError, classify, classifyConnack, closedByServer } from './errors.js';
import { secureContextFor } from './tls-context.js';

export interface ConnectionOptions {
  host: string;
  port: number;
  tls: boolean;
  clientId: string;
  username?: string;
  password?: string;
  ca?: Buffer | string;
  cert?: string;
  key?: string;
  /** TLS server name when it differs from host (e.g. a hub name while dialling 127.0.0.1). */
  servername?: string;
  rejectUnauthorized?: boolean;
  keepaliveSeconds: number;
  connectTimeoutMs: number;
  clean: boolean;
  /** Source address to dial from (spreads ephemeral ports over several loopback addresses). */
  localAddress?: string;
  /** Speak MQTT over this stream (made once per connection) instead of dialling host:port. */
  stream?: () => Duplex;
  /**
   * The PUBACK of an incoming QoS 1 message waits for this promise, when it gives one (a gateway relaying its
   * child's).
   */
  holdAck?: (topic: string, payload: Buffer) => Promise<void> | undefined;
  /** The target applies rate limits: CONNACK 3 and a close with sends unacknowledged are `throttled`. */
  limited?: boolean;
}

// mqtt.js copies publish options; one constant object per QoS, not one per message.
const QOS_0 = Object.freeze({ qos: 0 as const });
const QOS_1 = Object.freeze({ qos: 1 as const });

// mqtt.js logs through `debug` on every packet, which allocates its arguments even when nothing is printed: at
// thousands of messages a second that is a large share of all garbage. DEBUG=mqttjs* still turns its log on.
const mqttDebug = /mqttjs/.test(process.env.DEBUG ?? '');
const noLog = () => {};

const closedBeforeConnack = () => new ClassifiedError('network', 'closed before CONNACK');

export type MessageHandler = (topic: string, payload: Buffer) => void;

/** mqtt.js options for one connection: no reconnection (the owner decides), MQTT 3.1.1, TLS from a shared context. */
function clientOptions(options: ConnectionOptions): IClientOptions {
  return {
    protocol: options.tls ? 'mqtts' : 'mqtt',
    host: options.host,
    port: options.port,
    clientId: options.clientId,
    protocolVersion: 4,
    clean: options.clean,
    keepalive: options.keepaliveSeconds,
    connectTimeout: options.connectTimeoutMs,
    reconnectPeriod: 0,
    resubscribe: false,
    queueQoSZero: false,
    // Ping every keepalive period rather than re-arming a timer on every packet sent (one timer object per message).
    reschedulePings: false,
    ...(mqttDebug ? {} : { log: noLog }),
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(options.password === undefined ? {} : { password: options.password }),
    // One context per distinct ca/cert/key, not one per socket.
    ...(options.tls ? { secureContext: secureContextFor(options) } : {}),
    ...(options.servername === undefined ? {} : { servername: options.servername }),
    ...(options.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: options.rejectUnauthorized }),
    ...(options.localAddress === undefined ? {} : ({ localAddress: options.localAddress } as IClientOptions)),
  };
}

/** mqtt.js sends the PUBACK of an incoming message when handleMessage calls back (customHandleAcks is MQTT 5 only). */
function holdAcks(client: MqttClient, hold: NonNullable<ConnectionOptions['holdAck']>): void {
  client.handleMessage = (packet, callback) => {
    const wait =
      packet.cmd === 'publish' && packet.qos === 1
        ? hold(packet.topic, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload))
        : undefined;
    if (wait === undefined) return callback();
    wait.then(
      () => callback(),
      () => callback(),
    );
  };
}

export class MqttConnection {
  readonly client: MqttClient;
  private closedByUs = false;

  private constructor(client: MqttClient) {
    this.client = client;
  }

  /** Connects; rejects with a ClassifiedError (CONNACK refusals are `auth`/`throttled`). */
  static connect(
    options: ConnectionOptions,
    onMessage: MessageHandler,
    onLost: (err: ClassifiedError) => void,
  ): Promise<MqttConnection> {
    const opts = clientOptions(options);
    const stream = options.stream;
    const client = stream === undefined ? mqtt.connect(opts) : new MqttClient(() => stream(), opts);
    if (options.holdAck !== undefined) holdAcks(client, options.holdAck);
    const connection = new MqttConnection(client);
    return new Promise((resolve, reject) => {
      let settled = false;
      // Errors are built only when they are used: these handlers also run on every ordinary close.
      const fail = (err: () => ClassifiedError) => {
        if (settled) return;
        settled = true;
        connection.closedByUs = true;
        client.end(true);
        reject(err());
      };
      client.once('connect', () => {
        settled = true;
        client.on('message', onMessage);
        client.once('close', () => {
          if (!connection.closedByUs) onLost(closedByServer(connection.unacknowledged, options.limited === true));
        });
        resolve(connection);
      });
      client.on('error', (err: Error & { code?: number | string }) => {
        if (!settled) {
          const limited = options.limited === true;
          fail(() => (typeof err.code === 'number' ? classifyConnack(err.code, limited) : classify(err)));
        }
      });
      client.once('close', () => fail(closedBeforeConnack));
      client.on('offline', () =>
        fail(() => new ClassifiedError('timeout', `no CONNACK within ${options.connectTimeoutMs} ms`)),
      );
    });
  }

  /** QoS 1 publishes sent and not yet acknowledged (mqtt.js keeps their callbacks by message id until PUBACK). */
  get unacknowledged(): number {
    return Object.keys(this.client.outgoing).length;
  }

  get connected(): boolean {
    return this.client.connected;
  }

  publish(topic: string, payload: string | Buffer, qos: 0 | 1, done?: (err?: Error) => void): void {
    this.client.publish(topic, payload, qos === 1 ? QOS_1 : QOS_0, done);
  }

  subscribe(filters: string[], qos: 0 | 1): Promise<number[]> {
    return new Promise((resolve, reject) => {
      this.client.subscribe(filters, { qos }, (err, granted) => {
        if (err && !granted) return reject(classify(err));
        resolve((granted ?? []).map((g) => g.qos));
      });
    });
  }

  /** Closes; `force` drops the socket without DISCONNECT (a device losing power or the network). */
  close(force = false): Promise<void> {
    this.closedByUs = true;
    return new Promise((resolve) => this.client.end(force, {}, () => resolve()));
  }
}
