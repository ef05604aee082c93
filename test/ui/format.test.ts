import { describe, expect, it } from 'vitest';
import {
  fmtClock,
  fmtCount,
  fmtMs,
  fmtRate,
  levelBlocks,
  oneLine,
  progressBar,
  sparkline,
  truncate,
} from '../../src/ui/format.js';
import { identityTable, planLayout, mainHeight } from '../../src/ui/layout.js';
import { emptyStates, initialState, type DashboardState } from '../../src/ui/model.js';
import { reduceKey, splitKeys, initialView, type View } from '../../src/ui/keys.js';

describe('formatters', () => {
  it('draws a sparkline scaled to the largest value, with gaps as spaces', () => {
    expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7], 8)).toBe('▁▂▃▄▅▆▇█');
    expect(sparkline([10, null, 5, 10], 4)).toBe('█ ▅█');
    expect(sparkline([1, 2, 3, 4, 5], 2)).toBe('▇█'); // last values only
    expect(sparkline([0, 0], 2)).toBe('▁▁');
    expect(sparkline([NaN, Infinity], 2)).toBe('  ');
  });

  it('formats numbers for narrow columns, never NaN', () => {
    expect(fmtCount(1234567)).toBe('1,234,567');
    expect(fmtCount(1234567, 6)).toBe('1.23M');
    expect(fmtCount(NaN)).toBe('–');
    expect(fmtMs(null)).toBe('–');
    expect(fmtMs(3.14159)).toBe('3.14');
    expect(fmtMs(42.26)).toBe('42.3');
    expect(fmtMs(1234.5)).toBe('1235');
    expect(fmtMs(12_345)).toBe('12.3s');
    expect(fmtRate(0.2)).toBe('0.2');
    expect(fmtRate(1234)).toBe('1,234');
    expect(fmtClock(83_000)).toBe('1:23');
    expect(fmtClock(3_723_000)).toBe('1:02:03');
    expect(progressBar(0.5, 10)).toBe('█████░░░░░');
    expect(progressBar(7, 4)).toBe('████');
    expect(levelBlocks([0, 0.5, 1])).toBe('▁▅█');
    expect(truncate('abcdef', 4)).toBe('abc…');
  });

  it('turns what a remote end said into one harmless line', () => {
    expect(oneLine('a\nb\u001B[2J\u001B[31mc\u0007  d')).toBe('a bc d'); // escapes go, text stays
  });
});

function stateWith(groups: number, ops: number, errors: number): DashboardState {
  const s = initialState({ scenario: 'x', profile: 'y', target: 'z', startedAtMs: 0, durationMs: 60_000 });
  s.groups = Array.from({ length: groups }, (_, i) => ({
    name: `group-${i}`,
    states: { ...emptyStates(), connected: 10 * i, waiting: 5 },
  }));
  s.operations = Array.from({ length: ops }, (_, i) => ({
    name: `op${i}`,
    count: 1,
    perSecond: 1,
    p50: 1,
    p95: 2,
    p99: 3,
    history: [1, 2, 3],
  }));
  s.errors = Array.from({ length: errors }, (_, i) => ({ cls: `e${i}`, count: 100 - i, lastMessage: 'boom' }));
  return s;
}

describe('layout', () => {
  it('never plans a frame as tall as the terminal when the minimum fits', () => {
    for (const [cols, rows] of [
      [80, 24],
      [100, 30],
      [50, 20],
      [200, 60],
      [80, 16],
    ] as const) {
      for (const [g, o, e] of [
        [0, 0, 0],
        [1, 3, 0],
        [3, 5, 3],
        [30, 8, 7],
        [12, 2, 12],
      ] as const) {
        const l = planLayout(stateWith(g, o, e), cols, rows);
        expect(l.height, `${cols}x${rows} ${g}/${o}/${e}`).toBeLessThanOrEqual(rows - 1);
        expect(mainHeight(stateWith(g, o, e), l)).toBe(l.height);
      }
    }
  });

  it('shows everything at 80×24 for a typical run, and folds long lists rather than dropping the ledger', () => {
    const typical = planLayout(stateWith(3, 5, 3), 80, 24);
    expect(typical).toMatchObject({ groups: 3, operations: 5, errors: 3, ledger: true, system: true });
    const crowded = planLayout(stateWith(30, 8, 7), 80, 24);
    expect(crowded.ledger).toBe(true);
    expect(crowded.groups).toBeLessThan(30);
    expect(crowded.operations).toBeGreaterThanOrEqual(1);
  });

  it('fits the identities table to the width, hiding all-zero columns first', () => {
    const s = stateWith(3, 0, 0);
    const all = { name: 'all', states: emptyStates() };
    for (const width of [40, 50, 60, 80, 100, 160]) {
      const t = identityTable(s.groups, all, width);
      const used =
        t.nameWidth +
        t.widths.reduce((a, b) => a + b + t.gap, 0) +
        t.totalWidth +
        t.gap +
        (t.patternWidth ? t.patternWidth + t.gap : 0);
      expect(used, `width ${width}`).toBeLessThanOrEqual(width);
      expect(t.columns.some((c) => c.states.includes('connected'))).toBe(true);
    }
    const t80 = identityTable(s.groups, all, 80);
    expect(t80.columns.map((c) => c.label)).not.toContain('stopped'); // all zero, and room was short
    expect(t80.columns.map((c) => c.label)).toContain('waiting'); // not zero
  });
});

describe('keys', () => {
  it('splits a burst of typed keys so a command key and the text after it both count', () => {
    let v = initialView();
    for (const [i, k] of splitKeys('ddev-\t', {})) v = reduceKey(v, i, k, ['dev-1', 'dev-2']).view;
    expect(v.mode).toBe('prompt');
    expect(v.prompt).toBe('dev-1');
    const r = reduceKey(v, '', { return: true });
    expect(r.effects).toEqual([{ type: 'drill', deviceId: 'dev-1' }]);
    expect(r.view.mode).toBe('device');
  });

  it('cycles Tab through the ids that start with what was typed', () => {
    let v: View = { ...initialView(), mode: 'prompt', prompt: 'b' };
    const ids = ['a-1', 'b-1', 'b-2', 'b-3'];
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      v = reduceKey(v, '', { tab: true }, ids).view;
      seen.push(v.prompt);
    }
    expect(seen).toEqual(['b-1', 'b-2', 'b-3', 'b-1']);
  });

  it('stops once, and ignores pause while stopping', () => {
    let v = initialView();
    const a = reduceKey(v, 'q', {});
    v = a.view;
    expect(a.effects).toEqual([{ type: 'stop' }]);
    expect(reduceKey(v, 'q', {}).effects).toEqual([]);
    expect(reduceKey(v, 'p', {}).effects).toEqual([]);
  });
});
