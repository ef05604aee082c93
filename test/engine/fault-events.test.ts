// Fault events against the real emulator: a network drop destroys the chosen identities' sockets (the emulator sees
// them disconnect and connect again) and the report says how long the fleet took to be whole; a target restart kills
// the emulator edgefleet started (a real child process) and starts another on the same port. Each event has its
// section in summary.json, the console report, report.html and the timeline.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScenario } from '../../src/api/run-scenario.js';
import { ConfigError } from '../../src/config/errors.js';
import { loadScenario } from '../../src/config/load.js';
import type { Emulator } from '../../src/emulator/index.js';
import type { FaultEventReport } from '../../src/metrics/fault-events.js';
import { startTestEmulator, stats, isolatedStateDir } from '../support/emulator.js';

// A state directory of this file's own: the emulator its runs start records its state there.
const state = isolatedStateDir();
afterAll(() => state.remove());

const MANIFEST = resolve('test/fixtures/environmental-sensor.manifest.json');
let emulator: Emulator;
const dir = await mkdtemp(join(tmpdir(), 'edgefleet-faults-'));
beforeAll(async () => {
  emulator = await startTestEmulator();
});
afterAll(async () => {
  await emulator?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A scenario and its profile in the test's folder; `fleet` and `events` are YAML lines. */
async function scenario(name: string, o: { seconds: number; fleet: string[]; events: string[] }): Promise<string> {
  await writeFile(
    join(dir, `${name}.profile.yaml`),
    [
      `name: ${name}`,
      `duration: ${o.seconds}s`,
      'arrivals: { startRate: 1000 }',
      'events:',
      ...o.events.map((e) => `  - ${e}`),
      'drain: 2s',
      '',
    ].join('\n'),
  );
  const file = join(dir, `${name}.yaml`);
  const lines = [`name: ${name}`, 'seed: 9', `profile: ./${name}.profile.yaml`, 'fleet:', ...o.fleet, ''];
  await writeFile(file, lines.join('\n'));
  return file;
}

const thermostats = (prefix: string, count: number) =>
  `  - { group: thermostats, kind: device, count: ${count}, idPattern: "${prefix}-{index:02}", ` +
  'telemetry: { interval: 500ms } }';

describe('networkDrop', () => {
  it('destroys every socket of the chosen identities, modules included; the report says when whole', async () => {
    const file = await scenario('drops', {
      seconds: 14,
      fleet: [
        '  - { group: edges, kind: iotEdge, count: 2, idPattern: "drop-edge-{index}", auth: sas, ' +
          `manifest: ${JSON.stringify(MANIFEST)} }`,
        thermostats('drop-t', 12),
      ],
      events: [
        '{ at: 6s, kind: networkDrop, group: edges }',
        '{ at: 9s, kind: networkDrop, fraction: 0.5, group: thermostats }',
      ],
    });
    const reportsDir = join(dir, 'reports-drop');
    const result = await runScenario({ scenario: file, emulator: emulator.info, workers: 2, reportsDir });
    const [edges, half] = result.summary.events as FaultEventReport[];
    // Every IoT Edge device: edgeAgent, edgeHub and its module, each a socket of its own.
    expect(edges).toMatchObject({
      kind: 'networkDrop',
      tookAway: { identities: 2, connections: 6 },
      before: { identities: 14, connections: 18 },
    });
    expect(edges!.wholeAfterMs).toEqual(expect.any(Number));
    const s = await stats(emulator);
    for (const edge of ['drop-edge-1', 'drop-edge-2']) {
      for (const module of ['$edgeAgent', '$edgeHub', 'SimulatedTemperatureSensor']) {
        const c = s.identities[`${edge}/${module}`];
        expect(c.connects, `${edge}/${module}`).toBeGreaterThanOrEqual(2); // cut, and connected again
      }
    }
    // Half the thermostats, seeded: those cut connected twice and were seen to go twice (the cut, then the end).
    const counters = Object.entries(s.identities as Record<string, { connects: number; disconnects: number }>);
    const cut = counters.filter(([id, c]) => id.startsWith('drop-t-') && c.connects >= 2);
    expect(half!.tookAway.identities).toBeGreaterThan(0);
    expect(half!.tookAway.identities).toBeLessThan(12);
    expect(cut.map(([id]) => id)).toHaveLength(half!.tookAway.identities);
    for (const [id, c] of cut) expect(c.disconnects, id).toBe(2);
    expect(half!.tookAway.connections).toBe(half!.tookAway.identities);
    expect(half!.wholeAfterMs).toEqual(expect.any(Number));
    const window = half!.ledger!;
    expect(window).toMatchObject({ generated: expect.any(Number), lost: window.failed + window.expired });
    expect(half!.errors.network).toBe(half!.tookAway.connections);
    // The sections, the timeline and the chart marks.
    expect(result.console).toMatch(/events\[0\] networkDrop at 0:06 \(fraction 1, group edges\)/);
    expect(result.console).toMatch(/took away\s+2 identities, 6 connections/);
    const title = 'events[1] networkDrop at 0:09 (fraction 0.5, group thermostats)';
    const second = result.console.slice(result.console.indexOf(title));
    expect(second.split('\n')[2]).toMatch(/^\s+whole again\s+after \d+\.\d s/);
    const csv = await readFile(join(result.reportDir, 'timeseries.csv'), 'utf8');
    expect(csv).toMatch(/,networkDrop#0(;networkDrop#0 whole)?\n/);
    expect(csv).toMatch(/networkDrop#1 whole/);
    const html = await readFile(join(result.reportDir, 'report.html'), 'utf8');
    expect(html).toMatch(/<section id="events">/);
    expect(html).toContain(`data-event="1" data-kind="networkDrop" data-whole-after-ms="${half!.wholeAfterMs}"`);
    expect(result.summary.ledger.balanced).toBe(true);
  }, 60_000);
});

describe('targetRestart', () => {
  it('kills the emulator edgefleet started and starts another on the same port; the event has a section', async () => {
    const file = await scenario('restart', {
      seconds: 12,
      fleet: [thermostats('restart-t', 10)],
      events: ['{ at: 3s, kind: targetRestart, duration: 2s }'],
    });
    // No emulator given: runScenario starts one in a child process, as `edgefleet run` does.
    const reportsDir = join(dir, 'reports-restart');
    const result = await runScenario({ scenario: file, stateDir: state.dir, workers: 1, reportsDir });
    const [restart] = result.summary.events as FaultEventReport[];
    expect(restart).toMatchObject({ kind: 'targetRestart', tookAway: { identities: 10, connections: 10 } });
    const target = restart!.target!;
    expect(target.error).toBeUndefined();
    expect(target.killedPid).toEqual(expect.any(Number));
    expect(target.pid).toEqual(expect.any(Number));
    expect(target.pid).not.toBe(target.killedPid);
    expect(() => process.kill(target.killedPid!, 0)).toThrow(/ESRCH/); // really gone
    expect(restart!.targetBackAtMs! - restart!.startedAtMs!).toBeGreaterThanOrEqual(2000);
    // The new process answered on the same ports: the devices reached it (whole again, or still backing off when the
    // run ended), and the reconciliation read its /stats at the end.
    if (restart!.wholeAfterMs === null) {
      expect(restart!.notWhole).toMatch(/never whole again before the end: \d+ of 10 identities connected/);
      // A loaded machine: the devices' reconnect backoff outlasted the run (the new process remembers them).
      const failures = Object.values(restart!.errors as Record<string, number>).reduce((a, b) => a + b, 0);
      expect(failures).toBeGreaterThan(0);
    } else {
      expect(restart!.wholeAfterTargetBackMs).toEqual(expect.any(Number));
    }
    expect(result.summary.reconciliation).not.toBeNull();
    const back = `back after \\d+\\.\\d s as pid ${target.pid} on port ${target.mqttPort}`;
    expect(result.console).toMatch(new RegExp(`target\\s+killed pid ${target.killedPid}, ${back}`));
    const csv = await readFile(join(result.reportDir, 'timeseries.csv'), 'utf8');
    expect(csv).toMatch(/,targetRestart#0/);
    expect(result.summary.ledger.balanced).toBe(true);
  }, 60_000);

  it('is refused for a target edgefleet did not start: another kind, or an emulator given by its info', async () => {
    const file = await scenario('restart-refused', {
      seconds: 10,
      fleet: [thermostats('refused-t', 1)],
      events: ['{ at: 3s, kind: targetRestart, duration: 1s }'],
    });
    const mqtt = join(dir, 'restart-mqtt.yaml');
    await writeFile(
      mqtt,
      (await readFile(file, 'utf8')).replace(
        'fleet:',
        [
          'target: mqtt',
          'targets:',
          '  mqtt: { host: 127.0.0.1, topics: { telemetry: "t/{deviceId}" } }',
          'fleet:',
        ].join('\n'),
      ),
    );
    const asMqtt = await loadScenario(mqtt).catch((err: unknown) => err);
    expect(asMqtt).toBeInstanceOf(ConfigError);
    expect((asMqtt as ConfigError).problems).toEqual([
      expect.objectContaining({
        file: expect.stringMatching(/restart-refused\.profile\.yaml$/),
        path: 'events[0].kind',
        message: expect.stringMatching(/target here is mqtt/),
      }),
    ]);
    const reportsDir = join(dir, 'reports-refused');
    const given = await runScenario({ scenario: file, emulator: emulator.info, reportsDir }).catch(
      (err: unknown) => err,
    );
    expect(given).toBeInstanceOf(ConfigError);
    const problem = (given as ConfigError).problems[0];
    expect(problem).toMatchObject({ path: 'events[0].kind', message: expect.stringMatching(/--target-info/) });
  });
});
