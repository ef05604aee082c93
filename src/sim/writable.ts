// Acknowledging writable properties the IoT Central way (docs/protocol.md §6.2): for each desired value, a reported
// `{ value, ac, av, ad }`, inside its component object (`__t: "c"`) when it belongs to a component.

export interface AckPolicy {
  /** `ac`: 200 completed, 202 pending, 4xx invalid, 5xx device error. */
  code: number;
  description?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The reported patch that acknowledges a desired patch (or a full desired section) at `version`.
 * `isWritable(component, name)` filters what to acknowledge; without it, every non-`$` key is.
 * Returns undefined when there is nothing to acknowledge.
 */
export function acknowledgement(
  desired: Record<string, unknown>,
  version: number,
  policy: AckPolicy,
  isWritable?: (component: string | undefined, name: string) => boolean,
): Record<string, unknown> | undefined {
  const ack = (value: unknown) => ({
    value,
    ac: policy.code,
    av: version,
    ...(policy.description === undefined ? {} : { ad: policy.description }),
  });
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(desired)) {
    if (key.startsWith('$') || value === null) continue;
    if (isObject(value) && value.__t === 'c') {
      const inner: Record<string, unknown> = { __t: 'c' };
      for (const [name, v] of Object.entries(value)) {
        if (name === '__t' || name.startsWith('$') || v === null) continue;
        if (isWritable && !isWritable(key, name)) continue;
        // IoT Central writes component values either bare or as { value }.
        inner[name] = ack(isObject(v) && 'value' in v ? v.value : v);
      }
      if (Object.keys(inner).length > 1) out[key] = inner;
    } else if (!isWritable || isWritable(undefined, key)) {
      out[key] = ack(value);
    }
  }
  return Object.keys(out).length === 0 ? undefined : out;
}
