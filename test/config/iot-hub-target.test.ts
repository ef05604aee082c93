// targets.iot-hub: a connection string edgefleet can use, checked before anything connects; DPS optional.
import { afterEach, describe, expect, it } from 'vitest';
import { parseHubConnectionString, HubConnectionStringError } from '../../src/config/hub-connection-string.js';
import { resolveEnv } from '../../src/config/env.js';
import { loadScenario } from '../../src/config/load.js';
import { configError, scenarioDir, write } from './helpers.js';

const KEY = Buffer.alloc(32, 7).toString('base64');
const GOOD = `HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=${KEY}`;

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

function scenario(target: string[], fleet: string[] = ['  - { group: a, kind: device, count: 2 }']): string {
  return ['name: hub', 'target: iot-hub', 'targets:', '  iot-hub:', ...target, 'fleet:', ...fleet].join('\n');
}

describe('the IoT Hub service connection string', () => {
  it('reads the host (with its port), the policy and its key', () => {
    expect(parseHubConnectionString(GOOD)).toEqual({
      hostName: 'myhub.azure-devices.net',
      policyName: 'iothubowner',
      key: KEY,
    });
    const emulator = parseHubConnectionString(`HostName=localhost:4443;SharedAccessKeyName=p;SharedAccessKey=${KEY}`);
    expect(emulator.hostName).toBe('localhost:4443');
  });

  it.each([
    [`HostName=h;SharedAccessKey=${KEY}`, 'SharedAccessKeyName missing'],
    ['HostName=h;SharedAccessKeyName=iothubowner', 'SharedAccessKey missing'],
    [`SharedAccessKeyName=p;SharedAccessKey=${KEY}`, 'HostName missing'],
    [`HostName=h;DeviceId=d;SharedAccessKey=${KEY}`, "a device's connection string"],
    ['HostName=h;SharedAccessKeyName=p;SharedAccessKey=not base64!', 'not a base64 key'],
    [`HostName=https://h/;SharedAccessKeyName=p;SharedAccessKey=${KEY}`, 'is not a host name'],
    [`HostName=h;Endpoint=x;SharedAccessKeyName=p;SharedAccessKey=${KEY}`, 'unknown field "Endpoint"'],
  ])('refuses %s, saying what is wrong and never quoting the key', (text, message) => {
    let error: unknown;
    try {
      parseHubConnectionString(text);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(HubConnectionStringError);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).not.toContain(KEY);
  });
});

describe('targets.iot-hub in a scenario', () => {
  it('loads with the connection string from the environment, optional settings left empty meaning unset', async () => {
    setEnv('EF_TEST_HUB', GOOD);
    setEnv('EF_TEST_HUB_MQTT', undefined);
    const dir = await scenarioDir();
    const file = await write(
      dir,
      's.yaml',
      scenario(['    connectionString: ${EF_TEST_HUB}', '    mqttEndpoint: ${EF_TEST_HUB_MQTT:-}']),
    );
    const loaded = await loadScenario(file);
    expect(loaded.target.kind).toBe('iot-hub');
    if (loaded.target.kind !== 'iot-hub') return;
    expect(loaded.target.settings.connectionString).toBe(GOOD);
    expect(loaded.target.settings.mqttEndpoint).toBeUndefined();
    expect(loaded.target.settings.registryOperationsPerMinute).toBe(100);
  });

  it('refuses a bad connection string before anything connects, naming the file and path', async () => {
    setEnv('EF_TEST_HUB', `HostName=myhub.azure-devices.net;SharedAccessKey=${KEY}`);
    const dir = await scenarioDir();
    const file = await write(dir, 's.yaml', scenario(['    connectionString: ${EF_TEST_HUB}']));
    const error = await configError(() => loadScenario(file));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]?.path).toBe('targets.iot-hub.connectionString');
    expect(error.problems[0]?.file).toContain('s.yaml');
    expect(error.message).toContain('SharedAccessKeyName missing');
    expect(error.message).not.toContain(KEY);
  });

  it('says which variable is missing, and that the target is required when chosen', async () => {
    setEnv('EF_TEST_HUB', undefined);
    const dir = await scenarioDir();
    const file = await write(dir, 's.yaml', scenario(['    connectionString: ${EF_TEST_HUB}']));
    expect((await configError(() => loadScenario(file))).message).toContain(
      'targets.iot-hub.connectionString: environment variable EF_TEST_HUB is not set',
    );
    const none = await write(dir, 'none.yaml', 'name: x\nfleet:\n  - { group: a, kind: device, count: 1 }\n');
    expect((await configError(() => loadScenario(none, { target: 'iot-hub' }))).message).toContain(
      'targets.iot-hub: required when the target is iot-hub (from --target)',
    );
  });

  it('warns about a connection string written in the file, as about other secrets', async () => {
    const dir = await scenarioDir();
    const file = await write(dir, 's.yaml', scenario([`    connectionString: "${GOOD}"`]));
    const loaded = await loadScenario(file);
    expect(loaded.warnings.join('\n')).toContain('targets.iot-hub.connectionString is written in the file');
  });

  it('needs a DPS for X.509 groups, and the DPS group keys for SAS groups behind one', async () => {
    setEnv('EF_TEST_HUB', GOOD);
    const dir = await scenarioDir();
    const x509 = await write(
      dir,
      'x.yaml',
      scenario(['    connectionString: ${EF_TEST_HUB}'], ['  - { group: a, kind: device, count: 1, auth: x509 }']),
    );
    expect((await configError(() => loadScenario(x509))).message).toContain(
      'fleet[0].auth: auth: x509 against iot-hub needs a DPS',
    );
    const dps = await write(
      dir,
      'd.yaml',
      scenario(['    connectionString: ${EF_TEST_HUB}', '    dps: { idScope: 0ne00000001 }']),
    );
    expect((await configError(() => loadScenario(dps))).message).toContain(
      'targets.iot-hub.dps.groupKeys.devices: required: plain devices with auth: sas derive their keys',
    );
  });

  it('checks mqttEndpoint is host:port and that the ca file exists', async () => {
    setEnv('EF_TEST_HUB', GOOD);
    const dir = await scenarioDir();
    const file = await write(
      dir,
      's.yaml',
      scenario(['    connectionString: ${EF_TEST_HUB}', '    mqttEndpoint: localhost', '    ca: ./nope.pem']),
    );
    const error = await configError(() => loadScenario(file));
    expect(error.message).toContain('targets.iot-hub.mqttEndpoint: expected host:port, got "localhost"');
    expect(error.message).toContain('targets.iot-hub.ca: CA file not found');
  });
});

describe('${NAME:-default} references', () => {
  it('use the default when the variable is unset or empty, and the variable otherwise', () => {
    expect(resolveEnv({ a: '${EF_NOPE:-x}', b: '${EF_NOPE:-}' }, {}).value).toEqual({ a: 'x', b: '' });
    expect(resolveEnv({ a: '${EF_YES:-x}' }, { EF_YES: 'y' }).value).toEqual({ a: 'y' });
    expect(resolveEnv({ a: '${EF_YES:-x}' }, { EF_YES: '' }).problems).toEqual([]);
  });
});
