/**
 * How a route reads a message's properties, as edgeHub does: both property bags ignore case (Message.cs builds
 * them with StringComparer.OrdinalIgnoreCase), and the system properties edgeHub stamps on every message it takes
 * in (connectionDeviceId, connectionModuleId, outputName, edgeHubOriginInterface) follow from where it came from.
 *
 * Sources (facts only): Azure/iotedge at 55353a649ea9d624a684428fab2d925a81bcda07, edge-hub/core/src/
 * Microsoft.Azure.Devices.Routing.Core/Message.cs, Microsoft.Azure.Devices.Edge.Hub.Core/SystemProperties.cs,
 * Microsoft.Azure.Devices.Edge.Hub.Core/routing/RoutingEdgeHub.cs (AddEdgeSystemProperties),
 * Microsoft.Azure.Devices.Edge.Hub.Core/routing/RoutingMessageConverter.cs.
 */

export type RouteSource =
  | { kind: 'module'; moduleId: string; output: string } // a module output ('' when sent without an output name)
  | { kind: 'device'; deviceId: string } // a downstream (leaf) device
  | { kind: 'twinChangeNotification'; deviceId: string; moduleId?: string };

export interface RouteMessage {
  source: RouteSource;
  /** Application properties (already decoded); null for a property sent without a value. */
  properties: Readonly<Record<string, string | null>>;
  /**
   * System properties by their route-query names: contentType, contentEncoding, connectionDeviceId,
   * connectionModuleId, messageId, correlationId, userId, outputName, ... Looked up case-insensitively, as edgeHub
   * does; connectionModuleId/connectionDeviceId/outputName fall back to what `source` says.
   */
  systemProperties: Readonly<Record<string, string | undefined>>;
  /** Treated as immutable: the parsed JSON is cached per message. */
  body: Buffer;
}

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** Ordinal case-insensitive equality (edgeHub's property bags use StringComparer.OrdinalIgnoreCase). */
export function equalsIgnoreCase(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x < 128 && y < 128) {
      const lx = x | 0x20;
      if (lx < 97 || lx > 122 || lx !== (y | 0x20)) return false;
    } else if (a[i]!.toUpperCase() !== b[i]!.toUpperCase()) {
      return false;
    }
  }
  return true;
}

/** Case-insensitive property read without allocating: exact key first, then a scan. */
export function lookupIgnoreCase(
  bag: Readonly<Record<string, string | null | undefined>>,
  name: string,
): string | null | undefined {
  if (hasOwn(bag, name)) {
    const v = bag[name];
    if (v !== undefined) return v;
  }
  for (const key in bag) {
    if (key !== name && equalsIgnoreCase(key, name) && hasOwn(bag, key)) {
      const v = bag[key];
      if (v !== undefined) return v;
    }
  }
  return undefined;
}

// Constants.InternalOriginInterface / DownstreamOriginInterface: from the IoT Edge device itself (its modules) or
// from a downstream device.
const INTERNAL = 'internal';
const DOWNSTREAM = 'downstream';

/**
 * A system property by its route-query name. The message's own systemProperties come first; identity that the
 * source already states fills the gaps, because in edgeHub the source is derived from those very properties
 * (RoutingMessageConverter), so they cannot disagree.
 */
export function readSystemProperty(m: RouteMessage, name: string): string | undefined {
  const v = lookupIgnoreCase(m.systemProperties, name);
  if (typeof v === 'string') return v;
  const src = m.source;
  switch (src.kind) {
    case 'module':
      if (equalsIgnoreCase(name, 'connectionModuleId')) return src.moduleId;
      if (equalsIgnoreCase(name, 'outputName') && src.output !== '') return src.output;
      if (equalsIgnoreCase(name, 'edgeHubOriginInterface')) return INTERNAL;
      return undefined;
    case 'device':
      if (equalsIgnoreCase(name, 'connectionDeviceId')) return src.deviceId;
      if (equalsIgnoreCase(name, 'edgeHubOriginInterface')) return DOWNSTREAM;
      return undefined;
    case 'twinChangeNotification':
      if (equalsIgnoreCase(name, 'connectionDeviceId')) return src.deviceId;
      if (equalsIgnoreCase(name, 'connectionModuleId')) return src.moduleId;
      if (equalsIgnoreCase(name, 'messageType')) return 'twinChangeNotification';
      return undefined;
    default:
      return undefined;
  }
}
