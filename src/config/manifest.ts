// IoT Edge deployment manifests as users already have them (docs/protocol.md §4.1). Only what the simulation
// relies on is checked; unknown fields are kept, since real manifests carry many.
import { z } from 'zod';

const desired = <T extends z.ZodType>(schema: T, error?: string) =>
  z.looseObject({ 'properties.desired': schema }, error === undefined ? undefined : { error });

export const manifestModuleSchema = z.looseObject({
  version: z.string().optional(),
  type: z.string().optional(),
  status: z.enum(['running', 'stopped']).optional(),
  restartPolicy: z.enum(['never', 'on-failure', 'on-unhealthy', 'always']).optional(),
  imagePullPolicy: z.enum(['on-create', 'never']).optional(),
  startupOrder: z.int().min(0).max(4_294_967_295).optional(),
  env: z.record(z.string(), z.looseObject({ value: z.union([z.string(), z.number(), z.boolean()]) })).optional(),
  settings: z.looseObject({
    image: z.string().min(1),
    createOptions: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
  }),
});

const ROUTE_NAME = /^[^.$# ]+$/;

export const edgeAgentDesiredSchema = z.looseObject({
  schemaVersion: z.string(),
  runtime: z.looseObject({ type: z.string() }),
  systemModules: z.looseObject({
    edgeAgent: z.looseObject({ settings: z.looseObject({ image: z.string().min(1) }) }),
    edgeHub: z.looseObject({ settings: z.looseObject({ image: z.string().min(1) }) }),
  }),
  modules: z
    .record(z.string().regex(/^[A-Za-z0-9_.-]+$/, { error: 'expected a module name' }), manifestModuleSchema)
    .default({}),
});

export const edgeHubDesiredSchema = z.looseObject({
  schemaVersion: z.string(),
  routes: z.record(
    z.string().regex(ROUTE_NAME, { error: 'expected a route name without . $ # or spaces' }),
    z.union([
      z.string().min(1),
      z.looseObject({
        route: z.string().min(1),
        priority: z.int().min(0).max(9).optional(),
        timeToLiveSecs: z.int().min(0).max(4_294_967_295).optional(),
      }),
    ]),
  ),
  storeAndForwardConfiguration: z.looseObject({ timeToLiveSecs: z.int().min(0).optional() }).optional(),
});

export const deploymentManifestSchema = z.looseObject({
  modulesContent: z
    .looseObject({
      $edgeAgent: desired(
        edgeAgentDesiredSchema,
        'expected the $edgeAgent section: { "properties.desired": { schemaVersion, runtime, systemModules, modules } }',
      ),
      $edgeHub: desired(
        edgeHubDesiredSchema,
        'expected the $edgeHub section: { "properties.desired": { schemaVersion, routes } }',
      ),
    })
    .catchall(desired(z.record(z.string(), z.unknown()))),
});

export type DeploymentManifest = z.output<typeof deploymentManifestSchema>;
export type ManifestModule = z.output<typeof manifestModuleSchema>;

/** Manifests exported by `az iot edge deployment` wrap modulesContent in `content`. */
export function unwrapManifest(data: unknown): unknown {
  if (data !== null && typeof data === 'object' && !('modulesContent' in data) && 'content' in data) {
    return data.content;
  }
  return data;
}

export function manifestModules(manifest: DeploymentManifest): Record<string, ManifestModule> {
  return manifest.modulesContent.$edgeAgent['properties.desired'].modules;
}
