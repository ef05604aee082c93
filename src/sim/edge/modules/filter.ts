// Forwards a message from an input to an output when a condition holds: a route-style condition compiled with
// edgeHub's own grammar (routes.ts), or a numeric threshold on a body path, like the tutorial's filter module.
import { splitProperties } from '../../../protocol/index.js';
import { compileRoute, type RouteMessage } from '../routes.js';
import { applicationProperties, envValue, type ModuleApi, type ModuleBehaviour } from './types.js';

export interface FilterOptions {
  /** Undefined or '*': every input. */
  input?: string;
  output?: string;
  /** A route WHERE condition, e.g. `$body.machine.temperature > 25 AND $connectionModuleId = 'sensor'`. */
  condition?: string;
  /**
   * Without a condition: forward when the number at `path` (dots into the JSON body) is above `above` and/or
   * below `below`. With neither bound, `above` is the desired TemperatureThreshold, else env TEMPERATURE_THRESHOLD,
   * else 25 (the IoT Edge tutorial's filter module).
   */
  threshold?: { path?: string; above?: number; below?: number };
}

/** The message as the route engine sees it, from what edgeHub delivered on an input. */
export function inputRouteMessage(body: Buffer, properties: Readonly<Record<string, string>>): RouteMessage {
  const { system, application } = splitProperties(properties);
  const moduleId = system.connectionModuleId;
  return {
    source:
      moduleId === undefined
        ? { kind: 'device', deviceId: system.connectionDeviceId ?? '' }
        : { kind: 'module', moduleId, output: system.outputName ?? '' },
    properties: application,
    systemProperties: system,
    body,
  };
}

function numberAt(body: Buffer, path: string): number | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return typeof value === 'number' ? value : undefined;
}

export class FilterModule implements ModuleBehaviour {
  private api: ModuleApi | undefined;
  private readonly output: string;
  private readonly accepts: (body: Buffer, properties: Readonly<Record<string, string>>) => boolean;
  private desiredThreshold: number | undefined;

  constructor(private readonly options: FilterOptions = {}) {
    this.output = options.output ?? 'output1';
    if (options.condition !== undefined) {
      // Compiled once, here: a bad condition fails the module's start with the route engine's message.
      const route = compileRoute('filter', `FROM /* WHERE ${options.condition} INTO $upstream`);
      this.accepts = (body, properties) => route.evaluate(inputRouteMessage(body, properties)) === true;
    } else {
      const t = options.threshold ?? {};
      const path = t.path ?? 'machine.temperature';
      this.accepts = (body) => {
        const v = numberAt(body, path);
        if (v === undefined) return false;
        if (t.above === undefined && t.below === undefined) return v > this.defaultThreshold();
        return (t.above === undefined || v > t.above) && (t.below === undefined || v < t.below);
      };
    }
  }

  private defaultThreshold(): number {
    const fromEnv = this.api === undefined ? undefined : Number(envValue(this.api.env, 'TEMPERATURE_THRESHOLD'));
    return this.desiredThreshold ?? (fromEnv !== undefined && Number.isFinite(fromEnv) ? fromEnv : 25);
  }

  onDesired(desired: Record<string, unknown>): void {
    if (typeof desired.TemperatureThreshold === 'number') this.desiredThreshold = desired.TemperatureThreshold;
  }

  start(api: ModuleApi): void {
    this.api = api;
  }

  onInput(input: string, body: Buffer, properties: Readonly<Record<string, string>>): void {
    const api = this.api;
    const wanted = this.options.input;
    if (api === undefined || (wanted !== undefined && wanted !== '*' && wanted !== input)) return;
    if (this.accepts(body, properties)) api.sendOutput(this.output, body, applicationProperties(properties));
  }

  stop(): void {
    this.api = undefined;
  }
}
