import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigrator } from '../../core/migrator.ts';
import { resetPassword } from '../../gateway/accounts/update-user.ts';
import { relinkPerson } from '../../gateway/directories/relink-person.ts';
import { addPeople, type TestGateway } from '../helpers/gateway.ts';
import { inetOrgPerson, ouLdif, PEOPLE, personDn, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import {
  alertOf,
  asOperator,
  passedLogin,
  personOf,
  register,
  sealerOf,
  type SignInGateway,
  startSignInGateway,
  sync,
} from './fixtures.ts';

/**
 * A person the directory renamed keeps their Atrium username (their address in chat), and signs in with
 * the name their campus now gives them as well, once a sync has read it. An Atrium username or email
 * always wins over a directory's name, and a name two directories give is nobody's.
 */
const MAX_FAILURES = 3;
let gateway: TestGateway;
let attempt: SignInGateway['attempt'];
let claimsOf: SignInGateway['claimsOf'];
let lastEvent: SignInGateway['lastEvent'];
let ldap: TestSlapd;

const physics = (uid: string, name: string) => ({ uid, name, password: `${uid}-directory-pw`, ous: ['Physics'] });
const jon = physics('jon', 'Jon Jansen');
const kai = physics('kai', 'Kai Karlsen');
const mia = physics('mia', 'Mia Moen');
const ida = physics('ida', 'Ida Ilves');
const eva = physics('eva', 'Eva Eide');
const ola = physics('ola', 'Ola Olsen');
// Keeps the directory from looking empty, or rebuilt, when the others change.
const lou = physics('lou', 'Lou Lind');
// Two more directories on the same server, one below each of these OUs.
const tove = { uid: 'tove', name: 'Tove Tangen', password: 'tove-directory-pw', ous: ['North'] };
const ulla = { uid: 'ulla', name: 'Ulla Utne', password: 'ulla-directory-pw', ous: ['South'] };

/** Gives an entry another uid (a new RDN, the old value dropped): the same entry, id and all. */
const rename = (person: { uid: string; ous: string[] }, uid: string) =>
  ldap.moveEntry(personDn(person), personDn({ ...person, uid }));

const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;
const linkOf = async (username: string) =>
  (await gateway.models.DirectoryAccount.findByPk((await userNamed(username)).id))!;

beforeAll(async () => {
  ({ gateway, attempt, claimsOf, lastEvent } = await startSignInGateway(
    'dir-renamed-sign-in',
    'Lab Notes',
    MAX_FAILURES,
  ));
  ldap = await startTestSlapd({
    ldif: [
      ouLdif([['Physics'], ['North'], ['South']]),
      ...[jon, kai, mia, ida, eva, ola, lou, tove, ulla].map((p) => inetOrgPerson(p)),
    ].join('\n'),
  });
  await register(gateway, 'campus-ldap', ldap.url, { userBase: `ou=Physics,${PEOPLE}` });
  await register(gateway, 'north', ldap.url, { userBase: `ou=North,${PEOPLE}` });
  await register(gateway, 'south', ldap.url, { userBase: `ou=South,${PEOPLE}` });
  expect((await sync(gateway, 'campus-ldap')).added).toBe(7);
  expect((await sync(gateway, 'north')).added).toBe(1);
  expect((await sync(gateway, 'south')).added).toBe(1);
});
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
});

describe('upgrading to directory usernames', () => {
  it('gives every link its directory username at the next sync, and changes nobody on the way', async () => {
    const indexes = async () =>
      ((await gateway.sequelize.getQueryInterface().showIndex('directory_accounts')) as { name: string }[]).map(
        (i) => i.name,
      );
    const migrator = createMigrator(gateway.sequelize, 'gateway');
    await migrator.down({ to: '0016-directory-usernames.ts' });
    await expect(gateway.sequelize.query('SELECT directory_username FROM directory_accounts')).rejects.toThrow();
    expect(await indexes()).not.toContain('directory_accounts_directory_username');
    await migrator.up();
    expect(await indexes()).toContain('directory_accounts_directory_username');

    const links = async () => (await gateway.models.DirectoryAccount.findAll()).map((l) => l.directoryUsername);
    expect(await links()).toEqual(Array(9).fill(null));
    for (const name of ['campus-ldap', 'north', 'south'])
      expect(await sync(gateway, name)).toMatchObject({ outcome: 'success', added: 0, updated: 0, disabled: 0 });
    expect((await links()).sort()).toEqual(['eva', 'ida', 'jon', 'kai', 'lou', 'mia', 'ola', 'tove', 'ulla']);
  });
});

describe('a person the directory renamed', () => {
  it('signs in with the new username too, to the same account, and with the old one still', async () => {
    const before = (await personOf(gateway, 'jon'))!;
    await rename(jon, 'jonathan');
    const report = await sync(gateway, 'campus-ldap');
    expect(report.names.renamed).toEqual(['jon (jonathan there)']);
    expect((await linkOf('jon')).directoryUsername).toBe('jonathan');

    const asJonathan = await claimsOf('Jonathan', jon.password);
    expect(asJonathan).toMatchObject({ sub: before.user.id, preferred_username: 'jon', roles: before.roles });
    expect(await lastEvent('login', 'jon')).toEqual({ outcome: 'success', details: { directoryUsername: 'jonathan' } });
    expect(await claimsOf('jon', jon.password)).toEqual(asJonathan);
    expect(await lastEvent('login', 'jon')).toEqual({ outcome: 'success', details: null });
  });

  it('counts a wrong password typed with the new username against the account, and locks it alike', async () => {
    const page = await attempt('jonathan', 'not-the-directory-password');
    expect(page.status).toBe(401);
    expect(alertOf(page)).toBe('Wrong username or password.');
    expect((await userNamed('jon')).failedLogins).toBe(1);
    expect(await lastEvent('login', 'jonathan')).toEqual({
      outcome: 'failure',
      details: { reason: 'wrong_password', account: 'jon' },
    });

    expect((await attempt('jon', 'wrong-again')).status).toBe(401);
    expect((await attempt('jonathan', 'and-again')).status).toBe(401);
    expect((await userNamed('jon')).lockedUntil!.getTime()).toBeGreaterThan(Date.now());
    const binds = ldap.binds();
    const locked = await attempt('jonathan', jon.password);
    expect(locked.status).toBe(429);
    // The lockout's ten minutes, less the moments the failures took on a busy machine.
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(590);
    expect(Number(locked.headers.get('retry-after'))).toBeLessThanOrEqual(600);
    expect(ldap.binds()).toBe(binds);
    await gateway.models.User.update({ lockedUntil: null, failedLogins: 0 }, { where: { username: 'jon' } });
  });
});

describe('a name someone holds as their Atrium username', () => {
  it('stays theirs: typing it signs in to their account, never to the person a directory gave it to', async () => {
    await addPeople(gateway, ['maria']);
    await resetPassword(asOperator(gateway), 'maria', 'maria-local-password', { temporary: false });
    await rename(mia, 'maria');
    expect((await sync(gateway, 'campus-ldap')).names.renamed).toContain('mia (maria there)');
    expect((await linkOf('mia')).directoryUsername).toBe('maria');

    // Her wrong password asks the directories about the name as an unknown name would (the service account
    // searches), but no password reaches the entry that carries it.
    const entryBinds = () => ldap.binds(personDn({ ...mia, uid: 'maria' })) + ldap.binds(personDn(mia));
    const binds = entryBinds();
    const page = await attempt('maria', mia.password);
    expect(page.status).toBe(401);
    expect(alertOf(page)).toBe('Wrong username or password.');
    expect(entryBinds()).toBe(binds);
    expect((await userNamed('maria')).failedLogins).toBe(1);
    expect((await userNamed('mia')).failedLogins).toBe(0);

    const maria = await userNamed('maria');
    expect(await claimsOf('maria', 'maria-local-password')).toMatchObject({
      sub: maria.id,
      preferred_username: 'maria',
    });
    expect(await claimsOf('mia', mia.password)).toMatchObject({ preferred_username: 'mia' });
  });
});

describe('a username two directories give', () => {
  it('is nobody’s: refused as an unknown name is, while each person signs in with their own', async () => {
    await rename(tove, 'sam');
    await sync(gateway, 'north');
    expect(passedLogin(await attempt('sam', tove.password))).toBe(true);

    await rename(ulla, 'sam');
    await sync(gateway, 'south');
    expect((await linkOf('ulla')).directoryUsername).toBe('sam');
    // The service account searches the directories for a name no account has (someone new there signs in
    // at once), but no password reaches an entry that carries it.
    const entryBinds = () =>
      ldap.binds(personDn({ ...tove, uid: 'sam' })) + ldap.binds(personDn({ ...ulla, uid: 'sam' }));
    const binds = entryBinds();
    for (const password of [tove.password, ulla.password, tove.password]) {
      const page = await attempt('sam', password);
      expect(page.status).toBe(401);
      expect(alertOf(page)).toBe('Wrong username or password.');
    }
    expect(await lastEvent('login', 'sam')).toEqual({ outcome: 'failure', details: { reason: 'unknown_account' } });
    // Counted on the name, as for a name nobody has: past the limit it is refused as a locked account is.
    const locked = await attempt('sam', tove.password);
    expect(locked.status).toBe(429);
    // The lockout's ten minutes, less the moments the failures took on a busy machine.
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(590);
    expect(Number(locked.headers.get('retry-after'))).toBeLessThanOrEqual(600);
    expect(entryBinds()).toBe(binds);
    expect((await userNamed('tove')).failedLogins).toBe(0);
    expect((await userNamed('ulla')).failedLogins).toBe(0);

    expect(passedLogin(await attempt('tove', tove.password))).toBe(true);
    expect(passedLogin(await attempt('ulla', ulla.password))).toBe(true);
  });
});

describe('a rename the directory made since the last sync', () => {
  // Before first sign-ins brought people in, the new name worked only from the next sync. The sign-in now
  // asks the directory for a name no account has: the entry that carries it is kai's by its id, so it is kai
  // signing in, and his link takes the new name as a sync would give it.
  it('signs in with the new username at once, to the same account, and with the old one still', async () => {
    const before = (await personOf(gateway, 'kai'))!;
    await rename(kai, 'kaia');
    expect(await claimsOf('kaia', kai.password)).toMatchObject({ sub: before.user.id, preferred_username: 'kai' });
    expect(await lastEvent('login', 'kai')).toEqual({ outcome: 'success', details: { directoryUsername: 'kaia' } });
    expect((await linkOf('kai')).directoryUsername).toBe('kaia');
    expect(await gateway.models.User.count({ where: { username: 'kaia' } })).toBe(0);
    expect(passedLogin(await attempt('kai', kai.password))).toBe(true);

    const report = await sync(gateway, 'campus-ldap');
    expect(report).toMatchObject({ outcome: 'success', added: 0 });
    expect(passedLogin(await attempt('kaia', kai.password))).toBe(true);
  });
});

describe('a person relinked to a new entry', () => {
  it('no longer signs in with the name their old entry had', async () => {
    await rename(ida, 'idun');
    await sync(gateway, 'campus-ldap');
    expect(passedLogin(await attempt('idun', ida.password))).toBe(true);
    // Ida leaves, and comes back under a new entry with her Atrium username.
    await ldap.removeEntry(personDn({ ...ida, uid: 'idun' }));
    await ldap.addEntry(personDn(ida), {
      objectClass: 'inetOrgPerson',
      uid: 'ida',
      cn: 'Ida Ilves',
      sn: 'Ilves',
      mail: 'ida@campus.test',
      userPassword: 'ida-new-directory-pw',
    });
    expect((await sync(gateway, 'campus-ldap')).names.disabled).toEqual(['ida']);
    await relinkPerson(asOperator(gateway), sealerOf(gateway), 'campus-ldap', 'ida');
    expect((await linkOf('ida')).directoryUsername).toBe('ida');

    // Her account is still disabled until the next sync: a name that still found her would say so.
    const page = await attempt('idun', 'ida-new-directory-pw');
    expect(alertOf(page)).toBe('Wrong username or password.');
    expect((await sync(gateway, 'campus-ldap')).names.reenabled).toEqual(['ida']);
    expect((await attempt('idun', 'ida-new-directory-pw')).status).toBe(401);
    expect(passedLogin(await attempt('ida', 'ida-new-directory-pw'))).toBe(true);
  });
});

describe('a person gone from the directory', () => {
  it('leaves the name the directory last gave them to whoever it gives it next', async () => {
    await rename(eva, 'evi');
    await sync(gateway, 'campus-ldap');
    expect(passedLogin(await attempt('evi', eva.password))).toBe(true);
    await ldap.removeEntry(personDn({ ...eva, uid: 'evi' }));
    expect((await sync(gateway, 'campus-ldap')).names.disabled).toEqual(['eva']);
    expect((await linkOf('eva')).directoryUsername).toBeNull();

    await rename(ola, 'evi');
    expect((await sync(gateway, 'campus-ldap')).names.renamed).toContain('ola (evi there)');
    const asEvi = await claimsOf('evi', ola.password);
    expect(asEvi).toMatchObject({ sub: (await userNamed('ola')).id, preferred_username: 'ola' });
  });
});
