// `$edgeAgent` desired properties as edgeAgent reads them: the deployment's modules, or the reason it refuses
// them. Pure, so that the scenario gate (src/config) refuses a manifest a run's edgeAgent would refuse.

export type JsonObject = Record<string, unknown>;
const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

const DEFAULT_STARTUP_ORDER = 4294967295;
const RESTART_POLICIES = ['never', 'on-failure', 'on-unhealthy', 'always'] as const;
const IMAGE_PULL_POLICIES = ['on-create', 'never'] as const;
const SUPPORTED_SCHEMA_VERSIONS = new Set(['1.0', '1.1']);

export type RestartPolicy = (typeof RESTART_POLICIES)[number];

/** One module as the deployment describes it. */
export interface DesiredModule {
  name: string;
  type: string;
  status: 'running' | 'stopped';
  restartPolicy: RestartPolicy;
  imagePullPolicy: (typeof IMAGE_PULL_POLICIES)[number];
  /** As given (reported back only then). */
  explicit: { imagePullPolicy: boolean; startupOrder: boolean };
  startupOrder: number;
  version: string;
  image: string;
  createOptions: string;
  env: Record<string, string>;
  /** What must change for the module to be replaced (recreated) rather than left alone. */
  fingerprint: string;
}

export interface Deployment {
  schemaVersion: string;
  runtime: { type: string; settings: JsonObject };
  systemModules: Record<'edgeAgent' | 'edgeHub', { image: string; createOptions: string }>;
  modules: DesiredModule[];
}

/** What edgeAgent reports as lastDesiredStatus for a deployment it refuses. */
export class DeploymentError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const oneOf = <T extends string>(values: readonly T[], v: unknown, fallback: T, what: string): T => {
  if (v === undefined) return fallback;
  if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
  throw new DeploymentError(400, `${what} must be one of ${values.join(', ')}, not ${JSON.stringify(v)}`);
};

const createOptionsOf = (settings: JsonObject, what: string): string => {
  const c = settings.createOptions;
  if (c === undefined) return '{}';
  if (typeof c === 'string') return c;
  if (isObject(c)) return JSON.stringify(c);
  throw new DeploymentError(400, `${what}.settings.createOptions must be a string of JSON`);
};

function imageOf(raw: unknown, what: string): { image: string; createOptions: string } {
  if (!isObject(raw)) throw new DeploymentError(400, `${what} must be an object`);
  const settings = raw.settings;
  if (!isObject(settings) || typeof settings.image !== 'string' || settings.image === '') {
    throw new DeploymentError(400, `${what}.settings.image is missing`);
  }
  return { image: settings.image, createOptions: createOptionsOf(settings, what) };
}

/** Reads `$edgeAgent` desired properties as edgeAgent does; throws DeploymentError for what it would refuse. */
export function parseDeployment(desired: JsonObject): Deployment {
  if (Object.keys(desired).length === 0) throw new DeploymentError(417, 'ConfigEmptyError: the deployment is empty');
  const schemaVersion = desired.schemaVersion;
  if (typeof schemaVersion !== 'string') throw new DeploymentError(400, 'ConfigFormatError: schemaVersion is missing');
  if (!SUPPORTED_SCHEMA_VERSIONS.has(schemaVersion)) {
    throw new DeploymentError(
      412,
      `InvalidSchemaVersion: ${schemaVersion} is not supported (${[...SUPPORTED_SCHEMA_VERSIONS].join(', ')} are)`,
    );
  }
  try {
    const runtime = desired.runtime;
    if (!isObject(runtime) || runtime.type !== 'docker')
      throw new DeploymentError(400, 'runtime.type must be "docker"');
    const system = desired.systemModules;
    if (!isObject(system)) throw new DeploymentError(400, 'systemModules is missing');
    const systemModules = {
      edgeAgent: imageOf(system.edgeAgent, 'systemModules.edgeAgent'),
      edgeHub: imageOf(system.edgeHub, 'systemModules.edgeHub'),
    };
    const rawModules = desired.modules ?? {};
    if (!isObject(rawModules)) throw new DeploymentError(400, 'modules must be an object');
    const modules = Object.entries(rawModules).map(([name, raw]) => parseModule(name, raw));
    const settings: JsonObject = {};
    // Reported back without registry credentials: secrets never leave the device in a report.
    if (isObject(runtime.settings)) {
      for (const k of ['minDockerVersion', 'loggingOptions'])
        if (runtime.settings[k] !== undefined) settings[k] = runtime.settings[k];
    }
    return { schemaVersion, runtime: { type: 'docker', settings }, systemModules, modules };
  } catch (err) {
    if (err instanceof DeploymentError && err.code === 400)
      throw new DeploymentError(400, `ConfigFormatError: ${err.message}`);
    throw err;
  }
}

/** One entry of `modules`; a DeploymentError (400) names the field edgeAgent would refuse. */
function parseModule(name: string, raw: unknown): DesiredModule {
  const what = `modules.${name}`;
  if (name.startsWith('$') || name === 'edgeAgent' || name === 'edgeHub')
    throw new DeploymentError(400, `${what}: the name is reserved`);
  const { image, createOptions } = imageOf(raw, what);
  const m = raw as JsonObject;
  if (m.type !== undefined && m.type !== 'docker') throw new DeploymentError(400, `${what}.type must be "docker"`);
  const startupOrder = m.startupOrder ?? DEFAULT_STARTUP_ORDER;
  if (
    typeof startupOrder !== 'number' ||
    !Number.isInteger(startupOrder) ||
    startupOrder < 0 ||
    startupOrder > DEFAULT_STARTUP_ORDER
  ) {
    throw new DeploymentError(400, `${what}.startupOrder must be a whole number from 0 to ${DEFAULT_STARTUP_ORDER}`);
  }
  const env = envOf(m.env, what);
  if (m.version !== undefined && typeof m.version !== 'string')
    throw new DeploymentError(400, `${what}.version must be a string`);
  const status = oneOf(['running', 'stopped'] as const, m.status, 'running', `${what}.status`);
  const restartPolicy = oneOf(RESTART_POLICIES, m.restartPolicy, 'always', `${what}.restartPolicy`);
  const imagePullPolicy = oneOf(IMAGE_PULL_POLICIES, m.imagePullPolicy, 'on-create', `${what}.imagePullPolicy`);
  const version = m.version ?? '';
  const sortedEnv = Object.keys(env)
    .sort()
    .map((k) => [k, env[k]]);
  return {
    name,
    type: 'docker',
    status,
    restartPolicy,
    imagePullPolicy,
    startupOrder,
    version,
    image,
    createOptions,
    env,
    explicit: { imagePullPolicy: m.imagePullPolicy !== undefined, startupOrder: m.startupOrder !== undefined },
    fingerprint: JSON.stringify([image, createOptions, version, sortedEnv, imagePullPolicy]),
  };
}

/** A module's `env`: {"NAME": {"value": ...}}, each value a string, number, boolean or null, kept as text. */
function envOf(raw: unknown, what: string): Record<string, string> {
  const env: Record<string, string> = {};
  if (raw === undefined) return env;
  if (!isObject(raw)) throw new DeploymentError(400, `${what}.env must be an object of {"NAME": {"value": ...}}`);
  for (const [k, v] of Object.entries(raw)) {
    const value = isObject(v) ? v.value : undefined;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean' && value !== null)
      throw new DeploymentError(400, `${what}.env.${k} must be {"value": ...}`);
    env[k] = String(value);
  }
  return env;
}
