// How smoke results read: a line per check as it is decided, a final count, and JUnit XML (a testsuite per
// pattern, a testcase per check).
import { formatJUnit, type JUnitSuite } from '../report/junit.js';
import type { CheckResult } from './check.js';
import type { SmokePattern } from './patterns.js';

const LABEL = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP' } as const;

export function formatResultLine(r: CheckResult): string {
  const head = `${LABEL[r.status]}  ${r.pattern} › ${r.check}`;
  if (r.status === 'skip') return `${head}  (${r.seen})`;
  const time = ` [${(r.ms / 1000).toFixed(1)} s]`;
  return r.status === 'pass' ? `${head}: ${r.seen}${time}` : `${head}: expected ${r.expected}; saw ${r.seen}${time}`;
}

export interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

export function countResults(results: readonly CheckResult[]): Counts {
  return {
    passed: results.filter((r) => r.status === 'pass').length,
    failed: results.filter((r) => r.status === 'fail').length,
    skipped: results.filter((r) => r.status === 'skip').length,
  };
}

export function formatTotals(results: readonly CheckResult[], elapsedMs: number): string {
  const c = countResults(results);
  return `${c.failed === 0 ? 'smoke passed' : 'smoke FAILED'}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped, in ${(elapsedMs / 1000).toFixed(1)} s`;
}

/** Suites in pattern order, cases in check order (as the pattern lists them), whatever order they finished in. */
export function smokeJUnit(
  patterns: readonly SmokePattern[],
  results: readonly CheckResult[],
  timestamp: Date,
): string {
  const suites: JUnitSuite[] = patterns.map((p) => ({
    name: `smoke.${p.name}`,
    cases: p.checks.map((c) => {
      const r = results.find((x) => x.pattern === p.name && x.check === c.name);
      const name = c.name;
      if (r === undefined) return { name, failure: { message: 'not decided (the run stopped first)' } };
      const base = { name, classname: `smoke.${p.name}`, timeSeconds: r.ms / 1000 };
      if (r.status === 'skip') return { ...base, skipped: { message: r.seen } };
      if (r.status === 'fail')
        return { ...base, failure: { message: `expected ${r.expected}; saw ${r.seen}`, detail: c.describe } };
      return base;
    }),
  }));
  return formatJUnit(suites, { timestamp });
}
