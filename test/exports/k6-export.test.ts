// `edgefleet export k6`: the script written for every shipped scenario that has plain devices typechecks with tsc
// against @types/k6 and the shipped k6/x/mqtt declarations (the others are refused, saying why); the files hold
// no secret; arrivals and thresholds become k6's; testrun.yaml is a ConfigMap and a TestRun; the built CLI leaves
// IoT Edge groups out on stderr, or refuses them with --strict.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadProfile } from '../../src/config/load.js';
import { K6ExportError } from '../../src/exports/k6.js';
import { k6Executor } from '../../src/exports/k6-options.js';
import { writeK6Export } from '../../src/exports/k6-write.js';
import { TEST_STATE_DIR } from '../support/emulator.js';

const REPO = process.cwd();
const TYPES = path.join(REPO, 'node_modules/@types');
const dir = await mkdtemp(path.join(tmpdir(), 'edgefleet-k6-export-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

/** tsc's verdict on a script, as a team would check it: strict, @types/k6, the declarations beside it. */
function typecheck(script: string): string[] {
  const program = ts.createProgram([script], {
    strict: true,
    noUncheckedIndexedAccess: true,
    // Only syntax that stripping the types turns into JavaScript, however k6's loader treats the rest.
    erasableSyntaxOnly: true,
    verbatimModuleSyntax: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2020,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2020.d.ts'],
    types: [],
    typeRoots: [TYPES],
    paths: { k6: [path.join(TYPES, 'k6/index.d.ts')], 'k6/*': [path.join(TYPES, 'k6/*')] },
  });
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

const shipped = [
  ...readdirSync('scenarios').map((f) => `scenarios/${f}`),
  ...readdirSync('scenarios/smoke').map((f) => `scenarios/smoke/${f}`),
].filter((f) => f.endsWith('.yaml') && !f.endsWith('.profile.yaml'));

describe('the script of every shipped scenario', () => {
  it.each([...shipped, 'test/exports/fixtures/k6-fleet.yaml'])(
    '%s typechecks, or is refused saying why',
    async (file) => {
      const out = path.join(dir, path.basename(file, '.yaml'));
      const text = await readFile(file, 'utf8');
      const plainSas = /kind: device/.test(text);
      try {
        const written = await writeK6Export({ scenario: file, out, target: 'emulator' });
        expect(plainSas, `${file} has no plain device group, yet it was exported`).toBe(true);
        expect(typecheck(written.paths[0]!)).toEqual([]);
      } catch (err) {
        if (!(err instanceof K6ExportError)) throw err;
        expect(plainSas, err.message).toBe(false);
        expect(err.message).toMatch(/no group k6 can run .*an IoT Edge group: edgeAgent, edgeHub/);
      }
    },
  );

  it('fails to typecheck a script that misuses the k6/x/mqtt API', async () => {
    const out = path.join(dir, 'broken');
    const written = await writeK6Export({ scenario: 'scenarios/quickstart.yaml', out, target: 'emulator' });
    const script = written.paths[0]!;
    const { writeFile } = await import('node:fs/promises');
    await writeFile(script, `${await readFile(script, 'utf8')}\nnew Client({ clientId: 'x' });\n`);
    expect(typecheck(script).join('\n')).toMatch(/clientId.*does not exist in type 'ClientOptions'/);
  });
});

describe('secrets', () => {
  it('are never written, for a scenario whose target has them: only the __ENV names', async () => {
    const sentinels: Record<string, string> = {
      IOTC_ID_SCOPE: '0ne00SENTINEL',
      IOTC_SUBDOMAIN: 'sentinel-app',
      IOTC_API_TOKEN: 'SharedAccessSignature sr=sentinel-token',
      IOTC_DEVICES_KEY: 'c2VudGluZWwtZGV2aWNlcy1rZXk=',
      IOTC_EDGE_DEVICES_KEY: 'c2VudGluZWwtZWRnZS1rZXk=',
    };
    Object.assign(process.env, sentinels);
    try {
      const out = path.join(dir, 'secrets');
      const written = await writeK6Export({ scenario: 'scenarios/quickstart.yaml', out, target: 'iot-central' });
      // The emulator's own secrets (group keys, REST API token) are not in the files either.
      const emulatorSecrets = JSON.parse(await readFile(path.join(TEST_STATE_DIR, 'secrets.json'), 'utf8'));
      const secrets = [...Object.values(sentinels), ...leaves(emulatorSecrets).filter((s) => s.length >= 16)];
      expect(secrets.length).toBeGreaterThan(Object.keys(sentinels).length);
      for (const file of written.paths) {
        const text = await readFile(file, 'utf8');
        for (const secret of secrets) expect(text.includes(secret), `${file} holds a secret`).toBe(false);
      }
      const script = await readFile(written.paths[0]!, 'utf8');
      for (const name of ['EDGEFLEET_ID_SCOPE', 'EDGEFLEET_DEVICES_KEY']) expect(script).toContain(`-e ${name}=`);
    } finally {
      for (const name of Object.keys(sentinels)) delete process.env[name];
    }
  });
});

function leaves(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (typeof value !== 'object' || value === null) return [];
  return Object.values(value).flatMap(leaves);
}

describe('k6 options', () => {
  it('makes a constant rate constant-arrival-rate, one VU per device, until the last arrival', async () => {
    const { profile } = await loadProfile('smoke');
    const executor = k6Executor({ ...profile, arrivals: { startRate: 0.5, stages: [] } }, 4, 60_000);
    // 4 devices at 0.5/s arrive at 0, 2, 4 and 6 s: the window ends a second after the last, in whole seconds.
    expect(executor).toMatchObject({
      executor: 'constant-arrival-rate',
      rate: 30,
      timeUnit: '1m',
      duration: '7000ms',
      preAllocatedVUs: 4,
      maxVUs: 4,
    });
  });

  it('cuts a ramp between the last device and the one after it, so that k6 starts each device once', async () => {
    const { profile } = await loadProfile('smoke');
    const ramp = { startRate: 0, stages: [{ duration: 10_000, target: 10 }] };
    // N(t) = t²/2 devices after t s: the 18th (k = 17) arrives at √34 ≈ 5.83 s, a 19th would at 6 s.
    const executor = k6Executor({ ...profile, arrivals: ramp }, 18, 60_000);
    expect(executor).toMatchObject({
      executor: 'ramping-arrival-rate',
      startRate: 0,
      stages: [{ duration: '5916ms' }],
    });
    // k6 starts an iteration each time the rate's integral passes a whole number: 0, 1, … 17 here.
    const perSecond = { '1s': 1, '1m': 60, '1h': 3600 }[executor.timeUnit as string]!;
    const stage = (executor.stages as { duration: string; target: number }[])[0]!;
    const started = ((0 + stage.target / perSecond) / 2) * (parseInt(stage.duration, 10) / 1000);
    expect(started).toBeGreaterThan(17);
    expect(started).toBeLessThan(18);
  });

  it('translates the thresholds k6 can judge and names the others in the header', async () => {
    const out = path.join(dir, 'thresholds');
    const written = await writeK6Export({ scenario: 'test/exports/fixtures/k6-fleet.yaml', out, target: 'emulator' });
    const script = await readFile(written.paths[0]!, 'utf8');
    const options = JSON.parse(/export const options: Options = (\{[\s\S]*?\n\});/.exec(script)![1]!);
    expect(options.thresholds).toEqual({
      telemetry: ['p(99)<2000'],
      connect: [{ threshold: 'p(95)<5000', abortOnFail: true }],
      provision: ['med<3000'],
      errors: ['rate<0.01'],
      'error_count{class:auth}': ['count==0'],
      ledger_failed: ['count==0'],
    });
    expect(script).toMatch(/left out: reconciliation\.acknowledgedNotReceived == 0 \(/);
    expect(script).toMatch(/left out: command\.p99 < 1s \(/);
  });
});

describe('testrun.yaml', () => {
  it('holds the script in a ConfigMap and a TestRun that runs it from there, settings from a Secret', async () => {
    const out = path.join(dir, 'testrun');
    const written = await writeK6Export({
      scenario: 'scenarios/quickstart.yaml',
      out,
      target: 'emulator',
      parallelism: 4,
    });
    const docs = parseAllDocuments(await readFile(path.join(out, 'testrun.yaml'), 'utf8')).map((d) => d.toJS());
    const [configMap, testRun] = docs;
    expect(configMap).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'quickstart-k6' } });
    expect(configMap.data['quickstart.k6.ts']).toBe(await readFile(written.paths[0]!, 'utf8'));
    expect(testRun).toMatchObject({
      apiVersion: 'k6.io/v1alpha1',
      kind: 'TestRun',
      spec: { parallelism: 4, script: { configMap: { name: 'quickstart-k6', file: 'quickstart.k6.ts' } } },
    });
    const env = testRun.spec.runner.env as { name: string; valueFrom?: any; value?: string }[];
    expect(env.find((e) => e.name === 'EDGEFLEET_DEVICES_KEY')?.valueFrom.secretKeyRef.name).toBe(
      'quickstart-k6-settings',
    );
    expect(env.find((e) => e.name === 'K6_INSECURE_SKIP_TLS_VERIFY')?.value).toBe('true');
  });
});

describe('the built CLI', () => {
  const CLI = path.join(REPO, 'dist/cli/main.js');
  const cli = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
    });

  it('leaves the IoT Edge group out and says so, or refuses with --strict (exit 2)', async () => {
    expect(existsSync(CLI), 'build first: npm test runs tsc before vitest').toBe(true);
    const out = path.join(dir, 'cli');
    const done = await cli(['export', 'k6', 'scenarios/quickstart.yaml', '--out', out]);
    expect(done.code).toBe(0);
    expect(done.stderr).toMatch(/left out environmental-sensors: an IoT Edge group/);
    expect(done.stdout).toMatch(/100 devices; wrote .*quickstart\.k6\.ts/);
    const script = await readFile(path.join(out, 'quickstart.k6.ts'), 'utf8');
    expect(script).toMatch(/\/\/ {3}left out: environmental-sensors — an IoT Edge group/);

    const strictOut = path.join(dir, 'cli-strict');
    const strict = await cli(['export', 'k6', 'scenarios/quickstart.yaml', '--out', strictOut, '--strict']);
    expect(strict.code).toBe(2);
    expect(strict.stderr).toMatch(/--strict: k6 cannot run environmental-sensors/);
    expect(existsSync(strictOut)).toBe(false);

    const edgeOnly = await cli(['export', 'k6', 'scenarios/store-and-forward.yaml', '--out', strictOut]);
    expect(edgeOnly.code).toBe(2);
    expect(edgeOnly.stderr).toMatch(/no group k6 can run/);

    const noPods = await cli(['export', 'k6', 'scenarios/quickstart.yaml', '--out', strictOut, '--parallelism', '0']);
    expect(noPods.code).toBe(2);
    expect(noPods.stderr).toMatch(/--parallelism: expected a whole number of k6 runner pods >= 1, got 0/);
    expect(existsSync(strictOut)).toBe(false);
  });
});
