// A worker thread: one scheduler drives this worker's share of the fleet; a snapshot of its metrics goes to
// the coordinator every second; on "stop" it drains acknowledgements (bounded), disconnects, and reports.
import { parentPort, workerData } from 'node:worker_threads';
import { MetricsRecorder } from '../metrics/recorder.js';
import { ServiceClient } from '../endpoints/service-client.js';
import type { SimContext, ThingState } from '../sim/context.js';
import { buildActions, buildFleet, type BuiltThing } from '../sim/build.js';
import { ActionRunner } from '../sim/actions.js';
import type { DeviceDetail, StateCounts } from '../metrics/types.js';
import type { FromWorker, ToWorker, WorkerInit } from './messages.js';
import { MessageWatch } from '../metrics/message-ring.js';
import { Prng, seedFor } from '../sim/model/random.js';
import { Scheduler } from '../core/scheduler.js';
import type { ProfileEvent } from '../config/profile.js';
import { SimEdgeDevice } from '../sim/edge/edge-device.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const post = (m: FromWorker) => port.postMessage(m);
const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 } as const;
const DRILL_MESSAGES_KEPT = 20;
const DRILL_LEASE_MS = 15_000;

const metrics = new MetricsRecorder(Date.now());
const scheduler = new Scheduler((late) => metrics.recordLateness(late));
const states: StateCounts = {};
/** Identities by state over all groups, also sent as gauges (the live view's "connected"). */
const stateTotals: Record<string, number> = {};
const acknowledgedBy: Record<string, number> = {};
let actions: ActionRunner | undefined;
/** Messages of the devices somebody drills into; recording starts with the first question and lapses without one. */
const watch = new MessageWatch(DRILL_MESSAGES_KEPT, DRILL_LEASE_MS);

const ctx: SimContext = {
  scheduler,
  metrics,
  target: init.target,
  localAddress: (ordinal) => (init.localAddresses.length === 0 ? undefined : init.localAddresses[ordinal % init.localAddresses.length]),
  stateChanged(group: string, from: ThingState, to: ThingState) {
    const g = (states[group] ??= {});
    g[from] = (g[from] ?? 0) - 1;
    g[to] = (g[to] ?? 0) + 1;
    stateTotals[from] = (stateTotals[from] ?? 0) - 1;
    stateTotals[to] = (stateTotals[to] ?? 0) + 1;
    metrics.setGauge(from, stateTotals[from]);
    metrics.setGauge(to, stateTotals[to]);
  },
  desiredAcknowledged: (deviceId, moduleId, _version, atMs) => actions?.acknowledged(deviceId, moduleId, atMs),
  acknowledgedBy: (identity) => void (acknowledgedBy[identity] = (acknowledgedBy[identity] ?? 0) + 1),
  log(level, message) {
    if (LEVELS[level] >= LEVELS[init.logLevel]) post({ type: 'log', level, message });
  },
  notice: (message) => post({ type: 'notice', message }),
  mqtt: { keepaliveSeconds: 180, connectTimeoutMs: 30_000, operationTimeoutMs: 30_000 },
  watch,
};

let things: BuiltThing[] = [];
try {
  things = await buildFleet(ctx, init);
} catch (err) {
  post({ type: 'fatal', message: (err as Error).message });
  process.exit(1);
}
let waiting = things.length;
const heldGroups = new Set<string>();
for (const { group, held } of things) {
  const g = (states[group] ??= {});
  g.waiting = (g.waiting ?? 0) + 1;
  for (const h of held ?? []) {
    heldGroups.add(h.group);
    const hg = (states[h.group] ??= {});
    hg.waiting = (hg.waiting ?? 0) + h.count;
    waiting += h.count;
  }
}
stateTotals.waiting = waiting;
metrics.setGauge('waiting', waiting);

const prng = new Prng(seedFor(init.seed, 'worker', init.workerIndex));
const random = () => prng.next();
const { profile } = init.scenario;
let ticker: NodeJS.Timeout | undefined;

// Pausing holds back arrivals that have not happened yet; resuming shifts them by the time paused.
let pausedAt: number | undefined;
const heldBack: BuiltThing[] = [];

function arrive(built: BuiltThing): void {
  if (pausedAt !== undefined) {
    heldBack.push(built);
    return;
  }
  built.thing.start();
}

function setPaused(paused: boolean): void {
  if (paused && pausedAt === undefined) pausedAt = scheduler.now();
  if (paused || pausedAt === undefined) return;
  const shift = scheduler.now() - pausedAt;
  pausedAt = undefined;
  for (const built of heldBack.splice(0)) {
    built.plan.arrivalAt += shift;
    scheduler.at(built.plan.arrivalAt, () => arrive(built));
  }
}

/** t = 0 of the run: arrivals, actions, events and ramp-down are scheduled from it. */
function start(startAt: number): void {
  const endAt = startAt + init.durationMs;
  for (const built of things) {
    built.plan.arrivalAt = startAt + built.arrivalOffsetMs;
    if (Number.isFinite(built.plan.arrivalAt)) scheduler.at(built.plan.arrivalAt, () => arrive(built));
  }
  if (init.target.kind !== 'mqtt' && init.target.service !== undefined) {
    const runner = new ActionRunner(scheduler, metrics, new ServiceClient(init.target.service), things, random);
    actions = runner;
    for (const spec of buildActions(init)) runner.schedule(spec, init.actionShare, startAt, endAt);
  }
  for (const event of profile.events) scheduleEvent(event, startAt);
  scheduleRampDown(profile.rampDown, endAt);
  ticker = setInterval(() => {
    if (watch.size > 0) watch.expire(scheduler.now());
    post({
      type: 'snapshot', workerIndex: init.workerIndex, snapshot: metrics.snapshot(Date.now()), states: stateSnapshot(),
      patterns: patternSnapshot(), pendingAcks: pendingAcks(), heapUsed: process.memoryUsage().heapUsed,
    });
  }, init.snapshotIntervalMs);
}

function scheduleEvent(event: ProfileEvent, startAt: number): void {
  if (event.kind === 'targetOutage') return scheduleOutage(event, startAt);
  scheduler.at(startAt + event.at, () => {
    let dropped = 0;
    for (const { thing, group } of things) {
      if (event.group !== undefined && group !== event.group) continue;
      if (thing.state === 'connected' && random() < event.fraction) {
        thing.drop();
        dropped++;
      }
    }
    ctx.log('info', `worker ${init.workerIndex}: dropped ${dropped} connections`);
  });
}

/**
 * The upstream of this worker's IoT Edge devices goes away: the emulator drops and refuses every identity that
 * reaches it through them (the device, its modules, its downstream devices); other targets are held unreachable here.
 */
function scheduleOutage(event: Extract<ProfileEvent, { kind: 'targetOutage' }>, startAt: number): void {
  scheduler.at(startAt + event.at, () => {
    const edges: SimEdgeDevice[] = [];
    for (const { thing, group } of things) {
      if (thing instanceof SimEdgeDevice && (event.group === undefined || group === event.group)) edges.push(thing);
    }
    if (edges.length === 0) return;
    const service = init.target.kind === 'emulator' ? init.target.service : undefined;
    if (service === undefined) {
      for (const edge of edges) edge.holdUpstreamDown(event.duration);
      ctx.log('info', `worker ${init.workerIndex}: upstream of ${edges.length} IoT Edge device(s) held down for ${event.duration} ms`);
      return;
    }
    const deviceIds = edges.flatMap((edge) => edge.upstreamDeviceIds);
    new ServiceClient(service).startOutage(deviceIds, event.duration).then(
      () => ctx.log('info', `worker ${init.workerIndex}: the emulator took ${edges.length} IoT Edge device(s) away for ${event.duration} ms`),
      (err: Error) => {
        metrics.recordError('protocol', `targetOutage: the emulator refused it: ${err.message}`);
        ctx.log('error', `worker ${init.workerIndex}: targetOutage: ${err.message}`);
      },
    );
  });
}

/** During the last `rampDownMs` identities disconnect, evenly spread. */
function scheduleRampDown(rampDownMs: number | undefined, endAt: number): void {
  if (!(rampDownMs !== undefined && rampDownMs > 0) || things.length === 0) return;
  const from = endAt - rampDownMs;
  things.forEach(({ thing }, i) => {
    scheduler.at(from + (rampDownMs * i) / things.length, () => {
      thing.quiesce();
      void thing.stop();
    });
  });
}

function stateSnapshot(): StateCounts {
  return structuredClone(states);
}

/** Identities by state per pattern, counted from the things themselves once a second (cheap next to a snapshot). */
function patternSnapshot(): StateCounts {
  const out: StateCounts = {};
  for (const { pattern, thing } of things) {
    const p = (out[pattern] ??= {});
    p[thing.state] = (p[thing.state] ?? 0) + 1;
  }
  // Sensors a module holds (identity translation) are no things of their own: their groups' counts stand for them.
  for (const group of heldGroups) {
    const p = (out.identityTranslation ??= {});
    for (const [state, n] of Object.entries(states[group] ?? {})) p[state] = (p[state] ?? 0) + n;
  }
  return out;
}

function groupPatterns(): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const { group, pattern } of things) {
    const list = (out[group] ??= []);
    if (!list.includes(pattern)) list.push(pattern);
  }
  for (const group of heldGroups) out[group] = ['identityTranslation'];
  return out;
}

const pendingAcks = () => things.reduce((n, t) => n + t.thing.pendingAcks, 0);

port.on('message', (m: ToWorker) => {
  if (m.type === 'start') start(m.startAt);
  else if (m.type === 'stop') void stop(m.drainMs);
  else if (m.type === 'pause') setPaused(m.paused);
  else if (m.type === 'inspect') post({ type: 'inspection', requestId: m.requestId, detail: inspect(m.deviceId) });
});

/**
 * What a person drilling into one device sees: its state machine's recent path and its last messages. Asking
 * starts (or keeps up) the recording of its messages.
 */
function inspect(deviceId: string): DeviceDetail | null {
  const built = things.find((b) => b.thing.deviceId === deviceId);
  if (built === undefined) return null;
  const { thing } = built;
  const { ring, sinceMs } = watch.look(deviceId, scheduler.now());
  return {
    deviceId, group: built.group, pattern: built.pattern, state: thing.state, workerIndex: init.workerIndex,
    pendingAcks: thing.pendingAcks, transitions: [...(thing.transitions ?? [])],
    messages: ring.newestFirst(), messagesSinceMs: sinceMs, messagesRecorded: ring.recorded,
  };
}
post({ type: 'ready', groupPatterns: groupPatterns() });

async function stop(drainMs: number): Promise<void> {
  actions?.stop();
  for (const { thing } of things) thing.quiesce();
  const deadline = Date.now() + drainMs;
  while (pendingAcks() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (ticker !== undefined) clearInterval(ticker);
  await Promise.all(things.map(({ thing }) => thing.stop().catch(() => {})));
  scheduler.stop();
  post({ type: 'final', workerIndex: init.workerIndex, snapshot: metrics.snapshot(Date.now()), states: stateSnapshot(), patterns: patternSnapshot(), acknowledgedBy });
  port.close();
}
