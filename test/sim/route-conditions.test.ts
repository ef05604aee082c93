// Route conditions end to end: one simulated IoT Edge device against the real emulator runs
// SimulatedTemperatureSensor (20 readings: a JSON body with numbers, an object and the timeCreated date;
// sequenceNumber and batchId properties) and a protocol translator (a JSON body with strings: sensorId "plc-1",
// sensorKind "modbus"). Every condition has a route of its own into a passthrough module whose output goes upstream,
// so what reaches the emulator, counted per module identity in /stats, says how often the engine found the
// condition true. The expected outcomes are edgeHub's (Azure/iotedge 55353a649ea9d624a684428fab2d925a81bcda07,
// edge-hub/core/src/Microsoft.Azure.Devices.Routing.Core/query/; test/sim/route-builtins.test.ts cites the file
// for each function).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Emulator } from '../../src/emulator/index.js';
import type { SimEdgeDevice } from '../../src/sim/edge/edge-device.js';
import { rest } from '../support/emulator.js';
import {
  connectedEdgeDevice,
  testContext,
  until,
  useTestEmulator,
  type TestSimContext,
} from '../support/sim-context.js';

let emulator: Emulator;
const contexts: TestSimContext[] = [];
const devices: SimEdgeDevice[] = [];
useTestEmulator((e) => (emulator = e), devices, contexts);

const DEVICE = `routes-${process.pid}`;
const READINGS = 20;
const SENSOR = 'SimulatedTemperatureSensor';
const TRANSLATOR = 'Translator';

type Source = typeof SENSOR | typeof TRANSLATOR;
interface Case {
  source: Source;
  condition: string;
  passes: boolean;
}
const ALL = true;
const NONE = false;
const sensor = (condition: string, passes: boolean): Case => ({ source: SENSOR, condition, passes });
const translator = (condition: string, passes: boolean): Case => ({ source: TRANSLATOR, condition, passes });

const CASES: Case[] = [
  // SimulatedTemperatureSensor:
  // {"machine":{"temperature":…,"pressure":…},"ambient":{"temperature":…,"humidity":24…26},"timeCreated":…}
  sensor('IS_DEFINED($body.machine.temperature)', ALL),
  sensor('IS_DEFINED($body.missing)', ALL), // a missing path is null, and defined
  sensor('NOT IS_DEFINED($body.missing)', NONE),
  sensor('$body.missing = null', ALL),
  sensor('IS_NULL($body.missing)', NONE), // edgeHub's reference comparison
  sensor('IS_NULL($body.machine.temperature)', ALL),
  sensor('IS_DEFINED($body.machine)', NONE), // an object
  sensor('IS_BOOL($body.machine)', NONE),
  sensor('NOT IS_DEFINED($body.timeCreated)', ALL), // Newtonsoft reads a date
  sensor('LENGTH($body.timeCreated) > 0', NONE),
  sensor("STARTS_WITH($body.timeCreated, '20')", NONE),
  sensor('IS_STRING($body.timeCreated)', NONE),
  sensor("($body.timeCreated ?? 'none') = 'none'", ALL),
  sensor('IS_NUMBER($body.ambient.humidity)', ALL),
  sensor('$body.machine.temperature > 0 AND $body.ambient.humidity >= 24', ALL),
  sensor('ABS($body.machine.pressure) >= 0', ALL),
  sensor('FLOOR($body.ambient.humidity) = $body.ambient.humidity', ALL),
  sensor('POWER($body.ambient.humidity, 2) = SQUARE($body.ambient.humidity)', ALL),
  sensor('SIGN($body.ambient.humidity) = 1 AND SQRT($body.ambient.humidity) > 4', ALL),
  sensor('$body.machine.temperature * 0 = 0', ALL),
  sensor("$body.machine.temperature < 'a'", ALL), // numbers order before strings
  sensor("$body.machine.temperature = '21'", NONE),
  sensor('$body.machine.temperature AND true', NONE), // a number is no bool
  sensor('AS_NUMBER(sequenceNumber) >= 1', ALL),
  sensor('LENGTH(batchId) = 36 AND IS_STRING(batchId)', ALL),
  sensor('IS_DEFINED(missingProperty)', NONE),
  sensor("STARTS_WITH($connectionModuleId, 'Simulated') AND $outputName = 'temperatureOutput'", ALL),
  sensor(`CONCAT($connectionDeviceId, '/', $connectionModuleId) = '${DEVICE}/${SENSOR}'`, ALL),
  sensor("$contentType = 'application/json' AND {$contentEncoding} = 'utf-8'", ALL),
  sensor("$edgeHubOriginInterface = 'internal'", ALL),
  sensor("$edgeHubOriginInterface = 'downstream'", NONE),
  // The translator: {"sensorId":"plc-1","sensorKind":"modbus","temperature":21.5}, the same two as properties.
  translator('LENGTH($body.sensorKind) = 6', ALL),
  translator("STARTS_WITH($body.sensorId, 'plc-')", ALL),
  translator("STARTS_WITH($body.sensorId, 'PLC')", NONE), // ordinal
  translator("ENDS_WITH($body.sensorKind, 'bus') AND CONTAINS($body.sensorId, 'c-')", ALL),
  translator("UPPER($body.sensorKind) = 'MODBUS'", ALL),
  translator("LOWER(CONCAT($body.sensorId, '-X')) = 'plc-1-x'", ALL),
  translator("SUBSTRING($body.sensorId, 0, 3) = 'plc'", ALL),
  translator("INDEX_OF($body.sensorId, '-') = 3", ALL),
  translator("$body.sensorKind || '!' = 'modbus!'", ALL),
  translator('$body.sensorKind = sensorKind AND IS_STRING($body.sensorId)', ALL),
  translator('IS_NUMBER($body.sensorKind)', NONE),
  translator('LENGTH($body.missing) >= 0', NONE),
];

const counter = (i: number) => `Case${String(i + 1).padStart(2, '0')}`;

const module = (image: string, startupOrder: number) => ({
  type: 'docker',
  status: 'running',
  restartPolicy: 'always',
  version: '1.0',
  startupOrder,
  settings: { image, createOptions: '{}' },
});

function manifest(): unknown {
  const modules: Record<string, unknown> = {
    // Sources start after the passthrough modules are up (startupOrder), so none of their messages is missed.
    [SENSOR]: {
      ...module('mcr.microsoft.com/azureiotedge-simulated-temperature-sensor:1.5', 1),
      env: { MessageCount: { value: String(READINGS) } },
    },
    [TRANSLATOR]: module('example.azurecr.io/translator:1.0', 1),
  };
  const routes: Record<string, string> = {
    sensorUp: `FROM /messages/modules/${SENSOR}/* INTO $upstream`,
    translatorUp: `FROM /messages/modules/${TRANSLATOR}/* INTO $upstream`,
  };
  CASES.forEach((c, i) => {
    const name = counter(i);
    modules[name] = module('example.azurecr.io/passthrough:1.0', 0);
    const into = `BrokeredEndpoint("/modules/${name}/inputs/in")`;
    routes[`${name}In`] = `FROM /messages/modules/${c.source}/* WHERE ${c.condition} INTO ${into}`;
    routes[`${name}Up`] = `FROM /messages/modules/${name}/outputs/* INTO $upstream`;
  });
  const fixture = JSON.parse(readFileSync('test/fixtures/gateway-filter.manifest.json', 'utf8'));
  const agent = fixture.modulesContent.$edgeAgent['properties.desired'];
  const hub = { schemaVersion: '1.1', routes, storeAndForwardConfiguration: { timeToLiveSecs: 7200 } };
  return {
    modulesContent: {
      $edgeAgent: { 'properties.desired': { ...agent, modules } },
      $edgeHub: { 'properties.desired': hub },
      [SENSOR]: { 'properties.desired': { SendData: true, SendInterval: 0.05 } },
    },
  };
}

const PLC = {
  kind: 'modbus',
  count: 1,
  idPattern: 'plc-{index}',
  pollInterval: 50,
  registers: { temperature: { kind: 'constant', value: 21.5 } },
} as const;

describe('route conditions on module messages, through the engine, counted by the emulator', () => {
  it('passes every message for the conditions edgeHub finds true and none for the others', async () => {
    const ctx = testContext(emulator);
    contexts.push(ctx);
    await connectedEdgeDevice(
      emulator,
      ctx,
      devices,
      DEVICE,
      manifest(),
      {
        seed: 3,
        modules: { [TRANSLATOR]: { behaviour: 'protocol-translation', reportInterval: 60_000, sensors: [PLC] } },
      },
      5,
      15_000,
    );

    const received = (name: string) => emulator.stats.identities.get(`${DEVICE}/${name}`)?.messagesReceived ?? 0;
    const passing = (source: Source) => CASES.flatMap((c, i) => (c.source === source && c.passes ? [counter(i)] : []));
    // Every sensor reading, and a good number of translated ones, through every route that takes them.
    const settled = () =>
      received(SENSOR) === READINGS &&
      passing(SENSOR).every((name) => received(name) === READINGS) &&
      received(TRANSLATOR) >= 20 &&
      passing(TRANSLATOR).every((name) => received(name) >= 10);
    await until(settled, 20_000, 'the routes to deliver').catch(() => {}); // the table below says what is missing

    const stats: Record<string, { messagesReceived: number }> = (await rest(emulator, 'GET', '/stats')).json.identities;
    const count = (name: string) => stats[`${DEVICE}/${name}`]?.messagesReceived ?? 0;
    expect(count(SENSOR)).toBe(READINGS);
    const translated = count(TRANSLATOR);
    expect(translated).toBeGreaterThanOrEqual(20);
    const all = (c: Case, n: number) => (c.source === SENSOR ? n === READINGS : n >= 10 && n <= translated);
    const outcome = (c: Case, n: number) => (all(c, n) ? 'every message' : n === 0 ? 'none' : `${n}`);
    const got = CASES.map((c, i) => `${c.condition} → ${outcome(c, count(counter(i)))}`);
    const want = CASES.map((c) => `${c.condition} → ${c.passes ? 'every message' : 'none'}`);
    expect(got).toEqual(want);
  });
});
