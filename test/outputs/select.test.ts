// `--out KIND=ARGUMENT`: what the command line can name, refused with what to fix before anything connects.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { outputsFromSpecs } from '../../src/outputs/select.js';

const dir = await mkdtemp(join(tmpdir(), 'edgefleet-out-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

const problemOf = (specs: string[]): string => {
  try {
    outputsFromSpecs(specs);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.map((p) => `${p.path}: ${p.message}`).join('\n');
  }
  throw new Error(`${specs.join(' ')} was accepted`);
};

describe('--out', () => {
  it('makes a JSON-lines output whose file exists (empty) before the run starts', async () => {
    const file = join(dir, 'run.jsonl');
    const [output] = outputsFromSpecs([`json=${file}`]);
    expect(output?.name).toBe('json');
    expect(await readFile(file, 'utf8')).toBe('');
    await output?.close?.();
  });

  it('refuses an unknown kind, a missing argument and a file it cannot write, saying what is accepted', () => {
    expect(problemOf(['csv=x.csv'])).toMatch(
      /^--out: expected KIND=ARGUMENT such as json=run\.jsonl .*, got "csv=x\.csv"$/,
    );
    expect(problemOf(['json'])).toMatch(/got "json"$/);
    expect(problemOf([`json=${join(dir, 'missing', 'x.jsonl')}`])).toMatch(
      /^--out: json=.*x\.jsonl: cannot write .*: ENOENT$/,
    );
  });
});
