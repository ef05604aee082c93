// The scenario gate: what a worker would refuse at run time is refused when the scenario loads, with the file, the
// path and what to fix — models, generators against their models, manifests as edgeAgent and edgeHub read them,
// routes and filter conditions, custom behaviours, connection strings. Every shipped model and manifest passes.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDeployment } from '../../src/deployment/edge-agent-desired.js';
import { edgeHubConfig } from '../../src/deployment/edge-hub-desired.js';
import { checkScenario } from '../../src/config/gate.js';
import { loadProfile, loadScenario } from '../../src/config/load.js';
import { loadModelFile } from '../../src/model/dtdl.js';
import { createCertificateAuthority } from '../../src/protocol/x509.js';
import { configError, REPO, scenarioDir, write } from './helpers.js';

const lines = (...l: string[]) => `${l.join('\n')}\n`;

/** A scenario in a fresh folder (with the shipped manifests in manifests/ and thermostat in models/). */
async function scenario(...fleet: string[]): Promise<{ dir: string; file: string }> {
  const dir = await scenarioDir();
  const file = await write(dir, 's.yaml', lines('name: gated', 'fleet:', ...fleet));
  return { dir, file };
}

/** A copy of a shipped manifest, changed by `edit`, written as manifests/<name>. */
async function manifest(dir: string, name: string, edit: (m: any) => void): Promise<string> {
  const m = JSON.parse(await readFile(path.join(REPO, 'scenarios/manifests/gateway-filter.json'), 'utf8'));
  edit(m);
  return write(dir, `manifests/${name}`, JSON.stringify(m, null, 2));
}

describe('generators', () => {
  it('a random walk starting out of bounds, integers from a range without one, a faker path too deep', async () => {
    const { file } = await scenario(
      '  - group: a',
      '    kind: device',
      '    count: 1',
      '    telemetry:',
      '      values:',
      '        level: { kind: randomWalk, start: 120, step: 1, min: 0, max: 100 }',
      '        count: { kind: uniform, min: 0.2, max: 0.8, integer: true }',
      '        city: { kind: faker, method: location.city.name }',
    );
    const error = await configError(() => loadScenario(file));
    expect(error.problems.map((p) => `${p.path}: ${p.message} (line ${p.line})`)).toEqual([
      'fleet[0].telemetry.values.level.start: randomWalk.start (120) is outside [0, 100] (line 8)',
      'fleet[0].telemetry.values.count.integer: uniform: no integer between 0.2 and 0.8 (line 9)',
      'fleet[0].telemetry.values.city.method: faker method "location.city.name": expected "module.method", ' +
        'e.g. "location.latitude" (line 10)',
    ]);
  });

  it('generators given for a model: a name it lacks, numbers for a string, a constant its schema refuses', async () => {
    const { file } = await scenario(
      '  - group: a',
      '    kind: device',
      '    count: 1',
      '    model: ./models/thermostat.json',
      '    telemetry:',
      '      values:',
      '        temprature: { kind: constant, value: 20 }',
      '  - group: b',
      '    kind: device',
      '    count: 1',
      '    model: ./models/thermostat.json',
      '    telemetry:',
      '      values:',
      '        temperature: { kind: constant, value: "warm" }',
    );
    const error = await configError(() => loadScenario(file));
    expect(error.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      'fleet[0].telemetry.values: override "temprature": no such telemetry in dtmi:com:example:Thermostat;1; ' +
        'it has "temperature"',
      'fleet[1].telemetry.values.temperature: override "temperature": "warm" does not fit temperature\'s schema, ' +
        '"double"',
    ]);
  });

  it("protocol-translation registers and a profile's property writes are checked too", async () => {
    const { dir, file } = await scenario(
      '  - group: g',
      '    kind: iotEdge',
      '    count: 1',
      '    manifest: ./manifests/gateway.json',
      '    modules:',
      '      ModbusTranslator:',
      '        behaviour: protocol-translation',
      '        sensors:',
      '          - kind: modbus',
      '            count: 1',
      '            registers: { rpm: { kind: uniform, min: 1.1, max: 1.9, integer: true } }',
    );
    let error = await configError(() => loadScenario(file));
    expect(error.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      'fleet[0].modules.ModbusTranslator.sensors[0].registers.rpm.integer: uniform: no integer between 1.1 and 1.9',
    ]);
    const profile = await write(
      dir,
      'p.yaml',
      lines(
        'name: p',
        'description: x',
        'duration: 10s',
        'arrivals: { startRate: 1 }',
        'actions:',
        '  - kind: writeProperty',
        '    property: p',
        '    ratePerSecond: 1',
        '    value: { kind: randomWalk, step: 1, min: 5, max: 1 }',
      ),
    );
    error = await configError(() => loadProfile(profile));
    expect(error.problems[0]).toMatchObject({ path: 'actions[0].value.max', message: 'expected min <= max' });
  });
});

describe('manifests, read as edgeAgent and edgeHub read them', () => {
  it('a deployment edgeAgent refuses: the manifest file and the path of $edgeAgent', async () => {
    const { dir, file } = await scenario('  - { group: g, kind: iotEdge, count: 1, manifest: ./manifests/agent.json }');
    await manifest(dir, 'agent.json', (m) => {
      m.modulesContent.$edgeAgent['properties.desired'].schemaVersion = '2.0';
    });
    const error = await configError(() => loadScenario(file));
    expect(error.problems).toEqual([
      expect.objectContaining({
        file: path.join(dir, 'manifests/agent.json'),
        path: 'modulesContent.$edgeAgent["properties.desired"]',
        message:
          'edgeAgent would refuse this deployment (412): InvalidSchemaVersion: 2.0 is not supported (1.0, 1.1 are)',
        line: 4,
      }),
    ]);
  });

  it('a route that does not compile, and a route object under schemaVersion 1.0: the route by name', async () => {
    const { dir, file } = await scenario(
      '  - { group: g, kind: iotEdge, count: 1, manifest: ./manifests/route.json }',
      '  - { group: h, kind: iotEdge, count: 1, manifest: ./manifests/old.json }',
    );
    await manifest(dir, 'route.json', (m) => {
      m.modulesContent.$edgeHub['properties.desired'].routes.leafToCloud.route =
        'FROM /messages/* WHERE temperature > 30 INTO $upstream';
    });
    await manifest(dir, 'old.json', (m) => {
      m.modulesContent.$edgeHub['properties.desired'].schemaVersion = '1.0';
    });
    const error = await configError(() => loadScenario(file));
    expect(error.problems.map((p) => [path.basename(p.file), p.path])).toEqual([
      ['route.json', 'modulesContent.$edgeHub["properties.desired"].routes.leafToCloud'],
      ['old.json', 'modulesContent.$edgeHub["properties.desired"]'],
    ]);
    expect(error.problems[0]!.message).toContain('use AS_NUMBER(prop) to compare as numbers');
    expect(error.problems[1]!.message).toBe(
      'edgeHub would refuse these desired properties: route filterToCloud: a route with priority or ' +
        'timeToLiveSecs needs schemaVersion 1.1 or later',
    );
  });

  it('a manifest exported with az iot edge (under content) is named with its content. path', async () => {
    const { dir, file } = await scenario(
      '  - { group: g, kind: iotEdge, count: 1, manifest: ./manifests/wrapped.json }',
    );
    const m = JSON.parse(await readFile(path.join(REPO, 'scenarios/manifests/gateway-filter.json'), 'utf8'));
    m.modulesContent.$edgeAgent['properties.desired'].runtime.type = 'kubernetes';
    await write(dir, 'manifests/wrapped.json', JSON.stringify({ id: 'x', content: m }));
    const error = await configError(() => loadScenario(file));
    expect(error.problems[0]).toMatchObject({
      path: 'content.modulesContent.$edgeAgent["properties.desired"]',
      message: 'edgeAgent would refuse this deployment (400): ConfigFormatError: runtime.type must be "docker"',
    });
  });
});

describe('module behaviours', () => {
  it("a filter condition that does not compile: the condition's field and column", async () => {
    const { file } = await scenario(
      '  - group: g',
      '    kind: iotEdge',
      '    count: 1',
      '    manifest: ./manifests/gateway.json',
      '    modules:',
      '      HighTempFilter: { behaviour: filter, condition: "$body.machine.temperature >> 25" }',
    );
    const error = await configError(() => loadScenario(file));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatchObject({ path: 'fleet[0].modules.HighTempFilter.condition', line: 8 });
    expect(error.problems[0]!.message).toBe('expected an expression but found ">" at column 28');
  });

  it('a custom behaviour that does not load, or whose default export is no function', async () => {
    const { dir, file } = await scenario(
      '  - group: g',
      '    kind: iotEdge',
      '    count: 1',
      '    manifest: ./manifests/gateway.json',
      '    modules:',
      '      HighTempFilter: { behaviour: { file: ./behaviours/not-a-function.mjs } }',
      '      ModbusTranslator: { behaviour: { file: ./behaviours/broken.mjs } }',
    );
    await write(dir, 'behaviours/not-a-function.mjs', 'export default 42;\n');
    await write(dir, 'behaviours/broken.mjs', 'export default function (options) {\n  return {\n');
    const error = await configError(() => loadScenario(file));
    expect(error.problems.map((p) => p.path)).toEqual([
      'fleet[0].modules.HighTempFilter.behaviour.file',
      'fleet[0].modules.ModbusTranslator.behaviour.file',
    ]);
    expect(error.problems[0]!.message).toBe('the default export must be a function (options) => behaviour');
    expect(error.problems[1]!.message).toMatch(/^cannot load .*broken\.mjs: /);
  });

  it('a dtdl module and identity-translation sensors: their models parse, under the model file', async () => {
    const { dir, file } = await scenario(
      '  - group: g',
      '    kind: iotEdge',
      '    count: 1',
      '    manifest: ./manifests/gateway.json',
      '    modules:',
      '      ModbusTranslator: { behaviour: dtdl, model: ./models/bad.json }',
    );
    await write(
      dir,
      'models/bad.json',
      JSON.stringify({
        '@context': 'dtmi:dtdl:context;2',
        '@id': 'dtmi:x:Bad;1',
        '@type': 'Interface',
        contents: [{ '@type': 'Telemetry', name: 'x', schema: 'flot' }],
      }),
    );
    const error = await configError(() => loadScenario(file));
    expect(error.problems).toEqual([
      expect.objectContaining({
        file: path.join(dir, 'models/bad.json'),
        path: 'contents[0].schema',
      }),
    ]);
    expect(error.problems[0]!.message).toContain('(did you mean "float"?)');
  });
});

describe('connection strings', () => {
  it('an X.509 connection string, which a device of a connectionString group cannot sign with', async () => {
    const { file } = await scenario(
      '  - group: a',
      '    kind: device',
      '    count: 1',
      '    auth: connectionString',
      '    connectionStrings: ["HostName=h.azure-devices.net;DeviceId=d1;x509=true"]',
    );
    const error = await configError(() => loadScenario(file));
    expect(error.problems[0]).toMatchObject({ path: 'fleet[0].connectionStrings[0]' });
    expect(error.problems[0]!.message).toContain('x509=true, no SharedAccessKey');
  });
});

describe('the X.509 CA of an iot-central target', () => {
  it('issues a device certificate before the run, as each worker will: a key that is no key is refused', async () => {
    const { dir, file } = await scenario('  - { group: a, kind: device, count: 1, auth: x509 }');
    const ca = await createCertificateAuthority('edgefleet test CA');
    await write(dir, 'ca.pem', ca.certPem);
    await write(dir, 'ca-key.pem', ca.keyPem);
    await write(dir, 'not-a-key.pem', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    const target = (key: string) =>
      lines(
        'target: iot-central',
        'targets:',
        '  iot-central:',
        '    idScope: 0ne00000000',
        '    subdomain: example',
        '    apiToken: token',
        `    x509: { caCert: ./ca.pem, caKey: ./${key} }`,
      );
    const text = await readFile(file, 'utf8');
    await write(dir, 'good.yaml', `${text}${target('ca-key.pem')}`);
    await expect(loadScenario(path.join(dir, 'good.yaml'))).resolves.toMatchObject({ target: { kind: 'iot-central' } });
    await write(dir, 'bad.yaml', `${text}${target('not-a-key.pem')}`);
    const error = await configError(() => loadScenario(path.join(dir, 'bad.yaml')));
    expect(error.problems).toEqual([expect.objectContaining({ path: 'targets.iot-central.x509' })]);
    expect(error.problems[0]!.message).toContain('cannot issue a device certificate with the CA');
  });
});

describe('a scenario loaded elsewhere (runScenario given a LoadedScenario)', () => {
  it('goes through the same gate', async () => {
    const loaded = await loadScenario(path.join(REPO, 'scenarios/quickstart.yaml'));
    await expect(checkScenario(loaded)).resolves.toBeUndefined();
    const thermostats = loaded.groups[1]!;
    const json = structuredClone(thermostats.model!.json) as { contents: { schema: unknown }[] };
    json.contents[0]!.schema = 'doubel';
    const broken = {
      ...loaded,
      groups: [loaded.groups[0]!, { ...thermostats, model: { ...thermostats.model!, json } }],
    };
    const error = await configError(() => checkScenario(broken));
    expect(error.problems[0]).toMatchObject({
      file: 'scenarios/models/thermostat.dtdl.json',
      path: 'contents[0].schema',
    });
  });
});

describe('what ships', () => {
  const shipped = async (folder: string) =>
    (await readdir(path.join(REPO, folder))).filter((f) => f.endsWith('.json')).map((f) => path.join(REPO, folder, f));

  it('every shipped model parses', async () => {
    const models = await shipped('scenarios/models');
    expect(models.length).toBeGreaterThanOrEqual(2);
    for (const file of models)
      await expect(loadModelFile(file), file).resolves.toMatchObject({ id: expect.stringMatching(/^dtmi:/) });
  });

  it('every shipped manifest is one edgeAgent and edgeHub accept', async () => {
    const manifests = [...(await shipped('scenarios/manifests')), ...(await shipped('scenarios/smoke/manifests'))];
    expect(manifests.length).toBeGreaterThanOrEqual(6);
    for (const file of manifests) {
      const m = JSON.parse(await readFile(file, 'utf8'));
      const content = m.content ?? m;
      expect(() => parseDeployment(content.modulesContent.$edgeAgent['properties.desired']), file).not.toThrow();
      expect(edgeHubConfig(content.modulesContent.$edgeHub['properties.desired']).routes.length, file).toBeGreaterThan(
        0,
      );
    }
  });
});
