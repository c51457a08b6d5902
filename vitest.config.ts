import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores run two test files at once; pushes can take a moment longer than on an idle machine.
    expect: { poll: { timeout: 5_000, interval: 20 } },
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
