// What a module behaviour sees of the IoT Edge runtime: its outputs and inputs through edgeHub, its twin's
// desired properties, direct methods, and the `env` of its deployment entry.
import type { Scheduler } from '../../../core/scheduler.js';
import type { MethodReply } from '../module-identity.js';

export type { MethodReply } from '../module-identity.js';

export interface ModuleApi {
  readonly deviceId: string;
  readonly moduleId: string;
  /** The module's `env` from the deployment manifest (`{NAME: {value}}` flattened to strings). */
  readonly env: Readonly<Record<string, string>>;
  readonly scheduler: Scheduler;
  /** Seeded [0, 1), one sequence per module. */
  random(): number;
  /**
   * Emits a message on an output, through edgeHub's routes. `body`: a Buffer is sent as is, a string as UTF-8,
   * anything else as JSON. `intendedAtMs` is when it was meant to leave (latency is measured from it; default now).
   */
  sendOutput(output: string, body: unknown, properties?: Record<string, string>, intendedAtMs?: number): void;
  /** A reported-properties patch of the module's own twin (ignored while its upstream is down). */
  reportProperties(patch: Record<string, unknown>): void;
}

export interface ModuleBehaviour {
  /** Called once the module's twin has been read, after a first onDesired with the whole desired section. */
  start(api: ModuleApi): void;
  /** May return a promise when it holds connections of its own (edgeAgent awaits it when closing). */
  stop(): void | Promise<void>;
  /** The device quiesces: stop producing but keep connections for what is in flight (default: stop). */
  quiesce?(): void;
  /** Messages of identities it holds, sent and not yet acknowledged (counted in the device's). */
  readonly pendingAcks?: number;
  /** The whole desired section (before start, and after each reconnect), then each patch. */
  onDesired?(desired: Record<string, unknown>, version: number): void;
  /**
   * A message routed to one of its inputs. `properties` holds the application properties and the system ones
   * edgeHub adds (`$.cdid`, `$.cmid` of the sender, `$.ct`, `$.ce`).
   */
  onInput?(input: string, body: Buffer, properties: Readonly<Record<string, string>>): void;
  /** undefined: no handler for that method (the SDKs then answer 501). */
  onMethod?(name: string, request: unknown): MethodReply | undefined;
}

/** Application properties only: what a forwarding module copies onto the message it sends on. */
export function applicationProperties(properties: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(properties)) if (!k.startsWith('$.')) out[k] = v;
  return out;
}

/** Reads an env value the way .NET configuration does: keys are case-insensitive. */
export function envValue(env: Readonly<Record<string, string>>, name: string): string | undefined {
  if (env[name] !== undefined) return env[name];
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(env)) if (k.toLowerCase() === lower) return v;
  return undefined;
}
