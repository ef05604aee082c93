// junit.xml: thresholds and smoke checks as test cases, in the JUnit XML that CI systems (GitLab, Jenkins,
// Azure Pipelines, GitHub test reporters) read.
import { join, resolve } from 'node:path';
import type { JUnitCase, JUnitSuite } from './checks.js';
import { writeAtomic, writeChecks } from './read.js';

export type { JUnitCase, JUnitSuite } from './checks.js';

export const JUNIT_FILE = 'junit.xml';

/**
 * One `<testsuites name="edgefleet">` holding a `<testsuite>` per suite. Counts are derived from the cases,
 * so they cannot disagree with them.
 */
export function formatJUnit(suites: readonly JUnitSuite[], options: { timestamp?: Date } = {}): string {
  const all = suites.flatMap((s) => s.cases);
  const time = (cases: readonly JUnitCase[]) => seconds(cases.reduce((t, c) => t + (validTime(c.timeSeconds) ?? 0), 0));
  const failures = (cases: readonly JUnitCase[]) => cases.filter((c) => c.failure).length;
  const skipped = (cases: readonly JUnitCase[]) => cases.filter((c) => !c.failure && c.skipped).length;
  const stamp = options.timestamp ? ` timestamp="${attr(options.timestamp.toISOString().slice(0, 19))}"` : '';

  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  out.push(
    `<testsuites name="edgefleet" tests="${all.length}" failures="${failures(all)}" errors="0" skipped="${skipped(all)}" time="${time(all)}">`,
  );
  suites.forEach((suite, id) => {
    out.push(
      `  <testsuite name="${attr(suite.name)}" id="${id}" tests="${suite.cases.length}" failures="${failures(suite.cases)}" errors="0" skipped="${skipped(suite.cases)}" time="${time(suite.cases)}"${stamp}>`,
    );
    for (const c of suite.cases) {
      const t = validTime(c.timeSeconds);
      const head = `    <testcase name="${attr(c.name)}" classname="${attr(c.classname ?? suite.name)}"${t === undefined ? '' : ` time="${seconds(t)}"`}`;
      if (c.failure) {
        const detail = c.failure.detail === undefined ? '' : text(c.failure.detail);
        out.push(
          `${head}>`,
          `      <failure message="${attr(c.failure.message)}" type="CheckFailed">${detail}</failure>`,
          '    </testcase>',
        );
      } else if (c.skipped) {
        out.push(`${head}>`, `      <skipped message="${attr(c.skipped.message)}"/>`, '    </testcase>');
      } else {
        out.push(`${head}/>`);
      }
    }
    out.push('  </testsuite>');
  });
  out.push('</testsuites>');
  return out.join('\n') + '\n';
}

/**
 * Writes `<dir>/junit.xml`, and the same cases as data in `<dir>/checks.json` so `edgefleet report` can
 * re-render them; returns junit.xml's path.
 */
export async function writeJUnit(
  dir: string,
  suites: readonly JUnitSuite[],
  options: { timestamp?: Date } = {},
): Promise<string> {
  const path = join(resolve(dir), JUNIT_FILE);
  await writeAtomic(path, formatJUnit(suites, options));
  await writeChecks(dir, suites);
  return path;
}

const validTime = (t: number | undefined): number | undefined =>
  t !== undefined && Number.isFinite(t) && t >= 0 ? t : undefined;
const seconds = (t: number): string => (Math.round(t * 1000) / 1000).toFixed(3);

// XML 1.0 allows tab, LF, CR and U+0020 upward except surrogates (paired ones are fine) and U+FFFE/U+FFFF;
// anything else makes the whole file unreadable to a CI parser, so it is replaced.
// eslint-disable-next-line no-control-regex -- the control characters XML forbids are what it matches
const FORBIDDEN_CHARACTER = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const INVALID_XML = new RegExp(`${FORBIDDEN_CHARACTER.source}|${LONE_SURROGATE.source}`, 'g');

/** Element text. */
export function text(s: string): string {
  // CR as a reference: parsers turn a literal CR (or CRLF) into LF.
  return s
    .replace(INVALID_XML, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\r/g, '&#13;');
}

/** Attribute value (double-quoted); line breaks and tabs as character references so parsers keep them. */
export function attr(s: string): string {
  return text(s).replace(/"/g, '&quot;').replace(/'/g, '&apos;').replace(/\n/g, '&#10;').replace(/\t/g, '&#9;');
}
