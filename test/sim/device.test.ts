// A simulated device against the real emulator: provisioning, telemetry accounted end to end, twin,
// writable-property acknowledgement, commands, and reconnection after a drop.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/index.js';
import { deriveDeviceKey } from '../../src/protocol/index.js';
import { SimDevice, type DeviceBehaviour } from '../../src/sim/device.js';
import { rest, startTestEmulator } from '../support/emulator.js';
import { testContext, type TestSimContext } from '../support/sim-context.js';
import { until } from '../support/wait.js';

let emulator: Emulator;
let ctx: TestSimContext;

beforeAll(async () => {
  emulator = await startTestEmulator();
  ctx = testContext(emulator);
});
afterAll(async () => {
  ctx?.scheduler.stop();
  await emulator?.close();
});

function behaviour(overrides: Partial<DeviceBehaviour> = {}): DeviceBehaviour {
  let n = 0;
  return {
    modelId: 'dtmi:com:example:Thermostat;1',
    telemetryIntervalMs: 100,
    telemetryQos: 1,
    telemetry: { tick: () => [{ body: { temperature: 20 + (n++ % 5) } }] },
    reported: () => ({ maxTempSinceLastReboot: 31.5 }),
    writableAck: { code: 200, delayMs: 0 },
    command: (name, request) =>
      name === 'getMaxMinReport'
        ? { status: 200, delayMs: 10, response: { since: request, maxTemp: 30 } }
        : { status: 404, delayMs: 0, response: { error: `unknown command ${name}` } },
    ...overrides,
  };
}

const devices: SimDevice[] = [];

function device(id: string, b: DeviceBehaviour = behaviour()): SimDevice {
  let seed = 1;
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
    b,
  );
  d.start();
  devices.push(d);
  return d;
}

describe('SimDevice against the emulator', () => {
  it('provisions with its model id, streams telemetry that the emulator receives, and reports properties', async () => {
    const d = device('sim-thermo-1');
    await until(() => (ctx.acked.get('sim-thermo-1') ?? 0) >= 5, 10_000, '5 acknowledged messages');
    const stats = (await rest(emulator, 'GET', '/stats')).json;
    expect(stats.identities['sim-thermo-1'].messagesReceived).toBeGreaterThanOrEqual(
      ctx.acked.get('sim-thermo-1') as number,
    );
    const registered = (await rest(emulator, 'GET', '/api/devices/sim-thermo-1')).json;
    expect(registered).toMatchObject({ provisioned: true, template: 'dtmi:com:example:Thermostat;1' });
    const last = (await rest(emulator, 'GET', '/api/devices/sim-thermo-1/telemetry/temperature')).json;
    expect(last.value).toBeGreaterThanOrEqual(20);
    await until(
      () => emulator.registry.get('sim-thermo-1')?.twin.reported.value.maxTempSinceLastReboot === 31.5,
      5000,
      'reported property',
    );
    expect(d.state).toBe('connected');
    await d.stop();
  });

  it('acknowledges a writable property written over REST the IoT Central way', async () => {
    const d = device('sim-thermo-2');
    await until(() => d.state === 'connected', 10_000, 'connected');
    const write = await rest(emulator, 'PATCH', '/api/devices/sim-thermo-2/properties', { targetTemperature: 22.5 });
    expect(write.status).toBeLessThan(300);
    await until(() => ctx.desiredAcks.some((a) => a.deviceId === 'sim-thermo-2'), 5000, 'desired acknowledgement');
    const reported = emulator.registry.get('sim-thermo-2')!.twin.reported.value as Record<string, any>;
    expect(reported.targetTemperature).toEqual({
      value: 22.5,
      ac: 200,
      av: emulator.registry.get('sim-thermo-2')!.twin.desired.version,
      ad: 'completed',
    });
    await d.stop();
  });

  it('answers commands with the configured status and response', async () => {
    const d = device('sim-thermo-3');
    await until(() => d.state === 'connected', 10_000, 'connected');
    const ok = await rest(emulator, 'POST', '/api/devices/sim-thermo-3/commands/getMaxMinReport', {
      request: '2026-01-01T00:00:00Z',
    });
    expect(ok.json).toMatchObject({ responseCode: 200, response: { since: '2026-01-01T00:00:00Z', maxTemp: 30 } });
    const unknown = await rest(emulator, 'POST', '/api/devices/sim-thermo-3/commands/reboot', {});
    expect(unknown.json.responseCode).toBe(404);
    await d.stop();
  });

  it('reconnects after its connection is dropped, and the ledger stays balanced', async () => {
    const d = device('sim-thermo-4');
    await until(
      () => d.state === 'connected' && (ctx.acked.get('sim-thermo-4') ?? 0) > 2,
      10_000,
      'connected and sending',
    );
    const connectsBefore = emulator.stats.of('sim-thermo-4').connects;
    d.drop();
    await until(
      () => emulator.stats.of('sim-thermo-4').connects > connectsBefore && d.state === 'connected',
      10_000,
      'reconnected',
    );
    const ackedBefore = ctx.acked.get('sim-thermo-4') as number;
    await until(() => (ctx.acked.get('sim-thermo-4') as number) > ackedBefore + 2, 5000, 'sending again');
    d.quiesce();
    await until(() => d.pendingAcks === 0, 5000, 'drained');
    await d.stop();
    // Devices stopped earlier without draining keep what they had in flight as in flight.
    const inFlight = devices.reduce((n, x) => n + x.pendingAcks, 0);
    const l = ctx.metrics.ledger;
    expect(l.generated).toBe(l.acknowledged + l.failed + l.expired + l.dropped + inFlight);
  });
});
