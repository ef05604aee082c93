import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Most files wait on sockets, paced rates and child processes (about 1.2 of 2 cores busy at 3 files at once):
    // four at once on 2 cores (vitest's default is cores − 1) keeps the suite near 4 minutes.
    maxWorkers: 4,
  },
});
