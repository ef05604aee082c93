// The dashboard as ink-testing-library sees it: frames and keys. (A .ts file with createElement, because
// vitest's include is test/**/*.test.ts.)
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createElement } from 'react';
import { EventEmitter } from 'node:events';
import { renderToString } from 'ink';
import { cleanup, render } from 'ink-testing-library';
import { Dashboard, type DashboardProps } from '../../src/ui/dashboard.js';
import { formatProgressLine, shouldUseDashboard, startDashboard, type DeviceDetail } from '../../src/ui/index.js';
import { initialState } from '../../src/ui/model.js';
import { cells, device, fullState, lines, LONG_MESSAGE, T0 } from './fixtures.js';

afterEach(() => cleanup());

function mount(overrides: Partial<DashboardProps> = {}) {
  const onStop = vi.fn();
  const onPause = vi.fn();
  const onDrill = vi.fn((id: string): Promise<DeviceDetail | undefined> =>
    Promise.resolve(id.startsWith('thermostats-') ? device(id) : undefined),
  );
  const onInterrupt = vi.fn();
  const props: DashboardProps = {
    state: fullState(),
    onStop,
    onPause,
    onDrill,
    onInterrupt,
    columns: 100,
    rows: 30,
    deviceIds: ['edge-gateways-0000', 'thermostats-0000', 'thermostats-0001'],
    deviceRefreshMs: 60_000,
    ...overrides,
  };
  const r = render(createElement(Dashboard, props));
  const frame = () => lines(r.lastFrame()).join('\n');
  const press = async (...keys: string[]) => {
    for (const k of keys) {
      r.stdin.write(k);
      // One key per read, as a person types.
      await new Promise((res) => setTimeout(res, 5));
    }
  };
  return { ...r, props, onStop, onPause, onDrill, onInterrupt, frame, press };
}

const line = (frame: string, start: string) => frame.split('\n').find((l) => l.startsWith(start)) ?? '';

describe('dashboard frame', () => {
  it('shows the numbers of the state it is given', () => {
    const { frame } = mount();
    const f = frame();
    expect(line(f, 'edgefleet ')).toContain('quickstart · profile ramp · target emulator 127.0.0.1:8883');
    expect(line(f, 'edgefleet ')).toContain('RUNNING');
    expect(line(f, 'stage 1/2 → 50/s')).toContain('1:23 / 5:00 · 3:37 left');
    expect(line(f, 'stage 1/2')).toMatch(/█+░+/);
    const thermo = line(f, 'thermostats').split(/\s+/);
    // waiting, provisioning, connecting, connected, backing off, (stopped is all 0: left out at this width? no: 100
    // cols), failed, total
    expect(thermo).toContain('612');
    expect(thermo).toContain('385');
    expect(thermo.at(-1)).toBe('1,062');
    expect(line(f, 'all').split(/\s+/).at(-1)).toBe('1,082');
    expect(line(f, 'msgs/s')).toMatch(/sent 1,646\s+acked 1,645\s+failed 1\s+errors\/s 2/);
    expect(line(f, 'telemetry').split(/\s+/).slice(0, 5)).toEqual(['telemetry', '1,646', '4.21', '9.06', '30.5']);
    expect(line(f, 'command')).toMatch(/command\s+0\s+–\s+–\s+–/);
    expect(line(f, 'timeout')).toMatch(/^timeout\s+27\s+telemetry to devices/);
    const ledger = f.split('\n');
    const li = ledger.findIndex((l) => l.startsWith('ledger'));
    expect(ledger[li]).toMatch(/generated = +acked \+ +failed \+ expired \+ dropped \+ in flight/);
    expect(ledger[li + 1]).toMatch(/23,044 = 22,967 \+ +25 \+ +0 \+ +0 \+ +52 +✓ balanced/);
    expect(f).toContain('lateness p99 1.20 ms  max 14.5 ms');
    expect(line(f, 'workers')).toMatch(/^workers 4\s+busy \S{4}\s+avg 63%\s+max 85% #3\s+heap 280 MB/);
    expect(f).toMatch(/process cpu 214%\s+rss 420 MB/);
    expect(line(f, 'q stop')).toContain('d device');
  });

  it('draws each p99 history as a sparkline, newest at the right edge', () => {
    const f = mount().frame();
    expect(line(f, 'telemetry').endsWith('▁▂▃▄▅▆▇█')).toBe(true);
    expect(line(f, 'connect').endsWith(' █')).toBe(true); // a second without samples is a gap
  });

  it('cuts long error messages at the terminal width', () => {
    for (const columns of [60, 80, 100]) {
      const f = mount({ columns }).frame();
      const l = line(f, 'timeout');
      expect(cells(l), `width ${columns}`).toBeLessThanOrEqual(columns);
      expect(l.endsWith('…')).toBe(true);
      expect(f).not.toContain('END-OF-MESSAGE');
      expect(LONG_MESSAGE.startsWith(l.replace(/^timeout\s+27\s+/, '').replace(/…$/, ''))).toBe(true);
      cleanup();
    }
  });

  it('fits any width and height: no line wider, no frame taller, nothing unprintable', () => {
    for (const [columns, rows] of [
      [40, 16],
      [60, 20],
      [80, 24],
      [100, 30],
      [160, 50],
    ] as const) {
      // renderToString: ink-testing-library's stdout is fixed at 100 columns.
      const out = lines(renderToString(createElement(Dashboard, { ...mount().props, columns, rows }), { columns }));
      cleanup();
      const label = `${columns}x${rows}`;
      expect(out.length, label).toBeLessThanOrEqual(rows - 1);
      for (const l of out) expect(cells(l), `${label}: ${l}`).toBeLessThanOrEqual(columns);
      const text = out.join('\n');
      expect(text, label).not.toMatch(/NaN|undefined|\[object Object\]|Infinity|null/);
      expect(text, label).toContain('identities');
      expect(text, label).toContain('latency ms');
    }
  });

  it('renders an empty run (nothing reported yet) without dashes of garbage', () => {
    const s = initialState({ scenario: 'x', profile: 'smoke', target: 'mqtt', startedAtMs: T0, durationMs: 60_000 });
    const f = lines(
      renderToString(createElement(Dashboard, { ...mount().props, state: s, columns: 80, rows: 24 }), { columns: 80 }),
    ).join('\n');
    expect(f).toContain('no samples yet');
    expect(f).toContain('errors  none');
    expect(f).toMatch(/^all\s+0\s+0\s+0/m);
    expect(f).not.toMatch(/NaN|undefined|\[object Object\]/);
  });
});

describe('dashboard: patterns, lateness, device messages', () => {
  const withPatterns = () => {
    const s = fullState();
    s.groups[1]!.pattern = 'IoT Edge device';
    s.patterns = [
      { pattern: 'device', label: 'plain device', states: { ...s.groups[0]!.states } },
      { pattern: 'iotEdge', label: 'IoT Edge device', states: { ...s.groups[1]!.states } },
    ];
    return s;
  };

  it('shows identities per pattern under the groups, each pattern in the pattern column', () => {
    // Wide enough for the pattern column (below that, the state columns come first).
    const rows = lines(
      renderToString(createElement(Dashboard, { ...mount().props, state: withPatterns(), columns: 120, rows: 40 }), {
        columns: 120,
      }),
    );
    cleanup();
    const f = rows.join('\n');
    const by = rows.findIndex((l) => l.startsWith('by pattern'));
    expect(rows[by]).toMatch(/^by pattern\s+plain device\s+385\s+26\s+24\s+612\s+12\s+(0\s+)?3\s+1,062$/);
    expect(rows[by + 1]).toMatch(/^\s+IoT Edge device\s+2\s+0\s+0\s+18\s+0\s+(0\s+)?0\s+20$/);
    expect(rows[by + 2]).toMatch(/^all\s/);
    expect(line(f, 'edge-gateways')).toMatch(/^edge-gateways\s+IoT Edge device\s/);
  });

  it('names the pattern in the name column when the pattern column does not fit', () => {
    const out = lines(
      renderToString(createElement(Dashboard, { ...mount().props, state: withPatterns(), columns: 60, rows: 40 }), {
        columns: 60,
      }),
    );
    cleanup();
    expect(out.some((l) => /^plain device\s+[\d,]+/.test(l))).toBe(true);
    expect(out.some((l) => /^IoT Edge device\s+[\d,]+/.test(l))).toBe(true);
    for (const l of out) expect(cells(l)).toBeLessThanOrEqual(60);
  });

  it('leaves the pattern rows out when there is one pattern', () => {
    const s = withPatterns();
    s.patterns = s.patterns.slice(0, 1);
    expect(mount({ state: s }).frame()).not.toContain('by pattern');
  });

  it('draws scheduler lateness of each second as a sparkline on the system line', () => {
    const f = mount().frame();
    // history [0.5, 0.6, null, 1.2]: a gap for the second without timers, the highest at the right.
    expect(line(f, 'lateness')).toMatch(/^lateness p99 1\.20 ms {2}max 14\.5 ms {2} {12}▄▅ █ {2}process/);
  });

  it('shows a fixed number of the last messages, newest first, with outcome, latency and size', async () => {
    const many = device('thermostats-0000');
    many.messages = Array.from({ length: 20 }, (_, i) => ({
      atMs: T0 + 30_000 - i * 1000,
      direction: i % 5 === 0 ? ('down' as const) : ('up' as const),
      kind: i % 5 === 0 ? 'command' : 'telemetry',
      status: i === 3 ? ('failed' as const) : i % 5 === 0 ? ('answered' as const) : ('acked' as const),
      latencyMs: 2 + i,
      bytes: 20,
      summary: i === 3 ? 'connection lost' : `n${i}`,
      ...(i === 7 ? { module: 'SimulatedTemperatureSensor' } : {}),
    }));
    many.messagesRecorded = 57;
    const m = mount({ onDrill: vi.fn(() => Promise.resolve(many)), rows: 40 });
    await m.press('d', 'thermostats-0000', '\r');
    await vi.waitFor(() => expect(m.frame()).toContain('device thermostats-0000'));
    const f = m.frame();
    expect(f).toMatch(/^last messages newest first \(10 of 57\) · recorded since 0:01\.500$/m);
    const rows = f.split('\n').filter((l) => /^\s+\d:\d\d\.\d{3} {2}[↑↓!] /.test(l));
    expect(rows).toHaveLength(10);
    expect(rows[0]).toMatch(/^\s+0:30\.000 {2}↓ command +answered +2\.00 ms +20 B +n0$/);
    expect(rows[3]).toMatch(/0:27\.000 {2}↑ telemetry +failed +5\.00 ms +20 B +connection lost$/);
    expect(rows[7]).toMatch(/SimulatedTemperatureSensor › n7$/);
    expect(rows.at(-1)).toMatch(/^\s+0:21\.000 /);
  });

  it('says recording began with the view when there is no message yet', async () => {
    const quiet = { ...device('thermostats-0000'), messages: [], messagesRecorded: 0 };
    const m = mount({ onDrill: vi.fn(() => Promise.resolve(quiet)) });
    await m.press('d', 'thermostats-0000', '\r');
    await vi.waitFor(() => expect(m.frame()).toContain('none yet: recording began when this view opened'));
  });

  it('keeps asking while the run updates the screen more often than the view asks', async () => {
    const m = mount({ deviceRefreshMs: 60 });
    await m.press('d', 'thermostats-0000', '\r');
    await vi.waitFor(() => expect(m.frame()).toContain('device thermostats-0000'));
    // The coordinator re-renders every second in a run; here every 10 ms, well within the 60 ms refresh.
    let n = 0;
    const timer = setInterval(
      () =>
        m.rerender(
          createElement(Dashboard, {
            ...m.props,
            deviceRefreshMs: 60,
            state: { ...m.props.state, elapsedMs: 83_000 + ++n },
          }),
        ),
      10,
    );
    try {
      await vi.waitFor(() => expect(m.onDrill.mock.calls.length).toBeGreaterThanOrEqual(4), { timeout: 3000 });
    } finally {
      clearInterval(timer);
    }
  });
});

describe('dashboard keys', () => {
  it('q stops once', async () => {
    const m = mount();
    await m.press('q', 'q');
    expect(m.onStop).toHaveBeenCalledTimes(1);
    await vi.waitFor(() => expect(m.frame()).toContain('STOPPING'));
    expect(m.frame()).toContain('draining in-flight messages');
  });

  it('p pauses arrivals, p again resumes', async () => {
    const m = mount();
    await m.press('p');
    expect(m.onPause).toHaveBeenLastCalledWith(true);
    await vi.waitFor(() => expect(m.frame()).toContain('PAUSED'));
    await m.press('p');
    expect(m.onPause).toHaveBeenLastCalledWith(false);
    expect(m.onPause).toHaveBeenCalledTimes(2);
    await vi.waitFor(() => expect(m.frame()).toContain('RUNNING'));
  });

  it('? shows the help, Esc closes it', async () => {
    const m = mount();
    await m.press('?');
    await vi.waitFor(() => expect(m.frame()).toMatch(/^ledger\s+generated = acked \+ failed/m));
    expect(m.frame()).not.toContain('latency ms');
    await m.press('\u001B');
    await vi.waitFor(() => expect(m.frame()).toContain('latency ms'));
  });

  it('d asks for a device id (Tab completes), drills into it, and shows its states and last messages', async () => {
    const m = mount();
    await m.press('d');
    await vi.waitFor(() => expect(m.frame()).toContain('device id ›'));
    await m.press('t', 'h', 'e', '\t', '\t');
    await vi.waitFor(() => expect(line(m.frame(), 'device id ›')).toContain('thermostats-0001'));
    await m.press('\r');
    expect(m.onDrill).toHaveBeenCalledWith('thermostats-0001');
    await vi.waitFor(() => expect(m.frame()).toContain('device thermostats-0001'));
    const f = m.frame();
    expect(line(f, 'device thermostats-0001')).toContain('thermostats · plain device · worker 1 · 2 unacked');
    expect(line(f, 'state')).toMatch(/waiting.*provisioning.*connecting.*connected.*backingOff.*stopped.*failed/);
    expect(f).toMatch(/0:01\.000 {2}connecting → connected/);
    expect(f).toMatch(/^last messages newest first · recorded since 0:01\.500$/m);
    expect(f).toMatch(/0:02\.000 {2}↑ telemetry +acked +3\.50 ms +20 B +\{"temperature":21\.5\}/);
    expect(f).toMatch(/0:03\.000 {2}↓ command +answered +12\.0 ms +2 B +getMaxMinReport → 200/);
    // Newest first.
    const rows = f.split('\n').filter((l) => /^\s+0:0\d\.\d{3} {2}[↑↓!]/.test(l));
    expect(rows.map((l) => l.trim().slice(0, 8))).toEqual(['0:04.000', '0:03.000', '0:02.000']);
    // q still works in the device view; Esc goes back to the main view.
    await m.press('\u001B');
    await vi.waitFor(() => expect(m.frame()).toContain('latency ms'));
  });

  it('asks again while the device view is open, and stops asking when it closes', async () => {
    const m = mount({ deviceRefreshMs: 30 });
    await m.press('d', 'thermostats-0000', '\r');
    await vi.waitFor(() => expect(m.onDrill.mock.calls.length).toBeGreaterThanOrEqual(3));
    await m.press('\u001B');
    await vi.waitFor(() => expect(m.frame()).toContain('latency ms'));
    const asked = m.onDrill.mock.calls.length;
    await new Promise((r) => setTimeout(r, 150));
    expect(m.onDrill.mock.calls.length).toBe(asked);
    expect(m.onDrill.mock.calls.every(([id]) => id === 'thermostats-0000')).toBe(true);
  });

  it('says so when no worker has the device, and typing in the prompt does not trigger keys', async () => {
    const m = mount();
    await m.press('d', 'n', 'o', 'p', 'q', '\r');
    expect(m.onStop).not.toHaveBeenCalled();
    expect(m.onPause).not.toHaveBeenCalled();
    expect(m.onDrill).toHaveBeenCalledWith('nopq');
    await vi.waitFor(() => expect(m.frame()).toContain('no device "nopq" in this run'));
  });

  it('takes a burst of keys (a paste) one by one', async () => {
    const m = mount();
    await m.press('dthermostats-0000\r');
    expect(m.onDrill).toHaveBeenCalledWith('thermostats-0000');
    await vi.waitFor(() => expect(m.frame()).toContain('device thermostats-0000'));
  });

  it('Ctrl-C goes to onInterrupt (raw mode: the terminal sends no SIGINT)', async () => {
    const m = mount();
    await m.press('\u0003');
    expect(m.onInterrupt).toHaveBeenCalledTimes(1);
  });

  it('Ctrl-C stops gracefully when nobody handles it', async () => {
    const m = mount({ onInterrupt: undefined });
    await m.press('\u0003');
    expect(m.onStop).toHaveBeenCalledTimes(1);
  });
});

/** Enough of a TTY for Ink. */
function fakeTty() {
  const stdout = Object.assign(new EventEmitter(), {
    columns: 80,
    rows: 24,
    isTTY: true,
    out: '',
    write(s: string) {
      stdout.out += s;
      return true;
    },
  });
  const stdin = Object.assign(new EventEmitter(), {
    isTTY: true,
    setRawMode: () => {},
    setEncoding: () => {},
    resume: () => {},
    pause: () => {},
    ref: () => {},
    unref: () => {},
    read: () => null,
  });
  return { stdout, stdin };
}

describe('startDashboard', () => {
  it('renders, updates, prints log lines above, and closes leaving the last frame', async () => {
    const { stdout, stdin } = fakeTty();
    const initial = fullState();
    const dash = await startDashboard({
      initial,
      onStop: () => {},
      onPause: () => {},
      onDrill: () => Promise.resolve(undefined),
      stdout: stdout as unknown as NodeJS.WriteStream,
      stdin: stdin as unknown as NodeJS.ReadStream,
      stderr: stdout as unknown as NodeJS.WriteStream,
      patchConsole: false, // vitest's console cannot be patched
    });
    dash.log('a log line for the scrollback');
    dash.update({ ...initial, rates: { ...initial.rates, sentPerSecond: 98_765 } });
    await dash.close();
    await dash.close(); // twice is harmless
    dash.update(initial); // after close: ignored, no throw
    const out = lines(stdout.out).join('\n');
    expect(out).toContain('a log line for the scrollback');
    expect(out).toContain('sent 98,765');
  });

  it('prints every log line once, in batches, and summarises a flood', async () => {
    const { stdout, stdin } = fakeTty();
    const dash = await startDashboard({
      initial: fullState(),
      onStop: () => {},
      onPause: () => {},
      onDrill: () => Promise.resolve(undefined),
      patchConsole: false,
      stdout: stdout as unknown as NodeJS.WriteStream,
      stdin: stdin as unknown as NodeJS.ReadStream,
      stderr: stdout as unknown as NodeJS.WriteStream,
    });
    // 30 batches of 10: more than one <Static> generation (200 lines).
    for (let b = 0; b < 30; b++) {
      for (let i = 0; i < 10; i++) dash.log(`line-${b * 10 + i}-end`);
      await new Promise((r) => setTimeout(r, 120));
    }
    for (let i = 0; i < 1000; i++) dash.log(`flood-${i}-end`);
    await dash.close();
    const out = lines(stdout.out).join('\n');
    for (let i = 0; i < 300; i++) expect(out.match(new RegExp(`line-${i}-end`, 'g')), `line ${i}`).toHaveLength(1);
    expect(out.match(/flood-\d+-end/g)).toHaveLength(20);
    expect(out).toContain('… and 980 more log lines');
  });
});

describe('shouldUseDashboard', () => {
  it('only on a terminal, outside CI, unless --no-tui', () => {
    const tty = { isTTY: true };
    expect(shouldUseDashboard(tty, { noTui: false }, { TERM: 'xterm' })).toBe(true);
    expect(shouldUseDashboard(tty, { noTui: true }, {})).toBe(false);
    expect(shouldUseDashboard({ isTTY: false }, { noTui: false }, {})).toBe(false);
    expect(shouldUseDashboard({}, { noTui: false }, {})).toBe(false);
    expect(shouldUseDashboard(tty, { noTui: false }, { CI: 'true' })).toBe(false);
    expect(shouldUseDashboard(tty, { noTui: false }, { CI: '1' })).toBe(false);
    expect(shouldUseDashboard(tty, { noTui: false }, { CI: 'false' })).toBe(true);
    expect(shouldUseDashboard(tty, { noTui: false }, { CONTINUOUS_INTEGRATION: 'yes' })).toBe(false);
    expect(shouldUseDashboard(tty, { noTui: false }, { TERM: 'dumb' })).toBe(false);
  });
});

describe('formatProgressLine', () => {
  it('is one plain line with the same numbers', () => {
    const l = formatProgressLine(fullState());
    expect(l).not.toContain('\n');
    expect(l).toMatch(
      /^t=83s\/300s {2}stage 1\/2 → 50\/s {2}connected 630\/1,082 {2}arriving 50 {2}backing off 12 {2}failed 3 {2}/,
    );
    expect(l).toContain('sent 1,646/s acked 1,645/s  throttled 1/s');
    expect(l).toContain('telemetry p99 30.5 ms');
    expect(l).toContain('ledger 23,044 = 22,967 acked + 25 failed + 0 expired + 0 dropped + 52 in flight');
    expect(l).toContain('errors 29 (timeout 27, auth 2)');
  });

  it('says how many of each pattern are connected when there are several', () => {
    const s = fullState();
    s.patterns = [
      { pattern: 'device', label: 'plain device', states: { ...s.groups[0]!.states } },
      { pattern: 'iotEdge', label: 'IoT Edge device', states: { ...s.groups[1]!.states } },
    ];
    expect(formatProgressLine(s)).toContain('connected 630/1,082 (plain device 612/1,062, IoT Edge device 18/20)  ');
  });

  it('prints no NaN or undefined for a run that has not reported anything', () => {
    const l = formatProgressLine(
      initialState({ scenario: 'x', profile: 'y', target: 'z', startedAtMs: 0, durationMs: 0 }),
    );
    expect(l).toBe(
      't=0s/0s  starting  connected 0/0  sent 0/s acked 0/s  ledger 0 = 0 acked + 0 failed + 0 expired + 0 dropped + 0 in flight  errors 0',
    );
  });
});
