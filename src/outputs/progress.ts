// A plain progress line every few seconds (CI logs, pipes): the dashboard's numbers without a terminal.
import { formatProgressLine, type DashboardState } from '../ui/index.js';
import { firstView, viewAfter } from './live-view.js';
import type { Output } from './output.js';

export function progressOutput(print: (line: string) => void, everySeconds = 5): Output {
  let view: DashboardState | undefined;
  let seen = 0;
  return {
    name: 'progress',
    start(run) {
      view = firstView(run);
    },
    snapshot(s) {
      if (view === undefined) return;
      view = viewAfter(view, s);
      if (++seen % everySeconds === 0) print(formatProgressLine(view));
    },
  };
}
