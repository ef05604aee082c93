// Which outputs a run gets, from its options (the CLI's flags): the saturation verdict, what the operator watches,
// Prometheus, live thresholds, `--out` kinds, reconciliation against the emulator. The report output is always last.
import type { Threshold } from '../config/thresholds.js';
import { dashboardOutput, type DashboardOutputOptions } from '../outputs/dashboard.js';
import type { Output } from '../outputs/output.js';
import { progressOutput } from '../outputs/progress.js';
import { prometheusOutput } from '../outputs/prometheus.js';
import { saturationOutput, type SaturationOptions } from '../outputs/saturation.js';
import { outputsFromSpecs } from '../outputs/select.js';
import { liveThresholdsOutput } from '../outputs/thresholds.js';

export interface OutputChoices {
  /** The live dashboard on this terminal (the CLI's handling of Ctrl-C and of log lines). */
  dashboard?: DashboardOutputOptions;
  /** Without a dashboard: a plain progress line every 5 s. */
  progress?: (line: string) => void;
  /** Lines for the person running the fleet (a gateway's TLS address, the /metrics URL). */
  notice?: (line: string) => void;
  /** A live /metrics endpoint for Prometheus. */
  prometheus?: { port: number; host?: string };
  /** `--out` specs, e.g. "json=run.jsonl". */
  out?: string[];
  /** More outputs of your own, after the others (before the report). */
  outputs?: Output[];
  /** Reconcile what devices say was acknowledged with the emulator's /stats (default: when the target is it). */
  reconcile?: boolean;
  /** The bounds of the saturation verdict (--saturation-lateness): when the load generator limited the run. */
  saturation?: SaturationOptions;
}

/** The outputs between reconciliation (first: the others read what it finds) and the report (last). */
export function runOutputs(choices: OutputChoices, thresholds: readonly Threshold[]): Output[] {
  const out = outputsFromSpecs(choices.out ?? []);
  const { prometheus } = choices;
  const dashboard = choices.dashboard && { ...choices.dashboard, saturation: choices.saturation ?? {} };
  return [
    saturationOutput(choices.saturation),
    ...(dashboard !== undefined ? [dashboardOutput(dashboard)] : []),
    ...(choices.dashboard === undefined && choices.progress !== undefined ? [progressOutput(choices.progress)] : []),
    ...(prometheus === undefined ? [] : [prometheusOutput(prometheus.port, prometheus.host ?? '127.0.0.1')]),
    liveThresholdsOutput(thresholds),
    ...out,
    ...(choices.outputs ?? []),
  ];
}
