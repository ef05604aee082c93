// The registry and its twins as the hub's service API shows them: device and module identities, twins (also what a
// query answers), and device scopes, IoT Edge's parent/child relationship mapped onto the registry's gateways.
import type { Authentication, DeviceIdentity, ModuleIdentity, Registry } from '../registry.js';
import type { JsonObject, Twin, TwinSection } from '../twin.js';

/** IoT Hub's "never" for times it does not know (last activity, status changes). */
export const NEVER = '0001-01-01T00:00:00Z';

/** What the views need besides the registry: who is connected, and how many C2D messages wait. */
export interface ViewContext {
  registry: Registry;
  isConnected(deviceId: string, moduleId?: string): boolean;
  pendingC2D(deviceId: string): number;
}

const SCOPE_PREFIX = 'ms-azure-iot-edge://';

/**
 * An IoT Edge device's scope, `ms-azure-iot-edge://{deviceId}-{number}` as IoT Hub makes it; the number comes from
 * the generation id, so it stays while the device exists and changes when it is made again.
 */
export function edgeScopeOf(device: DeviceIdentity): string {
  const number = parseInt(device.generationId.replace(/-/g, '').slice(0, 12), 16);
  return `${SCOPE_PREFIX}${device.id}-${Number.isFinite(number) ? number : 0}`;
}

/** The IoT Edge device whose scope this is, if any. */
export function deviceOfScope(registry: Registry, scope: string): DeviceIdentity | undefined {
  if (!scope.startsWith(SCOPE_PREFIX)) return undefined;
  const rest = scope.slice(SCOPE_PREFIX.length);
  const dash = rest.lastIndexOf('-');
  const device = dash <= 0 ? undefined : registry.get(rest.slice(0, dash));
  return device?.iotEdge === true && edgeScopeOf(device) === scope ? device : undefined;
}

/** The IoT Edge device this device is attached to (its gateway, when that gateway is an IoT Edge device). */
export function edgeParentOf(registry: Registry, device: DeviceIdentity): DeviceIdentity | undefined {
  const gatewayId = device.gateway?.iotcGatewayId;
  const gateway = gatewayId === undefined ? undefined : registry.get(gatewayId);
  return gateway?.iotEdge === true ? gateway : undefined;
}

/** `deviceScope` and `parentScopes`: an IoT Edge device's own scope; a downstream device's is its gateway's. */
export function scopesOf(registry: Registry, device: DeviceIdentity): { deviceScope?: string; parentScopes: string[] } {
  const parent = edgeParentOf(registry, device);
  const parentScopes = parent === undefined ? [] : [edgeScopeOf(parent)];
  if (device.iotEdge) return { deviceScope: edgeScopeOf(device), parentScopes };
  return parent === undefined ? { parentScopes } : { deviceScope: edgeScopeOf(parent), parentScopes };
}

const NO_THUMBPRINT = { primaryThumbprint: null, secondaryThumbprint: null };

export const authenticationType = (a: Authentication) => (a.type === 'sas' ? 'sas' : 'certificateAuthority');

export function authenticationJson(a: Authentication) {
  return {
    symmetricKey:
      a.type === 'sas'
        ? { primaryKey: a.keys.primaryKey, secondaryKey: a.keys.secondaryKey }
        : { primaryKey: null, secondaryKey: null },
    x509Thumbprint: NO_THUMBPRINT,
    type: authenticationType(a),
  };
}

const connectionState = (connected: boolean) => (connected ? 'Connected' : 'Disconnected');

export function deviceJson(ctx: ViewContext, device: DeviceIdentity) {
  return {
    deviceId: device.id,
    generationId: device.generationId,
    etag: device.etag,
    connectionState: connectionState(ctx.isConnected(device.id)),
    status: device.enabled ? 'enabled' : 'disabled',
    statusReason: device.statusReason ?? null,
    connectionStateUpdatedTime: NEVER,
    statusUpdatedTime: NEVER,
    lastActivityTime: NEVER,
    cloudToDeviceMessageCount: ctx.pendingC2D(device.id),
    authentication: authenticationJson(device.authentication),
    capabilities: { iotEdge: device.iotEdge },
    ...scopesOf(ctx.registry, device),
  };
}

export function moduleJson(ctx: ViewContext, module: ModuleIdentity) {
  return {
    moduleId: module.moduleId,
    deviceId: module.deviceId,
    managedBy: module.managedBy ?? null,
    generationId: module.generationId,
    etag: module.etag,
    connectionState: connectionState(ctx.isConnected(module.deviceId, module.moduleId)),
    connectionStateUpdatedTime: NEVER,
    lastActivityTime: NEVER,
    cloudToDeviceMessageCount: 0,
    authentication: authenticationJson(module.authentication),
  };
}

/** A twin section with `$metadata` (last update of each top-level property) and `$version`. */
function sectionJson(section: TwinSection): JsonObject {
  const metadata: JsonObject = {};
  let latest = NEVER;
  for (const [key, at] of section.updatedAt) {
    if (!Object.hasOwn(section.value, key)) continue;
    metadata[key] = { $lastUpdated: at };
    if (at > latest) latest = at;
  }
  return { ...section.value, $metadata: { $lastUpdated: latest, ...metadata }, $version: section.version };
}

function twinCore(twin: Twin) {
  return {
    etag: twin.etag,
    version: twin.version,
    tags: twin.tags,
    properties: { desired: sectionJson(twin.desired), reported: sectionJson(twin.reported) },
  };
}

/** A device twin, as GET /twins/{id} and queries answer it. */
export function deviceTwinJson(ctx: ViewContext, device: DeviceIdentity) {
  const { etag, version, tags, properties } = twinCore(device.twin);
  return {
    deviceId: device.id,
    etag,
    deviceEtag: device.etag,
    status: device.enabled ? 'enabled' : 'disabled',
    ...(device.statusReason === undefined ? {} : { statusReason: device.statusReason }),
    statusUpdateTime: NEVER,
    connectionState: connectionState(ctx.isConnected(device.id)),
    lastActivityTime: NEVER,
    cloudToDeviceMessageCount: ctx.pendingC2D(device.id),
    authenticationType: authenticationType(device.authentication),
    x509Thumbprint: NO_THUMBPRINT,
    modelId: device.modelId ?? '',
    version,
    tags,
    properties,
    capabilities: { iotEdge: device.iotEdge },
    ...scopesOf(ctx.registry, device),
  };
}

/** A module twin, as GET /twins/{id}/modules/{moduleId} and `FROM devices.modules` answer it. */
export function moduleTwinJson(ctx: ViewContext, device: DeviceIdentity, module: ModuleIdentity) {
  const { etag, version, tags, properties } = twinCore(module.twin);
  return {
    deviceId: device.id,
    moduleId: module.moduleId,
    etag,
    deviceEtag: module.etag,
    status: device.enabled ? 'enabled' : 'disabled',
    statusUpdateTime: NEVER,
    connectionState: connectionState(ctx.isConnected(device.id, module.moduleId)),
    lastActivityTime: NEVER,
    cloudToDeviceMessageCount: 0,
    authenticationType: authenticationType(module.authentication),
    x509Thumbprint: NO_THUMBPRINT,
    modelId: '',
    version,
    tags,
    properties,
  };
}
