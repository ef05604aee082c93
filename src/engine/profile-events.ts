// A profile's events and ramp-down, on one worker's things: connections dropped, the upstream of IoT Edge devices
// taken away for a while, identities leaving evenly over the last part of the run.
import type { Scheduler } from '../core/scheduler.js';
import type { ProfileEvent } from '../config/profile.js';
import { ServiceClient } from '../endpoints/service-client.js';
import type { BuiltThing } from '../sim/build.js';
import type { SimContext } from '../sim/context.js';
import { SimEdgeDevice } from '../sim/edge/edge-device.js';
import type { WorkerInit } from './messages.js';

export interface EventScope {
  scheduler: Scheduler;
  things: readonly BuiltThing[];
  init: WorkerInit;
  ctx: SimContext;
  random: () => number;
}

export function scheduleProfileEvents(scope: EventScope, events: readonly ProfileEvent[], startAt: number): void {
  for (const event of events) {
    if (event.kind === 'targetOutage') scheduleOutage(scope, event, startAt);
    else scheduleDrop(scope, event, startAt);
  }
}

type DropEvent = Exclude<ProfileEvent, { kind: 'targetOutage' }>;
type OutageEvent = Extract<ProfileEvent, { kind: 'targetOutage' }>;

function scheduleDrop(scope: EventScope, event: DropEvent, startAt: number): void {
  scope.scheduler.at(startAt + event.at, () => {
    let dropped = 0;
    for (const { thing, group } of scope.things) {
      if (event.group !== undefined && group !== event.group) continue;
      if (thing.state === 'connected' && scope.random() < event.fraction) {
        thing.drop();
        dropped++;
      }
    }
    scope.ctx.log('info', `worker ${scope.init.workerIndex}: dropped ${dropped} connections`);
  });
}

/**
 * The upstream of this worker's IoT Edge devices goes away: the emulator drops and refuses every identity that
 * reaches it through them (the device, its modules, its downstream devices); other targets are held unreachable here.
 */
function scheduleOutage(scope: EventScope, event: OutageEvent, startAt: number): void {
  const { init, ctx } = scope;
  scope.scheduler.at(startAt + event.at, () => {
    const edges: SimEdgeDevice[] = [];
    for (const { thing, group } of scope.things) {
      if (thing instanceof SimEdgeDevice && (event.group === undefined || group === event.group)) edges.push(thing);
    }
    if (edges.length === 0) return;
    const what = `${edges.length} IoT Edge device(s)`;
    const service = init.target.kind === 'emulator' ? init.target.service : undefined;
    if (service === undefined) {
      for (const edge of edges) edge.holdUpstreamDown(event.duration);
      ctx.log('info', `worker ${init.workerIndex}: upstream of ${what} held down for ${event.duration} ms`);
      return;
    }
    const deviceIds = edges.flatMap((edge) => edge.upstreamDeviceIds);
    void new ServiceClient(service).startOutage(deviceIds, event.duration).then(
      () => ctx.log('info', `worker ${init.workerIndex}: the emulator took ${what} away for ${event.duration} ms`),
      (err: Error) => {
        ctx.metrics.recordError('protocol', `targetOutage: the emulator refused it: ${err.message}`);
        ctx.log('error', `worker ${init.workerIndex}: targetOutage: ${err.message}`);
      },
    );
  });
}

/** During the last `rampDownMs` identities disconnect, evenly spread. */
export function scheduleRampDown(scope: EventScope, rampDownMs: number | undefined, endAt: number): void {
  const { things } = scope;
  if (!(rampDownMs !== undefined && rampDownMs > 0) || things.length === 0) return;
  const from = endAt - rampDownMs;
  things.forEach(({ thing }, i) => {
    scope.scheduler.at(from + (rampDownMs * i) / things.length, () => {
      thing.quiesce();
      void thing.stop();
    });
  });
}
