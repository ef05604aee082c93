// Twin documents: desired and reported sections with versions and JSON merge patches (docs/protocol.md §1.7).

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export const isJsonObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** IoT Hub's limit for each of desired and reported. */
export const TWIN_SECTION_LIMIT_BYTES = 32 * 1024;

export class TwinSection {
  /** Properties without `$version`. */
  value: JsonObject = {};
  version = 1;
  /** Last update time of each top-level key, for IoT Central's `$metadata`. */
  readonly updatedAt = new Map<string, string>();

  /** The section as a client sees it, `$version` included. */
  toJson(): JsonObject {
    return { ...this.value, $version: this.version };
  }

  /**
   * Applies a merge patch (`null` deletes; `$`-prefixed keys ignored). Returns false and changes nothing
   * when the result would exceed the size limit.
   */
  apply(patch: JsonObject, now: string): boolean {
    const next = structuredClone(this.value);
    mergePatch(next, patch);
    if (Buffer.byteLength(JSON.stringify(next)) > TWIN_SECTION_LIMIT_BYTES) return false;
    this.value = next;
    this.version += 1;
    for (const key of Object.keys(patch)) if (!key.startsWith('$')) this.updatedAt.set(key, now);
    return true;
  }

  /** Replaces everything (a PUT): what is absent is removed, at any depth. */
  replace(value: JsonObject, now: string): boolean {
    return this.apply(mergePatchBetween(this.value, value), now);
  }
}

/** The JSON merge patch that turns `from` into `to` (null removes; nested objects are diffed). */
export function mergePatchBetween(from: JsonObject, to: JsonObject): JsonObject {
  const patch: JsonObject = {};
  for (const key of Object.keys(from)) if (!(key in to)) patch[key] = null;
  for (const [key, value] of Object.entries(to)) {
    const before = from[key];
    if (isJsonObject(value) && isJsonObject(before)) {
      const inner = mergePatchBetween(before, value);
      if (Object.keys(inner).length > 0) patch[key] = inner;
    } else if (JSON.stringify(before) !== JSON.stringify(value)) {
      patch[key] = value;
    }
  }
  return patch;
}

export function mergePatch(target: JsonObject, patch: JsonObject): void {
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) continue;
    if (value === null) {
      delete target[key];
    } else if (isJsonObject(value)) {
      const existing = target[key];
      const into: JsonObject = isJsonObject(existing) ? existing : {};
      mergePatch(into, value);
      target[key] = into;
    } else {
      target[key] = value;
    }
  }
}

export class Twin {
  readonly desired = new TwinSection();
  readonly reported = new TwinSection();

  /** The body of a twin GET response. */
  toJson(): { desired: JsonObject; reported: JsonObject } {
    return { desired: this.desired.toJson(), reported: this.reported.toJson() };
  }
}
