// `--out json=FILE`: the stream for other tools, one JSON object per line: a "snapshot" line each second and a
// "final" line at the end (fields in README, "Outputs"). The file is opened when the output is made, so a path
// that cannot be written stops the run before anything connects.
import { closeSync, openSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import type { MetricsAggregate } from '../metrics/aggregate.js';
import { OPERATIONS } from '../metrics/operations.js';
import type { StateCounts } from '../metrics/types.js';
import type { Output, RunFinal, RunSnapshot } from './output.js';

const round = (v: number | null | undefined, digits = 3) =>
  v === null || v === undefined ? null : Math.round(v * 10 ** digits) / 10 ** digits;

export function jsonLinesOutput(file: string): Output {
  const path = resolve(file);
  let fd: number | undefined;
  try {
    fd = openSync(path, 'w');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new Error(`cannot write ${path}: ${why}`, { cause: err });
  }
  let runId = '';
  const write = (line: object) => {
    if (fd !== undefined) writeSync(fd, `${JSON.stringify(line)}\n`);
  };
  return {
    name: 'json',
    start(run) {
      runId = run.runId;
    },
    snapshot(s) {
      write(snapshotLine(runId, s));
    },
    finish(final) {
      write(finalLine(runId, final));
    },
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

/** Identities by state over every group. */
function identities(states: StateCounts): Record<string, number> {
  const out: Record<string, number> = {
    waiting: 0,
    provisioning: 0,
    connecting: 0,
    connected: 0,
    backingOff: 0,
    stopped: 0,
    failed: 0,
  };
  for (const byState of Object.values(states)) {
    for (const [state, n] of Object.entries(byState)) out[state] = (out[state] ?? 0) + n;
  }
  return out;
}

function errorCounts(aggregate: MetricsAggregate): Record<string, number> {
  const counted = Object.entries(aggregate.errors()).filter(([, e]) => e.count > 0);
  return Object.fromEntries(counted.map(([cls, e]) => [cls, e.count]));
}

type Percentiles = { count: number; p50: number | null; p95: number | null; p99: number | null; max: number | null };

/** Corrected latency, ms. */
const latencyOf = (l: Percentiles) => ({
  count: l.count,
  p50: round(l.p50),
  p95: round(l.p95),
  p99: round(l.p99),
  max: round(l.max),
});

function snapshotLine(runId: string, s: RunSnapshot): object {
  const second = s.aggregate.lastInterval();
  const latency: Record<string, object> = {};
  for (const [op, o] of Object.entries(second?.operations ?? {})) latency[op] = latencyOf(o);
  const rates = second?.rates;
  return {
    type: 'snapshot',
    runId,
    time: new Date(s.atMs).toISOString(),
    elapsedSeconds: round(s.elapsedMs / 1000, 1),
    stage: s.stage,
    paused: s.paused,
    stopping: s.stopping,
    identities: identities(s.states),
    rates: {
      generatedPerSecond: round(rates?.generatedPerSecond ?? 0),
      acknowledgedPerSecond: round(rates?.acknowledgedPerSecond ?? 0),
      failedPerSecond: round(rates?.failedPerSecond ?? 0),
      errorsPerSecond: round(rates?.errorsPerSecond ?? 0),
      throttledPerSecond: round(rates?.throttledPerSecond ?? 0),
    },
    latency,
    ledger: s.aggregate.ledger(),
    errors: errorCounts(s.aggregate),
    lateness: { p99: round(second?.lateness?.p99) },
  };
}

function finalLine(runId: string, final: RunFinal): object {
  const latency: Record<string, object> = {};
  for (const op of OPERATIONS) {
    const l = final.aggregate.latency(op);
    if (l.count > 0) latency[op] = latencyOf(l);
  }
  return {
    type: 'final',
    runId,
    time: new Date(final.endedAtMs).toISOString(),
    identities: identities(final.states),
    latency,
    ledger: final.aggregate.ledger(),
    errors: errorCounts(final.aggregate),
    ...(final.reconciliation === undefined ? {} : { reconciliation: final.reconciliation }),
    ...(final.stoppedEarly === undefined ? {} : { stoppedEarly: final.stoppedEarly }),
    ...(final.incomplete === undefined ? {} : { incomplete: final.incomplete }),
  };
}
