// The saturation verdict: whether the load generator, not the target, limited the run. A phase is enough seconds in
// a row where the scheduler fired its timers late beyond a bound (its p99 of the second), or where a worker's event
// loop was busy nearly all the time. Either means the fleet did not send what the profile asked when it asked, so
// the target's figures are the generator's too. The verdict joins the final (summary.json, report.html, junit.xml,
// the console); it never fails a run by itself.
import type { SaturationPhase, SaturationVerdict } from '../metrics/types.js';
import type { Output, RunSnapshot, RunStart } from './output.js';

export interface SaturationOptions {
  /**
   * Scheduler lateness p99 of a second above which that second counts as late, ms. Default 200: a fifth of a 1 s
   * SLO, well above garbage-collection pauses and timer granularity (tens of ms) on a loaded machine.
   */
  latenessBoundMs?: number;
  /** Event-loop utilisation of a worker, percent, from which a second counts as pinned. Default 95. */
  busyPercent?: number;
  /**
   * Seconds in a row that make a phase. Default 5: longer than a burst of TLS handshakes or a major GC, short
   * enough to catch a stage of ten seconds.
   */
  phaseSeconds?: number;
}

export const SATURATION_DEFAULTS = { latenessBoundMs: 200, busyPercent: 95, phaseSeconds: 5 } as const;

export const SATURATION_ADVICE = [
  "fewer arrivals per second (the profile's arrivals) or a slower telemetry interval per device",
  'more workers (--workers, up to the cores this machine has)',
  '--shard the fleet over more machines, then `edgefleet report merge` the folders',
];

interface Streak {
  fromMs: number;
  seconds: number;
  stage: string;
  peak: number;
}

/** Follows the run second by second; `verdict()` at any time says what it has seen so far. */
export class SaturationWatch {
  private readonly bounds: Required<SaturationOptions>;
  private readonly phases: SaturationPhase[] = [];
  private readonly open: Partial<Record<SaturationPhase['reason'], Streak>> = {};
  private lastIntervalEnd: number | undefined;

  constructor(options: SaturationOptions = {}) {
    this.bounds = { ...SATURATION_DEFAULTS, ...definedOnly(options) };
    if (!(this.bounds.latenessBoundMs > 0)) throw new RangeError('the lateness bound must be a positive number of ms');
    if (!(this.bounds.phaseSeconds >= 1)) throw new RangeError('a saturation phase lasts at least 1 s');
  }

  /** One snapshot: judged once per closed second (a snapshot that brings no new second changes nothing). */
  observe(s: Pick<RunSnapshot, 'aggregate' | 'workers' | 'elapsedMs' | 'stage'>): void {
    const iv = s.aggregate.lastInterval();
    if (iv === undefined || iv.endMs === this.lastIntervalEnd) return;
    this.lastIntervalEnd = iv.endMs;
    const late = iv.lateness?.p99 ?? null;
    const busiest = s.workers.reduce((m, w) => Math.max(m, w.busyPercent), 0);
    this.step('lateness', late !== null && late > this.bounds.latenessBoundMs, late ?? 0, s);
    this.step('cpu', s.workers.length > 0 && busiest >= this.bounds.busyPercent, busiest, s);
  }

  verdict(): SaturationVerdict {
    const phases = [...this.phases];
    for (const reason of ['lateness', 'cpu'] as const) {
      const streak = this.open[reason];
      if (streak !== undefined && streak.seconds >= this.bounds.phaseSeconds) phases.push(phaseOf(reason, streak));
    }
    phases.sort((a, b) => a.fromSeconds - b.fromSeconds);
    const saturated = phases.length > 0;
    return {
      generatorSaturated: saturated,
      reasons: phases.map((p) => reasonText(p, this.bounds)),
      phases,
      advice: saturated ? [...SATURATION_ADVICE] : [],
      bounds: { ...this.bounds },
    };
  }

  private step(
    reason: SaturationPhase['reason'],
    over: boolean,
    value: number,
    s: Pick<RunSnapshot, 'elapsedMs' | 'stage'>,
  ) {
    const streak = this.open[reason];
    if (over) {
      if (streak === undefined)
        this.open[reason] = { fromMs: s.elapsedMs - 1000, seconds: 1, stage: s.stage, peak: value };
      else {
        streak.seconds += 1;
        streak.peak = Math.max(streak.peak, value);
      }
      return;
    }
    if (streak !== undefined && streak.seconds >= this.bounds.phaseSeconds) this.phases.push(phaseOf(reason, streak));
    delete this.open[reason];
  }
}

function phaseOf(reason: SaturationPhase['reason'], s: Streak): SaturationPhase {
  const from = Math.max(0, Math.round(s.fromMs / 1000));
  return { reason, fromSeconds: from, toSeconds: from + s.seconds, stage: s.stage, peak: Math.round(s.peak) };
}

function reasonText(p: SaturationPhase, b: Required<SaturationOptions>): string {
  const span = `${p.toSeconds - p.fromSeconds} s (${p.fromSeconds}–${p.toSeconds} s, ${p.stage.trim()})`;
  return p.reason === 'lateness'
    ? `scheduler lateness p99 above ${b.latenessBoundMs} ms for ${span}, peak ${p.peak} ms: the fleet sent late`
    : `a worker's event loop busy ${b.busyPercent}% or more for ${span}, peak ${p.peak}%: its CPU was pinned`;
}

/** The verdict in one line, for a terminal. */
export function saturationLine(v: SaturationVerdict): string {
  if (!v.generatorSaturated) return 'load generator not saturated';
  return `GENERATOR SATURATED: ${v.reasons[0] ?? ''}${v.reasons.length > 1 ? ` (+${v.reasons.length - 1} more)` : ''}`;
}

function definedOnly(o: SaturationOptions): Partial<Required<SaturationOptions>> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** The output: watches every snapshot, warns once when the generator saturates, and hands the verdict on. */
export function saturationOutput(options: SaturationOptions = {}): Output {
  const watch = new SaturationWatch(options);
  let run: RunStart | undefined;
  let warned = false;
  return {
    name: 'saturation',
    start(started) {
      run = started;
    },
    snapshot(s) {
      watch.observe(s);
      if (warned) return;
      const v = watch.verdict();
      if (!v.generatorSaturated) return;
      warned = true;
      run?.log('warn', `${saturationLine(v)}; the target's figures include the generator's delay`);
    },
    finish() {
      return { verdict: watch.verdict() };
    },
  };
}
