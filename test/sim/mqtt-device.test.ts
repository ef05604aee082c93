// The generic `mqtt` target against a real Mosquitto: a subscriber counts exactly what the devices say
// was acknowledged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { Scheduler } from '../../src/core/scheduler.js';
import { MetricsRecorder } from '../../src/metrics/recorder.js';
import type { MqttTarget } from '../../src/endpoints/target.js';
import type { SimContext } from '../../src/sim/context.js';
import { MqttDevice } from '../../src/sim/mqtt-device.js';
import { startMosquitto, type Mosquitto } from '../support/mosquitto.js';
import { until } from '../support/wait.js';
import { systemPeer } from '../support/system-peer.js';

const mosquitto = systemPeer('mosquitto');

let broker: Mosquitto;
beforeAll(async () => {
  broker = await startMosquitto();
});
afterAll(async () => {
  await broker?.stop();
});

describe.skipIf(mosquitto.missing)('MqttDevice against Mosquitto', () => {
  it('publishes on the templated topic, and the broker delivers exactly the acknowledged messages', async () => {
    const received = new Map<string, number>();
    const subscriber = await mqtt.connectAsync({
      host: '127.0.0.1',
      port: broker.port,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    await subscriber.subscribeAsync('fleet/+/telemetry', { qos: 1 });
    subscriber.on('message', (topic) => {
      const id = topic.split('/')[1] as string;
      received.set(id, (received.get(id) ?? 0) + 1);
    });

    const metrics = new MetricsRecorder();
    const scheduler = new Scheduler((late) => metrics.recordLateness(late));
    const acked = new Map<string, number>();
    const target: MqttTarget = {
      kind: 'mqtt',
      host: '127.0.0.1',
      port: broker.port,
      tls: false,
      rejectUnauthorized: true,
      clientId: 'sim-{deviceId}',
      topics: { telemetry: 'fleet/{deviceId}/telemetry', moduleTelemetry: 'fleet/{deviceId}/{moduleId}' },
    };
    const ctx: SimContext = {
      scheduler,
      metrics,
      target,
      localAddress: () => undefined,
      stateChanged: () => {},
      desiredAcknowledged: () => {},
      acknowledgedBy: (id) => void acked.set(id, (acked.get(id) ?? 0) + 1),
      log: () => {},
      mqtt: { keepaliveSeconds: 60, connectTimeoutMs: 5000, operationTimeoutMs: 5000 },
    };
    let n = 0;
    const devices = Array.from(
      { length: 20 },
      (_, i) =>
        new MqttDevice(
          ctx,
          target,
          {
            deviceId: `m-${i}`,
            group: 'g',
            ordinal: i,
            arrivalAt: scheduler.now() + i * 10,
            random: () => 0.5,
          },
          { telemetryIntervalMs: 50, telemetryQos: 1, telemetry: { tick: () => [{ body: { n: n++ } }] } },
        ),
    );
    for (const d of devices) d.start();
    await until(() => metrics.ledger.acknowledged >= 200, 10_000, '200 acknowledged messages');
    for (const d of devices) d.quiesce();
    await until(() => devices.every((d) => d.pendingAcks === 0), 5000, 'drain');
    await Promise.all(devices.map((d) => d.stop()));
    scheduler.stop();
    const ackedTotal = [...acked.values()].reduce((a, b) => a + b, 0);
    await until(() => [...received.values()].reduce((a, b) => a + b, 0) >= ackedTotal, 5000, 'subscriber caught up');
    await subscriber.endAsync();
    for (const [id, count] of acked) expect(received.get(id), id).toBe(count);
    expect(metrics.ledger.generated).toBe(metrics.ledger.acknowledged + metrics.ledger.failed);
    expect(ackedTotal).toBe(metrics.ledger.acknowledged);
  });
});
