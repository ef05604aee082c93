// Pure layout of the dashboard: which columns fit the width, how many rows of each list fit the height.
// Kept apart from the Ink components so the arithmetic is tested without rendering.
import type { ThingState } from '../metrics/types.js';
import type { DashboardState, EventRow, GroupRow } from './model.js';
import { fmtCount, fmtMB, fmtMs, fmtPercent, levelBlocks, sparkline } from './format.js';

/** A run of text and its style. Colours: only bold, inverse, red and green, readable on dark and light
 * backgrounds; dim is decoration, never the only carrier of a number. */
export interface Seg {
  t: string;
  bold?: boolean;
  dim?: boolean;
  red?: boolean;
  green?: boolean;
  inverse?: boolean;
}

export const seg = (t: string, style: Omit<Seg, 't'> = {}): Seg => ({ t, ...style });
const segsWidth = (segs: readonly Seg[]) => segs.reduce((n, x) => n + [...x.t].length, 0);

export const SYSTEM_JOIN = seg('  │  ', { dim: true });

/** Seconds of scheduler lateness in its sparkline, when the width allows. */
export const LATENESS_SPARK = 16;

/**
 * Scheduler lateness, worker threads and the process: the pieces of the one or two system lines. Lateness is the
 * last second's p99 with a sparkline of the seconds before (when `width` leaves room), and the max since the start.
 */
export function systemParts(state: DashboardState, width = Infinity): { late: Seg[]; work: Seg[]; proc: Seg[] } {
  const late: Seg[] = [
    seg('lateness', { bold: true }),
    seg(' p99 '),
    seg(fmtMs(state.lateness.p99), { bold: true }),
    seg(' ms'),
    seg('  max '),
    seg(fmtMs(state.lateness.max)),
    seg(' ms'),
  ];
  const history = state.lateness.history;
  if (history.length > 0 && segsWidth(late) + 2 + LATENESS_SPARK <= width) {
    late.push(seg('  '), seg(sparkline(history, LATENESS_SPARK).padStart(LATENESS_SPARK)));
  }
  const ws = state.workers;
  const work: Seg[] = [seg('workers', { bold: true }), seg(` ${ws.length}`)];
  if (ws.length > 0) {
    const busiest = ws.reduce((a, b) => (b.busyPercent > a.busyPercent ? b : a));
    const avg = ws.reduce((n, w) => n + w.busyPercent, 0) / ws.length;
    // One block per worker while they fit; a saturated one shows at a glance.
    if (ws.length <= 32) work.push(seg('  busy '), seg(levelBlocks(ws.map((w) => w.busyPercent / 100))));
    work.push(
      seg(`  avg ${fmtPercent(avg)}  max `),
      seg(fmtPercent(busiest.busyPercent), busiest.busyPercent >= 90 ? { red: true, bold: true } : { bold: true }),
      seg(` #${busiest.index}`),
    );
    const heaps = ws.map((w) => w.heapMB).filter((h): h is number => h !== null);
    if (heaps.length > 0) work.push(seg(`  heap ${fmtMB(heaps.reduce((a, b) => a + b, 0))}`));
  }
  const proc: Seg[] =
    state.process.cpuPercent === null && state.process.rssMB === null
      ? []
      : [
          seg('  process', { bold: true }),
          seg(` cpu ${fmtPercent(state.process.cpuPercent)}  rss ${fmtMB(state.process.rssMB)}`),
        ];
  return { late, work, proc };
}

/** A column of the identities table: one state, or a sum of states when the terminal is narrow. */
export interface StateColumn {
  label: string;
  states: ThingState[];
  /** Hidden first, when its whole column is 0 and the width is short. */
  dropOrder: number;
  /** Always kept. */
  essential?: boolean;
}

const LONG: StateColumn[] = [
  { label: 'waiting', states: ['waiting'], dropOrder: 2 },
  { label: 'provisioning', states: ['provisioning'], dropOrder: 3 },
  { label: 'connecting', states: ['connecting'], dropOrder: 4 },
  { label: 'connected', states: ['connected'], dropOrder: 99, essential: true },
  { label: 'backing off', states: ['backingOff'], dropOrder: 5 },
  { label: 'stopped', states: ['stopped'], dropOrder: 1 },
  { label: 'failed', states: ['failed'], dropOrder: 99, essential: true },
];
const SHORT: StateColumn[] = [
  { label: 'waiting', states: ['waiting'], dropOrder: 2 },
  { label: 'provision', states: ['provisioning'], dropOrder: 3 },
  { label: 'connecting', states: ['connecting'], dropOrder: 4 },
  { label: 'connected', states: ['connected'], dropOrder: 99, essential: true },
  { label: 'backoff', states: ['backingOff'], dropOrder: 5 },
  { label: 'stopped', states: ['stopped'], dropOrder: 1 },
  { label: 'failed', states: ['failed'], dropOrder: 99, essential: true },
];
const TINY: StateColumn[] = [
  { label: 'wait', states: ['waiting'], dropOrder: 2 },
  { label: 'joining', states: ['provisioning', 'connecting'], dropOrder: 3 },
  { label: 'online', states: ['connected'], dropOrder: 99, essential: true },
  { label: 'backoff', states: ['backingOff'], dropOrder: 4 },
  { label: 'stop', states: ['stopped'], dropOrder: 1 },
  { label: 'fail', states: ['failed'], dropOrder: 99, essential: true },
];

export const columnValue = (col: StateColumn, states: Record<ThingState, number>): number =>
  col.states.reduce((n, s) => n + (states[s] ?? 0), 0);

export const groupTotal = (states: Record<ThingState, number>): number =>
  Object.values(states).reduce((n, v) => n + v, 0);

export interface IdentityTable {
  columns: StateColumn[];
  /** Width of each state column, then of the total column. */
  widths: number[];
  totalWidth: number;
  nameWidth: number;
  patternWidth: number;
  gap: number;
}

const NAME_MIN = 10;

/** Fits the identities table to `width`: fewer zero columns, then tighter gaps, then shorter labels. */
export function identityTable(rows: readonly GroupRow[], allRow: GroupRow, width: number): IdentityTable {
  const everyRow = [...rows, allRow];
  const hasPattern = rows.some((g) => g.pattern !== undefined);
  for (const set of width >= 100 ? [LONG, SHORT, TINY] : [SHORT, TINY]) {
    for (const gap of [2, 1]) {
      let columns = [...set];
      const measure = () => {
        const widths = columns.map((c) =>
          Math.max(c.label.length, ...everyRow.map((g) => fmtCount(columnValue(c, g.states)).length)),
        );
        const totalWidth = Math.max(5, ...everyRow.map((g) => fmtCount(groupTotal(g.states)).length));
        const used = widths.reduce((a, b) => a + b + gap, 0) + totalWidth + gap;
        return { widths, totalWidth, used };
      };
      let m = measure();
      const isZero = (c: StateColumn) => everyRow.every((g) => columnValue(c, g.states) === 0);
      // An all-zero column carries nothing; hide it before squeezing anything else.
      for (const c of [...columns].sort((a, b) => a.dropOrder - b.dropOrder)) {
        if (width - m.used >= NAME_MIN) break;
        if (c.essential || !isZero(c)) continue;
        columns = columns.filter((x) => x !== c);
        m = measure();
      }
      const patternWidth =
        hasPattern && width - m.used >= NAME_MIN + 14
          ? Math.min(22, Math.max(7, ...rows.map((g) => (g.pattern ?? '').length)))
          : 0;
      const nameWidth = width - m.used - (patternWidth > 0 ? patternWidth + gap : 0);
      if (nameWidth >= NAME_MIN)
        return { columns, widths: m.widths, totalWidth: m.totalWidth, nameWidth, patternWidth, gap };
    }
  }
  // Very narrow: only what must be seen.
  const columns = TINY.filter((c) => c.essential);
  const widths = columns.map((c) =>
    Math.max(c.label.length, ...everyRow.map((g) => fmtCount(columnValue(c, g.states)).length)),
  );
  const totalWidth = Math.max(5, ...everyRow.map((g) => fmtCount(groupTotal(g.states)).length));
  const used = widths.reduce((a, b) => a + b + 1, 0) + totalWidth + 1;
  return { columns, widths, totalWidth, nameWidth: Math.max(4, width - used), patternWidth: 0, gap: 1 };
}

export interface Layout {
  width: number;
  /** Group rows shown; the rest is folded into one "+N more" row. */
  groups: number;
  /** Pattern rows shown: all of them, or none (when one pattern, the groups' pattern column says it). */
  patterns: number;
  operations: number;
  errors: number;
  /** Event lines shown (shownEvents). */
  events: number;
  ledger: boolean;
  system: boolean;
  /** Lateness and workers on one line (wide) or two. */
  systemLines: 1 | 2;
  /** Blank lines between sections, when the height allows. */
  gaps: boolean;
  height: number;
}

/** Lines of the main view for a given layout; the renderer draws exactly this many. */
export function mainHeight(state: DashboardState, l: Omit<Layout, 'height'>): number {
  const G = state.groups.length;
  const O = state.operations.length;
  const E = state.errors.length;
  const header = 2;
  const identities = 1 + Math.max(1, l.groups + (l.groups < G ? 1 : 0) + l.patterns + (G > 1 ? 1 : 0));
  const rates = state.saturation === undefined ? 1 : 2;
  const latency = 1 + Math.max(1, l.operations + (l.operations < O ? 1 : 0));
  const errors = E === 0 ? 1 : 1 + l.errors + (l.errors < E ? 1 : 0);
  const ledger = l.ledger ? 2 : 0;
  const system = l.system ? l.systemLines : 0;
  const footer = 1;
  const blocks = 5 + (l.ledger || l.system ? 1 : 0);
  const events = l.events;
  return header + identities + rates + latency + errors + events + ledger + system + footer + (l.gaps ? blocks - 1 : 0);
}

/** The events worth a line: those that happened, the latest last; before any, the next one planned. */
export function shownEvents(state: DashboardState, max: number): EventRow[] {
  const happened = state.events.filter((e) => e.phase !== 'planned');
  const rows = happened.length > 0 ? happened : state.events.filter((e) => e.phase === 'planned').slice(0, 1);
  return max <= 0 ? [] : rows.slice(-max);
}

type Plan = Omit<Layout, 'height'>;
type Lists = Record<'groups' | 'operations' | 'errors', number>;

/** Where planning starts: one row of each list, no optional section, the system line on one line if it fits. */
function smallestPlan(state: DashboardState, columns: number): Plan {
  const p = systemParts(state, columns);
  return {
    width: columns,
    groups: Math.min(state.groups.length, 1),
    patterns: 0,
    operations: Math.min(state.operations.length, 1),
    errors: Math.min(state.errors.length, 1),
    events: 0,
    ledger: false,
    system: false,
    systemLines: segsWidth([...p.late, SYSTEM_JOIN, ...p.work, ...p.proc]) <= columns ? 1 : 2,
    gaps: false,
  };
}

/** One more row for each list in turn, up to `caps` (and what there is), while the view fits. */
function growLists(l: Plan, fits: () => boolean, caps: Lists, counts: Lists): void {
  for (let grew = true; grew;) {
    grew = false;
    for (const key of ['groups', 'operations', 'errors'] as const) {
      if (l[key] >= Math.min(caps[key], counts[key])) continue;
      l[key] += 1;
      if (fits()) grew = true;
      else l[key] -= 1;
    }
  }
}

/** Turns on a section (or the gaps), then off again unless the view still fits. */
function addIfFits(l: Plan, fits: () => boolean, key: 'ledger' | 'system' | 'gaps'): void {
  l[key] = true;
  if (!fits()) l[key] = false;
}

/**
 * Fits the main view into `rows - 1` lines: Ink repaints the whole screen (and flickers) once a frame is as
 * tall as the terminal. First a few rows of each list, then the ledger and the system line, then the rest
 * of the lists in turn (groups, operations, errors, so none crowds the others out), then blank lines.
 */
export function planLayout(state: DashboardState, columns: number, rows: number): Layout {
  const budget = Math.max(8, rows - 1);
  const counts: Lists = {
    groups: state.groups.length,
    operations: state.operations.length,
    errors: state.errors.length,
  };
  const l = smallestPlan(state, columns);
  const fits = () => mainHeight(state, l) <= budget;
  if (!fits()) l.errors = 0;
  growLists(l, fits, { groups: 3, operations: 3, errors: 1 }, counts);
  addIfFits(l, fits, 'ledger');
  addIfFits(l, fits, 'system');
  // Events: as many lines as there are to show, while they fit.
  const events = shownEvents(state, Infinity).length;
  while (l.events < events) {
    l.events += 1;
    if (!fits()) {
      l.events -= 1;
      break;
    }
  }
  if (state.patterns.length > 1) {
    l.patterns = state.patterns.length;
    if (!fits()) l.patterns = 0;
  }
  growLists(l, fits, { groups: Infinity, operations: Infinity, errors: Infinity }, counts);
  addIfFits(l, fits, 'gaps');
  return { ...l, height: mainHeight(state, l) };
}
