// `$edgeHub` desired properties as edgeHub reads them: its routes, compiled, and its store-and-forward settings, or
// the reason it refuses them. Pure, so that the scenario gate (src/config) refuses what a run's edgeHub would.
import { compileRoutes, type CompiledRoute, type RouteSpec } from '../routes/routes.js';

type JsonObject = Record<string, unknown>;
const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Desired schema versions edgeHub accepts; route objects (priority, TTL) need 1.1 or later. */
const DESIRED_SCHEMA_VERSIONS = new Set(['1.0', '1.1', '1.2', '1.3']);
/** Store-and-forward TTL when the twin sets none (docs: 7200 s). */
export const DEFAULT_TTL_SECONDS = 7200;
/** The route edgeHub uses when it has no configuration. */
const DEFAULT_ROUTES = { route: 'FROM /* INTO $upstream' };

/** Reads `$edgeHub` desired properties; throws with what edgeHub would report as 400. */
export function edgeHubConfig(desired: JsonObject): { routes: CompiledRoute[]; timeToLiveSecs: number } {
  if (Object.keys(desired).length === 0)
    return { routes: compileRoutes(DEFAULT_ROUTES), timeToLiveSecs: DEFAULT_TTL_SECONDS };
  const schema = desired.schemaVersion;
  if (typeof schema !== 'string') throw new Error('schemaVersion is missing');
  if (!DESIRED_SCHEMA_VERSIONS.has(schema))
    throw new Error(`schemaVersion ${schema} is not supported (1.0 to 1.3 are)`);
  const routes = desired.routes ?? {};
  if (!isObject(routes)) throw new Error('routes must be an object of named routes');
  for (const [name, spec] of Object.entries(routes)) {
    if (isObject(spec) && schema === '1.0')
      throw new Error(`route ${name}: a route with priority or timeToLiveSecs needs schemaVersion 1.1 or later`);
  }
  let ttl = DEFAULT_TTL_SECONDS;
  const sf = desired.storeAndForwardConfiguration;
  if (sf !== undefined && sf !== null) {
    if (!isObject(sf)) throw new Error('storeAndForwardConfiguration must be an object');
    if (sf.timeToLiveSecs !== undefined) {
      if (typeof sf.timeToLiveSecs !== 'number' || !Number.isInteger(sf.timeToLiveSecs) || sf.timeToLiveSecs < 0) {
        throw new Error(
          `storeAndForwardConfiguration.timeToLiveSecs must be a whole number of seconds, not ${JSON.stringify(sf.timeToLiveSecs)}`,
        );
      }
      ttl = sf.timeToLiveSecs;
    }
  }
  return { routes: compileRoutes(routes as Record<string, string | RouteSpec>), timeToLiveSecs: ttl };
}
