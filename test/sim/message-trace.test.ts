// The drill-down's record of a device's last messages, against the real emulator: what a watched device sent and
// received (telemetry with size and latency, twin, desired writes and their acknowledgements, commands and their
// answers, C2D), newest first, nothing secret, and nothing at all for a device nobody watches.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/index.js';
import { deriveDeviceKey } from '../../src/protocol/index.js';
import { MessageWatch } from '../../src/metrics/message-ring.js';
import { SimDevice, type DeviceBehaviour } from '../../src/sim/device.js';
import { rest, startTestEmulator } from '../support/emulator.js';
import { testContext, type TestSimContext } from '../support/sim-context.js';
import { until } from '../support/wait.js';

let emulator: Emulator;
let ctx: TestSimContext;
const watch = new MessageWatch(40, 60_000);

beforeAll(async () => {
  emulator = await startTestEmulator();
  ctx = { ...testContext(emulator), watch };
});
afterAll(async () => {
  ctx?.scheduler.stop();
  await emulator?.close();
});

const behaviour: DeviceBehaviour = {
  telemetryIntervalMs: 200,
  telemetryQos: 1,
  telemetry: { tick: () => [{ body: { temperature: 21.5 } }] },
  reported: () => undefined,
  writableAck: { code: 200, delayMs: 0 },
  command: (name) => ({ status: name === 'reboot' ? 200 : 404, delayMs: 5, response: { ok: name === 'reboot' } }),
};

function device(id: string): SimDevice {
  let seed = 7;
  const d = new SimDevice(
    ctx,
    ctx.target as never,
    {
      deviceId: id,
      group: 'g',
      ordinal: 0,
      arrivalAt: ctx.scheduler.now(),
      random: () => (seed = (seed * 16807) % 2147483647) / 2147483647,
    },
    { kind: 'dps-sas', deviceKey: deriveDeviceKey(emulator.info.enrollmentGroups.devices.primaryKey, id) },
    behaviour,
  );
  d.start();
  return d;
}

describe('the last messages of a watched device', () => {
  it('records what it sent and received, settled with outcome and latency, newest first, without secrets', async () => {
    const { ring } = watch.look('trace-1', ctx.scheduler.now());
    const d = device('trace-1');
    const other = device('trace-2');
    await until(() => d.state === 'connected' && other.state === 'connected', 10_000, 'connected');
    await until(
      () => ring.newestFirst().filter((m) => m.kind === 'telemetry' && m.status === 'acked').length >= 2,
      10_000,
      'acknowledged telemetry',
    );

    const written = await rest(emulator, 'PATCH', '/api/devices/trace-1/properties', { targetTemperature: 23 });
    expect(written.status).toBeLessThan(300);
    const answered = await rest(emulator, 'POST', '/api/devices/trace-1/commands/reboot', {});
    expect(answered.json).toMatchObject({ responseCode: 200 });
    const sent = await rest(emulator, 'POST', '/api/devices/trace-1/messages', { data: { hello: 'device' } });
    expect(sent.status).toBe(202);
    await until(
      () =>
        ring.newestFirst().some((m) => m.kind === 'c2d') &&
        ring.newestFirst().some((m) => m.kind === 'desiredAck' && m.status === 'acked'),
      10_000,
      'C2D and the desired acknowledgement',
    );

    const messages = ring.newestFirst();
    for (let i = 1; i < messages.length; i++) expect(messages[i - 1]!.atMs).toBeGreaterThanOrEqual(messages[i]!.atMs);
    const find = (kind: string) => messages.find((m) => m.kind === kind);
    expect(find('provision')).toMatchObject({ direction: 'up', status: 'acked', latencyMs: expect.any(Number) });
    expect(find('connect')).toMatchObject({ direction: 'up', status: 'acked' });
    expect(find('twinGet')).toMatchObject({ direction: 'up', status: 'acked' });
    const telemetry = messages.find((m) => m.kind === 'telemetry' && m.status === 'acked')!;
    expect(telemetry).toMatchObject({
      direction: 'up',
      bytes: Buffer.byteLength('{"temperature":21.5}'),
      summary: '{"temperature":21.5}',
    });
    expect(telemetry.latencyMs).toBeGreaterThan(0);
    expect(find('desired')).toMatchObject({
      direction: 'down',
      status: 'received',
      summary: expect.stringMatching(/^v\d+ targetTemperature$/),
    });
    expect(find('desiredAck')).toMatchObject({
      direction: 'up',
      status: 'acked',
      summary: expect.stringContaining('"ac":200'),
    });
    expect(find('command')).toMatchObject({
      direction: 'down',
      status: 'answered',
      summary: 'reboot → 200',
      latencyMs: expect.any(Number),
    });
    expect(find('c2d')).toMatchObject({ direction: 'down', status: 'received', summary: '{"hello":"device"}' });

    // Nothing that could authenticate a device.
    const key = deriveDeviceKey(emulator.info.enrollmentGroups.devices.primaryKey, 'trace-1');
    const text = JSON.stringify(messages);
    expect(text).not.toContain(key);
    expect(text).not.toMatch(/SharedAccessSignature|sig=/);

    // The device nobody looks at has no ring; when the look lapses, recording stops.
    expect(watch.of('trace-2')).toBeUndefined();
    watch.expire(ctx.scheduler.now() + 60_001);
    expect(watch.of('trace-1')).toBeUndefined();
    const recorded = ring.recorded;
    await new Promise((r) => setTimeout(r, 500));
    expect(ring.recorded).toBe(recorded);
    await Promise.all([d.stop(), other.stop()]);
  }, 30_000);
});
