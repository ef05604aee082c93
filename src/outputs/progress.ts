// A plain progress line every few seconds (CI logs, pipes): the dashboard's numbers without a terminal, and a line
// as soon as a profile event happens or the fleet is whole again after it.
import { formatProgressLine, type DashboardState } from '../ui/index.js';
import { firstView, viewAfter } from './live-view.js';
import type { Output } from './output.js';

export function progressOutput(print: (line: string) => void, everySeconds = 5): Output {
  let view: DashboardState | undefined;
  let seen = 0;
  const phases = new Map<string, string>();
  return {
    name: 'progress',
    start(run) {
      view = firstView(run);
    },
    snapshot(s) {
      if (view === undefined) return;
      view = viewAfter(view, s);
      for (const e of view.events) {
        if (e.phase === 'planned' || phases.get(e.name) === e.phase) continue;
        phases.set(e.name, e.phase);
        print(`event ${e.name}: ${e.text}`);
      }
      if (++seen % everySeconds === 0) print(formatProgressLine(view));
    },
  };
}
