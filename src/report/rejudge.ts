// Thresholds stored in a summary.json (`thresholds`: thresholdsSummary's entries), judged again on a summary:
// the same numbers for a re-render, the merged numbers for a merge (shards' own verdicts do not add up).
import { ConfigError } from '../config/errors.js';
import type { JUnitSuite } from './junit.js';
import type { RunSummary } from './summary.js';
import { parseThreshold, type Threshold } from '../config/thresholds.js';
import { evaluateThresholds, thresholdsJUnitCases, thresholdsSummary, type ThresholdResult } from './thresholds.js';

export interface StoredThreshold {
  text: string;
  abortOnFail: boolean;
}

/** The thresholds a summary was judged by, in order, each text once (a union over several summaries). */
export function storedThresholds(summaries: readonly (RunSummary | undefined)[]): StoredThreshold[] {
  const out = new Map<string, StoredThreshold>();
  for (const s of summaries) {
    const list = (s as { thresholds?: unknown } | undefined)?.thresholds;
    if (!Array.isArray(list)) continue;
    for (const e of list) {
      const text = (e as { threshold?: unknown } | null)?.threshold;
      if (typeof text !== 'string' || out.has(text)) continue;
      out.set(text, { text, abortOnFail: (e as { abortOnFail?: unknown }).abortOnFail === true });
    }
  }
  return [...out.values()];
}

export interface Rejudged {
  results: ThresholdResult[];
  /** For summary.json's `thresholds`. */
  entries: ReturnType<typeof thresholdsSummary>;
  /** One `edgefleet` suite, as junit.xml holds it. */
  suites: JUnitSuite[];
  /** Texts this version cannot parse any more, with why. */
  unreadable: string[];
}

export function rejudge(stored: readonly StoredThreshold[], summary: RunSummary): Rejudged {
  const parsed: Threshold[] = [];
  const unreadable: string[] = [];
  for (const t of stored) {
    try {
      parsed.push(parseThreshold(t.text, { abortOnFail: t.abortOnFail }));
    } catch (err) {
      unreadable.push(`${t.text}: ${(err as Error).message}`);
    }
  }
  const results = evaluateThresholds(parsed, summary);
  const cases: JUnitSuite['cases'] = [
    ...thresholdsJUnitCases(results),
    ...unreadable.map((u) => ({
      name: u.slice(0, u.indexOf(': ')),
      classname: THRESHOLD_CLASS,
      failure: { message: `cannot judge: ${u}` },
    })),
  ];
  return {
    results,
    entries: thresholdsSummary(results),
    suites: cases.length > 0 ? [{ name: 'edgefleet', cases }] : [],
    unreadable,
  };
}

const THRESHOLD_CLASS = 'edgefleet.thresholds';

/**
 * junit suites after a re-judge: the new threshold cases, then the other stored cases (smoke checks) as they
 * were; stored threshold cases are replaced, and a stored `edgefleet` suite's other cases join the new one.
 */
export function combineChecks(judged: Rejudged, stored: readonly JUnitSuite[] | undefined): JUnitSuite[] {
  const out: JUnitSuite[] = judged.suites.map((s) => ({ name: s.name, cases: [...s.cases] }));
  for (const s of stored ?? []) {
    const cases = s.cases.filter((c) => c.classname !== THRESHOLD_CLASS);
    if (cases.length === 0) continue;
    const same = out.find((o) => o.name === s.name);
    if (same) same.cases.push(...cases);
    else out.push({ name: s.name, cases });
  }
  return out;
}

/** Thresholds given on the command line, checked before anything is read or written. */
export function parseThresholdOptions(texts: readonly string[]): StoredThreshold[] {
  const out: StoredThreshold[] = [];
  for (const text of texts) {
    try {
      parseThreshold(text);
    } catch (err) {
      throw new ConfigError([{ file: '--threshold', path: '', message: (err as Error).message }]);
    }
    out.push({ text, abortOnFail: false });
  }
  return out;
}

/** Stored thresholds plus new ones, each text once; the stored entry wins (it keeps its abortOnFail). */
export function unionThresholds(...lists: (readonly StoredThreshold[])[]): StoredThreshold[] {
  const out = new Map<string, StoredThreshold>();
  for (const l of lists) for (const t of l) if (!out.has(t.text)) out.set(t.text, t);
  return [...out.values()];
}

/**
 * For renderRunFolder's `judge`: thresholds judged on the summary being written, their entries into
 * summary.json's `thresholds`, their cases (and the stored smoke checks) into junit.xml. `seen` gets the verdicts.
 */
export function thresholdJudge(
  thresholds: readonly StoredThreshold[],
  storedChecks: readonly JUnitSuite[] | undefined,
  seen: (judged: Rejudged) => void = () => {},
): (summary: RunSummary) => { checks: JUnitSuite[]; extra: Record<string, unknown> } {
  return (summary) => {
    const judged = rejudge(thresholds, summary);
    seen(judged);
    return { checks: combineChecks(judged, storedChecks), extra: { thresholds: judged.entries } };
  };
}
