// The dashboard in a real terminal, as a person sees it: the demo (synthetic data) runs in a detached tmux
// session of a given size; capture-pane gives the screen. Needs the build (dist/ui/demo.js) and tmux.
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { systemPeer } from '../support/system-peer.js';

const DEMO = join(process.cwd(), 'dist/ui/demo.js');
const SOCKET = `edgefleet-ui-test-${process.pid}`;
const hasTmux = !systemPeer('tmux').missing;

// tmux needs a UTF-8 locale for the block characters; TMUX is unset so a run from inside tmux works too.
const env: NodeJS.ProcessEnv = { ...process.env, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', TERM: 'xterm-256color' };
delete env.TMUX;

function tmux(...args: string[]): string {
  const r = spawnSync('tmux', ['-L', SOCKET, '-f', '/dev/null', '-u', ...args], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function start(session: string, cols: number, rows: number): void {
  // Ink draws only the last frame when it believes it runs in CI, so the demo runs with CI unset.
  const cmd = `exec env -u CI -u CONTINUOUS_INTEGRATION ${quote(process.execPath)} ${quote(DEMO)} --seconds 60 --tick-ms 200`;
  tmux(
    'new-session',
    '-d',
    '-s',
    session,
    '-x',
    String(cols),
    '-y',
    String(rows),
    cmd,
    ';',
    'set-option',
    '-t',
    session,
    'remain-on-exit',
    'on',
  );
}

const screen = (session: string): string[] => tmux('capture-pane', '-p', '-t', session).replace(/\n$/, '').split('\n');
const keys = (session: string, ...k: string[]) => tmux('send-keys', '-t', session, ...k);
const typed = (session: string, text: string) => tmux('send-keys', '-t', session, '-l', text);

async function until(session: string, what: string, ok: (lines: string[]) => boolean, ms = 20_000): Promise<string[]> {
  const deadline = Date.now() + ms;
  let last: string[] = [];
  while (Date.now() < deadline) {
    last = screen(session);
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; the screen was:\n${last.join('\n')}`);
}

/** The numbers at the end of a table row (after the name, and the pattern when there is one). */
function numbers(line: string): number[] {
  const tokens = line.trim().split(/\s+/);
  const out: number[] = [];
  for (let i = tokens.length - 1; i > 0 && /^[\d,]+$/.test(tokens[i]!); i--)
    out.unshift(Number(tokens[i]!.replace(/,/g, '')));
  return out;
}

/** What must hold on any screen of the main view. */
function checkMainScreen(lines: string[], cols: number, rows: number): void {
  const text = lines.join('\n');
  const shown = `the screen was:\n${text}`;
  expect(text, shown).not.toMatch(/\[object Object\]|NaN|undefined|null|Infinity|\uFFFD/);
  expect(lines.length, shown).toBeLessThanOrEqual(rows);
  for (const l of lines) expect([...l].length, shown).toBeLessThanOrEqual(cols);
  // One header, one table: a frame drawn over a stale one would repeat them.
  expect(
    lines.filter((l) => l.startsWith('edgefleet quickstart · profile ramp · target emulator')),
    shown,
  ).toHaveLength(1);
  expect(
    lines.filter((l) => /^identities\s+waiting\s+/.test(l)),
    shown,
  ).toHaveLength(1);
  expect(
    lines.filter((l) => l.startsWith('latency ms')),
    shown,
  ).toHaveLength(1);
  expect(
    lines
      .find((l) => l.startsWith('edgefleet '))!
      .trimEnd()
      .endsWith('RUNNING'),
    shown,
  ).toBe(true);
  expect(
    lines.some((l) => /^stage 1\/2 → 50\/s\s+█*░*\s+\d:\d\d \/ 5:00 · \d:\d\d left$/.test(l)),
    shown,
  ).toBe(true);
  // The "all" row is the sum of the group rows, column by column.
  const groups = ['thermostats', 'edge-gateways', 'leaf-sensors'].map((g) => lines.find((l) => l.startsWith(g)));
  const all = lines.find((l) => l.startsWith('all '));
  expect(groups.every(Boolean) && all, shown).toBeTruthy();
  const sums = numbers(all!);
  groups.forEach((g) => expect(numbers(g!).length, shown).toBe(sums.length));
  sums.forEach((n, i) =>
    expect(
      groups.reduce((a, g) => a + (numbers(g!)[i] ?? NaN), 0),
      shown,
    ).toBe(n),
  );
  expect(
    lines
      .find((l) => l.startsWith('all '))!
      .trim()
      .endsWith('1,220'),
    shown,
  ).toBe(true);
  expect(
    lines.find((l) => l.startsWith('telemetry')),
    shown,
  ).toMatch(/^telemetry\s+[\d,]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[▁▂▃▄▅▆▇█ ]+$/);
  expect(text, shown).toMatch(/^msgs\/s\s+sent [\d,]+\s+acked [\d,]+/m);
  expect(text, shown).toMatch(/^timeout\s+\d+\s+telemetry to devices\/.*…$/m);
  expect(text, shown).toMatch(/^ledger\s+generated = +acked \+ +failed/m);
  expect(text, shown).toMatch(/✓ balanced$/m);
  expect(text, shown).toMatch(/^lateness p99 [\d.]+ ms/m);
  expect(text, shown).toMatch(/workers 4\s+busy [▁▂▃▄▅▆▇█]{4}/);
  expect(lines.filter((l) => l.trim() !== '').at(-1), shown).toMatch(/^q stop\s+p pause\s+d device\s+\? help$/);
}

afterAll(() => {
  if (hasTmux) spawnSync('tmux', ['-L', SOCKET, 'kill-server'], { env });
});

describe.skipIf(!hasTmux)('the dashboard in a real terminal (tmux)', () => {
  it('needs the build', () => {
    expect(existsSync(DEMO), `${DEMO} is missing: run "npm run build" (npm test builds first)`).toBe(true);
  });

  it('shows the header, the tables and the keys at 100×30, and the keys work', async () => {
    const s = 'wide';
    start(s, 100, 30);
    // A few seconds in: identities are arriving, every section has numbers, and errors have happened.
    const lines = await until(
      s,
      'a filled dashboard',
      (l) => l.some((x) => x.startsWith('timeout')) && l.some((x) => x.startsWith('auth')),
    );
    checkMainScreen(lines, 100, 30);

    keys(s, '?');
    await until(
      s,
      'the help',
      (l) => l.some((x) => x.startsWith('help')) && !l.some((x) => x.startsWith('latency ms')),
    );
    keys(s, 'Escape');
    await until(s, 'the main view again', (l) => l.some((x) => x.startsWith('latency ms')));

    keys(s, 'p');
    await until(s, 'PAUSED', (l) => l.some((x) => x.startsWith('edgefleet ') && x.trimEnd().endsWith('PAUSED')));
    keys(s, 'p');
    await until(s, 'RUNNING', (l) => l.some((x) => x.startsWith('edgefleet ') && x.trimEnd().endsWith('RUNNING')));

    keys(s, 'd');
    await until(s, 'the device prompt', (l) => l.some((x) => x.startsWith('device id ›')));
    typed(s, 'edge-g');
    keys(s, 'Tab');
    await until(s, 'Tab completion', (l) => l.some((x) => x.startsWith('device id › edge-gateways-0000')));
    keys(s, 'Enter');
    const dev = await until(
      s,
      'the device view',
      (l) => l.some((x) => x.startsWith('device edge-gateways-0000')) && l.some((x) => x.includes('↑ telemetry')),
    );
    const devText = dev.join('\n');
    expect(devText).toMatch(
      /^state\s+waiting › provisioning › connecting ›\s+connected\s+› backingOff · stopped · failed$/m,
    );
    expect(devText).toMatch(/^modules\s+\$edgeAgent connected · \$edgeHub connected/m);
    expect(devText).toMatch(/connecting → connected/);
    expect(devText).not.toMatch(/\[object Object\]|NaN|undefined/);
    keys(s, 'Escape');
    await until(s, 'the main view again', (l) => l.some((x) => x.startsWith('latency ms')));

    keys(s, 'q');
    await until(s, 'STOPPING', (l) => l.some((x) => x.startsWith('edgefleet ') && x.trimEnd().endsWith('STOPPING')));
    const end = await until(s, 'the demo to finish', (l) => l.some((x) => x.startsWith('demo finished')));
    // The last frame stays on screen above what comes after.
    expect(end.some((l) => l.startsWith('latency ms'))).toBe(true);
    expect(end.filter((l) => l.startsWith('edgefleet quickstart'))).toHaveLength(1);
  }, 60_000);

  it('fits 80×24 with nothing cut off or repeated', async () => {
    const s = 'std';
    start(s, 80, 24);
    const lines = await until(
      s,
      'a filled dashboard',
      (l) => l.some((x) => x.startsWith('timeout')) && l.some((x) => x.startsWith('auth')),
    );
    checkMainScreen(lines, 80, 24);
    // Every state column that is not 0 somewhere is there; stopped (0 everywhere) may be left out.
    expect(lines.find((l) => l.startsWith('identities'))).toMatch(
      /^identities\s+waiting\s+provision\s+connecting\s+connected\s+backoff\s+failed\s+total$/,
    );
    keys(s, 'q');
    await until(s, 'the demo to finish', (l) => l.some((x) => x.startsWith('demo finished')));
  }, 60_000);

  it('degrades at 50×20: fewer columns, still one frame, nothing wider than the terminal', async () => {
    const s = 'narrow';
    start(s, 50, 20);
    const lines = await until(s, 'a dashboard', (l) => l.some((x) => x.startsWith('telemetry')));
    const text = lines.join('\n');
    expect(text).not.toMatch(/\[object Object\]|NaN|undefined|null|\uFFFD/);
    expect(lines.filter((l) => l.startsWith('edgefleet '))).toHaveLength(1);
    expect(lines.find((l) => l.startsWith('identities'))).toMatch(/online.*total$/);
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(50);
    keys(s, 'q');
    await until(s, 'the demo to finish', (l) => l.some((x) => x.startsWith('demo finished')));
  }, 60_000);
});
