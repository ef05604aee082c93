// A profile's events and ramp-down, on one worker's things: connections dropped by their clients, sockets cut by a
// failing network, the upstream of IoT Edge devices taken away for a while, identities leaving evenly over the last
// part of the run. Each event tells the coordinator what it took away, and when this worker is whole again.
import type { Scheduler } from '../core/scheduler.js';
import type { ProfileEvent } from '../config/profile.js';
import { ServiceClient } from '../endpoints/service-client.js';
import type { FleetLevel } from '../metrics/fault-events.js';
import type { BuiltThing } from '../sim/build.js';
import type { SimContext } from '../sim/context.js';
import { SimEdgeDevice } from '../sim/edge/edge-device.js';
import type { FleetContext } from './fleet-context.js';
import type { FromWorker, WorkerInit } from './messages.js';

export interface EventScope {
  scheduler: Scheduler;
  things: readonly BuiltThing[];
  init: WorkerInit;
  ctx: SimContext;
  fleet: FleetContext;
  random: () => number;
  post(message: FromWorker): void;
}

type EventOf<K extends ProfileEvent['kind']> = Extract<ProfileEvent, { kind: K }>;

export function scheduleProfileEvents(scope: EventScope, events: readonly ProfileEvent[], startAt: number): void {
  events.forEach((event, index) => {
    // The coordinator runs a targetRestart (it owns the emulator's process) and asks the workers to watch.
    if (event.kind === 'targetRestart') return;
    scope.scheduler.at(startAt + event.at, () => {
      if (event.kind === 'targetOutage') act(scope, index, () => outage(scope, event));
      else if (event.kind === 'networkDrop') act(scope, index, () => networkDrop(scope, event));
      else act(scope, index, () => dropConnections(scope, event));
    });
  });
}

/**
 * Takes this worker's level, runs the event, and reports both; then reports when the worker is whole again.
 * `run` says what it took away.
 */
export function act(scope: EventScope, index: number, run: () => FleetLevel): void {
  const before = scope.fleet.level();
  const atMs = Date.now();
  const tookAway = run();
  const workerIndex = scope.init.workerIndex;
  scope.post({ type: 'event', workerIndex, index, atMs, before, tookAway });
  scope.fleet.whenWhole(before, tookAway, (wholeAt) => {
    scope.post({ type: 'eventWhole', workerIndex, index, atMs: wholeAt });
  });
}

/**
 * The identities a thing stands for: itself and an IoT Edge device's downstream devices, and (`sensors`) the sensors
 * its modules hold, which connect on their own.
 */
function deviceIdsOf(built: BuiltThing, sensors: boolean): string[] {
  const { thing } = built;
  const children = thing instanceof SimEdgeDevice ? thing.upstreamDeviceIds.slice(1) : [];
  return [thing.deviceId, ...children, ...(sensors ? (built.held ?? []).flatMap((h) => h.deviceIds) : [])];
}

/** Identities of `ids` that hold a socket, and the sockets they hold. */
function holding(scope: EventScope, ids: readonly string[]): FleetLevel {
  const counts = ids.map((id) => scope.fleet.connections.countOf([id]));
  return { identities: counts.filter((n) => n > 0).length, connections: counts.reduce((a, b) => a + b, 0) };
}

/** The clients close their own connections at once (no DISCONNECT) and know it: a reboot, an SDK reset. */
function dropConnections(scope: EventScope, event: EventOf<'dropConnections'>): FleetLevel {
  const took: FleetLevel = { identities: 0, connections: 0 };
  for (const built of scope.things) {
    if (event.group !== undefined && built.group !== event.group) continue;
    if (built.thing.state === 'connected' && scope.random() < event.fraction) {
      add(took, holding(scope, deviceIdsOf(built, false)));
      built.thing.drop();
    }
  }
  scope.ctx.log('info', `worker ${scope.init.workerIndex}: dropped the connections of ${took.identities} identities`);
  return took;
}

/** The network under a fraction of the identities fails: every socket they hold is destroyed, their clients unaware. */
function networkDrop(scope: EventScope, event: EventOf<'networkDrop'>): FleetLevel {
  const took: FleetLevel = { identities: 0, connections: 0 };
  for (const built of scope.things) {
    if (event.group !== undefined && built.group !== event.group) continue;
    const ids = deviceIdsOf(built, true);
    const held = holding(scope, ids);
    if (held.connections === 0 || scope.random() >= event.fraction) continue;
    add(took, held);
    scope.fleet.connections.cut(ids);
  }
  const what = `${took.connections} sockets of ${took.identities} identities`;
  scope.ctx.log('info', `worker ${scope.init.workerIndex}: network drop: ${what} destroyed`);
  return took;
}

const add = (into: FleetLevel, more: FleetLevel) => {
  into.identities += more.identities;
  into.connections += more.connections;
};

/**
 * The upstream of this worker's IoT Edge devices goes away: the emulator drops and refuses every identity that
 * reaches it through them (the device, its modules, its downstream devices); other targets are held unreachable here.
 */
function outage(scope: EventScope, event: EventOf<'targetOutage'>): FleetLevel {
  const { init, ctx } = scope;
  const edges = scope.things.filter(
    (b) => b.thing instanceof SimEdgeDevice && (event.group === undefined || b.group === event.group),
  );
  if (edges.length === 0) return { identities: 0, connections: 0 };
  const took = holding(
    scope,
    edges.flatMap((b) => (b.thing as SimEdgeDevice).upstreamDeviceIds),
  );
  const what = `${edges.length} IoT Edge device(s)`;
  const service = init.target.kind === 'emulator' ? init.target.service : undefined;
  if (service === undefined) {
    for (const { thing } of edges) (thing as SimEdgeDevice).holdUpstreamDown(event.duration);
    ctx.log('info', `worker ${init.workerIndex}: upstream of ${what} held down for ${event.duration} ms`);
    return took;
  }
  const deviceIds = edges.flatMap(({ thing }) => (thing as SimEdgeDevice).upstreamDeviceIds);
  void new ServiceClient(service).startOutage(deviceIds, event.duration).then(
    () => ctx.log('info', `worker ${init.workerIndex}: the emulator took ${what} away for ${event.duration} ms`),
    (err: Error) => {
      ctx.metrics.recordError('protocol', `targetOutage: the emulator refused it: ${err.message}`);
      ctx.log('error', `worker ${init.workerIndex}: targetOutage: ${err.message}`);
    },
  );
  return took;
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
