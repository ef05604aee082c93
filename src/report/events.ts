// The words of an event's section and of the limits a run met, shared by the console report and report.html:
// when it happened, what it took away, how long until the fleet was whole again, and the ledger over its window.
import type { FaultEventReport, RunLimits } from '../metrics/fault-events.js';

/** "1:05" from ms. */
export function clock(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const count = (n: number) => n.toLocaleString('en-US');

/** "events[1] networkDrop at 0:30 (fraction 0.5, group thermostats)". */
export function eventTitle(e: FaultEventReport): string {
  const spec = Object.entries(e.spec).map(([k, v]) =>
    k === 'duration' && typeof v === 'number' ? `${k} ${seconds(v)}` : `${k} ${String(v)}`,
  );
  return `events[${e.index}] ${e.kind} at ${clock(e.atMs)}${spec.length === 0 ? '' : ` (${spec.join(', ')})`}`;
}

/** What it took away: identities and connections, against the level before. */
export function tookAwayText(e: FaultEventReport): string {
  if (e.startedAtMs === null) return 'nothing: it did not happen';
  const t = e.tookAway;
  const b = e.before;
  return (
    `${count(t.identities)} identities, ${count(t.connections)} connections ` +
    `(before: ${count(b.identities)} identities connected, ${count(b.connections)} connections open)`
  );
}

/** How long until the fleet was whole again, or why it never was. */
export function wholeText(e: FaultEventReport): string {
  if (e.wholeAfterMs === null) return e.notWhole ?? 'not yet';
  const back = e.wholeAfterTargetBackMs;
  const low = e.lowestConnected === null ? '' : `, lowest ${count(e.lowestConnected)} connected`;
  const afterBack = back === undefined || back === null ? '' : ` (${seconds(back)} after the target was back)`;
  return `after ${seconds(e.wholeAfterMs)}${afterBack}${low}`;
}

/** targetRestart: the process killed and the one started again. */
export function targetText(e: FaultEventReport): string | undefined {
  const t = e.target;
  if (t === undefined) return undefined;
  const killed = `killed pid ${t.killedPid ?? '?'}`;
  if (t.error !== undefined) return `${killed}; ${t.error}`;
  const back =
    e.targetBackAtMs === undefined || e.targetBackAtMs === null || e.startedAtMs === null
      ? 'not back'
      : `back after ${seconds(e.targetBackAtMs - e.startedAtMs)}`;
  return `${killed}, ${back} as pid ${t.pid ?? '?'} on port ${t.mqttPort ?? '?'}`;
}

/** The ledger and errors over the event's window. */
export function windowText(e: FaultEventReport): string {
  const l = e.ledger;
  if (l === null || e.window === null) return '—';
  const errors = Object.entries(e.errors)
    .map(([cls, n]) => `${cls} ${count(n ?? 0)}`)
    .join(', ');
  return (
    `${seconds(e.window.toMs - e.window.fromMs)}: generated ${count(l.generated)}, acknowledged ` +
    `${count(l.acknowledged)}, failed ${count(l.failed)}, expired ${count(l.expired)}, lost ${count(l.lost)}, ` +
    `delivered late ${count(l.deliveredLate)}; resent ${count(l.resent)}; errors ${errors === '' ? 'none' : errors}`
  );
}

/** Lines of the limits section: the pre-flight budget and where the run met a limit; none when nothing to say. */
export function limitsLines(limits: RunLimits | undefined): string[] {
  if (limits === undefined) return [];
  const lines: string[] = [];
  const d = limits.descriptors;
  if (d !== undefined) {
    const emulator = d.emulator === undefined ? '' : `; the embedded emulator about ${count(d.emulator)}`;
    const forced = d.forced === true ? ' — more than the limit, run with --force' : '';
    lines.push(
      `descriptors: the plan needed about ${count(d.needed)} at its peak of ${count(d.limit)}` + `${emulator}${forced}`,
    );
  }
  const x = limits.exhaustion;
  if (x !== undefined && x !== null) {
    const most = limits.peakConnected;
    const peak = most === undefined ? '' : ` (at most ${count(most)} connected in the run)`;
    lines.push(
      `limit reached at ${clock(x.atMs)} with ${count(x.connected)} identities connected, ` +
        `${count(x.connections)} connections and ${count(x.sockets)} sockets open${peak}: ${x.message ?? ''}`,
    );
  }
  return lines;
}
