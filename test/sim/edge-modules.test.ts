// Module behaviours on a fake clock, and the pure parts of the IoT Edge runtime: the deployment as edgeAgent
// reads it, edgeHub's configuration, twin merge patches.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { Scheduler } from '../../src/core/scheduler.js';
import { parseDeployment, DeploymentError } from '../../src/sim/edge/edge-agent.js';
import { edgeHubConfig } from '../../src/sim/edge/edge-hub.js';
import { applyMergePatch, mergeDiff } from '../../src/sim/edge/module-identity.js';
import {
  chooseModuleConfig,
  createBehaviour,
  DtdlModule,
  FilterModule,
  PassthroughModule,
  SimulatedTemperatureSensor,
  type ModuleApi,
  type ModuleBehaviour,
} from '../../src/sim/edge/modules/index.js';
import { parseTimeSpanMs } from '../../src/sim/edge/modules/simulated-temperature-sensor.js';
import { Prng } from '../../src/sim/model/random.js';

interface Sent {
  output: string;
  body: any;
  properties: Record<string, string>;
  at: number;
}

let scheduler: Scheduler;

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 });
  scheduler = new Scheduler(() => {}, { now: () => Date.now() });
});
afterEach(() => {
  scheduler.stop();
  vi.useRealTimers();
});

function harness(
  env: Record<string, string> = {},
  seed = 42,
): { api: ModuleApi; sent: Sent[]; reported: Record<string, unknown>[] } {
  const sent: Sent[] = [];
  const reported: Record<string, unknown>[] = [];
  const prng = new Prng(seed);
  const api: ModuleApi = {
    deviceId: 'edge-1',
    moduleId: 'm',
    env,
    scheduler,
    random: () => prng.next(),
    sendOutput: (output, body, properties, intendedAtMs) => {
      const text = Buffer.isBuffer(body)
        ? body.toString('utf8')
        : typeof body === 'string'
          ? body
          : JSON.stringify(body);
      sent.push({ output, body: JSON.parse(text), properties: properties ?? {}, at: intendedAtMs ?? scheduler.now() });
    },
    reportProperties: (patch) => void reported.push(patch),
  };
  return { api, sent, reported };
}

/** Starts a behaviour the way edgeAgent does: the whole desired section first, then start. */
function run(b: ModuleBehaviour, api: ModuleApi, desired: Record<string, unknown> = {}): void {
  b.onDesired?.(desired, 1);
  b.start(api);
}

const msgBuffer = (body: unknown) => Buffer.from(JSON.stringify(body));

describe('SimulatedTemperatureSensor', () => {
  it("sends the sample's message on temperatureOutput at once, then every 5 s by default", () => {
    const { api, sent } = harness();
    run(new SimulatedTemperatureSensor(), api);
    vi.advanceTimersByTime(1);
    expect(sent).toHaveLength(1);
    const m = sent[0]!;
    expect(m.output).toBe('temperatureOutput');
    expect(Object.keys(m.body)).toEqual(['machine', 'ambient', 'timeCreated']);
    expect(m.body.machine.temperature).toBeGreaterThanOrEqual(21 - 0.25);
    expect(m.body.machine.temperature).toBeLessThanOrEqual(21 + 1.25);
    // Pressure follows the temperature linearly: 1 psi at 21 °C, 10 psi at 100 °C.
    expect(m.body.machine.pressure).toBeCloseTo(1 + (m.body.machine.temperature - 21) * (9 / 79), 10);
    expect(m.body.ambient.temperature).toBeGreaterThanOrEqual(20.5);
    expect(m.body.ambient.temperature).toBeLessThan(21.5);
    expect([24, 25, 26]).toContain(m.body.ambient.humidity);
    expect(new Date(m.body.timeCreated).getTime()).toBe(m.at);
    expect(m.properties.sequenceNumber).toBe('1');
    expect(m.properties.batchId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    vi.advanceTimersByTime(4998);
    expect(sent).toHaveLength(1);
    vi.advanceTimersByTime(2);
    expect(sent).toHaveLength(2);
    expect(sent[1]!.at - sent[0]!.at).toBe(5000);
    expect(sent[1]!.properties.sequenceNumber).toBe('2');
    expect(sent[1]!.properties.batchId).toBe(m.properties.batchId);
  });

  it('warms by about 0.5 °C per reading up to 100 °C, then hovers there; 500 readings by default', () => {
    const { api, sent } = harness({}, 7);
    run(new SimulatedTemperatureSensor(), api, { SendInterval: 1 });
    vi.advanceTimersByTime(1000 * 600);
    expect(sent).toHaveLength(500); // MessageCount defaults to 500
    const t = sent.map((s) => s.body.machine.temperature as number);
    // 100 readings: +50 on average (sd about 4.3).
    expect(t[99]! - 21).toBeGreaterThan(35);
    expect(t[99]! - 21).toBeLessThan(65);
    // Past the maximum it wanders by at most ±0.5 a step and stays near it.
    const late = t.slice(300);
    expect(Math.min(...late)).toBeGreaterThan(90);
    expect(Math.max(...late)).toBeLessThan(110);
    for (let i = 301; i < t.length; i++)
      if (t[i - 1]! > 100) expect(Math.abs(t[i]! - t[i - 1]!)).toBeLessThanOrEqual(0.5);
  });

  it('honours MessageCount (negative: unlimited, 0: none) and MessageDelay from env', () => {
    const three = harness({ MessageCount: '3', MessageDelay: '00:00:02' });
    run(new SimulatedTemperatureSensor(), three.api);
    vi.advanceTimersByTime(60_000);
    expect(three.sent).toHaveLength(3);
    expect(three.sent[1]!.at - three.sent[0]!.at).toBe(2000);

    const none = harness({ messagecount: '0' }); // .NET configuration keys ignore case
    run(new SimulatedTemperatureSensor(), none.api);
    vi.advanceTimersByTime(60_000);
    expect(none.sent).toHaveLength(0);

    const unlimited = harness({ MessageCount: '-1' });
    run(new SimulatedTemperatureSensor(), unlimited.api, { SendInterval: 1 });
    vi.advanceTimersByTime(1000 * 700);
    expect(unlimited.sent.length).toBeGreaterThan(600);
  });

  it('follows SendInterval and SendData from its twin, at start and as patches', () => {
    const { api, sent } = harness({ MessageCount: '-1' });
    const sensor = new SimulatedTemperatureSensor();
    run(sensor, api, { SendInterval: 10, SendData: true }); // the twin overrides MessageDelay
    vi.advanceTimersByTime(30_001);
    expect(sent).toHaveLength(4); // 0, 10, 20, 30 s
    sensor.onDesired({ SendInterval: 2 });
    vi.advanceTimersByTime(10_000);
    expect(sent).toHaveLength(9); // 32, 34, 36, 38, 40
    sensor.onDesired({ SendData: false });
    vi.advanceTimersByTime(10_000);
    expect(sent).toHaveLength(9);
    sensor.onDesired({ SendData: 'true' });
    vi.advanceTimersByTime(2_000);
    expect(sent).toHaveLength(10);
    // The machine kept warming while it did not send; the sequence number counts what was sent.
    expect(sent[9]!.properties.sequenceNumber).toBe('10');
  });

  it('starts the machine over on the reset method and on a reset command on its control input', () => {
    const { api, sent } = harness({ MessageCount: '-1' });
    const sensor = new SimulatedTemperatureSensor();
    run(sensor, api, { SendInterval: 1 });
    vi.advanceTimersByTime(60_000);
    expect(sensor.machineTemperature).toBeGreaterThan(35);
    expect(sensor.onMethod('reset')).toEqual({ status: 200 });
    expect(sensor.onMethod('Reboot')).toBeUndefined(); // no handler: the runtime answers 501
    vi.advanceTimersByTime(1000);
    expect(sent.at(-1)!.body.machine.temperature).toBeLessThanOrEqual(22.25);
    vi.advanceTimersByTime(60_000);
    sensor.onInput('control', msgBuffer([{ command: 'reset' }]));
    vi.advanceTimersByTime(1000);
    expect(sent.at(-1)!.body.machine.temperature).toBeLessThanOrEqual(22.25);
    vi.advanceTimersByTime(60_000);
    sensor.onInput('other', msgBuffer({ command: 'reset' }));
    vi.advanceTimersByTime(1000);
    expect(sent.at(-1)!.body.machine.temperature).toBeGreaterThan(35);
  });

  it('is deterministic for a seed', () => {
    const a = harness({}, 99);
    const b = harness({}, 99);
    run(new SimulatedTemperatureSensor(), a.api, { SendInterval: 1 });
    run(new SimulatedTemperatureSensor(), b.api, { SendInterval: 1 });
    vi.advanceTimersByTime(20_000);
    expect(a.sent.map((s) => s.body.machine)).toEqual(b.sent.map((s) => s.body.machine));
  });

  it('reads TimeSpan text as .NET does', () => {
    expect(parseTimeSpanMs('00:00:05')).toBe(5000);
    expect(parseTimeSpanMs('00:01:00.5')).toBe(60_500);
    expect(parseTimeSpanMs('1.00:00:00')).toBe(86_400_000);
    expect(parseTimeSpanMs('2')).toBe(2 * 86_400_000);
    expect(parseTimeSpanMs('soon')).toBeUndefined();
  });
});

describe('filter, passthrough and dtdl modules', () => {
  const fromSensor = {
    '$.cdid': 'edge-1',
    '$.cmid': 'sensor',
    '$.ct': 'application/json',
    '$.ce': 'utf-8',
    batch: 'b1',
  };

  it('filter: forwards what a route-style condition accepts, with its application properties', () => {
    const { api, sent } = harness();
    const f = new FilterModule({
      input: 'input1',
      output: 'alerts',
      condition: "$body.machine.temperature > 25 AND $connectionModuleId = 'sensor'",
    });
    run(f, api);
    f.onInput('input1', msgBuffer({ machine: { temperature: 30 } }), fromSensor);
    f.onInput('input1', msgBuffer({ machine: { temperature: 20 } }), fromSensor);
    f.onInput('input1', msgBuffer({ machine: { temperature: 30 } }), { ...fromSensor, '$.cmid': 'other' });
    f.onInput('input2', msgBuffer({ machine: { temperature: 30 } }), fromSensor);
    expect(sent).toEqual([
      { output: 'alerts', body: { machine: { temperature: 30 } }, properties: { batch: 'b1' }, at: expect.any(Number) },
    ]);
    expect(() => new FilterModule({ condition: '$body.x >' })).toThrow(/filter/);
  });

  it('filter: without a condition, a threshold from desired TemperatureThreshold, env, or 25', () => {
    const { api, sent } = harness({ TEMPERATURE_THRESHOLD: '40' });
    const f = new FilterModule();
    run(f, api);
    f.onInput('any', msgBuffer({ machine: { temperature: 30 } }), fromSensor);
    expect(sent).toHaveLength(0);
    f.onDesired({ TemperatureThreshold: 28 });
    f.onInput('any', msgBuffer({ machine: { temperature: 30 } }), fromSensor);
    expect(sent).toHaveLength(1);
    const g = new FilterModule({ threshold: { path: 'ambient.humidity', below: 25 } });
    const h = harness();
    run(g, h.api);
    g.onInput('x', msgBuffer({ ambient: { humidity: 24 } }), {});
    g.onInput('x', msgBuffer({ ambient: { humidity: 26 } }), {});
    expect(h.sent.map((s) => s.body.ambient.humidity)).toEqual([24]);
  });

  it('passthrough: input to output, body bytes unchanged', () => {
    const { api, sent } = harness();
    const p = new PassthroughModule({ output: 'out' });
    run(p, api);
    p.onInput('whatever', msgBuffer({ a: 1 }), fromSensor);
    expect(sent).toEqual([{ output: 'out', body: { a: 1 }, properties: { batch: 'b1' }, at: expect.any(Number) }]);
    const only = new PassthroughModule({ input: 'in2' });
    const h = harness();
    run(only, h.api);
    only.onInput('in1', msgBuffer({}), {});
    expect(h.sent).toHaveLength(0);
  });

  it('dtdl: what the source produces, on its output at its interval, components in $.sub', () => {
    const { api, sent } = harness();
    let n = 0;
    const d = new DtdlModule({
      output: 'telemetry',
      intervalMs: 1000,
      source: { tick: () => [{ body: { n: n++ } }, { component: 'thermostat1', body: { t: 1 } }] },
    });
    run(d, api);
    vi.advanceTimersByTime(3000);
    expect(sent.length).toBeGreaterThanOrEqual(4);
    expect(sent[0]).toMatchObject({ output: 'telemetry', body: { n: 0 }, properties: {} });
    expect(sent[1]).toMatchObject({ body: { t: 1 }, properties: { '$.sub': 'thermostat1' } });
    d.stop();
    const count = sent.length;
    vi.advanceTimersByTime(3000);
    expect(sent).toHaveLength(count);
  });

  it('chooses a behaviour by configuration, then by image, then the fallback', async () => {
    expect(
      chooseModuleConfig('mcr.microsoft.com/azureiotedge-simulated-temperature-sensor:1.0', undefined).behaviour,
    ).toBe('simulated-temperature-sensor');
    expect(
      chooseModuleConfig('mcr.microsoft.com/azureiotedge-simulated-temperature-sensor:1.0', {
        behaviour: 'passthrough',
      }).behaviour,
    ).toBe('passthrough');
    expect(chooseModuleConfig('example.azurecr.io/other:1', undefined)).toEqual({
      behaviour: 'passthrough',
      output: 'output1',
    });
    expect(await createBehaviour('t', { behaviour: 'simulated-temperature-sensor' }, 1)).toBeInstanceOf(
      SimulatedTemperatureSensor,
    );
    await expect(createBehaviour('d', { behaviour: 'dtdl' }, 1)).rejects.toThrow(/model or a telemetry source/);
    const custom = { start() {}, stop() {} };
    expect(await createBehaviour('c', { behaviour: 'custom', create: () => custom }, 1)).toBe(custom);
  });
});

describe('deployment and edgeHub configuration', () => {
  const desiredOf = (file: string, module: string) =>
    JSON.parse(readFileSync(`test/fixtures/${file}`, 'utf8')).modulesContent[module]['properties.desired'];

  it("reads the seed's and the gateway manifest's $edgeAgent desired properties", () => {
    const seed = parseDeployment(desiredOf('environmental-sensor.manifest.json', '$edgeAgent'));
    expect(seed.modules).toHaveLength(1);
    expect(seed.modules[0]).toMatchObject({
      name: 'SimulatedTemperatureSensor',
      status: 'running',
      restartPolicy: 'always',
      startupOrder: 4294967295,
      image: 'mcr.microsoft.com/azureiotedge-simulated-temperature-sensor:1.0',
    });
    expect(seed.systemModules.edgeHub.image).toBe('mcr.microsoft.com/azureiotedge-hub:1.4');
    const gw = parseDeployment(desiredOf('gateway-filter.manifest.json', '$edgeAgent'));
    const byName = Object.fromEntries(gw.modules.map((m) => [m.name, m]));
    expect(byName.HighTempFilter).toMatchObject({
      startupOrder: 1,
      restartPolicy: 'on-failure',
      env: { TEMPERATURE_THRESHOLD: '25' },
    });
  });

  it('refuses a malformed deployment with the status edgeAgent reports', () => {
    const good = desiredOf('environmental-sensor.manifest.json', '$edgeAgent');
    const code = (d: unknown) => {
      try {
        parseDeployment(d as Record<string, unknown>);
        return 200;
      } catch (err) {
        expect(err).toBeInstanceOf(DeploymentError);
        return (err as DeploymentError).code;
      }
    };
    expect(code(good)).toBe(200);
    expect(code({})).toBe(417);
    expect(code({ ...good, schemaVersion: undefined })).toBe(400);
    expect(code({ ...good, schemaVersion: '2.0' })).toBe(412);
    expect(code({ ...good, modules: { x: { type: 'docker', settings: {} } } })).toBe(400);
    expect(code({ ...good, modules: { x: { settings: { image: 'i' }, status: 'paused' } } })).toBe(400);
    expect(code({ ...good, modules: { x: { settings: { image: 'i' }, startupOrder: -1 } } })).toBe(400);
    expect(code({ ...good, modules: { x: { settings: { image: 'i' }, env: { A: 'bare' } } } })).toBe(400);
    expect(code({ ...good, systemModules: undefined })).toBe(400);
  });

  it('replaces a module when its image, env or version changes, not when only its status does', () => {
    const base = { settings: { image: 'i:1' }, env: { A: { value: 1 } }, version: '1' };
    const fp = (m: object) =>
      parseDeployment({ ...desiredOf('environmental-sensor.manifest.json', '$edgeAgent'), modules: { m } }).modules[0]!
        .fingerprint;
    const f = fp(base);
    expect(fp({ ...base, status: 'stopped' })).toBe(f);
    expect(fp({ ...base, settings: { image: 'i:2' } })).not.toBe(f);
    expect(fp({ ...base, env: { A: { value: 2 } } })).not.toBe(f);
    expect(fp({ ...base, version: '2' })).not.toBe(f);
  });

  it('compiles edgeHub routes with priorities and TTLs, and refuses what edgeHub refuses', () => {
    const c = edgeHubConfig(desiredOf('gateway-filter.manifest.json', '$edgeHub'));
    expect(c.timeToLiveSecs).toBe(7200);
    expect(Object.fromEntries(c.routes.map((r) => [r.name, [r.priority, r.timeToLiveSecs]]))).toEqual({
      sensorToFilter: [2_000_000_000, undefined],
      filterToCloud: [0, 86400],
      modbusToCloud: [1, undefined],
      leafToCloud: [2, 600],
    });
    expect(edgeHubConfig({}).routes.map((r) => r.text)).toEqual(['FROM /* INTO $upstream']);
    expect(() => edgeHubConfig({ schemaVersion: '1.1', routes: { bad: 'FROM /* INTO nowhere' } })).toThrow(/sink/);
    expect(() =>
      edgeHubConfig({ schemaVersion: '1.0', routes: { r: { route: 'FROM /* INTO $upstream', priority: 1 } } }),
    ).toThrow(/1\.1/);
    expect(() => edgeHubConfig({ routes: {} })).toThrow(/schemaVersion/);
    expect(() => edgeHubConfig({ schemaVersion: '1.1', storeAndForwardConfiguration: { timeToLiveSecs: -1 } })).toThrow(
      /timeToLiveSecs/,
    );
  });

  it('diffs and applies twin merge patches', () => {
    const from = { a: 1, b: { c: 2, d: 3 }, gone: true, $version: 4 };
    const to = { a: 1, b: { c: 2, d: 4, e: [1] }, added: 'x' };
    const patch = mergeDiff(from, to)!;
    expect(patch).toEqual({ b: { d: 4, e: [1] }, added: 'x', gone: null });
    const applied: Record<string, unknown> = structuredClone(from);
    applyMergePatch(applied, patch);
    delete applied.$version;
    expect(applied).toEqual(to);
    expect(mergeDiff(to, structuredClone(to))).toBeUndefined();
  });
});
