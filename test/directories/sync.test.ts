import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { Client, SizeLimitExceededError } from 'ldapts';
import { registerTestApp, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { codeFlow, discover } from '../helpers/rp.ts';
import { garbageServer, silentServer, type BrokenServer } from '../helpers/broken-servers.ts';
import {
  adUser,
  group,
  groupDn,
  inetOrgPerson,
  ouLdif,
  personDn,
  SERVICE_DN,
  SERVICE_PASSWORD,
  PEOPLE,
  startTestSlapd,
  type TestSlapd,
} from '../helpers/slapd.ts';
import { takeLease } from '../../gateway/directories/sync-lease.ts';
import { SyncRunningError } from '../../gateway/directories/errors.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';
import { listUsers } from '../../gateway/accounts/list-users.ts';
import { relinkPerson } from '../../gateway/directories/relink-person.ts';
import { deleteAccount } from '../../gateway/accounts/delete-account.ts';
import { asOperator, personOf, register, sealerOf, sync } from './fixtures.ts';

const REDIRECT = 'http://localhost:9/cb';
let gateway: TestGateway;
let ldap: TestSlapd;
let rp: client.Configuration;

const PASSWORDS = {
  lena: 'lena-directory-pw',
  liam: 'liam-directory-pw',
  sam: 'sam-directory-pw',
  tom: 'tom-directory-pw',
};

const tom = { uid: 'tom', name: 'Tom Tanaka', password: PASSWORDS.tom };

beforeAll(async () => {
  gateway = await startTestGateway('dir-sync', { LOGIN_IP_LIMIT: '1000' });
  const app = await registerTestApp(gateway, { name: 'Library App', redirectUris: [REDIRECT] });
  rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
  ldap = await startTestSlapd({
    ldif: [
      ouLdif([['Library', 'Circulation'], ['Science']]),
      inetOrgPerson({ uid: 'lena', name: 'Lena Larsen', password: PASSWORDS.lena, ous: ['Library', 'Circulation'] }),
      inetOrgPerson({ uid: 'liam', name: 'Liam Lee', password: PASSWORDS.liam, ous: ['Library'] }),
      inetOrgPerson({ uid: 'sam', name: 'Sam Sato', password: PASSWORDS.sam, ous: ['Science'] }),
      inetOrgPerson(tom),
      // Names that must not become accounts: a local person's, a reserved one, one that is no username.
      inetOrgPerson({ uid: 'alice', name: 'Another Alice', mail: 'alice.other@campus.test' }),
      inetOrgPerson({ uid: 'system', name: 'System Person' }),
      inetOrgPerson({ uid: 'bad name!', name: 'Bad Name' }),
      inetOrgPerson({ uid: 'nomail', name: 'No Mail', mail: null }),
      group('staff', [personDn({ uid: 'liam', ous: ['Library'] })]),
      group('admins', [personDn({ uid: 'sam', ous: ['Science'] })]),
      group('library-admins', [personDn({ uid: 'lena', ous: ['Library', 'Circulation'] })]),
    ].join('\n'),
  });
  await register(gateway, 'campus-ldap', ldap.url, {
    groupBase: `ou=Groups,dc=campus,dc=test`,
    roleGroups: [
      `staff=${groupDn('staff')}`,
      `admin=${groupDn('admins')}`,
      `unit-admin:campus/library=${groupDn('library-admins')}`,
    ],
  });
});
/** Whom the console's search finds for `q`. */
const searched = async (q: string) => (await listUsers(asOperator(gateway), { q })).users.map((u) => u.username);

afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
});

describe('a first sync of an OpenLDAP directory', () => {
  it('creates its people with units from their OU path and roles from their groups, and stores no password', async () => {
    const report = await sync(gateway, 'campus-ldap');
    expect(report.outcome).toBe('success');
    expect(report.entries).toBe(8);
    expect(report.names.added.sort()).toEqual(['lena', 'liam', 'sam', 'tom']);
    expect(report.unitsCreated).toBe(3);

    expect(await personOf(gateway, 'lena')).toMatchObject({
      status: 'active',
      roles: ['student', 'unit-admin'],
      units: ['campus/library/circulation', 'campus/library'],
      passwordHash: null,
    });
    expect(await personOf(gateway, 'liam')).toMatchObject({ roles: ['staff'], units: ['campus/library'] });
    expect(await personOf(gateway, 'sam')).toMatchObject({ roles: ['admin'], units: ['campus/science'] });
    expect(await personOf(gateway, 'tom')).toMatchObject({ roles: ['student'], units: ['campus'] });
    const library = await gateway.models.OrgUnit.findOne({ where: { path: 'campus/library/circulation' } });
    expect(library?.name).toBe('Circulation');
    const parent = await gateway.models.OrgUnit.findOne({ where: { path: 'campus/library' } });
    expect(library?.parentId).toBe(parent?.id);
    expect(await searched('LENA LAR')).toEqual(['lena']);
  });

  it("refuses a local account's username, a reserved name, a name Atrium cannot use and an entry without email, each with its reason", async () => {
    const directory = await gateway.models.Directory.findOne({ where: { name: 'campus-ldap' } });
    const report = JSON.parse(directory!.lastReport!);
    const reasons = Object.fromEntries(
      report.names.refused.map((r: { username: string; reason: string }) => [r.username, r.reason]),
    );
    expect(reasons.alice).toMatch(/local account .* not merged/);
    expect(reasons.system).toMatch(/reserved/);
    expect(reasons['bad name!']).toMatch(/cannot be an Atrium username/);
    expect(reasons.nomail).toMatch(/has no email/);
    expect(report.refused).toBe(4);
    // The local alice is untouched.
    const alice = await personOf(gateway, 'alice');
    expect(alice).toMatchObject({ status: 'active', units: ['campus/eng/cs'] });
    expect(alice!.user.email).toBe('alice@campus.test');
    expect(await gateway.models.DirectoryAccount.count({ where: { userId: alice!.user.id } })).toBe(0);
  });

  it('writes the report to the audit log and keeps it on the registration', async () => {
    const [event] = await gateway.models.AuditEvent.findAll({
      where: { action: 'directory.sync', target: 'campus-ldap' },
      order: [['id', 'DESC']],
    });
    expect(event?.outcome).toBe('success');
    expect(JSON.parse(event!.details!)).toMatchObject({ added: 4, refused: 4, disabled: 0 });
    expect(
      await gateway.models.AuditEvent.count({ where: { action: 'unit.create', target: 'campus/library/circulation' } }),
    ).toBe(1);
  });

  it('changes nothing when run again on an unchanged directory', async () => {
    const before = await gateway.models.User.findOne({ where: { username: 'lena' } });
    const report = await sync(gateway, 'campus-ldap');
    expect(report).toMatchObject({
      outcome: 'success',
      added: 0,
      updated: 0,
      unchanged: 4,
      disabled: 0,
      reenabled: 0,
      unitsCreated: 0,
    });
    const after = await gateway.models.User.findOne({ where: { username: 'lena' } });
    expect(after!.updatedAt.getTime()).toBe(before!.updatedAt.getTime());
  });
});

describe('later syncs', () => {
  it('follow changes of name and of group membership', async () => {
    await ldap.replace(personDn({ uid: 'liam', ous: ['Library'] }), 'displayName', ['Liam Lindqvist']);
    await ldap.replace(groupDn('admins'), 'member', [SERVICE_DN]);
    const report = await sync(gateway, 'campus-ldap');
    expect(report.names.updated.sort()).toEqual(['liam', 'sam']);
    expect((await personOf(gateway, 'liam'))!.user.displayName).toBe('Liam Lindqvist');
    expect(await searched('lindQV')).toEqual(['liam']);
    expect(await searched('Liam Lee')).toEqual([]);
    expect(await personOf(gateway, 'sam')).toMatchObject({ roles: ['student'] });
  });

  it('disables someone gone from the directory at once: their refresh token stops working', async () => {
    const { tokens } = await codeFlow(rp, REDIRECT, 'tom', {}, undefined, PASSWORDS.tom);
    await expect(client.refreshTokenGrant(rp, tokens.refresh_token!)).resolves.toBeTruthy();
    const { tokens: current } = await codeFlow(rp, REDIRECT, 'tom', {}, undefined, PASSWORDS.tom);

    await ldap.removeEntry(personDn(tom));
    const report = await sync(gateway, 'campus-ldap');
    expect(report.names.disabled).toEqual(['tom']);
    const person = await personOf(gateway, 'tom');
    expect(person!.status).toBe('disabled');
    await expect(client.refreshTokenGrant(rp, current.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    expect(await gateway.models.EndedAccess.count({ where: { kind: 'sub', subject: person!.user.id } })).toBe(1);
    const [audit] = await gateway.models.AuditEvent.findAll({ where: { action: 'user.disable', target: 'tom' } });
    expect(JSON.parse(audit!.details!)).toMatchObject({ directory: 'campus-ldap', reason: 'gone from the directory' });
  });

  it('enables them again when they come back and an administrator relinks them, and they sign in with their directory password', async () => {
    await ldap.admin(async (c) => {
      await c.add(personDn(tom), {
        objectClass: 'inetOrgPerson',
        uid: 'tom',
        cn: tom.name,
        sn: 'Tanaka',
        displayName: tom.name,
        mail: 'tom@campus.test',
        userPassword: PASSWORDS.tom,
      });
    });
    // A new entry with his username: the directory cannot tell his return from the name given to someone else.
    const refused = await sync(gateway, 'campus-ldap');
    expect(refused.names.reenabled).toEqual([]);
    expect(refused.names.refused).toContainEqual({
      username: 'tom',
      dn: personDn(tom),
      reason: expect.stringMatching(
        /^this username belongs to another entry of this directory \(entryUUID [0-9a-f-]{36}, last at uid=tom,/,
      ),
    });
    expect((await personOf(gateway, 'tom'))!.status).toBe('disabled');

    await relinkPerson(asOperator(gateway), sealerOf(gateway), 'campus-ldap', 'tom');
    const report = await sync(gateway, 'campus-ldap');
    expect(report.names.reenabled).toEqual(['tom']);
    expect((await personOf(gateway, 'tom'))!.status).toBe('active');
    const { tokens } = await codeFlow(rp, REDIRECT, 'tom', {}, undefined, PASSWORDS.tom);
    expect(tokens.access_token).toBeTruthy();
  });

  it('leaves someone an administrator disabled as they are, directory or not', async () => {
    await updateUser(asOperator(gateway), 'liam', { status: 'disabled' });
    const report = await sync(gateway, 'campus-ldap');
    expect(report.reenabled).toBe(0);
    expect((await personOf(gateway, 'liam'))!.status).toBe('disabled');
    await updateUser(asOperator(gateway), 'liam', { status: 'active' });
  });

  it('disables nobody when the directory stops answering part-way or at once, and says why', async () => {
    await ldap.pause();
    try {
      const report = await sync(gateway, 'campus-ldap');
      expect(report.outcome).toBe('failure');
      expect(report.error).toMatch(/^nothing listens at 127\.0\.0\.1:\d+: /);
      expect(report.disabled).toBe(0);
      expect(await gateway.models.User.count({ where: { status: 'disabled' } })).toBe(0);
      const [event] = await gateway.models.AuditEvent.findAll({
        where: { action: 'directory.sync', target: 'campus-ldap' },
        order: [['id', 'DESC']],
      });
      expect(event?.outcome).toBe('failure');
    } finally {
      await ldap.resume();
    }
  });

  it('disables nobody when a wrong user base makes everyone look gone', async () => {
    await register(gateway, 'wrong-base', ldap.url, {
      userBase: `ou=Services,dc=campus,dc=test`,
      userFilter: '(uid=nobody-at-all)',
    });
    // First a real sync of the right base under this registration, then the base "empties".
    const directory = await gateway.models.Directory.findOne({ where: { name: 'wrong-base' } });
    await gateway.models.DirectoryAccount.create({
      userId: (await gateway.models.User.findOne({ where: { username: 'bob' } }))!.id,
      directoryId: directory!.id,
      dn: 'uid=bob,ou=Gone,dc=campus,dc=test',
      seenRun: 'earlier',
    });
    const report = await sync(gateway, 'wrong-base');
    expect(report.outcome).toBe('failure');
    expect(report.error).toMatch(/returned nobody .* nobody was disabled/);
    expect((await personOf(gateway, 'bob'))!.status).toBe('active');
    await gateway.models.DirectoryAccount.destroy({ where: { directoryId: directory!.id } });
  });

  it('never runs two syncs of one directory at once', async () => {
    const directory = await gateway.models.Directory.findOne({ where: { name: 'campus-ldap' } });
    const lease = await takeLease(asOperator(gateway), directory!);
    try {
      await expect(sync(gateway, 'campus-ldap')).rejects.toBeInstanceOf(SyncRunningError);
    } finally {
      await lease.release();
    }
    const [a, b] = await Promise.allSettled([sync(gateway, 'campus-ldap'), sync(gateway, 'campus-ldap')]);
    const outcomes = [a.status, b.status].sort();
    expect(outcomes).toEqual(['fulfilled', 'rejected']);
    const rejected = [a, b].find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toBeInstanceOf(SyncRunningError);
  });

  it('skips someone whose account was deleted, naming them in the report: the username is never given again', async () => {
    const uma = personDn({ uid: 'uma', ous: ['Science'] });
    await ldap.addEntry(uma, {
      objectClass: 'inetOrgPerson',
      uid: 'uma',
      cn: 'Uma Ueda',
      sn: 'Ueda',
      mail: 'uma@campus.test',
      userPassword: 'uma-directory-pw',
    });
    try {
      expect((await sync(gateway, 'campus-ldap')).names.added).toEqual(['uma']);
      await deleteAccount(asOperator(gateway), 'uma');
      const report = await sync(gateway, 'campus-ldap');
      expect(report.names.added).toEqual([]);
      expect(report.names.refused).toContainEqual({
        username: 'uma',
        dn: uma,
        reason:
          'username not available: uma was the username of a deleted account; usernames are not reused, so chat history stays with its author — choose another',
      });
      expect(await gateway.models.User.count({ where: { username: 'uma' } })).toBe(0);
    } finally {
      await ldap.removeEntry(uma);
    }
  });
});

describe('a directory that misbehaves', () => {
  let silent: BrokenServer;
  let garbage: BrokenServer;
  beforeAll(async () => {
    silent = await silentServer();
    garbage = await garbageServer();
    await register(gateway, 'silent', silent.url, { timeoutSeconds: 1 });
    await register(gateway, 'garbage', garbage.url, { timeoutSeconds: 1 });
  });
  afterAll(async () => {
    await silent?.close();
    await garbage?.close();
  });

  it('fails a sync within its timeout when the directory never answers', async () => {
    const started = Date.now();
    const report = await sync(gateway, 'silent');
    expect(report.outcome).toBe('failure');
    expect(report.error).toMatch(/did not answer/);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(silent.connections()).toBeGreaterThan(0);
  });

  it('fails a sync cleanly when the directory answers garbage', async () => {
    const report = await sync(gateway, 'garbage');
    expect(report.outcome).toBe('failure');
    // No reply can be parsed out of the bytes, so the request waits for its deadline.
    expect(report.error).toMatch(/did not answer within 1 s/);
    expect(garbage.connections()).toBeGreaterThan(0);
  });
});

describe('an Active Directory with more than one page of people', () => {
  let ad: TestSlapd;
  const PEOPLE_COUNT = 1_150;
  const students = `CN=Students,OU=Groups,DC=campus,DC=test`;
  const departments = ['Library', 'Physics', 'History'];

  beforeAll(async () => {
    const people = Array.from({ length: PEOPLE_COUNT }, (_, i) =>
      adUser({
        uid: `ad${String(i).padStart(4, '0')}`,
        name: `AD Person ${i}`,
        department: departments[i % 3],
        memberOf: i % 2 === 0 ? [students] : [],
      }),
    );
    ad = await startTestSlapd({
      activeDirectoryLike: true,
      ldif: [
        // The role groups are entries, as in AD; a sync refuses role groups it cannot find.
        group('staff', []),
        group('Students', []),
        ...people,
        adUser({ uid: 'gone-dark', name: 'Disabled Before', disabled: true }),
        adUser({ uid: 'lena', name: 'Lena From AD', mail: 'lena.ad@campus.test' }),
        adUser({
          uid: 'ada',
          sAMAccountName: 'Ada.Lovelace',
          name: 'Ada Lovelace',
          memberOf: ['CN=Staff,OU=Groups,DC=campus,DC=test'],
        }),
      ].join('\n'),
    });
    await register(gateway, 'campus-ad', ad.url, {
      preset: 'active-directory',
      unitFrom: 'attribute',
      unitAttribute: 'department',
      roleGroups: [`staff=cn=staff,ou=groups,dc=campus,dc=test`, `student=${students}`],
      defaultRole: 'staff',
    });
  });
  afterAll(async () => ad?.stop());

  it('limits the service account to 1,000 entries per search, as AD does', async () => {
    const c = new Client({ url: ad.url });
    await c.bind(SERVICE_DN, SERVICE_PASSWORD);
    try {
      await expect(c.search(PEOPLE, { filter: '(objectClass=user)' })).rejects.toBeInstanceOf(SizeLimitExceededError);
    } finally {
      await c.unbind();
    }
  });

  it('reads every page, maps sAMAccountName, department and memberOf, and skips accounts disabled there', async () => {
    const report = await sync(gateway, 'campus-ad');
    expect(report.outcome).toBe('success');
    expect(report.pages).toBe(2);
    expect(report.entries).toBe(PEOPLE_COUNT + 3);
    expect(report.added).toBe(PEOPLE_COUNT + 1);
    expect(report.skippedDisabled).toBe(1);
    expect(await personOf(gateway, 'gone-dark')).toBeNull();
    expect(await personOf(gateway, 'ad0000')).toMatchObject({ roles: ['student'], units: ['campus/library'] });
    expect(await personOf(gateway, 'ad0001')).toMatchObject({ roles: ['staff'], units: ['campus/physics'] });
    expect(await personOf(gateway, 'ada.lovelace')).toMatchObject({ roles: ['staff'] });
    expect((await personOf(gateway, 'ad0004'))!.user.email).toBe('ad0004@campus.test');
  });

  it('refuses a username another directory already brought', async () => {
    const directory = await gateway.models.Directory.findOne({ where: { name: 'campus-ad' } });
    const report = JSON.parse(directory!.lastReport!);
    expect(report.names.refused).toContainEqual(
      expect.objectContaining({
        username: 'lena',
        reason: expect.stringMatching(/already comes from directory campus-ldap/),
      }),
    );
    expect((await personOf(gateway, 'lena'))!.user.displayName).toBe('Lena Larsen');
  });

  it('disables a person whose userAccountControl gets the disabled bit, and enables them when it is cleared', async () => {
    const dn = personDn({ uid: 'ad0002' }, 'cn');
    await ad.replace(dn, 'userAccountControl', ['514']);
    const off = await sync(gateway, 'campus-ad');
    expect(off.names.disabled).toEqual(['ad0002']);
    expect((await personOf(gateway, 'ad0002'))!.status).toBe('disabled');
    await ad.replace(dn, 'userAccountControl', ['512']);
    const on = await sync(gateway, 'campus-ad');
    expect(on.names.reenabled).toEqual(['ad0002']);
    expect(on.unchanged).toBe(PEOPLE_COUNT);
    expect((await personOf(gateway, 'ad0002'))!.status).toBe('active');
  });
});
