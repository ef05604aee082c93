// Registration with DPS over MQTT (docs/protocol.md §3): register, wait retry-after, poll until assigned.
import {
  buildDpsUsername, createSasToken, parseOperationStatus, parseTopic, sasResource, topic, type RegisterPayload,
} from '../protocol/index.js';
import { ClassifiedError, classifyStatus } from '../transport/errors.js';
import { MqttConnection } from '../transport/mqtt-connection.js';
import type { AzureTarget } from '../endpoints/target.js';
import type { SimContext } from './context.js';

export type DpsCredential = { kind: 'sas'; deviceKey: string } | { kind: 'x509'; certPem: string; keyPem: string };

export interface Assignment {
  assignedHub: string;
  deviceId: string;
}

const DEFAULT_POLL_SECONDS = 2;
const TOKEN_TTL_SECONDS = 3600;

/** Registers `registrationId`; resolves with the hub and device id it was assigned to. */
export async function provision(
  ctx: SimContext,
  target: AzureTarget,
  registrationId: string,
  credential: DpsCredential,
  payload: RegisterPayload | undefined,
  localAddress: string | undefined,
): Promise<Assignment> {
  const { idScope, host, port } = target.dps;
  const expiry = Math.floor(Date.now() / 1000) + TOKEN_TTL_SECONDS;
  const pending = new Map<string, (status: number, retryAfter: number | undefined, body: Buffer) => void>();
  const connection = await MqttConnection.connect(
    {
      host, port, tls: true, clientId: registrationId, clean: true,
      username: buildDpsUsername(idScope, registrationId),
      ...(credential.kind === 'sas'
        ? { password: createSasToken({ resourceUri: sasResource.registration(idScope, registrationId), key: credential.deviceKey, expiry, keyName: 'registration' }) }
        : { cert: credential.certPem, key: credential.keyPem }),
      ...(target.caPem === undefined ? {} : { ca: target.caPem }),
      keepaliveSeconds: ctx.mqtt.keepaliveSeconds,
      connectTimeoutMs: ctx.mqtt.connectTimeoutMs,
      ...(localAddress === undefined ? {} : { localAddress }),
    },
    (t, body) => {
      const parsed = parseTopic(t);
      if (parsed?.kind !== 'dpsResponse') return;
      const answer = pending.get(parsed.rid);
      pending.delete(parsed.rid);
      answer?.(parsed.status, parsed.retryAfterSeconds, body);
    },
    () => {
      for (const answer of pending.values()) answer(0, undefined, Buffer.alloc(0));
      pending.clear();
    },
  );
  ctx.connections?.opened(registrationId, connection.client.stream, 'dps');
  let rid = 0;
  const request = (topicFor: (rid: string) => string, body: string) =>
    new Promise<{ status: number; retryAfter: number | undefined; body: Buffer }>((resolve, reject) => {
      const id = String(++rid);
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new ClassifiedError('timeout', `DPS did not answer within ${ctx.mqtt.operationTimeoutMs} ms`));
      }, ctx.mqtt.operationTimeoutMs);
      pending.set(id, (status, retryAfter, answer) => {
        clearTimeout(timer);
        if (status === 0) reject(new ClassifiedError('network', 'DPS connection lost'));
        else resolve({ status, retryAfter, body: answer });
      });
      connection.publish(topicFor(id), body, 1);
    });
  const wait = (seconds: number) => new Promise<void>((resolve) => ctx.scheduler.after(seconds * 1000, () => resolve()));

  try {
    await connection.subscribe(['$dps/registrations/res/#'], 1);
    const registerBody = JSON.stringify({ registrationId, ...(payload === undefined ? {} : { payload }) });
    let answer = await request(topic.dpsRegister, registerBody);
    let operationId: string | undefined;
    for (let polls = 0; ; polls++) {
      if (answer.status === 429 && polls < 10) {
        // Throttled: keep the state, wait as told (docs/protocol.md §3.2), ask again.
        await wait(answer.retryAfter ?? DEFAULT_POLL_SECONDS);
        const id = operationId;
        answer = id === undefined ? await request(topic.dpsRegister, registerBody) : await request((r) => topic.dpsPoll(r, id), ' ');
        continue;
      }
      if (answer.status >= 300) throw classifyStatus(answer.status, `DPS ${polls === 0 ? 'register' : 'poll'} (${answer.body.toString('utf8').slice(0, 200)})`);
      const status = parseOperationStatus(answer.body);
      operationId = status.operationId;
      if (status.status === 'assigned') {
        const state = status.registrationState;
        if (!state?.assignedHub || !state.deviceId) throw new ClassifiedError('protocol', 'DPS assigned without assignedHub/deviceId');
        return { assignedHub: state.assignedHub, deviceId: state.deviceId };
      }
      if (status.status !== 'assigning' && status.status !== 'unassigned') {
        throw new ClassifiedError('auth', `DPS registration ${status.status}: ${status.registrationState?.errorMessage ?? ''}`.trim());
      }
      if (polls > 60) throw new ClassifiedError('timeout', 'DPS kept the registration assigning');
      await wait(answer.retryAfter ?? DEFAULT_POLL_SECONDS);
      answer = await request((id) => topic.dpsPoll(id, status.operationId), ' ');
    }
  } finally {
    await connection.close();
  }
}
