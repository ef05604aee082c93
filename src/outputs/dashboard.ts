// The live dashboard on a terminal (src/ui), as an output: it folds each snapshot into its view, and its keys
// stop, pause and drill into the run through the run's control.
import { startDashboard, type DashboardHandle, type DashboardState } from '../ui/index.js';
import { finalView, firstView, viewAfter } from './live-view.js';
import type { Output } from './output.js';
import { saturationLine, SaturationWatch, type SaturationOptions } from './saturation.js';

export interface DashboardOutputOptions {
  /** Ctrl-C arrives as a key (the terminal is in raw mode): the CLI handles it as it handles SIGINT. */
  onInterrupt: () => void;
  /** Log lines go above the dashboard while it is up (a print function), and back to stderr after (undefined). */
  setLogSink: (print: ((line: string) => void) | undefined) => void;
  /** The saturation verdict's bounds, to show it as it happens (the same as the run's verdict). */
  saturation?: SaturationOptions;
}

export function dashboardOutput(options: DashboardOutputOptions): Output {
  let dash: DashboardHandle | undefined;
  let view: DashboardState | undefined;
  const watch = new SaturationWatch(options.saturation);
  return {
    name: 'dashboard',
    async start(run) {
      view = firstView(run);
      dash = await startDashboard({
        initial: view,
        deviceIds: run.deviceIds,
        onStop: () => run.control.stop('stopped from the dashboard'),
        onPause: (paused) => run.control.pause(paused),
        onDrill: (deviceId) => run.control.inspect(deviceId),
        onInterrupt: options.onInterrupt,
      });
      const shown = dash;
      options.setLogSink((line) => shown.log(line));
    },
    snapshot(s) {
      if (view === undefined) return;
      watch.observe(s);
      const verdict = watch.verdict();
      view = viewAfter(view, s);
      if (verdict.generatorSaturated) view = { ...view, saturation: saturationLine(verdict) };
      dash?.update(view);
    },
    finish(final) {
      // Left on screen: the last frame, as the run ended.
      if (view === undefined) return;
      const last = finalView(view, final);
      const verdict = final.verdict ?? watch.verdict();
      dash?.update(verdict.generatorSaturated ? { ...last, saturation: saturationLine(verdict) } : last);
    },
    async close() {
      await dash?.close();
      dash = undefined;
      options.setLogSink(undefined);
    },
  };
}
