import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../core/migrator.ts';
import { seedDemo } from '../../gateway/seed/demo.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { unusedUrl } from '../helpers/ports.ts';
import { inspectDatabase, jsonOf, runAtrium, type Inspector } from '../helpers/cli.ts';

let db: TestDatabase;
let inspect: Inspector;

beforeAll(async () => {
  db = await createTestDatabase('cli-users-show-chat');
  inspect = await inspectDatabase(db);
  await migrate(inspect.sequelize, 'gateway');
  await seedDemo(inspect.ctx, { eng: await unusedUrl('localhost'), arts: await unusedUrl('localhost') });
});
afterAll(async () => {
  await inspect?.close();
  await db?.drop();
});

async function atrium(...args: string[]) {
  const result = await runAtrium(db, args);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout;
}

const chatLine = async (username: string) =>
  (await atrium('users', 'show', username)).split('\n').find((line) => line.trimStart().startsWith('chat:'));

describe('atrium users show', () => {
  it('names the domains a person chats on, their home first', async () => {
    // carol's units are campus/arts/music (primary) and campus/eng/ee.
    expect(await chatLine('carol')).toBe('  chat:     arts.campus.test (home), eng.campus.test');
    const shown = jsonOf(await runAtrium(db, ['users', 'show', 'carol', '--json']));
    expect(shown.chat).toEqual({
      home: 'arts.campus.test',
      domains: ['arts.campus.test', 'eng.campus.test'],
    });
  });

  it('says a person has no chat when no domain serves their unit, as after its domain was removed', async () => {
    await atrium('units', 'add', 'campus/med', '--name', 'College of Medicine');
    await atrium(
      'users',
      'add',
      'mina',
      '--name',
      'Mina',
      '--email',
      'mina@campus.test',
      '--unit',
      'campus/med',
      '--role',
      'staff',
    );
    expect(await chatLine('mina')).toBe('  chat:     none: no chat domain serves campus/med');

    const url = await unusedUrl('localhost');
    await atrium('domains', 'add', 'med.campus.test', '--url', url, '--unit', 'campus/med', '--move-people');
    expect(await chatLine('mina')).toBe('  chat:     med.campus.test (home)');

    await atrium('domains', 'remove', 'med.campus.test', '--move-people');
    expect(await chatLine('mina')).toBe('  chat:     none: no chat domain serves campus/med');
  });
});
