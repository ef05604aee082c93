// `edgefleet validate` and `edgefleet run` as a user runs them (the built CLI in a child process): what a run would
// refuse, validate refuses, both with exit 2, the file and the JSON path, and a run refuses it before anything
// connects; a scenario naming its model by DTMI from a local model folder runs.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/index.js';
import { rest, startTestEmulator, stats } from '../support/emulator.js';
import { CONTROLLER, controllerRepository } from '../support/model-repository.js';

const REPO = process.cwd();
const CLI = path.join(REPO, 'dist/cli/main.js');
const dir = await mkdtemp(path.join(tmpdir(), 'edgefleet-validate-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

function cli(args: string[], cwd = dir): Promise<{ code: number | null; out: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stdout = '';
    child.stdout.on('data', (d) => {
      out += d;
      stdout += d;
    });
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code, out, stdout }));
  });
}

const TYPO_PATH = 'contents[0].schema';

beforeAll(async () => {
  expect(existsSync(CLI), 'build first: npm test runs tsc before vitest').toBe(true);
  await mkdir(path.join(dir, 'models'));
  const thermostat = await readFile(path.join(REPO, 'scenarios/models/thermostat.dtdl.json'), 'utf8');
  await writeFile(path.join(dir, 'models/thermostat.json'), thermostat);
  // The typo a new user makes: "doubel" for "double", in the model of the second group only.
  await writeFile(path.join(dir, 'models/typo.json'), thermostat.replace('"schema": "double"', '"schema": "doubel"'));
  const group = (name: string, model: string) =>
    `  - { group: ${name}, kind: device, count: 2, model: ./models/${model} }`;
  await writeFile(
    path.join(dir, 'typo.yaml'),
    ['name: typo', 'duration: 5s', 'fleet:', group('good', 'thermostat.json'), group('bad', 'typo.json'), ''].join(
      '\n',
    ),
  );
  await writeFile(
    path.join(dir, 'good.yaml'),
    ['name: good', 'duration: 5s', 'fleet:', group('good', 'thermostat.json'), ''].join('\n'),
  );
});

describe('edgefleet validate', () => {
  it('refuses a model with a schema typo: exit 2, a bad line, the model file and the JSON path', async () => {
    const r = await cli(['validate', 'good.yaml', 'typo.yaml']);
    expect(r.code, r.out).toBe(2);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^ok {2}good\.yaml: 2 identities/);
    expect(lines[1]).toBe('bad typo.yaml:');
    expect(lines[2]).toBe(
      `    models/typo.json: ${TYPO_PATH}: expected a DTDL schema ` +
        '("double", "string", "integer", "boolean", "dateTime", an Object, ' +
        'Enum, Array or Map…), got "doubel" (did you mean "double"?) (named by fleet[1].model in typo.yaml)',
    );
  });

  it('passes every shipped scenario, profile and smoke scenario: exit 0, an ok line each', async () => {
    const files = ['scenarios/*.yaml', 'profiles/*.yaml', 'scenarios/smoke/*.yaml'];
    const child = spawn('/bin/sh', ['-c', `"${process.execPath}" "${CLI}" validate ${files.join(' ')}`], { cwd: REPO });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, out).toBe(0);
    const lines = out
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('    '));
    expect(lines.length).toBeGreaterThanOrEqual(20);
    expect(
      lines.every((l) => l.startsWith('ok  ')),
      out,
    ).toBe(true);
  });

  it('says in --help that it checks what a run checks, and its exit codes', async () => {
    const r = await cli(['validate', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Whatever a run would refuse');
    expect(r.out).toContain('2 a file is bad');
  });
});

describe('edgefleet run', () => {
  let emulator: Emulator;
  let infoFile: string;
  beforeAll(async () => {
    emulator = await startTestEmulator();
    infoFile = path.join(dir, 'emulator.json');
    await writeFile(infoFile, JSON.stringify(emulator.info));
  });
  afterAll(() => emulator.close());

  it('refuses the same model with exit 2, naming the file and the path, before anything connects', async () => {
    const r = await cli([
      'run',
      'typo.yaml',
      '--target-info',
      infoFile,
      '--no-tui',
      '--reports-dir',
      path.join(dir, 'reports'),
    ]);
    expect(r.code, r.out).toBe(2);
    expect(r.out).toContain(`models/typo.json: ${TYPO_PATH}: expected a DTDL schema`);
    expect(r.out).not.toMatch(/identities, profile/); // the start line: the run never started
    expect(r.out).not.toMatch(/^\s+at /m); // no stack trace
    const s = await stats(emulator);
    expect(Object.keys(s.identities ?? {})).toEqual([]);
    expect((await rest(emulator, 'GET', '/api/devices')).json.value).toEqual([]);
  });

  it('refuses a bad route of a manifest with exit 2, naming the manifest file and the route', async () => {
    await mkdir(path.join(dir, 'manifests'), { recursive: true });
    const manifest = JSON.parse(
      await readFile(path.join(REPO, 'scenarios/manifests/environmental-sensor.json'), 'utf8'),
    );
    manifest.modulesContent.$edgeHub['properties.desired'].routes = { toCloud: 'FROM /messages/* INTO $upstreem' };
    await writeFile(path.join(dir, 'manifests/bad-route.json'), JSON.stringify(manifest, null, 2));
    await writeFile(
      path.join(dir, 'route.yaml'),
      'name: route\nduration: 5s\nfleet:\n' +
        '  - { group: edge, kind: iotEdge, count: 1, manifest: ./manifests/bad-route.json }\n',
    );
    const r = await cli([
      'run',
      'route.yaml',
      '--target-info',
      infoFile,
      '--no-tui',
      '--reports-dir',
      path.join(dir, 'reports'),
    ]);
    expect(r.code, r.out).toBe(2);
    expect(r.out).toContain(
      'manifests/bad-route.json: modulesContent.$edgeHub["properties.desired"].routes.toCloud: ' +
        'unknown sink "$upstreem"',
    );
    expect((await rest(emulator, 'GET', '/api/devices')).json.value).toEqual([]);
  });

  it('runs a model named by DTMI from a local model folder: its components and extends reach the cloud', async () => {
    const repo = await controllerRepository();
    const models = path.join(dir, 'dmr');
    await cp(repo, models, { recursive: true });
    await rm(repo, { recursive: true, force: true });
    await writeFile(
      path.join(dir, 'dtmi.yaml'),
      [
        'name: by-dtmi',
        'modelRepository: ./dmr',
        'fleet:',
        `  - { group: climate, kind: device, count: 2, idPattern: "climate-{index}", model: "${CONTROLLER}",` +
          ' telemetry: { interval: 1s } }',
        '',
      ].join('\n'),
    );
    const r = await cli([
      'run',
      'dtmi.yaml',
      '--duration',
      '6s',
      '--no-tui',
      '--workers',
      '1',
      '--target-info',
      infoFile,
      '--reports-dir',
      path.join(dir, 'reports-dtmi'),
    ]);
    expect(r.code, r.out).toBe(0);
    const device = await rest(emulator, 'GET', '/api/devices/climate-1');
    expect(device.json).toMatchObject({ id: 'climate-1', template: CONTROLLER });
    // Inherited through extends, and sent by a component (Zone, named twice) with $.sub.
    expect((await rest(emulator, 'GET', '/api/devices/climate-1/telemetry/powerDraw')).status).toBe(200);
    const zoneTemperature = await rest(
      emulator,
      'GET',
      '/api/devices/climate-2/components/zone2/telemetry/temperature',
    );
    expect(zoneTemperature.status, JSON.stringify(zoneTemperature.json)).toBe(200);
    expect(zoneTemperature.json.value).toEqual(expect.any(Number));
  }, 60_000);
});
