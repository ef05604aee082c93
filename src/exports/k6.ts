// `edgefleet export k6`: a scenario's plain-device groups as a k6 script in TypeScript (xk6-mqtt for MQTT), the
// k6/x/mqtt declarations it typechecks with, and a k6-operator TestRun that runs it on a cluster. Secrets are never
// written: the script reads them from __ENV.
import { formatDuration } from '../config/duration.js';
import type { LoadedScenario } from '../config/loaded.js';
import { encodePropertyBag, systemProperty } from '../protocol/property-bag.js';
import { DPS_API_VERSION, HUB_API_VERSION } from '../protocol/connect.js';
import { k6Fleet, type K6Fleet } from './k6-fleet.js';
import { K6_MQTT_DECLARATIONS, K6_MQTT_DECLARATIONS_FILE } from './k6-mqtt-declarations.js';
import { k6Executor, k6Thresholds } from './k6-options.js';
import { K6_RUNTIME_CORE, K6_RUNTIME_TYPES, K6_RUNTIME_VALUES } from './k6-runtime.js';
import { K6_RUNTIME_DPS, K6_RUNTIME_HUB } from './k6-runtime-device.js';
import { k6TestRun } from './k6-testrun.js';

export const K6_TARGETS = ['emulator', 'iot-central', 'iot-hub'] as const;
export type K6Target = (typeof K6_TARGETS)[number];

/** The versions the script is written for (README, "Running on k6"). */
export const K6_VERSIONS = { k6: 'v2.x (built with xk6)', xk6Mqtt: 'v0.3.0', typesK6: '2.3' } as const;

const GLOBAL_DPS_HOST = 'global.azure-devices-provisioning.net';
/** SAS tokens live this long past the end of the run (no renewal needed while it runs). */
const TOKEN_TTL_SECONDS = 3600;

export interface K6ExportOptions {
  target: K6Target;
  /** What the TestRun's parallelism is: how many k6 runner pods split the fleet. */
  parallelism?: number;
  /** The file the export was made from, as given on the command line (the header says it). */
  source?: string;
}

export interface K6Export {
  files: { name: string; text: string }[];
  /** Groups left out, for stderr. */
  leftOut: K6Fleet['leftOut'];
  devices: number;
}

/** Thrown when nothing of the scenario can run in k6. */
export class K6ExportError extends Error {
  override readonly name = 'K6ExportError';
}

export function scriptName(loaded: LoadedScenario): string {
  return `${loaded.scenario.name}.k6.ts`;
}

export function exportK6(loaded: LoadedScenario, options: K6ExportOptions): K6Export {
  const fleet = k6Fleet(loaded);
  const devices = fleet.groups.reduce((n, g) => n + g.count, 0);
  if (devices === 0) {
    const why = fleet.leftOut.map((l) => `${l.group}: ${l.reason}`).join('; ');
    throw new K6ExportError(
      `${options.source ?? loaded.file}: no group k6 can run (plain devices with auth sas) — ${why}. ` +
        'Run it with edgefleet run, or spread it over machines with --shard.',
    );
  }
  const name = scriptName(loaded);
  const script = [
    header(loaded, fleet, options, name),
    imports(),
    constants(loaded, fleet, options.target),
    optionsBlock(loaded, devices),
    K6_RUNTIME_TYPES,
    K6_RUNTIME_CORE,
    K6_RUNTIME_VALUES,
    K6_RUNTIME_DPS,
    K6_RUNTIME_HUB,
  ].join('\n');
  return {
    files: [
      { name, text: script },
      { name: K6_MQTT_DECLARATIONS_FILE, text: K6_MQTT_DECLARATIONS },
      {
        name: 'testrun.yaml',
        text: k6TestRun({
          scenario: loaded.scenario.name,
          script: name,
          scriptText: script,
          parallelism: options.parallelism ?? 2,
          settings: settings(options.target).map((s) => s.name),
          skipTlsVerify: options.target === 'emulator',
        }),
      },
    ],
    leftOut: fleet.leftOut,
    devices,
  };
}

function imports(): string {
  return [
    '/// <reference types="k6" />',
    `/// <reference path="./${K6_MQTT_DECLARATIONS_FILE}" />`,
    "import { Client } from 'k6/x/mqtt';",
    "import { hmac } from 'k6/crypto';",
    "import { b64decode, b64encode } from 'k6/encoding';",
    "import exec from 'k6/execution';",
    "import { Counter, Rate, Trend } from 'k6/metrics';",
    "import { clearTimeout, setTimeout } from 'k6/timers';",
    "import type { Options } from 'k6/options';",
    '',
  ].join('\n');
}

/** Settings each target needs from __ENV, with defaults where the target has one. */
function settings(target: K6Target): { name: string; what: string; fallback?: string }[] {
  const dpsHost =
    target === 'emulator'
      ? { name: 'EDGEFLEET_DPS_HOST', what: 'the emulator’s host as the k6 pods reach it (its dpsHost when local)' }
      : { name: 'EDGEFLEET_DPS_HOST', what: 'the DPS host', fallback: GLOBAL_DPS_HOST };
  const port =
    target === 'emulator'
      ? { name: 'EDGEFLEET_DPS_PORT', what: 'the emulator’s mqttPort (emulator.json)' }
      : { name: 'EDGEFLEET_DPS_PORT', what: 'the DPS MQTT port', fallback: '8883' };
  const scope =
    target === 'emulator'
      ? 'idScope in emulator.json'
      : target === 'iot-central'
        ? 'the application’s ID scope (Permissions → Device connection groups)'
        : 'the DPS instance’s ID scope';
  const key =
    target === 'emulator'
      ? 'enrollmentGroups.devices.primaryKey in emulator.json'
      : target === 'iot-central'
        ? 'the primary key of the SAS-IoT-Devices group'
        : 'the primary key of the symmetric-key enrollment group the devices register through';
  return [{ name: 'EDGEFLEET_ID_SCOPE', what: scope }, { name: 'EDGEFLEET_DEVICES_KEY', what: key }, dpsHost, port];
}

function runLine(target: K6Target, name: string): string[] {
  if (target === 'emulator') {
    return [
      '//   ./k6 run -e EDGEFLEET_ID_SCOPE=$(jq -r .idScope emulator.json) \\',
      '//     -e EDGEFLEET_DEVICES_KEY=$(jq -r .enrollmentGroups.devices.primaryKey emulator.json) \\',
      '//     -e EDGEFLEET_DPS_HOST=localhost -e EDGEFLEET_DPS_PORT=$(jq -r .mqttPort emulator.json) \\',
      `//     ${name}`,
    ];
  }
  return [`//   ./k6 run -e EDGEFLEET_ID_SCOPE=… -e EDGEFLEET_DEVICES_KEY=… ${name}`];
}

function tlsLines(target: K6Target): string[] {
  if (target !== 'emulator') return ['// TLS: the Azure endpoints chain to public roots, which k6 trusts as they are.'];
  return [
    '// TLS: xk6-mqtt uses k6’s own TLS settings. The emulator’s server certificate chains to its ca.pem and',
    '// names localhost, 127.0.0.1 and ::1. Where k6 reaches it by one of those names, trust that CA through',
    '// Go’s root file (Linux):',
    '//   SSL_CERT_FILE=.edgefleet/ca.pem ./k6 run …',
    '// from anywhere else (a cluster), skip verification: ./k6 run --insecure-skip-tls-verify …',
    '// (K6_INSECURE_SKIP_TLS_VERIFY=true in a TestRun). Only for the emulator, on a network you trust.',
  ];
}

function header(loaded: LoadedScenario, fleet: K6Fleet, options: K6ExportOptions, name: string): string {
  const p = loaded.profile;
  const lines = [
    `// ${name}: the plain devices of scenario "${loaded.scenario.name}" as a k6 load test,`,
    `// written by edgefleet export k6 from ${options.source ?? loaded.file}`,
    `// (profile ${p.name}, ${formatDuration(loaded.durationMs)}, target ${options.target}).`,
    `// For k6 ${K6_VERSIONS.k6} with the xk6-mqtt extension ${K6_VERSIONS.xk6Mqtt}:`,
    '//   xk6 build --with github.com/grafana/xk6-mqtt',
    `// Typed by @types/k6 (${K6_VERSIONS.typesK6}) and ./${K6_MQTT_DECLARATIONS_FILE}; k6 runs TypeScript as it is.`,
    '//',
    '// Each iteration is one device: its key derived from the group key, DPS registration over MQTT, then the hub:',
    '// subscriptions, twin GET, reported properties, telemetry at the group’s interval until the run ends, commands',
    '// answered and desired properties acknowledged as the scenario says. Telemetry topics carry no',
    '// iothub-creation-time-utc (xk6-mqtt tags samples with the topic: one k6 time series per device, not per',
    '// message); the hub’s enqueued time stands for it.',
    '//',
    '// Groups:',
    ...fleet.groups.map((g) => `//   ${g.name}: ${g.count} devices, telemetry every ${formatDuration(g.intervalMs)}`),
    ...fleet.leftOut.map((l) => `//   left out: ${l.group} — ${l.reason}`),
    ...leftOutOfProfile(loaded),
    '//',
    '// Settings (k6 run -e NAME=value; never written here):',
    ...settings(options.target).map(
      (s) => `//   ${s.name}: ${s.what}${s.fallback === undefined ? '' : ` (default ${s.fallback})`}`,
    ),
    ...runLine(options.target, name),
    ...tlsLines(options.target),
    '//',
    '// Thresholds:',
    ...thresholdLines(loaded),
    '//',
    '// Metrics: Trends provision, connect, telemetry (from the intended send time), twinGet, reportedPatch (ms);',
    '// Counters ledger_generated, ledger_acknowledged, ledger_failed, error_count{class,operation},',
    '// commands_answered, desired_acknowledged, c2d_received; Rate errors (failed operations).',
    '',
  ];
  return lines.join('\n');
}

function leftOutOfProfile(loaded: LoadedScenario): string[] {
  const p = loaded.profile;
  const out: string[] = [];
  if (p.actions.length > 0)
    out.push(
      `//   left out: the profile's ${p.actions.length} service-side action(s) (the service is not played here)`,
    );
  if (p.events.length > 0)
    out.push(`//   left out: the profile's ${p.events.length} event(s) (they are edgefleet's engine's)`);
  if (p.rampDown !== undefined) out.push('//   left out: the profile’s rampDown (every device stays until the end)');
  return out;
}

function thresholdLines(loaded: LoadedScenario): string[] {
  const { notes } = k6Thresholds(loaded.scenario.thresholds);
  return notes.length === 0 ? ['//   none in the scenario'] : notes.map((n) => `//   ${n}`);
}

function constants(loaded: LoadedScenario, fleet: K6Fleet, target: K6Target): string {
  const bag = encodePropertyBag({
    [systemProperty.contentType]: 'application/json',
    [systemProperty.contentEncoding]: 'utf-8',
  });
  const data = {
    scenario: loaded.scenario.name,
    seed: loaded.seed,
    durationMs: loaded.durationMs,
    drainMs: loaded.profile.drain,
    groups: fleet.groups,
  };
  const emulator = target === 'emulator';
  const required = settings(target)
    .filter((s) => s.fallback === undefined)
    .map((s) => s.name);
  return [
    `const DPS_HOST_DEFAULT: string | undefined = ${emulator ? 'undefined' : JSON.stringify(GLOBAL_DPS_HOST)};`,
    `const DPS_PORT_DEFAULT: string | undefined = ${emulator ? 'undefined' : "'8883'"};`,
    `const REQUIRED_SETTINGS = ${JSON.stringify(required)};`,
    `const DPS_API_VERSION = ${JSON.stringify(DPS_API_VERSION)};`,
    `const HUB_API_VERSION = ${JSON.stringify(HUB_API_VERSION)};`,
    `const TOKEN_TTL_SECONDS = ${TOKEN_TTL_SECONDS};`,
    `const TELEMETRY_BAG = ${JSON.stringify(bag)};`,
    `const COMPONENT_KEY = ${JSON.stringify(`&${encodeURIComponent(systemProperty.component)}=`)};`,
    '',
    '// The fleet: its plain-device groups and how each behaves (values are drawn by the plans, see draw()).',
    `const FLEET: Fleet = ${JSON.stringify(data, null, 1)};`,
    '',
  ].join('\n');
}

function optionsBlock(loaded: LoadedScenario, devices: number): string {
  const executor = k6Executor(loaded.profile, devices, loaded.durationMs);
  const { thresholds } = k6Thresholds(loaded.scenario.thresholds);
  const options = { scenarios: { devices: executor }, thresholds };
  return [
    '// One VU per device: arrivals as the profile has them, each iteration running its device to the end.',
    `export const options: Options = ${JSON.stringify(options, null, 2)};`,
    '',
  ].join('\n');
}
