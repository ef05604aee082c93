// A plain-device scenario and its profile written to a folder: one group of thermostats sending at an interval, all
// arriving at once. What the run-level tests (saturation, throttling, find-capacity) vary is the count and the rate.
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const MODEL = resolve('test/fixtures/thermostat.dtdl.json');

export interface PlainFleet {
  name: string;
  devices: number;
  /** The telemetry interval (`2s`, `5ms`). */
  interval: string;
  duration: string;
  /** Arrivals per second (all arrive at once when it exceeds the count). */
  startRate: number;
  drain: string;
  seed: number;
  /** Lines of YAML between the profile and the fleet (e.g. `targets:`). */
  extra?: string[];
}

/** Writes `<name>.yaml` and `<name>.profile.yaml` into `dir`; returns the scenario's path. */
export function writePlainScenario(dir: string, f: PlainFleet): string {
  const profile = join(dir, `${f.name}.profile.yaml`);
  const arrivals = `arrivals: { startRate: ${f.startRate} }`;
  writeFileSync(profile, [`name: ${f.name}`, `duration: ${f.duration}`, arrivals, `drain: ${f.drain}`, ''].join('\n'));
  const file = join(dir, `${f.name}.yaml`);
  const lines = [
    `name: ${f.name}`,
    `seed: ${f.seed}`,
    `profile: ${profile}`,
    ...(f.extra ?? []),
    'fleet:',
    '  - group: meters',
    '    kind: device',
    `    count: ${f.devices}`,
    `    idPattern: "${f.name}-{index:04}"`,
    `    model: ${MODEL}`,
    `    telemetry: { interval: ${f.interval}, qos: 1 }`,
    '',
  ];
  writeFileSync(file, lines.join('\n'));
  return file;
}
