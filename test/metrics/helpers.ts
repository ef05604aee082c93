// Deterministic inputs for the metrics and report tests.
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Within HdrHistogram's 3-significant-digit resolution (relative error below 1e-3). */
export function expectWithinHdr(actual: number | null | undefined, expected: number): void {
  if (actual === null || actual === undefined) throw new Error(`expected ~${expected}, got ${String(actual)}`);
  const tol = Math.max(Math.abs(expected) * 1e-3, 1e-3);
  if (Math.abs(actual - expected) > tol) throw new Error(`expected ${actual} to be within ${tol} of ${expected}`);
}
