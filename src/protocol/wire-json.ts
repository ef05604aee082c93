// JSON that arrives from a client (MQTT payloads, HTTP bodies) turned into plain data: nesting bounded before
// parsing, and no `__proto__` key anywhere, so that no later merge, spread or assignment can reach a prototype.

/** Why a text was not accepted as wire JSON. */
export type WireJsonProblem = 'syntax' | 'tooDeep' | 'prototypeKey';

export class WireJsonError extends Error {
  constructor(
    readonly problem: WireJsonProblem,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Deepest nesting of objects and arrays accepted from the wire. Generous for every document the emulator takes
 * (a twin section is 10 deep below its root, a deployment manifest adds 3 levels above that), small enough that
 * every recursive walk over parsed data stays far from the stack limit.
 */
export const WIRE_JSON_MAX_DEPTH = 32;

/**
 * The one key refused anywhere in a document. JSON.parse makes it an own property, but an assignment or
 * Object.assign with it replaces a prototype. `constructor` and `prototype` are ordinary data as long as merges
 * read own keys only (they do), so they are accepted: IoT Hub accepts them as property names.
 */
export const PROTOTYPE_KEY = '__proto__';

/**
 * How deep objects and arrays nest in `text`, counted without parsing (the root container is 1); stops and
 * returns `limit + 1` as soon as the text goes deeper than `limit`. Iterative, so any input is safe.
 */
export function jsonNestingDepth(text: string, limit = Number.MAX_SAFE_INTEGER): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i += 1;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth += 1;
      if (depth > deepest) deepest = depth;
      if (deepest > limit) return limit + 1;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth -= 1;
    }
  }
  return deepest;
}

/** The path (`a.b.__proto__`) of the first `__proto__` key in parsed data, or undefined. Iterative. */
export function findPrototypeKey(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  // Only containers are stacked, and a path is built only for them: a flat body allocates nothing per key.
  const stack: { value: object; path: string }[] = [{ value, path: '' }];
  while (stack.length > 0) {
    const item = stack.pop() as { value: object; path: string };
    for (const key of Object.keys(item.value)) {
      if (key === PROTOTYPE_KEY) return item.path === '' ? key : `${item.path}.${key}`;
      const child = (item.value as Record<string, unknown>)[key];
      if (typeof child !== 'object' || child === null) continue;
      stack.push({ value: child, path: item.path === '' ? key : `${item.path}.${key}` });
    }
  }
  return undefined;
}

/**
 * Parses JSON from a client. Throws WireJsonError: `tooDeep` past `maxDepth` levels of nesting (checked before
 * parsing), `syntax` for text that is not JSON, `prototypeKey` for a `__proto__` key at any depth.
 */
export function parseWireJson(text: string, maxDepth = WIRE_JSON_MAX_DEPTH): unknown {
  if (jsonNestingDepth(text, maxDepth) > maxDepth) {
    throw new WireJsonError('tooDeep', `JSON nested deeper than ${maxDepth} levels`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err) {
    throw new WireJsonError('syntax', `not valid JSON: ${(err as Error).message}`);
  }
  const key = findPrototypeKey(value);
  if (key !== undefined) throw new WireJsonError('prototypeKey', `the key "${key}" is not accepted`);
  return value;
}

/**
 * Levels of objects and arrays below the root of an already parsed value (a flat object is 0, `{"a": {}}` is 1).
 * Iterative.
 */
export function nestingBelowRoot(value: unknown): number {
  let deepest = 0;
  const stack: { value: unknown; level: number }[] = [{ value, level: 0 }];
  while (stack.length > 0) {
    const item = stack.pop() as { value: unknown; level: number };
    if (typeof item.value !== 'object' || item.value === null) continue;
    if (item.level > deepest) deepest = item.level;
    for (const child of Object.values(item.value)) {
      if (typeof child === 'object' && child !== null) stack.push({ value: child, level: item.level + 1 });
    }
  }
  return deepest;
}
