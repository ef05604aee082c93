// Registration with DPS over MQTT (docs/protocol.md §3): register, wait retry-after, poll until assigned. Throttled
// answers (429) wait as the retry policy says (the server's retry-after, else the throttled backoff), and one
// identity's polls stay within DPS's 5 per 10 s (docs/protocol.md §7.2), whatever retry-after says.
import {
  buildDpsUsername,
  createSasToken,
  parseOperationStatus,
  parseTopic,
  sasResource,
  topic,
  type RegisterPayload,
} from '../protocol/index.js';
import type { SchedulerClock } from '../core/scheduler.js';
import { ClassifiedError, classifyStatus } from '../transport/errors.js';
import { MqttConnection } from '../transport/mqtt-connection.js';
import { decideRetry, retryDelay } from '../transport/retry-policy.js';
import type { AzureTarget } from '../endpoints/target.js';
import type { AssignedHub, SimContext } from './context.js';

export type DpsCredential = { kind: 'sas'; deviceKey: string } | { kind: 'x509'; certPem: string; keyPem: string };

export type Assignment = AssignedHub;

const DEFAULT_POLL_SECONDS = 2;
const TOKEN_TTL_SECONDS = 3600;
/** Throttled answers one registration waits out before it fails as throttled (the retry policy then decides). */
const MAX_THROTTLED_ANSWERS = 10;
/** DPS's limit on one device's polls (operation status requests, docs/protocol.md §7.2). */
export const DPS_REQUESTS_PER_WINDOW = 5;
export const DPS_WINDOW_MS = 10_000;

/** A DPS refusal of too many requests, with what it said to wait. */
export class DpsThrottledError extends ClassifiedError {
  constructor(message: string, retryAfterSeconds: number | undefined) {
    super('throttled', message, 429, retryAfterSeconds);
  }
}

/** One identity's DPS polls over time: the next one waits until it fits `limit` per `windowMs`. */
export class RequestPacer {
  private readonly sent: number[] = [];

  constructor(
    private readonly clock: SchedulerClock,
    private readonly limit = DPS_REQUESTS_PER_WINDOW,
    private readonly windowMs = DPS_WINDOW_MS,
  ) {}

  /** ms from now until one more request fits. */
  delay(): number {
    if (this.sent.length < this.limit) return 0;
    return Math.max(0, this.sent[0]! + this.windowMs - this.clock.now());
  }

  /** A request goes now. */
  record(): void {
    this.sent.push(this.clock.now());
    if (this.sent.length > this.limit) this.sent.shift();
  }
}

/** What one identity keeps across its registrations: its request pacing and the random source of its backoff. */
export interface DpsPacing {
  pacer: RequestPacer;
  random: () => number;
  /** The identity was assigned before (this run or an earlier one): DPS refusals are then re-registrations. */
  hadAssignment: boolean;
}

/**
 * How long to wait before asking again after an answer: `assigning` waits its retry-after (2 s when absent); a 429
 * waits as the retry policy says. `throttled` is the count of 429s so far in this registration, this one included.
 */
export function waitBeforeAsking(
  status: number,
  retryAfterSeconds: number | undefined,
  throttled: number,
  pacing: DpsPacing,
): number {
  if (status !== 429) return (retryAfterSeconds ?? DEFAULT_POLL_SECONDS) * 1000;
  const decision = decideRetry({
    errorClass: 'throttled',
    status,
    phase: 'provision',
    assignedBy: 'dps',
    hadAssignment: pacing.hadAssignment,
    refusals: 0,
    ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
  });
  return retryDelay(decision, throttled, pacing.random);
}

type Answer = { status: number; retryAfter: number | undefined; body: Buffer };

/** Requests and their answers over one DPS connection; polls are counted by the identity's pacer. */
class DpsExchange {
  private readonly pending = new Map<string, (status: number, retryAfter: number | undefined, body: Buffer) => void>();
  private rid = 0;
  connection: MqttConnection | undefined;

  constructor(
    private readonly ctx: SimContext,
    private readonly pacing: DpsPacing,
  ) {}

  answered(t: string, body: Buffer): void {
    const parsed = parseTopic(t);
    if (parsed?.kind !== 'dpsResponse') return;
    const answer = this.pending.get(parsed.rid);
    this.pending.delete(parsed.rid);
    answer?.(parsed.status, parsed.retryAfterSeconds, body);
  }

  lost(): void {
    for (const answer of this.pending.values()) answer(0, undefined, Buffer.alloc(0));
    this.pending.clear();
  }

  request(topicFor: (rid: string) => string, body: string, poll: boolean): Promise<Answer> {
    const timeoutMs = this.ctx.mqtt.operationTimeoutMs;
    return new Promise((resolve, reject) => {
      const id = String(++this.rid);
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ClassifiedError('timeout', `DPS did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, (status, retryAfter, answer) => {
        clearTimeout(timer);
        if (status === 0) reject(new ClassifiedError('network', 'DPS connection lost'));
        else resolve({ status, retryAfter, body: answer });
      });
      if (poll) this.pacing.pacer.record();
      this.connection?.publish(topicFor(id), body, 1);
    });
  }

  /** Waits `ms`; a poll also waits until it fits DPS's limit, whatever the answer said. */
  wait(ms: number, poll: boolean): Promise<void> {
    const delay = Math.max(ms, poll ? this.pacing.pacer.delay() : 0);
    return delay <= 0 ? Promise.resolve() : new Promise((resolve) => this.ctx.scheduler.after(delay, () => resolve()));
  }
}

/** Registers `registrationId`; resolves with the hub and device id it was assigned to. */
export async function provision(
  ctx: SimContext,
  target: AzureTarget,
  registrationId: string,
  credential: DpsCredential,
  payload: RegisterPayload | undefined,
  localAddress: string | undefined,
  pacing: DpsPacing,
): Promise<Assignment> {
  if (target.dps === undefined) throw new ClassifiedError('protocol', `${registrationId}: this target has no DPS`);
  const { idScope, host, port } = target.dps;
  const expiry = Math.floor(Date.now() / 1000) + TOKEN_TTL_SECONDS;
  const resourceUri = sasResource.registration(idScope, registrationId);
  const exchange = new DpsExchange(ctx, pacing);
  const connection = await MqttConnection.connect(
    {
      host,
      port,
      tls: true,
      clientId: registrationId,
      clean: true,
      username: buildDpsUsername(idScope, registrationId),
      ...(credential.kind === 'sas'
        ? { password: createSasToken({ resourceUri, key: credential.deviceKey, expiry, keyName: 'registration' }) }
        : { cert: credential.certPem, key: credential.keyPem }),
      ...(target.caPem === undefined ? {} : { ca: target.caPem }),
      keepaliveSeconds: ctx.mqtt.keepaliveSeconds,
      connectTimeoutMs: ctx.mqtt.connectTimeoutMs,
      ...(localAddress === undefined ? {} : { localAddress }),
    },
    (t, body) => exchange.answered(t, body),
    () => exchange.lost(),
  );
  exchange.connection = connection;
  ctx.connections?.opened(registrationId, connection.client.stream, 'dps');
  try {
    await connection.subscribe(['$dps/registrations/res/#'], 1);
    const registerBody = JSON.stringify({ registrationId, ...(payload === undefined ? {} : { payload }) });
    return await registerAndPoll(exchange, registerBody, pacing);
  } finally {
    await connection.close();
  }
}

/** The client's loop of docs/protocol.md §3.2: register, poll until assigned (a 429 waited out as the policy says). */
async function registerAndPoll(exchange: DpsExchange, registerBody: string, pacing: DpsPacing): Promise<Assignment> {
  let answer = await exchange.request(topic.dpsRegister, registerBody, false);
  let operationId: string | undefined;
  let throttled = 0;
  for (let polls = 0; ; polls++) {
    if (answer.status === 429) {
      const what = `DPS ${operationId === undefined ? 'register' : 'poll'} throttled (429)`;
      if (++throttled > MAX_THROTTLED_ANSWERS) {
        throw new DpsThrottledError(`${what} ${throttled - 1} times`, answer.retryAfter);
      }
      // Throttled: keep the state, wait as the policy says (docs/protocol.md §3.2, §3.4), ask again.
      const id = operationId;
      await exchange.wait(waitBeforeAsking(429, answer.retryAfter, throttled, pacing), id !== undefined);
      answer =
        id === undefined
          ? await exchange.request(topic.dpsRegister, registerBody, false)
          : await exchange.request((r) => topic.dpsPoll(r, id), ' ', true);
      continue;
    }
    if (answer.status >= 300) {
      const body = answer.body.toString('utf8').slice(0, 200);
      throw classifyStatus(answer.status, `DPS ${polls === 0 ? 'register' : 'poll'} (${body})`);
    }
    const status = parseOperationStatus(answer.body);
    operationId = status.operationId;
    if (status.status === 'assigned') return assignmentOf(status.registrationState);
    if (status.status !== 'assigning' && status.status !== 'unassigned') {
      const why = status.registrationState?.errorMessage ?? '';
      throw new ClassifiedError('auth', `DPS registration ${status.status}: ${why}`.trim());
    }
    if (polls > 60) throw new ClassifiedError('timeout', 'DPS kept the registration assigning');
    await exchange.wait(waitBeforeAsking(answer.status, answer.retryAfter, throttled, pacing), true);
    answer = await exchange.request((id) => topic.dpsPoll(id, status.operationId), ' ', true);
  }
}

function assignmentOf(state: { assignedHub?: string; deviceId?: string } | undefined): Assignment {
  if (!state?.assignedHub || !state.deviceId) {
    throw new ClassifiedError('protocol', 'DPS assigned without assignedHub/deviceId');
  }
  return { assignedHub: state.assignedHub, deviceId: state.deviceId };
}
