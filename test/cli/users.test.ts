import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../core/migrator.ts';
import { createRateLimiter } from '../../core/rate-limit.ts';
import { authenticate, type LoginPolicy } from '../../gateway/accounts/authenticate.ts';
import { seedDemo } from '../../gateway/seed/demo.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { unusedUrl } from '../helpers/ports.ts';
import { inspectDatabase, jsonOf, runAtrium, type Inspector } from '../helpers/cli.ts';
import { linkToTestDirectory } from '../helpers/gateway.ts';
import { storedPasskey } from '../helpers/stored-passkey.ts';

let db: TestDatabase;
let inspect: Inspector;
const PASSWORD = 'zebra-stripes-42';

const policy = (): LoginPolicy => ({
  maxFailures: 100,
  lockoutMinutes: 1,
  ipLimiter: createRateLimiter({ limit: 1000, windowSeconds: 60 }),
  identifierLimiter: createRateLimiter({ limit: 1000, windowSeconds: 60 }),
});
const signIn = (username: string, password: string) => authenticate(inspect.ctx, username, password, policy());
const findUser = (username: string) => inspect.ctx.models.User.findOne({ where: { username } });

beforeAll(async () => {
  db = await createTestDatabase('cli-users');
  inspect = await inspectDatabase(db);
  await migrate(inspect.sequelize, 'gateway');
  await seedDemo(inspect.ctx, { eng: await unusedUrl('localhost'), arts: await unusedUrl('localhost') });
});
afterAll(async () => {
  await inspect?.close();
  await db?.drop();
});

describe('atrium users', () => {
  it('refuses a name a control character would turn around, or one that shows nothing, and adds nobody', async () => {
    for (const [username, name, why] of [
      ['rlo-name', 'Carol \u202Eevil', 'cannot contain control characters'],
      ['blank-name', '\u200B', 'needs a visible character'],
    ]) {
      const result = await runAtrium(db, [
        'users',
        'add',
        username!,
        '--name',
        name!,
        '--email',
        `${username}@campus.test`,
        '--unit',
        'campus/eng',
        '--role',
        'student',
        '--json',
      ]);
      expect(result.code, username).toBe(2);
      expect(jsonOf(result).error).toMatchObject({
        code: 'invalid_input',
        fields: { displayName: expect.stringContaining(why!) },
      });
      expect(await findUser(username!)).toBeNull();
    }
  });

  it('refuses a username that is a webhook sender address or a name Atrium keeps, and adds nobody', async () => {
    for (const name of ['hook-0c1d', 'system']) {
      const result = await runAtrium(db, [
        'users',
        'add',
        name,
        '--name',
        'Sneaky',
        '--email',
        `${name}@campus.test`,
        '--unit',
        'campus/eng',
        '--role',
        'student',
        '--json',
      ]);
      expect(result.code, name).toBe(2);
      expect(jsonOf(result).error).toMatchObject({
        code: 'invalid_input',
        fields: { username: expect.stringContaining('is reserved') },
      });
      expect(await findUser(name)).toBeNull();
    }
  });

  it('adds a user whose password comes from stdin, stores it as argon2id, and the user can sign in', async () => {
    const result = await runAtrium(
      db,
      [
        'users',
        'add',
        'Zoe',
        '--name',
        'Zoe Park',
        '--email',
        'Zoe@Campus.Test',
        '--unit',
        'campus/eng/cs',
        '--unit',
        'campus/arts',
        '--role',
        'student',
        '--role',
        'staff',
        '--password-stdin',
        '--json',
      ],
      { stdin: `${PASSWORD}\nignored second line\n` },
    );
    expect(result.code).toBe(0);
    expect(jsonOf(result)).toEqual({
      id: expect.any(String),
      username: 'zoe',
      displayName: 'Zoe Park',
      email: 'zoe@campus.test',
      status: 'active',
      passwordStatus: 'set',
      // Given with --password-stdin, it is replaced at the first sign-in (temporary-password.test.ts).
      passwordTemporary: true,
      // Temporary for TEMPORARY_PASSWORD_DAYS from now, then it signs in no more.
      passwordTemporaryUntil: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      passwordTemporaryExpired: false,
      roles: ['staff', 'student'],
      units: [
        { path: 'campus/eng/cs', name: 'Department of Computer Science', primary: true },
        { path: 'campus/arts', name: 'College of Arts', primary: false },
      ],
      locked: false,
      lockedUntil: null,
      lastLoginAt: null,
      createdAt: expect.any(String),
      directory: null,
    });
    expect((await findUser('zoe'))!.passwordHash).toMatch(/^\$argon2id\$/);
    await expect(signIn('zoe', PASSWORD)).resolves.toMatchObject({ username: 'zoe' });
    await expect(signIn('zoe', 'ignored second line')).rejects.toMatchObject({ code: 'invalid_credentials' });
  });

  it('adds a user without a password, who cannot sign in until reset-password sets one from stdin', async () => {
    const added = await runAtrium(db, [
      'users',
      'add',
      'yan',
      '--name',
      'Yan Li',
      '--email',
      'yan@campus.test',
      '--unit',
      'campus/arts/music',
      '--role',
      'student',
    ]);
    expect(added.code).toBe(0);
    expect(added.stdout).toContain(
      'password: none yet; the account cannot sign in until one is set: atrium users reset-password yan --password-stdin',
    );
    expect(added.stdout).toContain('"Forgot password" at sign-in');
    expect((await findUser('yan'))!.passwordHash).toBeNull();
    await expect(signIn('yan', '')).rejects.toMatchObject({ code: 'invalid_credentials' });

    const [withoutFlag, emptyStdin, reset] = await Promise.all([
      runAtrium(db, ['users', 'reset-password', 'yan'], { stdin: `${PASSWORD}\n` }),
      runAtrium(db, ['users', 'reset-password', 'yan', '--password-stdin']),
      runAtrium(db, ['users', 'reset-password', 'yan', '--password-stdin'], { stdin: `${PASSWORD}\r\n` }),
    ]);
    expect(withoutFlag.code).toBe(2);
    expect(withoutFlag.stderr).toContain('missing --password-stdin');
    expect(emptyStdin.code).toBe(2);
    expect(emptyStdin.stderr).toContain('No password on stdin');
    expect(reset.code).toBe(0);
    await expect(signIn('yan', PASSWORD)).resolves.toMatchObject({ username: 'yan' });
  });

  it('shows a person without a password as "no password yet" in list and show, until one is set', async () => {
    const added = await runAtrium(db, [
      'users',
      'add',
      'xia',
      '--name',
      'Xia Chen',
      '--email',
      'xia@campus.test',
      '--unit',
      'campus/eng/cs',
      '--role',
      'student',
      '--json',
    ]);
    expect(jsonOf(added)).toMatchObject({ username: 'xia', status: 'active', passwordStatus: 'none' });
    const [list, listJson, show, showJson, tooLong] = await Promise.all([
      runAtrium(db, ['users', 'list', '--q', 'xia']),
      runAtrium(db, ['users', 'list', '--json']),
      runAtrium(db, ['users', 'show', 'xia']),
      runAtrium(db, ['users', 'show', 'xia', '--json']),
      runAtrium(db, ['users', 'list', '--q', 'x'.repeat(101)]),
    ]);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toContain('--q takes at most 100 characters of a username, name or email');
    expect(list.stdout).toMatch(/xia\s+Xia Chen\s+xia@campus\.test\s+campus\/eng\/cs\s+student\s+no password yet\s+-/);
    const statuses = Object.fromEntries(
      jsonOf(listJson).users.map((u: { username: string; status: string; passwordStatus: string }) => [
        u.username,
        [u.status, u.passwordStatus],
      ]),
    );
    expect(statuses).toMatchObject({ xia: ['active', 'none'], alice: ['active', 'set'] });
    expect(show.stdout).toContain('  status:   no password yet; never signed in');
    expect(show.stdout).toContain(
      'password: none yet; the account cannot sign in until one is set: atrium users reset-password xia --password-stdin',
    );
    expect(jsonOf(showJson)).toMatchObject({ username: 'xia', status: 'active', passwordStatus: 'none' });

    const reset = await runAtrium(db, ['users', 'reset-password', 'xia', '--password-stdin', '--json'], {
      stdin: `${PASSWORD}\n`,
    });
    expect(jsonOf(reset)).toMatchObject({ username: 'xia', passwordStatus: 'set' });
    const [listAfter, showAfter] = await Promise.all([
      runAtrium(db, ['users', 'list', '--q', 'xia']),
      runAtrium(db, ['users', 'show', 'xia']),
    ]);
    expect(listAfter.stdout).toMatch(/student\s+active\s+-/);
    expect(showAfter.stdout).toContain('  status:   active; never signed in');
    // The reset's password is temporary (no --no-temporary): show says so.
    expect(showAfter.stdout).toContain('  password: temporary — they choose their own at next sign-in');
  });

  it('never takes a password as an argument', async () => {
    const result = await runAtrium(db, [
      'users',
      'add',
      'xena',
      '--name',
      'X',
      '--email',
      'x@campus.test',
      '--unit',
      'campus',
      '--role',
      'staff',
      '--password',
      PASSWORD,
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown option "--password" (did you mean --password-stdin?)');
    expect(await findUser('xena')).toBeNull();
  });

  it('refuses an unknown unit, a bad email or a taken username with exit 2 and creates nothing', async () => {
    const before = await inspect.ctx.models.User.count();
    const add = (username: string, email: string, unit: string, json = false) =>
      runAtrium(db, [
        'users',
        'add',
        username,
        '--name',
        'Ghost',
        '--email',
        email,
        '--unit',
        unit,
        '--role',
        'student',
        ...(json ? ['--json'] : []),
      ]);
    // The unknown unit is found only after the row is written (then rolled back), so those two runs write and go one at a time.
    const unknownUnit = await add('ghost', 'ghost@campus.test', 'campus/nowhere');
    const [json, badEmail, taken] = await Promise.all([
      add('ghost', 'ghost@campus.test', 'campus/nowhere', true),
      add('ghost2', 'not-an-email', 'campus'),
      add('alice', 'alice2@campus.test', 'campus'),
    ]);
    expect(unknownUnit.code).toBe(2);
    expect(unknownUnit.stderr).toBe('atrium: Unknown unit campus/nowhere\n');
    expect(json.code).toBe(2);
    expect(jsonOf(json)).toEqual({
      error: {
        code: 'invalid_input',
        message: 'Unknown unit campus/nowhere',
        fields: { units: 'unknown unit campus/nowhere' },
      },
    });
    expect(badEmail.code).toBe(2);
    expect(badEmail.stderr).toContain('email: not a valid email address');
    expect(taken.code).toBe(2);
    expect(taken.stderr).toContain('Username alice is taken');
    expect(await inspect.ctx.models.User.count()).toBe(before);
    expect(await findUser('ghost')).toBeNull();
  });

  it('reports every problem of a new user at once, naming a list item by its place', async () => {
    const args = [
      'users',
      'add',
      'zed',
      '--name',
      'Zed',
      '--email',
      'bad',
      '--unit',
      'campus/nope',
      '--role',
      'wizard',
    ];
    const [text, json] = await Promise.all([runAtrium(db, args), runAtrium(db, [...args, '--json'])]);
    expect(text.code).toBe(2);
    expect(text.stderr).toBe(
      [
        'atrium: Some fields are invalid',
        '  email: not a valid email address',
        '  role 1: one of student, staff, admin, unit-admin',
        '  units: unknown unit campus/nope',
        '',
      ].join('\n'),
    );
    expect(jsonOf(json).error.fields).toEqual({
      email: 'not a valid email address',
      'roles.0': 'one of student, staff, admin, unit-admin',
      units: 'unknown unit campus/nope',
    });
    expect(await findUser('zed')).toBeNull();
  });

  it('lists, searches and pages users as text and as JSON', async () => {
    const [all, search, text, badPage, badOption, nobody] = await Promise.all([
      runAtrium(db, ['users', 'list', '--json']),
      runAtrium(db, ['users', 'list', '--q', 'silva', '--json']),
      runAtrium(db, ['users', 'list', '--q', 'car']),
      runAtrium(db, ['users', 'list', '--page', 'abc']),
      runAtrium(db, ['users', 'list', '--pagesize', '2']),
      runAtrium(db, ['users', 'show', 'nobody']),
    ]);
    // An option it does not take, in its own words: what it takes instead, and where the rest is.
    expect(badOption).toMatchObject({ code: 2, stdout: '' });
    expect(badOption.stderr).toBe(
      'atrium: unknown option "--pagesize" (atrium users list takes --q, --page, --json)\n' +
        'Run "atrium users list --help" for usage.\n',
    );
    expect(nobody).toMatchObject({ code: 2, stderr: 'atrium: No such user: nobody\n' });
    expect(jsonOf(all)).toMatchObject({ page: 1, pageSize: 25, total: 9, pages: 1 });
    expect(jsonOf(all).users.map((u: { username: string }) => u.username)).toContain('zoe');
    expect(jsonOf(search).users).toEqual([expect.objectContaining({ username: 'carol', roles: ['staff'] })]);
    expect(text.stdout).toMatch(
      /^USERNAME\s+NAME\s+EMAIL\s+UNITS \(\* primary\)\s+ROLES\s+STATUS\s+DIRECTORY\s+2ND FACTOR\n/,
    );
    expect(text.stdout).toMatch(
      /carol\s+Carol Silva\s+carol@campus\.test\s+campus\/arts\/music\*, campus\/eng\/ee\s+staff\s+active/,
    );
    expect(text.stdout).toContain('Page 1 of 1, 1 user(s).');
    expect(badPage.code).toBe(2);
    expect(badPage.stderr).toContain('--page must be a whole number from 1');
  });

  it('refuses to disable the last active administrator, and says how to add another', async () => {
    const refused = await runAtrium(db, ['users', 'disable', 'admin']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      'atrium: admin is the last active administrator and cannot be disabled: without one, nobody can open the admin console. Add another administrator first: atrium users add USERNAME --role admin (with --name, --email, --unit).\n',
    );
    expect((await findUser('admin'))?.status).toBe('active');
  });

  it('resets a second factor and signs the person out; for someone without one, says so and changes nothing', async () => {
    const carol = (await findUser('carol'))!;
    await storedPasskey(inspect.ctx.models, carol.id, 'Lost phone');
    const dave = (await findUser('dave'))!;
    expect(dave.accessEndedAt).toBeNull();
    const [reset, none] = await Promise.all([
      runAtrium(db, ['users', 'reset-factors', 'carol']),
      runAtrium(db, ['users', 'reset-factors', 'dave']),
    ]);
    expect(reset).toMatchObject({
      code: 0,
      stdout: 'Reset the second factor of carol and signed them out everywhere.\n',
    });
    expect(none).toMatchObject({
      code: 0,
      stdout:
        'dave has no second factor (no authenticator app, passkey or recovery code); nothing changed, and they stay signed in where they are.\n',
    });
    const { AuditEvent, EndedAccess } = inspect.ctx.models;
    expect(await AuditEvent.count({ where: { action: 'user.reset_factors', target: 'carol' } })).toBe(1);
    expect(await AuditEvent.count({ where: { action: 'user.reset_factors', target: 'dave' } })).toBe(0);
    // Signing out everywhere ends access for the nodes and the web sessions: for dave, none of it happened.
    expect((await findUser('carol'))!.accessEndedAt).not.toBeNull();
    expect((await findUser('dave'))!.accessEndedAt).toBeNull();
    expect(await EndedAccess.count({ where: { subject: dave.id } })).toBe(0);
  });

  it('unlocks a person locked out by failed sign-ins, keeping their password, and says when there was no lock', async () => {
    const { User, AuditEvent } = inspect.ctx.models;
    await User.update(
      { failedLogins: 5, lockedUntil: new Date(Date.now() + 15 * 60_000) },
      { where: { username: 'carol' } },
    );
    const passwordBefore = (await findUser('carol'))!.passwordHash;
    const [unlocked, notLocked] = await Promise.all([
      runAtrium(db, ['users', 'unlock', 'carol']),
      runAtrium(db, ['users', 'unlock', 'dave']),
    ]);
    expect(unlocked).toMatchObject({ code: 0, stdout: 'Unlocked carol: they can sign in again at once.\n' });
    expect(notLocked).toMatchObject({
      code: 0,
      stdout: 'dave was not locked; their count of failed sign-ins starts again from zero.\n',
    });
    const carol = (await findUser('carol'))!;
    expect(carol).toMatchObject({ failedLogins: 0, lockedUntil: null, passwordHash: passwordBefore });
    expect(await AuditEvent.count({ where: { action: 'user.unlock', target: 'carol' } })).toBe(1);
    expect((await runAtrium(db, ['users', 'unlock', 'nobody-here'])).code).not.toBe(0);
  });

  it('disables a user, who then cannot sign in, and enables them again; run twice, says it changed nothing', async () => {
    const edits = () => inspect.ctx.models.AuditEvent.count({ where: { action: 'user.update' } });
    const disabled = await runAtrium(db, ['users', 'disable', 'bob', '--json']);
    expect(disabled.code).toBe(0);
    expect(jsonOf(disabled)).toMatchObject({ username: 'bob', status: 'disabled' });
    await expect(signIn('bob', 'atrium-demo')).rejects.toMatchObject({ code: 'account_disabled' });

    const editsBefore = await edits();
    const [again, unknown, active] = await Promise.all([
      runAtrium(db, ['users', 'disable', 'bob']),
      runAtrium(db, ['users', 'disable', 'nobody']),
      runAtrium(db, ['users', 'enable', 'carol']),
    ]);
    expect(again).toMatchObject({ code: 0, stdout: 'bob was already disabled; nothing changed.\n' });
    expect(active).toMatchObject({ code: 0, stdout: 'carol was already enabled; nothing changed.\n' });
    expect(await edits()).toBe(editsBefore);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('atrium: No such user: nobody\n');

    const enabled = await runAtrium(db, ['users', 'enable', 'bob']);
    expect(enabled).toMatchObject({ code: 0, stdout: 'Enabled bob.\n' });
    await expect(signIn('bob', 'atrium-demo')).resolves.toMatchObject({ username: 'bob' });
  });

  it('updates only what is given of a person, asking before new units take them off a domain they chat on', async () => {
    const update = (...words: string[]) => runAtrium(db, ['users', 'update', ...words]);
    const edits = () => inspect.ctx.models.AuditEvent.count({ where: { action: 'user.update', target: 'carol' } });
    const editsBefore = await edits();
    // carol: campus/arts/music (primary, arts.campus.test) and campus/eng/ee (eng.campus.test), staff.
    const [nothing, both, nobody, notHers, unknownUnit, chat] = await Promise.all([
      update('carol', '--move-chat'),
      update('carol', '--unit', 'campus', '--remove-unit', 'campus/eng/ee'),
      update('nobody', '--name', 'X'),
      update('carol', '--primary-unit', 'campus/eng/cs'),
      update('carol', '--add-unit', 'campus/nowhere'),
      update('carol', '--remove-unit', 'campus/arts/music', '--add-role', 'unit-admin', '--name', 'Carol S. Silva'),
    ]);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('atrium: nothing to change: give one or more of --name, --email, --unit,');
    expect(both.code).toBe(2);
    expect(both.stderr).toContain(
      'atrium: --unit gives all their units: use it alone, or --add-unit and --remove-unit, not both\n',
    );
    expect(nobody).toMatchObject({ code: 2, stderr: 'atrium: No such user: nobody\n' });
    expect(notHers.code).toBe(2);
    expect(notHers.stderr).toContain(
      "atrium: The primary unit campus/eng/cs is not one of carol's units (campus/arts/music, campus/eng/ee); nothing was changed",
    );
    expect(unknownUnit).toMatchObject({ code: 2, stderr: 'atrium: Unknown unit campus/nowhere\n' });
    expect(chat).toMatchObject({
      code: 2,
      stderr:
        'atrium: This takes Carol Silva (carol) off arts.campus.test: their direct conversations there stay on its node, out of their reach; their groups follow them. Their chat home becomes eng.campus.test. To go ahead, run again with --move-chat.\n',
    });
    expect(await edits()).toBe(editsBefore);

    const moved = await update(
      'carol',
      '--remove-unit',
      'campus/arts/music',
      '--add-role',
      'unit-admin',
      '--name',
      'Carol S. Silva',
      '--move-chat',
    );
    expect(moved.code).toBe(0);
    expect(moved.stdout).toContain('Updated the name, units, roles of carol (Carol S. Silva <carol@campus.test>)\n');
    expect(moved.stdout).toContain('Their primary unit is now campus/eng/ee, since campus/arts/music was removed.\n');
    const carol = (await findUser('carol'))!;
    expect(carol.roles).toEqual(['staff', 'unit-admin']);
    expect(
      await inspect.ctx.models.EndedAccess.count({ where: { subject: carol.id, domain: 'arts.campus.test' } }),
    ).toBe(1);
    expect(await edits()).toBe(editsBefore + 1);

    // The same again changes nothing and writes nothing; a new primary among new units, roles replaced; a
    // person of a campus directory is changed until its next sync, and told so.
    await linkToTestDirectory(inspect.ctx.models, [(await findUser('bob'))!]);
    const [same, more, fromDirectory] = await Promise.all([
      update('carol', '--name', 'Carol S. Silva', '--primary-unit', 'campus/eng/ee', '--add-role', 'staff'),
      update('dave', '--add-unit', 'campus/eng/cs', '--primary-unit', 'campus/eng/cs', '--role', 'staff', '--json'),
      update('bob', '--email', 'Bob.Baker@Campus.Test'),
    ]);
    expect(fromDirectory.code).toBe(0);
    expect(fromDirectory.stdout).toMatch(/^Updated the email of bob \(.* <bob\.baker@campus\.test>\)\n/);
    expect(fromDirectory.stdout).toContain(
      'bob comes from directory campus-ldap: their name, email, units and roles follow it, so its next sync puts back what it says of them.\n',
    );
    expect(same).toMatchObject({ code: 0, stdout: 'carol already had these; nothing changed.\n' });
    expect(await edits()).toBe(editsBefore + 1);
    expect(jsonOf(more)).toMatchObject({
      changed: ['units', 'roles'],
      primaryTaken: null,
      user: {
        username: 'dave',
        roles: ['staff'],
        units: [
          { path: 'campus/eng/cs', primary: true },
          { path: 'campus/eng/ee', primary: false },
        ],
      },
    });
  });
});
