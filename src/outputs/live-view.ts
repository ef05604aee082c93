// The dashboard's view model fed from the stream: what the dashboard and the progress line both show.
import { fromAggregate, initialState, nextState, type DashboardState } from '../ui/index.js';
import type { RunFinal, RunSnapshot, RunStart } from './output.js';

export function firstView(run: RunStart): DashboardState {
  return initialState({
    scenario: run.scenario,
    profile: run.profile,
    target: run.target,
    startedAtMs: run.startedAtMs,
    durationMs: run.durationMs,
    groups: run.groups,
  });
}

export function viewAfter(view: DashboardState, s: RunSnapshot): DashboardState {
  return nextState(view, {
    now: s.atMs,
    ...fromAggregate(s.aggregate),
    states: [s.states],
    patterns: [s.patterns],
    workers: s.workers,
    process: s.process,
    stage: s.stage,
    paused: s.paused,
    stopping: s.stopping,
    events: s.events,
  });
}

/** The last frame, as the run ended. */
export function finalView(view: DashboardState, final: RunFinal): DashboardState {
  return nextState(view, {
    now: final.endedAtMs,
    ...fromAggregate(final.aggregate),
    states: [final.states],
    patterns: [final.patterns],
    stopping: true,
    ...(final.events === undefined ? {} : { events: final.events }),
  });
}
