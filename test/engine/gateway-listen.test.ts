// `edgefleet run --gateway-listen` as a user runs it: the built CLI runs the bundled transparent-gateway scenario
// against an emulator, opens a TLS port on gateway-01's edgeHub, and the official Azure IoT SDK connects through it
// with GatewayHostName= while the simulated leaves run; everything reaches the emulator as its own identity. Only the
// gateway's children get in: a device attached to another gateway, or to none, is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Emulator } from '../../src/emulator/index.js';
import { writeInfoFile } from '../../src/emulator/index.js';
import { rest, startTestEmulator } from '../support/emulator.js';
import { until } from '../support/wait.js';
import {
  closeAll,
  deriveDeviceKey,
  deviceClient,
  Message,
  registerWithSymmetricKey,
  rejectionOf,
  within,
  type DeviceClient,
} from '../support/azure-sdk.js';

const CLI = join(process.cwd(), 'dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'edgefleet-gateway-listen-'));
let emulator: Emulator;
let sdk: DeviceClient | undefined;
let running: ChildProcess | undefined;

beforeAll(async () => {
  emulator = await startTestEmulator();
  await writeInfoFile(join(dir, 'emulator.json'), emulator.info);
});
afterAll(async () => {
  // A failed test leaves the run going: stop it (the run's own pid, started here).
  if (running !== undefined && running.exitCode === null) running.kill('SIGKILL');
  await closeAll(sdk);
  await emulator?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('edgefleet run --gateway-listen', () => {
  it('lets the official SDK connect through a simulated gateway with GatewayHostName=, while its leaves run', async () => {
    const reports = join(dir, 'reports');
    const stateDir = join(dir, 'state');
    const child = spawn(
      process.execPath,
      [
        CLI,
        'run',
        'scenarios/transparent-gateway.yaml',
        '--duration',
        '120s',
        '--no-tui',
        '--workers',
        '2',
        '--target-info',
        join(dir, 'emulator.json'),
        '--state-dir',
        stateDir,
        '--reports-dir',
        reports,
        '--gateway-listen',
        'gateway-01',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    running = child;
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));

    await until(
      () => /edgeHub listens on mqtts:\/\/127\.0\.0\.1:\d+/.test(out),
      30_000,
      `the listening address in the output:\n${out}`,
    );
    const address = /GatewayHostName=(127\.0\.0\.1:\d+)/.exec(out)![1]!;
    const edgeCa = readFileSync(join(stateDir, 'edge-ca.pem'), 'utf8');

    const leafId = `sdk-leaf-${process.pid}`;
    const leafKey = deriveDeviceKey(emulator.info.enrollmentGroups.devices.primaryKey, leafId);
    const registration = await registerWithSymmetricKey(emulator.info, leafId, leafKey, {
      iotcGateway: { iotcGatewayId: 'gateway-01' },
    });
    sdk = await deviceClient(
      `HostName=${registration.assignedHub};DeviceId=${leafId};SharedAccessKey=${leafKey};GatewayHostName=${address}`,
      { ca: edgeCa },
    );
    await within(sdk.open(), 10_000, 'SDK open through gateway-01');
    for (let i = 0; i < 3; i++)
      await within(sdk.sendEvent(new Message(JSON.stringify({ temperature: 40 + i }))), 10_000, 'SDK sendEvent');
    await until(
      () => (emulator.stats.identities.get(leafId)?.messagesReceived ?? 0) === 3,
      10_000,
      'SDK telemetry at the emulator',
    );
    const relationships = await rest(emulator, 'GET', '/api/devices/gateway-01/relationships');
    expect(relationships.json.value.map((r: any) => r.target).sort()).toEqual([
      'gateway-01-leaf-1',
      'gateway-01-leaf-2',
      'gateway-01-leaf-3',
      leafId,
    ]);
    await closeAll(sdk);
    sdk = undefined;

    // A device of the same group whose parent is not gateway-01 (another gateway's, or none) is refused (CONNACK 5),
    // and the run says why.
    for (const [strangerId, parent] of [
      [`sdk-stranger-${process.pid}`, undefined],
      [`sdk-other-${process.pid}`, 'gateway-02'],
    ] as const) {
      const strangerKey = deriveDeviceKey(emulator.info.enrollmentGroups.devices.primaryKey, strangerId);
      const registered = await registerWithSymmetricKey(
        emulator.info,
        strangerId,
        strangerKey,
        parent === undefined ? undefined : { iotcGateway: { iotcGatewayId: parent } },
      );
      const stranger = await deviceClient(
        `HostName=${registered.assignedHub};DeviceId=${strangerId};SharedAccessKey=${strangerKey};GatewayHostName=${address}`,
        { ca: edgeCa },
      );
      const refused = await rejectionOf(stranger.open(), 10_000, `SDK open of ${strangerId} through gateway-01`);
      expect(refused.message).toMatch(/Not authorized/);
      await closeAll(stranger);
      await until(() => out.includes(`refused ${strangerId}: not one of its children`), 5_000, 'the refusal logged');
      expect(emulator.stats.identities.get(strangerId)?.connects ?? 0).toBe(0);
    }
    // The simulated leaves send through their gateways, as themselves.
    await until(
      () =>
        ['gateway-01-leaf-1', 'gateway-02-leaf-3'].every(
          (id) => (emulator.stats.identities.get(id)?.messagesReceived ?? 0) > 0,
        ),
      20_000,
      'leaf telemetry',
    );

    // Ctrl-C: the run drains and reports (the long duration only keeps the port open while the SDK works).
    child.kill('SIGINT');
    expect(await exited, out).toBe(0);
    const runs = readdirSync(reports).filter((d) => d !== 'latest');
    const summary = JSON.parse(readFileSync(join(reports, runs[0]!, 'summary.json'), 'utf8'));
    const l = summary.ledger;
    expect(l.generated).toBe(l.acknowledged + l.failed + l.expired + l.dropped + l.inFlight);
    expect(summary.reconciliation.acknowledgedNotReceived).toBe(0);
  }, 90_000);
});
