// Loading a scenario for `edgefleet export k6` and writing the export into a folder. The scenario is loaded as for
// the emulator whatever the target, so that no ${ENV} secret of another target is ever read: the script asks for
// its settings at run time.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { displayPath } from '../config/errors.js';
import { loadScenario } from '../config/load.js';
import { exportK6, K6ExportError, type K6Export, type K6Target } from './k6.js';

export interface K6WriteOptions {
  scenario: string;
  out: string;
  target: K6Target;
  profile?: string | undefined;
  duration?: string | undefined;
  stateDir?: string | undefined;
  parallelism?: number | undefined;
  /** Refuse a scenario with groups k6 cannot run instead of leaving them out. */
  strict?: boolean | undefined;
}

export interface K6Written extends K6Export {
  /** The files written, as paths. */
  paths: string[];
}

export async function writeK6Export(options: K6WriteOptions): Promise<K6Written> {
  const pods = options.parallelism;
  if (pods !== undefined && !(Number.isInteger(pods) && pods >= 1)) {
    throw new K6ExportError(`--parallelism: expected a whole number of k6 runner pods >= 1, got ${String(pods)}`);
  }
  const loaded = await loadScenario(options.scenario, {
    target: 'emulator',
    profile: options.profile,
    duration: options.duration,
    stateDir: options.stateDir,
  });
  const exported = exportK6(loaded, {
    target: options.target,
    source: displayPath(path.resolve(options.scenario)),
    ...(options.parallelism === undefined ? {} : { parallelism: options.parallelism }),
  });
  if (options.strict === true && exported.leftOut.length > 0) {
    const groups = exported.leftOut.map((l) => `${l.group} (${l.reason})`).join('; ');
    throw new K6ExportError(`${options.scenario}: --strict: k6 cannot run ${groups}`);
  }
  await mkdir(options.out, { recursive: true });
  const paths: string[] = [];
  for (const file of exported.files) {
    const target = path.join(options.out, file.name);
    await writeFile(target, file.text);
    paths.push(target);
  }
  return { ...exported, paths };
}
