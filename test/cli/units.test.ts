import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { inspectDatabase, jsonOf, runAtrium } from '../helpers/cli.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('cli-units');
  expect((await runAtrium(db, ['migrate'])).code).toBe(0);
  expect((await runAtrium(db, ['seed', '--demo'])).code).toBe(0);
});
afterAll(async () => db?.drop());

async function unitPaths(): Promise<string[]> {
  const inspect = await inspectDatabase(db);
  try {
    return (await inspect.ctx.models.OrgUnit.findAll({ order: [['path', 'ASC']] })).map((u) => u.path);
  } finally {
    await inspect.close();
  }
}

describe('atrium units rename and remove', () => {
  it('renames a unit, keeping its path, and lists the new name', async () => {
    const renamed = await runAtrium(db, ['units', 'rename', 'campus/eng/cs', '--name', 'School of Computing']);
    expect(renamed.code).toBe(0);
    expect(renamed.stdout).toContain('Renamed unit campus/eng/cs to School of Computing.');
    const list = await runAtrium(db, ['units', 'list']);
    expect(list.stdout).toMatch(/\n {4}cs\s+School of Computing\s+campus\/eng\/cs\n/);
    const missing = await runAtrium(db, ['units', 'rename', 'campus/nowhere', '--name', 'X']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('No unit campus/nowhere');
  });

  it('refuses to remove a unit still in use, saying what uses it, and changes nothing', async () => {
    const before = await unitPaths();
    const refused = await runAtrium(db, ['units', 'remove', 'campus/eng']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('Unit campus/eng is still in use: child units campus/eng/cs, campus/eng/ee');
    expect(refused.stderr).toContain('unit admins who administer it: eng-admin');
    expect(refused.stderr).toContain('served by domain eng.campus.test');
    const json = await runAtrium(db, ['units', 'remove', 'campus/eng/cs', '--json']);
    expect(json.code).toBe(2);
    expect(jsonOf(json).error).toMatchObject({ code: 'conflict', message: expect.stringContaining('alice') });
    expect(await unitPaths()).toEqual(before);
  });

  it('removes an unused unit', async () => {
    expect((await runAtrium(db, ['units', 'add', 'campus/eng/tpyo', '--name', 'Typo'])).code).toBe(0);
    const removed = await runAtrium(db, ['units', 'remove', 'campus/eng/tpyo', '--json']);
    expect(removed.code).toBe(0);
    expect(jsonOf(removed)).toEqual({ path: 'campus/eng/tpyo', name: 'Typo' });
    expect(await unitPaths()).not.toContain('campus/eng/tpyo');
  });

  it('adds a unit typed in capitals under its lower-case path, and says so', async () => {
    const added = await runAtrium(db, ['units', 'add', 'campus/eng/AI', '--name', 'AI Lab']);
    expect(added.code).toBe(0);
    expect(added.stdout).toBe(
      'Added unit campus/eng/ai (AI Lab).\nUnit paths are lower case: campus/eng/AI is campus/eng/ai.\n',
    );
    expect(await unitPaths()).toContain('campus/eng/ai');
  });
});
