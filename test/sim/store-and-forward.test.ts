// Store-and-forward against the real emulator: an outage through its admin endpoint takes two IoT Edge devices
// away; edgeHub stores what SimulatedTemperatureSensor sends meanwhile and, once back, forwards it in order
// (or lets it expire, with a 2 s route TTL), and the ledger accounts for every message.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Emulator } from '../../src/emulator/index.js';
import { SimEdgeDevice } from '../../src/sim/edge/edge-device.js';
import { rest } from '../support/emulator.js';
import { connectedEdgeDevice, testContext, useTestEmulator, type TestSimContext } from '../support/sim-context.js';
import { until } from '../support/wait.js';

let emulator: Emulator;
const contexts: TestSimContext[] = [];
const devices: SimEdgeDevice[] = [];

useTestEmulator((e) => (emulator = e), devices, contexts);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SENSOR = 'SimulatedTemperatureSensor';

/** The seed's manifest with a sensor sending every 100 ms, and `routes` for edgeHub (schema 1.1). */
function manifest(routes: Record<string, unknown>): any {
  const m = JSON.parse(readFileSync('test/fixtures/environmental-sensor.manifest.json', 'utf8'));
  m.modulesContent[SENSOR]['properties.desired'].SendInterval = 0.1;
  m.modulesContent.$edgeHub['properties.desired'] = {
    schemaVersion: '1.1',
    routes,
    storeAndForwardConfiguration: { timeToLiveSecs: 7200 },
  };
  return m;
}

async function edgeDevice(id: string, data: unknown): Promise<{ device: SimEdgeDevice; ctx: TestSimContext }> {
  const ctx = testContext(emulator);
  contexts.push(ctx);
  return { device: await connectedEdgeDevice(emulator, ctx, devices, id, data, { modules: {} }, 7), ctx };
}

const received = (identity: string) => emulator.stats.identities.get(identity)?.messagesReceived ?? 0;
const receivedFrom = (id: string) =>
  [...emulator.stats.identities]
    .filter(([k]) => k === id || k.startsWith(`${id}/`))
    .reduce((n, [, s]) => n + s.messagesReceived, 0);

/** The sensor's `timeCreated` of every message the emulator takes from `id`'s sensor, in arrival order. */
function watchArrivals(id: string): string[] {
  const seen: string[] = [];
  const telemetry = emulator.registry.get(id)!.lastTelemetry;
  const set = telemetry.set.bind(telemetry);
  telemetry.set = (key, value) => {
    if (key === `${SENSOR}||timeCreated`) seen.push(value.value as string);
    return set(key, value);
  };
  return seen;
}

function balanced(ctx: TestSimContext, device: SimEdgeDevice): void {
  const l = ctx.metrics.ledger;
  expect(l.generated).toBe(l.acknowledged + l.failed + l.expired + l.dropped + device.pendingAcks);
}

describe('store-and-forward through an outage', () => {
  it('stores during the outage, then delivers in order (or expires by the route TTL), every message accounted', async () => {
    const sf = await edgeDevice(
      'sf-keep',
      manifest({ toCloud: { route: 'FROM /messages/* INTO $upstream', priority: 1 } }),
    );
    const ttl = await edgeDevice(
      'sf-ttl',
      manifest({ toCloud: { route: 'FROM /messages/* INTO $upstream', priority: 0, timeToLiveSecs: 2 } }),
    );
    await until(
      () => received(`sf-keep/${SENSOR}`) >= 5 && received(`sf-ttl/${SENSOR}`) >= 5,
      10_000,
      'live telemetry',
    );
    const arrivals = watchArrivals('sf-keep');
    const beforeWatch = received(`sf-keep/${SENSOR}`);

    const outage = await rest(emulator, 'POST', '/admin/outages', {
      deviceIds: ['sf-keep', 'sf-ttl'],
      durationMs: 4000,
    });
    expect(outage.status).toBe(202);
    expect(outage.json.closed).toBeGreaterThanOrEqual(6); // $edgeAgent, $edgeHub and the sensor of each
    await until(() => sf.ctx.metrics.ledger.stored > 0 && ttl.ctx.metrics.ledger.stored > 0, 5000, 'messages stored');
    const during = receivedFrom('sf-keep');
    await sleep(2500);
    expect(receivedFrom('sf-keep')).toBe(during); // nothing reaches the cloud during the outage
    expect(sf.ctx.metrics.ledger.stored).toBeGreaterThan(15);
    expect(sf.device.storedCount).toBe(sf.ctx.metrics.ledger.stored);
    expect(emulator.stats.rejections.outage).toBeGreaterThan(0); // reconnects were refused with CONNACK 3
    // The 2 s TTL runs out while stored: expired, counted, never sent.
    await until(() => ttl.ctx.metrics.ledger.expired > 0, 3000, 'TTL expiry');
    balanced(sf.ctx, sf.device);
    balanced(ttl.ctx, ttl.device);

    // Back: the backlog goes first, then live traffic.
    await until(
      () => sf.ctx.metrics.ledger.stored === 0 && sf.ctx.metrics.ledger.deliveredLate > 0,
      30_000,
      'backlog delivered',
    );
    await until(() => ttl.ctx.metrics.ledger.stored === 0 && ttl.device.state === 'connected', 30_000, 'sf-ttl back');
    const late = sf.ctx.metrics.ledger.deliveredLate;
    await until(() => received(`sf-keep/${SENSOR}`) > during + late + 5, 10_000, 'live traffic after the backlog');

    // Stop the sensors and let everything settle.
    for (const id of ['sf-keep', 'sf-ttl']) {
      await rest(emulator, 'PATCH', `/api/devices/${id}/modules/${SENSOR}/properties`, { SendData: false });
    }
    await until(() => sf.device.pendingAcks === 0 && ttl.device.pendingAcks === 0, 10_000, 'settled');
    await sleep(300);
    await until(() => sf.device.pendingAcks === 0 && ttl.device.pendingAcks === 0, 10_000, 'settled');

    const l = sf.ctx.metrics.ledger;
    balanced(sf.ctx, sf.device);
    expect(l.expired).toBe(0);
    expect(l.stored).toBe(0);
    // At least once: every acknowledged message arrived; one on the wire when the connection went may arrive twice.
    const got = received(`sf-keep/${SENSOR}`);
    expect(got).toBeGreaterThanOrEqual(l.acknowledged);
    expect(got).toBeLessThanOrEqual(l.acknowledged + l.failed + l.resent);
    expect(l.failed).toBeLessThanOrEqual(2);
    // In order: creation times only go forward, backlog then live, at the sensor's pace.
    expect(arrivals.length).toBe(got - beforeWatch);
    for (let i = 1; i < arrivals.length; i++)
      expect(Date.parse(arrivals[i]!)).toBeGreaterThan(Date.parse(arrivals[i - 1]!));
    expect(arrivals.length).toBeGreaterThan(late);

    const t = ttl.ctx.metrics.ledger;
    balanced(ttl.ctx, ttl.device);
    expect(t.stored).toBe(0);
    expect(t.expired).toBeGreaterThan(10);
    expect(received(`sf-ttl/${SENSOR}`)).toBeGreaterThanOrEqual(t.acknowledged);
  }, 60_000);

  it('holds the upstream down on the client side (targets other than the emulator), then forwards the backlog', async () => {
    const { device, ctx } = await edgeDevice('sf-client', manifest({ toCloud: 'FROM /messages/* INTO $upstream' }));
    await until(() => received(`sf-client/${SENSOR}`) >= 3, 10_000, 'live telemetry');
    const refusedBefore = emulator.stats.rejections.outage;
    device.holdUpstreamDown(1500);
    await until(() => ctx.metrics.ledger.stored > 3, 5000, 'messages stored');
    const during = receivedFrom('sf-client');
    await sleep(800);
    expect(receivedFrom('sf-client')).toBe(during);
    expect(device.state).not.toBe('connected');
    await until(
      () => device.state === 'connected' && ctx.metrics.ledger.stored === 0 && ctx.metrics.ledger.deliveredLate > 0,
      20_000,
      'back and drained',
    );
    expect(emulator.stats.rejections.outage).toBe(refusedBefore); // nothing reached the emulator to be refused
    await rest(emulator, 'PATCH', `/api/devices/sf-client/modules/${SENSOR}/properties`, { SendData: false });
    await until(() => device.pendingAcks === 0, 10_000, 'settled');
    balanced(ctx, device);
    const l = ctx.metrics.ledger;
    expect(received(`sf-client/${SENSOR}`)).toBeGreaterThanOrEqual(l.acknowledged);
    expect(l.expired).toBe(0);
  }, 40_000);

  it('refuses a malformed outage request, naming what was expected', async () => {
    const bad = await rest(emulator, 'POST', '/admin/outages', { deviceIds: ['x'], durationMs: 'soon' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.json)).toContain('durationMs');
    const nobody = await rest(emulator, 'POST', '/admin/outages', { durationMs: 1000 });
    expect(nobody.status).toBe(400);
    expect(JSON.stringify(nobody.json)).toContain('deviceIds');
  });
});
