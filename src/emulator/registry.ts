// The identity registry: devices, IoT Edge devices, their modules and twins. In memory, one per emulator; every
// change is told to the journal, which records it (src/emulator/store.ts).
import { randomBytes, randomUUID } from 'node:crypto';
import type { IotcGateway } from '../protocol/index.js';
import { EPHEMERAL, type Journal } from './journal.js';
import { Twin, type Json } from './twin.js';

export interface SymmetricKeys {
  primaryKey: string;
  secondaryKey: string;
}

export type Authentication =
  | { type: 'sas'; keys: SymmetricKeys }
  /** Issued by a trusted CA; the certificate's CN is the identity. */
  | { type: 'x509CA' };

export interface ModuleIdentity {
  deviceId: string;
  moduleId: string;
  generationId: string;
  managedBy?: string;
  authentication: Authentication;
  twin: Twin;
  createdAt: string;
  etag: string;
}

export interface DeviceIdentity {
  id: string;
  displayName: string;
  /** An IoT Edge device: has `$edgeAgent`, `$edgeHub` and can create modules. */
  iotEdge: boolean;
  enabled: boolean;
  /** Why it is enabled or disabled, as the hub's service API sets it (`statusReason`). */
  statusReason?: string;
  simulated: boolean;
  provisioned: boolean;
  /** Model id (DTDL) given at CONNECT or DPS registration; IoT Central's template. */
  modelId?: string;
  /** The gateway this device is attached to (downstream relationship). */
  gateway?: IotcGateway;
  authentication: Authentication;
  generationId: string;
  twin: Twin;
  modules: Map<string, ModuleIdentity>;
  createdAt: string;
  etag: string;
  /** Last telemetry value per `module|component|name`; at most TELEMETRY_NAMES_PER_IDENTITY names per identity. */
  lastTelemetry: Map<string, { timestamp: string; value: Json }>;
  /** How many names `lastTelemetry` holds per identity (`''` the device, else the module id). */
  lastTelemetryNames: Map<string, number>;
  /** Name of the deployment manifest assigned to it, if any. */
  deploymentManifestId?: string;
}

export const newSymmetricKeys = (): SymmetricKeys => ({
  primaryKey: randomBytes(32).toString('base64'),
  secondaryKey: randomBytes(32).toString('base64'),
});

const newEtag = () => randomBytes(6).toString('base64url');

export const EDGE_SYSTEM_MODULES = ['$edgeAgent', '$edgeHub'] as const;

/**
 * IoT Hub's limit: up to 50 module identities per device (learn.microsoft.com, azure/iot-hub/
 * iot-hub-devguide-module-twins). `$edgeAgent` and `$edgeHub` count among them.
 */
export const MODULES_PER_DEVICE = 50;

/**
 * A module id as IoT Hub's identity registry accepts it: up to 128 ASCII 7-bit alphanumerics and
 * `- . + % _ # * ? ! ( ) , = @ $ '` (learn.microsoft.com, azure/iot-hub/iot-hub-devguide-identity-registry,
 * "Module identity properties").
 */
export const MODULE_ID_PATTERN = /^[A-Za-z0-9\-.+%_#*?!(),=@$']{1,128}$/;

/**
 * Last values kept per identity (device or module): IoT Central allows 300 capabilities per device template
 * (docs/protocol.md §7.3), telemetry among them, so a device that follows its model never comes near it.
 */
export const TELEMETRY_NAMES_PER_IDENTITY = 300;

/** A registry limit was reached; nothing changed. */
export class RegistryLimitError extends Error {}

export interface CreateDeviceInput {
  id: string;
  displayName?: string;
  iotEdge?: boolean;
  enabled?: boolean;
  simulated?: boolean;
  modelId?: string;
  gateway?: IotcGateway;
  authentication?: Authentication;
}

/** A device as recorded: everything but its modules, twin and last values. */
export type DeviceRecord = Omit<DeviceIdentity, 'twin' | 'modules' | 'lastTelemetry' | 'lastTelemetryNames'>;
/** A module identity as recorded: everything but its twin. */
export type ModuleRecord = Omit<ModuleIdentity, 'twin'>;

/** The key of a last telemetry value: `module|component|name` (`''` for the device itself or no component). */
export const lastValueKey = (moduleId: string | undefined, component: string, name: string) =>
  `${moduleId ?? ''}|${component}|${name}`;

export class Registry {
  readonly devices = new Map<string, DeviceIdentity>();

  constructor(private readonly journal: Journal = EPHEMERAL) {}

  /** Tells the journal that the device's fields changed (call after changing any of them). */
  changed(device: DeviceIdentity): void {
    this.journal.device(device.id);
  }

  private newTwin(deviceId: string, moduleId?: string): Twin {
    return new Twin(() => this.journal.twin(deviceId, moduleId));
  }

  /** Puts back a recorded device (its twin empty until restored); nothing is told to the journal. */
  restore(record: DeviceRecord): DeviceIdentity {
    const device: DeviceIdentity = {
      ...record,
      twin: this.newTwin(record.id),
      modules: new Map(),
      lastTelemetry: new Map(),
      lastTelemetryNames: new Map(),
    };
    this.devices.set(device.id, device);
    return device;
  }

  /** Puts back a recorded module identity of a restored device. */
  restoreModule(device: DeviceIdentity, record: ModuleRecord): ModuleIdentity {
    const module: ModuleIdentity = { ...record, twin: this.newTwin(device.id, record.moduleId) };
    device.modules.set(module.moduleId, module);
    return module;
  }

  /** Puts back a recorded last value, counted against its identity's names. */
  restoreLastValue(device: DeviceIdentity, key: string, value: { timestamp: string; value: Json }): void {
    if (!device.lastTelemetry.has(key)) {
      const identity = key.slice(0, key.indexOf('|'));
      device.lastTelemetryNames.set(identity, (device.lastTelemetryNames.get(identity) ?? 0) + 1);
    }
    device.lastTelemetry.set(key, value);
  }

  get(deviceId: string): DeviceIdentity | undefined {
    return this.devices.get(deviceId);
  }

  getModule(deviceId: string, moduleId: string): ModuleIdentity | undefined {
    return this.devices.get(deviceId)?.modules.get(moduleId);
  }

  /** The twin of a device or of one of its modules. */
  twinOf(deviceId: string, moduleId?: string): Twin | undefined {
    return moduleId === undefined ? this.get(deviceId)?.twin : this.getModule(deviceId, moduleId)?.twin;
  }

  create(input: CreateDeviceInput): DeviceIdentity {
    const now = new Date().toISOString();
    const device: DeviceIdentity = {
      id: input.id,
      displayName: input.displayName ?? input.id,
      iotEdge: input.iotEdge ?? false,
      enabled: input.enabled ?? true,
      simulated: input.simulated ?? false,
      provisioned: false,
      ...(input.modelId === undefined ? {} : { modelId: input.modelId }),
      ...(input.gateway === undefined ? {} : { gateway: input.gateway }),
      authentication: input.authentication ?? { type: 'sas', keys: newSymmetricKeys() },
      generationId: randomUUID(),
      twin: this.newTwin(input.id),
      modules: new Map(),
      createdAt: now,
      etag: newEtag(),
      lastTelemetry: new Map(),
      lastTelemetryNames: new Map(),
    };
    this.devices.set(device.id, device);
    this.journal.device(device.id);
    this.journal.twin(device.id, undefined);
    if (device.iotEdge) for (const m of EDGE_SYSTEM_MODULES) this.createModule(device, m);
    return device;
  }

  /** Makes a device an IoT Edge device (adds the system modules) if it is not one already. */
  makeIotEdge(device: DeviceIdentity): void {
    if (device.iotEdge) return;
    device.iotEdge = true;
    this.journal.device(device.id);
    for (const m of EDGE_SYSTEM_MODULES) if (!device.modules.has(m)) this.createModule(device, m);
  }

  /** The module, created if absent; throws RegistryLimitError when the device already has MODULES_PER_DEVICE. */
  createModule(device: DeviceIdentity, moduleId: string, managedBy?: string): ModuleIdentity {
    const existing = device.modules.get(moduleId);
    if (existing !== undefined) return existing;
    if (device.modules.size >= MODULES_PER_DEVICE) {
      throw new RegistryLimitError(`device "${device.id}" has ${MODULES_PER_DEVICE} modules, IoT Hub's limit`);
    }
    const module: ModuleIdentity = {
      deviceId: device.id,
      moduleId,
      generationId: randomUUID(),
      ...(managedBy === undefined ? {} : { managedBy }),
      authentication: { type: 'sas', keys: newSymmetricKeys() },
      twin: this.newTwin(device.id, moduleId),
      createdAt: new Date().toISOString(),
      etag: newEtag(),
    };
    device.modules.set(moduleId, module);
    this.journal.device(device.id);
    this.journal.twin(device.id, moduleId);
    return module;
  }

  /** Removes a module identity with its last values; false when there was none. */
  deleteModule(device: DeviceIdentity, moduleId: string): boolean {
    if (!device.modules.delete(moduleId)) return false;
    for (const key of device.lastTelemetry.keys()) if (key.startsWith(`${moduleId}|`)) device.lastTelemetry.delete(key);
    device.lastTelemetryNames.delete(moduleId);
    this.journal.moduleDeleted(device.id, moduleId);
    return true;
  }

  /**
   * Keeps the last value of a telemetry name. A name the identity has not sent before is not kept once it has
   * TELEMETRY_NAMES_PER_IDENTITY of them; returns false then.
   */
  recordLastValue(
    device: DeviceIdentity,
    moduleId: string | undefined,
    component: string,
    name: string,
    value: Json,
    timestamp: string,
  ): boolean {
    const key = lastValueKey(moduleId, component, name);
    if (!device.lastTelemetry.has(key)) {
      const names = device.lastTelemetryNames.get(moduleId ?? '') ?? 0;
      if (names >= TELEMETRY_NAMES_PER_IDENTITY) return false;
      device.lastTelemetryNames.set(moduleId ?? '', names + 1);
    }
    device.lastTelemetry.set(key, { timestamp, value });
    this.journal.lastValue(device.id, key);
    return true;
  }

  delete(deviceId: string): boolean {
    if (!this.devices.delete(deviceId)) return false;
    this.journal.deviceDeleted(deviceId);
    return true;
  }

  /** Devices attached to a gateway. */
  downstreamOf(gatewayId: string): DeviceIdentity[] {
    return [...this.devices.values()].filter((d) => d.gateway?.iotcGatewayId === gatewayId);
  }
}
