// The exported k6 script's VU code, run on the test's k6 harness (test/exports/k6-harness.ts) against the real
// emulator: every device registers through DPS (polling as retry-after says), connects, sends telemetry the emulator
// keeps (last values over its REST API, counts in /stats), answers a command and acknowledges a property write
// as the scenario says; the script's own metrics agree with what the emulator received.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/index.js';
import { writeK6Export } from '../../src/exports/k6-write.js';
import { caOf, rest, startTestEmulator, stats } from '../support/emulator.js';
import { runK6Script, type HarnessResult, type Sample } from './k6-harness.js';

const FIXTURE = 'test/exports/fixtures/k6-fleet.yaml';
const DEVICES = ['k6-modelled-01', 'k6-modelled-02', 'k6-modelled-03', 'k6-generated-1', 'k6-generated-2'];

let emulator: Emulator;
let out: string;
let result: HarnessResult;
const during: { reboot?: any; report?: any; write?: number; componentWrite?: number } = {};

const total = (samples: Sample[] | undefined): number => (samples ?? []).reduce((n, s) => n + s.value, 0);

/** Once a device has sent its reported properties (so it listens for commands and desired properties). */
async function ready(id: string, until: number): Promise<void> {
  while (Date.now() < until) {
    const props = await rest(emulator, 'GET', `/api/devices/${id}/properties`);
    if (props.status === 200 && props.json.firmwareVersion !== undefined) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${id} did not report its properties before the end of the run`);
}

/** While the devices run: a command each way and a property write, through the emulator's REST API. */
async function actWhileRunning(until: number): Promise<void> {
  const device = '/api/devices/k6-modelled-02';
  await ready('k6-modelled-02', until);
  during.reboot = (await rest(emulator, 'POST', `${device}/commands/reboot`, { request: {} })).json;
  during.report = (await rest(emulator, 'POST', `${device}/commands/getMaxMinReport`, { request: {} })).json;
  during.write = (await rest(emulator, 'PATCH', `${device}/properties`, { targetTemperature: 21.5 })).status;
  during.componentWrite = (await rest(emulator, 'PATCH', `${device}/components/probe/properties`, { rate: 5 })).status;
}

beforeAll(async () => {
  emulator = await startTestEmulator({ dpsRetryAfterSeconds: 1 });
  out = await mkdtemp(path.join(tmpdir(), 'edgefleet-k6-run-'));
  const written = await writeK6Export({ scenario: FIXTURE, out, target: 'emulator' });
  const info = emulator.info;
  const running = runK6Script(path.join(out, 'k6-fleet.k6.ts'), {
    env: {
      EDGEFLEET_ID_SCOPE: info.idScope,
      EDGEFLEET_DEVICES_KEY: info.enrollmentGroups.devices.primaryKey,
      EDGEFLEET_DPS_HOST: 'localhost',
      EDGEFLEET_DPS_PORT: String(info.mqttPort),
    },
    ca: caOf(emulator),
    // One more iteration than the fleet has devices, as k6's pacing may start.
    iterations: written.devices + 1,
    gapMs: 100,
  });
  // The fixture runs 10 s; what the service does must be done before then (the devices stop at the end).
  [result] = await Promise.all([running, actWhileRunning(Date.now() + 8_000)]);
}, 60_000);

afterAll(async () => {
  await emulator?.close();
  await rm(out, { recursive: true, force: true });
});

describe('an exported k6 script on the harness, against the emulator', () => {
  it('provisions every device through DPS and connects each once, with no error', () => {
    expect(result.connectErrors).toEqual([]);
    expect(result.samples.get('provision')).toHaveLength(DEVICES.length);
    expect(result.samples.get('connect')).toHaveLength(DEVICES.length);
    expect(result.samples.get('twinGet')).toHaveLength(DEVICES.length);
    expect(result.samples.get('error_count')).toEqual([]);
    expect(result.samples.get('errors')!.every((s) => s.value === 0)).toBe(true);
  });

  it('registers the devices with the model id from the scenario', async () => {
    const modelled = await rest(emulator, 'GET', '/api/devices/k6-modelled-01');
    expect(modelled.json).toMatchObject({ provisioned: true, template: 'dtmi:edgefleet:test:EverySchema;1' });
    const plain = await rest(emulator, 'GET', '/api/devices/k6-generated-1');
    expect(plain.json.provisioned).toBe(true);
    expect(plain.json.template).toBeUndefined();
  });

  it('sends telemetry the emulator received, every message acknowledged and counted once', async () => {
    const generated = total(result.samples.get('ledger_generated'));
    const acknowledged = total(result.samples.get('ledger_acknowledged'));
    expect(generated).toBeGreaterThanOrEqual(DEVICES.length * 2);
    expect(acknowledged).toBe(generated);
    expect(total(result.samples.get('ledger_failed'))).toBe(0);
    expect(result.samples.get('telemetry')).toHaveLength(acknowledged);
    const identities = (await stats(emulator)).identities as Record<string, { messagesReceived: number }>;
    for (const id of DEVICES) expect(identities[id]?.messagesReceived, id).toBeGreaterThan(0);
    const received = DEVICES.reduce((n, id) => n + identities[id]!.messagesReceived, 0);
    expect(received).toBe(acknowledged);
  });

  it('draws values as the scenario and the model say', async () => {
    const last = async (id: string, name: string) =>
      (await rest(emulator, 'GET', `/api/devices/${id}/telemetry/${name}`)).json.value;
    expect(await last('k6-generated-1', 'level')).toBe(3);
    expect(['low', 'high']).toContain(await last('k6-generated-2', 'phase'));
    expect(await last('k6-generated-1', 'dice')).toSatisfy((v: number) => Number.isInteger(v) && v >= 1 && v <= 6);
    expect(typeof (await last('k6-generated-1', 'city'))).toBe('string');
    expect(await last('k6-modelled-01', 'count')).toSatisfy((v: number) => Number.isInteger(v) && v >= 0 && v <= 10);
    expect(['eco', 'boost']).toContain(await last('k6-modelled-01', 'mode'));
    const stats = await last('k6-modelled-03', 'stats');
    expect(stats.minTemp).toBeLessThanOrEqual(stats.avgTemp);
    expect(stats.avgTemp).toBeLessThanOrEqual(stats.maxTemp);
    expect(await last('k6-modelled-01', 'location')).toMatchObject({ type: 'Point' });
    expect(await last('k6-modelled-01', 'requestId')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/);
    const props = await rest(emulator, 'GET', '/api/devices/k6-generated-1/properties');
    expect(props.json.site).toBe('lab');
    // A component's telemetry (sent with $.sub) and read-only properties (reported inside the component).
    const probe = '/api/devices/k6-modelled-01/components/probe';
    expect((await rest(emulator, 'GET', `${probe}/telemetry/humidity`)).json.value).toSatisfy(
      (v: number) => v >= 30 && v <= 70,
    );
    expect(typeof (await rest(emulator, 'GET', `${probe}/properties`)).json.serialNumber).toBe('string');
  });

  it('answers commands with the configured status and response, or one drawn from the model', () => {
    expect(during.reboot).toMatchObject({ responseCode: 202, response: { rebooting: true } });
    expect(during.report.responseCode).toBe(200);
    expect(during.report.response.minTemp).toBeLessThanOrEqual(during.report.response.maxTemp);
    expect(total(result.samples.get('commands_answered'))).toBe(2);
  });

  it('acknowledges a desired property write with the configured code and description', async () => {
    expect(during.write).toBe(202);
    const props = await rest(emulator, 'GET', '/api/devices/k6-modelled-02/properties');
    expect(props.json.targetTemperature).toBe(21.5);
    expect(props.json.$metadata.targetTemperature).toMatchObject({ ackCode: 200, ackDescription: 'applied' });
    expect(during.componentWrite).toBe(202);
    const probe = await rest(emulator, 'GET', '/api/devices/k6-modelled-02/components/probe/properties');
    expect(probe.json.rate).toBe(5);
    expect(probe.json.$metadata.rate).toMatchObject({ ackCode: 200, ackDescription: 'applied' });
    expect(total(result.samples.get('desired_acknowledged'))).toBeGreaterThanOrEqual(2);
  });
});
