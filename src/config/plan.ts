// A scenario and a profile, expanded into every identity and when it arrives. Nothing here is random except
// through the seed, so the same inputs give the same plan on every machine and every shard.
import { parseConnectionString } from '../protocol/connection-string.js';
import { ConfigError, describeValue } from './errors.js';
import { formatId, parseIdPattern } from './id-pattern.js';
import type { Arrivals } from './profile.js';
import {
  DEFAULT_DOWNSTREAM_ID_PATTERN,
  DEFAULT_ID_PATTERN,
  DEFAULT_TRANSLATED_IDENTITY_PATTERN,
  type AuthKind,
} from './scenario.js';

export interface PlannedIdentity {
  /** Global position, 0.. over all groups in scenario order; identities arrive in this order. */
  ordinal: number;
  group: string;
  /** Position inside the group, 0-based (the id's {index} is firstIndex + groupIndex). */
  groupIndex: number;
  deviceId: string;
  /** downstream: a leaf device behind a transparent gateway (`gateway`). */
  kind: 'device' | 'iotEdge' | 'downstream';
  /** A downstream device's gateway: its device id and ordinal (sharding keeps the two together). */
  gateway?: { deviceId: string; ordinal: number };
  /** Arrival time, ms from the start of the run; Infinity when the profile's rate ends at 0 before this one. */
  arrivalMs: number;
  /** Seed of this identity's own random choices: from the scenario seed and the device id, not from sharding. */
  seed: number;
}

/** The fields of a fleet group that the expansion reads (a validated FleetGroup has them all). */
export interface FleetGroupSource {
  group: string;
  kind: 'device' | 'iotEdge';
  count: number;
  idPattern?: string | undefined;
  firstIndex?: number | undefined;
  auth?: AuthKind | undefined;
  /** Already read from their file (loadScenario does that). */
  connectionStrings?: readonly string[] | string | undefined;
  /** IoT Edge groups: leaf devices behind each of their devices. */
  downstream?: readonly DownstreamGroupSource[] | undefined;
  /** IoT Edge groups: how their modules behave (identity-translation sensors are identities too). */
  modules?: Readonly<Record<string, object>> | undefined;
}

export interface DownstreamGroupSource {
  group: string;
  countPerGateway: number;
  idPattern?: string | undefined;
  firstIndex?: number | undefined;
}

export interface FleetSource {
  seed?: number | undefined;
  fleet: readonly FleetGroupSource[];
}

/** What the engine runs: every identity, in ordinal order, with its arrival time. */
export interface FleetPlan {
  scenario: string;
  seed: number;
  durationMs: number;
  identities: PlannedIdentity[];
  /** When the last identity arrives (Infinity if some never do). */
  lastArrivalMs: number;
}

/**
 * Every identity of the fleet, in ordinal order. Arrival times follow `profile.arrivals`; without a profile
 * everyone arrives at 0. Ids must be unique across groups (compared case-insensitively, as DPS does).
 */
export function expandFleet(scenario: FleetSource, profile?: { arrivals: Arrivals }): PlannedIdentity[] {
  const { identities, problems } = expandIdentities(scenario);
  if (problems.length > 0) throw new ConfigError(problems.map((problem) => ({ file: 'scenario', ...problem })));
  if (profile !== undefined) {
    const offsets = arrivalOffsets(profile, identities.length);
    for (const identity of identities) identity.arrivalMs = offsets[identity.ordinal] ?? Number.POSITIVE_INFINITY;
  }
  return identities;
}

/** The expansion without throwing: id collisions come back as problems (path and message). */
export function expandIdentities(scenario: FleetSource): {
  identities: PlannedIdentity[];
  problems: { path: string; message: string }[];
} {
  const expansion = new Expansion(scenario.seed ?? 1);
  scenario.fleet.forEach((group, position) => {
    const gateways = expansion.devices(group, position);
    // Sensors of identity-translation modules are made by their module at run time, but their ids are taken too.
    for (const [name, module] of Object.entries(group.modules ?? {}))
      expansion.sensors(group, position, name, module, gateways);
    // Leaf devices come after their gateways, so they arrive after them.
    (group.downstream ?? []).forEach((leaf, j) =>
      expansion.downstream(leaf, `fleet[${position}].downstream[${j}]`, gateways),
    );
  });
  return { identities: expansion.identities, problems: expansion.problems };
}

/** The identities made so far, in ordinal order, and the id collisions found on the way. */
class Expansion {
  readonly identities: PlannedIdentity[] = [];
  readonly problems: { path: string; message: string }[] = [];
  /** Lower-cased id → where it was first made. */
  private readonly owner = new Map<string, { path: string; group: string }>();

  constructor(private readonly seed: number) {}

  /** A group's own devices (the gateways of its downstream devices and sensors). */
  devices(group: FleetGroupSource, position: number): PlannedIdentity[] {
    const idOf = deviceIdsOf(group);
    const reported = new Set<string>();
    const path = `fleet[${position}].${group.auth === 'connectionString' ? 'connectionStrings' : 'idPattern'}`;
    const made: PlannedIdentity[] = [];
    for (let groupIndex = 0; groupIndex < group.count; groupIndex++) {
      const deviceId = idOf(groupIndex);
      this.claim(deviceId, path, group.group, reported);
      made.push(this.add({ group: group.group, groupIndex, deviceId, kind: group.kind }));
    }
    return made;
  }

  /** The ids an identity-translation module's sensors take behind each gateway (they are not planned). */
  sensors(group: FleetGroupSource, position: number, name: string, module: object, gateways: PlannedIdentity[]): void {
    const sensors = (module as { behaviour?: unknown; sensors?: { count?: unknown; idPattern?: unknown } }).sensors;
    if (
      (module as { behaviour?: unknown }).behaviour !== 'identity-translation' ||
      sensors === undefined ||
      typeof sensors.count !== 'number'
    )
      return;
    const parts = parseIdPattern(
      typeof sensors.idPattern === 'string' ? sensors.idPattern : DEFAULT_TRANSLATED_IDENTITY_PATTERN,
      { gateway: true },
    );
    const sensorPath = `fleet[${position}].modules.${name}.sensors.idPattern`;
    const reported = new Set<string>();
    for (const gateway of gateways) {
      for (let i = 1; i <= sensors.count; i++)
        this.claim(formatId(parts, i, group.group, gateway.deviceId), sensorPath, `${group.group}/${name}`, reported);
    }
  }

  /** A downstream group's devices behind each gateway; `field` is where the group is in the scenario. */
  downstream(leaf: DownstreamGroupSource, field: string, gateways: PlannedIdentity[]): void {
    const parts = parseIdPattern(leaf.idPattern ?? DEFAULT_DOWNSTREAM_ID_PATTERN, { gateway: true });
    const firstIndex = leaf.firstIndex ?? 1;
    const reported = new Set<string>();
    let groupIndex = 0;
    for (const gateway of gateways) {
      for (let i = 0; i < leaf.countPerGateway; i++) {
        const deviceId = formatId(parts, firstIndex + i, leaf.group, gateway.deviceId);
        this.claim(deviceId, `${field}.idPattern`, leaf.group, reported);
        const gatewayOf = { deviceId: gateway.deviceId, ordinal: gateway.ordinal };
        this.add({ group: leaf.group, groupIndex: groupIndex++, deviceId, kind: 'downstream', gateway: gatewayOf });
      }
    }
  }

  private add(fields: Omit<PlannedIdentity, 'ordinal' | 'arrivalMs' | 'seed'>): PlannedIdentity {
    const identity = {
      ordinal: this.identities.length,
      ...fields,
      arrivalMs: 0,
      seed: identitySeed(this.seed, fields.deviceId),
    };
    this.identities.push(identity);
    return identity;
  }

  /** Records an id; a collision becomes one problem per pair of groups (enough to act on). */
  private claim(deviceId: string, path: string, group: string, reported: Set<string>): void {
    const key = deviceId.toLowerCase();
    const first = this.owner.get(key);
    if (first === undefined) {
      this.owner.set(key, { path, group });
      return;
    }
    if (reported.has(first.path)) return;
    reported.add(first.path);
    this.problems.push({
      path,
      message:
        first.path === path
          ? `device id "${deviceId}" appears twice in group "${group}"`
          : `device id "${deviceId}" of group "${group}" is also an id of group "${first.group}" (${first.path.replace(/\.(idPattern|connectionStrings)$/, '')}); ids must be unique across groups`,
    });
  }
}

function deviceIdsOf(group: FleetGroupSource): (groupIndex: number) => string {
  if (group.auth === 'connectionString') {
    const strings = group.connectionStrings;
    if (strings === undefined || typeof strings === 'string') {
      throw new Error(
        `group "${group.group}": connection strings are in a file; load the scenario with loadScenario() first`,
      );
    }
    return (groupIndex) => {
      const text = strings[groupIndex];
      if (text === undefined) throw new Error(`group "${group.group}": no connection string for device ${groupIndex}`);
      return parseConnectionString(text).deviceId;
    };
  }
  const parts = parseIdPattern(group.idPattern ?? DEFAULT_ID_PATTERN);
  const firstIndex = group.firstIndex ?? 1;
  return (groupIndex) => formatId(parts, firstIndex + groupIndex, group.group);
}

/** FNV-1a over the seed and id, then a murmur3 finaliser: a well-mixed uint32. */
export function identitySeed(seed: number, deviceId: string): number {
  let hash = 0x811c9dc5;
  const text = `${seed}:${deviceId}`;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

// --- shards ---------------------------------------------------------------------------------------------------

export interface Shard {
  /** 0-based. */
  index: number;
  count: number;
}

/**
 * `--shard i/n` on the command line: i counts from 1 to n, as k6's execution segments and Kubernetes
 * completion indexes read naturally ("1/4" is the first quarter). Returned 0-based: "2/4" → { index: 1, count: 4 }.
 */
export function parseShard(text: string): Shard {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const one = match ? Number(match[1]) : Number.NaN;
  const count = match ? Number(match[2]) : Number.NaN;
  if (!Number.isSafeInteger(one) || !Number.isSafeInteger(count) || count < 1 || one < 1 || one > count) {
    throw new ConfigError([
      {
        file: 'command line',
        path: '--shard',
        message: `expected i/n with 1 <= i <= n, such as "1/4" (the first of four shards), got ${describeValue(text)}`,
      },
    ]);
  }
  return { index: one - 1, count };
}

/** The variables a Kubernetes Indexed Job gives each pod, and the one its spec sets for the completions count. */
export const COMPLETION_INDEX_VARIABLE = 'JOB_COMPLETION_INDEX';
export const SHARDS_VARIABLE = 'EDGEFLEET_SHARDS';

const shardProblem = (path: string, message: string) => new ConfigError([{ file: 'command line', path, message }]);

/** A count or an index as written: digits only, so "2.5", "0x3" and "" are refused rather than rounded. */
const wholeNumber = (text: string): number | undefined =>
  /^\s*\d+\s*$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : undefined;

/**
 * `--shard auto`: the shard of a pod of a Kubernetes Indexed Job, so that one Job spec runs every shard. The index
 * is the pod's `JOB_COMPLETION_INDEX` (0-based, set by Kubernetes); the count is `--shards N`, else
 * `EDGEFLEET_SHARDS` (the Job's completions). Anything missing or out of range is a ConfigError saying what to set.
 */
export function autoShard(shards: number | undefined, env: NodeJS.ProcessEnv = process.env): Shard {
  const count = shards ?? shardsFromEnv(env[SHARDS_VARIABLE]);
  if (!Number.isSafeInteger(count) || count < 1)
    throw shardProblem('--shards', `expected a whole number >= 1 (the Job's completions), got ${describeValue(count)}`);
  const text = env[COMPLETION_INDEX_VARIABLE];
  if (text === undefined || text.trim() === '') {
    throw shardProblem(
      '--shard',
      `auto reads the shard from ${COMPLETION_INDEX_VARIABLE}, which is not set: it is set in the pods of a ` +
        'Kubernetes Indexed Job (completionMode: Indexed); elsewhere give --shard i/n',
    );
  }
  const index = wholeNumber(text);
  if (index === undefined || index >= count) {
    throw shardProblem(
      '--shard',
      `auto: ${COMPLETION_INDEX_VARIABLE} is ${describeValue(text)}; expected a whole number from 0 to ${count - 1} ` +
        `(0-based, below the ${count} shards): the Job's completions and --shards/${SHARDS_VARIABLE} must agree`,
    );
  }
  return { index, count };
}

function shardsFromEnv(text: string | undefined): number {
  if (text === undefined || text.trim() === '') {
    throw shardProblem(
      '--shards',
      `--shard auto needs the number of shards: give --shards N or set ${SHARDS_VARIABLE} (the Job's completions)`,
    );
  }
  const count = wholeNumber(text);
  if (count === undefined || count < 1)
    throw shardProblem('--shards', `${SHARDS_VARIABLE} is ${describeValue(text)}; expected a whole number >= 1`);
  return count;
}

/**
 * The identities of one shard: ordinal % count === index. Shards are disjoint, cover the fleet, and keep arrival
 * times. A downstream device goes with its gateway (their link is in memory), so it follows its gateway's ordinal.
 */
export function shardOf(identities: readonly PlannedIdentity[], shard: Shard): PlannedIdentity[] {
  if (
    !Number.isSafeInteger(shard.count) ||
    shard.count < 1 ||
    !Number.isSafeInteger(shard.index) ||
    shard.index < 0 ||
    shard.index >= shard.count
  ) {
    throw new RangeError(`shard ${shard.index} of ${shard.count}: expected 0 <= index < count`);
  }
  return identities.filter((identity) => (identity.gateway?.ordinal ?? identity.ordinal) % shard.count === shard.index);
}

/**
 * Splits a list (a shard, say) into `parts` by position, round robin. For splitting a shard again (over
 * workers): ordinals of one shard share a remainder, so splitting by ordinal again could leave parts empty.
 * Items with a `gateway` (downstream devices) go to the part their gateway went to and take no turn.
 */
export function splitAmong<T>(items: readonly T[], parts: number): T[][] {
  if (!Number.isSafeInteger(parts) || parts < 1) throw new RangeError(`expected parts >= 1, got ${parts}`);
  const out: T[][] = Array.from({ length: parts }, () => []);
  const partOfDevice = new Map<string, number>();
  let position = 0;
  for (const item of items) {
    const gatewayId = gatewayIdOf(item);
    const part = gatewayId === undefined ? undefined : partOfDevice.get(gatewayId);
    if (part !== undefined) {
      out[part]!.push(item);
      continue;
    }
    const chosen = position++ % parts;
    out[chosen]!.push(item);
    const deviceId = deviceIdOf(item);
    if (deviceId !== undefined) partOfDevice.set(deviceId, chosen);
  }
  return out;
}

const deviceIdOf = (item: unknown): string | undefined =>
  typeof item === 'object' && item !== null && typeof (item as { deviceId?: unknown }).deviceId === 'string'
    ? (item as { deviceId: string }).deviceId
    : undefined;
const gatewayIdOf = (item: unknown): string | undefined => {
  const gateway =
    typeof item === 'object' && item !== null ? (item as { gateway?: { deviceId?: unknown } }).gateway : undefined;
  return typeof gateway?.deviceId === 'string' ? gateway.deviceId : undefined;
};

// --- arrivals -------------------------------------------------------------------------------------------------

/**
 * Arrival time (ms from the start) of the k-th arrival, k = 0..total-1. The rate r(t) in identities per second
 * is piecewise linear (from startRate through each stage's target, then the last target holds); with
 * N(t) = ∫r, the k-th arrival is at the first t where N(t) exceeds k. So a constant 10/s gives 0, 100, 200 ms…;
 * a ramp 0→10/s over 10 s (N = t²/2) gives √(2k) s; nobody arrives while the rate is 0; and arrivals that the
 * rate never reaches (it ends at 0) are Infinity. Times are rounded to the microsecond.
 */
export function arrivalOffsets(profile: { arrivals: Arrivals }, total: number): Float64Array {
  const out = new Float64Array(total);
  const { startRate, stages } = profile.arrivals;
  let k = 0;
  let stageStartMs = 0;
  let arrived = 0; // N at the start of the stage (a real number)
  let rate = startRate;
  for (const stage of stages) {
    const seconds = stage.duration / 1000;
    const from = rate;
    const to = stage.target;
    const end = arrived + (seconds * (from + to)) / 2;
    while (k < total && k < end) {
      out[k] = roundMicros(stageStartMs + 1000 * timeToArea(from, to, seconds, k - arrived));
      k++;
    }
    stageStartMs += stage.duration;
    arrived = end;
    rate = to;
  }
  for (; k < total; k++) {
    out[k] = rate > 0 ? roundMicros(stageStartMs + (1000 * Math.max(0, k - arrived)) / rate) : Number.POSITIVE_INFINITY;
  }
  return out;
}

/** Seconds into a stage (rate from → to over `seconds`) until `area` arrivals have accumulated. */
function timeToArea(from: number, to: number, seconds: number, area: number): number {
  if (area <= 0) return 0;
  const halfSlope = (to - from) / (2 * seconds); // N(τ) = from·τ + halfSlope·τ²
  // 2A / (b + √(b² + 4aA)): the root of aτ² + bτ − A = 0 without cancellation, for a of either sign or 0.
  const root = Math.sqrt(Math.max(0, from * from + 4 * halfSlope * area));
  const tau = (2 * area) / (from + root);
  return Math.min(seconds, Math.max(0, tau));
}

function roundMicros(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** The expansion and its schedule, for the engine. */
export function planFleet(loaded: {
  scenario: FleetSource & { name: string; seed: number };
  profile: { arrivals: Arrivals };
  durationMs: number;
}): FleetPlan {
  const identities = expandFleet(loaded.scenario, loaded.profile);
  const last = identities.length === 0 ? 0 : identities[identities.length - 1]!.arrivalMs;
  return {
    scenario: loaded.scenario.name,
    seed: loaded.scenario.seed,
    durationMs: loaded.durationMs,
    identities,
    lastArrivalMs: last,
  };
}
