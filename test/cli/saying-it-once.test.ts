import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { jsonOf, runAtrium } from '../helpers/cli.ts';
import { freePort } from '../helpers/ports.ts';

let db: TestDatabase;

const occurrences = (text: string, part: string) => text.split(part).length - 1;

beforeAll(async () => {
  db = await createTestDatabase('cli-once');
  expect((await runAtrium(db, ['migrate'])).code).toBe(0);
  expect((await runAtrium(db, ['seed', '--demo'])).code).toBe(0);
});
afterAll(async () => {
  await db?.drop();
});

describe('atrium users list --page', () => {
  it('says there is no such page rather than printing "Page 5 of 1"', async () => {
    const result = await runAtrium(db, ['users', 'list', '--page', '5']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('atrium: There is no page 5: the 6 user(s) fit on page 1\n');
    expect(jsonOf(await runAtrium(db, ['users', 'list', '--page', '5', '--json'])).error.code).toBe('not_found');
    expect((await runAtrium(db, ['users', 'list', '--page', '1'])).stdout).toContain('Page 1 of 1, 6 user(s).');
  });

  it('asks for a whole number from 1 in its own words, not zod’s', async () => {
    for (const page of ['abc', '0', '1.5', '-1', '']) {
      const result = await runAtrium(db, ['users', 'list', `--page=${page}`]);
      expect(result.code, page).toBe(2);
      expect(result.stderr, page).toMatch(/^atrium: --page must be a whole number from 1\n/);
      expect(result.stderr, page).not.toContain('NaN');
    }
  });
});

describe('errors whose field detail repeats the headline', () => {
  it('prints an unknown parent unit once, and keeps the field under --json', async () => {
    const result = await runAtrium(db, ['units', 'add', 'campus/eng/xx/yy', '--name', 'Nowhere']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('atrium: Parent unit campus/eng/xx does not exist\n');
    const json = jsonOf(await runAtrium(db, ['units', 'add', 'campus/eng/xx/yy', '--name', 'Nowhere', '--json']));
    expect(json.error.fields).toEqual({ path: 'parent campus/eng/xx does not exist' });
  });

  it('prints an unknown unit of a new user once', async () => {
    const result = await runAtrium(db, [
      ...['users', 'add', 'nadia', '--name', 'Nadia', '--email', 'nadia@campus.test'],
      ...['--unit', 'campus/eng/xx', '--role', 'student'],
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('atrium: Unknown unit campus/eng/xx\n');
  });

  it('still prints field details that say more than the headline', async () => {
    const result = await runAtrium(db, [
      ...['users', 'add', 'nadia', '--name', 'Nadia', '--email', 'nadia@campus.test'],
      ...['--unit', 'campus/eng', '--role', 'wizard'],
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^atrium: Some fields are invalid\n {2}role 1: one of student, staff/);
  });
});

describe('atrium directories show', () => {
  it('gives the last sync report once', async () => {
    // Nothing listens there: the sync fails at once, and its report is the one shown.
    const port = await freePort();
    const added = await runAtrium(
      db,
      [
        ...['directories', 'add', 'campus-ldap', '--url', `ldap://127.0.0.1:${port}`, '--starttls', 'no'],
        ...[
          '--bind-dn',
          'cn=atrium,dc=campus,dc=test',
          '--bind-password-stdin',
          '--user-base',
          'ou=people,dc=campus,dc=test',
        ],
        ...['--unit-root', 'campus', '--reset-url', 'https://password.campus.test/'],
      ],
      { stdin: 'service-password\n' },
    );
    expect(added.code, added.stderr).toBe(0);
    expect((await runAtrium(db, ['directories', 'sync', 'campus-ldap'])).code).toBe(1);

    const shown = await runAtrium(db, ['directories', 'show', 'campus-ldap']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^ {2}last sync: {5}Sync of campus-ldap failed after/m);
    expect(occurrences(shown.stdout, 'Sync of campus-ldap failed')).toBe(1);
  });
});
