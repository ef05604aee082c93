// Against the emulator: what the devices say was acknowledged, reconciled with what the emulator says it
// received (its /stats). The reconciliation joins the final for the outputs after this one (the report).
import { ServiceClient } from '../endpoints/service-client.js';
import type { AzureTarget } from '../endpoints/target.js';
import type { Reconciliation } from '../report/summary.js';
import type { Output, RunStart } from './output.js';

export function reconciliationOutput(service: NonNullable<AzureTarget['service']>): Output {
  let run: RunStart | undefined;
  return {
    name: 'reconciliation',
    start(started) {
      run = started;
    },
    async finish(final) {
      try {
        return { reconciliation: await reconcile(new ServiceClient(service), final.acknowledgedBy) };
      } catch (err) {
        run?.log('warn', `could not reconcile with the emulator: ${(err as Error).message}`);
        return undefined;
      }
    },
  };
}

/** What the devices say the target acknowledged, against what the emulator says it received. */
export async function reconcile(
  service: ServiceClient, acknowledgedBy: Record<string, number>,
): Promise<Reconciliation> {
  const stats = await service.stats();
  let acknowledged = 0;
  let received = 0;
  let acknowledgedNotReceived = 0;
  let receivedNotAcknowledged = 0;
  for (const [identity, acked] of Object.entries(acknowledgedBy)) {
    const got = stats.identities[identity]?.messagesReceived ?? 0;
    acknowledged += acked;
    received += got;
    acknowledgedNotReceived += Math.max(0, acked - got);
    receivedNotAcknowledged += Math.max(0, got - acked);
  }
  return { acknowledged, received, acknowledgedNotReceived, receivedNotAcknowledged };
}
