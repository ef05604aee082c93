// A run's identities in an IoT Hub's registry: created in bulk before the run (IoT Edge devices first, so that their
// downstream devices get their scope), tagged as edgefleet's, given their deployment manifests; and deleted in bulk by
// `edgefleet cleanup`, found by their tag and nothing else.
import type { LoadedEdgeGroup, LoadedScenario } from '../config/load.js';
import { formatId, parseIdPattern } from '../config/id-pattern.js';
import type { PlannedIdentity } from '../config/plan.js';
import { deriveDeviceKey } from '../protocol/sas.js';
import { HubServiceError, type HubServiceClient, type HubTwin, type ImportRecord } from './hub-service-client.js';

/** Every identity edgefleet creates carries `tags.edgefleet = { run, scenario }`. */
export const TAG = 'edgefleet';
const BULK_SIZE = 100;
/** Parallel calls for the per-device calls (deployments, tags). */
const LANES = 8;

/** One identity to have in the registry. */
export interface HubIdentity {
  deviceId: string;
  /** Its scenario group (an identity-translation sensor: its gateway's). */
  group: string;
  kind: 'device' | 'iotEdge' | 'child';
  /** A child's gateway (downstream devices, and identity-translation sensors of a module). */
  gatewayId?: string;
  /** The group key its key derives from. */
  groupKey: string;
}

/** The identities of these planned ones that edgefleet creates (not those given by connection strings). */
export function hubIdentities(
  loaded: LoadedScenario,
  planned: readonly PlannedIdentity[],
  groupKeys: { devices: string; edgeDevices: string },
): HubIdentity[] {
  const out: HubIdentity[] = [];
  for (const identity of planned) {
    const { deviceId, group: name } = identity;
    const group = loaded.groups.find((g) => g.name === name);
    if (group?.config.auth === 'connectionString') continue;
    if (identity.kind === 'device') out.push({ deviceId, group: name, kind: 'device', groupKey: groupKeys.devices });
    else if (identity.kind === 'downstream') {
      const gatewayId = identity.gateway?.deviceId;
      out.push({ deviceId, group: name, kind: 'child', groupKey: groupKeys.devices, ...gatewayOf(gatewayId) });
    } else {
      out.push({ deviceId, group: name, kind: 'iotEdge', groupKey: groupKeys.edgeDevices });
      if (group?.kind === 'iotEdge') out.push(...sensorsOf(group, deviceId, groupKeys.devices));
    }
  }
  return out;
}

const gatewayOf = (gatewayId: string | undefined) => (gatewayId === undefined ? {} : { gatewayId });

/** The devices an IoT Edge device's identity-translation modules connect on behalf of: its children. */
function sensorsOf(group: LoadedEdgeGroup, gatewayId: string, groupKey: string): HubIdentity[] {
  const out: HubIdentity[] = [];
  for (const m of group.modules) {
    if (m.behaviour.behaviour !== 'identity-translation') continue;
    const sensors = m.behaviour.sensors;
    const parts = parseIdPattern(sensors.idPattern, { gateway: true });
    for (let i = 0; i < sensors.count; i++) {
      const deviceId = formatId(parts, i + 1, group.name, gatewayId);
      out.push({ deviceId, group: group.name, kind: 'child', gatewayId, groupKey });
    }
  }
  return out;
}

export interface ProvisionOutcome {
  /** Identities now in the registry as this run needs them (created or updated). */
  ready: number;
  created: number;
  updated: number;
  /** Identities that could not be created (e.g. a device of the same id that edgefleet did not create). */
  failed: { deviceId: string; reason: string }[];
  /** IoT Edge devices given their group's deployment manifest. */
  deployed: number;
}

export interface ProvisionOptions {
  scenario: string;
  /** Tag value of this run. */
  runTag: string;
}

/** Creates (or updates) the run's identities in bulk, tags them, and deploys each IoT Edge group's manifest. */
export async function provisionHubIdentities(
  client: HubServiceClient,
  identities: readonly HubIdentity[],
  /** By IoT Edge group. */
  manifests: ReadonlyMap<string, { modulesContent: unknown }>,
  options: ProvisionOptions,
): Promise<ProvisionOutcome> {
  const tags = { [TAG]: { run: options.runTag, scenario: options.scenario } };
  const ours = await taggedIds(client, options.scenario);
  const outcome: ProvisionOutcome = { ready: 0, created: 0, updated: 0, failed: [], deployed: 0 };
  const recordOf = (identity: HubIdentity, scopes: ReadonlyMap<string, string>): ImportRecord | undefined => {
    const scope = identity.gatewayId === undefined ? undefined : scopes.get(identity.gatewayId);
    if (identity.kind === 'child' && scope === undefined) {
      outcome.failed.push({ deviceId: identity.deviceId, reason: `its gateway ${identity.gatewayId} has no scope` });
      return undefined;
    }
    return importRecord(identity, ours.has(identity.deviceId) ? 'Update' : 'create', tags, scope);
  };
  // Gateways first: their children's records name the scope the hub gives them.
  const gateways = identities.filter((i) => i.kind === 'iotEdge');
  await writeRecords(
    client,
    gateways.flatMap((i) => recordOf(i, new Map()) ?? []),
    outcome,
  );
  await tagUntagged(client, madeOf(gateways, outcome), options);
  const parents = new Set(identities.flatMap((i) => (i.gatewayId === undefined ? [] : [i.gatewayId])));
  const scopes = await gatewayScopes(
    client,
    options.scenario,
    gateways.filter((g) => parents.has(g.deviceId)),
  );
  const rest = identities.filter((i) => i.kind !== 'iotEdge');
  await writeRecords(
    client,
    rest.flatMap((i) => recordOf(i, scopes) ?? []),
    outcome,
  );
  await tagUntagged(client, madeOf(rest, outcome), options);
  const made = madeOf(identities, outcome);
  outcome.ready = made.length;
  outcome.deployed = await deployManifests(client, made, manifests, outcome);
  return outcome;
}

function madeOf(identities: readonly HubIdentity[], outcome: ProvisionOutcome): HubIdentity[] {
  const failed = new Set(outcome.failed.map((f) => f.deviceId));
  return identities.filter((i) => !failed.has(i.deviceId));
}

function importRecord(
  identity: HubIdentity,
  importMode: ImportRecord['importMode'],
  tags: Record<string, unknown>,
  scope: string | undefined,
): ImportRecord {
  return {
    id: identity.deviceId,
    importMode,
    status: 'enabled',
    authentication: {
      type: 'sas',
      symmetricKey: {
        primaryKey: deriveDeviceKey(identity.groupKey, identity.deviceId),
        secondaryKey: deriveDeviceKey(identity.groupKey, `${identity.deviceId}/secondary`),
      },
    },
    capabilities: { iotEdge: identity.kind === 'iotEdge' },
    ...(scope === undefined ? {} : { deviceScope: scope, parentScopes: [scope] }),
    tags,
  };
}

/** The records in bulk calls of 100; what fails is in `outcome.failed`, with the hub's reason. */
async function writeRecords(
  client: HubServiceClient,
  records: readonly ImportRecord[],
  outcome: ProvisionOutcome,
): Promise<void> {
  for (let from = 0; from < records.length; from += BULK_SIZE) {
    const batch = records.slice(from, from + BULK_SIZE);
    const result = await client.bulk(batch);
    const errors = new Map(result.errors.map((e) => [e.deviceId, e]));
    for (const record of batch) {
      const error = errors.get(record.id);
      if (error !== undefined) {
        const reason =
          error.errorCode === 'DeviceAlreadyExists' || /409001/.test(String(error.errorCode))
            ? 'a device of this id is in the registry and was not created by a run of this scenario: left as it is'
            : `${error.errorCode}${error.errorStatus ? ` (${error.errorStatus.slice(0, 200)})` : ''}`;
        outcome.failed.push({ deviceId: record.id, reason });
      } else if (record.importMode === 'create') outcome.created++;
      else outcome.updated++;
    }
  }
}

/** Ids of the devices runs of this scenario created. */
async function taggedIds(client: HubServiceClient, scenario: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const twin of client.query(taggedQuery(scenario))) ids.add(twin.deviceId);
  return ids;
}

export const taggedQuery = (scenario: string): string =>
  `SELECT * FROM devices WHERE tags.${TAG}.scenario = '${scenario.replace(/'/g, "''")}'`;

/** The scope of each gateway (`ms-azure-iot-edge://…`) the hub gave it, for its children's records. */
async function gatewayScopes(
  client: HubServiceClient,
  scenario: string,
  gateways: readonly HubIdentity[],
): Promise<Map<string, string>> {
  const scopes = new Map<string, string>();
  if (gateways.length === 0) return scopes;
  const wanted = new Set(gateways.map((g) => g.deviceId));
  for await (const twin of client.query(`${taggedQuery(scenario)} AND capabilities.iotEdge = true`)) {
    if (wanted.has(twin.deviceId) && typeof twin.deviceScope === 'string') scopes.set(twin.deviceId, twin.deviceScope);
  }
  // A hub whose query answers without scopes: each gateway read on its own.
  for (const id of wanted) {
    if (scopes.has(id)) continue;
    const device = await client.getDevice(id).catch(() => undefined);
    if (typeof device?.deviceScope === 'string') scopes.set(id, device.deviceScope);
  }
  return scopes;
}

/** A hub that takes no tags in bulk records gets them through each twin. */
async function tagUntagged(
  client: HubServiceClient,
  identities: readonly HubIdentity[],
  options: ProvisionOptions,
): Promise<void> {
  const tagged = new Set<string>();
  const query = `SELECT * FROM devices WHERE tags.${TAG}.run = '${options.runTag}'`;
  for await (const twin of client.query(query)) tagged.add(twin.deviceId);
  const untagged = identities.filter((i) => !tagged.has(i.deviceId));
  if (untagged.length === 0) return;
  const tags = { [TAG]: { run: options.runTag, scenario: options.scenario } };
  await inLanes(untagged, async (i) => {
    await client.updateTwin(i.deviceId, { tags });
  });
}

/** Each IoT Edge device gets its group's manifest (applyConfigurationContent); returns how many did. */
async function deployManifests(
  client: HubServiceClient,
  identities: readonly HubIdentity[],
  manifests: ReadonlyMap<string, { modulesContent: unknown }>,
  outcome: ProvisionOutcome,
): Promise<number> {
  let deployed = 0;
  const edge = identities.flatMap((i) => {
    const manifest = manifests.get(i.group);
    return i.kind === 'iotEdge' && manifest !== undefined ? [{ deviceId: i.deviceId, manifest }] : [];
  });
  await inLanes(edge, async ({ deviceId, manifest }) => {
    try {
      await client.applyConfigurationContent(deviceId, { modulesContent: manifest.modulesContent });
      deployed++;
    } catch (err) {
      outcome.failed.push({ deviceId, reason: `its deployment manifest was refused: ${(err as Error).message}` });
    }
  });
  return deployed;
}

async function inLanes<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(LANES, items.length) }, lane));
}

export interface CleanupOutcome {
  found: number;
  deleted: number;
  failed: { deviceId: string; reason: string }[];
}

/**
 * Deletes every device that runs of `scenario` created (found by their tag), in bulk: children first, then their
 * gateways. Devices without the tag are never touched.
 */
export async function cleanupHubIdentities(client: HubServiceClient, scenario: string): Promise<CleanupOutcome> {
  const twins: HubTwin[] = [];
  for await (const twin of client.query(taggedQuery(scenario))) twins.push(twin);
  const ordered = [
    ...twins.filter((t) => t.capabilities?.iotEdge !== true),
    ...twins.filter((t) => t.capabilities?.iotEdge === true),
  ];
  const outcome: CleanupOutcome = { found: twins.length, deleted: 0, failed: [] };
  for (let from = 0; from < ordered.length; from += BULK_SIZE) {
    // With the ETag it was found with: a device changed since (by someone else) is not deleted.
    const batch = ordered
      .slice(from, from + BULK_SIZE)
      .map((t): ImportRecord =>
        t.deviceEtag === undefined
          ? { id: t.deviceId, importMode: 'Delete' }
          : { id: t.deviceId, importMode: 'DeleteIfMatchETag', eTag: t.deviceEtag },
      );
    const result = await client.bulk(batch);
    const errors = new Map(result.errors.map((e) => [e.deviceId, e]));
    for (const record of batch) {
      const error = errors.get(record.id);
      if (error === undefined) outcome.deleted++;
      else if (error.errorCode === 'DeviceNotFound')
        outcome.deleted++; // gone already: what was asked
      else outcome.failed.push({ deviceId: record.id, reason: String(error.errorCode) });
    }
  }
  return outcome;
}

/**
 * One cheap authenticated call that proves the policy may write the registry: deleting a device that does not exist
 * answers 404 to a policy with the right, 401 to one without. Resolves with the problem, if any.
 */
export async function registryWriteProblem(client: HubServiceClient, probeId: string): Promise<string | undefined> {
  try {
    await client.deleteDevice(probeId);
    return undefined;
  } catch (err) {
    if (err instanceof HubServiceError && err.status === 404) return undefined;
    if (err instanceof HubServiceError && (err.status === 401 || err.status === 403)) {
      return `the hub refused this policy a registry write (${err.message}): use a policy with registry write and service connect rights, such as iothubowner`;
    }
    return `the hub could not be reached to check this policy's rights: ${(err as Error).message}`;
  }
}

/** Same for service connect (direct methods): invoking a method on a device that does not exist answers 404. */
export async function serviceConnectProblem(client: HubServiceClient, probeId: string): Promise<string | undefined> {
  try {
    await client.invokeCommand(probeId, 'edgefleet-rights-check', null, { responseTimeoutSeconds: 5 });
    return undefined;
  } catch (err) {
    if (err instanceof HubServiceError && err.status === 404) return undefined;
    if (err instanceof HubServiceError && (err.status === 401 || err.status === 403)) {
      return `the hub refused this policy service connect (${err.message}), which the profile's commands and property writes need: use a policy with service connect rights, such as iothubowner`;
    }
    return `the hub could not be reached to check this policy's rights: ${(err as Error).message}`;
  }
}
