// `edgefleet cleanup`: the identities runs of a scenario created in an IoT Hub's registry, deleted in bulk.
import { readFile } from 'node:fs/promises';
import { ConfigError, displayPath } from '../config/errors.js';
import { parseHubConnectionString } from '../config/hub-connection-string.js';
import { loadScenario } from '../config/load.js';
import { cleanupHubIdentities, type CleanupOutcome } from '../endpoints/hub-registry.js';
import { HubServiceClient } from '../endpoints/hub-service-client.js';

export interface CleanupOptions {
  scenario: string;
  /** Only iot-hub: the other targets' identities are not edgefleet's to delete. */
  target?: 'iot-hub';
}

export interface CleanupResult extends CleanupOutcome {
  scenario: string;
  hub: string;
}

/** Deletes every device tagged as created by runs of the scenario (and nothing else), paced like any registry work. */
export async function cleanupScenario(options: CleanupOptions): Promise<CleanupResult> {
  const loaded = await loadScenario(options.scenario, { target: options.target ?? 'iot-hub' });
  if (loaded.target.kind !== 'iot-hub') {
    const message = 'cleanup deletes what runs created in an IoT Hub registry: use --target iot-hub';
    throw new ConfigError([{ file: 'command line', path: '--target', message }]);
  }
  const settings = loaded.target.settings;
  let connection;
  try {
    connection = parseHubConnectionString(settings.connectionString);
  } catch (err) {
    const message = `not a usable IoT Hub connection string: ${(err as Error).message}`;
    throw new ConfigError([{ file: displayPath(loaded.file), path: 'targets.iot-hub.connectionString', message }]);
  }
  const caPem = settings.ca === undefined ? undefined : await readFile(settings.ca, 'utf8');
  const endpoint = { ...connection, ...(caPem === undefined ? {} : { caPem }) };
  const client = new HubServiceClient(endpoint, 60_000, settings.registryOperationsPerMinute);
  try {
    const outcome = await cleanupHubIdentities(client, loaded.scenario.name);
    return { ...outcome, scenario: loaded.scenario.name, hub: connection.hostName };
  } finally {
    client.close();
  }
}
