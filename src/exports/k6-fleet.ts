// What the k6 script knows of a fleet: the plain-device groups it can run (SAS through the `devices` enrollment
// group), each with its behaviour as data, and the groups it leaves out with the reason.
import type { LoadedDeviceGroup, LoadedScenario } from '../config/loaded.js';
import { DEFAULT_ID_PATTERN } from '../config/scenario.js';
import { overrideKeyOf, telemetryKey } from '../config/model-values.js';
import { parseModel, type CommandDef, type DeviceModel } from '../model/dtdl.js';
import { seedFor } from '../sim/model/generators.js';
import { defaultPlan, overridePlan, responsePlan, specPlan, type ValuePlan } from './k6-values.js';

export interface K6Command {
  status: number;
  delayMs: number;
  response: ValuePlan | null;
}

export interface K6Group {
  name: string;
  count: number;
  idPattern: string;
  firstIndex: number;
  modelId: string | null;
  intervalMs: number;
  qos: 0 | 1;
  /** One message per component that has telemetry (root first: component null). */
  telemetry: { component: string | null; fields: [string, ValuePlan][] }[];
  /** Reported after connecting: "name" or "component.name". */
  reported: [string, ValuePlan][];
  /** Writable properties as "component|name" (root: "|name"); null when the group has no model (all are). */
  writable: string[] | null;
  ack: { code: number; delayMs: number; description: string };
  /** By command name ("component*name" for a component's); "default" answers the others. */
  commands: Record<string, K6Command>;
}

export interface K6Fleet {
  groups: K6Group[];
  /** Groups the script leaves out, each with why. */
  leftOut: { group: string; reason: string }[];
}

const EDGE_REASON =
  'an IoT Edge group: edgeAgent, edgeHub, its modules and routes run in edgefleet’s engine, not in k6';

export function k6Fleet(loaded: LoadedScenario): K6Fleet {
  const fleet: K6Fleet = { groups: [], leftOut: [] };
  for (const group of loaded.groups) {
    if (group.kind === 'iotEdge') {
      const leaves = loaded.downstream.filter((d) => d.gatewayGroup === group.name).map((d) => d.name);
      const behind =
        leaves.length === 0 ? '' : ` (with its downstream group${leaves.length > 1 ? 's' : ''} ${leaves.join(', ')})`;
      fleet.leftOut.push({ group: `${group.name}${behind}`, reason: EDGE_REASON });
    } else if (group.config.auth !== 'sas') {
      const reason =
        group.config.auth === 'x509'
          ? 'auth x509: xk6-mqtt takes TLS client certificates from k6’s tlsAuth, one per host, not one per device'
          : 'auth connectionString: per-device secrets, which the script never holds';
      fleet.leftOut.push({ group: group.name, reason });
    } else {
      fleet.groups.push(k6Group(group, loaded));
    }
  }
  return fleet;
}

function k6Group(group: LoadedDeviceGroup, loaded: LoadedScenario): K6Group {
  const config = group.config;
  const model = group.model === undefined ? undefined : parseModel(group.model.json, { file: group.model.path });
  const seed = seedFor(loaded.seed, group.name);
  const multiplier = loaded.profile.telemetry.rateMultiplier;
  return {
    name: group.name,
    count: config.count,
    idPattern: config.idPattern ?? DEFAULT_ID_PATTERN,
    firstIndex: config.firstIndex,
    modelId: model?.id ?? null,
    intervalMs: config.telemetry.interval / multiplier,
    qos: config.telemetry.qos,
    telemetry: telemetryPlans(model, config.telemetry.values, seed),
    reported: reportedPlans(model, config.properties.reported, seed),
    writable:
      model === undefined
        ? null
        : model.properties.filter((p) => p.writable).map((p) => `${p.component ?? ''}|${p.name}`),
    ack: {
      code: config.properties.writable.ackCode,
      delayMs: config.properties.writable.ackDelay,
      description: config.properties.writable.ackDescription,
    },
    commands: commandPlans(model, config.commands, seed),
  };
}

type Specs = LoadedDeviceGroup['config']['telemetry']['values'];

function telemetryPlans(model: DeviceModel | undefined, values: Specs, seed: number): K6Group['telemetry'] {
  if (model === undefined) {
    const fields = Object.entries(values).map(([name, spec]): [string, ValuePlan] => [
      name,
      specPlan(spec, seedFor(seed, name)),
    ]);
    return fields.length === 0 ? [] : [{ component: null, fields }];
  }
  const byComponent = new Map<string | null, [string, ValuePlan][]>([[null, []]]);
  for (const c of model.components) byComponent.set(c.name, []);
  for (const def of model.telemetry) {
    const key = overrideKeyOf(def, values);
    const s = seedFor(seed, telemetryKey(def));
    const plan = key === undefined ? defaultPlan(def, s) : overridePlan(values[key]!, def, s);
    byComponent.get(def.component ?? null)!.push([def.name, plan]);
  }
  return [...byComponent.entries()]
    .filter(([, fields]) => fields.length > 0)
    .map(([component, fields]) => ({ component, fields }));
}

function reportedPlans(model: DeviceModel | undefined, reported: Specs, seed: number): [string, ValuePlan][] {
  const plans = Object.entries(reported).map(([name, spec]): [string, ValuePlan] => [
    name,
    specPlan(spec, seedFor(seed, 'reported', name)),
  ]);
  // Read-only properties of the model that the scenario does not set get a plausible value, as in the engine.
  for (const p of model?.properties ?? []) {
    const name = p.component === undefined ? p.name : `${p.component}.${p.name}`;
    if (!p.writable && !plans.some(([n]) => n === name)) {
      plans.push([name, defaultPlan(p, seedFor(seed, 'reported', name))]);
    }
  }
  return plans;
}

type Commands = LoadedDeviceGroup['config']['commands'];

function commandPlans(model: DeviceModel | undefined, commands: Commands, seed: number): Record<string, K6Command> {
  const out: Record<string, K6Command> = {};
  const constant = (v: unknown): ValuePlan | null => (v === undefined ? null : { k: 'const', v });
  for (const [name, c] of Object.entries(commands)) {
    out[name] = { status: c.status, delayMs: c.delay, response: constant(c.response) };
  }
  for (const def of model?.commands ?? []) {
    const name = commandName(def);
    const configured = commands[name] ?? commands.default;
    out[name] = {
      status: configured?.status ?? 200,
      delayMs: configured?.delay ?? 0,
      response: constant(configured?.response) ?? responsePlan(def, seedFor(seed, 'command', name)) ?? null,
    };
  }
  return out;
}

const commandName = (def: CommandDef): string =>
  def.component === undefined ? def.name : `${def.component}*${def.name}`;
