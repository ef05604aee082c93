// Entry points for the coordinator: the live dashboard on a terminal, or one plain progress line for logs.
// Nothing here loads Ink: see app.ts.
import type { DashboardState } from './model.js';
import type { DashboardHandle, DashboardOptions } from './options.js';
import { fmtCount, fmtMs, fmtRate } from './format.js';

export * from './model.js';
export type { DashboardHandle, DashboardOptions } from './options.js';

/** Loads Ink (most of a second, hence not at import time) and mounts the dashboard on the terminal. */
export async function startDashboard(opts: DashboardOptions): Promise<DashboardHandle> {
  const { mountDashboard } = await import('./app.js');
  return mountDashboard(opts);
}

/**
 * The live dashboard needs a terminal on stdout, a person (not CI, whose logs cannot redraw), and nobody
 * having asked for plain output.
 */
export function shouldUseDashboard(
  stdout: { isTTY?: boolean },
  flags: { noTui: boolean },
  env: Record<string, string | undefined> = process.env,
): boolean {
  const set = (k: string) => env[k] !== undefined && env[k] !== '' && env[k] !== '0' && env[k] !== 'false';
  if (flags.noTui || stdout.isTTY !== true) return false;
  if (set('CI') || set('CONTINUOUS_INTEGRATION')) return false;
  return env.TERM !== 'dumb';
}

/** One plain line of the same numbers (no colour, no cursor movement), for CI logs and pipes. */
export function formatProgressLine(state: DashboardState): string {
  const sum = (key: keyof DashboardState['groups'][number]['states']) =>
    state.groups.reduce((n, g) => n + g.states[key], 0);
  const total = state.groups.reduce((n, g) => n + Object.values(g.states).reduce((a, b) => a + b, 0), 0);
  const parts: string[] = [
    `t=${Math.round(state.elapsedMs / 1000)}s/${Math.round(state.durationMs / 1000)}s`,
    state.stopping ? 'stopping' : state.paused ? `${state.stage} (paused)` : state.stage,
    `connected ${fmtCount(sum('connected'))}/${fmtCount(total)}`,
  ];
  if (state.patterns.length > 1) {
    const each = state.patterns.map(
      (p) =>
        `${p.label} ${fmtCount(p.states.connected)}/${fmtCount(Object.values(p.states).reduce((a, b) => a + b, 0))}`,
    );
    parts[parts.length - 1] += ` (${each.join(', ')})`;
  }
  const arriving = sum('provisioning') + sum('connecting');
  if (arriving > 0) parts.push(`arriving ${fmtCount(arriving)}`);
  if (sum('backingOff') > 0) parts.push(`backing off ${fmtCount(sum('backingOff'))}`);
  if (sum('failed') > 0) parts.push(`failed ${fmtCount(sum('failed'))}`);
  parts.push(`sent ${fmtRate(state.rates.sentPerSecond)}/s acked ${fmtRate(state.rates.ackedPerSecond)}/s`);
  if (state.rates.throttledPerSecond > 0) parts.push(`throttled ${fmtRate(state.rates.throttledPerSecond)}/s`);
  const main = state.operations.find((o) => o.name === 'telemetry') ?? state.operations.find((o) => o.p99 !== null);
  if (main) parts.push(`${main.name} p99 ${fmtMs(main.p99)} ms`);
  const l = state.ledger;
  parts.push(
    `ledger ${fmtCount(l.generated)} = ${fmtCount(l.acknowledged)} acked + ${fmtCount(l.failed)} failed + ${fmtCount(l.expired)} expired + ${fmtCount(l.dropped)} dropped + ${fmtCount(l.inFlight)} in flight${l.stored > 0 ? ` (${fmtCount(l.stored)} stored)` : ''}`,
  );
  const errors = state.errors.reduce((n, e) => n + e.count, 0);
  parts.push(
    errors === 0
      ? 'errors 0'
      : `errors ${fmtCount(errors)} (${state.errors.map((e) => `${e.cls} ${fmtCount(e.count)}`).join(', ')})`,
  );
  return parts.join('  ');
}
