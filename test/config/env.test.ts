// ${ENV_VAR} references: resolved for the target in use, never printed.
import { afterEach, describe, expect, it } from 'vitest';
import { resolveEnv } from '../../src/config/env.js';
import { loadScenario } from '../../src/config/load.js';
import { configError, scenarioDir, write } from './helpers.js';

const SECRET_TOKEN = 'SharedAccessSignature sr=app&sig=do-not-print-me&se=1';
const SECRET_KEY = 'ZG8tbm90LXByaW50LXRoaXMta2V5';

const saved = new Map<string, string | undefined>();
function setEnv(name: string, value: string | undefined): void {
  if (!saved.has(name)) saved.set(name, process.env[name]);
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
afterEach(() => {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  saved.clear();
});

const SCENARIO = [
  'name: central',
  'target: iot-central',
  'targets:',
  '  iot-central:',
  '    idScope: "0ne00ABCDEF"',
  '    subdomain: myapp.azureiotcentral.com',
  '    apiToken: ${EF_TEST_API_TOKEN}',
  '    groupKeys:',
  '      devices: { primaryKey: "${EF_TEST_DEVICES_KEY}" }',
  '      edgeDevices: { primaryKey: "${EF_TEST_EDGE_KEY}" }',
  '  mqtt:',
  '    host: broker.local',
  '    password: ${EF_TEST_UNUSED_PASSWORD}',
  'fleet:',
  '  - { group: a, kind: device, count: 2 }',
  '  - { group: e, kind: iotEdge, count: 1, manifest: ./manifests/env.json }',
].join('\n');

describe('${ENV} references', () => {
  it('are resolved for the target in use', async () => {
    setEnv('EF_TEST_API_TOKEN', SECRET_TOKEN);
    setEnv('EF_TEST_DEVICES_KEY', SECRET_KEY);
    setEnv('EF_TEST_EDGE_KEY', 'ZWRnZS1rZXk=');
    setEnv('EF_TEST_UNUSED_PASSWORD', undefined);
    const dir = await scenarioDir();
    const loaded = await loadScenario(await write(dir, 's.yaml', SCENARIO));
    expect(loaded.target.kind).toBe('iot-central');
    if (loaded.target.kind !== 'iot-central') return;
    expect(loaded.target.settings.apiToken).toBe(SECRET_TOKEN);
    expect(loaded.target.settings.groupKeys?.devices?.primaryKey).toBe(SECRET_KEY);
    expect(loaded.target.settings.groupKeys?.edgeDevices?.primaryKey).toBe('ZWRnZS1rZXk=');
    expect(loaded.target.settings.subdomain).toBe('myapp');
    expect(loaded.target.settings.dpsHost).toBe('global.azure-devices-provisioning.net');
    expect(loaded.scenario.targets?.['iot-central']?.apiToken).toBe(SECRET_TOKEN);
    // The mqtt section is not in use: its unset variable is no problem and stays a reference.
    expect(loaded.scenario.targets?.mqtt?.password).toBe('${EF_TEST_UNUSED_PASSWORD}');
    expect(loaded.warnings.join('\n')).not.toContain(SECRET_KEY);
  });

  it('that are missing name the variable and the field, and print no other secret', async () => {
    setEnv('EF_TEST_API_TOKEN', SECRET_TOKEN);
    setEnv('EF_TEST_DEVICES_KEY', undefined);
    setEnv('EF_TEST_EDGE_KEY', '');
    const dir = await scenarioDir();
    const file = await write(dir, 's.yaml', SCENARIO);
    const error = await configError(() => loadScenario(file));
    expect(error.message).toContain(
      `${file}: targets.iot-central.groupKeys.devices.primaryKey: environment variable EF_TEST_DEVICES_KEY is not set (line 9`,
    );
    expect(error.message).toContain(
      `${file}: targets.iot-central.groupKeys.edgeDevices.primaryKey: environment variable EF_TEST_EDGE_KEY is empty`,
    );
    expect(error.problems).toHaveLength(2);
    expect(error.message).not.toContain(SECRET_TOKEN);
    expect(error.message).not.toContain('do-not-print-me');
  });

  it('are not needed against the emulator', async () => {
    setEnv('EF_TEST_API_TOKEN', undefined);
    setEnv('EF_TEST_DEVICES_KEY', undefined);
    const dir = await scenarioDir();
    const loaded = await loadScenario(await write(dir, 's.yaml', SCENARIO), { target: 'emulator' });
    expect(loaded.target).toEqual({ kind: 'emulator' });
    expect(loaded.scenario.target).toBe('emulator');
  });

  it('of the mqtt target resolve too, with the port chosen by TLS', async () => {
    setEnv('EF_TEST_UNUSED_PASSWORD', 'hunter2');
    const dir = await scenarioDir();
    // Plain devices only: IoT Edge groups are refused for the mqtt target.
    const plainDevices = SCENARIO.replace(
      '\n  - { group: e, kind: iotEdge, count: 1, manifest: ./manifests/env.json }',
      '',
    );
    expect(plainDevices).not.toContain('iotEdge');
    const loaded = await loadScenario(await write(dir, 's.yaml', plainDevices), { target: 'mqtt' });
    expect(loaded.target.kind).toBe('mqtt');
    if (loaded.target.kind !== 'mqtt') return;
    expect(loaded.target.settings).toMatchObject({
      host: 'broker.local',
      port: 1883,
      password: 'hunter2',
      clientId: '{deviceId}',
      tls: { enabled: false, rejectUnauthorized: true },
      topics: {
        telemetry: 'devices/{deviceId}/messages/events/',
        moduleTelemetry: 'devices/{deviceId}/modules/{moduleId}/messages/events/',
      },
    });
  });

  it('a wrong value under a secret key is refused without being echoed', async () => {
    const dir = await scenarioDir();
    const file = await write(dir, 's.yaml', SCENARIO.replace('primaryKey: "${EF_TEST_DEVICES_KEY}"', 'primaryKey: ""'));
    const error = await configError(() => loadScenario(file));
    expect(error.message).toContain(
      `${file}: targets.iot-central.groupKeys.devices.primaryKey: expected at least 1 character (line`,
    );
    expect(error.message).not.toContain('got');
  });

  it('warn when a secret is written in the file', async () => {
    setEnv('EF_TEST_API_TOKEN', SECRET_TOKEN);
    setEnv('EF_TEST_EDGE_KEY', 'ZWRnZS1rZXk=');
    const dir = await scenarioDir();
    const loaded = await loadScenario(
      await write(dir, 's.yaml', SCENARIO.replace('"${EF_TEST_DEVICES_KEY}"', SECRET_KEY)),
    );
    expect(loaded.warnings).toContainEqual(
      expect.stringContaining('targets.iot-central.groupKeys.devices.primaryKey is written in the file'),
    );
    expect(loaded.warnings.join('\n')).not.toContain(SECRET_KEY);
  });

  it('require what the fleet needs from the target', async () => {
    const dir = await scenarioDir();
    const file = await write(
      dir,
      's.yaml',
      [
        'name: x',
        'target: iot-central',
        'targets:',
        '  iot-central: { idScope: "0ne", subdomain: app }',
        'fleet:',
        '  - { group: a, kind: device, count: 1 }',
        '  - { group: b, kind: device, count: 1, auth: x509 }',
      ].join('\n'),
    );
    const error = await configError(() => loadScenario(file));
    expect(error.message).toContain(
      `${file}: targets.iot-central.groupKeys.devices: required: plain devices with auth: sas derive their keys`,
    );
    expect(error.message).toContain(`${file}: targets.iot-central.x509: required: groups with auth: x509`);
    expect(error.message).toContain(
      `${file}: targets.iot-central.apiToken: required: the profile has service-side actions`,
    );
    const missing = await configError(() => loadScenario(file, { target: 'mqtt' }));
    expect(missing.message).toContain(`${file}: targets.mqtt: required when the target is mqtt (from --target)`);
  });
});

describe('resolveEnv', () => {
  it('replaces references inside strings, and reports each missing one by path', () => {
    const { value, problems } = resolveEnv(
      { a: 'x-${ONE}-${TWO}', list: ['${MISSING}'], n: 3 },
      { ONE: '1', TWO: '2' },
    );
    expect(value).toEqual({ a: 'x-1-2', list: ['${MISSING}'], n: 3 });
    expect(problems).toEqual([
      { path: 'list[0]', segments: ['list', 0], message: 'environment variable MISSING is not set' },
    ]);
  });
});
