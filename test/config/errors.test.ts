// Bad files: every problem of a file at once, each naming the file, the path inside it and what was expected.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProfile, loadScenario, validateFile } from '../../src/config/load.js';
import { configError, FIXTURES, scenarioDir, write } from './helpers.js';

const fixture = (name: string) => path.relative(process.cwd(), path.join(FIXTURES, name));

describe('a scenario with several mistakes', () => {
  it('reports all of them, one per line, with file, path, expectation and line', async () => {
    const file = fixture('bad-scenario.yaml');
    const error = await configError(() => loadScenario(file));
    const lines = error.message.split('\n');
    expect(lines).toEqual([
      `${file}: name: expected a name of lowercase letters, digits and -, got "Bad Scenario" (line 2, column 7)`,
      `${file}: fleet[0].count: expected a whole number >= 1, got "ten" (line 6, column 12)`,
      `${file}: fleet[0].telemetry.interval: expected a duration such as "30s", "1m30s", "250ms", "2h", or a number of seconds, got "5x" (line 9, column 17)`,
      `${file}: fleet[0].telemetry.values.temperature.kind: expected kind to be one of constant | sine | randomWalk | step | uniform | faker | poisson, got "sin" (line 11, column 30)`,
      `${file}: fleet[0].telemetry.qos: expected one of 0 | 1, got 2 (line 12, column 12)`,
      `${file}: fleet[0]: unknown key "colour" (line 13, column 5)`,
      `${file}: fleet[1]: unknown key "manifest" (only for kind: iotEdge) (line 17, column 5)`,
    ]);
    expect(error.problems).toHaveLength(7);
    expect(error.problems[1]).toMatchObject({ file, path: 'fleet[0].count', line: 6, column: 12 });
  });

  it('says what is required when a field is missing', async () => {
    const dir = await scenarioDir();
    const file = await write(
      dir,
      's.yaml',
      'name: x\nfleet:\n  - group: a\n    count: 1\n  - kind: device\n    group: b\n',
    );
    const error = await configError(() => loadScenario(file));
    expect(error.message).toContain(`${file}: fleet[0].kind: required: expected kind to be one of device | iotEdge`);
    expect(error.message).toContain(`${file}: fleet[1].count: required: expected a whole number >= 1`);
  });
});

describe('syntax errors', () => {
  it('give the line and column of a YAML syntax error', async () => {
    const file = fixture('syntax-error.yaml');
    const error = await configError(() => loadScenario(file));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatchObject({ file, line: 6, column: 3 });
    expect(error.message).toMatch(
      /^test\/config\/fixtures\/syntax-error\.yaml: YAML syntax error: .+ \(line 6, column 3\)$/,
    );
  });

  it('give the line and column of a JSON syntax error', async () => {
    const dir = await scenarioDir();
    const file = await write(
      dir,
      's.json',
      '{\n  "name": "x",\n  "fleet": [\n    { "group": "a" "kind": "device" }\n  ]\n}\n',
    );
    const error = await configError(() => loadScenario(file));
    expect(error.message).toContain('JSON syntax error');
    expect(error.problems[0]?.line).toBe(4);
  });

  it('report a key written twice', async () => {
    const dir = await scenarioDir();
    const file = await write(dir, 's.yaml', 'name: x\nname: y\nfleet: []\n');
    const error = await configError(() => loadScenario(file));
    expect(error.message).toContain('Map keys must be unique');
    expect(error.problems[0]?.line).toBe(2);
  });
});

describe('referenced files', () => {
  it('name the field and the resolved path of a missing model', async () => {
    const file = fixture('missing-model.yaml');
    const error = await configError(() => loadScenario(file));
    expect(error.message).toBe(
      `${file}: fleet[0].model: model file not found: ${path.join(FIXTURES, 'models/nope.dtdl.json')} (line 6, column 12)`,
    );
  });

  it('name the field of a missing manifest, behaviour file and profile, all at once', async () => {
    const dir = await scenarioDir();
    const file = await write(
      dir,
      's.yaml',
      [
        'name: x',
        'profile: ./profiles/none.yaml',
        'fleet:',
        '  - { group: a, kind: iotEdge, count: 1, manifest: ./manifests/nope.json }',
        '  - group: b',
        '    kind: iotEdge',
        '    count: 1',
        '    manifest: ./manifests/gateway.json',
        '    modules:',
        '      HighTempFilter: { behaviour: { file: ./behaviours/missing.ts } }',
      ].join('\n'),
    );
    const error = await configError(() => loadScenario(file));
    expect(error.message).toContain(
      `${file}: profile: profile file not found: ${path.join(dir, 'profiles/none.yaml')}`,
    );
    expect(error.message).toContain(
      `${file}: fleet[0].manifest: manifest file not found: ${path.join(dir, 'manifests/nope.json')}`,
    );
    expect(error.message).toContain(
      `${file}: fleet[1].modules.HighTempFilter.behaviour.file: behaviour file not found: ${path.join(dir, 'behaviours/missing.ts')}`,
    );
    expect(error.problems).toHaveLength(3);
  });

  it('report problems inside a broken model file under that file', async () => {
    const dir = await scenarioDir();
    await write(dir, 'models/broken.json', '{ "@id": "dtmi:x;1", }}');
    const file = await write(
      dir,
      's.yaml',
      'name: x\nfleet:\n  - { group: a, kind: device, count: 1, model: ./models/broken.json }\n',
    );
    const error = await configError(() => loadScenario(file));
    expect(error.problems[0]?.file).toBe(path.join(dir, 'models/broken.json'));
    expect(error.message).toContain('not valid JSON (line 1, column 22)');
  });
});

describe('manifests and modules', () => {
  it('refuse a module the manifest does not list, suggesting the closest name', async () => {
    const file = fixture('module-typo.yaml');
    const error = await configError(() => loadScenario(file));
    expect(error.problems).toHaveLength(1);
    expect(error.message).toContain(
      `${file}: fleet[0].modules.HighTempFiltr: module "HighTempFiltr" is not in the manifest`,
    );
    expect(error.message).toContain('(did you mean "HighTempFilter"?)');
    expect(error.message).toContain('its modules: SimulatedTemperatureSensor, HighTempFilter, ModbusTranslator');
  });

  it('refuse a manifest without $edgeAgent or $edgeHub, naming the manifest file', async () => {
    const dir = await scenarioDir();
    const manifest = await write(
      dir,
      'manifests/bad.json',
      JSON.stringify({ modulesContent: { SomeModule: { 'properties.desired': {} } } }, null, 2),
    );
    const file = await write(
      dir,
      's.yaml',
      'name: x\nfleet:\n  - { group: a, kind: iotEdge, count: 1, manifest: ./manifests/bad.json }\n',
    );
    const error = await configError(() => loadScenario(file));
    expect(error.message).toContain(
      `${manifest}: modulesContent.$edgeAgent: required: expected the $edgeAgent section`,
    );
    expect(error.message).toContain(`${manifest}: modulesContent.$edgeHub: required: expected the $edgeHub section`);
  });

  it('explain a wrong behaviour name, and a filter without its condition', async () => {
    const dir = await scenarioDir();
    const file = await write(
      dir,
      's.yaml',
      [
        'name: x',
        'fleet:',
        '  - group: g',
        '    kind: iotEdge',
        '    count: 1',
        '    manifest: ./manifests/gateway.json',
        '    modules:',
        '      SimulatedTemperatureSensor: { behaviour: simulated }',
        '      HighTempFilter: { behaviour: filter, input: input1 }',
        '      ModbusTranslator: { behaviour: { file: 42 } }',
      ].join('\n'),
    );
    const error = await configError(() => loadScenario(file));
    expect(error.message).toContain(
      `${file}: fleet[0].modules.SimulatedTemperatureSensor.behaviour: expected one of simulated-temperature-sensor | dtdl | filter | passthrough | protocol-translation | identity-translation, or { file: ./my-behaviour.ts }, got "simulated"`,
    );
    expect(error.message).toContain(`${file}: fleet[0].modules.HighTempFilter.condition: required: expected text`);
    expect(error.message).toContain(`${file}: fleet[0].modules.ModbusTranslator.behaviour.file: expected text, got 42`);
    expect(error.problems).toHaveLength(3);
  });
});

describe('ids', () => {
  it('refuse the same device id in two groups, naming both', async () => {
    const file = fixture('duplicate-ids.yaml');
    const error = await configError(() => loadScenario(file));
    expect(error.problems).toHaveLength(1);
    expect(error.message).toContain(
      `${file}: fleet[1].idPattern: device id "sensor-3" of group "south" is also an id of group "north" (fleet[0])`,
    );
  });

  it('refuse a pattern without {index}, an unknown placeholder, and ids DPS would refuse', async () => {
    const dir = await scenarioDir();
    const file = await write(
      dir,
      's.yaml',
      [
        'name: x',
        'fleet:',
        '  - { group: a, kind: device, count: 2, idPattern: "fixed-name" }',
        '  - { group: b, kind: device, count: 2, idPattern: "{name}-{index}" }',
        '  - { group: c, kind: device, count: 2, idPattern: "dev/{index}" }',
        '  - { group: d, kind: device, count: 2, idPattern: "{index}_" }',
      ].join('\n'),
    );
    const error = await configError(() => loadScenario(file));
    expect(error.message).toContain(`${file}: fleet[0].idPattern: expected {index} in the pattern`);
    expect(error.message).toContain(`${file}: fleet[1].idPattern: unknown placeholder {name}`);
    // Pattern problems stop before ids are formed; the DPS check is seen on a scenario without them.
    const file2 = await write(
      dir,
      's2.yaml',
      'name: x\nfleet:\n  - { group: c, kind: device, count: 2, idPattern: "dev/{index}" }\n  - { group: d, kind: device, count: 2, idPattern: "{index}_" }\n',
    );
    const error2 = await configError(() => loadScenario(file2));
    expect(error2.message).toContain(
      `${file2}: fleet[0].idPattern: device id "dev/1" is not a valid DPS registration id`,
    );
    expect(error2.message).toContain(`${file2}: fleet[1].idPattern: device id "1_" is not a valid DPS registration id`);
  });

  it('refuse duplicate group names', async () => {
    const dir = await scenarioDir();
    const file = await write(
      dir,
      's.yaml',
      'name: x\nfleet:\n  - { group: a, kind: device, count: 1 }\n  - { group: a, kind: device, count: 1, idPattern: "other-{index}" }\n',
    );
    const error = await configError(() => loadScenario(file));
    expect(error.message).toContain(`${file}: fleet[1].group: duplicate group name "a" (also fleet[0])`);
  });
});

describe('connection strings', () => {
  const key = 'c2VjcmV0LWtleS1kby1ub3QtcHJpbnQ=';
  const cs = (id: string) => `HostName=hub.example.net;DeviceId=${id};SharedAccessKey=${key}`;

  it('must match count, and a bad one is named without printing any key', async () => {
    const dir = await scenarioDir();
    const file = await write(
      dir,
      's.yaml',
      [
        'name: x',
        'fleet:',
        `  - { group: a, kind: device, count: 3, auth: connectionString, connectionStrings: ["${cs('a1')}"] }`,
        `  - { group: b, kind: device, count: 2, auth: connectionString, connectionStrings: ["${cs('b1')}", "HostName=h;SharedAccessKey=${key}"] }`,
      ].join('\n'),
    );
    const error = await configError(() => loadScenario(file));
    expect(error.message).toContain(
      `${file}: fleet[0].connectionStrings: expected 3 connection strings (one per device, as count says), got 1`,
    );
    expect(error.message).not.toContain(key);
    // The first problem stops validation; fix it and the second is found.
    const file2 = await write(
      dir,
      's2.yaml',
      `name: x\nfleet:\n  - { group: b, kind: device, count: 2, auth: connectionString, connectionStrings: ["${cs('b1')}", "HostName=h;SharedAccessKey=${key}"] }\n`,
    );
    const error2 = await configError(() => loadScenario(file2));
    expect(error2.message).toContain(
      `${file2}: fleet[0].connectionStrings[1]: not a device connection string: a connection string needs DeviceId`,
    );
    expect(error2.message).not.toContain(key);
  });

  it('come from a file, one per line, and give the device ids', async () => {
    const dir = await scenarioDir();
    await write(dir, 'devices.txt', `# exported from the hub\n${cs('pump-1')}\n\n${cs('pump-2')}\n`);
    const file = await write(
      dir,
      's.yaml',
      'name: x\nfleet:\n  - { group: pumps, kind: device, count: 2, auth: connectionString, connectionStrings: ./devices.txt }\n',
    );
    const loaded = await loadScenario(file);
    expect(loaded.groups[0]?.connectionStrings).toEqual([cs('pump-1'), cs('pump-2')]);
    expect(loaded.scenario.fleet[0]?.connectionStrings).toEqual([cs('pump-1'), cs('pump-2')]);
  });

  it('are only for auth: connectionString, and idPattern is not', async () => {
    const dir = await scenarioDir();
    const file = await write(
      dir,
      's.yaml',
      `name: x\nfleet:\n  - { group: a, kind: device, count: 1, connectionStrings: ["${cs('a')}"] }\n  - { group: b, kind: device, count: 1, auth: connectionString, idPattern: "b-{index}", connectionStrings: ["${cs('b')}"] }\n`,
    );
    const error = await configError(() => loadScenario(file));
    expect(error.message).toContain(
      `${file}: fleet[0].connectionStrings: only with auth: connectionString (this group has auth: sas)`,
    );
    expect(error.message).toContain(`${file}: fleet[1].idPattern: not used with auth: connectionString`);
  });
});

describe('generators', () => {
  it('refuse a faker method that does not exist, with a suggestion', async () => {
    const dir = await scenarioDir();
    const file = await write(
      dir,
      's.yaml',
      [
        'name: x',
        'fleet:',
        '  - group: a',
        '    kind: device',
        '    count: 1',
        '    properties:',
        '      reported:',
        '        serialNumber: { kind: faker, method: string.alphanumric }',
        '        city: { kind: faker, method: locaton.city }',
        '        ok: { kind: faker, method: string.uuid }',
      ].join('\n'),
    );
    const error = await configError(() => loadScenario(file));
    expect(error.problems).toHaveLength(2);
    expect(error.message).toContain(
      `${file}: fleet[0].properties.reported.serialNumber.method: faker has no method "string.alphanumric" (did you mean "alphanumeric"?)`,
    );
    expect(error.message).toContain(
      `${file}: fleet[0].properties.reported.city.method: faker has no module "locaton" (did you mean "location"?)`,
    );
  });

  it('check the fields of each kind', async () => {
    const dir = await scenarioDir();
    const file = await write(
      dir,
      's.yaml',
      [
        'name: x',
        'fleet:',
        '  - group: a',
        '    kind: device',
        '    count: 1',
        '    telemetry:',
        '      values:',
        '        t: { kind: sine, min: 30, max: 20, periodSeconds: 0 }',
        '        u: { kind: poisson, ratePerMinute: 2, value: { kind: poisson, ratePerMinute: 1 } }',
        '        "bad name": { kind: constant, value: 1 }',
      ].join('\n'),
    );
    const error = await configError(() => loadScenario(file));
    expect(error.message).toContain(`${file}: fleet[0].telemetry.values.t.periodSeconds: expected a number > 0, got 0`);
    expect(error.message).toContain(
      `${file}: fleet[0].telemetry.values.u.value.kind: expected kind to be one of constant | sine | randomWalk | step | uniform | faker, got "poisson"`,
    );
    expect(error.message).toContain(
      `${file}: fleet[0].telemetry.values["bad name"]: expected a telemetry name, or component.name, got "bad name"`,
    );
    expect(error.message).toContain(`${file}: fleet[0].telemetry.values.t.max: expected min <= max`);
    expect(error.problems).toHaveLength(4);
  });
});

describe('profiles', () => {
  it('report every mistake of a profile file', async () => {
    const dir = await scenarioDir();
    const file = await write(
      dir,
      'p.yaml',
      [
        'name: p',
        'duration: 1m',
        'arrivals:',
        '  stages:',
        '    - { duration: 10s, target: -1 }',
        '    - { duration: forever, target: 5 }',
        'rampDown: 2m',
        'actions:',
        '  - { kind: reboot, ratePerSecond: 1 }',
        '  - { kind: command, ratePerSecond: 0, command: getMaxMinReport }',
        'events:',
        '  - { at: 70s, kind: dropConnections }',
      ].join('\n'),
    );
    const error = await configError(() => loadProfile(file));
    const message = error.message;
    expect(message).toContain(`${file}: arrivals.stages[0].target: expected a number >= 0, got -1 (line 5`);
    expect(message).toContain(`${file}: arrivals.stages[1].duration: expected a duration such as "30s"`);
    expect(message).toContain(
      `${file}: actions[0].kind: expected kind to be one of command | writeProperty, got "reboot"`,
    );
    expect(message).toContain(`${file}: actions[1].ratePerSecond: expected a number > 0, got 0`);
    expect(error.problems).toHaveLength(4);
  });

  it('check times against the duration once the fields are right', async () => {
    const dir = await scenarioDir();
    const file = await write(
      dir,
      'p.yaml',
      'name: p\nduration: 1m\narrivals: { startRate: 1 }\nrampDown: 2m\nevents:\n  - { at: 70s, kind: dropConnections }\n',
    );
    const error = await configError(() => loadProfile(file));
    expect(error.message).toContain(`${file}: rampDown: expected at most the duration (1m), got 2m`);
    expect(error.message).toContain(`${file}: events[0].at: expected a time before the end of the run (1m), got 1m10s`);
  });

  it('refuse arrivals that never happen', async () => {
    const dir = await scenarioDir();
    const file = await write(
      dir,
      'p.yaml',
      'name: p\nduration: 1m\narrivals: { stages: [ { duration: 10s, target: 0 } ] }\n',
    );
    const error = await configError(() => loadProfile(file));
    expect(error.message).toContain(`${file}: arrivals.stages: every rate is 0, so nobody would ever arrive`);
  });

  it('name the available profiles when one is not found', async () => {
    const error = await configError(() => loadProfile('smok'));
    expect(error.message).toContain('no profile named "smok"');
    expect(error.message).toContain('(did you mean "smoke"?)');
    expect(error.message).toContain('available: chaos, ramp, reconnect-storm, smoke, soak, spike');
  });

  it('check actions and events against the scenario', async () => {
    const dir = await scenarioDir();
    const profile = await write(
      dir,
      'p.yaml',
      [
        'name: p',
        'duration: 1m',
        'arrivals: { startRate: 10 }',
        'actions:',
        '  - { kind: command, ratePerSecond: 1, group: thermostat, command: reboot }',
        '  - { kind: command, ratePerSecond: 1, group: edges, command: reboot }',
        '  - { kind: command, ratePerSecond: 1, group: edges, module: SimulatedTemperatureSenser, command: reboot }',
        '  - { kind: command, ratePerSecond: 1, group: thermostats, module: X, command: reboot }',
        '  - { kind: writeProperty, ratePerSecond: 1, module: SimulatedTemperatureSensor, property: SendInterval, value: { kind: constant, value: 5 } }',
        'events:',
        '  - { at: 10s, kind: dropConnections, group: nobody }',
      ].join('\n'),
    );
    const file = await write(
      dir,
      's.yaml',
      'name: x\nprofile: ./p.yaml\nfleet:\n  - { group: thermostats, kind: device, count: 2 }\n  - { group: edges, kind: iotEdge, count: 2, manifest: ./manifests/env.json }\n',
    );
    const error = await configError(() => loadScenario(file));
    expect(error.message).toContain(
      `${profile}: actions[0].group: no group "thermostat" in ${file} (did you mean "thermostats"?); its groups: thermostats, edges`,
    );
    expect(error.message).toContain(
      `${profile}: actions[1].module: required: group "edges" is made of IoT Edge devices`,
    );
    expect(error.message).toContain(
      `${profile}: actions[2].module: group "edges" runs no module "SimulatedTemperatureSenser" (did you mean "SimulatedTemperatureSensor"?)`,
    );
    expect(error.message).toContain(
      `${profile}: actions[3].module: group "thermostats" is made of plain devices, which have no modules`,
    );
    expect(error.message).toContain(`${profile}: events[0].group: no group "nobody"`);
    expect(error.problems).toHaveLength(5);
  });
});

describe('the command line', () => {
  it('reports bad overrides as command-line problems', async () => {
    const error = await configError(() =>
      loadScenario('scenarios/quickstart.yaml', { target: 'iot-edge', duration: 'soon', seed: 1.5, profile: 'nope' }),
    );
    expect(error.message).toContain(
      'command line: --target: expected one of emulator | iot-central | iot-hub | mqtt, got "iot-edge"',
    );
    expect(error.message).toContain('command line: --duration: expected a duration such as "30s"');
    expect(error.message).toContain('command line: --seed: expected a whole number, got 1.5');
    expect(error.message).toContain('command line: --profile: no profile named "nope"');
  });
});

describe('validateFile', () => {
  it('tells a scenario from a profile, and refuses what is neither', async () => {
    expect((await validateFile('scenarios/quickstart.yaml')).kind).toBe('scenario');
    expect((await validateFile('profiles/ramp.yaml')).kind).toBe('profile');
    const dir = await scenarioDir();
    const file = await write(dir, 'x.yaml', 'hello: world\n');
    const error = await configError(() => validateFile(file));
    expect(error.message).toBe(`${file}: neither a scenario (it has no fleet) nor a profile (it has no arrivals)`);
  });
});
