import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Op } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { cliEnv, inspectDatabase, jsonOf, runAtrium, type Inspector } from '../helpers/cli.ts';
import {
  group,
  groupDn,
  inetOrgPerson,
  ouLdif,
  personDn,
  PEOPLE,
  SERVICE_DN,
  SERVICE_PASSWORD,
  startTestSlapd,
  type TestSlapd,
} from '../helpers/slapd.ts';
import { takeLease } from '../../gateway/directories/sync-lease.ts';
import { RESET_URL } from './fixtures.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = fileURLToPath(new URL('../../bin/atrium.ts', import.meta.url));
let db: TestDatabase;
let ldap: TestSlapd;
let inspect: Inspector;

const addArgs = () => [
  'directories',
  'add',
  'campus-ldap',
  '--url',
  ldap.url,
  '--starttls',
  'no',
  '--bind-dn',
  SERVICE_DN,
  '--bind-password-stdin',
  '--user-base',
  PEOPLE,
  '--unit-root',
  'campus',
  '--role-group',
  `staff=${groupDn('faculty')}`,
  '--role-group',
  `unit-admin:campus/physics=${groupDn('physics-admins')}`,
  '--reset-url',
  RESET_URL,
];

beforeAll(async () => {
  db = await createTestDatabase('dir-cli');
  ldap = await startTestSlapd({
    ldif: [
      ouLdif([['Physics']]),
      inetOrgPerson({ uid: 'wes', name: 'Wes Wong', ous: ['Physics'] }),
      inetOrgPerson({ uid: 'xia', name: 'Xia Xu', ous: ['Physics'] }),
      group('faculty', [personDn({ uid: 'wes', ous: ['Physics'] })]),
      group('physics-admins', [personDn({ uid: 'xia', ous: ['Physics'] })]),
    ].join('\n'),
  });
  expect((await runAtrium(db, ['migrate'])).code).toBe(0);
  expect((await runAtrium(db, ['seed', '--demo'])).code).toBe(0);
  inspect = await inspectDatabase(db);
});
afterAll(async () => {
  await inspect?.close();
  await ldap?.stop();
  await db?.drop();
});

describe('atrium directories', () => {
  it('lists its commands', async () => {
    const help = await runAtrium(db, ['directories', '--help']);
    expect(help.code).toBe(0);
    for (const word of ['add', 'list', 'show', 'update', 'remove', 'test', 'sync', 'relink'])
      expect(help.stdout).toMatch(new RegExp(`^  ${word} `, 'm'));
  });

  it('refuses an add without the password on stdin, or with bad settings, and registers nothing', async () => {
    const noPassword = await runAtrium(
      db,
      addArgs().filter((a) => a !== '--bind-password-stdin'),
    );
    expect(noPassword.code).toBe(2);
    expect(noPassword.stderr).toContain('missing --bind-password-stdin');
    const bad = await runAtrium(
      db,
      [
        ...addArgs().map((a) => (a === ldap.url ? 'https://ldap.campus.test' : a)),
        '--unit-root',
        'campus/nowhere',
        '--json',
      ],
      { stdin: `${SERVICE_PASSWORD}\n` },
    );
    expect(bad.code).toBe(2);
    expect(jsonOf(bad).error.fields).toMatchObject({ url: expect.stringContaining('ldap://host') });
    const plainAcross = await runAtrium(
      db,
      addArgs().map((a) => (a === ldap.url ? 'ldap://ldap.campus.example' : a)),
      { stdin: `${SERVICE_PASSWORD}\n` },
    );
    expect(plainAcross.code).toBe(2);
    expect(plainAcross.stderr).toContain('passwords would cross the network in clear');
    expect(await inspect.ctx.models.Directory.count()).toBe(0);
  });

  it('adds a directory with the service password from stdin, and never prints it', async () => {
    const added = await runAtrium(db, addArgs(), { stdin: `${SERVICE_PASSWORD}\n` });
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain('Registered directory campus-ldap');
    expect(added.stdout).toContain('Next: atrium directories test campus-ldap');
    expect(added.stdout + added.stderr).not.toContain(SERVICE_PASSWORD);
    const row = await inspect.ctx.models.Directory.findOne({ where: { name: 'campus-ldap' } });
    expect(row!.bindPasswordSealed).not.toContain(SERVICE_PASSWORD);
    const again = await runAtrium(db, addArgs(), { stdin: `${SERVICE_PASSWORD}\n` });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already registered');
  });

  it('lists and shows it', async () => {
    const list = jsonOf(await runAtrium(db, ['directories', 'list', '--json']));
    expect(list.directories).toHaveLength(1);
    expect(list.directories[0]).toMatchObject({ name: 'campus-ldap', preset: 'openldap', people: 0, lastReport: null });
    const show = await runAtrium(db, ['directories', 'show', 'campus-ldap']);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('password set (sealed; never shown)');
    expect(show.stdout).toContain(`unit-admin:campus/physics=${groupDn('physics-admins')}`);
    expect(show.stdout).not.toContain(SERVICE_PASSWORD);
  });

  it('tests the connection, and says so when the service account is refused', async () => {
    const ok = await runAtrium(db, ['directories', 'test', 'campus-ldap']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('Directory campus-ldap answers: 2 people under the user base');
    expect(ok.stdout).toMatch(/wes\s+Wes Wong\s+wes@campus.test\s+campus\/physics/);

    expect(
      // A wrong password on purpose: saved untested, as update refuses what does not work.
      (
        await runAtrium(db, ['directories', 'update', 'campus-ldap', '--bind-password-stdin', '--no-test'], {
          stdin: 'not-the-password\n',
        })
      ).code,
    ).toBe(0);
    const refused = await runAtrium(db, ['directories', 'test', 'campus-ldap']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      "Directory campus-ldap: the directory refused the service account: the service account's DN or password is wrong",
    );
    expect(
      (
        await runAtrium(db, ['directories', 'update', 'campus-ldap', '--bind-password-stdin'], {
          stdin: `${SERVICE_PASSWORD}\n`,
        })
      ).code,
    ).toBe(0);
  });

  it('says a directory without StartTLS does not offer it, on test and on sync, not the LDAP error', async () => {
    expect((await runAtrium(db, ['directories', 'update', 'campus-ldap', '--starttls', 'yes', '--no-test'])).code).toBe(
      0,
    );
    try {
      const plain =
        `the directory at 127.0.0.1:${new URL(ldap.url).port} does not offer StartTLS: use an ldaps:// URL, or ` +
        'turn StartTLS off (--starttls no) only for a directory on this machine';
      const tested = await runAtrium(db, ['directories', 'test', 'campus-ldap']);
      expect(tested.code).toBe(1);
      expect(tested.stderr).toContain(`Directory campus-ldap: ${plain}`);
      expect(tested.stderr).not.toMatch(/ProtocolError|Code: 0x/);
      const synced = await runAtrium(db, ['directories', 'sync', 'campus-ldap']);
      expect(synced.code).toBe(1);
      expect(synced.stderr).toContain(plain);
    } finally {
      expect((await runAtrium(db, ['directories', 'update', 'campus-ldap', '--starttls', 'no'])).code).toBe(0);
    }
  });

  it('updates only what is given', async () => {
    const updated = jsonOf(
      await runAtrium(db, [
        'directories',
        'update',
        'campus-ldap',
        '--timeout',
        '9',
        '--reset-url',
        'https://id.campus.test/reset',
        '--json',
      ]),
    );
    expect(updated).toMatchObject({
      timeoutSeconds: 9,
      resetUrl: 'https://id.campus.test/reset',
      userBase: PEOPLE,
      roleGroups: expect.arrayContaining([`staff=${groupDn('faculty')}`]),
    });
    const bad = await runAtrium(db, [
      'directories',
      'update',
      'campus-ldap',
      '--role-group',
      'boss=cn=x,dc=campus,dc=test',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/boss=cn=x.*one of student, staff, admin, unit-admin/);
  });

  it('syncs people, units and roles now and prints the report', async () => {
    const result = await runAtrium(db, ['directories', 'sync', 'campus-ldap', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(jsonOf(result)).toMatchObject({ outcome: 'success', added: 2, unitsCreated: 1 });
    const text = await runAtrium(db, ['directories', 'sync', 'campus-ldap']);
    expect(text.stdout).toMatch(/^Synced campus-ldap in [\d.]+ s: 2 entries; 0 added, 0 updated, 2 unchanged/);
    const users = await runAtrium(db, ['users', 'list', '--q', 'xia', '--json']);
    expect(jsonOf(users).users[0]).toMatchObject({ username: 'xia', roles: ['student', 'unit-admin'] });
  });

  it('draws a progress bar when it runs on a terminal, and none in a pipe', async () => {
    // `script` gives the command a pseudo-terminal, as a person's shell would.
    const command = [process.execPath, bin, 'directories', 'sync', 'campus-ldap'].map((a) => `'${a}'`).join(' ');
    const onTerminal = spawnSync('script', ['-qec', command, '/dev/null'], {
      cwd: root,
      env: cliEnv(db),
      encoding: 'utf8',
    });
    expect(onTerminal.status, onTerminal.stderr).toBe(0);
    expect(onTerminal.stdout).toMatch(/\[#+\] 2\/2/);
    const piped = await runAtrium(db, ['directories', 'sync', 'campus-ldap']);
    expect(piped.stdout + piped.stderr).not.toMatch(/\[#|\r/);
  });

  it('refuses to sync while another process holds the directory', async () => {
    const directory = await inspect.ctx.models.Directory.findOne({ where: { name: 'campus-ldap' } });
    const lease = await takeLease(inspect.ctx, directory!);
    try {
      const busy = await runAtrium(db, ['directories', 'sync', 'campus-ldap']);
      expect(busy.code).toBe(2);
      expect(busy.stderr).toContain('A sync of directory campus-ldap is already running');
    } finally {
      await lease.release();
    }
  });

  it('exits 1 with the reason when the directory is down, and disables nobody', async () => {
    await ldap.pause();
    try {
      const down = await runAtrium(db, ['directories', 'sync', 'campus-ldap']);
      expect(down.code).toBe(1);
      expect(down.stderr).toMatch(/failed after .* nothing listens at 127\.0\.0\.1:\d+: .*Nothing was changed/s);
    } finally {
      await ldap.resume();
    }
    expect(await inspect.ctx.models.User.count({ where: { status: 'disabled' } })).toBe(0);
  });

  it('forgets the entry ids only when told to with --forget-entry-ids, and the next sync takes them again', async () => {
    const { DirectoryAccount } = inspect.ctx.models;
    const withIds = () => DirectoryAccount.count({ where: { entryId: { [Op.ne]: null } } });
    expect(await withIds()).toBe(2);
    expect((await runAtrium(db, ['directories', 'update', 'campus-ldap', '--id-attribute', ''])).code).toBe(0);
    expect(await withIds()).toBe(2);
    const forgot = await runAtrium(db, ['directories', 'update', 'campus-ldap', '--forget-entry-ids']);
    expect(forgot.code, forgot.stderr).toBe(0);
    expect(forgot.stdout).toContain('entry id entryUUID');
    expect(await withIds()).toBe(0);
    expect(jsonOf(await runAtrium(db, ['directories', 'sync', 'campus-ldap', '--json']))).toMatchObject({
      outcome: 'success',
      disabled: 0,
    });
    expect(await withIds()).toBe(2);
  });

  it('relinks a person who came back under a new entry, and says why it cannot when it cannot', async () => {
    const wes = personDn({ uid: 'wes', ous: ['Physics'] });
    await ldap.removeEntry(wes);
    await ldap.addEntry(wes, {
      objectClass: 'inetOrgPerson',
      uid: 'wes',
      cn: 'Wes Wong',
      sn: 'Wong',
      mail: 'wes@campus.test',
    });
    const refused = jsonOf(await runAtrium(db, ['directories', 'sync', 'campus-ldap', '--json']));
    expect(refused.names.refused).toContainEqual(
      expect.objectContaining({
        username: 'wes',
        reason: expect.stringMatching(/^this username belongs to another entry/),
      }),
    );
    expect(refused.names.disabled).toEqual(['wes']);

    const relinked = await runAtrium(db, ['directories', 'relink', 'campus-ldap', 'wes']);
    expect(relinked.code, relinked.stderr).toBe(0);
    expect(relinked.stdout).toContain(`wes is now the person of ${wes} (was ${wes}); the next sync brings them back`);
    const again = await runAtrium(db, ['directories', 'relink', 'campus-ldap', 'wes']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`wes is already the person of ${wes}`);
    const stranger = await runAtrium(db, ['directories', 'relink', 'campus-ldap', 'alice']);
    expect(stranger.code).toBe(2);
    expect(stranger.stderr).toContain('alice is not a person of directory campus-ldap');

    expect(jsonOf(await runAtrium(db, ['directories', 'sync', 'campus-ldap', '--json'])).names.reenabled).toEqual([
      'wes',
    ]);
    expect(await inspect.ctx.models.AuditEvent.count({ where: { action: 'directory.relink', target: 'wes' } })).toBe(1);
  });

  it('lists the people the directory renamed, who keep their username', async () => {
    const xia = personDn({ uid: 'xia', ous: ['Physics'] });
    await ldap.moveEntry(xia, personDn({ uid: 'xiadong', ous: ['Physics'] }));
    const synced = await runAtrium(db, ['directories', 'sync', 'campus-ldap']);
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.stdout).toMatch(/, 1 renamed there \(they keep their username\)\./);
    expect(synced.stdout).toContain('Renamed in the directory, keeping their username: xia (xiadong there)');
    await ldap.moveEntry(personDn({ uid: 'xiadong', ous: ['Physics'] }), xia);
  });

  it('removes a directory that has people only with --disable-people', async () => {
    const refused = await runAtrium(db, ['directories', 'remove', 'campus-ldap']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--disable-people');
    const removed = await runAtrium(db, ['directories', 'remove', 'campus-ldap', '--disable-people']);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toContain('Removed directory campus-ldap; disabled 2 of its people.');
    expect(await inspect.ctx.models.Directory.count()).toBe(0);
    const unknown = await runAtrium(db, ['directories', 'sync', 'campus-ldap']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('No directory campus-ldap');
  });
});
