// Small seeded PRNG and seed derivation. Our own code (not Math.random, not faker's Mersenne Twister) so that
// the same seed gives the same values in every process and every worker, and so a generator's state is one number.

/** mulberry32: one 32-bit word of state, period 2^32 — plenty for telemetry, and ~1 ns per draw. */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo);
  }
}

/**
 * A stable unsigned 32-bit seed from any parts: FNV-1a over their text (a unit separator between parts, so
 * ('ab','c') ≠ ('a','bc')), then a murmur3 finalizer so that neighbouring inputs (device-1, device-2) give
 * unrelated seeds. Numbers hash as their decimal text: seedFor(1) === seedFor('1').
 */
export function seedFor(...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  for (let p = 0; p < parts.length; p++) {
    if (p > 0) h = Math.imul(h ^ 0x1f, 0x01000193);
    const s = String(parts[p]);
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
