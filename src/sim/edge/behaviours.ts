// What the modules of an IoT Edge device do. A behaviour sees its module as a module sees the IoT Edge
// runtime: outputs and inputs through edgeHub, its twin's desired properties, direct methods, its env.
import { pathToFileURL } from 'node:url';
import type { ModuleBehaviour as ModuleBehaviourConfig } from '../../config/scenario.js';
import type { Scheduler } from '../../engine/scheduler.js';
import type { TelemetrySource } from '../thing.js';
import { compileRoute, type RouteMessage } from './routes.js';

export interface ModuleApi {
  readonly deviceId: string;
  readonly moduleId: string;
  /** The module's `env` from the deployment manifest. */
  readonly env: Readonly<Record<string, string>>;
  readonly scheduler: Scheduler;
  random(): number;
  /** Emits a JSON message on an output; `intendedAt` is when it was meant to leave (ms). */
  sendOutput(output: string, body: unknown, intendedAt: number, properties?: Record<string, string>): void;
  reportProperties(patch: Record<string, unknown>): void;
}

export interface MethodReply {
  status: number;
  response: unknown;
}

export interface ModuleBehaviour {
  start(api: ModuleApi): void;
  stop(): void;
  onDesired?(desired: Record<string, unknown>): void;
  onInput?(input: string, message: RouteMessage): void;
  onMethod?(name: string, request: unknown): MethodReply;
}

/** Microsoft's SimulatedTemperatureSensor: a machine warming up, the room around it, SendData/SendInterval. */
export class SimulatedTemperatureSensor implements ModuleBehaviour {
  private api: ModuleApi | undefined;
  private sendData = true;
  private intervalMs = 5000;
  private machineTemperature = 21;
  private sent = 0;
  private messageCount = 500;
  private nextAt = 0;
  private timer: { cancel(): void } | undefined;

  constructor(private readonly output = 'temperatureOutput') {}

  start(api: ModuleApi): void {
    this.api = api;
    // The module stops after MessageCount messages (500 when unset); 0 or less: it never stops.
    const count = Number(api.env.MessageCount ?? '500');
    this.messageCount = Number.isFinite(count) && count > 0 ? count : Infinity;
    this.schedule(api.scheduler.now() + api.random() * this.intervalMs);
  }

  private schedule(at: number): void {
    const api = this.api;
    if (api === undefined) return;
    this.timer?.cancel();
    this.nextAt = at;
    this.timer = api.scheduler.at(at, (intended) => this.tick(intended));
  }

  private tick(intended: number): void {
    const api = this.api;
    if (api === undefined) return;
    this.schedule(intended + this.intervalMs);
    if (!this.sendData || this.sent >= this.messageCount) return;
    this.sent += 1;
    // The machine heats up in small random steps and starts over, as the sample's data does.
    this.machineTemperature += 0.5 + api.random();
    if (this.machineTemperature > 100) this.machineTemperature = 21;
    const t = this.machineTemperature;
    api.sendOutput(this.output, {
      machine: { temperature: round(t), pressure: round(1 + 0.114 * (t - 21)) },
      ambient: { temperature: round(20.5 + api.random()), humidity: 24 + Math.floor(api.random() * 4) },
      timeCreated: new Date(intended).toISOString(),
    }, intended);
  }

  onDesired(desired: Record<string, unknown>): void {
    if (typeof desired.SendData === 'boolean') this.sendData = desired.SendData;
    const seconds = desired.SendInterval;
    if (typeof seconds === 'number' && seconds > 0 && seconds * 1000 !== this.intervalMs) {
      this.intervalMs = seconds * 1000;
      const api = this.api;
      // The new interval counts from now, not from the old schedule.
      if (api !== undefined) this.schedule(Math.min(this.nextAt, api.scheduler.now() + this.intervalMs));
    }
  }

  onInput(input: string, message: RouteMessage): void {
    // A {"command":"reset"} message on the `control` input starts the machine over.
    if (input !== 'control') return;
    try {
      if ((JSON.parse(message.body.toString('utf8')) as { command?: unknown }).command === 'reset') this.machineTemperature = 21;
    } catch {
      // not JSON: ignored, as the module does
    }
  }

  onMethod(name: string): MethodReply {
    if (name === 'reset') {
      this.machineTemperature = 21;
      return { status: 200, response: { message: 'reset' } };
    }
    return { status: 404, response: { message: `unknown method ${name}` } };
  }

  stop(): void {
    this.timer?.cancel();
    this.api = undefined;
  }
}

const round = (v: number) => Math.round(v * 1000) / 1000;

/** Telemetry from a DTDL model on one output, at an interval. */
export class DtdlModule implements ModuleBehaviour {
  private timer: { cancel(): void } | undefined;
  private api: ModuleApi | undefined;

  constructor(private readonly source: TelemetrySource, private readonly output: string, private readonly intervalMs: number) {}

  start(api: ModuleApi): void {
    this.api = api;
    const tick = (intended: number) => {
      if (this.api === undefined) return;
      this.timer = api.scheduler.at(intended + this.intervalMs, tick);
      for (const { component, body } of this.source.tick(intended / 1000)) {
        api.sendOutput(this.output, body, intended, component === undefined ? undefined : { '$.sub': component });
      }
    };
    this.timer = api.scheduler.at(api.scheduler.now() + api.random() * this.intervalMs, tick);
  }

  stop(): void {
    this.timer?.cancel();
    this.api = undefined;
  }
}

/** Forwards messages from an input to an output, all of them or those a route-style condition accepts. */
export class ForwardingModule implements ModuleBehaviour {
  private api: ModuleApi | undefined;
  private readonly accepts: (m: RouteMessage) => boolean;

  constructor(private readonly input: string, private readonly output: string, condition?: string) {
    // The condition is compiled once with edgeHub's own grammar, as the WHERE of a route.
    const route = condition === undefined ? undefined : compileRoute('filter', `FROM /* WHERE ${condition} INTO $upstream`);
    this.accepts = route === undefined ? () => true : (m) => route.matches(m);
  }

  start(api: ModuleApi): void {
    this.api = api;
  }

  onInput(input: string, message: RouteMessage): void {
    const api = this.api;
    if (api === undefined || input !== this.input || !this.accepts(message)) return;
    let body: unknown;
    try {
      body = JSON.parse(message.body.toString('utf8'));
    } catch {
      body = message.body.toString('utf8');
    }
    api.sendOutput(this.output, body, api.scheduler.now());
  }

  stop(): void {
    this.api = undefined;
  }
}

/** A custom behaviour: a file whose default export is `(options) => ModuleBehaviour`. */
async function loadCustom(file: string, options: Record<string, unknown>): Promise<ModuleBehaviour> {
  const loaded = (await import(pathToFileURL(file).href)) as { default?: unknown };
  if (typeof loaded.default !== 'function') throw new Error(`${file}: the default export must be a function (options) => behaviour`);
  return (loaded.default as (o: Record<string, unknown>) => ModuleBehaviour)(options);
}

export async function createBehaviour(config: ModuleBehaviourConfig, source: () => TelemetrySource): Promise<ModuleBehaviour> {
  switch (config.behaviour) {
    case 'simulated-temperature-sensor':
      return new SimulatedTemperatureSensor(config.output);
    case 'dtdl':
      return new DtdlModule(source(), config.output, config.interval);
    case 'filter':
      return new ForwardingModule(config.input, config.output, config.condition);
    case 'passthrough':
      return new ForwardingModule(config.input, config.output);
    case 'custom':
      return loadCustom(config.file, config.options);
  }
}
