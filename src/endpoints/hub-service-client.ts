// An IoT Hub's service REST API (docs/protocol.md §8, api-version 2021-04-12) over HTTPS, signed with a shared access
// policy: the registry (one device, bulk, query), twins, direct methods and IoT Edge deployments. The registry calls
// wait out a throttle (429 with retry-after); the profile's actions do not: a throttled action counts as one.
import { Agent, request } from 'node:https';
import { createSasToken } from '../protocol/sas.js';
import { ClassifiedError, classify, classifyStatus } from '../transport/errors.js';
import type { CommandResult, ServiceActions } from './service-client.js';
import { splitHostPort, type HubServiceEndpoint } from './target.js';

export const HUB_API_VERSION = '2021-04-12';
const TOKEN_TTL_SECONDS = 3600;
/** How many times a throttled registry call is tried before it fails. */
const THROTTLED_TRIES = 6;

export interface HubResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/** One record of `POST /devices` (bulk): a device with its id as `id` and what to do with it. */
export interface ImportRecord {
  id: string;
  importMode: 'create' | 'Update' | 'UpdateIfMatchETag' | 'Delete' | 'DeleteIfMatchETag';
  eTag?: string;
  status?: 'enabled' | 'disabled';
  authentication?: { type: 'sas'; symmetricKey: { primaryKey: string; secondaryKey: string } };
  capabilities?: { iotEdge: boolean };
  deviceScope?: string;
  parentScopes?: string[];
  tags?: Record<string, unknown>;
}

export interface BulkResult {
  isSuccessful: boolean;
  errors: { deviceId: string; errorCode: string; errorStatus: string }[];
  warnings?: unknown[];
}

/** A twin as the query and the twin calls answer it (what edgefleet reads of it). */
export interface HubTwin {
  deviceId: string;
  etag?: string;
  /** The device identity's ETag (for a bulk deleteIfMatchETag). */
  deviceEtag?: string;
  tags?: Record<string, unknown>;
  capabilities?: { iotEdge?: boolean };
  deviceScope?: string;
  parentScopes?: string[];
  properties?: { desired?: Record<string, unknown>; reported?: Record<string, unknown> };
}

export interface HubDevice {
  deviceId: string;
  etag?: string;
  deviceScope?: string;
  parentScopes?: string[];
  capabilities?: { iotEdge?: boolean };
}

/** A failed call of the hub's service API: the hub's error code (`DeviceNotFound`…) when it names one. */
export class HubServiceError extends ClassifiedError {
  constructor(
    status: number,
    readonly errorCode: string | undefined,
    message: string,
    readonly retryAfterMs?: number,
    /** The answer's body, parsed (a bulk call's per-record errors come with a 400). */
    readonly body?: unknown,
  ) {
    super(classifyStatus(status, '').errorClass, message, status);
  }
}

export class HubServiceClient implements ServiceActions {
  private readonly agent: Agent;
  private readonly host: string;
  private readonly port: number;
  private token: { value: string; expiresAt: number } | undefined;
  /** When the next identity-registry call may go (registryPerMinute). */
  private nextRegistrySlot = 0;

  constructor(
    private readonly endpoint: HubServiceEndpoint,
    private readonly timeoutMs = 60_000,
    /** Identity-registry calls allowed per minute (the hub's throttle); unpaced when undefined. */
    private readonly registryPerMinute?: number,
  ) {
    const { host, port } = splitHostPort(endpoint.hostName, 443);
    this.host = host;
    this.port = port;
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: 16,
      // As for the devices' connections: the target's CA instead of the system's.
      ...(endpoint.caPem === undefined ? {} : { ca: endpoint.caPem }),
    });
  }

  /** The hub as the connection string names it (never a secret). */
  get hostName(): string {
    return this.endpoint.hostName;
  }

  close(): void {
    this.agent.destroy();
  }

  /** A service SAS for the hub, renewed well before it expires. */
  private authorization(): string {
    const now = Math.floor(Date.now() / 1000);
    if (this.token === undefined || this.token.expiresAt - now < 300) {
      const expiry = now + TOKEN_TTL_SECONDS;
      const value = createSasToken({
        resourceUri: this.endpoint.hostName,
        key: this.endpoint.key,
        keyName: this.endpoint.policyName,
        expiry,
      });
      this.token = { value, expiresAt: expiry };
    }
    return this.token.value;
  }

  /** One call; throws a HubServiceError for any answer that is not 2xx. */
  call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    timeoutMs = this.timeoutMs,
  ): Promise<HubResponse> {
    const what = `${method} ${path}`;
    const sep = path.includes('?') ? '&' : '?';
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise<HubResponse>((resolve, reject) => {
      const req = request(
        {
          host: this.host,
          port: this.port,
          method,
          path: `${path}${sep}api-version=${HUB_API_VERSION}`,
          agent: this.agent,
          headers: {
            authorization: this.authorization(),
            accept: 'application/json',
            ...(payload === undefined
              ? {}
              : { 'content-type': 'application/json; charset=utf-8', 'content-length': payload.length }),
            ...headers,
          },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => reject(classify(err)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status < 200 || status >= 300) return reject(hubError(what, status, res.headers, text));
            resolve({ status, headers: res.headers, body: parseBody(text) });
          });
        },
      );
      req.on('timeout', () => req.destroy(new ClassifiedError('timeout', `${what}: no answer in ${timeoutMs} ms`)));
      req.on('error', (err) => reject(classify(err)));
      req.end(payload);
    });
  }

  /**
   * A call made before or after the run (registry, deployments, tags): paced when it is an identity-registry
   * operation, and a throttled one (429) waits as the hub says (retry-after) and is tried again.
   */
  async registryCall(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
    { paced = true }: { paced?: boolean } = {},
  ): Promise<HubResponse> {
    for (let attempt = 1; ; attempt++) {
      if (paced) await this.registrySlot();
      try {
        return await this.call(method, path, body, headers);
      } catch (err) {
        if (!(err instanceof HubServiceError) || err.status !== 429 || attempt >= THROTTLED_TRIES) throw err;
        await sleep(err.retryAfterMs ?? 10_000 * attempt);
      }
    }
  }

  private async registrySlot(): Promise<void> {
    if (this.registryPerMinute === undefined) return;
    const now = Date.now();
    const at = Math.max(now, this.nextRegistrySlot);
    this.nextRegistrySlot = at + 60_000 / this.registryPerMinute;
    if (at > now) await sleep(at - now);
  }

  async getDevice(deviceId: string): Promise<HubDevice> {
    return (await this.registryCall('GET', `/devices/${encodeURIComponent(deviceId)}`)).body as HubDevice;
  }

  async deleteDevice(deviceId: string, etag = '*'): Promise<void> {
    await this.registryCall('DELETE', `/devices/${encodeURIComponent(deviceId)}`, undefined, { 'if-match': etag });
  }

  /** Up to 100 records in one call; per-record errors are in the answer, not thrown. */
  async bulk(records: readonly ImportRecord[]): Promise<BulkResult> {
    if (records.length === 0 || records.length > 100) {
      throw new Error(`a bulk registry call takes 1 to 100 records, not ${records.length}`);
    }
    let body: Partial<BulkResult> | undefined;
    try {
      body = (await this.registryCall('POST', '/devices', records)).body as Partial<BulkResult> | undefined;
    } catch (err) {
      // The hub answers 400 when some records failed, naming each in `errors`: that is an answer, not a failure.
      const answer = err instanceof HubServiceError ? (err.body as Partial<BulkResult> | undefined) : undefined;
      if (!(err instanceof HubServiceError) || err.status !== 400 || !Array.isArray(answer?.errors)) throw err;
      body = answer;
    }
    return { isSuccessful: body?.isSuccessful ?? true, errors: body?.errors ?? [], warnings: body?.warnings ?? [] };
  }

  /** Every twin the query selects, page by page (`x-ms-continuation`). */
  async *query(sql: string, pageSize = 1000): AsyncGenerator<HubTwin> {
    let continuation: string | undefined;
    do {
      const headers: Record<string, string> = { 'x-ms-max-item-count': String(pageSize) };
      if (continuation !== undefined) headers['x-ms-continuation'] = continuation;
      const res = await this.registryCall('POST', '/devices/query', { query: sql }, headers);
      for (const twin of (res.body as HubTwin[] | undefined) ?? []) yield twin;
      const next = res.headers['x-ms-continuation'];
      continuation = typeof next === 'string' && next.length > 0 ? next : undefined;
    } while (continuation !== undefined);
  }

  async applyConfigurationContent(deviceId: string, content: { modulesContent: unknown }): Promise<void> {
    const path = `/devices/${encodeURIComponent(deviceId)}/applyConfigurationContent`;
    await this.registryCall('POST', path, content, {}, { paced: false });
  }

  /** Tags (or desired properties) of a twin outside the run: a throttled call waits and is tried again. */
  async updateTwin(deviceId: string, patch: Record<string, unknown>): Promise<HubTwin> {
    const path = twinPath(deviceId, undefined);
    return (await this.registryCall('PATCH', path, patch, { 'if-match': '*' }, { paced: false })).body as HubTwin;
  }

  async getTwin(deviceId: string, moduleId?: string): Promise<HubTwin> {
    return (await this.call('GET', twinPath(deviceId, moduleId))).body as HubTwin;
  }

  async patchTwin(deviceId: string, patch: Record<string, unknown>, moduleId?: string): Promise<HubTwin> {
    return (await this.call('PATCH', twinPath(deviceId, moduleId), patch, { 'if-match': '*' })).body as HubTwin;
  }

  async invokeCommand(
    deviceId: string,
    command: string,
    request: unknown,
    opts: { moduleId?: string; component?: string; responseTimeoutSeconds?: number } = {},
  ): Promise<CommandResult> {
    const responseTimeoutInSeconds = opts.responseTimeoutSeconds ?? 30;
    const body = {
      methodName: opts.component === undefined ? command : `${opts.component}*${command}`,
      payload: request ?? null,
      responseTimeoutInSeconds,
      connectTimeoutInSeconds: 0,
    };
    const path = `${twinPath(deviceId, opts.moduleId)}/methods`;
    const res = await this.call('POST', path, body, {}, (responseTimeoutInSeconds + 15) * 1000);
    const answer = res.body as { status?: number; payload?: unknown } | undefined;
    return { responseCode: answer?.status ?? res.status, response: answer?.payload };
  }

  /** Desired properties through a twin PATCH; resolves with the desired version the hub gave them. */
  async writeProperties(
    deviceId: string,
    patch: Record<string, unknown>,
    opts: { moduleId?: string; component?: string } = {},
  ): Promise<number | undefined> {
    const desired = opts.component === undefined ? patch : { [opts.component]: { __t: 'c', ...patch } };
    const twin = await this.patchTwin(deviceId, { properties: { desired } }, opts.moduleId);
    const version = twin?.properties?.desired?.$version;
    return typeof version === 'number' ? version : undefined;
  }

  sendC2D(deviceId: string): Promise<void> {
    return Promise.reject(
      new ClassifiedError('protocol', `${deviceId}: cloud-to-device messages of an IoT Hub go over AMQP, not REST`),
    );
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function twinPath(deviceId: string, moduleId: string | undefined): string {
  const device = `/twins/${encodeURIComponent(deviceId)}`;
  return moduleId === undefined ? device : `${device}/modules/${encodeURIComponent(moduleId)}`;
}

function parseBody(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The hub's error: its code from `iothub-errorcode` or the `ErrorCode:<Name>;` of its message; its retry-after. */
function hubError(
  what: string,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  text: string,
): HubServiceError {
  const body = parseBody(text) as { Message?: unknown; message?: unknown } | string | undefined;
  const said = typeof body === 'string' ? body : (body?.Message ?? body?.message);
  const message = typeof said === 'string' ? said : '';
  const header = headers['iothub-errorcode'];
  const code = (typeof header === 'string' ? header : undefined) ?? /ErrorCode:([A-Za-z]+)/.exec(message)?.[1];
  const retryAfter = Number(headers['retry-after']);
  const detail = message.replace(/\s+/g, ' ').slice(0, 300);
  return new HubServiceError(
    status,
    code,
    `${what.split('?')[0]}: status ${status}${code === undefined ? '' : ` ${code}`}${detail ? ` (${detail})` : ''}`,
    Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined,
    body,
  );
}
