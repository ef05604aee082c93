// find-capacity: the highest telemetry rate (or arrival rate) at which every SLO holds. Each step is one
// runScenario() at a rate, held long enough for traffic shaping to show: rates double from the start until a step
// fails, then the gap between the highest held and the lowest failing rate is halved (geometrically) until it is
// within the precision. A step whose load generator was saturated is not the target's limit: the search stops there.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError } from '../config/errors.js';
import { loadScenario, type LoadedScenario } from '../config/load.js';
import { parseThreshold, ThresholdError, type Threshold } from '../config/thresholds.js';
import type { SaturationVerdict } from '../metrics/types.js';
import { writeAtomic } from '../report/read.js';
import { evaluateThresholds } from '../report/thresholds.js';
import { newRunId } from '../report/write.js';
import { runScenario, type ScenarioOptions } from './run-scenario.js';

export type CapacityVary = 'telemetry' | 'arrivals';

export interface CapacityOptions extends Omit<
  ScenarioOptions,
  'scenario' | 'duration' | 'thresholds' | 'dashboard' | 'progress' | 'signal'
> {
  scenario: string;
  /** Service-level objectives, in the threshold grammar: "telemetry.p99 < 1s", "errors.rate < 1%". */
  slo: string[];
  vary?: CapacityVary;
  /** How long each step runs (arrivals included). Default "90s": past the real hub's first minute of absorption. */
  hold?: string;
  /** The first step's rate (msgs/s, or arrivals/s); default the scenario's own. */
  start?: number;
  /** Stop narrowing once the lowest failing rate is within this fraction of the highest held. Default 0.05. */
  precision?: number;
  /** At most this many steps. Default 12. */
  maxSteps?: number;
  /** Rates go up by this factor until a step fails. Default 2. */
  factor?: number;
  /** A pause between steps, so what a limited target still holds from one step does not fall into the next. */
  cooldownMs?: number;
  /** Called after each step. */
  onStep?: (step: CapacityStep, index: number) => void;
  signal?: AbortSignal;
}

export interface SloResult {
  passed: boolean;
  actual: number | null;
  detail: string;
}

export interface CapacityStep {
  /** msgs/s (vary telemetry) or arrivals/s (vary arrivals). */
  rate: number;
  held: boolean;
  slo: Record<string, SloResult>;
  verdict: SaturationVerdict | null;
  runId: string;
  report: string;
  /** What the target acknowledged per second over the step (telemetry), for comparison with the rate asked. */
  acknowledgedPerSec: number;
}

export interface CapacityRates {
  msgsPerSec: number;
  arrivalsPerSec: number;
}

export interface CapacityResult {
  vary: CapacityVary;
  scenario: string;
  slo: string[];
  holdSeconds: number;
  precision: number;
  maxSustainable: CapacityRates | null;
  firstFailing: (CapacityRates & { failed: string[] }) | null;
  /** Why the search ended: narrowed to the precision, the steps ran out, the generator saturated, or stopped. */
  ended: 'narrowed' | 'maxSteps' | 'generatorSaturated' | 'aborted';
  /** Said in words, with what to do when the search could not finish. */
  conclusion: string;
  steps: CapacityStep[];
  /** The folder holding capacity.json and the steps' report folders. */
  dir: string;
}

const DEFAULTS = { hold: '90s', precision: 0.05, maxSteps: 12, factor: 2, cooldownMs: 5000 };

export async function findCapacity(options: CapacityOptions): Promise<CapacityResult> {
  const slo = sloThresholds(options.slo);
  const vary = options.vary ?? 'telemetry';
  const loaded = await loadScenario(options.scenario, {
    duration: options.hold ?? DEFAULTS.hold,
    profile: options.profile,
    target: options.target,
    seed: options.seed,
    stateDir: options.stateDir,
  });
  const base = baseRates(loaded);
  const search = new Search(options, base[vary === 'telemetry' ? 'msgsPerSec' : 'arrivalsPerSec']);
  const dir = resolve(options.reportsDir ?? 'reports', `capacity-${newRunId()}`);
  await mkdir(dir, { recursive: true });
  const steps: CapacityStep[] = [];
  let ended: CapacityResult['ended'] = 'maxSteps';
  for (let rate: number | undefined = search.first(); rate !== undefined; rate = search.next()) {
    if (options.signal?.aborted === true) {
      ended = 'aborted';
      break;
    }
    if (steps.length > 0) await pause(options.cooldownMs ?? DEFAULTS.cooldownMs, options.signal);
    const step = await runStep(options, withRate(loaded, vary, rate, base), slo, rate, dir);
    steps.push(step);
    options.onStep?.(step, steps.length - 1);
    if (step.verdict?.generatorSaturated === true) {
      ended = 'generatorSaturated';
      break;
    }
    search.record(rate, step.held);
    if (search.narrowed()) ended = 'narrowed';
  }
  const result = resultOf({ vary, options, loaded, base, steps, ended, dir, slo });
  await writeAtomic(join(dir, 'capacity.json'), JSON.stringify(result, null, 2) + '\n');
  return result;
}

/** The rates steps ask for: up by `factor` until one fails, down until one holds, then halving the gap. */
class Search {
  private lo: number | undefined;
  private hi: number | undefined;
  private steps = 0;
  private readonly maxSteps: number;
  private readonly factor: number;
  private readonly precision: number;
  private readonly start: number;

  constructor(options: CapacityOptions, scenarioRate: number) {
    this.maxSteps = options.maxSteps ?? DEFAULTS.maxSteps;
    this.factor = options.factor ?? DEFAULTS.factor;
    this.precision = options.precision ?? DEFAULTS.precision;
    this.start = options.start ?? scenarioRate;
    const problems = [
      ...(this.start > 0 ? [] : ['the start rate must be above 0 (the scenario sends nothing to vary: give --start)']),
      ...(this.factor > 1 ? [] : ['--factor must be above 1']),
      ...(this.precision > 0 && this.precision < 1 ? [] : ['--precision must be between 0 and 1, e.g. 0.05']),
      ...(this.maxSteps >= 2 ? [] : ['--max-steps must be at least 2']),
    ];
    if (problems.length > 0) {
      throw new ConfigError(problems.map((message) => ({ file: 'command line', path: 'find-capacity', message })));
    }
  }

  first(): number {
    this.steps = 1;
    return round(this.start);
  }

  record(rate: number, held: boolean): void {
    if (held) this.lo = Math.max(this.lo ?? 0, rate);
    else this.hi = Math.min(this.hi ?? Infinity, rate);
  }

  narrowed(): boolean {
    return this.lo !== undefined && this.hi !== undefined && this.hi <= this.lo * (1 + this.precision);
  }

  next(): number | undefined {
    if (this.narrowed() || this.steps >= this.maxSteps) return undefined;
    this.steps += 1;
    if (this.hi === undefined) return round(this.lo! * this.factor);
    if (this.lo === undefined) return round(this.hi / this.factor);
    return round(Math.sqrt(this.lo * this.hi));
  }
}

const round = (rate: number) => Math.round(rate * 10) / 10;

function sloThresholds(texts: readonly string[]): Threshold[] {
  if (texts.length === 0) {
    const message = "name at least one SLO, e.g. --slo 'telemetry.p99 < 1s' --slo 'errors.rate < 1%'";
    throw new ConfigError([{ file: 'command line', path: '--slo', message }]);
  }
  return texts.map((text) => {
    try {
      return parseThreshold(text);
    } catch (err) {
      if (!(err instanceof ThresholdError)) throw err;
      throw new ConfigError([{ file: 'command line', path: '--slo', message: err.message }]);
    }
  });
}

/** The scenario's own rates: telemetry of its plain device groups (msgs/s) and its profile's peak arrival rate. */
export function baseRates(loaded: LoadedScenario): CapacityRates {
  let msgsPerSec = 0;
  for (const g of loaded.groups) {
    if (g.kind === 'device') msgsPerSec += g.config.count / (g.config.telemetry.interval / 1000);
  }
  const a = loaded.profile.arrivals;
  const arrivalsPerSec = Math.max(a.startRate, ...a.stages.map((s) => s.target));
  return { msgsPerSec, arrivalsPerSec };
}

/**
 * The scenario at a rate: the plain device groups' telemetry interval (every device keeps its share), or the
 * profile's arrival rates, scaled together.
 */
export function withRate(
  loaded: LoadedScenario,
  vary: CapacityVary,
  rate: number,
  base: CapacityRates,
): LoadedScenario {
  const copy = structuredClone(loaded);
  if (vary === 'telemetry') {
    if (base.msgsPerSec === 0) throw noTelemetry();
    const k = rate / base.msgsPerSec;
    // The groups and the scenario's fleet may share their telemetry objects: each is scaled once.
    const scaled = new Set<object>();
    for (const g of copy.groups) {
      if (g.kind !== 'device' || scaled.has(g.config.telemetry)) continue;
      scaled.add(g.config.telemetry);
      g.config.telemetry.interval = g.config.telemetry.interval / k;
    }
    for (const g of copy.scenario.fleet) {
      if (g.kind !== 'device' || scaled.has(g.telemetry)) continue;
      scaled.add(g.telemetry);
      g.telemetry.interval = g.telemetry.interval / k;
    }
    return copy;
  }
  const k = rate / base.arrivalsPerSec;
  const a = copy.profile.arrivals;
  a.startRate *= k;
  for (const s of a.stages) s.target *= k;
  return copy;
}

const noTelemetry = () =>
  new ConfigError([
    {
      file: 'command line',
      path: '--vary',
      message: 'the scenario has no plain device group sending telemetry to vary: add one, or --vary arrivals',
    },
  ]);

async function runStep(
  options: CapacityOptions,
  scenario: LoadedScenario,
  slo: readonly Threshold[],
  rate: number,
  dir: string,
): Promise<CapacityStep> {
  const { onStep: _onStep, slo: _slo, vary: _vary, ...passed } = options;
  const result = await runScenario({ ...stepOptions(passed), scenario, reportsDir: dir });
  const judged = evaluateThresholds(slo, result.summary);
  const seconds = Math.max(1, result.summary.durationSeconds);
  return {
    rate,
    held: judged.every((r) => r.passed),
    slo: Object.fromEntries(
      judged.map((r) => [r.threshold.text, { passed: r.passed, actual: r.actual, detail: r.detail }]),
    ),
    verdict: result.summary.verdict ?? null,
    runId: result.runId,
    report: result.reportDir,
    acknowledgedPerSec: Math.round((result.summary.ledger.acknowledged / seconds) * 10) / 10,
  };
}

/** What runScenario takes from find-capacity's options (its own knobs are the search's). */
function stepOptions(o: Omit<CapacityOptions, 'onStep' | 'slo' | 'vary'>): Omit<ScenarioOptions, 'scenario'> {
  const { hold: _h, start: _s, precision: _p, maxSteps: _m, factor: _f, cooldownMs: _c, ...rest } = o;
  return rest;
}

function resultOf(r: {
  vary: CapacityVary;
  options: CapacityOptions;
  loaded: LoadedScenario;
  base: CapacityRates;
  steps: CapacityStep[];
  ended: CapacityResult['ended'];
  dir: string;
  slo: readonly Threshold[];
}): CapacityResult {
  const held = r.steps.filter((s) => s.held && s.verdict?.generatorSaturated !== true);
  const failing = r.steps.filter((s) => !s.held && s.verdict?.generatorSaturated !== true);
  const best = held.reduce<CapacityStep | undefined>((m, s) => (m === undefined || s.rate > m.rate ? s : m), undefined);
  const worst = failing
    .filter((s) => best === undefined || s.rate > best.rate)
    .reduce<CapacityStep | undefined>((m, s) => (m === undefined || s.rate < m.rate ? s : m), undefined);
  const rates = (rate: number): CapacityRates =>
    r.vary === 'telemetry'
      ? { msgsPerSec: rate, arrivalsPerSec: r.base.arrivalsPerSec }
      : { msgsPerSec: r.base.msgsPerSec, arrivalsPerSec: rate };
  const failed = (s: CapacityStep) => Object.entries(s.slo).flatMap(([text, v]) => (v.passed ? [] : [text]));
  return {
    vary: r.vary,
    scenario: r.loaded.scenario.name,
    slo: r.slo.map((t) => t.text),
    holdSeconds: r.loaded.durationMs / 1000,
    precision: r.options.precision ?? DEFAULTS.precision,
    maxSustainable: best === undefined ? null : rates(best.rate),
    firstFailing: worst === undefined ? null : { ...rates(worst.rate), failed: failed(worst) },
    ended: r.ended,
    conclusion: conclusion(r.vary, r.ended, best, worst, r.steps),
    steps: r.steps,
    dir: r.dir,
  };
}

function conclusion(
  vary: CapacityVary,
  ended: CapacityResult['ended'],
  best: CapacityStep | undefined,
  worst: CapacityStep | undefined,
  steps: readonly CapacityStep[],
): string {
  const unit = vary === 'telemetry' ? 'msgs/s' : 'arrivals/s';
  const found =
    best === undefined
      ? `no step held every SLO (the lowest asked: ${Math.min(...steps.map((s) => s.rate))} ${unit})`
      : `every SLO held up to ${best.rate} ${unit}` + (worst === undefined ? '' : `; ${worst.rate} ${unit} failed`);
  switch (ended) {
    case 'narrowed':
      return `${found}: the target's capacity for this scenario`;
    case 'generatorSaturated': {
      const last = steps[steps.length - 1];
      return (
        `${found}; at ${last?.rate} ${unit} the load generator itself was saturated, which is not the target's ` +
        'limit: run find-capacity with more --workers, or --shard the fleet over more machines, from the last held rate'
      );
    }
    case 'aborted':
      return `${found}; stopped before the search finished`;
    case 'maxSteps':
      return `${found}; the steps ran out before the search narrowed (more --max-steps, or a --start nearer the limit)`;
  }
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        done();
      },
      { once: true },
    );
  });
}
