// The run's identities in an IoT Hub registry, against the emulator's service API, read back with the official
// service SDK (azure-iothub): bulk creation past one call of 100, gateway scopes for children, tags, a device that
// edgefleet did not create left alone, and cleanup deleting only what runs created.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/index.js';
import { ServiceError } from '../../src/emulator/service.js';
import { parseHubConnectionString } from '../../src/config/hub-connection-string.js';
import { cleanupHubIdentities, provisionHubIdentities, type HubIdentity } from '../../src/endpoints/hub-registry.js';
import { HubServiceClient } from '../../src/endpoints/hub-service-client.js';
import { deriveDeviceKey } from '../../src/protocol/sas.js';
import { startTestEmulator } from '../support/emulator.js';
import { serviceRegistry } from '../support/service-sdk.js';

let emulator: Emulator;
let client: HubServiceClient;
let registry: ReturnType<typeof serviceRegistry>;
const KEY = Buffer.alloc(32, 3).toString('base64');

beforeAll(async () => {
  emulator = await startTestEmulator();
  client = new HubServiceClient(parseHubConnectionString(emulator.info.serviceConnectionString));
  registry = serviceRegistry(emulator.info.serviceConnectionString);
});
afterAll(async () => {
  client?.close();
  await emulator?.close();
});

const device = (deviceId: string): HubIdentity => ({ deviceId, group: 'd', kind: 'device', groupKey: KEY });

describe('identities in an IoT Hub registry', () => {
  it('creates a fleet over several bulk calls, gives children their gateway scope, and tags every one', async () => {
    const plain = Array.from({ length: 230 }, (_, i) => device(`bulk-${i + 1}`));
    const gateway: HubIdentity = { deviceId: 'bulk-gw', group: 'g', kind: 'iotEdge', groupKey: KEY };
    const children = [1, 2].map((i): HubIdentity => ({
      deviceId: `bulk-gw-leaf-${i}`,
      group: 'l',
      kind: 'child',
      gatewayId: 'bulk-gw',
      groupKey: KEY,
    }));
    const outcome = await provisionHubIdentities(client, [...plain, gateway, ...children], new Map(), {
      scenario: 'bulk',
      runTag: 'run-1',
    });
    expect(outcome).toMatchObject({ ready: 233, created: 233, updated: 0, failed: [] });

    const gw = (await registry.get('bulk-gw')).responseBody;
    expect(gw.capabilities?.iotEdge).toBe(true);
    const leaf = (await registry.get('bulk-gw-leaf-2')).responseBody as { parentScopes?: string[] };
    expect(leaf.parentScopes).toEqual([(gw as { deviceScope?: string }).deviceScope]);
    const plainOne = (await registry.get('bulk-230')).responseBody;
    expect(plainOne.authentication?.symmetricKey?.primaryKey).toBe(deriveDeviceKey(KEY, 'bulk-230'));
    const twin = (await registry.getTwin('bulk-17')).responseBody;
    expect(twin.tags).toEqual({ edgefleet: { run: 'run-1', scenario: 'bulk' } });

    const cleaned = await cleanupHubIdentities(client, 'bulk');
    expect(cleaned).toEqual({ found: 233, deleted: 233, failed: [] });
    await expect(registry.get('bulk-gw')).rejects.toThrow();
  });

  it('leaves a device of the same id that it did not create as it is, and cleanup does not touch it', async () => {
    await registry.create({ deviceId: 'theirs-2' });
    const theirs = (await registry.get('theirs-2')).responseBody;
    const outcome = await provisionHubIdentities(client, ['theirs-1', 'theirs-2', 'theirs-3'].map(device), new Map(), {
      scenario: 'theirs',
      runTag: 'run-2',
    });
    expect(outcome.created).toBe(2);
    expect(outcome.failed).toEqual([
      { deviceId: 'theirs-2', reason: expect.stringContaining('was not created by a run of this scenario') },
    ]);
    // A second run updates its own and still leaves the other alone.
    const again = await provisionHubIdentities(client, ['theirs-1', 'theirs-2', 'theirs-3'].map(device), new Map(), {
      scenario: 'theirs',
      runTag: 'run-3',
    });
    expect(again).toMatchObject({ created: 0, updated: 2 });
    expect((await cleanupHubIdentities(client, 'theirs')).deleted).toBe(2);
    const after = (await registry.get('theirs-2')).responseBody;
    expect(after.authentication?.symmetricKey?.primaryKey).toBe(theirs.authentication?.symmetricKey?.primaryKey);
    expect((await registry.getTwin('theirs-2')).responseBody.tags ?? {}).toEqual({});
    await registry.delete('theirs-2');
  });

  it('waits out a throttled bulk call (429) and tries it again, so the fleet is still created', async () => {
    let bulkCalls = 0;
    const throttled = await startTestEmulator({
      registryGate: (operation, records) => {
        if (operation !== 'write' || records < 2) return;
        bulkCalls++;
        if (bulkCalls === 1) throw new ServiceError(429, 'ThrottlingException', 'too many registry operations');
      },
    });
    const hub = new HubServiceClient(parseHubConnectionString(throttled.info.serviceConnectionString));
    try {
      const outcome = await provisionHubIdentities(hub, ['slow-1', 'slow-2', 'slow-3'].map(device), new Map(), {
        scenario: 'slow',
        runTag: 'run-4',
      });
      expect(outcome).toMatchObject({ created: 3, failed: [] });
      expect(bulkCalls).toBe(2);
    } finally {
      hub.close();
      await throttled.close();
    }
  }, 30_000);
});
