// Models named by DTMI, from a device models repository: a folder in the DMR layout or an http(s) URL (fetched once,
// kept in the state directory, readable offline afterwards), an .expanded.json when there is one, and every Interface
// a model names in `extends` and as a Component schema, resolved recursively. Each way it can go wrong names the model
// that referenced the missing or broken DTMI and where it was looked up.
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadScenario } from '../../src/config/load.js';
import { parseModel } from '../../src/model/dtdl.js';
import {
  CONTROLLER,
  IDENTITY,
  POWERED,
  ZONE,
  controller,
  controllerRepository,
  dmrPath,
  identity,
  powered,
  serveFolder,
  writeModels,
  zone,
} from '../support/model-repository.js';
import { configError, write } from './helpers.js';

/** A scenario beside `repo` whose one group names `model`; `extra` lines go into the group. */
async function scenarioWith(repo: string, model: string, extra = ''): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgefleet-dmr-scenario-'));
  const repoLine = /^https?:/.test(repo) ? repo : path.relative(dir, repo);
  return write(
    dir,
    's.yaml',
    [
      'name: by-dtmi',
      `modelRepository: ${repoLine}`,
      'fleet:',
      `  - { group: climate, kind: device, count: 2, model: "${model}"${extra} }`,
      '',
    ].join('\n'),
  );
}

const loadedModel = async (file: string, overrides = {}) => {
  const loaded = await loadScenario(file, overrides);
  const model = loaded.groups[0]!.model!;
  return { model, device: parseModel(model.json, { rootId: model.dtmi! }) };
};

describe('a model by DTMI from a repository folder', () => {
  it('resolves components and extends that name other DTMIs, recursively, into the device model', async () => {
    const repo = await controllerRepository();
    const { model, device } = await loadedModel(await scenarioWith(repo, CONTROLLER));
    expect(model.dtmi).toBe(CONTROLLER);
    expect(model.path).toBe(path.join(repo, dmrPath(CONTROLLER)));
    expect(model.sources!.map((s) => s.file)).toEqual(
      [CONTROLLER, POWERED, ZONE, IDENTITY].map((id) => path.join(repo, dmrPath(id))),
    );
    expect(device.id).toBe(CONTROLLER);
    expect(device.displayName).toBe('Climate controller');
    expect(device.components).toEqual([
      { name: 'zone1', modelId: ZONE },
      { name: 'zone2', modelId: ZONE },
      { name: 'info', modelId: IDENTITY },
    ]);
    expect(device.telemetry.map((t) => `${t.component ?? ''}.${t.name}`)).toEqual([
      '.powerDraw',
      '.workingSet',
      'zone1.temperature',
      'zone2.temperature',
    ]);
    expect(device.properties.map((p) => `${p.component ?? ''}.${p.name}`)).toEqual([
      '.powerState',
      'zone1.targetTemperature',
      'zone2.targetTemperature',
      'info.manufacturer',
      'info.serialNumber',
    ]);
  });

  it("uses the group's modelRepository over the scenario's; path models still work beside DTMI ones", async () => {
    const repo = await controllerRepository();
    const elsewhere = await mkdtemp(path.join(tmpdir(), 'edgefleet-dmr-empty-'));
    const file = await scenarioWith(elsewhere, CONTROLLER, `, modelRepository: ${repo}`);
    const { model } = await loadedModel(file);
    expect(model.dtmi).toBe(CONTROLLER);
    const dir = path.dirname(file);
    await writeFile(path.join(dir, 'zone.json'), JSON.stringify(zone));
    const mixed = await write(
      dir,
      'mixed.yaml',
      [
        'name: mixed',
        `modelRepository: ${repo}`,
        'fleet:',
        `  - { group: a, kind: device, count: 1, model: "${CONTROLLER}" }`,
        '  - { group: b, kind: device, count: 1, model: ./zone.json }',
        '',
      ].join('\n'),
    );
    const loaded = await loadScenario(mixed);
    expect(loaded.groups[1]!.model).toMatchObject({ path: path.join(dir, 'zone.json') });
    expect(loaded.scenario.fleet[0]!.model).toBe(CONTROLLER);
  });

  it('uses an .expanded.json beside the model when there is one, whatever the single files say', async () => {
    const repo = await controllerRepository();
    await writeModels(repo, { [CONTROLLER]: [controller, powered, zone, identity] }, true);
    await writeModels(repo, { [ZONE]: '{ "broken": ' }); // never read: the expanded file has the Zone
    const { model, device } = await loadedModel(await scenarioWith(repo, CONTROLLER));
    const expanded = path.join(repo, dmrPath(CONTROLLER, true));
    expect(model.sources!.map((s) => s.file)).toEqual([expanded, expanded, expanded, expanded]);
    expect(model.sources!.map((s) => s.path)).toEqual(['[0]', '[1]', '[2]', '[3]']);
    expect(device.components.map((c) => c.modelId)).toEqual([ZONE, ZONE, IDENTITY]);
  });
});

describe('a model by DTMI from a repository URL', () => {
  it('is fetched once into the state directory, and loads again with the server gone', async () => {
    const repo = await controllerRepository();
    const server = await serveFolder(repo);
    const stateDir = await mkdtemp(path.join(tmpdir(), 'edgefleet-dmr-state-'));
    const file = await scenarioWith(server.url, CONTROLLER);
    try {
      const first = await loadedModel(file, { stateDir });
      expect(first.model.path).toBe(`${server.url}/${dmrPath(CONTROLLER)}`);
      expect(first.device.components).toHaveLength(3);
    } finally {
      await server.close();
    }
    // Each Interface once: no .expanded.json here (404), then the model itself.
    const asked = [CONTROLLER, POWERED, ZONE, IDENTITY].flatMap((id) => [
      `/repo/${dmrPath(id, true)}`,
      `/repo/${dmrPath(id)}`,
    ]);
    expect([...server.requests].sort()).toEqual(asked.sort());
    const cached = path.join(
      stateDir,
      'models',
      server.url.replace(/^http:\/\//, '').replace(/[:/]/g, '_'),
      dmrPath(ZONE),
    );
    expect(existsSync(cached)).toBe(true);

    const offline = await loadedModel(file, { stateDir });
    expect(offline.device).toEqual((await loadedModel(await scenarioWith(repo, CONTROLLER))).device);
    await rm(stateDir, { recursive: true, force: true });
  });

  it('takes the .expanded.json in one request when the repository has it', async () => {
    const repo = await controllerRepository();
    await writeModels(repo, { [CONTROLLER]: [controller, powered, zone, identity] }, true);
    const server = await serveFolder(repo);
    const stateDir = await mkdtemp(path.join(tmpdir(), 'edgefleet-dmr-state-'));
    try {
      const { device } = await loadedModel(await scenarioWith(server.url, CONTROLLER), { stateDir });
      expect(device.telemetry).toHaveLength(4);
      expect(server.requests).toEqual([`/repo/${dmrPath(CONTROLLER, true)}`]);
    } finally {
      await server.close();
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  it('says which URL failed and how, naming the model that named it', async () => {
    const repo = await controllerRepository();
    const server = await serveFolder(repo, (p) => (p.includes('zone-1') ? 500 : undefined));
    const stateDir = await mkdtemp(path.join(tmpdir(), 'edgefleet-dmr-state-'));
    try {
      const file = await scenarioWith(server.url, CONTROLLER);
      const error = await configError(() => loadScenario(file, { stateDir }));
      expect(error.problems).toHaveLength(1);
      expect(error.problems[0]).toMatchObject({
        file: `${server.url}/${dmrPath(CONTROLLER)}`,
        path: 'contents[1].schema',
      });
      expect(error.problems[0]!.message).toBe(
        `Component schema "${ZONE}" (named by "${CONTROLLER}"): ` +
          `cannot fetch ${server.url}/${dmrPath(ZONE, true)}: HTTP 500`,
      );
    } finally {
      await server.close();
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});

describe('a model by DTMI that cannot be resolved', () => {
  it('not in the repository: the scenario field, and every path looked up', async () => {
    const repo = await controllerRepository();
    const missing = 'dtmi:com:edgefleet:test:Nothing;3';
    const file = await scenarioWith(repo, missing);
    const error = await configError(() => loadScenario(file));
    const shown = path.relative(process.cwd(), repo).startsWith('..') ? repo : path.relative(process.cwd(), repo);
    expect(error.problems).toEqual([
      expect.objectContaining({
        file,
        path: 'fleet[0].model',
        message:
          `"${missing}" is not in the model repository ${shown}: looked up ` +
          `${path.join(shown, dmrPath(missing, true))} and ${path.join(shown, dmrPath(missing))}`,
        line: 4,
      }),
    ]);
  });

  it('a missing component schema: the model naming it, the JSON path, the paths looked up', async () => {
    const repo = await controllerRepository();
    await rm(path.join(repo, dmrPath(IDENTITY)));
    const error = await configError(async () => loadScenario(await scenarioWith(repo, CONTROLLER)));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatchObject({ file: path.join(repo, dmrPath(CONTROLLER)), path: 'contents[3].schema' });
    expect(error.problems[0]!.message).toBe(
      `Component schema "${IDENTITY}" (named by "${CONTROLLER}") is not in the model repository ${repo}: looked up ` +
        `${path.join(repo, dmrPath(IDENTITY, true))} and ${path.join(repo, dmrPath(IDENTITY))}`,
    );
  });

  it('an extends without a version cannot be looked up: the model and path that name it', async () => {
    const repo = await controllerRepository();
    await writeModels(repo, {
      [CONTROLLER]: {
        ...controller,
        '@context': 'dtmi:dtdl:context;3',
        extends: 'dtmi:com:edgefleet:test:PoweredDevice',
      },
    });
    const error = await configError(async () => loadScenario(await scenarioWith(repo, CONTROLLER)));
    expect(error.problems[0]).toMatchObject({ file: path.join(repo, dmrPath(CONTROLLER)), path: 'extends' });
    expect(error.problems[0]!.message).toContain('extends "dtmi:com:edgefleet:test:PoweredDevice" (named by');
    expect(error.problems[0]!.message).toContain('it keeps models by DTMIs with a version');
  });

  it('a malformed DTMI in the scenario, and a DTMI with no repository to look in', async () => {
    const repo = await controllerRepository();
    let error = await configError(async () => loadScenario(await scenarioWith(repo, 'dtmi:com:edgefleet:test:Bad_;1')));
    expect(error.problems[0]).toMatchObject({ path: 'fleet[0].model' });
    expect(error.problems[0]!.message).toContain('cannot be looked up');
    const dir = await mkdtemp(path.join(tmpdir(), 'edgefleet-dmr-none-'));
    const file = await write(
      dir,
      's.yaml',
      `name: x\nfleet:\n  - { group: a, kind: device, count: 1, model: "${CONTROLLER}" }\n`,
    );
    error = await configError(() => loadScenario(file));
    expect(error.problems[0]).toMatchObject({ path: 'fleet[0].model' });
    expect(error.problems[0]!.message).toContain('set modelRepository (scenario-wide or in this group)');
    const gone = await write(
      dir,
      't.yaml',
      `name: x\nmodelRepository: ./nowhere\nfleet:\n  - { group: a, kind: device, count: 1, model: "${CONTROLLER}" }\n`,
    );
    error = await configError(() => loadScenario(gone));
    expect(error.problems[0]).toMatchObject({
      path: 'modelRepository',
      message: `model repository folder not found: ${path.join(dir, 'nowhere')}`,
    });
  });

  it('a file whose @id is not the DTMI it is kept under, and a file that is not JSON', async () => {
    const repo = await controllerRepository();
    await writeModels(repo, { [ZONE]: { ...zone, '@id': 'dtmi:com:edgefleet:test:Zone;2' } });
    let error = await configError(async () => loadScenario(await scenarioWith(repo, CONTROLLER)));
    expect(error.problems[0]).toMatchObject({
      file: path.join(repo, dmrPath(ZONE)),
      path: '@id',
      message:
        `expected the Interface "${ZONE}" (the DTMI this file is kept under); ` +
        'its "@id" is "dtmi:com:edgefleet:test:Zone;2"',
    });
    await writeModels(repo, { [ZONE]: '{\n  "@id": "x",\n  oops\n}' });
    error = await configError(async () => loadScenario(await scenarioWith(repo, CONTROLLER)));
    expect(error.problems[0]).toMatchObject({ file: path.join(repo, dmrPath(ZONE)), path: '' });
    expect(error.problems[0]!.message).toContain('not valid JSON (line 3, column 3)');
  });

  it('extends that make a cycle across files are refused, naming the file and the reference', async () => {
    const repo = await controllerRepository();
    await writeModels(repo, { [POWERED]: { ...powered, extends: CONTROLLER } });
    const error = await configError(async () => loadScenario(await scenarioWith(repo, CONTROLLER)));
    expect(error.problems[0]).toMatchObject({ file: path.join(repo, dmrPath(POWERED)), path: 'extends' });
    expect(error.problems[0]!.message).toContain(`"extends" makes a cycle: ${CONTROLLER} → ${POWERED} → ${CONTROLLER}`);
  });

  it('a broken Interface deep in the repository is refused under its own file and JSON path', async () => {
    const repo = await controllerRepository();
    const broken = structuredClone(zone) as { contents: { schema: string }[] };
    broken.contents[0]!.schema = 'doubel';
    await writeModels(repo, { [ZONE]: broken });
    const file = await scenarioWith(repo, CONTROLLER);
    const error = await configError(() => loadScenario(file));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatchObject({ file: path.join(repo, dmrPath(ZONE)), path: 'contents[0].schema' });
    expect(error.problems[0]!.message).toContain('got "doubel" (did you mean "double"?)');
    expect(error.problems[0]!.message).toContain(`(named by fleet[0].model in ${file})`);
  });
});
