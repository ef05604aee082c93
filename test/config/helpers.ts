// Scenario files written into a fresh directory, with the shipped manifests and model beside them.
import { copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

export async function scenarioDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgefleet-config-'));
  await mkdir(path.join(dir, 'manifests'));
  await mkdir(path.join(dir, 'models'));
  await copyFile(
    path.join(REPO, 'scenarios/manifests/environmental-sensor.json'),
    path.join(dir, 'manifests/env.json'),
  );
  await copyFile(path.join(REPO, 'scenarios/manifests/gateway-filter.json'), path.join(dir, 'manifests/gateway.json'));
  await copyFile(path.join(REPO, 'scenarios/models/thermostat.dtdl.json'), path.join(dir, 'models/thermostat.json'));
  return dir;
}

export async function write(dir: string, name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  return file;
}

/** Runs `load` and returns the ConfigError it must throw. */
export async function configError(load: () => Promise<unknown>): Promise<ConfigError> {
  try {
    await load();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, and the load succeeded');
}
