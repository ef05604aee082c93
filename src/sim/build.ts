// From the loaded scenario to the things a worker runs: behaviours apart from the scenario (how many, when).
import type {
  LoadedDeviceGroup,
  LoadedDownstreamGroup,
  LoadedEdgeGroup,
  LoadedGroup,
  LoadedScenario,
} from '../config/load.js';
import type { DeviceGroup } from '../config/scenario.js';
import { GatewayServer, type GatewayChild } from './edge/gateway-server.js';
import type { ActionSpec } from './actions.js';
import { Prng } from './model/random.js';
import { formatId, parseIdPattern } from '../config/id-pattern.js';
import { identitySeed, type PlannedIdentity } from '../config/plan.js';
import type { AzureTarget, Target } from '../endpoints/target.js';
import { ServiceClient } from '../endpoints/service-client.js';
import { deriveDeviceKey, parseConnectionString } from '../protocol/index.js';
import { issueLeafCertificate } from '../protocol/x509.js';
import type { SimContext, SimThing, ThingPattern } from './context.js';
import { SimDevice, type DeviceAuth, type DeviceBehaviour } from './device.js';
import { SimEdgeDevice, type EdgeDeviceConfig } from './edge/edge-device.js';
import type { DeviceIdentityPlan, TelemetrySource } from './thing.js';
import { MqttDevice } from './mqtt-device.js';
import { UnbuiltThing } from './unbuilt.js';
import { parseModel, type DeviceModel } from './model/dtdl.js';
import {
  commandResponseFor,
  createGenerator,
  createTelemetrySource,
  defaultGeneratorFor,
  type Generator,
} from './model/generators.js';

/** The share of a fleet one worker runs: what it builds its things from. Plain data (it crosses into a thread). */
export interface FleetShare {
  /** The loaded scenario, with its profile, manifests and models. */
  scenario: LoadedScenario;
  /** This share's identities, as the plan made them. */
  identities: PlannedIdentity[];
  target: Target;
  seed: number;
  /** --gateway-listen: gateways whose edgeHub also opens a TLS port (0: a free one). */
  gatewayListen?: { gatewayId: string; host: string; port: number }[];
  /** The edge CA their server certificates chain to (a secret: its key). */
  edgeCa?: { certPem: string; keyPem: string };
}

export interface BuiltThing {
  thing: SimThing;
  group: string;
  /** Its plan; `arrivalAt` is set when the run's start time is known, before `thing.start()`. */
  plan: DeviceIdentityPlan;
  /** When it arrives, ms from the run's start (Infinity: never). */
  arrivalOffsetMs: number;
  kind: 'device' | 'iotEdge' | 'downstream';
  /** How it reaches the cloud; the dashboard counts identities by state per pattern. */
  pattern: ThingPattern;
  /** Identities its modules hold and start themselves (identity translation), counted by state under their group. */
  held?: { group: string; count: number; deviceIds: string[] }[];
}

function seededRandom(seed: number): () => number {
  const prng = new Prng(seed);
  return () => prng.next();
}

/** Telemetry for a device without a model: its configured values, or a temperature if none. */
function valuesSource(values: Record<string, unknown>, seed: number): TelemetrySource {
  const entries = Object.entries(values);
  const generators: [string, Generator][] =
    entries.length > 0
      ? entries.map(([name, spec], i) => [name, createGenerator(spec as never, seed + i)])
      : [['temperature', createGenerator({ kind: 'sine', min: 18, max: 26, periodSeconds: 600, noise: 0.2 }, seed)]];
  return {
    tick(t) {
      const body: Record<string, unknown> = {};
      for (const [name, g] of generators) {
        const v = g.next(t);
        if (v !== undefined) body[name] = v;
      }
      return Object.keys(body).length === 0 ? [] : [{ body }];
    },
  };
}

/** Models are parsed once per worker, not once per device. */
const models = new Map<string, DeviceModel>();
function parsedModel(path: string, json: unknown): DeviceModel {
  let model = models.get(path);
  if (model === undefined) {
    model = parseModel(json, { file: path });
    models.set(path, model);
  }
  return model;
}
const modelOf = (group: { model?: LoadedDeviceGroup['model'] }) =>
  group.model === undefined ? undefined : parsedModel(group.model.path, group.model.json);

/** What a device behaves by: a device group's, or a downstream group's (the same fields). */
type BehaviourSource = Pick<LoadedDeviceGroup, 'model'> & {
  config: Pick<DeviceGroup, 'telemetry' | 'properties' | 'commands'>;
};

export function deviceBehaviour(group: BehaviourSource, seed: number): DeviceBehaviour {
  const config = group.config;
  const model = modelOf(group);
  const random = seededRandom(seed);
  const telemetry =
    model !== undefined
      ? createTelemetrySource(model, config.telemetry.values, seed)
      : valuesSource(config.telemetry.values, seed);
  const reportedGenerators = reportedGeneratorsOf(config.properties.reported, model, seed);
  const writable = new Set(
    (model?.properties ?? []).filter((p) => p.writable).map((p) => `${p.component ?? ''}|${p.name}`),
  );
  const commands = config.commands;
  return {
    ...(model === undefined ? {} : { modelId: model.id }),
    telemetryIntervalMs: config.telemetry.interval,
    telemetryQos: config.telemetry.qos,
    telemetry,
    reported: () => (reportedGenerators.length === 0 ? undefined : reportedPatch(reportedGenerators)),
    writableAck: {
      code: config.properties.writable.ackCode,
      delayMs: config.properties.writable.ackDelay,
      description: config.properties.writable.ackDescription,
    },
    ...(model === undefined
      ? {}
      : { isWritable: (component: string | undefined, name: string) => writable.has(`${component ?? ''}|${name}`) }),
    command(name) {
      const configured = commands[name] ?? commands.default;
      const def = model?.commands.find(
        (c) => (c.component === undefined ? c.name : `${c.component}*${c.name}`) === name,
      );
      if (configured === undefined && def === undefined)
        return { status: 501, delayMs: 0, response: { error: `command "${name}" is not implemented` } };
      const response =
        configured?.response ?? (def === undefined ? null : commandResponseFor(def, Math.floor(random() * 2 ** 32)));
      return { status: configured?.status ?? 200, delayMs: configured?.delay ?? 0, response };
    },
  };
}

/** The reported properties the scenario sets, and read-only properties of the model it does not set. */
function reportedGeneratorsOf(
  reported: DeviceGroup['properties']['reported'],
  model: DeviceModel | undefined,
  seed: number,
): [string, Generator][] {
  const generators = Object.entries(reported).map(([name, spec], i): [string, Generator] => [
    name,
    createGenerator(spec, seed + 1000 + i),
  ]);
  // Read-only properties of the model that the scenario does not set get a plausible value.
  for (const p of model?.properties ?? []) {
    const name = p.component === undefined ? p.name : `${p.component}.${p.name}`;
    if (!p.writable && !generators.some(([n]) => n === name))
      generators.push([name, defaultGeneratorFor(p, seed + 2000 + generators.length)]);
  }
  return generators;
}

/** One reported-properties patch: "component.name" goes into the component's object (marked `__t: 'c'`). */
function reportedPatch(generators: readonly [string, Generator][]): Record<string, unknown> {
  const now = Date.now() / 1000;
  const patch: Record<string, unknown> = {};
  for (const [name, g] of generators) {
    const value = g.next(now);
    if (value === undefined) continue;
    const dot = name.indexOf('.');
    if (dot < 0) patch[name] = value;
    else {
      const component = name.slice(0, dot);
      const inner = (patch[component] ??= { __t: 'c' }) as Record<string, unknown>;
      inner[name.slice(dot + 1)] = value;
    }
  }
  return patch;
}

/** How the modules of an IoT Edge group behave; dtdl models are parsed once per worker. */
function edgeConfig(
  ctx: SimContext,
  target: AzureTarget,
  group: LoadedEdgeGroup,
  identity: PlannedIdentity,
): EdgeDeviceConfig {
  const seed = identity.seed;
  const modules: EdgeDeviceConfig['modules'] = {};
  for (const m of group.modules) {
    const b = m.behaviour;
    if (b.behaviour === 'identity-translation') {
      modules[m.name] = identityTranslation(ctx, target, group, identity, m, b.sensors);
    } else if (b.behaviour === 'dtdl') {
      modules[m.name] = {
        behaviour: 'dtdl',
        output: b.output,
        intervalMs: b.interval,
        values: b.values,
        ...(m.model === undefined ? {} : { model: parsedModel(m.model.path, m.model.json) }),
      };
    } else if (b.behaviour === 'custom') {
      modules[m.name] = { behaviour: 'custom', file: b.file, options: b.options };
    } else {
      modules[m.name] = b; // simulated-temperature-sensor, filter and passthrough take the same fields
    }
  }
  return { modules, seed };
}

type ResolvedModule = LoadedEdgeGroup['modules'][number];
type Sensors = Extract<ResolvedModule['behaviour'], { behaviour: 'identity-translation' }>['sensors'];

/** Each sensor is a plain device of its own (SimDevice), provisioned as a child of this device and module. */
function identityTranslation(
  ctx: SimContext,
  target: AzureTarget,
  group: LoadedEdgeGroup,
  identity: PlannedIdentity,
  m: ResolvedModule,
  sensors: Sensors,
): EdgeDeviceConfig['modules'][string] {
  const parts = parseIdPattern(sensors.idPattern, { gateway: true });
  const sensorIds = Array.from({ length: sensors.count }, (_, i) =>
    formatId(parts, i + 1, group.name, identity.deviceId),
  );
  const source = { ...(m.model === undefined ? {} : { model: m.model }), config: sensors };
  const label = `${group.name}/${m.name}`;
  const sensor = (sensorId: string, gatewayId: string, moduleId: string, arrivalAt: number) => {
    const sensorSeed = identitySeed(identity.seed, sensorId);
    const plan: DeviceIdentityPlan = {
      deviceId: sensorId,
      group: label,
      ordinal: identity.ordinal,
      arrivalAt,
      random: seededRandom(sensorSeed),
    };
    const auth = sasAuth(target, target.groupKeys.devices, sensorId);
    const behaviour = deviceBehaviour(source, sensorSeed);
    return new SimDevice(ctx, target, plan, auth, behaviour, undefined, { gatewayId, moduleId });
  };
  return {
    behaviour: 'identity-translation',
    sensorIds,
    // A sensor that cannot be made rejects: the module reports it in its properties.
    createSensor: (...args) => new Promise((resolve) => resolve(sensor(...args))),
  };
}

/**
 * A key derived from a group key: registered through DPS, or, against an IoT Hub without DPS, the key edgefleet put in
 * the registry, used straight with the hub.
 */
function sasAuth(target: AzureTarget, groupKey: string, deviceId: string): DeviceAuth {
  const deviceKey = deriveDeviceKey(groupKey, deviceId);
  if (target.direct === undefined) return { kind: 'dps-sas', deviceKey };
  return { kind: 'direct-sas', hubHost: target.direct.hubHost, deviceKey, gatewayHost: target.direct.dial };
}

async function deviceAuth(
  group: LoadedGroup,
  identity: PlannedIdentity,
  target: AzureTarget,
  groupKey: string,
): Promise<DeviceAuth> {
  switch (group.config.auth) {
    case 'sas':
      return sasAuth(target, groupKey, identity.deviceId);
    case 'x509': {
      if (target.x509Ca === undefined)
        throw new Error(`group "${group.name}" uses X.509 but the target has no CA to issue certificates from`);
      const leaf = await issueLeafCertificate(target.x509Ca, identity.deviceId);
      return { kind: 'dps-x509', certPem: leaf.certPem + target.x509Ca.certPem, keyPem: leaf.keyPem };
    }
    case 'connectionString': {
      const text = group.connectionStrings?.[identity.groupIndex];
      if (text === undefined)
        throw new Error(`group "${group.name}" has no connection string for ${identity.deviceId}`);
      const cs = parseConnectionString(text);
      if (cs.sharedAccessKey === undefined)
        throw new Error(`the connection string of ${identity.deviceId} has no SharedAccessKey`);
      return {
        kind: 'direct-sas',
        hubHost: cs.hostName,
        deviceKey: cs.sharedAccessKey,
        ...(cs.gatewayHostName === undefined ? {} : { gatewayHost: cs.gatewayHostName }),
      };
    }
  }
}

/**
 * The DPS registration ids an identity brings to a run: its own, and those of the sensors its modules register
 * (identity translation), for the assignment cache.
 */
export function registrationIdsOf(loaded: LoadedScenario, identity: PlannedIdentity): string[] {
  const group = identity.kind === 'iotEdge' ? loaded.groups.find((g) => g.name === identity.group) : undefined;
  if (group === undefined || group.kind !== 'iotEdge') return [identity.deviceId];
  const ids = [identity.deviceId];
  for (const m of group.modules) {
    const b = m.behaviour;
    if (b.behaviour !== 'identity-translation') continue;
    const parts = parseIdPattern(b.sensors.idPattern, { gateway: true });
    for (let i = 0; i < b.sensors.count; i++) ids.push(formatId(parts, i + 1, group.name, identity.deviceId));
  }
  return ids;
}

/** Everything this worker runs. An identity that cannot be built fails at its arrival; the others run. */
export async function buildFleet(ctx: SimContext, init: FleetShare): Promise<BuiltThing[]> {
  const loaded = init.scenario;
  const target = init.target;
  const parts: FleetParts = {
    groups: new Map(loaded.groups.map((g) => [g.name, g])),
    downstreamGroups: new Map((loaded.downstream ?? []).map((d) => [d.name, d])),
    gateways: new Map<string, GatewayServer>(),
  };
  if (target.kind !== 'mqtt') parts.gateways = planGateways(ctx, init, parts.downstreamGroups, target);
  const built: BuiltThing[] = [];
  for (const identity of init.identities) {
    const plan: DeviceIdentityPlan = {
      deviceId: identity.deviceId,
      group: identity.group,
      ordinal: identity.ordinal,
      arrivalAt: Number.POSITIVE_INFINITY,
      random: seededRandom(identity.seed),
    };
    const base = { group: identity.group, plan, arrivalOffsetMs: identity.arrivalMs, kind: identity.kind };
    try {
      built.push({ ...base, pattern: identity.kind, ...(await buildThing(ctx, target, parts, identity, plan)) });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      ctx.log('error', `${identity.deviceId} cannot be set up and will fail at its arrival: ${reason}`);
      built.push({ ...base, pattern: identity.kind, thing: new UnbuiltThing(ctx, plan, reason) });
    }
  }
  return built;
}

interface FleetParts {
  groups: Map<string, LoadedGroup>;
  downstreamGroups: Map<string, LoadedDownstreamGroup>;
  gateways: Map<string, GatewayServer>;
}

/** One identity's thing (and the identities its modules hold); throws when it cannot be built. */
async function buildThing(
  ctx: SimContext,
  target: Target,
  parts: FleetParts,
  identity: PlannedIdentity,
  plan: DeviceIdentityPlan,
): Promise<Pick<BuiltThing, 'thing' | 'held'>> {
  if (identity.kind === 'downstream') return { thing: await buildDownstream(ctx, target, parts, identity, plan) };
  const group = parts.groups.get(identity.group);
  if (group === undefined)
    throw new Error(`identity ${identity.deviceId} names group "${identity.group}", which the scenario lacks`);
  if (target.kind === 'mqtt') {
    if (group.kind !== 'device') {
      throw new Error(
        `group "${group.name}": IoT Edge devices need an Azure target (emulator or iot-central), not mqtt`,
      );
    }
    const b = deviceBehaviour(group, identity.seed);
    const behaviour = {
      telemetryIntervalMs: b.telemetryIntervalMs,
      telemetryQos: b.telemetryQos,
      telemetry: b.telemetry,
    };
    return { thing: new MqttDevice(ctx, target, plan, behaviour) };
  }
  if (group.kind === 'device') {
    const auth = await deviceAuth(group, identity, target, target.groupKeys.devices);
    return { thing: new SimDevice(ctx, target, plan, auth, deviceBehaviour(group, identity.seed)) };
  }
  const gateway = parts.gateways.get(identity.deviceId);
  const config = edgeConfig(ctx, target, group, identity);
  const auth = await deviceAuth(group, identity, target, target.groupKeys.edgeDevices);
  const thing = new SimEdgeDevice(ctx, target, plan, auth, gateway === undefined ? config : { ...config, gateway });
  const held = Object.entries(config.modules).flatMap(([name, m]) =>
    m.behaviour === 'identity-translation'
      ? [{ group: `${group.name}/${name}`, count: m.sensorIds.length, deviceIds: m.sensorIds }]
      : [],
  );
  return held.length > 0 ? { thing, held } : { thing };
}

/** A leaf device behind a transparent gateway of this worker. */
async function buildDownstream(
  ctx: SimContext,
  target: Target,
  parts: FleetParts,
  identity: PlannedIdentity,
  plan: DeviceIdentityPlan,
): Promise<SimDevice> {
  const group = parts.downstreamGroups.get(identity.group);
  if (group === undefined) {
    throw new Error(
      `identity ${identity.deviceId} names downstream group "${identity.group}", which the scenario lacks`,
    );
  }
  const gateway = identity.gateway === undefined ? undefined : parts.gateways.get(identity.gateway.deviceId);
  if (target.kind === 'mqtt' || gateway === undefined) {
    throw new Error(
      `downstream device ${identity.deviceId}: its gateway ${identity.gateway?.deviceId ?? '?'} must ` +
        'run in the same worker, against an Azure target (emulator or iot-central)',
    );
  }
  const auth = await downstreamAuth(group, identity, target);
  return new SimDevice(ctx, target, plan, auth, deviceBehaviour(group, identity.seed), { gateway });
}

/**
 * The transparent gateways of this worker, each with its children as the plan makes them: edgeHub's device-scope
 * cache (a child's key is derived from the devices group key, as the plan and DPS derive it).
 */
function planGateways(
  ctx: SimContext,
  init: FleetShare,
  downstreamGroups: Map<string, LoadedDownstreamGroup>,
  target: AzureTarget,
): Map<string, GatewayServer> {
  const children = new Map<string, GatewayChild[]>();
  for (const identity of init.identities) {
    if (identity.kind !== 'downstream' || identity.gateway === undefined) continue;
    const auth = downstreamGroups.get(identity.group)?.config.auth ?? 'sas';
    const child: GatewayChild =
      auth === 'sas'
        ? { deviceId: identity.deviceId, auth, key: deriveDeviceKey(target.groupKeys.devices, identity.deviceId) }
        : {
            deviceId: identity.deviceId,
            auth,
            ...(target.x509Ca === undefined ? {} : { caPem: target.x509Ca.certPem }),
          };
    const list = children.get(identity.gateway.deviceId) ?? [];
    list.push(child);
    children.set(identity.gateway.deviceId, list);
  }
  const listen = new Map((init.gatewayListen ?? []).map((l) => [l.gatewayId, l]));
  const service = target.service === undefined ? undefined : new ServiceClient(target.service);
  const gateways = new Map<string, GatewayServer>();
  for (const identity of init.identities) {
    if (identity.kind !== 'iotEdge') continue;
    const mine = children.get(identity.deviceId);
    const request = listen.get(identity.deviceId);
    if (mine === undefined && request === undefined) continue;
    const listenRequest =
      request === undefined || init.edgeCa === undefined
        ? undefined
        : {
            host: request.host,
            port: request.port,
            certPem: init.edgeCa.certPem,
            keyPem: init.edgeCa.keyPem,
            keyOf: (deviceId: string) => deriveDeviceKey(target.groupKeys.devices, deviceId),
            ...(service === undefined ? {} : { childrenOf: () => service.childrenOf(identity.deviceId) }),
          };
    gateways.set(
      identity.deviceId,
      new GatewayServer(ctx, identity.deviceId, mine ?? [], seededRandom(identity.seed ^ 0x9e3779b9), listenRequest),
    );
  }
  return gateways;
}

async function downstreamAuth(
  group: LoadedDownstreamGroup,
  identity: PlannedIdentity,
  target: AzureTarget,
): Promise<DeviceAuth> {
  if (group.config.auth === 'sas') return sasAuth(target, target.groupKeys.devices, identity.deviceId);
  if (target.x509Ca === undefined)
    throw new Error(`group "${group.name}" uses X.509 but the target has no CA to issue certificates from`);
  const leaf = await issueLeafCertificate(target.x509Ca, identity.deviceId);
  return { kind: 'dps-x509', certPem: leaf.certPem + target.x509Ca.certPem, keyPem: leaf.keyPem };
}

/** The profile's actions as this worker performs them. */
export function buildActions(init: FleetShare): ActionSpec[] {
  const loaded = init.scenario;
  return loaded.actions
    .filter((a) => a.groups.length > 0)
    .map((a, i): ActionSpec => {
      const base = {
        ratePerSecond: a.ratePerSecond,
        groups: a.groups,
        ...(a.module === undefined ? {} : { module: a.module }),
      };
      if (a.kind === 'command') {
        const star = a.command.indexOf('*');
        return {
          kind: 'command',
          ...base,
          ...(star < 0
            ? { command: a.command }
            : { component: a.command.slice(0, star), command: a.command.slice(star + 1) }),
          ...(a.request === undefined ? {} : { request: a.request }),
        };
      }
      const dot = a.property.indexOf('.');
      const generator = createGenerator(a.value, init.seed * 31 + i);
      return {
        kind: 'writeProperty',
        ...base,
        ...(dot < 0
          ? { property: a.property }
          : { component: a.property.slice(0, dot), property: a.property.slice(dot + 1) }),
        value: () => generator.next(Date.now() / 1000),
      };
    });
}
