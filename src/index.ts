// The package entry: drive a run from code, as `edgefleet run` does (README, "From code").
export { runScenario, RunAborted } from './api/run-scenario.js';
export type { ScenarioOptions, ScenarioResult, StartingRun } from './api/run-scenario.js';
export type { OutputChoices } from './api/outputs.js';
export { findCapacity } from './api/find-capacity.js';
export type { CapacityOptions, CapacityResult, CapacityStep } from './api/find-capacity.js';
export { startEmulator } from './emulator/index.js';
export type { Emulator, EmulatorInfo, EmulatorOptions } from './emulator/index.js';
export type { Output, RunControl, RunFinal, RunFindings, RunSnapshot, RunStart } from './outputs/output.js';
export type { RunReport } from './outputs/report.js';
export type { RunSummary } from './report/summary.js';
