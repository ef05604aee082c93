// Twins, direct methods and IoT Edge configuration content as the hub's service API serves them. Desired writes go
// through the same service operation as the IoT Central-shaped REST API, so connected devices get them as desired
// patches with their versions; configuration content goes through what assigning a deployment manifest does.
import { checkModulesContent, ServiceError, type MethodResult } from '../service.js';
import {
  isJsonObject,
  mergePatch,
  TWIN_REFUSAL_MESSAGES,
  TWIN_TAGS_LIMIT_BYTES,
  twinPatchRefusal,
  type Json,
  type JsonObject,
  type Twin,
} from '../twin.js';
import type { DeviceIdentity, ModuleIdentity } from '../registry.js';
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
import { deviceTwinJson, moduleTwinJson, type ViewContext } from './views.js';

/** How often a method call waiting for its device (connectTimeoutInSeconds) looks again. */
const CONNECT_POLL_MS = 100;

/** IoT Hub's bounds for a method's timeouts, in seconds. */
const RESPONSE_TIMEOUT = { default: 30, min: 5, max: 300 };
const CONNECT_TIMEOUT = { default: 0, min: 0, max: 300 };

interface Target {
  device: DeviceIdentity;
  module?: ModuleIdentity;
  twin: Twin;
}

function seconds(body: JsonObject, key: string, bounds: { default: number; min: number; max: number }): number {
  const value = body[key];
  if (value === undefined || value === null) return bounds.default;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < bounds.min || value > bounds.max) {
    throw badRequest(`${key} must be a whole number of seconds from ${bounds.min} to ${bounds.max}`);
  }
  return value;
}

/** The tags after a PATCH (merge) or PUT (replace), checked against IoT Hub's limits. */
function nextTags(current: JsonObject, given: Json, replace: boolean): JsonObject {
  if (!isJsonObject(given)) throw badRequest('"tags" must be a JSON object');
  const refusal = twinPatchRefusal(given);
  if (refusal !== undefined) throw badRequest(`tags: ${TWIN_REFUSAL_MESSAGES[refusal]}`, 'ArgumentInvalid');
  const next = replace ? {} : structuredClone(current);
  mergePatch(next, given);
  if (Buffer.byteLength(JSON.stringify(next)) > TWIN_TAGS_LIMIT_BYTES) {
    throw badRequest(`tags would exceed ${TWIN_TAGS_LIMIT_BYTES / 1024} KB`, 'TwinTooLarge');
  }
  return next;
}

export class TwinRoutes {
  constructor(
    private readonly opts: ServiceApiOptions,
    private readonly view: ViewContext,
  ) {}

  private target(ctx: RouteContext): Target {
    const [deviceId, moduleId] = ctx.params as [string, string | undefined];
    const device = this.opts.service.registry.get(deviceId);
    if (device === undefined) throw deviceNotFound(deviceId);
    if (moduleId === undefined) return { device, twin: device.twin };
    const module = device.modules.get(moduleId);
    if (module === undefined) throw moduleNotFound(deviceId, moduleId);
    return { device, module, twin: module.twin };
  }

  private twinReply(t: Target): ApiReply {
    const body =
      t.module === undefined ? deviceTwinJson(this.view, t.device) : moduleTwinJson(this.view, t.device, t.module);
    return json(body, etagHeader(t.twin.etag));
  }

  get(ctx: RouteContext): ApiReply {
    return this.twinReply(this.target(ctx));
  }

  /** PATCH merges tags and desired properties; PUT replaces both. `If-Match` is checked against the twin's ETag. */
  async write(ctx: RouteContext, replace: boolean): Promise<ApiReply> {
    const body = requireObject(await ctx.body());
    const t = this.target(ctx);
    if (!etagMatches(ifMatch(ctx.req), t.twin.etag)) throw preconditionFailed('twin');
    const properties = body.properties === undefined ? {} : requireObject(body.properties, '"properties"');
    if (properties.reported !== undefined) throw badRequest('reported properties are written by the device only');
    const tags = body.tags === undefined ? (replace ? {} : undefined) : nextTags(t.twin.tags, body.tags, replace);
    const desired = properties.desired ?? (replace ? {} : undefined);
    if (desired !== undefined) {
      if (!isJsonObject(desired)) throw badRequest('"properties.desired" must be a JSON object');
      this.opts.service.writeDesired(t.device.id, t.module?.moduleId, desired, replace);
    }
    if (tags !== undefined) t.twin.setTags(tags);
    return this.twinReply(t);
  }

  /** A direct method: waits up to connectTimeoutInSeconds for the device, then up to responseTimeoutInSeconds. */
  async invoke(ctx: RouteContext): Promise<ApiReply> {
    const body = requireObject(await ctx.body());
    const name = body.methodName;
    if (typeof name !== 'string' || name.length === 0 || name.length > 128) {
      throw badRequest('"methodName" must be a string of 1-128 characters');
    }
    const responseTimeout = seconds(body, 'responseTimeoutInSeconds', RESPONSE_TIMEOUT);
    const connectTimeout = seconds(body, 'connectTimeoutInSeconds', CONNECT_TIMEOUT);
    const t = this.target(ctx);
    const result = await this.invokeWhenOnline(t, name, body.payload ?? null, responseTimeout, connectTimeout);
    return json({ status: result.status, payload: result.payload });
  }

  /**
   * Invokes once the device listens for methods: until connectTimeoutInSeconds has passed, a device that is not
   * connected, or is connected but not yet subscribed, is waited for and tried again.
   */
  private async invokeWhenOnline(
    t: Target,
    name: string,
    payload: Json,
    responseTimeout: number,
    connectTimeout: number,
  ): Promise<MethodResult> {
    const deadline = Date.now() + connectTimeout * 1000;
    const moduleId = t.module?.moduleId;
    for (;;) {
      try {
        return await this.opts.service.invokeMethod(t.device.id, moduleId, name, payload, responseTimeout);
      } catch (err) {
        if (!(err instanceof ServiceError)) throw err;
        if (err.code === 'GatewayTimeout') throw new HubApiError(504, 'GatewayTimeout', err.message);
        if (err.code !== 'DeviceNotOnline' || Date.now() + CONNECT_POLL_MS > deadline) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, CONNECT_POLL_MS));
    }
  }

  /** `modulesContent` sets the desired properties of `$edgeAgent`, `$edgeHub` and the modules, as a manifest does. */
  async applyConfigurationContent(ctx: RouteContext): Promise<ApiReply> {
    const body = requireObject(await ctx.body());
    const deviceId = ctx.params[0] as string;
    const device = this.opts.service.registry.get(deviceId);
    if (device === undefined) throw deviceNotFound(deviceId);
    if (body.modulesContent === undefined) {
      throw badRequest('the emulator applies "modulesContent" only (IoT Edge deployments), and the body has none');
    }
    checkModulesContent(body);
    this.opts.service.applyModulesContent(device, body.modulesContent);
    // The REST API no longer shows a manifest as assigned: what the device runs came from here.
    if (device.deploymentManifestId !== undefined) {
      delete device.deploymentManifestId;
      this.opts.service.registry.changed(device);
    }
    return { status: 204 };
  }
}
