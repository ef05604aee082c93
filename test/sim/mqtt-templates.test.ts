// Each placeholder of the mqtt target's templates, against a real Mosquitto: the scenario is loaded as a user
// writes it, the target resolved and the fleet planned as `edgefleet run` does, and the devices connect. The broker's
// ACL lets a client publish only on t/<anything>/<its user name>/<its client id>, so the topics a subscriber sees
// show what the topic, the user name and the client id templates became.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { loadScenario } from '../../src/config/load.js';
import { planFleet } from '../../src/config/plan.js';
import { Scheduler } from '../../src/core/scheduler.js';
import { resolveTarget } from '../../src/endpoints/resolve.js';
import { MetricsRecorder } from '../../src/metrics/recorder.js';
import type { SimContext } from '../../src/sim/context.js';
import { MqttDevice } from '../../src/sim/mqtt-device.js';
import { startMosquitto, type Mosquitto } from '../support/mosquitto.js';
import { until } from '../support/wait.js';
import { systemPeer } from '../support/system-peer.js';

const mosquitto = systemPeer('mosquitto');

let broker: Mosquitto;
const dir = mkdtempSync(join(tmpdir(), 'edgefleet-templates-'));
beforeAll(async () => {
  broker = await startMosquitto({ acl: 'topic read #\npattern write t/+/%u/%c\n' });
});
afterAll(async () => {
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the two groups' devices (one each) with every template built from `placeholder`; the topics seen. */
async function topicsSeen(placeholder: string): Promise<string[]> {
  const file = join(dir, `${placeholder}.yaml`);
  writeFileSync(
    file,
    [
      'name: templates',
      'target: mqtt',
      'targets:',
      '  mqtt:',
      `    host: 127.0.0.1`,
      `    port: ${broker.port}`,
      `    clientId: "c-{${placeholder}}"`,
      `    username: "u-{${placeholder}}"`,
      `    topics: { telemetry: "t/{${placeholder}}/u-{${placeholder}}/c-{${placeholder}}" }`,
      'fleet:',
      '  - { group: north, kind: device, count: 1, idPattern: "n-{index}", auth: sas }',
      '  - { group: south, kind: device, count: 1, idPattern: "s-{index}", auth: sas }',
      '',
    ].join('\n'),
  );
  const loaded = await loadScenario(file, { target: 'mqtt' });
  const { target } = await resolveTarget(loaded, { stateDir: dir, log: () => {} });
  if (target.kind !== 'mqtt') throw new Error('expected the mqtt target');
  const { scenario, profile, durationMs } = loaded;
  const { identities } = planFleet({ scenario, profile, durationMs });

  const seen = new Map<string, number>();
  const subscriber = await mqtt.connectAsync({ host: '127.0.0.1', port: broker.port, reconnectPeriod: 0 });
  subscriber.on('message', (topic) => void seen.set(topic, (seen.get(topic) ?? 0) + 1));
  await subscriber.subscribeAsync('t/#', { qos: 1 });

  const metrics = new MetricsRecorder();
  const scheduler = new Scheduler((late) => metrics.recordLateness(late));
  const ctx: SimContext = {
    scheduler,
    metrics,
    target,
    localAddress: () => undefined,
    stateChanged: () => {},
    desiredAcknowledged: () => {},
    acknowledgedBy: () => {},
    log: () => {},
    mqtt: { keepaliveSeconds: 60, connectTimeoutMs: 5000, operationTimeoutMs: 5000 },
  };
  const telemetry = { tick: () => [{ body: { n: 1 } }] };
  const behaviour = { telemetryIntervalMs: 50, telemetryQos: 1 as const, telemetry };
  const devices = identities.map(
    ({ deviceId, group, ordinal }) =>
      new MqttDevice(
        ctx,
        target,
        {
          deviceId,
          group,
          ordinal,
          arrivalAt: scheduler.now(),
          random: () => 0.5,
        },
        behaviour,
      ),
  );
  for (const d of devices) d.start();
  await until(() => metrics.ledger.acknowledged >= 10, 10_000, '10 acknowledged messages');
  // What the broker delivered by now (a topic it refused never comes).
  const delivered = () => [...seen.values()].reduce((a, b) => a + b, 0);
  await until(() => delivered() >= 6, 2000, 'the subscriber to see them').catch(() => {});
  await Promise.all(devices.map((d) => d.stop()));
  scheduler.stop();
  await subscriber.endAsync();
  return [...seen.keys()].sort();
}

describe.skipIf(mosquitto.missing)('mqtt target templates against Mosquitto', () => {
  it('{deviceId} becomes the device id in the topic, the user name and the client id', async () => {
    expect(await topicsSeen('deviceId')).toEqual(['t/n-1/u-n-1/c-n-1', 't/s-1/u-s-1/c-s-1']);
  });

  it('{group} becomes the scenario group in the topic, the user name and the client id', async () => {
    expect(await topicsSeen('group')).toEqual(['t/north/u-north/c-north', 't/south/u-south/c-south']);
  });
});
