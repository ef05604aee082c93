// From the scenario's target settings to a Target the workers can use, plus what must exist on the target
// before identities arrive (deployment manifests assigned to the IoT Edge devices).
import { readFile } from 'node:fs/promises';
import type { LoadedScenario } from '../config/load.js';
import type { IotCentralTargetSettings, MqttTargetSettings } from '../config/scenario.js';
import { ServiceClient } from './service-client.js';
import {
  emulatorLimitArgs,
  readInfoFile,
  spawnEmulator,
  targetFromInfo,
  type RunningEmulator,
} from './emulator-target.js';
import type { Target } from './target.js';

export interface PreparedTarget {
  target: Target;
  /** Shown to people (never with secrets). */
  label: string;
  /** The embedded emulator when this started it (a targetRestart event restarts it). */
  emulator?: RunningEmulator;
  release(): Promise<void>;
}

export interface TargetOptions {
  /** An emulator already running, described by its info file; otherwise one is started. */
  targetInfo?: string;
  stateDir: string;
  log: (line: string) => void;
}

export async function resolveTarget(loaded: LoadedScenario, options: TargetOptions): Promise<PreparedTarget> {
  const resolved = loaded.target;
  switch (resolved.kind) {
    case 'emulator':
      return emulatorTarget(options, emulatorLimitArgs(loaded.scenario.targets?.emulator));
    case 'iot-central':
      return iotCentralTarget(resolved.settings);
    case 'mqtt':
      return mqttTarget(resolved.settings);
  }
}

/** The emulator its info file describes, or one started for this run. */
async function emulatorTarget(options: TargetOptions, limitArgs: string[]): Promise<PreparedTarget> {
  if (options.targetInfo !== undefined) {
    if (limitArgs.length > 0) {
      options.log(
        'targets.emulator.limits are for the emulator a run starts: the one given by --target-info keeps its own',
      );
    }
    const info = await readInfoFile(options.targetInfo);
    return {
      target: await targetFromInfo(info),
      label: `emulator at ${info.hubHostName}:${info.mqttPort}`,
      release: async () => {},
    };
  }
  const emulator = await spawnEmulator(options.stateDir, options.log, { args: limitArgs });
  const target = await targetFromInfo(emulator.info);
  const limited = limitArgs.length > 0 ? ` (limits: ${limitArgs.join(' ')})` : '';
  return { target, label: `embedded emulator${limited}`, emulator, release: () => emulator.stop() };
}

async function iotCentralTarget(s: IotCentralTargetSettings): Promise<PreparedTarget> {
  const keyOf = (g: { primaryKey: string } | undefined) => g?.primaryKey ?? '';
  const x509 =
    s.x509 === undefined
      ? undefined
      : {
          certPem: await readFile(s.x509.caCert, 'utf8'),
          keyPem: await readFile(s.x509.caKey, 'utf8'),
        };
  return {
    target: {
      kind: 'iot-central',
      dps: { host: s.dpsHost, port: 8883, idScope: s.idScope },
      groupKeys: { devices: keyOf(s.groupKeys?.devices), edgeDevices: keyOf(s.groupKeys?.edgeDevices) },
      ...(x509 === undefined ? {} : { x509Ca: x509 }),
      hubHttpsPort: 443,
      limited: true,
      ...(s.apiToken === undefined
        ? {}
        : {
            service: {
              baseUrl: `https://${s.subdomain}.azureiotcentral.com`,
              apiToken: s.apiToken,
              apiVersion: '2022-07-31',
            },
          }),
    },
    label: `IoT Central app ${s.subdomain}`,
    release: async () => {},
  };
}

async function mqttTarget(s: MqttTargetSettings): Promise<PreparedTarget> {
  const tls = s.tls?.enabled ?? s.tls !== undefined;
  return {
    target: {
      kind: 'mqtt',
      host: s.host,
      port: s.port ?? (tls ? 8883 : 1883),
      tls,
      ...(s.tls?.ca === undefined ? {} : { caPem: await readFile(s.tls.ca, 'utf8') }),
      rejectUnauthorized: s.tls?.rejectUnauthorized ?? true,
      clientId: s.clientId,
      ...(s.username === undefined ? {} : { username: s.username }),
      ...(s.password === undefined ? {} : { password: s.password }),
      topics: { telemetry: s.topics.telemetry, moduleTelemetry: s.topics.moduleTelemetry ?? s.topics.telemetry },
    },
    label: `MQTT broker ${s.host}:${s.port ?? (tls ? 8883 : 1883)}`,
    release: async () => {},
  };
}

/**
 * Saves each IoT Edge group's manifest and creates its devices with it assigned, as an operator does in
 * IoT Central, so that each device finds its deployment in its twins when it connects.
 */
export async function assignManifests(
  target: Target,
  loaded: LoadedScenario,
  deviceIds: Map<string, string[]>,
  log: (line: string) => void,
): Promise<void> {
  if (target.kind === 'mqtt') return;
  const edgeGroups = loaded.groups.filter((g) => g.kind === 'iotEdge');
  if (edgeGroups.length === 0) return;
  if (target.service === undefined) {
    log(
      'IoT Edge groups need the service API (an API token) to assign their deployment manifests; they will run with what their twins hold',
    );
    return;
  }
  const service = new ServiceClient(target.service);
  for (const group of edgeGroups) {
    if (group.kind !== 'iotEdge') continue;
    const manifestId = `edgefleet-${group.name}`;
    await service.saveManifest(manifestId, `edgefleet ${group.name}`, group.manifest.json);
    const ids = deviceIds.get(group.name) ?? [];
    let next = 0;
    const lane = async () => {
      while (next < ids.length) {
        const id = ids[next++] as string;
        await service.putDevice(id, {
          displayName: id,
          iotEdge: true,
          deploymentManifest: manifestId,
          simulated: true,
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, ids.length) }, lane));
  }
}
