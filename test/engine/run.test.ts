// `edgefleet run` end to end, as a user runs it: the built CLI against an emulator it starts itself.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { isolatedStateDir } from '../support/emulator.js';
import { startMosquitto } from '../support/mosquitto.js';
import { systemPeer } from '../support/system-peer.js';

const CLI = join(process.cwd(), 'dist/cli/main.js');
const mosquitto = systemPeer('mosquitto');
const dir = mkdtempSync(join(tmpdir(), 'edgefleet-run-'));
const stateDirs: { remove(): void }[] = [];
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  for (const s of stateDirs) s.remove();
});

/** A state directory for one run's emulator: runs never share its database, nor wait on its lock. */
function freshStateDir(): string {
  const state = isolatedStateDir();
  stateDirs.push(state);
  return state.dir;
}

/** With `interruptAfterMs`, a Ctrl-C that long after the run has started (its first progress line). */
function run(args: string[], opts: { interruptAfterMs?: number } = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let armed = false;
    child.stdout.on('data', (d) => {
      out += d;
      if (opts.interruptAfterMs !== undefined && !armed && out.includes('t=')) {
        armed = true;
        setTimeout(() => child.kill('SIGINT'), opts.interruptAfterMs);
      }
    });
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

const summaryIn = (reports: string) => {
  const runs = readdirSync(reports).filter((d) => d !== 'latest');
  expect(runs).toHaveLength(1);
  return JSON.parse(readFileSync(join(reports, runs[0] as string, 'summary.json'), 'utf8'));
};

describe('edgefleet run', () => {
  it('runs a fleet against the emulator it starts, and the report balances and reconciles', async () => {
    const reports = join(dir, 'reports-1');
    const r = await run([
      'run',
      'test/fixtures/run-devices.yaml',
      '--reports-dir',
      reports,
      '--state-dir',
      freshStateDir(),
      '--workers',
      '2',
    ]);
    expect(r.code, r.out).toBe(0);
    const s = summaryIn(reports);
    expect(s.operations.provision.count).toBe(30);
    expect(s.operations.connect.count).toBe(30);
    expect(s.operations.telemetry.count).toBeGreaterThan(100);
    for (const op of ['provision', 'connect', 'telemetry', 'twinGet', 'reportedPatch', 'command', 'desiredAck']) {
      expect(s.operations[op], op).toMatchObject({
        count: expect.any(Number),
        p50: expect.any(Number),
        p99: expect.any(Number),
        max: expect.any(Number),
      });
      expect(s.operations[op].raw, op).toMatchObject({ p50: expect.any(Number) });
    }
    expect(s.operations.command.count).toBeGreaterThan(0);
    expect(s.operations.desiredAck.count).toBeGreaterThan(0);
    const l = s.ledger;
    expect(l.generated).toBe(l.acknowledged + l.failed + l.expired + l.dropped + l.inFlight);
    expect(l.acknowledged).toBe(s.operations.telemetry.count);
    expect(s.reconciliation).toMatchObject({ acknowledgedNotReceived: 0 });
    expect(s.reconciliation.received).toBeGreaterThanOrEqual(l.acknowledged);
    expect(s.scheduler.lateness.p99).toEqual(expect.any(Number));
    expect(r.out).toContain('balanced');
    expect(existsSync(join(reports, 'latest'))).toBe(true);
    expect(existsSync(join(reports, 'latest', 'telemetry.hgrm'))).toBe(true);
  });

  it('rides out a targetOutage (scenarios/store-and-forward.yaml): stored, delivered late or expired, balanced and reconciled', async () => {
    const reports = join(dir, 'reports-outage');
    const r = await run([
      'run',
      'scenarios/store-and-forward.yaml',
      '--duration',
      '20s',
      '--reports-dir',
      reports,
      '--state-dir',
      freshStateDir(),
    ]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/\(\d+ stored\)/); // the progress line shows the store filling during the outage
    const s = summaryIn(reports);
    const l = s.ledger;
    expect(l.generated).toBe(l.acknowledged + l.failed + l.expired + l.dropped + l.inFlight);
    expect(l.balanced).toBe(true);
    expect(l.deliveredLate).toBeGreaterThan(0);
    expect(l.expired).toBeGreaterThan(0); // routine readings outlive their 4 s TTL
    expect(l.stored).toBeGreaterThanOrEqual(0);
    expect(l.stored).toBeLessThanOrEqual(l.inFlight);
    expect(s.errors.server.count).toBeGreaterThan(0); // CONNACK 3 while the outage lasts
    expect(s.reconciliation.acknowledgedNotReceived).toBe(0);
    expect(s.reconciliation.received).toBeGreaterThanOrEqual(l.acknowledged);
  }, 90_000);

  it('stops gracefully on the first Ctrl-C, drains and still writes the report', async () => {
    const reports = join(dir, 'reports-2');
    const r = await run(
      [
        'run',
        'test/fixtures/run-devices.yaml',
        '--duration',
        '60s',
        '--reports-dir',
        reports,
        '--state-dir',
        freshStateDir(),
      ],
      { interruptAfterMs: 1000 },
    );
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('stopping');
    const s = summaryIn(reports);
    expect(s.durationSeconds).toBeLessThan(30);
    expect(s.operations.telemetry.count).toBeGreaterThan(0);
    expect(s.reconciliation.acknowledgedNotReceived).toBe(0);
  });

  it('exits 99 when a threshold fails and says by how much; a threshold that cannot be read exits 2 before anything runs', async () => {
    const reports = join(dir, 'reports-thresholds');
    const r = await run([
      'run',
      'test/fixtures/run-devices.yaml',
      '--duration',
      '4s',
      '--reports-dir',
      reports,
      '--state-dir',
      freshStateDir(),
      '--threshold',
      'telemetry.p99 < 0.001ms',
      '--threshold',
      'ledger.lost == 0',
    ]);
    expect(r.code, r.out).toBe(99);
    expect(r.out).toMatch(/telemetry\.p99 was [\d.]+ ms/);
    const s = summaryIn(reports);
    expect(s.thresholds.map((t: { threshold: string; passed: boolean }) => [t.threshold, t.passed])).toEqual([
      ['telemetry.p99 < 0.001ms', false],
      ['ledger.lost == 0', true],
    ]);
    const junit = readFileSync(join(reports, 'latest', 'junit.xml'), 'utf8');
    expect(junit).toContain('<failure');
    expect(existsSync(join(reports, 'latest', 'report.html'))).toBe(true);

    const bad = await run([
      'run',
      'test/fixtures/run-devices.yaml',
      '--threshold',
      'telemetry.p99 < fast',
      '--reports-dir',
      join(dir, 'reports-bad-threshold'),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.out).toContain('--threshold');
    expect(existsSync(join(dir, 'reports-bad-threshold'))).toBe(false);
  });

  it('refuses a bad scenario before anything connects, naming the file, the path and what was expected', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'name: bad\nfleet:\n  - group: g\n    kind: device\n    count: ten\n');
    const r = await run(['run', bad, '--reports-dir', join(dir, 'reports-3')]);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/bad\.yaml: fleet\[0\]\.count: expected a whole number/);
    expect(existsSync(join(dir, 'reports-3'))).toBe(false);

    // The quickstart's IoT Edge devices cannot run against a plain broker: said up front, not by a worker later.
    const edge = await run([
      'run',
      'scenarios/quickstart.yaml',
      '--target',
      'mqtt',
      '--reports-dir',
      join(dir, 'reports-4'),
    ]);
    expect(edge.code, edge.out).toBe(2);
    expect(edge.out).toMatch(/quickstart\.yaml: fleet\[0\]\.kind: IoT Edge devices need an Azure target/);
    expect(existsSync(join(dir, 'reports-4'))).toBe(false);
  });

  it.skipIf(mosquitto.missing)(
    'with --target mqtt, Mosquitto delivers exactly what the run says was acknowledged',
    async () => {
      const broker = await startMosquitto();
      try {
        const scenario = join(dir, 'mqtt.yaml');
        writeFileSync(
          scenario,
          [
            'name: mqtt-run',
            'duration: 5s',
            'target: mqtt',
            'targets:',
            '  mqtt:',
            '    host: 127.0.0.1',
            `    port: ${broker.port}`,
            '    clientId: "bench-{deviceId}"',
            '    topics: { telemetry: "plant/{deviceId}/telemetry" }',
            'profile: ' + join(process.cwd(), 'test/fixtures/run-fast.profile.yaml'),
            'fleet:',
            '  - { group: sensors, kind: device, count: 20, idPattern: "s-{index:02}", telemetry: { interval: 250ms } }',
          ].join('\n'),
        );
        let received = 0;
        const subscriber = await mqtt.connectAsync({
          host: '127.0.0.1',
          port: broker.port,
          protocolVersion: 4,
          reconnectPeriod: 0,
        });
        await subscriber.subscribeAsync('plant/+/telemetry', { qos: 1 });
        subscriber.on('message', () => void received++);
        const reports = join(dir, 'reports-mqtt');
        const r = await run(['run', scenario, '--reports-dir', reports]);
        expect(r.code, r.out).toBe(0);
        const s = summaryIn(reports);
        await new Promise((resolve) => setTimeout(resolve, 500));
        await subscriber.endAsync();
        expect(s.ledger.acknowledged).toBeGreaterThan(100);
        expect(received).toBe(s.ledger.acknowledged);
        expect(s.ledger.failed).toBe(0);
      } finally {
        await broker.stop();
      }
    },
  );
});
