import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default is cores - 1: a single worker on a 2-core CI box, one file after another, half the box idle
    // while a file waits on a child process, Chromium or the emulator's scaled delays. One worker per core; not more:
    // at cores + 1 the files that spawn several CLI processes (cli-sandbox-state) starved next to the event flood.
    maxWorkers: availableParallelism(),
    setupFiles: ['test/setup-fast-check.ts'],
    globalSetup: ['test/global-setup.ts'],
  },
});
