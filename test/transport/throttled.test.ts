// The `throttled` class at the transport: a CONNACK 3 and a close with sends unacknowledged count as the target's
// throttling when the target applies limits, and as an unavailable server or a lost network when it does not.
// Against a real MQTT broker (aedes) on loopback, refusing or holding as a limited hub does.
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { afterEach, describe, expect, it } from 'vitest';
import { parseTopic } from '../../src/protocol/topics.js';
import { classifyConnack, classifyStatus, closedByServer, type ClassifiedError } from '../../src/transport/errors.js';
import { failureOf, RetryState } from '../../src/transport/retry-policy.js';
import { MqttConnection, type ConnectionOptions } from '../../src/transport/mqtt-connection.js';

interface Broker {
  port: number;
  broker: Aedes;
  close(): Promise<void>;
}

const open: Broker[] = [];
afterEach(async () => {
  for (const b of open.splice(0)) await b.close();
});

async function startBroker(setup: (broker: Aedes) => void): Promise<Broker> {
  const broker = await Aedes.createBroker();
  setup(broker);
  const server: Server = createServer((socket) => broker.handle(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const b: Broker = {
    port,
    broker,
    close: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  open.push(b);
  return b;
}

function options(port: number, limited: boolean): ConnectionOptions {
  return {
    host: '127.0.0.1',
    port,
    tls: false,
    clientId: 'dev-1',
    keepaliveSeconds: 30,
    connectTimeoutMs: 5000,
    clean: true,
    limited,
  };
}

const refusingWith3 = (broker: Aedes) => {
  broker.authenticate = (_client, _user, _password, done) =>
    done(Object.assign(new Error('busy'), { returnCode: 3 }), false);
};

async function connectError(port: number, limited: boolean): Promise<ClassifiedError> {
  try {
    const c = await MqttConnection.connect(
      options(port, limited),
      () => {},
      () => {},
    );
    await c.close(true);
  } catch (err) {
    return err as ClassifiedError;
  }
  throw new Error('the broker accepted the connection');
}

describe('CONNACK 3', () => {
  it('is throttled on a target that applies limits', async () => {
    const { port } = await startBroker(refusingWith3);
    const err = await connectError(port, true);
    expect(err.errorClass).toBe('throttled');
    expect(err.status).toBe(3);
  });

  it('is an unavailable server on a target without limits (an outage)', async () => {
    const { port } = await startBroker(refusingWith3);
    const err = await connectError(port, false);
    expect(err.errorClass).toBe('server');
  });

  it('leaves the other refusals as they were', () => {
    for (const limited of [true, false]) {
      expect(classifyConnack(5, limited).errorClass).toBe('auth');
      expect(classifyConnack(1, limited).errorClass).toBe('protocol');
    }
  });
});

describe('a connection the target closes', () => {
  /** Publishes are held (no PUBACK), as a full traffic-shaping queue holds them, then the broker drops the client. */
  async function lostWhileSending(limited: boolean, sends: number): Promise<ClassifiedError> {
    const { port, broker } = await startBroker((b) => {
      b.authorizePublish = () => {};
    });
    let lost: (e: ClassifiedError) => void = () => {};
    const gone = new Promise<ClassifiedError>((resolve) => (lost = resolve));
    const connection = await MqttConnection.connect(options(port, limited), () => {}, lost);
    for (let i = 0; i < sends; i++) connection.client.publish('devices/dev-1/messages/events/', 'x', { qos: 1 });
    await waitFor(() => connection.unacknowledged === sends);
    for (const client of Object.values((broker as unknown as { clients: Record<string, { close(): void }> }).clients))
      client.close();
    return gone;
  }

  it('with sends awaiting PUBACK on a limited target is throttled', async () => {
    const err = await lostWhileSending(true, 3);
    expect(err.errorClass).toBe('throttled');
    expect(err.message).toContain('3 send(s) awaiting PUBACK');
  });

  it('on a target without limits is the network', async () => {
    expect((await lostWhileSending(false, 3)).errorClass).toBe('network');
  });

  it('with nothing in flight is the network, limits or not', async () => {
    expect((await lostWhileSending(true, 0)).errorClass).toBe('network');
    expect(closedByServer(0, true).errorClass).toBe('network');
  });
});

async function waitFor(ok: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("a throttled twin answer's retry-after", () => {
  it('is read from the response topic and waited out by the retry policy', () => {
    const parsed = parseTopic('$iothub/twin/res/429/?$rid=7&retry-after=3');
    expect(parsed).toEqual({ kind: 'twinResponse', status: 429, rid: '7', retryAfterSeconds: 3 });
    const err = classifyStatus(429, 'dev-1: twin GET', 3);
    expect(err).toMatchObject({ errorClass: 'throttled', retryAfterSeconds: 3 });
    expect(err.message).toContain('retry after 3 s');
    const decision = new RetryState().next(
      { ...failureOf(err), phase: 'twin', assignedBy: 'dps', hadAssignment: true },
      () => 0.5,
    );
    expect(decision).toMatchObject({ action: 'retry', backoff: 'throttled', delayMs: 3000 });
    // Without one: the SDKs' throttled backoff, 10 s at least.
    const plain = new RetryState().next(
      { ...failureOf(classifyStatus(429, 'dev-1: twin GET')), phase: 'twin', assignedBy: 'dps', hadAssignment: true },
      () => 0.5,
    );
    expect(plain.delayMs).toBeGreaterThanOrEqual(10_000);
  });
});
