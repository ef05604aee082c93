// From the scenario's target settings to a Target the workers can use, plus what must exist on the target
// before identities arrive (deployment manifests assigned to the IoT Edge devices).
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { LoadedScenario } from '../config/load.js';
import type { IotCentralTargetSettings, IotHubTargetSettings, MqttTargetSettings } from '../config/scenario.js';
import { ConfigError, displayPath } from '../config/errors.js';
import { parseHubConnectionString } from '../config/hub-connection-string.js';
import type { PlannedIdentity } from '../config/plan.js';
import { hmacSign } from '../protocol/sas.js';
import { hubIdentities, provisionHubIdentities, registryWriteProblem, serviceConnectProblem } from './hub-registry.js';
import { HubServiceClient } from './hub-service-client.js';
import { retryThrottled, ServiceClient } from './service-client.js';
import {
  emulatorLimitArgs,
  readInfoFile,
  spawnEmulator,
  targetFromInfo,
  type RunningEmulator,
} from './emulator-target.js';
import { splitHostPort, type AzureTarget, type Target } from './target.js';

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
    case 'iot-hub':
      return iotHubTarget(loaded, resolved.settings);
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

/**
 * An IoT Hub through its service connection string: the policy's rights checked with one cheap call before anything
 * connects; devices connect straight to the hub with keys edgefleet puts in the registry, or register through its DPS.
 */
async function iotHubTarget(loaded: LoadedScenario, s: IotHubTargetSettings): Promise<PreparedTarget> {
  const where = (message: string) =>
    new ConfigError([{ file: displayPath(loaded.file), path: 'targets.iot-hub.connectionString', message }]);
  let connection;
  try {
    connection = parseHubConnectionString(s.connectionString);
  } catch (err) {
    throw where(`not a usable IoT Hub connection string: ${(err as Error).message}`);
  }
  const caPem = s.ca === undefined ? undefined : await readFile(s.ca, 'utf8');
  const hubService = { ...connection, ...(caPem === undefined ? {} : { caPem }) };
  const probe = new HubServiceClient(hubService, 15_000);
  try {
    const probeId = `edgefleet-rights-check-${randomUUID()}`;
    const problem =
      (await registryWriteProblem(probe, probeId)) ??
      (loaded.actions.length > 0 ? await serviceConnectProblem(probe, probeId) : undefined);
    if (problem !== undefined) throw where(problem);
  } finally {
    probe.close();
  }
  const { host, port } = splitHostPort(connection.hostName, 443);
  const target: AzureTarget = {
    kind: 'iot-hub',
    groupKeys: s.dps?.groupKeys
      ? {
          devices: s.dps.groupKeys.devices?.primaryKey ?? '',
          edgeDevices: s.dps.groupKeys.edgeDevices?.primaryKey ?? '',
        }
      : registryGroupKeys(connection.key),
    ...(caPem === undefined ? {} : { caPem }),
    hubHttpsPort: port,
    hubService,
    limited: true, // an IoT Hub always has its tier's throttles
  };
  if (s.dps === undefined) target.direct = { hubHost: host, dial: s.mqttEndpoint ?? `${host}:8883` };
  else {
    const dps = splitHostPort(s.dps.globalEndpoint);
    target.dps = { host: dps.host, port: dps.port, idScope: s.dps.idScope };
    if (s.dps.x509 !== undefined) {
      const [certPem, keyPem] = await Promise.all([
        readFile(s.dps.x509.caCert, 'utf8'),
        readFile(s.dps.x509.caKey, 'utf8'),
      ]);
      target.x509Ca = { certPem, keyPem };
    }
  }
  return { target, label: `IoT Hub ${connection.hostName}`, release: async () => {} };
}

/**
 * Without DPS, device keys derive from two keys that derive from the policy's key: the same on every run (a re-run
 * finds its identities as it left them), and unknown to anyone without the policy's key.
 */
function registryGroupKeys(policyKey: string): { devices: string; edgeDevices: string } {
  return {
    devices: hmacSign(policyKey, 'edgefleet/devices'),
    edgeDevices: hmacSign(policyKey, 'edgefleet/edgeDevices'),
  };
}

/**
 * The run's identities in the hub's registry, in bulk and paced (the registry's throttle), tagged with the run and
 * scenario, and each IoT Edge group's manifest deployed to its devices (applyConfigurationContent).
 */
export async function prepareHubIdentities(
  target: Target,
  loaded: LoadedScenario,
  identities: readonly PlannedIdentity[],
  log: (level: 'info' | 'warn', line: string) => void,
): Promise<void> {
  if (target.kind !== 'iot-hub' || target.hubService === undefined) return;
  const settings = loaded.target.kind === 'iot-hub' ? loaded.target.settings : undefined;
  const client = new HubServiceClient(target.hubService, 60_000, settings?.registryOperationsPerMinute ?? 100);
  const manifests = new Map(
    loaded.groups.flatMap((g) => (g.kind === 'iotEdge' ? [[g.name, g.manifest.json] as const] : [])),
  );
  try {
    const wanted = hubIdentities(loaded, identities, target.groupKeys);
    const runTag = new Date().toISOString();
    const outcome = await provisionHubIdentities(client, wanted, manifests, {
      scenario: loaded.scenario.name,
      runTag,
    });
    log(
      'info',
      `${target.hubService.hostName}: ${outcome.ready} identities in the registry (${outcome.created} created, ` +
        `${outcome.updated} updated, in bulk), deployment manifests applied to ${outcome.deployed} IoT Edge devices`,
    );
    for (const f of outcome.failed.slice(0, 10)) log('warn', `${f.deviceId}: ${f.reason}`);
    if (outcome.failed.length > 10) log('warn', `… and ${outcome.failed.length - 10} more identities not ready`);
  } finally {
    client.close();
  }
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
  if (target.kind === 'mqtt' || target.kind === 'iot-hub') return;
  const edgeGroups = loaded.groups.filter((g) => g.kind === 'iotEdge');
  if (edgeGroups.length === 0) return;
  if (target.service === undefined) {
    log(
      'IoT Edge groups need the service API (an API token) to assign their deployment manifests; they will run with what their twins hold',
    );
    return;
  }
  const service = new ServiceClient(target.service);
  let told = false;
  const waiting = (seconds: number) => {
    if (!told)
      log(
        `the target throttles registry writes: assigning deployment manifests as fast as it allows (first wait ${seconds} s)`,
      );
    told = true;
  };
  for (const group of edgeGroups) {
    if (group.kind !== 'iotEdge') continue;
    const manifestId = `edgefleet-${group.name}`;
    await retryThrottled(
      () => service.saveManifest(manifestId, `edgefleet ${group.name}`, group.manifest.json),
      waiting,
    );
    const ids = deviceIds.get(group.name) ?? [];
    let next = 0;
    const lane = async () => {
      while (next < ids.length) {
        const id = ids[next++] as string;
        const body = { displayName: id, iotEdge: true, deploymentManifest: manifestId, simulated: true };
        await retryThrottled(() => service.putDevice(id, body), waiting);
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, ids.length) }, lane));
  }
}
