// The saturation verdict in the report files: a banner at the top of report.html, lines in the console report and a
// junit.xml case. A saturated generator is a skipped case, not a failure: the run exits 0 unless a threshold fails,
// but no CI view shows it as clean.
import type { SaturationVerdict } from '../metrics/types.js';
import type { JUnitSuite } from './checks.js';

export const VERDICT_SUITE = 'edgefleet.verdict';
const CASE = 'load generator not saturated';

export function verdictTitle(v: SaturationVerdict): string {
  return v.generatorSaturated
    ? 'Load generator saturated: the target was not the only limit in this run'
    : 'Load generator not saturated';
}

/** Lines for a person: the title, one line per phase, what to do. */
export function verdictLines(v: SaturationVerdict): string[] {
  if (!v.generatorSaturated) return [];
  return [verdictTitle(v), ...v.reasons.map((r) => `  ${r}`), `  what to do: ${v.advice.join('; or ')}`];
}

/**
 * The checks with the verdict's suite: a saturated generator always (skipped, with why), a calm one when there are
 * other checks (passed). A verdict suite already among the checks (a re-render) is replaced.
 */
export function withVerdict(
  checks: readonly JUnitSuite[] | undefined,
  v: SaturationVerdict | undefined,
): JUnitSuite[] | undefined {
  const others = (checks ?? []).filter((s) => s.name !== VERDICT_SUITE);
  if (v === undefined || (!v.generatorSaturated && others.length === 0))
    return checks === undefined ? undefined : others;
  const message = [...v.reasons, `what to do: ${v.advice.join('; or ')}`].join('\n');
  const verdictCase = v.generatorSaturated
    ? { name: CASE, classname: VERDICT_SUITE, skipped: { message: `${verdictTitle(v)}\n${message}` } }
    : { name: CASE, classname: VERDICT_SUITE };
  return [...others, { name: VERDICT_SUITE, cases: [verdictCase] }];
}
