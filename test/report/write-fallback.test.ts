// Where symlinks are not allowed (Windows without the privilege), latest becomes a text file.
import { lstat, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...actual,
    symlink: vi.fn(() =>
      Promise.reject(Object.assign(new Error('EPERM: operation not permitted, symlink'), { code: 'EPERM' })),
    ),
  };
});

const { updateLatest, newRunId } = await import('../../src/report/write.js');
const { renderRunFolder } = await import('../../src/report/render.js');
const { knownAggregate, T0 } = await import('./fixture.js');

const root = await mkdtemp(join(tmpdir(), 'edgefleet-fallback-'));
afterAll(() => rm(root, { recursive: true, force: true }));

describe('latest without symlinks', () => {
  it('falls back to a text file containing the run id', async () => {
    const id = newRunId(new Date(T0), 9);
    const dir = join(root, 'reports', id);
    await renderRunFolder(dir, knownAggregate(), { runId: id });
    expect((await updateLatest(dir)).kind).toBe('file');
    expect((await lstat(join(root, 'reports', 'latest'))).isFile()).toBe(true);
    expect(await readFile(join(root, 'reports', 'latest'), 'utf8')).toBe(`${id}\n`);
  });
});
