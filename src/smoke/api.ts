// Reads of the target's IoT Central-shaped REST API that a person would look at in the application:
// a device's module twins, its last telemetry, its relationships. Commands and property writes go through
// ServiceClient, as the engine's actions do.
import type { ServiceEndpoint } from '../endpoints/service-client.js';

export interface ApiReply {
  status: number;
  json: unknown;
}

export class SmokeApi {
  constructor(
    private readonly endpoint: ServiceEndpoint,
    private readonly timeoutMs = 10_000,
  ) {}

  /** GET a path under /api (api-version added); non-2xx answers are returned, not thrown. */
  async get(path: string): Promise<ApiReply> {
    const sep = path.includes('?') ? '&' : '?';
    const res = await fetch(`${this.endpoint.baseUrl}${path}${sep}api-version=${this.endpoint.apiVersion}`, {
      headers: { authorization: this.endpoint.apiToken },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text.length === 0 ? undefined : JSON.parse(text);
    } catch {
      json = text.slice(0, 200);
    }
    return { status: res.status, json };
  }

  /** `/api/devices/{device}[/modules/{module}]` with each part encoded (`$edgeAgent` included). */
  static devicePath(deviceId: string, moduleId?: string): string {
    return `/api/devices/${encodeURIComponent(deviceId)}${moduleId === undefined ? '' : `/modules/${encodeURIComponent(moduleId)}`}`;
  }
}
