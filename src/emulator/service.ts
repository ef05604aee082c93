// Service-side operations of the emulated cloud (what IoT Central and the IoT Hub service API do to devices).
// The REST front end maps HTTP onto these; the MQTT front end carries them to connected clients.
import { EPHEMERAL, type Journal } from './journal.js';
import { MODULE_ID_PATTERN, RegistryLimitError, type Registry, type DeviceIdentity } from './registry.js';
import type { EmulatorStats } from './stats.js';
import { isJsonObject, mergePatchBetween, TWIN_REFUSAL_MESSAGES, type Json, type JsonObject } from './twin.js';

/** An error with the HTTP status a service API answers with. */
export class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface MethodResult {
  status: number;
  payload: Json;
}

/** What the service layer needs from the MQTT front end. */
export interface DeviceChannel {
  isConnected(deviceId: string, moduleId?: string): boolean;
  /** Pushes a desired-properties patch to the identity if it is connected and subscribed. */
  pushDesired(deviceId: string, moduleId: string | undefined, patch: JsonObject): void;
  invokeMethod(
    deviceId: string,
    moduleId: string | undefined,
    name: string,
    payload: Json,
    timeoutMs: number,
  ): Promise<MethodResult>;
  /** Delivers now, or queues (at most 50 per device) until the device subscribes. */
  sendC2D(deviceId: string, body: Buffer, properties: Record<string, string>): 'delivered' | 'queued';
  /** Closes every connection of the device and its modules (it was disabled or deleted). */
  disconnect(deviceId: string): void;
  /** Forgets what the channel keeps for a deleted device: its C2D queue and its DPS registration. */
  forgetDevice(deviceId: string): void;
}

/** What a deployment manifest sets: the desired properties of each twin it names. */
export type ModulesContent = Record<string, { 'properties.desired': JsonObject }>;

export interface DeploymentManifest {
  id: string;
  displayName: string;
  data: { modulesContent: ModulesContent };
  etag: string;
  createdAt: string;
}

/** One command run over REST, as its history lists it. */
export interface CommandRecord {
  id: string;
  connectionTimeout: number;
  responseTimeout: number;
  request: Json;
  response: Json;
  responseCode: number;
}

/** Commands kept per command (`device|module|component|command`), newest last. */
export const COMMAND_HISTORY_CAP = 100;

const SYSTEM_TWIN_MODULES = new Set(['$edgeAgent', '$edgeHub']);

/** The key of a relationship: `source|target` (device ids never hold `|`). */
export const relationshipKey = (source: string, target: string) => `${source}|${target}`;

export class CloudService {
  readonly manifests = new Map<string, DeploymentManifest>();
  /** Command history per `device|module|component|command`, newest last. */
  readonly commandHistory = new Map<string, CommandRecord[]>();
  /** Relationship ids given over REST, per `source|target`; otherwise a relationship's id is its target's id. */
  readonly relationshipIds = new Map<string, string>();

  constructor(
    readonly registry: Registry,
    readonly stats: EmulatorStats,
    private readonly channel: DeviceChannel,
    private readonly journal: Journal = EPHEMERAL,
  ) {}

  device(deviceId: string): DeviceIdentity {
    const device = this.registry.get(deviceId);
    if (device === undefined) throw new ServiceError(404, 'NotFound', `device "${deviceId}" does not exist`);
    return device;
  }

  isConnected(deviceId: string, moduleId?: string): boolean {
    return this.channel.isConnected(deviceId, moduleId);
  }

  /** Disables or re-enables a device; a disabled device loses its connections, as in IoT Hub. */
  setEnabled(device: DeviceIdentity, enabled: boolean): void {
    device.enabled = enabled;
    this.registry.changed(device);
    if (!enabled) this.channel.disconnect(device.id);
  }

  /** Deletes a device with its relationships (IoT Central removes a gateway's with it) and its command history. */
  deleteDevice(deviceId: string): void {
    for (const child of this.registry.downstreamOf(deviceId)) this.detach(deviceId, child);
    const gateway = this.registry.get(deviceId)?.gateway?.iotcGatewayId;
    if (gateway !== undefined) this.forgetRelationshipId(gateway, deviceId);
    for (const key of this.commandHistory.keys()) {
      if (key.startsWith(`${deviceId}|`)) {
        this.commandHistory.delete(key);
        this.journal.commandHistory(deviceId, key);
      }
    }
    this.registry.delete(deviceId);
    this.channel.forgetDevice(deviceId);
    this.channel.disconnect(deviceId);
  }

  /** The id of the relationship `source` → `target`: the one given over REST, or the target's id. */
  relationshipId(source: string, target: string): string {
    return this.relationshipIds.get(relationshipKey(source, target)) ?? target;
  }

  /** Attaches `target` below the gateway `source` (if it is not already) under the relationship id `id`. */
  attach(source: string, target: DeviceIdentity, id: string): void {
    if (target.gateway?.iotcGatewayId !== source) {
      target.gateway = { iotcGatewayId: source };
      this.registry.changed(target);
    }
    this.relationshipIds.set(relationshipKey(source, target.id), id);
    this.journal.relationshipId(source, target.id);
  }

  /** Detaches a downstream device from its gateway `source`. */
  detach(source: string, child: DeviceIdentity): void {
    delete child.gateway;
    this.registry.changed(child);
    this.forgetRelationshipId(source, child.id);
  }

  private forgetRelationshipId(source: string, target: string): void {
    if (this.relationshipIds.delete(relationshipKey(source, target))) this.journal.relationshipId(source, target);
  }

  /** Adds a command of the device to its history (`key`: see commandKey), keeping the last COMMAND_HISTORY_CAP. */
  rememberCommand(deviceId: string, key: string, record: CommandRecord): void {
    const list = this.commandHistory.get(key) ?? [];
    list.push(record);
    if (list.length > COMMAND_HISTORY_CAP) list.splice(0, list.length - COMMAND_HISTORY_CAP);
    this.commandHistory.set(key, list);
    this.journal.commandHistory(deviceId, key);
  }

  /** Writes desired properties (merge, or replace with `replace`) and pushes the change to the device. */
  writeDesired(deviceId: string, moduleId: string | undefined, patch: JsonObject, replace = false): number {
    const device = this.device(deviceId);
    const twin = moduleId === undefined ? device.twin : device.modules.get(moduleId)?.twin;
    if (twin === undefined)
      throw new ServiceError(404, 'NotFound', `module "${moduleId}" of device "${deviceId}" does not exist`);
    const now = new Date().toISOString();
    // What the device receives: what changed (null for what was removed) and the new version.
    const change = replace ? mergePatchBetween(twin.desired.value, patch) : patch;
    const refusal = twin.desired.apply(change, now);
    if (refusal !== undefined) {
      if (refusal !== 'tooLarge') this.stats.count(refusal);
      const code = refusal === 'tooLarge' ? 'TwinTooLarge' : refusal === 'tooDeep' ? 'TwinTooDeep' : 'InvalidKey';
      throw new ServiceError(400, code, `desired ${TWIN_REFUSAL_MESSAGES[refusal]}`);
    }
    const pushed: JsonObject = { ...change, $version: twin.desired.version };
    this.channel.pushDesired(deviceId, moduleId, pushed);
    return twin.desired.version;
  }

  async invokeMethod(
    deviceId: string,
    moduleId: string | undefined,
    name: string,
    payload: Json,
    responseTimeoutSeconds = 30,
  ): Promise<MethodResult> {
    const device = this.device(deviceId);
    if (moduleId !== undefined && !device.modules.has(moduleId)) {
      throw new ServiceError(404, 'NotFound', `module "${moduleId}" of device "${deviceId}" does not exist`);
    }
    if (!(responseTimeoutSeconds >= 5 && responseTimeoutSeconds <= 300)) {
      throw new ServiceError(400, 'BadRequest', 'responseTimeout must be between 5 and 300 seconds');
    }
    return this.channel.invokeMethod(deviceId, moduleId, name, payload, responseTimeoutSeconds * 1000);
  }

  sendC2D(deviceId: string, body: Buffer, properties: Record<string, string> = {}): 'delivered' | 'queued' {
    this.device(deviceId);
    if (body.length > 64 * 1024)
      throw new ServiceError(400, 'MessageTooLarge', 'a cloud-to-device message is at most 64 KB');
    return this.channel.sendC2D(deviceId, body, properties);
  }

  saveManifest(id: string, displayName: string, data: unknown): DeploymentManifest {
    checkModulesContent(data);
    const manifest: DeploymentManifest = {
      id,
      displayName,
      data,
      etag: Date.now().toString(36),
      createdAt: this.manifests.get(id)?.createdAt ?? new Date().toISOString(),
    };
    this.manifests.set(id, manifest);
    this.journal.manifest(id);
    return manifest;
  }

  deleteManifest(id: string): void {
    if (this.manifests.delete(id)) this.journal.manifest(id);
  }

  /**
   * Assigns a manifest to an IoT Edge device as IoT Central does: the desired properties of `$edgeAgent`,
   * `$edgeHub` and each custom module are set from `modulesContent` (replaced, not merged).
   */
  assignManifest(deviceId: string, manifestId: string): void {
    const device = this.device(deviceId);
    if (!device.iotEdge) throw new ServiceError(400, 'NotIotEdge', `device "${deviceId}" is not an IoT Edge device`);
    const manifest = this.manifests.get(manifestId);
    if (manifest === undefined)
      throw new ServiceError(404, 'NotFound', `deployment manifest "${manifestId}" does not exist`);
    device.deploymentManifestId = manifestId;
    this.registry.changed(device);
    this.applyModulesContent(device, manifest.data.modulesContent);
  }

  /**
   * Sets the desired properties of each twin `modulesContent` names (`$edgeAgent`, `$edgeHub`, modules: replaced,
   * not merged), creating missing module identities: what assigning a manifest does, and the hub's
   * applyConfigurationContent.
   */
  applyModulesContent(device: DeviceIdentity, modulesContent: ModulesContent): void {
    if (!device.iotEdge) throw new ServiceError(400, 'NotIotEdge', `device "${device.id}" is not an IoT Edge device`);
    for (const [moduleId, section] of Object.entries(modulesContent)) {
      if (!SYSTEM_TWIN_MODULES.has(moduleId)) this.createModule(device, moduleId);
      this.writeDesired(device.id, moduleId, section['properties.desired'], true);
    }
  }

  private createModule(device: DeviceIdentity, moduleId: string): void {
    try {
      this.registry.createModule(device, moduleId, 'iotEdge');
    } catch (err) {
      if (!(err instanceof RegistryLimitError)) throw err;
      this.stats.count('moduleCap');
      throw new ServiceError(403, 'TooManyModules', err.message);
    }
  }
}

/** Checks that `data` has a `modulesContent` of module ids, each with a `properties.desired` object. */
export function checkModulesContent(data: unknown): asserts data is { modulesContent: ModulesContent } {
  if (!isJsonObject(data) || !isJsonObject(data.modulesContent)) {
    throw new ServiceError(400, 'BadRequest', 'a deployment manifest needs a "modulesContent" object');
  }
  for (const [moduleId, section] of Object.entries(data.modulesContent)) {
    if (!MODULE_ID_PATTERN.test(moduleId)) {
      throw new ServiceError(400, 'BadRequest', `modulesContent.${moduleId.slice(0, 140)}: not a valid module id`);
    }
    if (!isJsonObject(section) || !isJsonObject(section['properties.desired'])) {
      throw new ServiceError(400, 'BadRequest', `modulesContent.${moduleId} needs a "properties.desired" object`);
    }
  }
}
