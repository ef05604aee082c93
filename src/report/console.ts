// Plain-text end-of-run report for the terminal and CI logs: aligned columns, colour only when asked.
import { ERROR_CLASSES, OPERATIONS } from '../metrics/operations.js';
import { eventTitle, limitsLines, targetText, tookAwayText, wholeText, windowText } from './events.js';
import type { RunSummary } from './summary.js';
import { verdictLines } from './verdict.js';

export interface ConsoleReportOptions {
  /** ANSI colours (balanced/unbalanced, error counts, dim raw rows). Default false: logs and pipes stay clean. */
  color?: boolean;
}

/** Four significant digits or so; HDR keeps three, more would be noise. */
export function formatMs(v: number | null): string {
  if (v === null) return '-';
  const a = Math.abs(v);
  const decimals = a >= 1000 ? 0 : a >= 100 ? 1 : a >= 10 ? 2 : 3;
  return v.toFixed(decimals);
}

const ESC = '\u001b[';
const paint = (on: boolean, code: string, s: string): string => (on ? `${ESC}${code}m${s}${ESC}0m` : s);

type Paint = (s: string) => string;
type Painter = Record<'green' | 'red' | 'yellow' | 'dim' | 'bold', Paint>;

function painter(color: boolean): Painter {
  return {
    green: (s) => paint(color, '32', s),
    red: (s) => paint(color, '31', s),
    yellow: (s) => paint(color, '33', s),
    dim: (s) => paint(color, '2', s),
    bold: (s) => paint(color, '1', s),
  };
}

/** Latency table: corrected on the operation's row, raw on the row under it. */
function latencyLines(summary: RunSummary, { bold, dim }: Painter): string[] {
  const header = ['operation', 'count', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'];
  const rows: { cells: string[]; raw: boolean }[] = [];
  for (const op of OPERATIONS) {
    const s = summary.operations[op];
    if (!s || s.count === 0) continue;
    rows.push({
      cells: [op, String(s.count), formatMs(s.p50), formatMs(s.p95), formatMs(s.p99), formatMs(s.max)],
      raw: false,
    });
    const r = s.raw;
    rows.push({ cells: ['  raw', '', formatMs(r.p50), formatMs(r.p95), formatMs(r.p99), formatMs(r.max)], raw: true });
  }
  if (rows.length === 0) return ['no operations recorded'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r.cells[i]!.length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    bold(fmt(header)),
    ...rows.map((r) => (r.raw ? dim(fmt(r.cells)) : fmt(r.cells))),
    dim('latency from the intended start (coordinated-omission corrected); "raw" from the actual start'),
  ];
}

/** The ledger in one line, so a reader sees at once whether every message is accounted for. */
function ledgerLine(summary: RunSummary, { green, red }: Painter): string {
  const l = summary.ledger;
  const verdict = l.balanced ? green('balanced') : red(`UNBALANCED: ${-l.inFlight} more settled than generated`);
  return (
    `messages  generated ${l.generated} = acknowledged ${l.acknowledged} + failed ${l.failed} + expired ${l.expired}` +
    ` + dropped ${l.dropped} + in flight ${l.inFlight}  ${verdict}` +
    `  (in flight: ${l.stored} still stored, unsent; delivered late ${l.deliveredLate}; resent ${l.resent})`
  );
}

/** Identities that gave up, and how identities got their hub. */
function identityLines(summary: RunSummary, { red }: Painter): string[] {
  const lines: string[] = [];
  const failed = summary.gauges.failed ?? 0;
  if (failed > 0) lines.push(red(`identities  ${failed} failed (they gave up: see errors)`));
  const p = summary.provisioning;
  if (p !== undefined && p.provisioned + p.reusedFromCache + p.reprovisioned > 0) {
    lines.push(
      `provisioning  through DPS ${p.provisioned}, reused from cache ${p.reusedFromCache}, ` +
        `re-provisioned ${p.reprovisioned}`,
    );
  }
  return lines;
}

function errorLines(summary: RunSummary, { yellow }: Painter): string[] {
  const errs = ERROR_CLASSES.filter((c) => summary.errors[c].count > 0);
  if (errs.length === 0) return ['errors    none'];
  const nameW = Math.max(...errs.map((c) => c.length));
  const countW = Math.max(...errs.map((c) => String(summary.errors[c].count).length));
  return errs.map((c, i) => {
    const e = summary.errors[c];
    const last = e.lastMessage === null ? '' : `  last: ${JSON.stringify(e.lastMessage)}`;
    const op = e.lastOperation ? ` (${e.lastOperation})` : '';
    return (
      `${i === 0 ? 'errors' : ''}`.padEnd(10) +
      `${c.padEnd(nameW)}  ${yellow(String(e.count).padStart(countW))}${last}${op}`
    );
  });
}

/** The scheduler's lateness, the target's count of what it received, samples not recorded, and limits met. */
function healthLines(summary: RunSummary, { green, red, yellow }: Painter): string[] {
  const lines: string[] = [];
  const lt = summary.scheduler.lateness;
  if (lt.count > 0) {
    lines.push(
      `scheduler lateness  p50 ${formatMs(lt.p50)} ms  p99 ${formatMs(lt.p99)} ms  max ${formatMs(lt.max)} ms`,
    );
  }
  const r = summary.reconciliation;
  if (r !== null && typeof r.acknowledgedNotReceived === 'number') {
    const line = `target    received ${r.received ?? '?'} of ${r.acknowledged ?? '?'} acknowledged; acknowledged but not received ${r.acknowledgedNotReceived}`;
    lines.push(r.acknowledgedNotReceived === 0 ? green(line) : red(line));
  } else if (r !== null && typeof r.note === 'string') {
    lines.push(`target    reconciliation ${r.note}`);
  }
  const rec = summary.recording;
  if (rec.rejectedSamples > 0 || rec.clampedSamples > 0) {
    lines.push(
      red(
        `recording: ${rec.rejectedSamples} samples rejected (NaN/negative), ${rec.clampedSamples} clamped at ${rec.maxTrackableMs} ms`,
      ),
    );
  }
  limitsLines(summary.limits).forEach((line, i) => {
    const text = `${i === 0 ? 'limits' : ''}`.padEnd(10) + line;
    lines.push(/^limit reached|--force/.test(line) ? yellow(text) : text);
  });
  return lines;
}

export function formatConsoleReport(summary: RunSummary, options: ConsoleReportOptions = {}): string {
  const p = painter(options.color === true);
  const lines: string[] = [
    p.bold(`run ${summary.runId}`) +
      `  ${summary.durationSeconds.toFixed(1)} s  (${summary.startedAt} → ${summary.endedAt})`,
  ];
  if (summary.incomplete !== undefined) {
    lines.push(p.red(`INCOMPLETE: ${summary.incomplete.reason}; the figures cover what was merged before that`));
  }
  if (summary.verdict?.generatorSaturated === true) lines.push(...verdictLines(summary.verdict).map((l) => p.red(l)));
  lines.push(
    '',
    ...latencyLines(summary, p),
    '',
    ledgerLine(summary, p),
    ...identityLines(summary, p),
    ...errorLines(summary, p),
    ...healthLines(summary, p),
    ...eventSections(summary, p),
  );
  return lines.join('\n') + '\n';
}

/** One section per profile event. */
function eventSections(summary: RunSummary, paint: { bold: Paint; red: Paint; green: Paint }): string[] {
  const events = summary.events ?? [];
  if (events.length === 0) return [];
  const lines = ['', paint.bold('events')];
  for (const e of events) {
    lines.push(`  ${eventTitle(e)}${e.at === null ? '' : `  ${e.at}`}`);
    lines.push(`    took away     ${tookAwayText(e)}`);
    const target = targetText(e);
    if (target !== undefined) lines.push(`    target        ${target}`);
    const whole = `    whole again   ${wholeText(e)}`;
    lines.push(e.wholeAfterMs === null ? paint.red(whole) : paint.green(whole));
    lines.push(`    over window   ${windowText(e)}`);
  }
  return lines;
}
