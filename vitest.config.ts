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
    // Each worker process runs its test files one after another without loading every module afresh for
    // each file: the modules (oidc-provider, Sequelize, the units) took a fifth of the suite's time. Every
    // file starts its own gateway, nodes, databases and ports, so nothing a file needs is left by another.
    isolate: false,
    reporters: ['default'],
  },
});
