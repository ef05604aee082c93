// IoT Hub and DPS MQTT topics: builders and one parser for all of them (docs/protocol.md §1.3, §3.2).
import { decodePropertyBag, encodePropertyBag, type PropertyBag } from './property-bag.js';

export type Identity = { deviceId: string; moduleId?: string };

const identityPrefix = (id: Identity) =>
  id.moduleId === undefined ? `devices/${id.deviceId}` : `devices/${id.deviceId}/modules/${id.moduleId}`;

function withBag(base: string, bag?: PropertyBag): string {
  if (bag === undefined) return base;
  const encoded = encodePropertyBag(bag);
  return encoded.length === 0 ? base : base + encoded;
}

export const topic = {
  /** D2C telemetry, device or module form; the bag is appended after the trailing `/`. */
  telemetry: (id: Identity, bag?: PropertyBag) => withBag(`${identityPrefix(id)}/messages/events/`, bag),
  c2d: (deviceId: string, bag?: PropertyBag) => withBag(`devices/${deviceId}/messages/devicebound/`, bag),
  moduleInput: (deviceId: string, moduleId: string, input: string, bag?: PropertyBag) =>
    withBag(`devices/${deviceId}/modules/${moduleId}/inputs/${input}/`, bag),
  twinGet: (rid: string) => `$iothub/twin/GET/?$rid=${rid}`,
  twinReportedPatch: (rid: string) => `$iothub/twin/PATCH/properties/reported/?$rid=${rid}`,
  twinResponse: (status: number, rid: string, version?: number) =>
    `$iothub/twin/res/${status}/?$rid=${rid}${version === undefined ? '' : `&$version=${version}`}`,
  desiredPatch: (version: number) => `$iothub/twin/PATCH/properties/desired/?$version=${version}`,
  methodRequest: (name: string, rid: string) => `$iothub/methods/POST/${name}/?$rid=${rid}`,
  methodResponse: (status: number, rid: string) => `$iothub/methods/res/${status}/?$rid=${rid}`,
  dpsRegister: (rid: string) => `$dps/registrations/PUT/iotdps-register/?$rid=${rid}`,
  dpsPoll: (rid: string, operationId: string) =>
    `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=${rid}&operationId=${encodeURIComponent(operationId)}`,
  dpsResponse: (status: number, rid: string, retryAfterSeconds?: number) =>
    `$dps/registrations/res/${status}/?$rid=${rid}${retryAfterSeconds === undefined ? '' : `&retry-after=${retryAfterSeconds}`}`,
} as const;

/** Subscription filters a client of each kind uses. */
export const filter = {
  c2d: (deviceId: string) => `devices/${deviceId}/messages/devicebound/#`,
  moduleInputs: (deviceId: string, moduleId: string) => `devices/${deviceId}/modules/${moduleId}/inputs/#`,
  moduleAll: (deviceId: string, moduleId: string) => `devices/${deviceId}/modules/${moduleId}/#`,
  twinResponses: '$iothub/twin/res/#',
  desiredPatches: '$iothub/twin/PATCH/properties/desired/#',
  methods: '$iothub/methods/POST/#',
  dpsResponses: '$dps/registrations/res/#',
} as const;

/** The filters IoT Hub accepts from an identity; anything else is refused. */
export function allowedFilters(id: Identity): string[] {
  const common = [filter.twinResponses, filter.desiredPatches, filter.methods];
  return id.moduleId === undefined
    ? [filter.c2d(id.deviceId), ...common]
    : [filter.moduleInputs(id.deviceId, id.moduleId), filter.moduleAll(id.deviceId, id.moduleId), ...common];
}

export type ParsedTopic =
  | { kind: 'telemetry'; deviceId: string; moduleId?: string; properties: PropertyBag }
  | { kind: 'c2d'; deviceId: string; properties: PropertyBag }
  | { kind: 'moduleInput'; deviceId: string; moduleId: string; input: string; properties: PropertyBag }
  | { kind: 'twinGet'; rid: string }
  | { kind: 'twinReportedPatch'; rid: string }
  | { kind: 'twinResponse'; status: number; rid: string; version?: number; retryAfterSeconds?: number }
  | { kind: 'desiredPatch'; version: number }
  | { kind: 'methodRequest'; name: string; rid: string }
  | { kind: 'methodResponse'; status: number; rid: string }
  | { kind: 'dpsRegister'; rid: string }
  | { kind: 'dpsPoll'; rid: string; operationId: string }
  | { kind: 'dpsResponse'; status: number; rid: string; retryAfterSeconds?: number };

/** Splits `path/?a=1&b=2` (or `path?a=1`) into the path without trailing `/` and its query bag. */
function splitQuery(rest: string): { path: string; query: PropertyBag } {
  const q = rest.indexOf('?');
  const path = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? {} : decodePropertyBag(rest.slice(q + 1));
  return { path: path.endsWith('/') ? path.slice(0, -1) : path, query };
}

const STATUS = /^\d{3}$/;
const nonEmpty = (s: string | undefined): s is string => s !== undefined && s.length > 0;

function requiredParam(query: PropertyBag, key: string): string | undefined {
  const value = query[key];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function optionalInt(query: PropertyBag, key: string): number | undefined | null {
  const value = query[key];
  if (value === undefined) return undefined;
  if (value === null || !/^\d+$/.test(value)) return null;
  return Number(value);
}

function parseDevicesTopic(t: string): ParsedTopic | undefined {
  // devices/{d}/messages/events/{bag} | devices/{d}/modules/{m}/messages/events/{bag}
  // devices/{d}/messages/devicebound/{bag} | devices/{d}/modules/{m}/inputs/{input}/{bag}
  const parts = t.split('/');
  const deviceId = parts[1];
  if (!nonEmpty(deviceId)) return undefined;
  let i = 2;
  let moduleId: string | undefined;
  if (parts[i] === 'modules') {
    moduleId = parts[i + 1];
    if (!nonEmpty(moduleId)) return undefined;
    i += 2;
  }
  // The bag is one segment (it cannot contain '/'); a trailing '/' after it is allowed (edgeHub sends one).
  const bagOf = (from: number) => {
    if (parts.length > from + 2 || (parts.length === from + 2 && parts[from + 1] !== '')) return undefined;
    return decodePropertyBag(parts[from] ?? '');
  };
  if (parts[i] === 'messages' && parts[i + 1] === 'events') {
    const properties = bagOf(i + 2);
    if (properties === undefined) return undefined;
    return moduleId === undefined
      ? { kind: 'telemetry', deviceId, properties }
      : { kind: 'telemetry', deviceId, moduleId, properties };
  }
  if (moduleId === undefined && parts[i] === 'messages' && parts[i + 1] === 'devicebound') {
    const properties = bagOf(i + 2);
    return properties === undefined ? undefined : { kind: 'c2d', deviceId, properties };
  }
  if (moduleId !== undefined && parts[i] === 'inputs' && nonEmpty(parts[i + 1])) {
    const properties = bagOf(i + 2);
    return properties === undefined
      ? undefined
      : { kind: 'moduleInput', deviceId, moduleId, input: parts[i + 1] as string, properties };
  }
  return undefined;
}

function parseIotHubTopic(t: string): ParsedTopic | undefined {
  const { path, query } = splitQuery(t.slice('$iothub/'.length));
  const rid = requiredParam(query, '$rid');
  if (path === 'twin/GET') return rid === undefined ? undefined : { kind: 'twinGet', rid };
  if (path === 'twin/PATCH/properties/reported')
    return rid === undefined ? undefined : { kind: 'twinReportedPatch', rid };
  if (path === 'twin/PATCH/properties/desired') {
    const version = optionalInt(query, '$version');
    return typeof version === 'number' ? { kind: 'desiredPatch', version } : undefined;
  }
  const segments = path.split('/');
  if (segments[0] === 'twin' && segments[1] === 'res' && segments.length === 3 && STATUS.test(segments[2] ?? '')) {
    const version = optionalInt(query, '$version');
    const retryAfterSeconds = optionalInt(query, 'retry-after');
    if (rid === undefined || version === null) return undefined;
    const status = Number(segments[2]);
    // A throttled answer (429) may say how long to wait.
    return {
      kind: 'twinResponse',
      status,
      rid,
      ...(version === undefined ? {} : { version }),
      ...(typeof retryAfterSeconds === 'number' ? { retryAfterSeconds } : {}),
    };
  }
  if (segments[0] === 'methods' && segments.length === 3 && rid !== undefined) {
    const third = segments[2] ?? '';
    if (segments[1] === 'POST' && third.length > 0) return { kind: 'methodRequest', name: third, rid };
    if (segments[1] === 'res' && /^-?\d+$/.test(third)) return { kind: 'methodResponse', status: Number(third), rid };
  }
  return undefined;
}

function parseDpsTopic(t: string): ParsedTopic | undefined {
  const { path, query } = splitQuery(t.slice('$dps/registrations/'.length));
  const rid = requiredParam(query, '$rid');
  if (rid === undefined) return undefined;
  if (path === 'PUT/iotdps-register') return { kind: 'dpsRegister', rid };
  if (path === 'GET/iotdps-get-operationstatus') {
    const operationId = requiredParam(query, 'operationId');
    return operationId === undefined ? undefined : { kind: 'dpsPoll', rid, operationId };
  }
  const segments = path.split('/');
  if (segments[0] === 'res' && segments.length === 2 && STATUS.test(segments[1] ?? '')) {
    const retry = optionalInt(query, 'retry-after');
    if (retry === null) return undefined;
    const status = Number(segments[1]);
    return retry === undefined
      ? { kind: 'dpsResponse', status, rid }
      : { kind: 'dpsResponse', status, rid, retryAfterSeconds: retry };
  }
  return undefined;
}

/** Parses any topic of the IoT Hub and DPS dialect; `undefined` for a topic IoT Hub does not know. */
export function parseTopic(t: string): ParsedTopic | undefined {
  if (t.startsWith('devices/')) return parseDevicesTopic(t);
  if (t.startsWith('$iothub/')) return parseIotHubTopic(t);
  if (t.startsWith('$dps/registrations/')) return parseDpsTopic(t);
  return undefined;
}

/** A direct method's request or response payload: JSON when it parses, else the text; empty is undefined. */
export function parseMethodPayload(payload: Buffer): unknown {
  if (payload.length === 0) return undefined;
  const text = payload.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
