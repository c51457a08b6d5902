import { accessSync, constants } from 'node:fs';
import { configDefaults, defineConfig } from 'vitest/config';
import { databaseFreeTestFiles } from './test/database-free-files.ts';

// The tests' databases, data folders and browser profiles go in temporary folders that are removed after
// each file. Where the machine has a memory file system (/dev/shm on Linux) they go there: SQLite syncs
// the disk on every commit, and on a disk those syncs were a sixth of a test's time, which is waiting for
// the disk, not anything a test checks. A kill of a process (what the durability tests do) keeps the
// files either way. Set TMPDIR yourself to choose another place.
if (!process.env.TMPDIR && process.platform === 'linux') {
  try {
    accessSync('/dev/shm', constants.W_OK);
    process.env.TMPDIR = '/dev/shm';
  } catch {
    // No writable memory file system: the usual temporary folder.
  }
}

// The second half of `npm test` (MariaDB) sets ATRIUM_TEST_DATABASE_ONLY: the files that never reach the
// test database run the same on either, and the first half (SQLite) has run them.
const databaseFree = process.env.ATRIUM_TEST_DATABASE_ONLY ? databaseFreeTestFiles(import.meta.dirname) : [];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: [...configDefaults.exclude, ...databaseFree],
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
