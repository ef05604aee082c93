// What a scenario takes into a pod: every file it references (its profile, manifests, models, behaviour files), laid
// out under one root so that its relative paths hold there too, and the "${ENV}" names the pod must get from a
// Kubernetes Secret. Secrets never go into the ConfigMap: a file or a value that holds one is refused, saying how
// to pass it instead.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, displayPath, formatPath, type ConfigProblem } from '../config/errors.js';
import type { LoadedModel, LoadedScenario } from '../config/load.js';
import { readSource } from '../config/source.js';

/** A file the pod sees: where it is here, and its path under the ConfigMap's mount. */
export interface PodFile {
  source: string;
  /** Relative, with "/" separators, never "..": the ConfigMap volume item's path. */
  path: string;
  /** The ConfigMap key (letters, digits, "-", "_" and "."). */
  key: string;
  text: string;
}

export interface ScenarioFiles {
  files: PodFile[];
  /** The scenario's and the profile's paths under the mount. */
  scenario: string;
  profile: string;
  /** Models named by DTMI in a model repository URL: each pod fetches them when it starts. */
  repositoryUrls: string[];
}

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** The "${ENV}" names in a value (strings at any depth). */
export function envNames(value: unknown): string[] {
  const names = new Set<string>();
  const walk = (node: unknown): void => {
    if (typeof node === 'string') for (const m of node.matchAll(REFERENCE)) names.add(m[1]!);
    else if (Array.isArray(node)) node.forEach(walk);
    else if (node !== null && typeof node === 'object') Object.values(node).forEach(walk);
  };
  walk(value);
  return [...names].sort();
}

/** A scenario file as written: its fleet and targets, before defaults and "${ENV}" resolution. */
export interface WrittenScenario {
  target?: string;
  targets?: Record<string, unknown>;
  fleet?: Array<{ connectionStrings?: unknown }>;
}

export async function readWrittenScenario(file: string): Promise<WrittenScenario> {
  const source = await readSource(path.resolve(file));
  return source.data ?? {};
}

/**
 * The variables the pod needs from the Secret: the "${ENV}" references of the target in use and of connection
 * strings. Everything else in the scenario is read as written.
 */
export function secretNames(written: WrittenScenario, targetKind: string): string[] {
  const fromTarget = envNames(written.targets?.[targetKind]);
  const fromStrings = envNames((written.fleet ?? []).map((group) => group.connectionStrings));
  return [...new Set([...fromTarget, ...fromStrings])].sort();
}

const SECRET_FIELD = /^(primaryKey|secondaryKey|apiToken|password|sharedAccessKey|connectionString)$/i;
const ONLY_REFERENCES = /^(\s*\$\{[A-Za-z_][A-Za-z0-9_]*\}\s*)+$/;

/**
 * Secrets written into the scenario itself (it goes into the ConfigMap as it is): key, token and password fields
 * and connection strings must be "${ENV}" references; a file of connection strings, or an X.509 CA's private key,
 * holds keys and cannot be shipped in a ConfigMap.
 */
export function writtenSecretProblems(written: WrittenScenario, shown: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const at = (segments: PropertyKey[], message: string) =>
    problems.push({ file: shown, path: formatPath(segments), message });
  const walk = (node: unknown, segments: PropertyKey[]): void => {
    if (typeof node === 'string') {
      const key = String(segments[segments.length - 1] ?? '');
      const secret = SECRET_FIELD.test(key) || /SharedAccessKey=/i.test(node);
      if (secret && !ONLY_REFERENCES.test(node))
        at(
          segments,
          'is written in the file, which goes into the ConfigMap: write "${ENV_VAR}" and put the value in the Secret',
        );
    } else if (Array.isArray(node)) node.forEach((item, i) => walk(item, [...segments, i]));
    else if (node !== null && typeof node === 'object')
      for (const [key, value] of Object.entries(node)) walk(value, [...segments, key]);
  };
  walk(written.targets, ['targets']);
  (written.fleet ?? []).forEach((group, i) => {
    const strings = group.connectionStrings;
    if (typeof strings === 'string' && !ONLY_REFERENCES.test(strings)) {
      at(
        ['fleet', i, 'connectionStrings'],
        'names a file of connection strings, which hold keys and cannot go into the ConfigMap: list them as ' +
          '"${ENV_VAR}" references and put the values in the Secret',
      );
    } else walk(strings, ['fleet', i, 'connectionStrings']);
  });
  return problems;
}

/** Every local file the loaded scenario reads, absolute, the scenario first; and the model repository URLs. */
function referencedFiles(loaded: LoadedScenario): { files: string[]; urls: string[] } {
  const files = new Set<string>([loaded.file]);
  const urls = new Set<string>();
  const addModel = (model: LoadedModel | undefined) => {
    if (model === undefined) return;
    const sources = model.sources?.map((s) => s.file) ?? [model.path];
    for (const source of sources) {
      if (/^https?:\/\//i.test(source)) urls.add(new URL('.', source).origin);
      else files.add(path.resolve(source));
    }
  };
  for (const group of loaded.groups) {
    addModel(group.model);
    if (group.kind !== 'iotEdge') continue;
    files.add(group.manifest.path);
    for (const module of group.modules) {
      addModel(module.model);
      if (module.behaviour.behaviour === 'custom') files.add(path.resolve(module.behaviour.file));
    }
  }
  for (const leaf of loaded.downstream) addModel(leaf.model);
  if (loaded.target.kind === 'mqtt' && loaded.target.settings.tls.ca !== undefined)
    files.add(path.resolve(loaded.target.settings.tls.ca));
  return { files: [...files], urls: [...urls] };
}

/** The deepest folder that holds every file. */
function commonRoot(files: readonly string[]): string {
  let root = path.dirname(files[0]!);
  for (const file of files) {
    while (path.relative(root, file).startsWith('..') || path.isAbsolute(path.relative(root, file)))
      root = path.dirname(root);
  }
  return root;
}

/** A ConfigMap key for a relative path: "manifests/edge.json" → "manifests.edge.json", made unique. */
function keyFor(relative: string, taken: Set<string>): string {
  const base = relative.replace(/[^A-Za-z0-9._-]+/g, '.').replace(/^\.+/, '');
  let key = base;
  for (let n = 2; taken.has(key); n++) key = `${base}-${n}`;
  taken.add(key);
  return key;
}

const PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

/** The files with their text and their place under the mount; a file that holds a key is refused. */
export async function scenarioFiles(loaded: LoadedScenario): Promise<ScenarioFiles> {
  if (loaded.target.kind === 'iot-central' && loaded.target.settings.x509 !== undefined) {
    throw new ConfigError([
      {
        file: displayPath(loaded.file),
        path: 'targets.iot-central.x509',
        message:
          "the CA's private key cannot go into the ConfigMap, and edgefleet k8s does not mount key files yet: " +
          'run X.509 groups with edgefleet run --shard i/n on machines that hold the key',
      },
    ]);
  }
  const { files, urls } = referencedFiles(loaded);
  const profile = path.resolve(loaded.profileFile);
  // A shipped profile (or one elsewhere) joins under a folder of its own rather than widening the root.
  const root = commonRoot(files);
  const inside = !path.relative(root, profile).startsWith('..');
  const taken = new Set<string>();
  const relativeOf = (file: string) => path.relative(root, file).split(path.sep).join('/');
  const placed = files.map((file) => ({ source: file, path: relativeOf(file) }));
  const profilePath = inside ? relativeOf(profile) : `_profile/${path.basename(profile)}`;
  if (!files.includes(profile)) placed.push({ source: profile, path: profilePath });
  const out: PodFile[] = [];
  const problems: ConfigProblem[] = [];
  for (const file of placed) {
    const text = await readFile(file.source, 'utf8');
    if (PRIVATE_KEY.test(text) || /SharedAccessKey=[^;$\s"]/.test(text)) {
      problems.push({
        file: displayPath(file.source),
        path: '',
        message: 'holds a key; it cannot go into the ConfigMap',
      });
    }
    out.push({ ...file, key: keyFor(file.path, taken), text });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { files: out, scenario: relativeOf(loaded.file), profile: profilePath, repositoryUrls: urls };
}
