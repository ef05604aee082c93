// Scenario and profile files → validated, resolved objects. Every mistake found is reported at once, with
// the file, the path inside it and what was expected, before anything connects.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelError, readModelText } from '../model/dtdl.js';
import {
  cacheDirFor,
  describeRepository,
  resolveModel,
  type ModelRepository,
  type RepositoryModel,
} from '../model/repository.js';
import { ConnectionStringError, parseConnectionString } from '../protocol/connection-string.js';
import { HubConnectionStringError, parseHubConnectionString } from './hub-connection-string.js';
import { formatDuration, parseDuration } from './duration.js';
import { hasEnvReference, resolveEnv } from './env.js';
import { ConfigError, describeValue, displayPath, formatPath, type ConfigProblem } from './errors.js';
import { gateProblems, profileProblems, type DocumentLocator } from './gate.js';
import { formatId, parseIdPattern, registrationIdProblem } from './id-pattern.js';
import { validate } from './issues.js';
import { deploymentManifestSchema, manifestModules, unwrapManifest, type DeploymentManifest } from './manifest.js';
import { arrivalOffsets, expandIdentities } from './plan.js';
import { profileSchema, type Profile } from './profile.js';
import {
  DEFAULT_DOWNSTREAM_ID_PATTERN,
  DEFAULT_ID_PATTERN,
  scenarioSchema,
  TARGET_KINDS,
  type DownstreamGroup,
  type EdgeGroup,
  type FleetGroup,
  type IotCentralTargetSettings,
  type IotHubTargetSettings,
  type ModuleBehaviour,
  type MqttTargetSettings,
  type Scenario,
  type TargetKind,
} from './scenario.js';
import type {
  LoadedDeviceGroup,
  LoadedDownstreamGroup,
  LoadedEdgeGroup,
  LoadedFile,
  LoadedGroup,
  LoadedGroupBase,
  LoadedModel,
  LoadedProfile,
  LoadedScenario,
  ResolvedAction,
  ResolvedModule,
  ResolvedTarget,
} from './loaded.js';
import { directoryExists, fileExists, readSource, type SourceFile } from './source.js';
import { didYouMean } from './suggest.js';

export type {
  LoadedDeviceGroup,
  LoadedDownstreamGroup,
  LoadedEdgeGroup,
  LoadedFile,
  LoadedGroup,
  LoadedModel,
  LoadedProfile,
  LoadedScenario,
  ResolvedAction,
  ResolvedModule,
  ResolvedTarget,
} from './loaded.js';

/** The profiles shipped with edgefleet (two levels up from src/config and from dist/config alike). */
export const PROFILES_DIR = fileURLToPath(new URL('../../profiles/', import.meta.url));
/** Used when neither the scenario nor the command line names a profile. */
export const DEFAULT_PROFILE = 'smoke';

export interface LoadOverrides {
  /** A profile name or a path relative to the working directory. */
  profile?: string | undefined;
  duration?: string | number | undefined;
  target?: string | undefined;
  seed?: number | undefined;
  /** Where models fetched from a model repository URL are kept (default .edgefleet, the run's state directory). */
  stateDir?: string | undefined;
  /** Where "${ENV_VAR}" references are read (default process.env). */
  env?: NodeJS.ProcessEnv | undefined;
}

/** The state directory when none is given, relative to the working directory. */
export const DEFAULT_STATE_DIR = '.edgefleet';

/**
 * How long a run lasts, ms: --duration first; then the duration of a profile named on the command line (it keeps the
 * shape it was written with: its events happen); then the scenario's `duration:`, which belongs to the scenario's own
 * profile; then that profile's.
 */
export function runDuration(d: {
  commandLine?: number | undefined;
  profileFromCommandLine: boolean;
  scenario?: number | undefined;
  profile: number;
}): number {
  if (d.commandLine !== undefined) return d.commandLine;
  if (d.profileFromCommandLine) return d.profile;
  return d.scenario ?? d.profile;
}

/**
 * A scenario file (YAML or JSON) with its profile, manifests and models; throws a ConfigError listing every problem.
 */
export async function loadScenario(file: string, overrides: LoadOverrides = {}): Promise<LoadedScenario> {
  const absolute = path.resolve(file);
  const source = await readSource(absolute);
  const parsed = validate(scenarioSchema, source, source.data);
  if (!parsed.ok) throw new ConfigError(parsed.problems);
  return new ScenarioResolver(absolute, source, parsed.value, overrides).resolve();
}

/** A profile by name (from profiles/) or by path (relative to `relativeTo`, default the working directory). */
export async function loadProfile(nameOrPath: string, relativeTo: string = process.cwd()): Promise<LoadedProfile> {
  const located = await locateProfile(nameOrPath, relativeTo);
  if ('missing' in located) throw new ConfigError([{ file: located.shown, path: '', message: located.missing }]);
  return loadProfileFile(located.path);
}

/** `edgefleet validate FILE`: a scenario (it has a fleet) or a profile (it has arrivals). */
export async function validateFile(
  file: string,
  overrides: LoadOverrides = {},
): Promise<{ kind: 'scenario'; loaded: LoadedScenario } | { kind: 'profile'; loaded: LoadedProfile }> {
  const absolute = path.resolve(file);
  const source = await readSource(absolute);
  const data = source.data;
  if (data !== null && typeof data === 'object' && 'fleet' in data)
    return { kind: 'scenario', loaded: await loadScenario(absolute, overrides) };
  if (data !== null && typeof data === 'object' && 'arrivals' in data)
    return { kind: 'profile', loaded: await loadProfileFile(absolute) };
  throw new ConfigError([
    {
      file: source.shown,
      path: '',
      message: 'neither a scenario (it has no fleet) nor a profile (it has no arrivals)',
    },
  ]);
}

/** Names of the shipped profiles. */
export async function listProfiles(dir: string = PROFILES_DIR): Promise<string[]> {
  try {
    const entries = await readdir(dir);
    return entries
      .filter((name) => /\.(ya?ml|json)$/i.test(name))
      .map((name) => name.replace(/\.(ya?ml|json)$/i, ''))
      .sort();
  } catch {
    return [];
  }
}

async function loadProfileFile(file: string): Promise<LoadedProfile> {
  const source = await readSource(file);
  const parsed = validate(profileSchema, source, source.data);
  if (!parsed.ok) throw new ConfigError(parsed.problems);
  const problems = await profileProblems(parsed.value, source);
  if (problems.length > 0) throw new ConfigError(problems);
  return { file, profile: parsed.value };
}

const looksLikePath = (ref: string) => /[\\/]/.test(ref) || /\.(ya?ml|json)$/i.test(ref);

async function locateProfile(
  ref: string,
  relativeTo: string,
): Promise<{ path: string } | { missing: string; shown: string }> {
  if (looksLikePath(ref)) {
    const absolute = path.resolve(relativeTo, ref);
    if (await fileExists(absolute)) return { path: absolute };
    return { missing: `profile file not found: ${absolute}`, shown: displayPath(absolute) };
  }
  for (const extension of ['.yaml', '.yml', '.json']) {
    const candidate = path.join(PROFILES_DIR, `${ref}${extension}`);
    if (await fileExists(candidate)) return { path: candidate };
  }
  const available = await listProfiles();
  return {
    missing: `no profile named "${ref}" in ${PROFILES_DIR}${didYouMean(ref, available)}; available: ${available.join(', ')} (or give a path to a file)`,
    shown: ref,
  };
}

/** The behaviour of a module the scenario does not configure: the sensor's for its image, else a passthrough. */
function behaviourForImage(image: string): Pick<ResolvedModule, 'behaviour' | 'chosenBy'> {
  if (image.includes('simulated-temperature-sensor'))
    return { behaviour: { behaviour: 'simulated-temperature-sensor', output: 'temperatureOutput' }, chosenBy: 'image' };
  return { behaviour: { behaviour: 'passthrough', input: 'input1', output: 'output1' }, chosenBy: 'default' };
}

// --- the scenario resolver -------------------------------------------------------------------------------------

type Segments = PropertyKey[];

type Model = LoadedModel | undefined;

/** What a group's files gave: its model, connection strings, manifest and modules. */
interface ResolvedFiles {
  model?: LoadedModel;
  connectionStrings?: string[];
  modules?: ResolvedModule[];
  manifest?: LoadedFile<DeploymentManifest>;
}

/** A modelRepository value and the field that gave it; undefined when nothing names one. */
type RepositoryChoice = { value: string; field: Segments } | undefined;

/** A group as a profile's actions see it. */
interface ActionGroup {
  name: string;
  kind: 'device' | 'iotEdge' | 'downstream';
  modules?: ResolvedModule[];
}

const hasModule = (group: { modules?: ResolvedModule[] }, module: string) =>
  (group.modules ?? []).some((m) => m.name === module);

/** A group's connection strings and, for each, where a problem with it is reported. */
interface ListedConnectionStrings {
  strings: string[];
  where: (position: number) => { segments: Segments; suffix: string };
}

/** What a group's referenced files gave, before its config gets its absolute paths. */
type GroupFiles = Omit<LoadedDeviceGroup, 'config'> | Omit<LoadedEdgeGroup, 'config'>;

class ScenarioResolver {
  private readonly dir: string;
  private readonly problems: ConfigProblem[] = [];
  private readonly warnings: string[] = [];
  private readonly files = new Map<string, Promise<SourceFile | ConfigProblem[]>>();
  private readonly reportedFiles = new Set<string>();
  private readonly models = new Map<string, Promise<RepositoryModel | ModelError>>();
  private readonly repositories = new Map<string, Promise<ModelRepository | undefined>>();

  constructor(
    private readonly file: string,
    private readonly source: SourceFile,
    private readonly scenario: Scenario,
    private readonly overrides: LoadOverrides,
  ) {
    this.dir = path.dirname(file);
  }

  async resolve(): Promise<LoadedScenario> {
    const { target: targetKind, seed, durationOverride } = this.applyOverrides();
    const loadedProfile = await this.resolveProfile();
    const groups = await this.resolveGroups();
    const downstream = await this.resolveDownstream();
    const target = await this.resolveTarget(targetKind, loadedProfile?.profile);
    this.checkIds(groups);
    const timed = loadedProfile
      ? this.applyProfile(loadedProfile, durationOverride, [...groups, ...downstream], target.kind)
      : undefined;
    if (this.problems.length > 0 || !loadedProfile || !timed) throw new ConfigError(this.problems);
    const loaded = this.assemble({ ...timed, seed, target, loadedProfile, groups, downstream });
    const gated = await gateProblems(loaded, await this.locator());
    if (gated.length > 0) throw new ConfigError(gated);
    return loaded;
  }

  /** The run's duration, the profile with it, and the profile's actions and events checked against the groups. */
  private applyProfile(
    loadedProfile: LoadedProfile,
    durationOverride: number | undefined,
    groups: Array<GroupFiles | LoadedDownstreamGroup>,
    targetKind: ResolvedTarget['kind'],
  ): { profile: Profile; durationMs: number; actions: ResolvedAction[] } {
    const durationMs = runDuration({
      commandLine: durationOverride,
      profileFromCommandLine: this.overrides.profile !== undefined,
      scenario: this.scenario.duration,
      profile: loadedProfile.profile.duration,
    });
    const profile = { ...loadedProfile.profile, duration: durationMs };
    const actions = this.resolveActions(loadedProfile, groups);
    this.checkEvents(loadedProfile, groups, targetKind);
    this.warnAboutTiming(profile);
    return { profile, durationMs, actions };
  }

  /** The loaded scenario, its groups' paths made absolute and the chosen target's settings in place. */
  private assemble(parts: {
    seed: number;
    target: ResolvedTarget;
    loadedProfile: LoadedProfile;
    profile: Profile;
    durationMs: number;
    groups: GroupFiles[];
    downstream: LoadedDownstreamGroup[];
    actions: ResolvedAction[];
  }): LoadedScenario {
    const { seed, target, loadedProfile, durationMs, groups } = parts;
    const fleet = this.scenario.fleet.map((group, index) => this.resolvedGroupConfig(group, groups[index]!));
    const targets =
      this.scenario.targets && target.kind !== 'emulator'
        ? { ...this.scenario.targets, [target.kind]: target.settings }
        : this.scenario.targets;
    const scenario: Scenario = {
      ...this.scenario,
      seed,
      target: target.kind,
      duration: durationMs,
      profile: loadedProfile.file,
      fleet,
      ...(targets ? { targets } : {}),
    };
    return {
      file: this.file,
      dir: this.dir,
      scenario,
      profile: parts.profile,
      profileFile: loadedProfile.file,
      target,
      seed,
      durationMs,
      groups: groups.map((group, index) => ({ ...group, config: fleet[index] }) as LoadedGroup),
      downstream: parts.downstream,
      actions: parts.actions,
      warnings: this.warnings,
    };
  }

  /** Line and column in the scenario and the files it names, for the gate's problems. */
  private async locator(): Promise<DocumentLocator> {
    const documents = new Map<string, SourceFile>([[this.file, this.source]]);
    for (const [file, pending] of this.files) {
      const read = await pending;
      if (!Array.isArray(read)) documents.set(file, read);
    }
    return (file, segments) => documents.get(file)?.locate(segments);
  }

  // --- problems ---

  private at(segments: Segments, message: string, key?: string): void {
    this.problems.push({
      file: this.source.shown,
      path: formatPath(segments),
      message,
      ...this.source.locate(segments, key),
    });
  }

  /** A problem with a key itself (a name that is not there): points at the key, not its value. */
  private atKey(segments: Segments, message: string): void {
    const parent = segments.slice(0, -1);
    const key = String(segments[segments.length - 1]);
    this.problems.push({
      file: this.source.shown,
      path: formatPath(segments),
      message,
      ...this.source.locate(parent, key),
    });
  }

  private commandLine(flag: string, message: string): void {
    this.problems.push({ file: 'command line', path: flag, message });
  }

  // --- overrides ---

  private applyOverrides(): { target: TargetKind; seed: number; durationOverride: number | undefined } {
    const { overrides } = this;
    let target = this.scenario.target;
    if (overrides.target !== undefined) {
      if ((TARGET_KINDS as readonly string[]).includes(overrides.target)) target = overrides.target as TargetKind;
      else
        this.commandLine(
          '--target',
          `expected one of ${TARGET_KINDS.join(' | ')}, got ${describeValue(overrides.target)}`,
        );
    }
    let seed = this.scenario.seed;
    if (overrides.seed !== undefined) {
      if (Number.isSafeInteger(overrides.seed)) seed = overrides.seed;
      else this.commandLine('--seed', `expected a whole number, got ${describeValue(overrides.seed)}`);
    }
    let durationOverride: number | undefined;
    if (overrides.duration !== undefined) {
      try {
        durationOverride = parseDuration(overrides.duration);
        if (durationOverride <= 0) {
          durationOverride = undefined;
          this.commandLine('--duration', 'expected a duration > 0');
        }
      } catch (error) {
        this.commandLine('--duration', (error as Error).message);
      }
    }
    return { target, seed, durationOverride };
  }

  // --- profile ---

  private async resolveProfile(): Promise<LoadedProfile | undefined> {
    const fromCommandLine = this.overrides.profile !== undefined;
    const ref = this.overrides.profile ?? this.scenario.profile ?? DEFAULT_PROFILE;
    const located = await locateProfile(ref, fromCommandLine ? process.cwd() : this.dir);
    if ('missing' in located) {
      if (fromCommandLine) this.commandLine('--profile', located.missing);
      else if (this.scenario.profile !== undefined) this.at(['profile'], located.missing);
      else
        this.problems.push({
          file: this.source.shown,
          path: '',
          message: `the default profile is missing: ${located.missing}`,
        });
      return undefined;
    }
    try {
      return await loadProfileFile(located.path);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      this.problems.push(...error.problems);
      return undefined;
    }
  }

  // --- referenced files ---

  private readOnce(absolute: string): Promise<SourceFile | ConfigProblem[]> {
    let pending = this.files.get(absolute);
    if (!pending) {
      pending = readSource(absolute).catch((error: unknown) => {
        if (error instanceof ConfigError) return [...error.problems];
        throw error;
      });
      this.files.set(absolute, pending);
    }
    return pending;
  }

  /** A referenced JSON/YAML file: a missing file is a problem of the field that names it; a broken one, of the file. */
  private async referencedDocument(
    segments: Segments,
    relative: string,
    what: string,
  ): Promise<SourceFile | undefined> {
    const absolute = path.resolve(this.dir, relative);
    if (!(await fileExists(absolute))) {
      this.at(segments, `${what} not found: ${absolute}`);
      return undefined;
    }
    const result = await this.readOnce(absolute);
    if (Array.isArray(result)) {
      if (!this.reportedFiles.has(absolute)) {
        this.reportedFiles.add(absolute);
        this.problems.push(...result);
      }
      return undefined;
    }
    return result;
  }

  private async referencedFile(segments: Segments, relative: string, what: string): Promise<string> {
    const absolute = path.resolve(this.dir, relative);
    if (!(await fileExists(absolute))) this.at(segments, `${what} not found: ${absolute}`);
    return absolute;
  }

  /** A model named by a file path, or by a DTMI looked up in `repository`. */
  private async model(segments: Segments, ref: string, repository: RepositoryChoice): Promise<LoadedModel | undefined> {
    if (ref.startsWith('dtmi:')) return this.modelByDtmi(segments, ref, repository);
    const absolute = path.resolve(this.dir, ref);
    if (/\.ya?ml$/i.test(ref)) {
      const document = await this.referencedDocument(segments, ref, 'model file');
      if (!document) return undefined;
      if (document.data === null || typeof document.data !== 'object') {
        const message = 'expected a DTDL model: a JSON object (an Interface) or a list of them';
        this.problems.push({ file: document.shown, path: '', message });
        return undefined;
      }
      return { path: document.file, json: document.data };
    }
    if (!(await fileExists(absolute))) {
      this.at(segments, `model file not found: ${absolute}`);
      return undefined;
    }
    try {
      return { path: absolute, json: readModelText(await readFile(absolute, 'utf8'), displayPath(absolute)) };
    } catch (error) {
      if (!(error instanceof ModelError)) throw error;
      this.modelProblem(error);
      return undefined;
    }
  }

  private modelProblem(error: ModelError): void {
    const problem = { file: error.file ?? this.source.shown, path: error.path, message: error.detail };
    const key = `${problem.file}\n${problem.path}\n${problem.message}`;
    if (this.reportedFiles.has(key)) return;
    this.reportedFiles.add(key);
    this.problems.push(problem);
  }

  private async modelByDtmi(segments: Segments, dtmi: string, choice: RepositoryChoice): Promise<Model> {
    if (choice === undefined) {
      this.at(
        segments,
        `${dtmi} names a model by DTMI, so it needs a model repository: set modelRepository (scenario-wide or in ` +
          'this group) to a folder or an http(s) URL laid out as a device models repository',
      );
      return undefined;
    }
    const repository = await this.repository(choice);
    if (repository === undefined) return undefined;
    const key = `${describeRepository(repository)}\n${dtmi}`;
    let pending = this.models.get(key);
    if (pending === undefined) {
      pending = resolveModel(dtmi, repository).catch((error: unknown) => {
        if (error instanceof ModelError) return error;
        throw error;
      });
      this.models.set(key, pending);
    }
    const result = await pending;
    if (result instanceof ModelError) {
      if (result.file === undefined) this.at(segments, result.detail);
      else this.modelProblem(result);
      return undefined;
    }
    return { path: result.shown, json: result.interfaces, dtmi, sources: result.sources };
  }

  /** A modelRepository value: a folder that must exist, or an http(s) URL (its files are kept in the state dir). */
  private repository(choice: NonNullable<RepositoryChoice>): Promise<ModelRepository | undefined> {
    const key = JSON.stringify(choice.field);
    let pending = this.repositories.get(key);
    if (pending === undefined) {
      pending = this.openRepository(choice.value, choice.field);
      this.repositories.set(key, pending);
    }
    return pending;
  }

  private async openRepository(value: string, field: Segments): Promise<ModelRepository | undefined> {
    if (/^https?:\/\//i.test(value)) {
      let base: string;
      try {
        base = new URL(value.endsWith('/') ? value : `${value}/`).href;
      } catch {
        this.at(field, `not a URL: ${describeValue(value)}`);
        return undefined;
      }
      const cacheRoot = path.resolve(this.overrides.stateDir ?? DEFAULT_STATE_DIR, 'models');
      return { kind: 'url', base, cacheDir: cacheDirFor(cacheRoot, base) };
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
      this.at(field, `expected a folder or an http(s) URL, got ${describeValue(value)}`);
      return undefined;
    }
    const dir = path.resolve(this.dir, value);
    if (!(await directoryExists(dir))) {
      this.at(field, `model repository folder not found: ${dir}`);
      return undefined;
    }
    return { kind: 'folder', dir, shown: displayPath(dir) };
  }

  /** The repository a group uses: its own, else its parent's (a downstream group's gateways), else the scenario's. */
  private repositoryChoice(...candidates: Array<{ value: string | undefined; field: Segments }>): RepositoryChoice {
    const all = [...candidates, { value: this.scenario.modelRepository, field: ['modelRepository'] as Segments }];
    const chosen = all.find((c) => c.value !== undefined);
    return chosen === undefined ? undefined : { value: chosen.value!, field: chosen.field };
  }

  // --- groups ---

  private async resolveGroups(): Promise<GroupFiles[]> {
    return Promise.all(
      this.scenario.fleet.map(async (group, index) => {
        const base: LoadedGroupBase = { name: group.group };
        if (group.model !== undefined) {
          const model = await this.model(['fleet', index, 'model'], group.model, this.groupRepository(index));
          if (model) base.model = model;
        }
        if (group.auth === 'connectionString' && group.connectionStrings !== undefined) {
          const strings = await this.connectionStrings(index, group);
          if (strings) base.connectionStrings = strings;
        }
        if (group.kind === 'device') return { ...base, kind: 'device' as const };
        const edge = await this.edge(index, group);
        return { ...base, kind: 'iotEdge' as const, manifest: edge.manifest, modules: edge.modules };
      }),
    );
  }

  private async resolveDownstream(): Promise<LoadedDownstreamGroup[]> {
    const out: LoadedDownstreamGroup[] = [];
    for (const [index, group] of this.scenario.fleet.entries()) {
      if (group.kind !== 'iotEdge') continue;
      for (const [j, leaf] of group.downstream.entries()) {
        const loaded: LoadedDownstreamGroup = {
          kind: 'downstream',
          name: leaf.group,
          gatewayGroup: group.group,
          config: this.absoluteDownstream(leaf),
        };
        if (leaf.model !== undefined) {
          const repository = this.repositoryChoice(
            { value: leaf.modelRepository, field: ['fleet', index, 'downstream', j, 'modelRepository'] },
            { value: group.modelRepository, field: ['fleet', index, 'modelRepository'] },
          );
          const model = await this.model(['fleet', index, 'downstream', j, 'model'], leaf.model, repository);
          if (model) loaded.model = model;
        }
        out.push(loaded);
      }
    }
    return out;
  }

  private groupRepository(index: number): RepositoryChoice {
    const value = this.scenario.fleet[index]?.modelRepository;
    return this.repositoryChoice({ value, field: ['fleet', index, 'modelRepository'] });
  }

  /** A model reference with its path made absolute (a DTMI stays as it is). */
  private absoluteModel(ref: string): string {
    return ref.startsWith('dtmi:') ? ref : path.resolve(this.dir, ref);
  }

  private absoluteDownstream(leaf: DownstreamGroup): DownstreamGroup {
    return leaf.model === undefined ? leaf : { ...leaf, model: this.absoluteModel(leaf.model) };
  }

  private async connectionStrings(index: number, group: FleetGroup): Promise<string[] | undefined> {
    const field: Segments = ['fleet', index, 'connectionStrings'];
    const resolved = resolveEnv(group.connectionStrings, this.overrides.env);
    for (const problem of resolved.problems) this.at([...field, ...problem.segments], problem.message);
    if (resolved.problems.length > 0) return undefined;
    const listed =
      typeof resolved.value === 'string'
        ? await this.connectionStringsFile(field, resolved.value, group.count)
        : {
            strings: [...(resolved.value ?? [])],
            where: (position: number) => ({ segments: [...field, position], suffix: '' }),
          };
    if (!listed) return undefined;
    return this.checkConnectionStrings(listed) ? listed.strings : undefined;
  }

  /** Connection strings given one a line in a file (blank lines and # comments skipped), one per device. */
  private async connectionStringsFile(
    field: Segments,
    relative: string,
    count: number,
  ): Promise<ListedConnectionStrings | undefined> {
    const absolute = path.resolve(this.dir, relative);
    if (!(await fileExists(absolute))) {
      this.at(field, `connection strings file not found: ${absolute}`);
      return undefined;
    }
    const lines = (await readFile(absolute, 'utf8')).split(/\r?\n/);
    const numbered = lines
      .map((text, line) => ({ text: text.trim(), line: line + 1 }))
      .filter((entry) => entry.text !== '' && !entry.text.startsWith('#'));
    const strings = numbered.map((entry) => entry.text);
    if (strings.length !== count) {
      this.at(
        field,
        `${displayPath(absolute)} has ${strings.length} connection strings; expected ${count}, one per device (count)`,
      );
      return undefined;
    }
    const where = (position: number) => ({
      segments: field,
      suffix: ` (line ${numbered[position]?.line} of ${displayPath(absolute)})`,
    });
    return { strings, where };
  }

  /** Whether every string is a device's connection string with a key; each one that is not is a problem. */
  private checkConnectionStrings({ strings, where }: ListedConnectionStrings): boolean {
    let valid = true;
    strings.forEach((text, position) => {
      try {
        const parsed = parseConnectionString(text);
        if (parsed.moduleId !== undefined) {
          const { segments, suffix } = where(position);
          this.at(segments, `a module connection string (it has ModuleId); expected a device's${suffix}`);
          valid = false;
        } else if (parsed.sharedAccessKey === undefined) {
          // A device of an auth: connectionString group signs SAS tokens with its key; certificates are auth: x509.
          const { segments, suffix } = where(position);
          this.at(
            segments,
            'an X.509 connection string (x509=true, no SharedAccessKey): devices given by connection string ' +
              `authenticate with their key; for certificates use auth: x509${suffix}`,
          );
          valid = false;
        }
      } catch (error) {
        if (!(error instanceof ConnectionStringError)) throw error;
        const { segments, suffix } = where(position);
        // The message names fields, never values: a connection string carries a key.
        this.at(segments, `not a device connection string: ${error.message}${suffix}`);
        valid = false;
      }
    });
    return valid;
  }

  private async edge(index: number, group: EdgeGroup): Promise<Pick<LoadedEdgeGroup, 'manifest' | 'modules'>> {
    const read = await this.edgeManifest(index, group);
    if (!read) {
      const json = { modulesContent: {} } as DeploymentManifest;
      return { manifest: { path: path.resolve(this.dir, group.manifest), json }, modules: [] };
    }
    const { document, manifest, prefix } = read;
    const listed = manifestModules(manifest);
    this.checkManifestModules(index, group, document.shown, manifest, Object.keys(listed));
    const modules: ResolvedModule[] = [];
    for (const [name, spec] of Object.entries(listed))
      modules.push(await this.resolveModule(index, name, spec.settings.image, group.modules[name]));
    const jsonPath = prefix.length > 0 ? { jsonPath: 'content' } : {};
    return { manifest: { path: document.file, json: manifest, ...jsonPath }, modules };
  }

  /** The group's deployment manifest, read and validated (bare or wrapped in `content`); problems reported once. */
  private async edgeManifest(
    index: number,
    group: EdgeGroup,
  ): Promise<{ document: SourceFile; manifest: DeploymentManifest; prefix: Segments } | undefined> {
    const document = await this.referencedDocument(['fleet', index, 'manifest'], group.manifest, 'manifest file');
    if (!document) return undefined;
    const unwrapped = unwrapManifest(document.data);
    const prefix: Segments = unwrapped === document.data ? [] : ['content'];
    const validated = validate(
      deploymentManifestSchema,
      { shown: document.shown, locate: (segments, key) => document.locate([...prefix, ...segments], key) },
      unwrapped,
    );
    if (validated.ok) return { document, manifest: validated.value, prefix };
    if (!this.reportedFiles.has(document.file)) {
      this.reportedFiles.add(document.file);
      this.problems.push(
        ...validated.problems.map((problem) =>
          prefix.length === 0 ? problem : { ...problem, path: `content.${problem.path}` },
        ),
      );
    }
    return undefined;
  }

  /** Modules the scenario names must be in the manifest; desired properties of unlisted modules are warned about. */
  private checkManifestModules(
    index: number,
    group: EdgeGroup,
    shown: string,
    manifest: DeploymentManifest,
    names: string[],
  ): void {
    for (const name of Object.keys(group.modules)) {
      if (!names.includes(name)) {
        this.atKey(
          ['fleet', index, 'modules', name],
          `module "${name}" is not in the manifest ${shown}${didYouMean(name, names)}; its modules: ${names.join(', ') || '(none)'}`,
        );
      }
    }
    for (const section of Object.keys(manifest.modulesContent)) {
      if (section !== '$edgeAgent' && section !== '$edgeHub' && !names.includes(section)) {
        this.warnings.push(
          `${shown}: modulesContent.${section} sets desired properties of a module that $edgeAgent does not list`,
        );
      }
    }
  }

  /** A manifest module's behaviour (the scenario's, else one its image implies) with the files it names. */
  private async resolveModule(
    index: number,
    name: string,
    image: string,
    explicit: ModuleBehaviour | undefined,
  ): Promise<ResolvedModule> {
    const modulePath: Segments = ['fleet', index, 'modules', name];
    const { behaviour, chosenBy } = explicit
      ? { behaviour: explicit, chosenBy: 'scenario' as const }
      : behaviourForImage(image);
    const resolved: ResolvedModule = { name, image, behaviour, chosenBy };
    if (behaviour.behaviour === 'dtdl') {
      const model = await this.model([...modulePath, 'model'], behaviour.model, this.groupRepository(index));
      resolved.behaviour = { ...behaviour, model: this.absoluteModel(behaviour.model) };
      if (model) resolved.model = model;
    } else if (behaviour.behaviour === 'identity-translation' && behaviour.sensors.model !== undefined) {
      const ref = behaviour.sensors.model;
      const model = await this.model([...modulePath, 'sensors', 'model'], ref, this.groupRepository(index));
      resolved.behaviour = { ...behaviour, sensors: { ...behaviour.sensors, model: this.absoluteModel(ref) } };
      if (model) resolved.model = model;
    } else if (behaviour.behaviour === 'custom') {
      const file = await this.referencedFile([...modulePath, 'behaviour', 'file'], behaviour.file, 'behaviour file');
      resolved.behaviour = { ...behaviour, file };
    }
    return resolved;
  }

  private resolvedGroupConfig(group: FleetGroup, loaded: ResolvedFiles): FleetGroup {
    const common = {
      ...(group.model !== undefined ? { model: this.absoluteModel(group.model) } : {}),
      ...(loaded.connectionStrings ? { connectionStrings: loaded.connectionStrings } : {}),
    };
    if (group.kind === 'device') return { ...group, ...common };
    const modules: EdgeGroup['modules'] = {};
    for (const module of loaded.modules ?? [])
      if (module.chosenBy === 'scenario') modules[module.name] = module.behaviour;
    const downstream = group.downstream.map((leaf) => this.absoluteDownstream(leaf));
    return { ...group, ...common, manifest: path.resolve(this.dir, group.manifest), modules, downstream };
  }

  // --- target ---

  private async resolveTarget(kind: TargetKind, profile: Profile | undefined): Promise<ResolvedTarget> {
    if (kind === 'emulator') return { kind };
    const because = this.overrides.target !== undefined ? ' (from --target)' : '';
    const raw = this.scenario.targets?.[kind];
    const field: Segments = ['targets', kind];
    if (kind === 'mqtt') this.refuseEdgeGroupsOnMqtt(because);
    if (raw === undefined) {
      this.at(field, `required when the target is ${kind}${because}`);
      return { kind: 'emulator' }; // never used: the problem stops the load
    }
    this.warnAboutInlineSecrets(raw, field);
    const resolved = resolveEnv(raw, this.overrides.env);
    for (const problem of resolved.problems) this.at([...field, ...problem.segments], problem.message);
    if (kind === 'iot-central')
      return this.iotCentralTarget(field, resolved.value as IotCentralTargetSettings, profile, because);
    if (kind === 'iot-hub') return this.iotHubTarget(field, resolved.value as IotHubTargetSettings, because);
    const settings = resolved.value as MqttTargetSettings;
    const ca =
      settings.tls.ca !== undefined
        ? await this.referencedFile([...field, 'tls', 'ca'], settings.tls.ca, 'CA file')
        : undefined;
    return { kind, settings: { ...settings, tls: { ...settings.tls, ...(ca ? { ca } : {}) } } };
  }

  private refuseEdgeGroupsOnMqtt(because: string): void {
    // Identity-translation modules live in IoT Edge groups, so this one error covers them too.
    this.scenario.fleet.forEach((group, index) => {
      if (group.kind !== 'iotEdge') return;
      this.at(
        ['fleet', index, 'kind'],
        `IoT Edge devices need an Azure target: edgeAgent reads its deployment from the module twin and creates module identities through the hub, which an MQTT broker${because} does not have; use the emulator or iot-central target, or only plain device groups (kind: device) against mqtt`,
      );
    });
  }

  /** IoT Central settings: the group keys, CA and API token the fleet and profile need, its CA files found. */
  private async iotCentralTarget(
    field: Segments,
    settings: IotCentralTargetSettings,
    profile: Profile | undefined,
    because: string,
  ): Promise<ResolvedTarget> {
    this.checkCentralGroupKeys(field, settings, because);
    if (this.scenario.fleet.some((group) => group.auth === 'x509') && !settings.x509) {
      this.at([...field, 'x509'], 'required: groups with auth: x509 need the CA that issues their certificates');
    }
    if (profile && profile.actions.length > 0 && !settings.apiToken) {
      this.at(
        [...field, 'apiToken'],
        'required: the profile has service-side actions (commands, property writes), which use the REST API',
      );
    }
    const x509 = settings.x509
      ? {
          caCert: await this.referencedFile([...field, 'x509', 'caCert'], settings.x509.caCert, 'CA certificate'),
          caKey: await this.referencedFile([...field, 'x509', 'caKey'], settings.x509.caKey, 'CA key'),
        }
      : undefined;
    return { kind: 'iot-central', settings: { ...settings, ...(x509 ? { x509 } : {}) } };
  }

  /**
   * IoT Hub settings: a service connection string edgefleet can use (checked here without connecting; its rights are
   * checked with one call before the run), the CA file, and what its DPS needs when there is one.
   */
  private async iotHubTarget(field: Segments, given: IotHubTargetSettings, because: string): Promise<ResolvedTarget> {
    // An optional setting whose reference resolved to nothing ("${IOTHUB_MQTT_ENDPOINT:-}") is not set.
    const { mqttEndpoint, ca: caFile, ...rest } = given;
    const settings: IotHubTargetSettings = {
      ...rest,
      ...(mqttEndpoint ? { mqttEndpoint } : {}),
      ...(caFile ? { ca: caFile } : {}),
    };
    if (!hasEnvReference(settings.connectionString)) {
      try {
        parseHubConnectionString(settings.connectionString);
      } catch (err) {
        if (!(err instanceof HubConnectionStringError)) throw err;
        this.at([...field, 'connectionString'], `not a usable IoT Hub connection string: ${err.message}`);
      }
    }
    if (
      settings.mqttEndpoint !== undefined &&
      !/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(settings.mqttEndpoint)
    )
      this.at([...field, 'mqttEndpoint'], `expected host:port, got ${describeValue(settings.mqttEndpoint)}`);
    const ca =
      settings.ca === undefined ? undefined : await this.referencedFile([...field, 'ca'], settings.ca, 'CA file');
    if (settings.dps === undefined) {
      this.refuseX509WithoutDps(because);
      return { kind: 'iot-hub', settings: { ...settings, ...(ca ? { ca } : {}) } };
    }
    const dpsField = [...field, 'dps'];
    this.checkGroupKeys(dpsField, settings.dps.groupKeys, 'iot-hub', because);
    if (this.usesX509() && !settings.dps.x509) {
      this.at([...dpsField, 'x509'], 'required: groups with auth: x509 need the CA that issues their certificates');
    }
    const x509 = settings.dps.x509
      ? {
          caCert: await this.referencedFile(
            [...dpsField, 'x509', 'caCert'],
            settings.dps.x509.caCert,
            'CA certificate',
          ),
          caKey: await this.referencedFile([...dpsField, 'x509', 'caKey'], settings.dps.x509.caKey, 'CA key'),
        }
      : undefined;
    const dps = { ...settings.dps, ...(x509 ? { x509 } : {}) };
    return { kind: 'iot-hub', settings: { ...settings, dps, ...(ca ? { ca } : {}) } };
  }

  private usesX509(): boolean {
    return this.scenario.fleet.some(
      (group) =>
        group.auth === 'x509' || (group.kind === 'iotEdge' && group.downstream.some((leaf) => leaf.auth === 'x509')),
    );
  }

  /** Without DPS, identities connect with the keys edgefleet puts in the registry: certificates need DPS here. */
  private refuseX509WithoutDps(because: string): void {
    const message =
      `auth: x509 against iot-hub${because} needs a DPS (targets.iot-hub.dps with its x509 CA): without one, ` +
      'edgefleet creates identities with symmetric keys; use auth: sas';
    this.scenario.fleet.forEach((group, index) => {
      if (group.auth === 'x509') this.at(['fleet', index, 'auth'], message);
      if (group.kind !== 'iotEdge') return;
      group.downstream.forEach((leaf, j) => {
        if (leaf.auth === 'x509') this.at(['fleet', index, 'downstream', j, 'auth'], message);
      });
    });
  }

  private checkCentralGroupKeys(field: Segments, settings: IotCentralTargetSettings, because: string): void {
    this.checkGroupKeys(field, settings.groupKeys, 'iot-central', because);
  }

  /** Each kind of identity that derives its key from a group key needs that key in the settings. */
  private checkGroupKeys(
    field: Segments,
    groupKeys: IotCentralTargetSettings['groupKeys'],
    target: 'iot-central' | 'iot-hub',
    because: string,
  ): void {
    const settings = { groupKeys };
    const needs = (auth: string, groupKind: 'device' | 'iotEdge') =>
      this.scenario.fleet.some((group) => group.auth === auth && group.kind === groupKind);
    const devicesKey = [...field, 'groupKeys', 'devices'];
    if (this.identityTranslationModules().length > 0 && !settings.groupKeys?.devices) {
      this.at(
        devicesKey,
        "required: identity-translation modules derive their sensors' keys from the devices group key",
      );
    }
    if (needs('sas', 'device') && !settings.groupKeys?.devices) {
      this.at(devicesKey, 'required: plain devices with auth: sas derive their keys from the devices group key');
    }
    if (needs('sas', 'iotEdge') && !settings.groupKeys?.edgeDevices) {
      this.at(
        [...field, 'groupKeys', 'edgeDevices'],
        'required: IoT Edge devices with auth: sas derive their keys from the edgeDevices group key',
      );
    }
    const sasLeaves = target === 'iot-central' ? this.centralSasLeaves(because) : this.hasSasLeaves();
    if (sasLeaves && !needs('sas', 'device') && !settings.groupKeys?.devices) {
      this.at(devicesKey, 'required: downstream devices with auth: sas derive their keys from the devices group key');
    }
  }

  private hasSasLeaves(): boolean {
    return this.scenario.fleet.some((g) => g.kind === 'iotEdge' && g.downstream.some((leaf) => leaf.auth === 'sas'));
  }

  /** Whether any downstream group uses SAS; an X.509 one is a problem (IoT Central has no such gateways). */
  private centralSasLeaves(because: string): boolean {
    let sasLeaves = false;
    this.scenario.fleet.forEach((group, index) => {
      if (group.kind !== 'iotEdge') return;
      group.downstream.forEach((leaf, j) => {
        if (leaf.auth === 'sas') sasLeaves = true;
        else {
          this.at(
            ['fleet', index, 'downstream', j, 'auth'],
            `IoT Central does not support X.509 downstream devices behind a transparent gateway (group "${leaf.group}", target iot-central${because.replace(/^ \((.*)\)$/, ' $1')}); use auth: sas, or the emulator target`,
          );
        }
      });
    });
    return sasLeaves;
  }

  /** Modules of IoT Edge groups that behave by identity-translation. */
  private identityTranslationModules(): { index: number; name: string }[] {
    const found: { index: number; name: string }[] = [];
    this.scenario.fleet.forEach((group, index) => {
      if (group.kind !== 'iotEdge') return;
      for (const [name, m] of Object.entries(group.modules))
        if (m.behaviour === 'identity-translation') found.push({ index, name });
    });
    return found;
  }

  private warnAboutInlineSecrets(settings: object, field: Segments): void {
    const walk = (node: unknown, segments: Segments) => {
      if (node === null || typeof node !== 'object') return;
      for (const [key, value] of Object.entries(node)) {
        if (
          typeof value === 'string' &&
          /^(primaryKey|secondaryKey|apiToken|password|connectionString)$/.test(key) &&
          !hasEnvReference(value)
        ) {
          this.warnings.push(
            `${this.source.shown}: ${formatPath([...segments, key])} is written in the file; a "\${ENV_VAR}" reference keeps it out of it`,
          );
        } else walk(value, [...segments, key]);
      }
    };
    walk(settings, field);
  }

  // --- ids ---

  private checkIds(groups: Array<{ connectionStrings?: string[] }>): void {
    const groupsComplete = this.checkGroupIdPatterns(groups);
    const gatewaysComplete = this.checkGatewayIdPatterns();
    if (groupsComplete && gatewaysComplete) this.checkIdentityClashes(groups);
  }

  /** The first and last id of each group must be valid registration ids; false when some ids are unknown. */
  private checkGroupIdPatterns(groups: Array<{ connectionStrings?: string[] }>): boolean {
    let complete = true;
    this.scenario.fleet.forEach((group, index) => {
      if (group.auth === 'connectionString') {
        if (!groups[index]?.connectionStrings) complete = false;
        return;
      }
      const parts = parseIdPattern(group.idPattern ?? DEFAULT_ID_PATTERN);
      for (const groupIndex of new Set([group.firstIndex, group.firstIndex + group.count - 1])) {
        const problem = registrationIdProblem(formatId(parts, groupIndex, group.group));
        if (problem) {
          this.at(['fleet', index, 'idPattern'], problem);
          complete = false;
          break;
        }
      }
    });
    return complete;
  }

  /** The same for the ids behind each gateway: downstream devices and identity-translation sensors. */
  private checkGatewayIdPatterns(): boolean {
    let complete = true;
    this.scenario.fleet.forEach((group, index) => {
      if (group.kind !== 'iotEdge' || group.auth === 'connectionString') return;
      const gatewayId = formatId(parseIdPattern(group.idPattern ?? DEFAULT_ID_PATTERN), group.firstIndex, group.group);
      group.downstream.forEach((leaf, j) => {
        let parts;
        try {
          parts = parseIdPattern(leaf.idPattern ?? DEFAULT_DOWNSTREAM_ID_PATTERN, { gateway: true });
        } catch {
          complete = false; // the schema reported it
          return;
        }
        for (const leafIndex of new Set([leaf.firstIndex, leaf.firstIndex + leaf.countPerGateway - 1])) {
          const problem = registrationIdProblem(formatId(parts, leafIndex, leaf.group, gatewayId));
          if (problem) {
            this.at(['fleet', index, 'downstream', j, 'idPattern'], problem);
            complete = false;
            break;
          }
        }
      });
      for (const [name, module] of Object.entries(group.modules)) {
        if (module.behaviour !== 'identity-translation') continue;
        const parts = parseIdPattern(module.sensors.idPattern, { gateway: true });
        const problem = registrationIdProblem(formatId(parts, module.sensors.count, group.group, gatewayId));
        if (problem) {
          this.at(['fleet', index, 'modules', name, 'sensors', 'idPattern'], problem);
          complete = false;
        }
      }
    });
    return complete;
  }

  /** Every identity of the fleet, expanded: two with one id are a problem at the fields that gave them. */
  private checkIdentityClashes(groups: Array<{ connectionStrings?: string[] }>): void {
    const fleet = this.scenario.fleet.map((group, index) => ({
      ...group,
      connectionStrings: groups[index]?.connectionStrings ?? group.connectionStrings,
    }));
    const { problems } = expandIdentities({ seed: this.scenario.seed, fleet });
    for (const problem of problems) {
      const m = problem.path.match(/^fleet\[(\d+)\](?:\.downstream\[(\d+)\])?\.(\w+)$/);
      const segments: Segments | undefined =
        m === null
          ? undefined
          : m[2] === undefined
            ? ['fleet', Number(m[1]), m[3]!]
            : ['fleet', Number(m[1]), 'downstream', Number(m[2]), m[3]!];
      const located = segments ? this.source.locate(segments) : undefined;
      this.problems.push({ file: this.source.shown, ...problem, ...located });
    }
  }

  // --- profile against scenario ---

  private resolveActions(loaded: LoadedProfile, groups: ActionGroup[]): ResolvedAction[] {
    const shown = displayPath(loaded.file);
    return loaded.profile.actions.map((action, index) => {
      const problem = (field: string, message: string) =>
        this.problems.push({ file: shown, path: `actions[${index}].${field}`, message });
      let applies: string[];
      if (action.group !== undefined) {
        applies = this.namedActionGroup(action.group, action.module, groups, problem);
      } else if (action.module !== undefined) {
        applies = groups
          .filter((group) => group.kind === 'iotEdge' && hasModule(group, action.module!))
          .map((group) => group.name);
        if (applies.length === 0)
          problem('module', `no IoT Edge group of ${this.source.shown} runs a module "${action.module}"`);
      } else {
        applies = groups
          .filter((group) => group.kind === 'device' || group.kind === 'downstream')
          .map((group) => group.name);
        if (applies.length === 0) {
          this.warnings.push(
            `${shown}: actions[${index}] (${action.kind}) applies to plain devices and ${this.source.shown} has none; it is skipped`,
          );
        }
      }
      return { ...action, groups: applies };
    });
  }

  /** An action naming its group: the group must exist and, for IoT Edge devices, run the module it names. */
  private namedActionGroup(
    name: string,
    module: string | undefined,
    groups: ActionGroup[],
    problem: (field: string, message: string) => void,
  ): string[] {
    const groupNames = groups.map((group) => group.name);
    const group = groups.find((candidate) => candidate.name === name);
    if (!group) {
      problem(
        'group',
        `no group "${name}" in ${this.source.shown}${didYouMean(name, groupNames)}; its groups: ${groupNames.join(', ')}`,
      );
    } else if (module !== undefined && group.kind !== 'iotEdge') {
      problem('module', `group "${group.name}" is made of plain devices, which have no modules`);
    } else if (module !== undefined && !hasModule(group, module)) {
      const names = (group.modules ?? []).map((m) => m.name);
      problem(
        'module',
        `group "${group.name}" runs no module "${module}"${didYouMean(module, names)}; its modules: ${names.join(', ')}`,
      );
    } else if (module === undefined && group.kind === 'iotEdge') {
      problem('module', `required: group "${group.name}" is made of IoT Edge devices, whose modules answer; name one`);
    } else {
      return [group.name];
    }
    return [];
  }

  private checkEvents(loaded: LoadedProfile, groups: Array<{ name: string }>, target: ResolvedTarget['kind']): void {
    const shown = displayPath(loaded.file);
    const groupNames = groups.map((group) => group.name);
    loaded.profile.events.forEach((event, index) => {
      if (event.kind === 'targetRestart' && target !== 'emulator') {
        this.problems.push({
          file: shown,
          path: `events[${index}].kind`,
          message: `targetRestart restarts the embedded emulator edgefleet starts; the target here is ${target}`,
        });
      }
      if ('group' in event && event.group !== undefined && !groupNames.includes(event.group)) {
        this.problems.push({
          file: shown,
          path: `events[${index}].group`,
          message: `no group "${event.group}" in ${this.source.shown}${didYouMean(event.group, groupNames)}; its groups: ${groupNames.join(', ')}`,
        });
      }
    });
  }

  private warnAboutTiming(profile: Profile): void {
    const end = profile.duration;
    profile.events.forEach((event, index) => {
      if (event.at >= end)
        this.warnings.push(
          `events[${index}] (${event.kind} at ${formatDuration(event.at)}) is after the end of the run (${formatDuration(end)}) and will not happen`,
        );
    });
    if (profile.rampDown !== undefined && profile.rampDown > end) {
      this.warnings.push(
        `rampDown (${formatDuration(profile.rampDown)}) is longer than the run (${formatDuration(end)}): identities disconnect from the start`,
      );
    }
    const total = this.scenario.fleet.reduce(
      (sum, group) =>
        sum +
        group.count *
          (1 + (group.kind === 'iotEdge' ? group.downstream.reduce((n, leaf) => n + leaf.countPerGateway, 0) : 0)),
      0,
    );
    const offsets = arrivalOffsets(profile, total);
    let late = 0;
    for (const offset of offsets) if (offset >= end) late++;
    if (late > 0) {
      this.warnings.push(
        `${late} of ${total} identities would arrive after the run ends (${formatDuration(end)}) at this profile's arrival rate; they never connect`,
      );
    }
  }
}
