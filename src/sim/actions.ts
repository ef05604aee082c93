// Service-side actions of a profile (commands, property writes, C2D), paced in the open model: each has an
// intended time from its rate, and latency is measured from it. Each worker performs its share of the
// fleet-wide rate on its own connected devices.
import type { ServiceActions } from '../endpoints/service-client.js';
import type { MetricsRecorder } from '../metrics/recorder.js';
import { classify } from '../transport/errors.js';
import type { Scheduler } from '../core/scheduler.js';
import type { SimThing } from './context.js';

/** An action as a worker runs it; `groups` are the fleet groups it may pick identities from. */
export type ActionSpec =
  | {
      kind: 'command';
      ratePerSecond: number;
      groups: string[];
      module?: string;
      component?: string;
      command: string;
      request?: unknown;
    }
  | {
      kind: 'writeProperty';
      ratePerSecond: number;
      groups: string[];
      module?: string;
      component?: string;
      property: string;
      value: () => unknown;
    }
  | { kind: 'c2d'; ratePerSecond: number; groups: string[]; body?: unknown };

interface PendingWrite {
  intendedAt: number;
  startedAt: number;
}

export class ActionRunner {
  private readonly pendingWrites = new Map<string, PendingWrite>();
  private stopped = false;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly metrics: MetricsRecorder,
    private readonly service: ServiceActions,
    private readonly things: { thing: SimThing; group: string }[],
    private readonly random: () => number,
  ) {}

  /** Starts `spec` at `share` of its rate, from `startAt` until `endAt` (wall-clock ms). */
  schedule(spec: ActionSpec, share: number, startAt: number, endAt: number): void {
    const rate = spec.ratePerSecond * share;
    if (!(rate > 0)) return;
    const period = 1000 / rate;
    const run = (intended: number) => {
      if (this.stopped || intended >= endAt) return;
      this.scheduler.at(intended + period, run);
      const target = this.pick(spec.groups);
      if (target === undefined) return; // nobody connected yet: nothing to act on
      void this.perform(spec, target.deviceId, intended);
    };
    this.scheduler.at(startAt + this.random() * period, run);
  }

  stop(): void {
    this.stopped = true;
  }

  private pick(groups: string[]): SimThing | undefined {
    const candidates = this.things.filter((t) => groups.includes(t.group) && t.thing.state === 'connected');
    if (candidates.length === 0) return undefined;
    return candidates[Math.floor(this.random() * candidates.length)]?.thing;
  }

  private async perform(spec: ActionSpec, deviceId: string, intended: number): Promise<void> {
    const started = this.scheduler.now();
    const op = spec.kind === 'command' ? 'command' : spec.kind === 'writeProperty' ? 'desiredAck' : 'c2d';
    try {
      switch (spec.kind) {
        case 'command': {
          const result = await this.service.invokeCommand(deviceId, spec.command, spec.request, addressOf(spec));
          this.metrics.recordLatency('command', intended, started, this.scheduler.now());
          if (result.responseCode >= 400)
            this.metrics.recordError(
              'server',
              `${deviceId}: command ${spec.command} answered ${result.responseCode}`,
              'command',
            );
          return;
        }
        case 'writeProperty': {
          this.pendingWrites.set(key(deviceId, spec.module), { intendedAt: intended, startedAt: started });
          await this.service.writeProperties(deviceId, { [spec.property]: spec.value() }, addressOf(spec));
          return; // the latency ends when the device acknowledges (desiredAcknowledged)
        }
        case 'c2d':
          // The device measures delivery from the stamp (SimDevice.receiveC2D).
          await this.service.sendC2D(deviceId, spec.body ?? { ping: true }, { 'edgefleet-sent-at': String(intended) });
          return;
      }
    } catch (err) {
      const e = classify(err);
      this.metrics.recordError(e.errorClass, `${deviceId}: ${spec.kind}: ${e.message}`, op);
      if (spec.kind === 'writeProperty') this.pendingWrites.delete(key(deviceId, spec.module));
    }
  }

  /** A device acknowledged desired properties: ends the latency of a write waiting on it. */
  acknowledged(deviceId: string, moduleId: string | undefined, atMs: number): void {
    const k = key(deviceId, moduleId);
    const pending = this.pendingWrites.get(k);
    if (pending === undefined || atMs < pending.startedAt) return;
    this.pendingWrites.delete(k);
    this.metrics.recordLatency('desiredAck', pending.intendedAt, pending.startedAt, atMs);
  }
}

const addressOf = (spec: { module?: string; component?: string }) => ({
  ...(spec.module === undefined ? {} : { moduleId: spec.module }),
  ...(spec.component === undefined ? {} : { component: spec.component }),
});

const key = (deviceId: string, moduleId: string | undefined) =>
  moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`;
