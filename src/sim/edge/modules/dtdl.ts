// Telemetry generated from a DTDL model (or any TelemetrySource), on one output at a fixed interval.
import type { ScheduledHandle } from '../../../core/scheduler.js';
import type { TelemetrySource } from '../../thing.js';
import type { ModuleApi, ModuleBehaviour } from './types.js';

export interface DtdlOptions {
  output?: string;
  intervalMs?: number;
  source: TelemetrySource;
}

export class DtdlModule implements ModuleBehaviour {
  private readonly output: string;
  private readonly intervalMs: number;
  private timer: ScheduledHandle | undefined;
  private api: ModuleApi | undefined;

  constructor(private readonly options: DtdlOptions) {
    this.output = options.output ?? 'telemetry';
    this.intervalMs = options.intervalMs ?? 10_000;
    if (!(this.intervalMs > 0)) throw new Error(`dtdl module: interval must be > 0 ms, not ${this.intervalMs}`);
  }

  start(api: ModuleApi): void {
    this.api = api;
    // A random phase within one interval, so a fleet does not send in lockstep.
    this.timer = api.scheduler.at(api.scheduler.now() + api.random() * this.intervalMs, (at) => this.tick(at));
  }

  private tick(intended: number): void {
    const api = this.api;
    if (api === undefined) return;
    this.timer = api.scheduler.at(intended + this.intervalMs, (at) => this.tick(at));
    for (const { component, body } of this.options.source.tick(intended / 1000)) {
      // A component's telemetry carries its name in `$.sub`, as IoT Central expects.
      api.sendOutput(this.output, body, component === undefined ? undefined : { '$.sub': component }, intended);
    }
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.api = undefined;
  }
}
