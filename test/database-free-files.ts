import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/** Relative imports, static (`from './x.ts'`) and dynamic (`import('./x.ts')`). */
const RELATIVE_IMPORT = /\bfrom\s+['"](\.{1,2}\/[^'"]+)['"]|\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function importsOf(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const match of source.matchAll(RELATIVE_IMPORT)) {
    const path = resolve(dirname(file), (match[1] ?? match[2])!);
    const candidates = [path, `${path}.ts`, join(path, 'index.ts')];
    const existing = candidates.find((candidate) => candidate.endsWith('.ts') && existsSync(candidate));
    if (existing) found.push(existing);
  }
  return found;
}

function testFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return testFilesUnder(path);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/**
 * The test files (relative to `root`) whose imports, followed through every module of the repository,
 * never reach test/helpers/database.ts, the one place ATRIUM_TEST_DB is read: they run the same whichever
 * database a half of the suite is for, so the MariaDB half leaves them to the SQLite half.
 */
export function databaseFreeTestFiles(root: string): string[] {
  const database = resolve(root, 'test/helpers/database.ts');
  const reachesDatabase = new Map<string, boolean>();
  const reaches = (start: string): boolean => {
    const seen = new Set<string>();
    const stack = [start];
    while (stack.length > 0) {
      const file = stack.pop()!;
      if (file === database || reachesDatabase.get(file)) return true;
      if (seen.has(file)) continue;
      seen.add(file);
      stack.push(...importsOf(file));
    }
    return false;
  };
  const free: string[] = [];
  for (const file of testFilesUnder(resolve(root, 'test'))) {
    const reached = reaches(file);
    reachesDatabase.set(file, reached);
    if (!reached) free.push(relative(root, file));
  }
  return free.sort();
}
