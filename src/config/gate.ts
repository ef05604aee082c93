// The scenario gate: everything a run would refuse about a scenario's models, manifests, routes, module behaviours and
// value generators, found before anything connects — by `edgefleet validate`, `edgefleet run` and runScenario alike.
// Each check is the one the workers make (the same functions: the DTDL parser, edgeAgent's and edgeHub's reading of
// their desired properties, the route compiler, the generators' checks), so what passes here does not stop a worker.
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { DeploymentError, parseDeployment } from '../deployment/edge-agent-desired.js';
import { edgeHubConfig } from '../deployment/edge-hub-desired.js';
import { ModelError, parseModel, type DeviceModel } from '../model/dtdl.js';
import { issueLeafCertificate } from '../protocol/x509.js';
import { compileRoute, RouteError } from '../routes/routes.js';
import { ConfigError, displayPath, formatPath, type ConfigProblem } from './errors.js';
import { fakerMethodProblem, generatorProblem } from './generators.js';
import type { LoadedEdgeGroup, LoadedModel, LoadedScenario, ResolvedModule } from './loaded.js';
import { overrideKeyOf, overrideProblem, unknownOverridesProblem } from './model-values.js';
import type { Profile } from './profile.js';
import type { SourceFile } from './source.js';

type Segments = PropertyKey[];

/** Line and column of a path in a file the scenario read (the scenario, a manifest), when known. */
export type DocumentLocator = (file: string, segments: Segments) => { line: number; column: number } | undefined;

/** Generator specs by name, and where they are written. */
interface SpecSet {
  segments: Segments;
  specs: Readonly<Record<string, unknown>>;
}

/** A model, where the scenario names it, and the telemetry generators given for it. */
interface ModelUse {
  model: LoadedModel;
  segments: Segments;
  telemetry?: SpecSet;
}

type FakerCheck = (method: string) => string | undefined;

/** What a device (or a downstream device, or a translated sensor) is given to send. */
interface DeviceValues {
  telemetry: { values: Readonly<Record<string, unknown>> };
  properties: { reported: Readonly<Record<string, unknown>> };
}

class Gate {
  readonly problems: ConfigProblem[] = [];
  private readonly seen = new Set<string>();
  private readonly scenarioFile: string;

  constructor(
    private readonly loaded: LoadedScenario,
    private readonly locate: DocumentLocator | undefined,
  ) {
    this.scenarioFile = loaded.file;
  }

  add(file: string, segments: Segments | string, message: string): void {
    const path = typeof segments === 'string' ? segments : formatPath(segments);
    const problem: ConfigProblem = { file: displayPath(file), path, message };
    const key = `${problem.file}\n${path}\n${message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const at = typeof segments === 'string' ? undefined : this.locate?.(file, segments);
    this.problems.push(at === undefined ? problem : { ...problem, ...at });
  }

  atScenario(segments: Segments, message: string): void {
    this.add(this.scenarioFile, segments, message);
  }

  /** Every model parsed as a worker parses it; the device models of those that parse. */
  models(uses: readonly ModelUse[]): Map<LoadedModel, DeviceModel> {
    const parsed = new Map<LoadedModel, DeviceModel>();
    for (const use of uses) {
      if (parsed.has(use.model)) continue;
      const { model } = use;
      try {
        const file = displayPath(model.path);
        const options =
          model.dtmi === undefined ? { file } : { file, rootId: model.dtmi, sources: model.sources ?? [] };
        parsed.set(model, parseModel(model.json, options));
      } catch (err) {
        if (!(err instanceof ModelError)) throw err;
        const where = `${formatPath(use.segments)} in ${displayPath(this.scenarioFile)}`;
        this.add(err.file ?? model.path, err.path, `${err.detail} (named by ${where})`);
      }
    }
    return parsed;
  }

  /** Telemetry generators against the model they are for, as the telemetry source checks them. */
  overrides(uses: readonly ModelUse[], models: Map<LoadedModel, DeviceModel>, faker: FakerCheck): Set<SpecSet> {
    const checked = new Set<SpecSet>();
    for (const use of uses) {
      const device = models.get(use.model);
      if (device === undefined || use.telemetry === undefined) continue;
      const { segments, specs } = use.telemetry;
      checked.add(use.telemetry);
      const unknown = unknownOverridesProblem(device, specs);
      if (unknown !== undefined) this.atScenario(segments, unknown);
      for (const def of device.telemetry) {
        const key = overrideKeyOf(def, specs);
        if (key === undefined) continue;
        const problem = overrideProblem(key, specs[key], def, faker);
        if (problem !== undefined) this.atScenario([...segments, key], problem);
      }
    }
    return checked;
  }

  /** Every other generator spec, as createGenerator checks it. */
  specs(sets: readonly SpecSet[], skip: Set<SpecSet>, faker: FakerCheck): void {
    for (const set of sets) {
      if (skip.has(set)) continue;
      for (const [name, spec] of Object.entries(set.specs)) {
        const problem = generatorProblem(spec, faker);
        if (problem !== undefined) this.atScenario([...set.segments, name, ...problem.at], problem.message);
      }
    }
  }

  /** A manifest as edgeAgent and edgeHub read its desired properties (each manifest file once). */
  manifest(group: LoadedEdgeGroup): void {
    const { path: file, json, jsonPath } = group.manifest;
    const base: Segments = jsonPath === undefined ? ['modulesContent'] : [jsonPath, 'modulesContent'];
    const agent = [...base, '$edgeAgent', 'properties.desired'];
    const hub = [...base, '$edgeHub', 'properties.desired'];
    try {
      parseDeployment(json.modulesContent.$edgeAgent['properties.desired']);
    } catch (err) {
      if (!(err instanceof DeploymentError)) throw err;
      this.add(file, agent, `edgeAgent would refuse this deployment (${err.code}): ${err.message}`);
    }
    try {
      edgeHubConfig(json.modulesContent.$edgeHub['properties.desired']);
    } catch (err) {
      if (err instanceof RouteError) {
        this.add(file, [...hub, 'routes', err.routeName], err.message.replace(/^route "[^"]*": /, ''));
      } else {
        this.add(file, hub, `edgeHub would refuse these desired properties: ${(err as Error).message}`);
      }
    }
  }

  /** Module behaviours: a filter's condition compiles as the filter compiles it; a custom behaviour loads. */
  async module(index: number, module: ResolvedModule): Promise<void> {
    const b = module.behaviour;
    const at: Segments = ['fleet', index, 'modules', module.name];
    if (b.behaviour === 'filter') {
      const prefix = 'FROM /* WHERE ';
      try {
        compileRoute('filter', `${prefix}${b.condition} INTO $upstream`);
      } catch (err) {
        if (!(err instanceof RouteError)) throw err;
        const column = err.column === undefined ? '' : ` at column ${Math.max(1, err.column - prefix.length)}`;
        this.atScenario([...at, 'condition'], `${err.detail}${column}`);
      }
    } else if (b.behaviour === 'custom') {
      try {
        const loaded = (await import(pathToFileURL(b.file).href)) as { default?: unknown };
        if (typeof loaded.default !== 'function') {
          this.atScenario([...at, 'behaviour', 'file'], 'the default export must be a function (options) => behaviour');
        }
      } catch (err) {
        this.atScenario([...at, 'behaviour', 'file'], `cannot load ${displayPath(b.file)}: ${(err as Error).message}`);
      }
    }
  }
}

/**
 * The CA an iot-central target issues X.509 devices' certificates from: each worker issues one per identity with it,
 * so one is issued here first.
 */
async function caProblem(loaded: LoadedScenario): Promise<{ segments: Segments; message: string } | undefined> {
  if (loaded.target.kind !== 'iot-central' || loaded.target.settings.x509 === undefined) return undefined;
  const { caCert, caKey } = loaded.target.settings.x509;
  try {
    const issuer = { certPem: await readFile(caCert, 'utf8'), keyPem: await readFile(caKey, 'utf8') };
    await issueLeafCertificate(issuer, 'edgefleet-check');
    return undefined;
  } catch (err) {
    const ca = `the CA ${displayPath(caCert)} and its key ${displayPath(caKey)}`;
    const message = `cannot issue a device certificate with ${ca}: ${(err as Error).message}`;
    return { segments: ['targets', 'iot-central', 'x509'], message };
  }
}

/** The models the scenario names and the generator specs it gives, with where each is written. */
function inventory(loaded: LoadedScenario): { uses: ModelUse[]; sets: SpecSet[] } {
  const uses: ModelUse[] = [];
  const sets: SpecSet[] = [];
  const device = (at: Segments, config: DeviceValues, model?: LoadedModel) => {
    const telemetry = { segments: [...at, 'telemetry', 'values'], specs: config.telemetry.values };
    sets.push(telemetry, { segments: [...at, 'properties', 'reported'], specs: config.properties.reported });
    if (model !== undefined) uses.push({ model, segments: [...at, 'model'], telemetry });
  };
  loaded.scenario.fleet.forEach((group, i) => {
    const resolved = loaded.groups[i]!;
    if (group.kind === 'device') return device(['fleet', i], group, resolved.model);
    if (resolved.model !== undefined) uses.push({ model: resolved.model, segments: ['fleet', i, 'model'] });
    group.downstream.forEach((leaf, j) => {
      const model = loaded.downstream.find((d) => d.name === leaf.group)?.model;
      device(['fleet', i, 'downstream', j], leaf, model);
    });
    for (const m of resolved.kind === 'iotEdge' ? resolved.modules : []) {
      modulesInventory(['fleet', i, 'modules', m.name], m, uses, sets);
    }
  });
  return { uses, sets };
}

function modulesInventory(at: Segments, m: ResolvedModule, uses: ModelUse[], sets: SpecSet[]): void {
  const b = m.behaviour;
  if (b.behaviour === 'dtdl') {
    const telemetry = { segments: [...at, 'values'], specs: b.values as Record<string, unknown> };
    sets.push(telemetry);
    if (m.model !== undefined) uses.push({ model: m.model, segments: [...at, 'model'], telemetry });
  } else if (b.behaviour === 'identity-translation') {
    const sensors = [...at, 'sensors'];
    const telemetry = { segments: [...sensors, 'telemetry', 'values'], specs: b.sensors.telemetry.values };
    sets.push(telemetry, { segments: [...sensors, 'properties', 'reported'], specs: b.sensors.properties.reported });
    if (m.model !== undefined) uses.push({ model: m.model, segments: [...sensors, 'model'], telemetry });
  } else if (b.behaviour === 'protocol-translation') {
    b.sensors.forEach((sensor, j) => {
      const key = sensor.kind === 'modbus' ? 'registers' : 'values';
      const specs = (sensor.kind === 'modbus' ? sensor.registers : sensor.values) as Record<string, unknown>;
      sets.push({ segments: [...at, 'sensors', j, key], specs });
    });
  }
}

/** The faker check, loading faker only when a spec names a method. */
async function fakerCheck(specs: readonly unknown[]): Promise<FakerCheck> {
  const names = (s: unknown): boolean => {
    const spec = s as { kind?: unknown; value?: unknown };
    return spec?.kind === 'faker' || (spec?.kind === 'poisson' && names(spec.value));
  };
  if (!specs.some(names)) return () => undefined;
  const { faker } = await import('@faker-js/faker/locale/en');
  return (method) => fakerMethodProblem(faker, method);
}

/** Everything a run would refuse that loading the scenario's files did not already refuse. */
export async function gateProblems(loaded: LoadedScenario, locate?: DocumentLocator): Promise<ConfigProblem[]> {
  const gate = new Gate(loaded, locate);
  const { uses, sets } = inventory(loaded);
  const faker = await fakerCheck(sets.flatMap((set) => Object.values(set.specs)));
  const models = gate.models(uses);
  const checked = gate.overrides(uses, models, faker);
  gate.specs(sets, checked, faker);
  const manifests = new Set<string>();
  for (const [i, group] of loaded.groups.entries()) {
    if (group.kind !== 'iotEdge') continue;
    if (!manifests.has(group.manifest.path)) gate.manifest(group);
    manifests.add(group.manifest.path);
    for (const m of group.modules) await gate.module(i, m);
  }
  const ca = await caProblem(loaded);
  if (ca !== undefined) gate.atScenario(ca.segments, ca.message);
  return gate.problems;
}

/** The gate for a scenario loaded elsewhere (runScenario given a LoadedScenario): a ConfigError with every problem. */
export async function checkScenario(loaded: LoadedScenario): Promise<void> {
  const problems = await gateProblems(loaded);
  if (problems.length > 0) throw new ConfigError(problems);
}

/** A profile's property writes: their value generators, as createGenerator checks them. */
export async function profileProblems(
  profile: Profile,
  source: Pick<SourceFile, 'shown' | 'locate'>,
): Promise<ConfigProblem[]> {
  const found = profile.actions.flatMap((action, index) =>
    action.kind === 'writeProperty' ? [{ index, spec: action.value }] : [],
  );
  const faker = await fakerCheck(found.map((f) => f.spec));
  return found.flatMap(({ index, spec }) => {
    const problem = generatorProblem(spec, faker);
    if (problem === undefined) return [];
    const segments = ['actions', index, 'value', ...problem.at];
    return [{ file: source.shown, path: formatPath(segments), message: problem.message, ...source.locate(segments) }];
  });
}
