// What one smoke check is, what it needs from the run, and how it waits for what it expects.
import type { LoadedScenario } from '../config/load.js';
import type { PlannedIdentity } from '../config/plan.js';
import type { HubServiceClient } from '../endpoints/hub-service-client.js';
import type { ServiceActions } from '../endpoints/service-client.js';
import type { RunSummary } from '../report/summary.js';
import type { SmokeApi } from './api.js';

export interface Verdict {
  passed: boolean;
  expected: string;
  seen: string;
  /** A definitive answer (e.g. the device answered a command with another code): no point asking again. */
  final?: boolean;
}

/** What a check can look at: the scenario, its identities, the target's service API, and after the run its summary. */
export interface CheckContext {
  loaded: LoadedScenario;
  identities: readonly PlannedIdentity[];
  targetKind: 'emulator' | 'iot-central' | 'iot-hub' | 'mqtt';
  /** undefined when the target has no service API (IoT Central without an API token). */
  service: ServiceActions | undefined;
  /** The IoT Central-shaped REST API's reads (not an IoT Hub's). */
  api: SmokeApi | undefined;
  /** An IoT Hub's service API, whose twins and registry answer what the IoT Central-shaped reads would. */
  hub?: HubServiceClient;
  /** Epoch ms after which a check stops waiting and fails with what it saw last. */
  deadline: number;
  /** Set for checks that run after the fleet has stopped. */
  summary?: RunSummary;
}

export interface CheckDefinition {
  /** Short kebab-case id, the JUnit test case name. */
  name: string;
  /** What a person would check, for --help. */
  describe: string;
  /** `live`: while the fleet runs (polling the target); `after`: on the run's summary. */
  when: 'live' | 'after';
  /** Needs the service API; skipped without one. */
  needsService: boolean;
  /** Only the emulator can answer it (e.g. its /stats); skipped against other targets. */
  emulatorOnly?: boolean;
  /** Why an IoT Hub cannot answer it (e.g. it reads back telemetry, which only IoT Central keeps); skipped there. */
  notOnHub?: string;
  run(ctx: CheckContext): Promise<Verdict>;
}

export interface CheckResult {
  pattern: string;
  check: string;
  status: 'pass' | 'fail' | 'skip';
  expected: string;
  seen: string;
  ms: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Asks `probe` until it passes, gives a final answer, or the deadline comes; the last verdict is the answer.
 * A probe that throws counts as "not yet" (e.g. the device is not connected yet) with the error as what was seen.
 */
export async function until(
  deadline: number,
  expected: string,
  probe: () => Promise<Verdict>,
  everyMs = 500,
): Promise<Verdict> {
  let last: Verdict;
  for (;;) {
    try {
      last = await probe();
    } catch (err) {
      last = { passed: false, expected, seen: (err as Error).message };
    }
    if (last.passed || last.final === true || Date.now() + everyMs > deadline) return last;
    await sleep(everyMs);
  }
}

export const pass = (expected: string, seen: string): Verdict => ({ passed: true, expected, seen });
export const fail = (expected: string, seen: string): Verdict => ({ passed: false, expected, seen });

/** A value as a person reads it in a line of output (short). */
export function shown(v: unknown): string {
  const text = typeof v === 'string' ? v : JSON.stringify(v);
  return text === undefined ? 'undefined' : text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
