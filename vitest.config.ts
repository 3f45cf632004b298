import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    // Model-loading and database tests are slow on a 2-core machine; no test asserts on time.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Every file gets its own database cloned from a migrated template, so files can run side by side.
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ['default'],
  },
});
