// Every scenario and profile that ships must load, and say what it is for.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listProfiles, loadProfile, loadScenario, PROFILES_DIR } from '../../src/config/load.js';
import { REPO } from './helpers.js';

const scenarioFiles = (await readdir(path.join(REPO, 'scenarios'))).filter(
  (name) => /\.ya?ml$/.test(name) && !name.includes('.profile.'),
);
const profileFiles = (await readdir(PROFILES_DIR)).filter((name) => /\.ya?ml$/.test(name));

describe('shipped profiles', () => {
  it('include smoke, ramp, soak, spike and reconnect-storm', async () => {
    expect(await listProfiles()).toEqual(expect.arrayContaining(['smoke', 'ramp', 'soak', 'spike', 'reconnect-storm']));
  });

  it.each(profileFiles)(
    '%s loads, is named after its file, and starts with a comment saying what it shows',
    async (name) => {
      const { profile } = await loadProfile(name.replace(/\.ya?ml$/, ''));
      expect(profile.name).toBe(name.replace(/\.ya?ml$/, ''));
      expect(profile.description).toBeTruthy();
      const text = await readFile(path.join(PROFILES_DIR, name), 'utf8');
      expect(
        text
          .split('\n')
          .slice(0, 3)
          .every((line) => line.startsWith('# ')),
      ).toBe(true);
    },
  );

  it('reconnect-storm drops every connection at mid-run, after everyone arrived', async () => {
    const { profile } = await loadProfile('reconnect-storm');
    expect(profile.events).toEqual([{ at: 90_000, kind: 'dropConnections', fraction: 1 }]);
    expect(profile.duration).toBe(180_000);
  });

  it('spike jumps to a burst and back', async () => {
    const { profile } = await loadProfile('spike');
    const targets = profile.arrivals.stages.map((stage) => stage.target);
    expect(Math.max(...targets)).toBeGreaterThanOrEqual(50 * profile.arrivals.startRate);
    expect(targets.at(-1)).toBe(profile.arrivals.startRate);
  });
});

describe('shipped scenarios', () => {
  it.each(scenarioFiles)('%s loads with its profile, manifests and models, without warnings', async (name) => {
    const loaded = await loadScenario(path.join(REPO, 'scenarios', name));
    expect(loaded.warnings).toEqual([]);
    expect(loaded.scenario.name).toBe(name.replace(/\.ya?ml$/, ''));
  });

  it('quickstart: 20 IoT Edge devices running SimulatedTemperatureSensor and 100 thermostats, for a minute', async () => {
    const loaded = await loadScenario('scenarios/quickstart.yaml');
    expect(loaded.durationMs).toBe(60_000);
    expect(loaded.profile.duration).toBe(60_000);
    expect(loaded.profile.name).toBe('smoke');
    expect(loaded.target).toEqual({ kind: 'emulator' });
    const [edges, thermostats] = loaded.groups;
    expect(edges?.kind).toBe('iotEdge');
    expect(edges?.config.count).toBe(20);
    if (edges?.kind !== 'iotEdge') return;
    expect(edges.manifest.path).toBe(path.join(REPO, 'scenarios/manifests/environmental-sensor.json'));
    expect(edges.manifest.json.modulesContent.$edgeHub['properties.desired'].routes).toEqual({
      route: 'FROM /* INTO $upstream',
    });
    expect(edges.modules).toEqual([
      {
        name: 'SimulatedTemperatureSensor',
        image: 'mcr.microsoft.com/azureiotedge-simulated-temperature-sensor:1.0',
        behaviour: { behaviour: 'simulated-temperature-sensor', output: 'temperatureOutput' },
        chosenBy: 'scenario',
      },
    ]);
    expect(thermostats?.kind).toBe('device');
    expect(thermostats?.config.count).toBe(100);
    expect(thermostats?.model?.path).toBe(path.join(REPO, 'scenarios/models/thermostat.dtdl.json'));
    expect((thermostats?.model?.json as { '@id': string })['@id']).toBe('dtmi:com:example:Thermostat;1');
    expect(loaded.scenario.fleet[1]).toMatchObject({
      kind: 'device',
      telemetry: { interval: 5_000, qos: 1 },
      commands: { getMaxMinReport: { status: 200, delay: 50 } },
      properties: { writable: { ackCode: 200, ackDelay: 0, ackDescription: 'completed' } },
    });
  });

  it('gateway-filter: a behaviour for each of the three modules, and module-aimed actions', async () => {
    const loaded = await loadScenario('scenarios/gateway-filter.yaml');
    const [gateways] = loaded.groups;
    if (gateways?.kind !== 'iotEdge') throw new Error('expected an IoT Edge group');
    const byName = Object.fromEntries(gateways.modules.map((m) => [m.name, m]));
    expect(byName.SimulatedTemperatureSensor?.behaviour.behaviour).toBe('simulated-temperature-sensor');
    expect(byName.HighTempFilter?.behaviour).toEqual({
      behaviour: 'filter',
      input: 'input1',
      output: 'output1',
      condition: '$body.machine.temperature > 25',
    });
    expect(byName.ModbusTranslator?.behaviour).toMatchObject({
      behaviour: 'dtdl',
      model: path.join(REPO, 'scenarios/models/modbus-pump.dtdl.json'),
      interval: 5_000,
    });
    expect((byName.ModbusTranslator?.model?.json as { '@id': string })['@id']).toBe(
      'dtmi:com:example:edgefleet:ModbusPump;1',
    );
    expect(gateways.modules.every((m) => m.chosenBy === 'scenario')).toBe(true);
    expect(loaded.actions.map((a) => a.groups)).toEqual([['gateways']]);
  });

  it('a module without an entry gets its behaviour from its image, else passthrough', async () => {
    const { scenarioDir, write } = await import('./helpers.js');
    const dir = await scenarioDir();
    const file = await write(
      dir,
      's.yaml',
      'name: x\nfleet:\n  - { group: g, kind: iotEdge, count: 1, manifest: ./manifests/gateway.json }\n',
    );
    const loaded = await loadScenario(file);
    const modules = loaded.groups[0]?.kind === 'iotEdge' ? loaded.groups[0].modules : [];
    expect(modules.map((m) => [m.name, m.behaviour.behaviour, m.chosenBy])).toEqual([
      ['SimulatedTemperatureSensor', 'simulated-temperature-sensor', 'image'],
      ['HighTempFilter', 'passthrough', 'default'],
      ['ModbusTranslator', 'passthrough', 'default'],
    ]);
  });

  it('the command line overrides the profile, the duration and the target', async () => {
    const loaded = await loadScenario('scenarios/quickstart.yaml', { profile: 'profiles/ramp.yaml', duration: '30s' });
    expect(loaded.profile.name).toBe('ramp');
    expect(loaded.durationMs).toBe(30_000);
    expect(loaded.profile.duration).toBe(30_000);
    expect(loaded.profileFile).toBe(path.join(REPO, 'profiles/ramp.yaml'));
    // A profile named on the command line keeps its own duration: the scenario's 60s belongs to its own profile.
    const byName = await loadScenario('scenarios/quickstart.yaml', { profile: 'soak' });
    expect(byName.durationMs).toBe(3_600_000);
  });

  it('a scenario may be JSON, by extension or by content', async () => {
    const { scenarioDir, write } = await import('./helpers.js');
    const dir = await scenarioDir();
    const scenario = {
      name: 'json-one',
      fleet: [{ group: 'a', kind: 'device', count: 2, model: './models/thermostat.json' }],
    };
    const byExtension = await loadScenario(await write(dir, 'a.json', JSON.stringify(scenario)));
    const byContent = await loadScenario(await write(dir, 'a.scenario', JSON.stringify(scenario, null, '\t')));
    expect(byExtension.scenario.fleet[0]?.count).toBe(2);
    expect(byContent.scenario).toEqual(byExtension.scenario);
  });
});
