// The assignment cache across runs, as a user would see it: runs of the same fleet against one emulator (workers in
// this thread), their summaries and the emulator's /stats. The second run connects without DPS; --reprovision
// registers again; a device deleted between runs registers again by itself; an emulator that forgot everything
// refuses the cached assignments, and the fleet falls back to DPS. Then a fleet whose identities give up: failed.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runScenario, type ScenarioResult } from '../../src/api/run-scenario.js';
import type { Emulator } from '../../src/emulator/index.js';
import { ASSIGNMENTS_FILE } from '../../src/endpoints/assignment-cache.js';
import { inThreadWorkers } from '../../src/engine/hosts.js';
import { rest, startTestEmulator } from '../support/emulator.js';

const FLEET = 'test/fixtures/run-devices.yaml';
const IDENTITIES = 30;
const dir = await mkdtemp(join(tmpdir(), 'edgefleet-assignments-'));
const stateDir = join(dir, 'state');
const emulators: Emulator[] = [];
afterAll(async () => {
  for (const e of emulators) await e.close();
  await rm(dir, { recursive: true, force: true });
});

async function emulatorOn(mqttPort = 0): Promise<Emulator> {
  const e = await startTestEmulator({ mqttPort });
  emulators.push(e);
  return e;
}

function run(emulator: Emulator, options: { reprovision?: boolean; scenario?: string } = {}): Promise<ScenarioResult> {
  return runScenario({
    scenario: options.scenario ?? FLEET,
    duration: '3s',
    emulator: emulator.info,
    workers: 2,
    spawn: inThreadWorkers(),
    stateDir,
    reportsDir: join(dir, 'reports'),
    ...(options.reprovision === true ? { reprovision: true } : {}),
  });
}

const registrations = (e: Emulator) => e.stats.dps.registrations;

describe('the assignment cache across runs', () => {
  it('reuses assignments on the next run, registers again with --reprovision and after a deletion', async () => {
    const emulator = await emulatorOn();
    const first = await run(emulator);
    expect(first.summary.provisioning).toEqual({ provisioned: IDENTITIES, reusedFromCache: 0, reprovisioned: 0 });
    expect(registrations(emulator)).toBe(IDENTITIES);
    expect(first.console).toMatch(/provisioning {2}through DPS 30, reused from cache 0, re-provisioned 0/);
    // The cache holds where each identity went and with which payload — never a key.
    const file = await readFile(join(stateDir, ASSIGNMENTS_FILE), 'utf8');
    const cache = JSON.parse(file);
    // An emulator is one target per ID scope: its ports may be new each run, its state directory's ID scope is not.
    const scope = cache.scopes.find(
      (s: { target: string; idScope: string }) => s.target === 'emulator' && s.idScope === emulator.info.idScope,
    );
    expect(Object.keys(scope.identities)).toHaveLength(IDENTITIES);
    expect(scope.identities['run-t-001']).toMatchObject({
      assignedHub: `${emulator.info.hubHostName}:${emulator.info.mqttPort}`,
      deviceId: 'run-t-001',
      payload: { modelId: 'dtmi:com:example:Thermostat;1' },
    });
    expect(file).not.toContain(emulator.info.enrollmentGroups.devices.primaryKey);

    const second = await run(emulator);
    expect(registrations(emulator)).toBe(IDENTITIES);
    expect(second.summary.provisioning).toEqual({ provisioned: 0, reusedFromCache: IDENTITIES, reprovisioned: 0 });
    expect(second.summary.operations.provision.count).toBe(0);
    expect(second.summary.operations.connect.count).toBe(IDENTITIES);
    expect(second.summary.ledger.balanced).toBe(true);
    expect(second.summary.reconciliation).toMatchObject({ acknowledgedNotReceived: 0 });

    const again = await run(emulator, { reprovision: true });
    expect(registrations(emulator)).toBe(2 * IDENTITIES);
    expect(again.summary.provisioning).toEqual({ provisioned: IDENTITIES, reusedFromCache: 0, reprovisioned: 0 });

    expect((await rest(emulator, 'DELETE', '/api/devices/run-t-007')).status).toBe(204);
    const afterDelete = await run(emulator);
    expect(registrations(emulator)).toBe(2 * IDENTITIES + 1);
    expect(afterDelete.summary.provisioning).toEqual({ provisioned: 0, reusedFromCache: IDENTITIES, reprovisioned: 1 });
    expect(afterDelete.summary.gauges.failed ?? 0).toBe(0);
    expect((await rest(emulator, 'GET', '/api/devices/run-t-007')).json).toMatchObject({ provisioned: true });
  });

  it('falls back to DPS when an emulator that forgot everything refuses the cached assignments', async () => {
    const before = await emulatorOn();
    await run(before);
    const port = before.info.mqttPort;
    await before.close();
    emulators.splice(emulators.indexOf(before), 1);
    // The same target (host and port), an empty registry: every cached assignment is refused (CONNACK 5).
    const restarted = await emulatorOn(port);
    const result = await run(restarted);
    expect(registrations(restarted)).toBe(IDENTITIES);
    expect(result.summary.provisioning).toEqual({
      provisioned: 0,
      reusedFromCache: IDENTITIES,
      reprovisioned: IDENTITIES,
    });
    expect(result.summary.gauges.connected ?? 0).toBe(0); // stopped at the end
    expect(result.summary.gauges.failed ?? 0).toBe(0);
    expect(result.summary.ledger.balanced).toBe(true);
    expect(result.summary.reconciliation).toMatchObject({ acknowledgedNotReceived: 0 });
  });
});

describe('identities that give up', () => {
  it('are failed in the summary, its errors and the console (a connection string the hub refuses)', async () => {
    const emulator = await emulatorOn();
    const hub = `${emulator.info.hubHostName}:${emulator.info.mqttPort}`;
    const wrongKey = Buffer.alloc(32, 7).toString('base64');
    const strings = ['cs-dev-1', 'cs-dev-2'].map(
      (id) => `"HostName=${hub};DeviceId=${id};SharedAccessKey=${wrongKey}"`,
    );
    const scenario = join(dir, 'refused.yaml');
    await writeFile(
      scenario,
      [
        'name: refused',
        'seed: 5',
        'duration: 3s',
        `profile: ${resolve('test/fixtures/run-fast.profile.yaml')}`,
        'fleet:',
        '  - group: registered-elsewhere',
        '    kind: device',
        '    count: 2',
        '    auth: connectionString',
        `    connectionStrings: [${strings.join(', ')}]`,
        '  - group: thermostats',
        '    kind: device',
        '    count: 3',
        '    idPattern: "refused-run-t-{index}"',
        '',
      ].join('\n'),
    );
    const result = await run(emulator, { scenario });
    const s = result.summary;
    expect(s.gauges.failed).toBe(2);
    expect(s.gauges.stopped).toBe(3);
    expect(s.errors.auth.count).toBe(2);
    expect(s.errors.auth.lastMessage).toMatch(/^cs-dev-\d gave up: the hub refused the connection string/);
    expect(result.console).toMatch(/identities {2}2 failed/);
    expect(result.console).toMatch(/errors +auth +2 +last: "cs-dev-\d gave up: the hub refused/);
  });
});
