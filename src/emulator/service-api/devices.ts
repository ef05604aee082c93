// The identity registry as the hub's service API shows it: devices and IoT Edge devices (PUT creates without
// If-Match, replaces with one), their parent (deviceScope / parentScopes, kept as the registry's gateway so the
// IoT Central-shaped REST API shows it), module identities, and bulk requests of up to 100 records.
import { randomBytes } from 'node:crypto';
import {
  MODULE_ID_PATTERN,
  newSymmetricKeys,
  RegistryLimitError,
  type Authentication,
  type DeviceIdentity,
  type ModuleIdentity,
} from '../registry.js';
import { ServiceError } from '../service.js';
import { isJsonObject, type Json, type JsonObject } from '../twin.js';
import {
  badRequest,
  deviceNotFound,
  etagHeader,
  etagMatches,
  HubApiError,
  ifMatch,
  json,
  moduleNotFound,
  preconditionFailed,
  requireObject,
  type ApiReply,
} from './http.js';
import type { RouteContext, ServiceApiOptions } from './context.js';
import { deviceJson, deviceOfScope, edgeParentOf, moduleJson, type ViewContext } from './views.js';

/**
 * A device id as IoT Hub's registry accepts it: up to 128 ASCII alphanumerics and `- . % _ * ? ! ( ) , : = @ $ '`
 * (learn.microsoft.com, azure/iot-hub/iot-hub-devguide-identity-registry, "Device identity properties").
 */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}$/;

/** The most records one bulk request may carry (IoT Hub's limit). */
export const BULK_RECORDS_LIMIT = 100;

const BULK_MODES = ['create', 'update', 'updateifmatchetag', 'delete', 'deleteifmatchetag'] as const;
type BulkMode = (typeof BULK_MODES)[number];

/** What a device body sets; undefined: not given. `parent` null: no parent. */
interface DeviceFields {
  enabled?: boolean;
  statusReason?: string;
  authentication?: Authentication;
  iotEdge?: boolean;
  parent?: DeviceIdentity | null;
}

const newEtag = () => randomBytes(6).toString('base64url');

export function checkDeviceId(id: string): void {
  if (!DEVICE_ID_PATTERN.test(id)) {
    throw badRequest(`device id "${id.slice(0, 140)}": 1-128 of A-Z a-z 0-9 - . % _ * ? ! ( ) , : = @ $ '`);
  }
}

function checkModuleId(moduleId: string, writing: boolean): void {
  if (!MODULE_ID_PATTERN.test(moduleId)) {
    throw badRequest(`module id "${moduleId.slice(0, 140)}": 1-128 of A-Z a-z 0-9 - . + % _ # * ? ! ( ) , = @ $ '`);
  }
  if (writing && moduleId.startsWith('$')) {
    throw badRequest(`"${moduleId}": ids starting with $ are the IoT Edge runtime's`);
  }
}

const isKey = (v: Json | undefined): v is string => {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(v)) return false;
  const bytes = Buffer.from(v, 'base64').length;
  return bytes >= 16 && bytes <= 64;
};

/**
 * `authentication`: sas (keys generated when left empty, or kept from `current`) or certificateAuthority;
 * self-signed thumbprints are not served.
 */
export function parseAuthentication(raw: Json | undefined, current?: Authentication): Authentication | undefined {
  if (raw === undefined || raw === null) return undefined;
  const auth = requireObject(raw, '"authentication"');
  const type = auth.type ?? 'sas';
  if (type === 'certificateAuthority') return { type: 'x509CA' };
  if (type !== 'sas') {
    throw badRequest(
      `authentication type ${JSON.stringify(type).slice(0, 60)} is not served by the emulator: use sas or certificateAuthority`,
    );
  }
  const keys = isJsonObject(auth.symmetricKey) ? auth.symmetricKey : {};
  const { primaryKey, secondaryKey } = keys;
  const empty = (v: Json | undefined) => v === undefined || v === null || v === '';
  // Keys left out of a replacement are kept, so that a body without them does not lock a device out.
  if (empty(primaryKey) && empty(secondaryKey)) {
    return current?.type === 'sas' ? current : { type: 'sas', keys: newSymmetricKeys() };
  }
  if (!isKey(primaryKey) || !isKey(secondaryKey)) {
    throw badRequest('authentication.symmetricKey needs a primaryKey and a secondaryKey, each 16-64 bytes in base64');
  }
  return { type: 'sas', keys: { primaryKey, secondaryKey } };
}

export class DeviceRoutes {
  constructor(
    private readonly opts: ServiceApiOptions,
    private readonly view: ViewContext,
  ) {}

  private get registry() {
    return this.opts.service.registry;
  }

  private gate(operation: 'read' | 'write', records = 1): void {
    this.opts.registryGate?.(operation, records);
  }

  private device(id: string): DeviceIdentity {
    const device = this.registry.get(id);
    if (device === undefined) throw deviceNotFound(id);
    return device;
  }

  list(ctx: RouteContext): ApiReply {
    this.gate('read');
    const top = Number(ctx.url.searchParams.get('top') ?? 1000);
    const limit = Number.isInteger(top) && top > 0 ? Math.min(top, 1000) : 1000;
    const devices = [...this.registry.devices.values()].slice(0, limit);
    return json(devices.map((d) => deviceJson(this.view, d)));
  }

  get(ctx: RouteContext): ApiReply {
    this.gate('read');
    const device = this.device(ctx.params[0] as string);
    return json(deviceJson(this.view, device), etagHeader(device.etag));
  }

  async put(ctx: RouteContext): Promise<ApiReply> {
    const id = ctx.params[0] as string;
    checkDeviceId(id);
    const body = requireObject(await ctx.body());
    if (body.deviceId !== undefined && body.deviceId !== id) {
      throw badRequest(`the body's deviceId ${JSON.stringify(body.deviceId).slice(0, 140)} is not the path's "${id}"`);
    }
    this.gate('write');
    const given = ifMatch(ctx.req);
    const device = given === undefined ? this.create(id, body) : this.replace(id, body, given);
    return json(deviceJson(this.view, device), etagHeader(device.etag));
  }

  delete(ctx: RouteContext): ApiReply {
    this.gate('write');
    this.remove(ctx.params[0] as string, ifMatch(ctx.req));
    return { status: 204 };
  }

  /** Creates a device; 409 DeviceAlreadyExists when there is one. */
  private create(id: string, body: JsonObject): DeviceIdentity {
    if (this.registry.get(id) !== undefined) {
      throw new HubApiError(409, 'DeviceAlreadyExists', `device "${id}" already exists`);
    }
    const fields = this.fields(body);
    const device = this.registry.create({
      id,
      iotEdge: fields.iotEdge ?? false,
      enabled: fields.enabled ?? true,
      authentication: fields.authentication ?? { type: 'sas', keys: newSymmetricKeys() },
    });
    if (fields.statusReason !== undefined) device.statusReason = fields.statusReason;
    if (fields.parent) this.opts.service.attach(fields.parent.id, device, device.id);
    this.registry.changed(device);
    return device;
  }

  /** Replaces a device's fields; 404 when there is none, 412 when `etag` is not its ETag. */
  private replace(id: string, body: JsonObject, etag: string): DeviceIdentity {
    const device = this.device(id);
    if (!etagMatches(etag, device.etag)) throw preconditionFailed('device');
    const fields = this.fields(body, device);
    if (fields.iotEdge === false && device.iotEdge) {
      throw badRequest(`device "${id}" is an IoT Edge device; the emulator cannot make it a plain device again`);
    }
    if (fields.iotEdge === true) this.registry.makeIotEdge(device);
    if (fields.authentication !== undefined) device.authentication = fields.authentication;
    if (fields.statusReason !== undefined) device.statusReason = fields.statusReason;
    if (fields.enabled !== undefined && fields.enabled !== device.enabled) {
      this.opts.service.setEnabled(device, fields.enabled);
    }
    this.setParent(device, fields.parent);
    device.etag = newEtag();
    this.registry.changed(device);
    return device;
  }

  private setParent(device: DeviceIdentity, parent: DeviceIdentity | null | undefined): void {
    if (parent === undefined) return;
    const current = device.gateway?.iotcGatewayId;
    if (parent === null) {
      if (current !== undefined && edgeParentOf(this.registry, device) !== undefined) {
        this.opts.service.detach(current, device);
      }
    } else if (current !== parent.id) {
      this.opts.service.attach(parent.id, device, device.id);
    }
  }

  /** Deletes a device; 404 when there is none, 412 when `etag` (`*` or absent: any) is not its ETag. */
  private remove(id: string, etag: string | undefined): void {
    const device = this.device(id);
    if (!etagMatches(etag, device.etag)) throw preconditionFailed('device');
    this.opts.service.deleteDevice(id);
  }

  /** The fields a device body sets, checked; `self` is the device being replaced, if any. */
  private fields(body: JsonObject, self?: DeviceIdentity): DeviceFields {
    const fields: DeviceFields = {};
    if (body.status !== undefined && body.status !== null) {
      if (body.status !== 'enabled' && body.status !== 'disabled') {
        throw badRequest(`status must be "enabled" or "disabled", not ${JSON.stringify(body.status).slice(0, 40)}`);
      }
      fields.enabled = body.status === 'enabled';
    }
    if (typeof body.statusReason === 'string') fields.statusReason = body.statusReason.slice(0, 128);
    const authentication = parseAuthentication(body.authentication, self?.authentication);
    if (authentication !== undefined) fields.authentication = authentication;
    const capabilities = isJsonObject(body.capabilities) ? body.capabilities : {};
    if (typeof capabilities.iotEdge === 'boolean') fields.iotEdge = capabilities.iotEdge;
    const parent = this.parentOf(body, fields.iotEdge ?? self?.iotEdge ?? false, self);
    if (parent !== undefined) fields.parent = parent;
    return fields;
  }

  /**
   * The parent a body names: `parentScopes[0]`, or for a plain device its `deviceScope` (a downstream device's scope
   * is its gateway's). Undefined when the body names neither; null when it names none (empty).
   */
  private parentOf(body: JsonObject, iotEdge: boolean, self?: DeviceIdentity): DeviceIdentity | null | undefined {
    const scopes = body.parentScopes;
    let scope: Json | undefined;
    if (Array.isArray(scopes) && scopes.length > 0) scope = scopes[0];
    else if (!iotEdge && body.deviceScope !== undefined) scope = body.deviceScope;
    else if (Array.isArray(scopes)) return null;
    if (scope === undefined) return undefined;
    if (scope === null || scope === '') return null;
    const parent = typeof scope === 'string' ? deviceOfScope(this.registry, scope) : undefined;
    if (parent === undefined) {
      throw badRequest(`the scope ${JSON.stringify(scope).slice(0, 200)} is not the scope of an IoT Edge device here`);
    }
    if (parent.id === self?.id) throw badRequest(`device "${parent.id}" cannot be its own parent`);
    return parent;
  }

  // ---- modules ----

  listModules(ctx: RouteContext): ApiReply {
    this.gate('read');
    const device = this.device(ctx.params[0] as string);
    return json([...device.modules.values()].map((m) => moduleJson(this.view, m)));
  }

  private module(deviceId: string, moduleId: string): ModuleIdentity {
    const module = this.device(deviceId).modules.get(moduleId);
    if (module === undefined) throw moduleNotFound(deviceId, moduleId);
    return module;
  }

  getModule(ctx: RouteContext): ApiReply {
    this.gate('read');
    const [deviceId, moduleId] = ctx.params as [string, string];
    const module = this.module(deviceId, moduleId);
    return json(moduleJson(this.view, module), etagHeader(module.etag));
  }

  async putModule(ctx: RouteContext): Promise<ApiReply> {
    const [deviceId, moduleId] = ctx.params as [string, string];
    checkModuleId(moduleId, true);
    const body = requireObject(await ctx.body());
    this.gate('write');
    const device = this.device(deviceId);
    const given = ifMatch(ctx.req);
    const existing = device.modules.get(moduleId);
    if (given === undefined && existing !== undefined) {
      throw new HubApiError(409, 'ModuleAlreadyExistsOnDevice', `module "${moduleId}" of "${deviceId}" already exists`);
    }
    if (given !== undefined && existing === undefined) throw moduleNotFound(deviceId, moduleId);
    if (existing !== undefined && !etagMatches(given, existing.etag)) throw preconditionFailed('module');
    const authentication = parseAuthentication(body.authentication, existing?.authentication);
    const managedBy = typeof body.managedBy === 'string' ? body.managedBy.slice(0, 128) : undefined;
    const module = existing ?? this.createModule(device, moduleId, managedBy);
    if (existing !== undefined) {
      if (managedBy !== undefined) module.managedBy = managedBy;
      module.etag = newEtag();
    }
    if (authentication !== undefined) module.authentication = authentication;
    this.registry.changed(device);
    return json(moduleJson(this.view, module), etagHeader(module.etag));
  }

  private createModule(device: DeviceIdentity, moduleId: string, managedBy: string | undefined): ModuleIdentity {
    try {
      return this.registry.createModule(device, moduleId, managedBy);
    } catch (err) {
      if (err instanceof RegistryLimitError) throw new HubApiError(403, 'TooManyModulesOnDevice', err.message);
      throw err;
    }
  }

  deleteModule(ctx: RouteContext): ApiReply {
    const [deviceId, moduleId] = ctx.params as [string, string];
    checkModuleId(moduleId, true);
    this.gate('write');
    const module = this.module(deviceId, moduleId);
    if (!etagMatches(ifMatch(ctx.req), module.etag)) throw preconditionFailed('module');
    this.registry.deleteModule(this.device(deviceId), moduleId);
    return { status: 204 };
  }

  // ---- bulk ----

  /**
   * Up to BULK_RECORDS_LIMIT records, each with an `importMode`, run in order; a record that fails does not stop
   * the others. 200 when all succeed; otherwise 400 with every failure named (`errors`), as IoT Hub answers.
   */
  async bulk(ctx: RouteContext): Promise<ApiReply> {
    const records = await ctx.body();
    if (!Array.isArray(records) || records.length === 0 || records.length > BULK_RECORDS_LIMIT) {
      throw badRequest(`a bulk request is an array of 1-${BULK_RECORDS_LIMIT} device records`);
    }
    this.gate('write', records.length);
    const errors: JsonObject[] = [];
    for (const [index, raw] of records.entries()) {
      const id = isJsonObject(raw) && typeof raw.id === 'string' ? raw.id : undefined;
      try {
        this.bulkRecord(requireObject(raw, `record ${index}`), id);
      } catch (err) {
        if (!(err instanceof ServiceError)) throw err;
        errors.push({ deviceId: id ?? null, errorCode: err.code, errorStatus: err.message });
      }
    }
    const body = { isSuccessful: errors.length === 0, errors, warnings: [] };
    return json(body, {}, errors.length === 0 ? 200 : 400);
  }

  private bulkRecord(record: JsonObject, id: string | undefined): void {
    if (id === undefined) throw badRequest('the record has no "id"');
    checkDeviceId(id);
    const mode = typeof record.importMode === 'string' ? record.importMode.toLowerCase() : 'createorupdate';
    if (!(BULK_MODES as readonly string[]).includes(mode)) {
      throw badRequest(`importMode ${JSON.stringify(record.importMode)} is not one of ${BULK_MODES.join(', ')}`);
    }
    const etag = typeof record.eTag === 'string' ? record.eTag : typeof record.etag === 'string' ? record.etag : '';
    switch (mode as BulkMode) {
      case 'create':
        this.create(id, record);
        return;
      case 'update':
        if (this.registry.get(id) === undefined) this.create(id, record);
        else this.replace(id, record, '*');
        return;
      case 'updateifmatchetag':
        this.replace(id, record, etag);
        return;
      case 'delete':
        this.remove(id, '*');
        return;
      case 'deleteifmatchetag':
        this.remove(id, etag);
        return;
    }
  }
}
