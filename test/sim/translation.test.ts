// The translation patterns of docs/protocol.md §5.1. Protocol translation: sensor timing and failures on a fake clock,
// then a real IoT Edge device whose module's readings reach the emulator as the module. Identity translation: a
// module that provisions its sensors through DPS as devices of their own and connects as them, against the emulator.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Emulator } from '../../src/emulator/index.js';
import { Scheduler } from '../../src/core/scheduler.js';
import { deriveDeviceKey } from '../../src/protocol/index.js';
import { deviceBehaviour } from '../../src/sim/build.js';
import { SimDevice } from '../../src/sim/device.js';
import type { EdgeDeviceConfig } from '../../src/sim/edge/edge-device.js';
import {
  ProtocolTranslationModule,
  type ModuleApi,
  type TranslatedSensorSpec,
} from '../../src/sim/edge/modules/index.js';
import { Prng } from '../../src/sim/model/random.js';
import { rest } from '../support/emulator.js';
import { connectedEdgeDevice, testContext, useTestEmulator, type TestSimContext } from '../support/sim-context.js';
import { until } from '../support/wait.js';

const MODBUS: TranslatedSensorSpec = {
  kind: 'modbus',
  count: 4,
  idPattern: 'plc-{index}',
  pollInterval: 5000,
  registers: {
    temperature: { kind: 'sine', min: 20, max: 80, periodSeconds: 300 },
    pressure: { kind: 'uniform', min: 1, max: 2 },
  },
  timeoutRate: 0.1,
  staleRate: 0.2,
};
const BLE: TranslatedSensorSpec = {
  kind: 'ble',
  count: 6,
  meanInterval: 8000,
  values: { batteryLevel: { kind: 'uniform', min: 0, max: 100 }, rssi: { kind: 'uniform', min: -90, max: -40 } },
  lossRate: 0.25,
};

describe('protocol-translation sensors on a fake clock', () => {
  let scheduler: Scheduler;
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    scheduler = new Scheduler(() => {}, { now: () => Date.now() });
  });
  afterEach(() => {
    scheduler.stop();
    vi.useRealTimers();
  });

  function harness(seed: number) {
    const sent: { body: any; properties: Record<string, string>; at: number }[] = [];
    const reported: any[] = [];
    const prng = new Prng(1);
    const api: ModuleApi = {
      deviceId: 'edge-1',
      moduleId: 'ModbusTranslator',
      env: {},
      scheduler,
      random: () => prng.next(),
      sendOutput: (output, body, properties, at) => {
        expect(output).toBe('telemetry');
        sent.push({ body, properties: properties ?? {}, at: at ?? scheduler.now() });
      },
      reportProperties: (patch) => void reported.push(patch),
    };
    const module = new ProtocolTranslationModule({ sensors: [MODBUS, BLE], seed, reportInterval: 60_000 });
    module.start(api);
    return { module, sent, reported };
  }

  it('polls each Modbus sensor on its own period and phase, BLE at random, and counts timeouts, stale and lost readings', async () => {
    const start = Date.now();
    const { module, sent, reported } = harness(7);
    await vi.advanceTimersByTimeAsync(600_000);
    const counters = module.counters();
    expect(Object.keys(counters)).toEqual([
      'plc-1',
      'plc-2',
      'plc-3',
      'plc-4',
      'ble-1',
      'ble-2',
      'ble-3',
      'ble-4',
      'ble-5',
      'ble-6',
    ]);
    for (const id of ['plc-1', 'plc-2', 'plc-3', 'plc-4']) {
      const times = sent.filter((s) => s.body.sensorId === id).map((s) => s.at);
      const polls = counters[id]!.readings + counters[id]!.timeouts;
      expect(polls).toBe(120); // 600 s / 5 s
      // Readings land on one grid per sensor: its own phase, then every 5 s.
      const phase = (times[0]! - start) % 5000;
      for (const t of times) expect((t - start) % 5000).toBeCloseTo(phase, 3);
      expect(counters[id]!.timeouts).toBeGreaterThan(2);
      expect(counters[id]!.stale).toBeGreaterThan(5);
      const stale = sent.filter((s) => s.body.sensorId === id && s.body.stale === true);
      expect(stale).toHaveLength(counters[id]!.stale);
      // A stale reading repeats the values of the one before it from that sensor.
      const mine = sent.filter((s) => s.body.sensorId === id);
      const k = mine.findIndex((s) => s.body.stale === true);
      expect(mine[k]!.body.temperature).toBe(mine[k - 1]!.body.temperature);
    }
    const phases = new Set(
      ['plc-1', 'plc-2', 'plc-3', 'plc-4'].map((id) =>
        Math.round((sent.find((s) => s.body.sensorId === id)!.at - start) % 5000),
      ),
    );
    expect(phases.size).toBe(4);
    let bleReadings = 0;
    let bleLost = 0;
    for (let i = 1; i <= 6; i++) {
      const c = counters[`ble-${i}`]!;
      bleReadings += c.readings;
      bleLost += c.lost;
      expect(c.timeouts).toBe(0);
      expect(c.stale).toBe(0);
    }
    // 6 sensors × 600 s / 8 s ≈ 450 advertisements, a quarter lost; Poisson gaps are not all equal.
    expect(bleReadings + bleLost).toBeGreaterThan(350);
    expect(bleReadings + bleLost).toBeLessThan(550);
    expect(bleLost / (bleReadings + bleLost)).toBeGreaterThan(0.15);
    expect(bleLost / (bleReadings + bleLost)).toBeLessThan(0.35);
    const gaps = sent
      .filter((s) => s.body.sensorId === 'ble-1')
      .map((s, i, a) => (i === 0 ? 0 : s.at - a[i - 1]!.at))
      .slice(1);
    expect(new Set(gaps.map((g) => Math.round(g / 1000))).size).toBeGreaterThan(3);
    for (const s of sent) {
      expect(s.properties).toEqual({ sensorId: s.body.sensorId, sensorKind: s.body.sensorKind });
      expect(s.body.sensorKind).toBe(s.body.sensorId.startsWith('plc') ? 'modbus' : 'ble');
    }
    // Counters reach the module twin periodically: at start, then each minute.
    expect(reported.length).toBe(11);
    expect(reported.at(-1).sensors['plc-2']).toMatchObject({
      timeouts: counters['plc-2']!.timeouts,
      stale: counters['plc-2']!.stale,
      lost: 0,
    });
    expect(reported.at(-1).sensors['ble-3'].lost).toBe(counters['ble-3']!.lost);
    expect(typeof reported.at(-1).sensors['ble-3'].lastReadingUtc).toBe('string');
  });

  it('gives the same readings for the same seed, and others for another seed', async () => {
    const a = harness(11);
    await vi.advanceTimersByTimeAsync(60_000);
    a.module.stop();
    vi.setSystemTime(1_700_000_000_000);
    const b = harness(11);
    await vi.advanceTimersByTimeAsync(60_000);
    b.module.stop();
    vi.setSystemTime(1_700_000_000_000);
    const c = harness(12);
    await vi.advanceTimersByTimeAsync(60_000);
    c.module.stop();
    expect(a.sent.length).toBeGreaterThan(20);
    expect(b.sent.map((s) => [s.body, s.at])).toEqual(a.sent.map((s) => [s.body, s.at]));
    expect(c.sent.map((s) => s.body)).not.toEqual(a.sent.map((s) => s.body));
  });

  it('stops every sensor when the module stops', async () => {
    const { module, sent } = harness(3);
    await vi.advanceTimersByTimeAsync(20_000);
    module.stop();
    const n = sent.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sent.length).toBe(n);
  });
});

describe('translation modules against the emulator', () => {
  let emulator: Emulator;
  const contexts: TestSimContext[] = [];
  const things: { stop(): Promise<void> }[] = [];

  useTestEmulator((e) => (emulator = e), things, contexts);

  const received = (identity: string) => emulator.stats.identities.get(identity)?.messagesReceived ?? 0;
  const reportedOf = (id: string, module?: string) =>
    ((module === undefined ? emulator.registry.get(id)?.twin : emulator.registry.getModule(id, module)?.twin)?.reported
      .value ?? {}) as Record<string, any>;

  async function edgeDevice(id: string, manifestFile: string, config: (ctx: TestSimContext) => EdgeDeviceConfig) {
    const ctx = testContext(emulator);
    contexts.push(ctx);
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
    return { device: await connectedEdgeDevice(emulator, ctx, things, id, manifest, config(ctx), 5, 15_000), ctx };
  }

  it("protocol translation: every sensor's readings reach the emulator as the module, and the counters reach its twin", async () => {
    const id = `ptgw-${process.pid}`;
    const { device, ctx } = await edgeDevice(id, 'scenarios/manifests/protocol-translation.json', () => ({
      seed: 4,
      modules: {
        ModbusTranslator: {
          behaviour: 'protocol-translation',
          reportInterval: 500,
          sensors: [
            { ...MODBUS, pollInterval: 200, timeoutRate: 0, staleRate: 0 },
            { ...BLE, count: 2, meanInterval: 150, lossRate: 0 },
          ],
        },
      },
    }));
    const sender = `${id}/ModbusTranslator`;
    await until(() => received(sender) >= 30, 15_000, 'translated telemetry');
    const ids = ['plc-1', 'plc-2', 'plc-3', 'plc-4', 'ble-1', 'ble-2'];
    await until(
      () => ids.every((s) => reportedOf(id, 'ModbusTranslator').sensors?.[s]?.readings > 0),
      10_000,
      'counters in the module twin',
    );
    const messages = emulator.stats.identities.get(sender);
    expect(messages?.messagesReceived).toBeGreaterThanOrEqual(30);
    // The module's last sensorId telemetry, as IoT Central's REST shows it, goes round every sensor.
    const seen = new Set<string>();
    for (const deadline = Date.now() + 10_000; Date.now() < deadline && !ids.every((s) => seen.has(s));) {
      const last = await rest(emulator, 'GET', `/api/devices/${id}/modules/ModbusTranslator/telemetry/sensorId`);
      if (last.status === 200) seen.add(last.json.value);
      await new Promise((r) => setTimeout(r, 15));
    }
    expect([...seen].sort()).toEqual([...ids].sort());
    expect(received(id)).toBe(0); // nothing as the device itself: the sensors have no identity
    device.quiesce();
    await until(() => device.pendingAcks === 0, 10_000, 'nothing in flight');
    const l = ctx.metrics.ledger;
    expect(l.generated).toBe(l.acknowledged + l.failed + l.expired + l.dropped);
    expect(l.acknowledged).toBe(received(sender));
  });

  it('identity translation: each sensor is its own device, attached to the device and module, answering commands and desired writes', async () => {
    const id = `itgw-${process.pid}`;
    const sensorIds = [1, 2, 3].map((i) => `${id}-sensor-${i}`);
    const devicesKey = emulator.info.enrollmentGroups.devices.primaryKey;
    const { device, ctx } = await edgeDevice(id, 'scenarios/manifests/identity-translation.json', (ctx) => ({
      seed: 6,
      modules: {
        IdentityTranslator: {
          behaviour: 'identity-translation',
          sensorIds,
          createSensor: (sensorId, gatewayId, moduleId, arrivalAt) =>
            Promise.resolve(
              new SimDevice(
                ctx,
                ctx.target as never,
                { deviceId: sensorId, group: 'sensors', ordinal: 0, arrivalAt, random: Math.random },
                { kind: 'dps-sas', deviceKey: deriveDeviceKey(devicesKey, sensorId) },
                deviceBehaviour(
                  {
                    config: {
                      telemetry: { interval: 200, qos: 1, values: { temperature: { kind: 'constant', value: 21.5 } } },
                      properties: {
                        reported: { serialNumber: { kind: 'constant', value: 'sn-1' } },
                        writable: { ackCode: 200, ackDelay: 0, ackDescription: 'completed' },
                      },
                      commands: { reboot: { status: 200, delay: 0, response: { rebooted: true } } },
                    },
                  },
                  1,
                ),
                undefined,
                { gatewayId, moduleId },
              ),
            ),
        },
      },
    }));
    await until(() => sensorIds.every((s) => received(s) >= 3), 20_000, 'telemetry from every sensor as itself');
    expect(received(`${id}/IdentityTranslator`)).toBe(0);
    for (const s of sensorIds)
      expect(emulator.registry.get(s)?.gateway).toEqual({ iotcGatewayId: id, iotcModuleId: 'IdentityTranslator' });
    const relationships = await rest(emulator, 'GET', `/api/devices/${id}/relationships`);
    expect(relationships.status).toBe(200);
    expect(relationships.json.value.map((r: any) => [r.target, r.iotcModuleId]).sort()).toEqual(
      sensorIds.map((s) => [s, 'IdentityTranslator']),
    );
    const last = await rest(emulator, 'GET', `/api/devices/${sensorIds[0]}/telemetry/temperature`);
    expect(last).toMatchObject({ status: 200, json: { value: 21.5 } });

    const reply = await rest(emulator, 'POST', `/api/devices/${sensorIds[1]}/commands/reboot`, { request: {} });
    expect(reply.json).toMatchObject({ responseCode: 200, response: { rebooted: true } });
    const write = await rest(emulator, 'PATCH', `/api/devices/${sensorIds[2]}/properties`, { targetTemperature: 23.5 });
    expect(write.status).toBeLessThan(300);
    await until(
      () => reportedOf(sensorIds[2]!).targetTemperature?.ac === 200,
      10_000,
      'desired write acknowledged by the sensor',
    );
    expect(reportedOf(sensorIds[2]!).targetTemperature).toMatchObject({ value: 23.5, ac: 200, ad: 'completed' });

    device.quiesce();
    await until(() => device.pendingAcks === 0, 10_000, 'nothing in flight');
    const l = ctx.metrics.ledger;
    expect(l.generated).toBe(l.acknowledged + l.failed + l.expired + l.dropped);
    expect(l.acknowledged).toBe(sensorIds.reduce((n, s) => n + received(s), 0));
    // When the device stops, its sensors disconnect.
    await device.stop();
    expect(ctx.states.get('connected')).toBe(0);
    expect(ctx.states.get('stopped')).toBe(4); // the device and its three sensors
  });
});
