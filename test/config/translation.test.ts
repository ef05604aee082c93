// The scenario shapes of the protocol-translation and identity-translation module behaviours, and their errors.
import { describe, expect, it } from 'vitest';
import { loadScenario } from '../../src/config/load.js';
import { configError, scenarioDir, write } from './helpers.js';

const edgeGroup = (modules: string) =>
  [
    'name: x',
    'fleet:',
    '  - group: gw',
    '    kind: iotEdge',
    '    count: 2',
    '    idPattern: "gw-{index}"',
    '    manifest: ./manifests/gateway.json',
    '    modules:',
    '      ModbusTranslator:',
    ...modules.split('\n').map((l) => `        ${l}`),
    '',
  ].join('\n');

const PROTOCOL = [
  'behaviour: protocol-translation',
  'sensors:',
  '  - kind: modbus',
  '    count: 4',
  "    idPattern: 'plc-{index}'",
  '    pollInterval: 5s',
  '    registers: { temperature: { kind: sine, min: 20, max: 80, periodSeconds: 300 }, pressure: { kind: uniform, min: 1, max: 2 } }',
  '    timeoutRate: 0.02',
  '    staleRate: 0.05',
  '  - kind: ble',
  '    count: 6',
  '    meanInterval: 8s',
  '    values: { batteryLevel: { kind: uniform, min: 0, max: 100 }, rssi: { kind: uniform, min: -90, max: -40 } }',
  '    lossRate: 0.1',
].join('\n');

const IDENTITY = [
  'behaviour: identity-translation',
  'sensors:',
  '  count: 3',
  "  idPattern: '{gateway}-sensor-{index}'",
  '  model: ./models/thermostat.json',
  '  telemetry: { interval: 2s }',
  '  commands: { reboot: { response: { ok: true } } }',
].join('\n');

describe('protocol-translation in a scenario', () => {
  it('loads the documented shape, with durations in ms and defaults applied', async () => {
    const dir = await scenarioDir();
    const loaded = await loadScenario(await write(dir, 's.yaml', edgeGroup(PROTOCOL)));
    const group = loaded.groups[0]!;
    expect(group.kind).toBe('iotEdge');
    const module = group.kind === 'iotEdge' ? group.modules.find((m) => m.name === 'ModbusTranslator') : undefined;
    expect(module?.behaviour).toMatchObject({
      behaviour: 'protocol-translation',
      output: 'telemetry',
      reportInterval: 30_000,
      sensors: [
        { kind: 'modbus', count: 4, idPattern: 'plc-{index}', pollInterval: 5000, timeoutRate: 0.02, staleRate: 0.05 },
        { kind: 'ble', count: 6, idPattern: '{kind}-{index}', meanInterval: 8000, lossRate: 0.1 },
      ],
    });
  });

  it('refuses a rate above 1, an unknown sensor kind and two entries making the same sensor ids', async () => {
    const dir = await scenarioDir();
    const bad = [
      'behaviour: protocol-translation',
      'sensors:',
      '  - { kind: modbus, count: 2, pollInterval: 1s, registers: { t: { kind: constant, value: 1 } }, timeoutRate: 1.5 }',
      '  - { kind: zigbee, count: 1 }',
    ].join('\n');
    const file = await write(dir, 's.yaml', edgeGroup(bad));
    const error = await configError(() => loadScenario(file));
    expect(error.message).toContain(
      `${file}: fleet[0].modules.ModbusTranslator.sensors[0].timeoutRate: expected a number from 0 to 1`,
    );
    expect(error.message).toContain(
      'fleet[0].modules.ModbusTranslator.sensors[1].kind: expected kind to be one of modbus | ble',
    );

    const clash = [
      'behaviour: protocol-translation',
      'sensors:',
      "  - { kind: modbus, count: 2, idPattern: 's-{index}', registers: { t: { kind: constant, value: 1 } } }",
      "  - { kind: ble, count: 2, idPattern: 's-{index}', values: { t: { kind: constant, value: 1 } } }",
    ].join('\n');
    const file2 = await write(dir, 's2.yaml', edgeGroup(clash));
    const error2 = await configError(() => loadScenario(file2));
    expect(error2.message).toContain(
      'fleet[0].modules.ModbusTranslator.sensors[1].idPattern: sensor id "s-1" is also made by sensors[0]',
    );
  });
});

describe('identity-translation in a scenario', () => {
  it('loads the documented shape with its model resolved', async () => {
    const dir = await scenarioDir();
    const loaded = await loadScenario(await write(dir, 's.yaml', edgeGroup(IDENTITY)));
    const group = loaded.groups[0]!;
    const module = group.kind === 'iotEdge' ? group.modules.find((m) => m.name === 'ModbusTranslator') : undefined;
    expect(module?.behaviour).toMatchObject({
      behaviour: 'identity-translation',
      sensors: { count: 3, idPattern: '{gateway}-sensor-{index}', telemetry: { interval: 2000 } },
    });
    expect(module?.model?.json).toMatchObject({ '@id': 'dtmi:com:example:Thermostat;1' });
  });

  it('refuses a pattern without {gateway}, and sensor ids that collide with planned devices', async () => {
    const dir = await scenarioDir();
    const noGateway = await write(
      dir,
      's.yaml',
      edgeGroup(IDENTITY.replace("'{gateway}-sensor-{index}'", "'sensor-{index}'")),
    );
    expect((await configError(() => loadScenario(noGateway))).message).toContain(
      'fleet[0].modules.ModbusTranslator.sensors.idPattern: expected {gateway} in the pattern',
    );
    const colliding =
      edgeGroup(IDENTITY) + '  - { group: plain, kind: device, count: 1, idPattern: "gw-1-sensor-{index}" }\n';
    const collidingFile = await write(dir, 'c.yaml', colliding);
    const error = await configError(() => loadScenario(collidingFile));
    expect(error.message).toContain(
      'device id "gw-1-sensor-1" of group "plain" is also an id of group "gw/ModbusTranslator"',
    );
  });

  it('refuses sensor ids that DPS would not accept as registration ids', async () => {
    const dir = await scenarioDir();
    const file = await write(
      dir,
      's.yaml',
      edgeGroup(IDENTITY.replace("'{gateway}-sensor-{index}'", "'{gateway}/sensor-{index}'")),
    );
    expect((await configError(() => loadScenario(file))).message).toContain(
      'fleet[0].modules.ModbusTranslator.sensors.idPattern: device id "gw-1/sensor-3" is not a valid DPS registration id',
    );
  });

  it('is refused against the mqtt target with the IoT Edge group that hosts it, naming the group', async () => {
    const dir = await scenarioDir();
    const text = edgeGroup(IDENTITY).replace('fleet:', 'targets:\n  mqtt: { host: localhost }\nfleet:');
    const file = await write(dir, 's.yaml', text);
    const error = await configError(() => loadScenario(file, { target: 'mqtt' }));
    expect(error.message).toContain(`${file}: fleet[0].kind: IoT Edge devices need an Azure target`);
    expect(error.message).toContain(
      'which an MQTT broker (from --target) does not have; use the emulator or iot-central target',
    );
  });
});
