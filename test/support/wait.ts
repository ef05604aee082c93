// Waiting in tests: poll until something holds, and say what was awaited (and what was last seen) when it does not.

/** Polls `probe` until `ok` accepts its value, then returns that value; fails with the last value seen. */
export async function eventually<T>(
  probe: () => T | Promise<T>,
  ok: (value: T) => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const last = await probe();
    if (ok(last)) return last;
    if (Date.now() > deadline) {
      const seen = typeof last === 'boolean' ? '' : `; last value: ${JSON.stringify(last)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${seen}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits until `condition` holds (the common case of `eventually`: a condition, no value). */
export async function until(condition: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  await eventually(condition, (held) => held, what, timeoutMs);
}
