// Setup calls through a throttled target: the service client reads the 429's retry-after, and retryThrottled waits
// it out, so that a run's manifest assignment goes through a limited hub instead of failing the run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/index.js';
import { ClassifiedError } from '../../src/transport/errors.js';
import { retryThrottled, ServiceClient } from '../../src/endpoints/service-client.js';
import { rest, startTestEmulator } from '../support/emulator.js';

let emulator: Emulator;
let service: ServiceClient;
beforeAll(async () => {
  // S1, one unit: 100 registry operations a minute, none held.
  emulator = await startTestEmulator({ limits: { hubTier: 'S1', shapingBurstMs: 0, shapingQueueMs: 0 } });
  const info = emulator.info;
  service = new ServiceClient({ baseUrl: info.restUrl, apiToken: info.apiToken, apiVersion: '2022-07-31' });
});
afterAll(async () => {
  await emulator?.close();
});

describe('a throttled service call', () => {
  it("fails with the target's retry-after, and retryThrottled waits it out until every write is in", async () => {
    const ids = ['thr-1', 'thr-2', 'thr-3'];
    const first = await Promise.allSettled(ids.map((id) => service.putDevice(id, { displayName: id })));
    const refused = first.filter((r) => r.status === 'rejected').map((r) => r.reason);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(refused[0]).toBeInstanceOf(ClassifiedError);
    expect(refused[0]).toMatchObject({ errorClass: 'throttled', status: 429 });
    expect((refused[0] as ClassifiedError).retryAfterSeconds).toBeGreaterThanOrEqual(1);

    const waits: number[] = [];
    const more = ['thr-4', 'thr-5'];
    await Promise.all(
      more.map((id) =>
        retryThrottled(
          () => service.putDevice(id, { displayName: id }),
          (s) => waits.push(s),
        ),
      ),
    );
    expect(waits.length).toBeGreaterThanOrEqual(1);
    for (const id of more) expect((await rest(emulator, 'GET', `/api/devices/${id}`)).status).toBe(200);
  }, 30_000);
});
