// Property bags on IoT Hub topics: `k1=v1&k2=v2`, each part URL-encoded (docs/protocol.md §1.4).

/** A value of `null` is a key without `=` (how C2D carries null properties). */
export type PropertyBag = Record<string, string | null>;

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** Encodes like Node's querystring: `$` becomes `%24`, spaces `%20`. Keys keep their order. */
export function encodePropertyBag(bag: PropertyBag): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(bag)) {
    if (value === undefined) continue;
    const k = encodeURIComponent(key);
    parts.push(value === null ? k : `${k}=${encodeURIComponent(value)}`);
  }
  return parts.join('&');
}

/** Decodes keys and values; `$.mid` and `%24.mid` give the same key. Empty parts are skipped. */
export function decodePropertyBag(text: string): PropertyBag {
  const bag: PropertyBag = {};
  if (text.length === 0) return bag;
  for (const part of text.split('&')) {
    if (part.length === 0) continue;
    const eq = part.indexOf('=');
    if (eq < 0) bag[decode(part)] = null;
    else bag[decode(part.slice(0, eq))] = decode(part.slice(eq + 1));
  }
  return bag;
}

/** System property keys as they appear on the wire (decoded) and what they mean. */
export const systemProperty = {
  messageId: '$.mid',
  correlationId: '$.cid',
  userId: '$.uid',
  to: '$.to',
  expiry: '$.exp',
  contentType: '$.ct',
  contentEncoding: '$.ce',
  outputName: '$.on',
  component: '$.sub',
  interfaceId: '$.ifid',
  connectionDeviceId: '$.cdid',
  connectionModuleId: '$.cmid',
  messageSchema: '$.schema',
  creationTime: '$.ctime',
} as const;

/** The D2C timestamp IoT Central prefers over enqueued time (docs/protocol.md §1.4). */
export const CREATION_TIME_PROPERTY = 'iothub-creation-time-utc';

/** Splits a bag into system properties (by their readable names) and application properties. */
export function splitProperties(bag: PropertyBag): {
  system: Partial<Record<keyof typeof systemProperty, string>>;
  application: PropertyBag;
} {
  const system: Partial<Record<keyof typeof systemProperty, string>> = {};
  const application: PropertyBag = {};
  const byWire = wireToName();
  for (const [key, value] of Object.entries(bag)) {
    const name = byWire.get(key);
    if (name !== undefined && value !== null) system[name] = value;
    else application[key] = value;
  }
  return { system, application };
}

let wireNames: Map<string, keyof typeof systemProperty> | undefined;
function wireToName(): Map<string, keyof typeof systemProperty> {
  wireNames ??= new Map(
    (Object.entries(systemProperty) as [keyof typeof systemProperty, string][]).map(([name, wire]) => [wire, name]),
  );
  return wireNames;
}
