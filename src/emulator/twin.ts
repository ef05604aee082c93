// Twin documents: desired and reported sections with versions and JSON merge patches (docs/protocol.md §1.7).
import { findPrototypeKey, nestingBelowRoot, PROTOTYPE_KEY } from '../protocol/index.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export const isJsonObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** IoT Hub's limit for each of desired and reported. */
export const TWIN_SECTION_LIMIT_BYTES = 32 * 1024;

/** IoT Hub's limit for a twin's tags (docs/protocol.md §7.1). */
export const TWIN_TAGS_LIMIT_BYTES = 8 * 1024;

/**
 * IoT Hub's limit on nesting in tags, desired and reported properties: "the maximum depth of JSON objects ... is 10"
 * (learn.microsoft.com, azure/iot-hub/iot-hub-devguide-device-twins, "Depth"; its example nests `one` … `ten` below
 * `tags`). Counted below the section root; arrays count as a level too.
 */
export const TWIN_MAX_DEPTH = 10;

/** Why a twin write was refused; each is a 400 for the writer. */
export type TwinRefusal = 'tooLarge' | 'tooDeep' | 'prototypeKey';

/** A message for each refusal, naming the limit. */
export const TWIN_REFUSAL_MESSAGES: Record<TwinRefusal, string> = {
  tooLarge: `properties would exceed ${TWIN_SECTION_LIMIT_BYTES / 1024} KB`,
  tooDeep: `properties nest deeper than ${TWIN_MAX_DEPTH} levels`,
  prototypeKey: `the key "${PROTOTYPE_KEY}" is not accepted`,
};

/** Why `patch` cannot be written into a section, or undefined. Iterative, so any patch is safe to check. */
export function twinPatchRefusal(patch: JsonObject): TwinRefusal | undefined {
  if (findPrototypeKey(patch) !== undefined) return 'prototypeKey';
  if (nestingBelowRoot(patch) > TWIN_MAX_DEPTH) return 'tooDeep';
  return undefined;
}

const noop = () => {};

export class TwinSection {
  /** Properties without `$version`. */
  value: JsonObject = {};
  version = 1;
  /** Last update time of each top-level key, for IoT Central's `$metadata`. */
  readonly updatedAt = new Map<string, string>();

  /** `onChange` is told after every change (the store records the twin). */
  constructor(private readonly onChange: () => void = noop) {}

  /** Puts back what was recorded: properties, version and update times, as they were. */
  restore(value: JsonObject, version: number, updatedAt: Record<string, string>): void {
    this.value = value;
    this.version = version;
    this.updatedAt.clear();
    for (const [key, at] of Object.entries(updatedAt)) this.updatedAt.set(key, at);
  }

  /** The section as a client sees it, `$version` included. */
  toJson(): JsonObject {
    return { ...this.value, $version: this.version };
  }

  /**
   * Applies a merge patch (`null` deletes; `$`-prefixed keys ignored). Returns why it was refused, changing
   * nothing, when the patch nests too deep, carries a `__proto__` key or the result would exceed the size limit.
   */
  apply(patch: JsonObject, now: string): TwinRefusal | undefined {
    const refusal = twinPatchRefusal(patch);
    if (refusal !== undefined) return refusal;
    // Both the section and the patch are at most TWIN_MAX_DEPTH deep, so structuredClone's recursion is bounded.
    const next = structuredClone(this.value);
    mergePatch(next, patch);
    if (Buffer.byteLength(JSON.stringify(next)) > TWIN_SECTION_LIMIT_BYTES) return 'tooLarge';
    this.value = next;
    this.version += 1;
    for (const key of Object.keys(patch)) if (!key.startsWith('$')) this.updatedAt.set(key, now);
    this.onChange();
    return undefined;
  }

  /** Replaces everything (a PUT): what is absent is removed, at any depth. */
  replace(value: JsonObject, now: string): TwinRefusal | undefined {
    const refusal = twinPatchRefusal(value);
    return refusal ?? this.apply(mergePatchBetween(this.value, value), now);
  }
}

const ownValue = (o: JsonObject, key: string): Json | undefined => (Object.hasOwn(o, key) ? o[key] : undefined);

/** Sets an own property whatever the key, never invoking a setter (not even `__proto__`'s). */
function setOwn(o: JsonObject, key: string, value: Json): void {
  Object.defineProperty(o, key, { value, writable: true, enumerable: true, configurable: true });
}

/**
 * The JSON merge patch that turns `from` into `to` (null removes; nested objects are diffed). Recurses only where
 * both sides are objects, so no deeper than `from`, a twin section (TWIN_MAX_DEPTH).
 */
export function mergePatchBetween(from: JsonObject, to: JsonObject): JsonObject {
  const patch: JsonObject = {};
  for (const key of Object.keys(from)) if (!Object.hasOwn(to, key)) setOwn(patch, key, null);
  for (const [key, value] of Object.entries(to)) {
    const before = ownValue(from, key);
    if (isJsonObject(value) && isJsonObject(before)) {
      const inner = mergePatchBetween(before, value);
      if (Object.keys(inner).length > 0) setOwn(patch, key, inner);
    } else if (JSON.stringify(before) !== JSON.stringify(value)) {
      setOwn(patch, key, value);
    }
  }
  return patch;
}

/** Merges `patch` into `target` in place, reading own keys only. Iterative: an explicit stack, not recursion. */
export function mergePatch(target: JsonObject, patch: JsonObject): void {
  const stack: [JsonObject, JsonObject][] = [[target, patch]];
  while (stack.length > 0) {
    const [into, from] = stack.pop() as [JsonObject, JsonObject];
    for (const [key, value] of Object.entries(from)) {
      if (key.startsWith('$')) continue;
      if (value === null) {
        delete into[key];
      } else if (isJsonObject(value)) {
        const existing = ownValue(into, key);
        const inner: JsonObject = isJsonObject(existing) ? existing : {};
        setOwn(into, key, inner);
        stack.push([inner, value]);
      } else {
        setOwn(into, key, value);
      }
    }
  }
}

export class Twin {
  readonly desired: TwinSection;
  readonly reported: TwinSection;
  /** What the back end keeps on the twin (IoT Hub's tags): devices never see them. */
  tags: JsonObject = {};
  /** How many times the tags changed: with the desired version, the twin's version and ETag. */
  tagsVersion = 0;

  /** `onChange` is told after every change of either section or of the tags. */
  constructor(private readonly onChange: () => void = noop) {
    this.desired = new TwinSection(onChange);
    this.reported = new TwinSection(onChange);
  }

  /** Replaces the tags (already checked against the limits) and counts the change. */
  setTags(tags: JsonObject): void {
    this.tags = tags;
    this.tagsVersion += 1;
    this.onChange();
  }

  /** The version of what the back end writes (tags and desired properties), as IoT Hub's twin `version`. */
  get version(): number {
    return this.desired.version + this.tagsVersion;
  }

  /** The twin's ETag: its version as 8 big-endian bytes in base64, the form IoT Hub's twin ETags have. */
  get etag(): string {
    const bytes = Buffer.alloc(8);
    bytes.writeBigUInt64BE(BigInt(this.version));
    return bytes.toString('base64');
  }

  /** The body of a twin GET response. */
  toJson(): { desired: JsonObject; reported: JsonObject } {
    return { desired: this.desired.toJson(), reported: this.reported.toJson() };
  }
}
