import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { createUnit } from '../../gateway/accounts/units.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { inspectDatabase, jsonOf, runAtrium } from '../helpers/cli.ts';
import { linkToTestDirectory } from '../helpers/gateway.ts';

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

  it('moves every member of a unit to another at once, leaving the people a directory places there', async () => {
    const inspect = await inspectDatabase(db);
    try {
      const { ctx } = inspect;
      await createUnit(ctx, { path: 'campus/eng/robotics', name: 'Robotics' });
      // A local unit admin of cs who is in arts too, and someone of a directory that makes the units below eng.
      const person = (username: string, units: string[], roles: string[]) =>
        createUser(ctx, { username, displayName: username, email: `${username}@campus.test`, units, roles });
      await person('kim', ['campus/eng/cs', 'campus/arts'], ['unit-admin']);
      const dora = await person('dora', ['campus/eng/cs'], ['student']);
      await linkToTestDirectory(ctx.models, [dora], { unitRoot: 'campus/eng', roleGroups: [] });
    } finally {
      await inspect.close();
    }
    const move = (...words: string[]) => runAtrium(db, ['units', 'move-members', ...words]);
    const [chat, same, missing, unknown] = await Promise.all([
      move('campus/eng/cs', 'campus/arts/history'),
      move('campus/eng/cs', 'campus/eng/cs'),
      move('campus/eng/cs'),
      move('campus/eng/cs', 'campus/nowhere'),
    ]);
    expect(chat).toMatchObject({
      code: 2,
      stderr:
        'atrium: This takes 2 people off eng.campus.test (alice, kim): their direct conversations there stay on its node, out of their reach; their groups follow them where they chat now. Nobody was moved. To go ahead, run again with --move-chat.\n',
    });
    expect(same.code).toBe(2);
    expect(same.stderr).toContain('campus/eng/cs is the unit they would leave; choose another unit to move them to');
    expect(missing).toMatchObject({ code: 2, stderr: expect.stringContaining('atrium: missing TO\n') });
    expect(unknown).toMatchObject({ code: 2, stderr: 'atrium: No unit campus/nowhere\n' });

    const moved = await move('campus/eng/cs', 'campus/eng/robotics');
    expect(moved).toMatchObject({
      code: 0,
      stdout: [
        'Moved 2 members of campus/eng/cs to campus/eng/robotics: alice, kim.',
        'Unit admins among them now administer campus/eng/robotics, being its members: kim.',
        'Left in campus/eng/cs: 1 person of directory campus-ldap (dora); their units follow the directory, whose next sync would put them back: change their entries there (their OU, unit attribute or unit-admin group), then atrium directories sync campus-ldap.',
        '',
      ].join('\n'),
    });
    const check = await inspectDatabase(db);
    try {
      const { ctx } = check;
      const unitsOf = async (username: string) => {
        const user = await ctx.models.User.findOne({ where: { username } });
        const rows = await ctx.models.Membership.findAll({ where: { userId: user!.id } });
        const units = await ctx.models.OrgUnit.findAll({ where: { id: rows.map((r) => r.unitId) } });
        const pathOf = (id: string) => units.find((u) => u.id === id)!.path;
        return rows.map((r) => `${pathOf(r.unitId)}${r.isPrimary ? '*' : ''}`).sort();
      };
      expect(await unitsOf('alice')).toEqual(['campus/eng/robotics*']);
      expect(await unitsOf('kim')).toEqual(['campus/arts', 'campus/eng/robotics*']);
      expect(await unitsOf('dora')).toEqual(['campus/eng/cs*']);
      const events = await ctx.models.AuditEvent.findAll({
        where: { action: ['user.update', 'unit.move_members'] },
        order: [['id', 'ASC']],
      });
      expect(events.map((e) => `${e.action} ${e.target}`)).toEqual([
        'user.update alice',
        'user.update kim',
        'unit.move_members campus/eng/cs',
      ]);
      expect(JSON.parse(events[2]!.details!)).toMatchObject({
        to: 'campus/eng/robotics',
        moved: 2,
        leftToDirectory: 1,
      });
    } finally {
      await check.close();
    }
    const still = await runAtrium(db, ['units', 'remove', 'campus/eng/cs']);
    expect(still.code).toBe(2);
    expect(still.stderr).toContain(
      'Unit campus/eng/cs is still in use: 1 member: dora (primary unit). Move or remove those first. To move its members: all at once with atrium units move-members campus/eng/cs OTHER-UNIT, or one person at a time on their page in the admin console (Users) or with atrium users update USERNAME --remove-unit campus/eng/cs --add-unit OTHER-UNIT.',
    );
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
