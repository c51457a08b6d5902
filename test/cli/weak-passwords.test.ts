import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../core/migrator.ts';
import { seedDemo } from '../../gateway/seed/demo.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { unusedUrl } from '../helpers/ports.ts';
import { inspectDatabase, jsonOf, runAtrium, type Inspector } from '../helpers/cli.ts';

let db: TestDatabase;
let inspect: Inspector;
const findUser = (username: string) => inspect.ctx.models.User.findOne({ where: { username } });

beforeAll(async () => {
  db = await createTestDatabase('cli-weak-pw');
  inspect = await inspectDatabase(db);
  await migrate(inspect.sequelize, 'gateway');
  await seedDemo(inspect.ctx, { eng: await unusedUrl('localhost'), arts: await unusedUrl('localhost') });
});
afterAll(async () => {
  await inspect?.close();
  await db?.drop();
});

const add = (username: string, password: string) =>
  runAtrium(
    db,
    [
      'users',
      'add',
      username,
      '--name',
      'Ines Ortega',
      '--email',
      `${username}@campus.test`,
      '--unit',
      'campus/eng',
      '--role',
      'student',
      '--password-stdin',
      '--json',
    ],
    { stdin: `${password}\n` },
  );

describe('a password too easy to guess, at the command line', () => {
  it('is refused by users add, with the reason at the password, and adds nobody', async () => {
    for (const [password, reason] of [
      ['password123', 'It is one of the most common passwords.'],
      ['InesOrtega1', 'It is mostly your name.'],
      ['Atrium2026!', 'It is mostly the name of Atrium or of the campus.'],
    ]) {
      const result = await add('ines', password!);
      expect(result.code, password).toBe(2);
      expect(jsonOf(result).error, password).toMatchObject({ code: 'invalid_input', fields: { password: reason } });
      expect(await findUser('ines')).toBeNull();
    }
    expect((await add('ines', 'seven quiet lanterns')).code).toBe(0);
  });

  it('is refused by users reset-password, saying why, and the password stays as it was', async () => {
    const before = (await findUser('alice'))!.passwordHash;
    const text = await runAtrium(db, ['users', 'reset-password', 'alice', '--password-stdin'], {
      stdin: 'alice2026!!\n',
    });
    expect(text.code).toBe(2);
    expect(text.stderr).toBe('atrium: The new password is too easy to guess. It is mostly your username.\n');
    const json = await runAtrium(db, ['users', 'reset-password', 'alice', '--password-stdin', '--json'], {
      stdin: 'aaaaaaaaaaaa\n',
    });
    expect(jsonOf(json).error).toMatchObject({
      code: 'invalid_input',
      fields: { password: 'It is a run of keyboard keys or repeated characters.' },
    });
    expect((await findUser('alice'))!.passwordHash).toBe(before);
  });

  it('is refused by users import on its line, and the file imports nobody', async () => {
    const file = join(db.dataDir, 'weak.csv');
    writeFileSync(
      file,
      [
        'username,name,email,units,roles,password',
        'olga,Olga Berg,olga@campus.test,campus/eng,student,brass kettle on the stove',
        'pete,Pete Lund,pete@campus.test,campus/eng,student,Welcome2026!',
        'quin,Quin Hale,quin@campus.test,campus/eng,student,',
        '',
      ].join('\n'),
    );
    const result = await runAtrium(db, ['users', 'import', file, '--json']);
    expect(result.code).toBe(2);
    expect(jsonOf(result).error).toEqual({
      code: 'invalid_input',
      message: 'The file has 1 error; no user was imported',
      fields: { 'line 3: password': 'It is one of the most common passwords.' },
    });
    expect(await findUser('olga')).toBeNull();
  });
});
