// `edgefleet run` in a real terminal, as a person sees it: the built CLI runs a small mixed fleet (IoT Edge devices
// and thermostats) against the emulator it embeds, inside a detached tmux session; capture-pane gives the screen.
// Needs the build (dist/cli/main.js) and tmux.
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isolatedStateDir } from '../support/emulator.js';
import { systemPeer } from '../support/system-peer.js';

const CLI = join(process.cwd(), 'dist/cli/main.js');
const SOCKET = `edgefleet-run-test-${process.pid}`;
const hasTmux = !systemPeer('tmux').missing;
const reports = mkdtempSync(join(tmpdir(), 'edgefleet-tmux-run-'));

// A UTF-8 locale for the block characters; TMUX unset so a run from inside tmux works too.
const env: NodeJS.ProcessEnv = { ...process.env, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', TERM: 'xterm-256color' };
delete env.TMUX;

function tmux(...args: string[]): string {
  const r = spawnSync('tmux', ['-L', SOCKET, '-f', '/dev/null', '-u', ...args], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const SESSION = 'run';
const COLS = 120;
const ROWS = 40;

const screen = (): string[] => tmux('capture-pane', '-p', '-t', SESSION).replace(/\n$/, '').split('\n');
/** Everything the pane printed, scrollback included. */
const history = (): string => tmux('capture-pane', '-p', '-S', '-', '-E', '-', '-t', SESSION);
const keys = (...k: string[]) => tmux('send-keys', '-t', SESSION, ...k);
const typed = (text: string) => tmux('send-keys', '-t', SESSION, '-l', text);

async function until(what: string, ok: (lines: string[]) => boolean, ms = 45_000): Promise<string[]> {
  const deadline = Date.now() + ms;
  let last: string[] = [];
  while (Date.now() < deadline) {
    last = screen();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}; the screen was:\n${last.join('\n')}`);
}

/** The numbers at the end of a table row. */
function numbers(line: string | undefined): number[] {
  const tokens = (line ?? '').trim().split(/\s+/);
  const out: number[] = [];
  for (let i = tokens.length - 1; i > 0 && /^[\d,]+$/.test(tokens[i]!); i--)
    out.unshift(Number(tokens[i]!.replace(/,/g, '')));
  return out;
}

/** Identities table: the header's state columns, and a row's count under one of them. */
function column(lines: string[], rowStart: RegExp, label: string): number | undefined {
  const header =
    lines
      .find((l) => l.startsWith('identities'))
      ?.trim()
      .split(/\s{2,}/)
      .slice(1) ?? [];
  // "identities", maybe "pattern", then the state columns and "total": the numbers line up with the last ones.
  const labels = header.filter((h) => h !== 'pattern');
  const row = numbers(lines.find((l) => rowStart.test(l)));
  const i = labels.indexOf(label);
  return i < 0 || row.length !== labels.length ? undefined : row[i];
}

const state = isolatedStateDir();

afterAll(() => {
  if (hasTmux) spawnSync('tmux', ['-L', SOCKET, 'kill-server'], { env });
  rmSync(reports, { recursive: true, force: true });
  state.remove();
});

describe.skipIf(!hasTmux)('edgefleet run in a real terminal (tmux)', () => {
  it('shows the live run, drills into a device and its last messages, and q stops it with the summary', async () => {
    expect(existsSync(CLI), `${CLI} is missing: run "npm run build" (npm test builds first)`).toBe(true);
    // Ink draws only the last frame when it believes it runs in CI, so the run goes with CI unset. 60 s is an upper
    // bound: the test stops it with q long before. The shell prints the exit code when it ends (tmux may notice a
    // pane's process exit late, under load, so the test does not wait for the pane to die).
    const cmd =
      `env -u CI -u CONTINUOUS_INTEGRATION ${quote(process.execPath)} ${quote(CLI)} run test/fixtures/dashboard.yaml ` +
      `--duration 60s --workers 2 --state-dir ${quote(state.dir)} --reports-dir ${quote(reports)}; echo "edgefleet exited with $?"`;
    tmux(
      'new-session',
      '-d',
      '-s',
      SESSION,
      '-x',
      String(COLS),
      '-y',
      String(ROWS),
      '-c',
      process.cwd(),
      cmd,
      ';',
      'set-option',
      '-t',
      SESSION,
      'remain-on-exit',
      'on',
    );

    // Every identity connected, telemetry flowing and acknowledged.
    const main = await until(
      'all six identities connected and telemetry acknowledged',
      (l) => column(l, /^all\s/, 'connected') === 6 && /acked [1-9]/.test(l.find((x) => x.startsWith('msgs/s')) ?? ''),
    );
    const text = main.join('\n');
    const shown = `the screen was:\n${text}`;
    expect(text, shown).not.toMatch(/\[object Object\]|NaN|undefined|Infinity|\uFFFD/);
    for (const l of main) expect([...l].length, shown).toBeLessThanOrEqual(COLS);
    expect(
      main.filter((l) => l.startsWith('edgefleet dashboard · profile run-fast · target embedded emulator')),
      shown,
    ).toHaveLength(1);
    expect(
      main
        .find((l) => l.startsWith('edgefleet dashboard'))!
        .trimEnd()
        .endsWith('RUNNING'),
      shown,
    ).toBe(true);
    // Stage, progress and time left.
    expect(text, shown).toMatch(/^arrivals 1000\/s\s+█+░+\s+0:\d\d \/ 1:00 · 0:\d\d left$/m);
    // Identities connected by group (with its pattern) and by pattern.
    expect(text, shown).toMatch(/^identities\s+pattern\s+.*connected.*total$/m);
    expect(
      main.find((l) => l.startsWith('gateways')),
      shown,
    ).toMatch(/^gateways\s+IoT Edge device\s/);
    expect(
      main.find((l) => l.startsWith('thermostats')),
      shown,
    ).toMatch(/^thermostats\s+plain device\s/);
    expect(column(main, /^gateways\s/, 'connected'), shown).toBe(2);
    expect(column(main, /^thermostats\s/, 'connected'), shown).toBe(4);
    expect(column(main, /^by pattern\s+plain device\s/, 'connected'), shown).toBe(4);
    expect(column(main, /^\s+IoT Edge device\s/, 'connected'), shown).toBe(2);
    // msgs/s, the percentile table, the ledger, lateness with its sparkline.
    expect(text, shown).toMatch(/^msgs\/s\s+sent \d+\s+acked \d+\s+failed 0/m);
    expect(text, shown).toMatch(/^latency ms\s+total\s+\/s\s+p50\s+p95\s+p99/m);
    expect(text, shown).toMatch(/^telemetry\s+[\d,]+\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[▁▂▃▄▅▆▇█ ]+$/m);
    expect(text, shown).toMatch(/^ledger\s+generated = +acked \+ +failed \+ expired \+ dropped \+ in flight/m);
    expect(text, shown).toMatch(/✓ balanced$/m);
    expect(text, shown).toMatch(/^lateness p99 [\d.]+ ms {2}max [\d.]+ ms\s+[▁▂▃▄▅▆▇█ ]+/m);
    expect(text, shown).toMatch(/^q stop\s+p pause\s+d device\s+\? help$/m);

    // d, the start of an id, Tab completes it, Enter: the device, its state machine and its last messages.
    keys('d');
    await until('the device prompt', (l) => l.some((x) => x.startsWith('device id ›')));
    typed('dash-t-0');
    keys('Tab');
    await until('Tab completion', (l) => l.some((x) => x.startsWith('device id › dash-t-01')));
    keys('Enter');
    // Recording starts when the view opens; the view asks again every 2 s, so acknowledged telemetry shows up.
    const device = await until(
      'the device view with acknowledged telemetry',
      (l) => l.some((x) => x.startsWith('device dash-t-01')) && l.some((x) => /↑ telemetry +acked/.test(x)),
      30_000,
    );
    const deviceText = device.join('\n');
    const seen = `the screen was:\n${deviceText}`;
    expect(
      device.find((l) => l.startsWith('device dash-t-01')),
      seen,
    ).toMatch(/thermostats · plain device · worker \d · \d+ unacked/);
    expect(deviceText, seen).toMatch(
      /^state\s+waiting › provisioning › connecting ›\s+connected\s+› backingOff · stopped · failed$/m,
    );
    expect(deviceText, seen).toMatch(/connecting → connected/);
    expect(deviceText, seen).toMatch(/^last messages newest first.* · recorded since \d+:\d\d\.\d{3}$/m);
    const rows = device.filter((l) => /^\s+\d+:\d\d\.\d{3} {2}[↑↓!] /.test(l));
    expect(rows.length, seen).toBeGreaterThan(0);
    expect(rows.length, seen).toBeLessThanOrEqual(10);
    // Telemetry: its time, size, outcome and latency, and what it carried.
    expect(deviceText, seen).toMatch(
      /\d:\d\d\.\d{3} {2}↑ telemetry +acked +[\d.]+ ms +\d+ B +\{"temperature":[\d.]+\}/,
    );
    // Newest first.
    const times = rows
      .map((l) => l.trim().split(/\s+/)[0]!)
      .map((t) => {
        const [m, s] = t.split(':');
        return Number(m) * 60 + Number(s);
      });
    expect(
      [...times].sort((a, b) => b - a),
      seen,
    ).toEqual(times);
    // No credentials among the messages.
    expect(deviceText, seen).not.toMatch(/SharedAccessSignature|sig=|SharedAccessKey/);

    // An IoT Edge device: its modules' identities send, each message marked with its module.
    keys('d');
    await until('the device prompt', (l) => l.some((x) => x.startsWith('device id ›')));
    typed('dash-edge-01');
    keys('Enter');
    const edge = await until(
      "the IoT Edge device with its module's telemetry",
      (l) =>
        l.some((x) => /↑ telemetry +acked +[\d.]+ ms +[\d,]+ B +SimulatedTemperatureSensor › \{"machine":/.test(x)),
      30_000,
    );
    expect(
      edge.find((l) => l.startsWith('device dash-edge-01')),
      edge.join('\n'),
    ).toMatch(/gateways · IoT Edge device · worker \d/);

    keys('Escape');
    await until('the main view again', (l) => l.some((x) => x.startsWith('latency ms')));

    // q: stops gracefully, drains, and prints the summary under the last frame; exit code 0.
    keys('q');
    await until('the run to end', () => /^edgefleet exited with \d+$/m.test(history()), 60_000);
    const all = history();
    expect(all).toMatch(/^edgefleet exited with 0$/m);
    expect(all).toMatch(/STOPPING/);
    expect(all).toMatch(
      new RegExp(
        String.raw`^messages +generated [\d,]+ = acknowledged [\d,]+ ` +
          String.raw`\+ failed 0 \+ expired 0 \+ dropped 0 \+ in flight \d+ +balanced`,
        'm',
      ),
    );
    expect(all).toMatch(/^telemetry +[\d,]+ /m);
    expect(all).toMatch(/^target +received [\d,]+ of [\d,]+ acknowledged; acknowledged but not received 0/m);
    expect(all).toContain(`report: ${reports}`);
    expect(readdirSync(reports).filter((d) => d !== 'latest')).toHaveLength(1);
  }, 150_000);
});
