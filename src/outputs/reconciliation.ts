// Against the emulator: what the devices say was acknowledged, reconciled with what the emulator says it
// received (its /stats) during the run: the emulator keeps its counts across runs and restarts, so those it had
// when the run started are taken off. The reconciliation joins the final for the outputs after this one.
import { ServiceClient, type EmulatorStatsDocument } from '../endpoints/service-client.js';
import type { AzureTarget } from '../endpoints/target.js';
import type { Reconciliation } from '../report/summary.js';
import type { Output, RunStart } from './output.js';

export function reconciliationOutput(service: NonNullable<AzureTarget['service']>): Output {
  let run: RunStart | undefined;
  let before: Record<string, number> = {};
  return {
    name: 'reconciliation',
    async start(started) {
      run = started;
      try {
        before = receivedBy(await new ServiceClient(service).stats());
      } catch (err) {
        run.log('warn', `could not read the emulator's counts before the run: ${(err as Error).message}`);
      }
    },
    async finish(final) {
      try {
        return { reconciliation: await reconcile(new ServiceClient(service), final.acknowledgedBy, before) };
      } catch (err) {
        run?.log('warn', `could not reconcile with the emulator: ${(err as Error).message}`);
        return undefined;
      }
    },
  };
}

/** For a target that cannot tell what it received: the report says reconciliation is not available, and why. */
export function reconciliationUnavailable(why: string): Output {
  return {
    name: 'reconciliation',
    finish: () =>
      Promise.resolve({ reconciliation: { available: false, note: `not available for this target: ${why}` } }),
  };
}

const receivedBy = (stats: EmulatorStatsDocument) =>
  Object.fromEntries(Object.entries(stats.identities).map(([id, s]) => [id, s.messagesReceived]));

/** What the devices say the target acknowledged, against what the emulator says it received since `before`. */
export async function reconcile(
  service: ServiceClient,
  acknowledgedBy: Record<string, number>,
  before: Record<string, number> = {},
): Promise<Reconciliation> {
  const stats = await service.stats();
  let acknowledged = 0;
  let received = 0;
  let acknowledgedNotReceived = 0;
  let receivedNotAcknowledged = 0;
  for (const [identity, acked] of Object.entries(acknowledgedBy)) {
    const got = (stats.identities[identity]?.messagesReceived ?? 0) - (before[identity] ?? 0);
    acknowledged += acked;
    received += got;
    acknowledgedNotReceived += Math.max(0, acked - got);
    receivedNotAcknowledged += Math.max(0, got - acked);
  }
  return { acknowledged, received, acknowledgedNotReceived, receivedNotAcknowledged };
}
