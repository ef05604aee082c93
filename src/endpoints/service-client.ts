// The service side of a target, over its IoT Central-shaped REST API: the emulator's or a real IoT Central
// application's. Used for profile actions (commands, property writes, C2D) and, against the emulator, /stats.
import { ClassifiedError, classify, classifyStatus } from '../transport/errors.js';

export interface ServiceEndpoint {
  baseUrl: string;
  apiToken: string;
  apiVersion: string;
}

export interface CommandResult {
  responseCode: number;
  response: unknown;
}

/** What a profile's actions and the smoke checks ask of a target's service side, whichever API it has. */
export interface ServiceActions {
  invokeCommand(
    deviceId: string,
    command: string,
    request: unknown,
    opts?: { moduleId?: string; component?: string; responseTimeoutSeconds?: number },
  ): Promise<CommandResult>;
  /** Writes desired properties; resolves with the desired version when the target says it. */
  writeProperties(
    deviceId: string,
    patch: Record<string, unknown>,
    opts?: { moduleId?: string; component?: string },
  ): Promise<number | undefined>;
  sendC2D(deviceId: string, data: unknown, properties: Record<string, string>): Promise<void>;
}

export class ServiceClient implements ServiceActions {
  constructor(
    private readonly endpoint: ServiceEndpoint,
    private readonly timeoutMs = 60_000,
  ) {}

  private async call(method: string, path: string, body?: unknown, query = true): Promise<unknown> {
    const sep = path.includes('?') ? '&' : '?';
    const url = `${this.endpoint.baseUrl}${path}${query ? `${sep}api-version=${this.endpoint.apiVersion}` : ''}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { authorization: this.endpoint.apiToken, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw (err as Error).name === 'TimeoutError'
        ? new ClassifiedError('timeout', `${method} ${path}: no answer in ${this.timeoutMs} ms`)
        : classify(err);
    }
    const text = await res.text();
    if (!res.ok) {
      let detail: string;
      try {
        detail = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? '';
      } catch {
        detail = text.slice(0, 200);
      }
      const retryAfter = Number(res.headers.get('retry-after') ?? NaN);
      throw classifyStatus(
        res.status,
        `${method} ${path.split('?')[0]}${detail ? `: ${detail}` : ''}`,
        Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined,
      );
    }
    return text.length === 0 ? undefined : JSON.parse(text);
  }

  private static devicePath(deviceId: string, moduleId?: string, component?: string): string {
    let p = `/api/devices/${encodeURIComponent(deviceId)}`;
    if (moduleId !== undefined) p += `/modules/${encodeURIComponent(moduleId)}`;
    if (component !== undefined) p += `/components/${encodeURIComponent(component)}`;
    return p;
  }

  async invokeCommand(
    deviceId: string,
    command: string,
    request: unknown,
    opts: { moduleId?: string; component?: string; responseTimeoutSeconds?: number } = {},
  ): Promise<CommandResult> {
    const r = (await this.call(
      'POST',
      `${ServiceClient.devicePath(deviceId, opts.moduleId, opts.component)}/commands/${encodeURIComponent(command)}`,
      {
        ...(request === undefined ? {} : { request }),
        responseTimeout: opts.responseTimeoutSeconds ?? 30,
      },
    )) as CommandResult;
    return r;
  }

  /** Writes desired properties; resolves with the desired version when the target says it. */
  async writeProperties(
    deviceId: string,
    patch: Record<string, unknown>,
    opts: { moduleId?: string; component?: string } = {},
  ): Promise<number | undefined> {
    const r = (await this.call(
      'PATCH',
      `${ServiceClient.devicePath(deviceId, opts.moduleId, opts.component)}/properties`,
      patch,
    )) as { $metadata?: Record<string, { desiredVersion?: number }> } | undefined;
    const versions = Object.values(r?.$metadata ?? {})
      .map((m) => m.desiredVersion)
      .filter((v): v is number => typeof v === 'number');
    return versions.length === 0 ? undefined : Math.max(...versions);
  }

  /** Emulator extension: a cloud-to-device message with string properties. */
  async sendC2D(deviceId: string, data: unknown, properties: Record<string, string>): Promise<void> {
    await this.call('POST', `${ServiceClient.devicePath(deviceId)}/messages`, { data, properties });
  }

  async saveManifest(id: string, displayName: string, data: unknown): Promise<void> {
    await this.call('PUT', `/api/deploymentManifests/${encodeURIComponent(id)}`, { displayName, data });
  }

  async putDevice(deviceId: string, body: Record<string, unknown>): Promise<void> {
    await this.call('PUT', ServiceClient.devicePath(deviceId), body);
  }

  /** The devices a gateway's relationships attach to it (its children), every page. */
  async childrenOf(gatewayId: string): Promise<string[]> {
    const children: string[] = [];
    let page = `${ServiceClient.devicePath(gatewayId)}/relationships`;
    for (let pages = 0; pages < 100; pages++) {
      const body = (await this.call('GET', page, undefined, pages === 0)) as RelationshipPage | undefined;
      for (const r of body?.value ?? [])
        if (r.source === gatewayId && typeof r.target === 'string') children.push(r.target);
      if (typeof body?.nextLink !== 'string') break;
      const next = new URL(body.nextLink, this.endpoint.baseUrl);
      page = `${next.pathname}${next.search}`;
    }
    return children;
  }

  /** The emulator only: closes these devices' connections (their modules' too) and refuses them for `durationMs`. */
  async startOutage(deviceIds: readonly string[], durationMs: number): Promise<void> {
    await this.call('POST', '/admin/outages', { deviceIds, durationMs }, false);
  }

  /** The emulator's /stats document. */
  async stats(): Promise<EmulatorStatsDocument> {
    return (await this.call('GET', '/stats', undefined, false)) as EmulatorStatsDocument;
  }
}

interface RelationshipPage {
  value?: { source?: string; target?: unknown }[];
  nextLink?: unknown;
}

export interface EmulatorStatsDocument {
  totals: { messagesReceived: number; connects: number };
  identities: Record<string, { messagesReceived: number; connects: number }>;
  latency: { count: number; p50: number; p95: number; p99: number; max: number };
  rejections: Record<string, number>;
  /** The limits it enforces (`edgefleet emulator --hub-tier`, `--limits`); null or absent when none. */
  limits?: unknown;
}

/** How long a throttled service call keeps waiting, in all, before its 429 is the answer. */
const THROTTLED_PATIENCE_SECONDS = 600;

/**
 * Runs a service call, and again after a throttled answer (429): after its `retry-after`, or 1, 2, 4 … 30 s
 * without one, for up to ten minutes in all. Setup work (manifest assignment) goes through a limited application or
 * hub this way, however many calls compete for its rate.
 */
export async function retryThrottled<T>(call: () => Promise<T>, onWait?: (seconds: number) => void): Promise<T> {
  let waited = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const e = err as ClassifiedError;
      const seconds = e.retryAfterSeconds ?? Math.min(30, 2 ** (attempt - 1));
      if (!(err instanceof ClassifiedError) || e.status !== 429 || waited + seconds > THROTTLED_PATIENCE_SECONDS) {
        throw err;
      }
      waited += seconds;
      onWait?.(seconds);
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    }
  }
}
