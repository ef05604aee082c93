// The live dashboard (Ink). It renders a DashboardState and turns keys into the callbacks it was given;
// it holds only view state (help, the device prompt, the device being looked at).
import { useEffect, useRef, useState, type ReactNode, type RefObject } from 'react';
import { Box, Static, Text, useInput, useStdin, useStdout } from 'ink';
import type { DashboardState, DeviceDetail, DeviceMessage, EventRow, GroupRow } from './model.js';
import { emptyStates, HISTORY_SECONDS, patternLabel, THING_STATES } from './model.js';
import { initialView, reduceKey, splitKeys, type Effect, type Mode, type View } from './keys.js';
import {
  columnValue,
  groupTotal,
  identityTable,
  planLayout,
  seg,
  shownEvents,
  SYSTEM_JOIN,
  systemParts,
  type Layout,
  type Seg,
} from './layout.js';
import { fmtClock, fmtCount, fmtMs, fmtRate, fmtRunTime, oneLine, progressBar, sparkline } from './format.js';

export interface DashboardCallbacks {
  /** `q` (and the first Ctrl-C when onInterrupt is not given): stop gracefully. Called once. */
  onStop: () => void;
  /** `p`: pause (true) or resume (false) arrivals. */
  onPause: (paused: boolean) => void;
  /** `d` then an id: what the worker that owns it says; undefined when no such device. */
  onDrill: (deviceId: string) => Promise<DeviceDetail | undefined>;
  /** Ctrl-C (the terminal is in raw mode, so no SIGINT arrives by itself). Default: stop, then SIGINT. */
  onInterrupt?: () => void;
}

export interface DashboardProps extends DashboardCallbacks {
  state: DashboardState;
  /** Log lines, printed once above the live area (they stay in the scrollback). */
  logs?: readonly { id: number; line: string }[];
  /** A new key starts a new <Static> (whose earlier lines are already printed). */
  logsKey?: number;
  /** Ids the device prompt completes with Tab. */
  deviceIds?: readonly string[];
  /** Terminal size; defaults to the stdout's (tests pass it). */
  columns?: number;
  rows?: number;
  /** How often the device view asks again while open. */
  deviceRefreshMs?: number;
}

interface Drill {
  id: string;
  status: 'loading' | 'ok' | 'missing' | 'error';
  detail?: DeviceDetail;
  error?: string;
}

// ---------------------------------------------------------------------------------------------------------
// Text pieces. Colours: only bold, inverse, red and green (readable on dark and light backgrounds);
// dim is decoration, never the only carrier of a number.

function Line({ segs }: { segs: Seg[] }): ReactNode {
  return (
    <Text wrap="truncate-end">
      {segs.map((s, i) => (
        <Text
          key={i}
          bold={s.bold ?? false}
          dimColor={s.dim ?? false}
          inverse={s.inverse ?? false}
          {...(s.red ? { color: 'red' } : s.green ? { color: 'green' } : {})}
        >
          {s.t}
        </Text>
      ))}
    </Text>
  );
}

const chars = (s: string) => [...s].length;
/** Left-aligned in exactly w cells (cut with an ellipsis). */
function left(s: string, w: number): string {
  if (w <= 0) return '';
  const n = chars(s);
  if (n <= w) return s + ' '.repeat(w - n);
  return `${[...s].slice(0, Math.max(0, w - 1)).join('')}…`;
}
/** Right-aligned in exactly w cells. */
function right(s: string, w: number): string {
  if (w <= 0) return '';
  const n = chars(s);
  return n <= w ? ' '.repeat(w - n) + s : [...s].slice(n - w).join('');
}

function Blank(): ReactNode {
  return <Text> </Text>;
}

// ---------------------------------------------------------------------------------------------------------
// Sections

function Header({
  state,
  width,
  paused,
  stopping,
}: {
  state: DashboardState;
  width: number;
  paused: boolean;
  stopping: boolean;
}): ReactNode {
  const badge = stopping ? ' STOPPING ' : paused ? ' PAUSED ' : ' RUNNING ';
  const title = `${state.scenario} · profile ${state.profile} · target ${state.target}`;
  const room = width - chars(badge) - 1;
  const elapsed = Math.min(state.elapsedMs, state.durationMs);
  const left_ = Math.max(0, state.durationMs - state.elapsedMs);
  const time =
    stopping || state.elapsedMs >= state.durationMs
      ? `${fmtClock(state.elapsedMs)} / ${fmtClock(state.durationMs)}`
      : `${fmtClock(elapsed)} / ${fmtClock(state.durationMs)} · ${fmtClock(left_)} left`;
  const stage = left(state.stage, Math.min(24, chars(state.stage)));
  const barWidth = width - chars(stage) - chars(time) - 2;
  const fraction = state.durationMs > 0 ? state.elapsedMs / state.durationMs : 0;
  return (
    <Box flexDirection="column">
      <Line
        segs={[
          seg('edgefleet ', { bold: true }),
          seg(left(title, Math.max(0, room - 10))),
          seg(' '),
          seg(badge, { inverse: true, bold: true, red: stopping }),
        ]}
      />
      <Line
        segs={
          barWidth >= 10
            ? [seg(stage, { bold: true }), seg(' '), seg(progressBar(fraction, barWidth)), seg(' '), seg(time)]
            : [seg(`${state.stage.trim()}  `, { bold: true }), seg(time)]
        }
      />
    </Box>
  );
}

function sumRows(name: string, rows: readonly GroupRow[]): GroupRow {
  const states = emptyStates();
  for (const g of rows) for (const s of THING_STATES) states[s] += g.states[s];
  return { name, states };
}

type IdentityRowKind = 'group' | 'more' | 'pattern' | 'all';

/** A count's look in the identities table: dim when 0, red for failed, green for connected, bold for backing off. */
function stateColumnStyle(column: { states: readonly string[] }, n: number): Omit<Seg, 't'> {
  if (n === 0) return { dim: true };
  if (column.states.includes('failed')) return { red: true, bold: true };
  if (column.states.includes('connected')) return { green: true };
  if (column.states.includes('backingOff')) return { bold: true };
  return {};
}

function identityRowSegs(row: GroupRow, kind: IdentityRowKind, t: ReturnType<typeof identityTable>): Seg[] {
  const g = ' '.repeat(t.gap);
  const segs: Seg[] = [seg(left(row.name, t.nameWidth), kind === 'all' ? { bold: true } : {})];
  if (t.patternWidth > 0)
    segs.push(seg(g + left(kind === 'group' || kind === 'pattern' ? (row.pattern ?? '') : '', t.patternWidth)));
  t.columns.forEach((c, i) => {
    const n = columnValue(c, row.states);
    segs.push(seg(g), seg(right(fmtCount(n, t.widths[i]), t.widths[i] ?? 0), stateColumnStyle(c, n)));
  });
  segs.push(seg(g + right(fmtCount(groupTotal(row.states), t.totalWidth), t.totalWidth), { bold: kind === 'all' }));
  return segs;
}

function Identities({ state, layout }: { state: DashboardState; layout: Layout }): ReactNode {
  const groups = state.groups;
  const shown = groups.slice(0, layout.groups);
  const hidden = groups.slice(layout.groups);
  const all = sumRows('all', groups);
  const rows: { row: GroupRow; kind: IdentityRowKind }[] = shown.map((row) => ({ row, kind: 'group' }));
  if (hidden.length > 0) rows.push({ row: sumRows(`+${hidden.length} more`, hidden), kind: 'more' });
  // Pattern rows: "by pattern" once, then each pattern in the pattern column (in the name column when it is not
  // shown).
  const patterns = state.patterns
    .slice(0, layout.patterns)
    .map((p, i): GroupRow => ({ name: i === 0 ? 'by pattern' : '', pattern: p.label, states: p.states }));
  const t = identityTable([...groups, ...patterns], all, layout.width);
  for (const row of patterns)
    rows.push({ row: t.patternWidth > 0 ? row : { ...row, name: row.pattern ?? '' }, kind: 'pattern' });
  if (groups.length !== 1) rows.push({ row: all, kind: 'all' });
  const g = ' '.repeat(t.gap);
  const header: Seg[] = [seg(left('identities', t.nameWidth), { bold: true })];
  if (t.patternWidth > 0) header.push(seg(g + left('pattern', t.patternWidth), { bold: true }));
  t.columns.forEach((c, i) => header.push(seg(g + right(c.label, t.widths[i] ?? 0), { bold: true })));
  header.push(seg(g + right('total', t.totalWidth), { bold: true }));
  return (
    <Box flexDirection="column">
      <Line segs={header} />
      {rows.map(({ row, kind }) => (
        <Line key={`${kind}:${row.name}:${row.pattern ?? ''}`} segs={identityRowSegs(row, kind, t)} />
      ))}
    </Box>
  );
}

function Rates({ state, width }: { state: DashboardState; width: number }): ReactNode {
  const r = state.rates;
  const rates = (
    <Line
      segs={[
        seg('msgs/s ', { bold: true }),
        seg(' sent '),
        seg(fmtRate(r.sentPerSecond), { bold: true }),
        seg('  acked '),
        seg(fmtRate(r.ackedPerSecond), { bold: true }),
        seg('  failed '),
        seg(fmtRate(r.failedPerSecond), r.failedPerSecond > 0 ? { red: true, bold: true } : {}),
        seg('   errors/s '),
        seg(fmtRate(r.errorsPerSecond), r.errorsPerSecond > 0 ? { red: true, bold: true } : {}),
        seg('  throttled/s '),
        seg(fmtRate(r.throttledPerSecond), r.throttledPerSecond > 0 ? { red: true, bold: true } : {}),
      ]}
    />
  );
  if (state.saturation === undefined) return rates;
  return (
    <Box flexDirection="column">
      {rates}
      <Line segs={[seg(left(state.saturation, width), { red: true, bold: true })]} />
    </Box>
  );
}

/** Which latency columns fit in `width`, and how wide each is. */
function latencyColumns(width: number, ops: DashboardState['operations']) {
  const nameW = Math.max(10, ...ops.map((o) => o.name.length));
  const showTotal = width >= 110;
  const showP50 = width >= 60;
  const numW = 6;
  const rateW = 7;
  const fixed = nameW + (rateW + 2) + (showP50 ? 3 : 2) * (numW + 2) + (showTotal ? 11 : 0);
  const sparkW = Math.min(60, width - fixed - 2);
  return { nameW, showTotal, showP50, numW, rateW, sparkW, showSpark: sparkW >= 8 };
}

function latencyHeader(c: ReturnType<typeof latencyColumns>): Seg[] {
  const header: Seg[] = [seg(left('latency ms', c.nameW), { bold: true })];
  if (c.showTotal) header.push(seg(right('total', 11), { bold: true }));
  header.push(seg(right('/s', c.rateW + 2), { bold: true }));
  if (c.showP50) header.push(seg(right('p50', c.numW + 2), { bold: true }));
  header.push(seg(right('p95', c.numW + 2), { bold: true }), seg(right('p99', c.numW + 2), { bold: true }));
  if (c.showSpark)
    header.push(
      seg('  '),
      seg(right(`p99 each second, last ${Math.min(c.sparkW, HISTORY_SECONDS)} s`, c.sparkW), { dim: true }),
    );
  return header;
}

function Latency({ state, layout }: { state: DashboardState; layout: Layout }): ReactNode {
  const ops = state.operations;
  const c = latencyColumns(layout.width, ops);
  const { nameW, numW, rateW, sparkW } = c;
  const shown = ops.slice(0, layout.operations);
  const hidden = ops.length - shown.length;
  return (
    <Box flexDirection="column">
      <Line segs={latencyHeader(c)} />
      {ops.length === 0 ? <Line segs={[seg('no samples yet', { dim: true })]} /> : null}
      {shown.map((o) => {
        const segs: Seg[] = [seg(left(o.name, nameW))];
        if (c.showTotal) segs.push(seg(right(fmtCount(o.count, 10), 11)));
        segs.push(seg(right(fmtRate(o.perSecond), rateW + 2)));
        if (c.showP50) segs.push(seg(right(fmtMs(o.p50), numW + 2)));
        segs.push(seg(right(fmtMs(o.p95), numW + 2)), seg(right(fmtMs(o.p99), numW + 2), { bold: true }));
        // Right-aligned: the newest second is always at the right edge.
        if (c.showSpark) segs.push(seg('  '), seg(right(sparkline(o.history, sparkW), sparkW)));
        return <Line key={o.name} segs={segs} />;
      })}
      {hidden > 0 ? (
        <Line
          segs={[
            seg(
              `+${hidden} more: ${ops
                .slice(layout.operations)
                .map((o) => o.name)
                .join(', ')}`,
              { dim: true },
            ),
          ]}
        />
      ) : null}
    </Box>
  );
}

function Errors({ state, layout }: { state: DashboardState; layout: Layout }): ReactNode {
  const errors = state.errors;
  if (errors.length === 0) return <Line segs={[seg('errors', { bold: true }), seg('  none')]} />;
  const clsW = Math.max(9, ...errors.map((e) => e.cls.length));
  const countW = Math.max(5, ...errors.map((e) => fmtCount(e.count).length));
  const msgW = layout.width - clsW - countW - 4;
  const shown = errors.slice(0, layout.errors);
  const hidden = errors.slice(layout.errors);
  return (
    <Box flexDirection="column">
      <Line
        segs={[
          seg(left('errors', clsW), { bold: true }),
          seg(right('count', countW + 2), { bold: true }),
          ...(msgW >= 8 ? [seg('  latest message', { bold: true })] : []),
        ]}
      />
      {shown.map((e) => (
        <Line
          key={e.cls}
          segs={[
            seg(left(e.cls, clsW), { red: true }),
            seg(right(fmtCount(e.count), countW + 2), { bold: true }),
            ...(msgW >= 8 ? [seg(`  ${left(e.lastMessage ?? '', msgW)}`.trimEnd())] : []),
          ]}
        />
      ))}
      {hidden.length > 0 ? (
        <Line
          segs={[
            seg(`+${hidden.length} more: ${hidden.map((e) => `${e.cls} ${fmtCount(e.count)}`).join(', ')}`, {
              dim: true,
            }),
          ]}
        />
      ) : null}
    </Box>
  );
}

const PHASE_COLOUR: Record<EventRow['phase'], Omit<Seg, 't'>> = {
  planned: {},
  underway: {},
  whole: { green: true },
  notWhole: { red: true },
};

/** The profile's events, a line each: green once the fleet is whole again, red when it never was. */
function Events({ state, layout }: { state: DashboardState; layout: Layout }): ReactNode {
  const rows = shownEvents(state, layout.events);
  if (rows.length === 0) return null;
  const nameW = Math.max(...rows.map((r) => r.name.length));
  return (
    <Box flexDirection="column">
      {rows.map((r, i) => (
        <Line
          key={r.name}
          segs={[
            seg(left(i === 0 ? 'events' : '', 8), { bold: true }),
            seg(left(r.name, nameW), { bold: true, ...PHASE_COLOUR[r.phase] }),
            seg(`  ${left(r.text, Math.max(0, layout.width - nameW - 10))}`.trimEnd()),
          ]}
        />
      ))}
    </Box>
  );
}

type LedgerCells = readonly (readonly [string, number])[];
const LEDGER_LABEL_WIDTH = 8;

/** The ledger's cells and spacing: long headings, else short ones, else tight separators, whichever fits. */
function ledgerLayout(l: DashboardState['ledger'], width: number) {
  const long: LedgerCells = [
    ['generated', l.generated],
    ['acked', l.acknowledged],
    ['failed', l.failed],
    ['expired', l.expired],
    ['dropped', l.dropped],
    ['in flight', l.inFlight],
  ];
  const short: LedgerCells = [
    ['gen', l.generated],
    ['ack', l.acknowledged],
    ['fail', l.failed],
    ['exp', l.expired],
    ['drop', l.dropped],
    ['flight', l.inFlight],
  ];
  const measure = (cells: LedgerCells) => cells.map(([h, n]) => Math.max(h.length, fmtCount(n).length));
  let cells = long;
  let widths = measure(long);
  let sep = 3;
  const total = () => LEDGER_LABEL_WIDTH + widths.reduce((a, b) => a + b, 0) + sep * (widths.length - 1);
  if (total() > width) {
    cells = short;
    widths = measure(short);
  }
  if (total() > width) sep = 1;
  return { cells, widths, sep, total: total() };
}

/** What follows the ledger's headings when there is room: stored, late and resent, then how identities got a hub. */
function ledgerExtras(state: DashboardState): { extra: string; hubs: string } {
  const l = state.ledger;
  const extra = `  stored ${fmtCount(l.stored)} · late ${fmtCount(l.deliveredLate)} · resent ${fmtCount(l.resent)}`;
  // How identities got their hub (DPS, the assignment cache, registered again).
  const p = state.provisioning;
  const hubs =
    p === undefined || p.provisioned + p.reusedFromCache + p.reprovisioned === 0
      ? ''
      : ` · hubs: DPS ${fmtCount(p.provisioned)} · cache ${fmtCount(p.reusedFromCache)}` +
        ` · again ${fmtCount(p.reprovisioned)}`;
  return { extra, hubs };
}

function Ledger({ state, width }: { state: DashboardState; width: number }): ReactNode {
  const l = state.ledger;
  const { cells, widths, sep, total } = ledgerLayout(l, width);
  const ops = ['=', '+', '+', '+', '+'];
  const head: Seg[] = [seg(left('ledger', LEDGER_LABEL_WIDTH), { bold: true })];
  const vals: Seg[] = [seg(' '.repeat(LEDGER_LABEL_WIDTH))];
  cells.forEach(([h, n], i) => {
    const w = widths[i] ?? 0;
    if (i > 0) {
      const op = sep === 3 ? ` ${ops[i - 1]} ` : (ops[i - 1] ?? '+');
      head.push(seg(op, { dim: true }));
      vals.push(seg(op, { dim: true }));
    }
    head.push(seg(right(h, w), { bold: true }));
    vals.push(seg(right(fmtCount(n), w), i === 2 && n > 0 ? { red: true } : {}));
  });
  const { extra, hubs } = ledgerExtras(state);
  if (total + chars(extra + hubs) <= width) head.push(seg(extra + hubs, { dim: true }));
  else if (total + chars(extra) <= width) head.push(seg(extra, { dim: true }));
  const tight = total + 12 > width;
  vals.push(
    l.balanced
      ? seg(tight ? ' ✓' : '  ✓ balanced')
      : seg(tight ? ' ✗' : '  ✗ more settled than generated', { red: true, bold: true }),
  );
  return (
    <Box flexDirection="column">
      <Line segs={head} />
      <Line segs={vals} />
    </Box>
  );
}

function System({ state, layout }: { state: DashboardState; layout: Layout }): ReactNode {
  const { late, work, proc } = systemParts(state, layout.width);
  if (layout.systemLines === 1) return <Line segs={[...late, SYSTEM_JOIN, ...work, ...proc]} />;
  return (
    <Box flexDirection="column">
      <Line segs={[...late, ...proc]} />
      <Line segs={work} />
    </Box>
  );
}

function Footer({
  mode,
  paused,
  stopping,
  prompt,
}: {
  mode: Mode;
  paused: boolean;
  stopping: boolean;
  prompt: string;
}): ReactNode {
  if (mode === 'prompt') {
    return (
      <Line
        segs={[
          seg('device id › ', { bold: true }),
          seg(prompt),
          seg(' ', { inverse: true }),
          seg('  Tab completes · Enter opens · Esc cancels', { dim: true }),
        ]}
      />
    );
  }
  const keys: Seg[] =
    mode === 'device'
      ? [seg('Esc', { bold: true }), seg(' back  '), seg('d', { bold: true }), seg(' another device  ')]
      : mode === 'help'
        ? [seg('?', { bold: true }), seg('/'), seg('Esc', { bold: true }), seg(' close help  ')]
        : [seg('d', { bold: true }), seg(' device  ')];
  const status: Seg[] = stopping
    ? [seg('  stopping: draining in-flight messages, then the report', { bold: true })]
    : paused
      ? [seg('  arrivals paused', { bold: true })]
      : [];
  return (
    <Line
      segs={[
        seg('q', { bold: true }),
        seg(stopping ? ' (stopping)  ' : ' stop  '),
        ...(stopping ? [] : [seg('p', { bold: true }), seg(paused ? ' resume  ' : ' pause  ')]),
        ...keys,
        ...(mode === 'help' ? [] : [seg('?', { bold: true }), seg(' help')]),
        ...status,
      ]}
    />
  );
}

const HELP: [string, string][] = [
  ['q', 'stop: arrivals end, in-flight messages drain, then the report'],
  ['p', 'pause arrivals (who is here keeps running); p again resumes'],
  ['d', 'one device: type its id (Tab completes), Enter; Esc comes back'],
  ['?', 'this help; ? or Esc closes it'],
  ['Ctrl-C', 'stop; a second Ctrl-C quits at once, without the report'],
  ['', ''],
  ['sent/acked', 'messages generated / confirmed by the target, last second'],
  ['p50…p99', 'corrected latency of the last second, ms (– = no sample)'],
  ['sparkline', 'p99 of each second, newest right, scaled to the highest'],
  ['ledger', 'generated = acked + failed + expired + dropped + in flight'],
  ['lateness', 'timers firing late, p99 each second: edgefleet itself is the bottleneck'],
  ['workers', 'busy: event-loop use of each worker thread; heap: V8 heaps'],
  ['pattern', 'how identities connect: plain device, IoT Edge device, downstream device, …'],
  ['', 'a state column left out is 0 everywhere'],
];

function Help({ width }: { width: number }): ReactNode {
  return (
    <Box flexDirection="column">
      <Line segs={[seg('help', { bold: true })]} />
      {HELP.map(([k, v], i) => (
        <Line key={i} segs={[seg(left(k, 11), { bold: true }), seg(left(v, Math.max(0, width - 11)).trimEnd())]} />
      ))}
    </Box>
  );
}

/** Messages shown in the device view at most (the worker keeps a few more). */
export const DEVICE_MESSAGE_ROWS = 10;

const SETTLED_BAD = new Set(['failed', 'lost']);
const SETTLED_GOOD = new Set(['acked', 'answered', 'sent']);

function MessageLine({ m, at, width }: { m: DeviceMessage; at: (ms: number) => string; width: number }): ReactNode {
  const arrow = m.direction === 'up' ? '↑' : m.direction === 'down' ? '↓' : '!';
  const latency = m.latencyMs === undefined || m.latencyMs === null ? '' : `${fmtMs(m.latencyMs)} ms`;
  const bytes = m.bytes === undefined ? '' : `${fmtCount(m.bytes)} B`;
  const summary = oneLine(`${m.module === undefined ? '' : `${m.module} › `}${m.summary ?? ''}`);
  const fixed = 10 + 4 + 12 + 9 + 10 + 8 + 2;
  return (
    <Line
      segs={[
        seg(at(m.atMs)),
        seg(`  ${arrow} `),
        seg(left(m.kind, 11)),
        seg(' '),
        seg(
          left(m.status, 9),
          SETTLED_BAD.has(m.status) ? { red: true, bold: true } : SETTLED_GOOD.has(m.status) ? { green: true } : {},
        ),
        seg(right(latency, 10)),
        seg(right(bytes, 8)),
        ...(summary === '' || width - fixed < 6
          ? []
          : [seg(`  ${left(summary, width - fixed)}`.trimEnd(), { dim: true })]),
      ]}
    />
  );
}

/** The device's state machine on one line, its current state highlighted. */
function StateLine({ current, width }: { current: string; width: number }): ReactNode {
  const machine: Seg[] = [seg(left('state', 8), { bold: true })];
  const wide = width >= 95;
  THING_STATES.forEach((s, i) => {
    if (i > 0) machine.push(seg(i < 5 ? (wide ? ' › ' : '›') : wide ? ' · ' : '·', { dim: true }));
    machine.push(s === current ? seg(` ${s} `, { inverse: true, bold: true, red: s === 'failed' }) : seg(s));
  });
  return <Line segs={machine} />;
}

/** How many state changes and messages fit in `height` rows beside the title, state line and list titles. */
function deviceRows(d: DeviceDetail, height: number): { nTransitions: number; nMessages: number } {
  // Title, state line, two list titles, and whichever optional lines are there.
  const fixed =
    4 +
    (d.modules && d.modules.length > 0 ? 1 : 0) +
    (d.lastError ? 1 : 0) +
    (d.note ? 1 : 0) +
    (d.transitions.length === 0 ? 1 : 0) +
    (d.messages.length === 0 ? 1 : 0);
  const room = Math.max(2, height - fixed);
  // The messages get a fixed number of rows (fewer on a short terminal); state changes the rest, at least one.
  const nMessages = Math.min(
    d.messages.length,
    DEVICE_MESSAGE_ROWS,
    Math.max(1, room - Math.min(3, d.transitions.length || 1)),
  );
  const nTransitions = Math.min(d.transitions.length, Math.max(1, room - nMessages));
  return { nTransitions, nMessages };
}

function Transitions({ d, n, at }: { d: DeviceDetail; n: number; at: (ms: number) => string }): ReactNode {
  return (
    <>
      <Line
        segs={[
          seg('state changes', { bold: true }),
          seg(d.transitions.length > n ? ` (last ${n} of ${d.transitions.length})` : '', { dim: true }),
        ]}
      />
      {d.transitions.length === 0 ? <Line segs={[seg('  none yet', { dim: true })]} /> : null}
      {d.transitions.slice(-n).map((t, i) => (
        <Line
          key={`t${i}`}
          segs={[
            seg(at(t.atMs)),
            seg(`  ${t.from} → `),
            seg(t.to, { bold: true }),
            seg(t.reason ? `  ${oneLine(t.reason)}` : '', { dim: true }),
          ]}
        />
      ))}
    </>
  );
}

function Messages(props: {
  d: DeviceDetail;
  n: number;
  at: (ms: number) => string;
  width: number;
  since: string;
}): ReactNode {
  const { d, n, at, width, since } = props;
  const recorded = d.messagesRecorded ?? d.messages.length;
  return (
    <>
      <Line
        segs={[
          seg('last messages', { bold: true }),
          seg(` newest first${recorded > n ? ` (${n} of ${fmtCount(recorded)})` : ''}${since}`, { dim: true }),
        ]}
      />
      {d.messages.length === 0 ? (
        <Line segs={[seg('  none yet: recording began when this view opened', { dim: true })]} />
      ) : null}
      {d.messages.slice(0, n).map((m, i) => (
        <MessageLine key={`m${i}`} m={m} at={at} width={width} />
      ))}
    </>
  );
}

/** What the device view shows without an answer to show: asking, no such device, or the question failed. */
function drillNotice(drill: Drill): ReactNode {
  if (drill.status === 'loading' && drill.detail === undefined)
    return <Line segs={[seg(`asking the worker that runs ${drill.id}…`)]} />;
  if (drill.status === 'missing')
    return <Line segs={[seg(`no device "${drill.id}" in this run`, { red: true }), seg('  (d to try another)')]} />;
  if (drill.status === 'error' && drill.detail === undefined)
    return <Line segs={[seg(`could not ask about ${drill.id}: ${drill.error ?? 'unknown error'}`, { red: true })]} />;
  return undefined;
}

function DeviceView(props: { drill: Drill; state: DashboardState; width: number; height: number }): ReactNode {
  const { drill, state, width } = props;
  const notice = drillNotice(drill);
  if (notice !== undefined) return notice;
  const d = drill.detail!;
  const at = (ms: number) => right(fmtRunTime(ms - state.startedAtMs), 10);
  const facts = [
    d.group,
    patternLabel(d.pattern),
    ...(d.workerIndex === undefined ? [] : [`worker ${d.workerIndex}`]),
    `${fmtCount(d.pendingAcks)} unacked`,
  ];
  const { nTransitions, nMessages } = deviceRows(d, props.height);
  const since =
    d.messagesSinceMs === undefined ? '' : ` · recorded since ${fmtRunTime(d.messagesSinceMs - state.startedAtMs)}`;
  return (
    <Box flexDirection="column">
      <Line
        segs={[
          seg('device ', { bold: true }),
          seg(d.deviceId, { bold: true, inverse: true }),
          seg(`  ${facts.join(' · ')}`),
          ...(drill.status === 'error' ? [seg('  (stale)', { red: true })] : []),
        ]}
      />
      <StateLine current={d.state} width={width} />
      {d.modules && d.modules.length > 0 ? (
        <Line
          segs={[
            seg(left('modules', 8), { bold: true }),
            seg(d.modules.map((m) => `${m.moduleId} ${m.state}`).join(' · ')),
          ]}
        />
      ) : null}
      <Transitions d={d} n={nTransitions} at={at} />
      <Messages d={d} n={nMessages} at={at} width={width} since={since} />
      {d.lastError ? (
        <Line
          segs={[
            seg('last error ', { bold: true }),
            seg(d.lastError.cls, { red: true }),
            seg(` at ${fmtRunTime(d.lastError.atMs - state.startedAtMs)}  `),
            seg(left(oneLine(d.lastError.message), Math.max(0, width - 40)).trimEnd()),
          ]}
        />
      ) : null}
      {d.note ? <Line segs={[seg(d.note, { dim: true })]} /> : null}
    </Box>
  );
}

// ---------------------------------------------------------------------------------------------------------

function useTerminalSize(columns?: number, rows?: number): { columns: number; rows: number } {
  const { stdout } = useStdout();
  const read = () => ({ columns: columns ?? (stdout.columns || 80), rows: rows ?? (stdout.rows || 24) });
  const [size, setSize] = useState(read);
  useEffect(() => {
    if (columns !== undefined && rows !== undefined) return;
    const onResize = () => setSize(read());
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  });
  return columns !== undefined && rows !== undefined ? { columns, rows } : size;
}

type Ask = (id: string, keep?: DeviceDetail) => void;

/** The device being looked at, and how to ask its worker about one (an answer after unmounting is dropped). */
function useDrill(callbacks: RefObject<DashboardProps>): [Drill | null, Ask] {
  const [drill, setDrill] = useState<Drill | null>(null);
  const mounted = useRef(true);
  useEffect(() => () => void (mounted.current = false), []);
  const ask: Ask = (id, keep) => {
    setDrill({ id, status: 'loading', ...(keep ? { detail: keep } : {}) });
    callbacks.current.onDrill(id).then(
      (detail) => {
        if (!mounted.current) return;
        setDrill((cur) => (cur?.id !== id ? cur : detail ? { id, status: 'ok', detail } : { id, status: 'missing' }));
      },
      (err: unknown) => {
        if (!mounted.current) return;
        setDrill((cur) =>
          cur?.id !== id ? cur : { ...cur, status: 'error', error: err instanceof Error ? err.message : String(err) },
        );
      },
    );
  };
  return [drill, ask];
}

/**
 * While a device is on screen, ask again now and then; one question at a time. Only the answer (a new drill) or
 * a change of view restarts the timer: the run's own updates re-render every second and must not.
 */
function useDeviceRefresh(view: RefObject<View>, drill: Drill | null, ask: Ask, refreshMs: number): void {
  const v = view.current;
  useEffect(() => {
    if (
      v.mode !== 'device' ||
      drill === null ||
      drill.id !== v.deviceId ||
      drill.status === 'loading' ||
      drill.status === 'missing'
    )
      return;
    const timer = setTimeout(() => {
      // Effects are cleaned up after the frame is drawn: the view may have closed since.
      if (view.current.mode === 'device' && view.current.deviceId === drill.id) ask(drill.id, drill.detail);
    }, refreshMs);
    return () => clearTimeout(timer);
  }, [v.mode, v.deviceId, drill, refreshMs]);
}

/** Carries out what the keys asked for, through the callbacks; Ctrl-C without onInterrupt stops, then SIGINTs. */
function applyEffects(effects: Effect[], view: RefObject<View>, cb: DashboardProps, ask: Ask): void {
  for (const e of effects) {
    if (e.type === 'stop') cb.onStop();
    else if (e.type === 'pause') cb.onPause(e.paused);
    else if (e.type === 'drill') ask(e.deviceId);
    else if (cb.onInterrupt) cb.onInterrupt();
    else if (e.count === 1) {
      if (!view.current.stopRequested) {
        view.current = { ...view.current, stopRequested: true };
        cb.onStop();
      }
    } else process.kill(process.pid, 'SIGINT');
  }
}

/** Keys, reduced one after the other into the view; a changed view repaints and its effects run. */
function useKeys(view: RefObject<View>, callbacks: RefObject<DashboardProps>, ask: Ask): void {
  const { isRawModeSupported } = useStdin();
  const [, repaint] = useState(0);
  useInput(
    (input, key) => {
      const effects: Effect[] = [];
      const before = view.current;
      for (const [i, k] of splitKeys(input, key)) {
        const r = reduceKey(view.current, i, k, callbacks.current.deviceIds);
        view.current = r.view;
        effects.push(...r.effects);
      }
      if (view.current === before) return;
      repaint((n) => n + 1);
      applyEffects(effects, view, callbacks.current, ask);
    },
    { isActive: isRawModeSupported === true },
  );
}

/** The main view: identities, rates, latency, errors, events, and the ledger and system lines when they fit. */
function Overview({ state, layout, width }: { state: DashboardState; layout: Layout; width: number }): ReactNode {
  const gap = layout.gaps ? <Blank /> : null;
  return (
    <>
      <Identities state={state} layout={layout} />
      <Rates state={state} width={width} />
      {gap}
      <Latency state={state} layout={layout} />
      {gap}
      <Errors state={state} layout={layout} />
      <Events state={state} layout={layout} />
      {layout.ledger || layout.system ? gap : null}
      {layout.ledger ? <Ledger state={state} width={width} /> : null}
      {layout.system ? <System state={state} layout={layout} /> : null}
    </>
  );
}

export function Dashboard(props: DashboardProps): ReactNode {
  const { state } = props;
  const { columns, rows } = useTerminalSize(props.columns, props.rows);
  const width = Math.max(20, columns);
  // The view lives in a ref: keys are reduced synchronously, one after the other, whatever React batches.
  const view = useRef<View>(initialView(state.paused));
  const callbacks = useRef<DashboardProps>(props);
  callbacks.current = props;
  const [drill, ask] = useDrill(callbacks);
  useDeviceRefresh(view, drill, ask, props.deviceRefreshMs ?? 2000);
  useKeys(view, callbacks, ask);

  const v = view.current;
  const mode = v.mode;
  const paused = v.paused;
  const stopping = v.stopRequested || state.stopping;
  const shownDrill = drill !== null && drill.id === v.deviceId ? drill : null;
  const layout = planLayout(state, width, rows);
  const body = (() => {
    if (mode === 'help') return <Help width={width} />;
    if (mode === 'device' || (mode === 'prompt' && shownDrill !== null))
      return shownDrill ? <DeviceView drill={shownDrill} state={state} width={width} height={rows - 4} /> : null;
    return <Overview state={state} layout={layout} width={width} />;
  })();

  return (
    <>
      <Static key={props.logsKey ?? 0} items={[...(props.logs ?? [])]}>
        {(item) => <Text key={item.id}>{item.line}</Text>}
      </Static>
      <Box flexDirection="column" width={width}>
        <Header state={state} width={width} paused={paused || state.paused} stopping={stopping} />
        {layout.gaps && mode === 'main' ? <Blank /> : null}
        {body}
        {layout.gaps && mode === 'main' ? <Blank /> : null}
        <Footer mode={mode} paused={paused} stopping={stopping} prompt={v.prompt} />
      </Box>
    </>
  );
}
