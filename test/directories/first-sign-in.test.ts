import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { takeLease } from '../../gateway/directories/sync-lease.ts';
import { updateDirectory } from '../../gateway/directories/update-directory.ts';
import { passwordVerifications, type TestGateway } from '../helpers/gateway.ts';
import {
  adUser,
  FORMER,
  group,
  groupDn,
  inetOrgPerson,
  ouLdif,
  personDn,
  startTestSlapd,
  type TestSlapd,
} from '../helpers/slapd.ts';
import {
  addGroupMember,
  alertOf,
  asOperator,
  type DirectoryPerson,
  directoryPerson,
  passedLogin,
  personOf,
  register,
  sealerOf,
  type SignInGateway,
  startCampusLdap,
  startSignInGateway,
  sync,
} from './fixtures.ts';

/**
 * Someone new in a campus directory signs in at once, before the next sync: the sign-in finds the one entry
 * that carries the name they typed, binds as it with their password, and only then brings them in with the
 * sync's own code, under the sync's lease. What a sync would refuse or skip, the sign-in refuses too, and
 * says so only to someone who knew the password.
 */
const MAX_FAILURES = 3;
let gateway: TestGateway;
let attempt: SignInGateway['attempt'];
let claimsOf: SignInGateway['claimsOf'];
let lastEvent: SignInGateway['lastEvent'];
let ldap: TestSlapd;
let ad: TestSlapd;

// Synced at the start, so that the directories are not empty.
const lou = directoryPerson('lou', 'Lou Lind');
const ben = { uid: 'ben', name: 'Ben Berg', password: 'ben-directory-pw' };

/** An entry the directory gets after the last sync (its userPassword is what the person types). */
const addPerson = (p: DirectoryPerson) =>
  ldap.addEntry(personDn(p), {
    objectClass: 'inetOrgPerson',
    uid: p.uid,
    cn: p.name,
    sn: p.name.split(' ').at(-1)!,
    displayName: p.name,
    ...(p.mail === null ? {} : { mail: p.mail ?? `${p.uid}@campus.test` }),
    userPassword: p.password,
  });
const adDn = (uid: string) => personDn({ uid }, 'cn');
const addAdPerson = (uid: string, name: string, password: string, disabled = false) =>
  ad.addEntry(adDn(uid), {
    objectClass: 'user',
    objectCategory: 'person',
    cn: uid,
    sn: name.split(' ').at(-1)!,
    displayName: name,
    sAMAccountName: uid,
    userPrincipalName: `${uid}@ad.campus.test`,
    userAccountControl: disabled ? '514' : '512',
    objectGUID: randomBytes(16),
    mail: `${uid}@ad.campus.test`,
    userPassword: password,
  });

const userNamed = (username: string) => gateway.models.User.findOne({ where: { username } });

beforeAll(async () => {
  ({ gateway, attempt, claimsOf, lastEvent } = await startSignInGateway(
    'dir-first-sign-in',
    'Reading Lists',
    MAX_FAILURES,
  ));
  const directory = await startCampusLdap(
    gateway,
    [
      ouLdif([['Library', 'Circulation']]),
      inetOrgPerson(lou),
      // staff ⊃ faculty: a member of faculty is staff.
      group('staff', [groupDn('faculty')]),
      group('faculty', []),
      group('library-admins', []),
    ],
    [`staff=${groupDn('staff')}`, `unit-admin:campus/library=${groupDn('library-admins')}`],
  );
  ldap = directory.ldap;
  expect(directory.firstSync.added).toBe(1);
  ad = await startTestSlapd({ activeDirectoryLike: true, ldif: adUser(ben) });
  await register(gateway, 'campus-ad', ad.url, { preset: 'active-directory' });
  expect((await sync(gateway, 'campus-ad')).added).toBe(1);
});
afterAll(async () => {
  await ldap?.stop();
  await ad?.stop();
  await gateway?.stop();
});

describe('someone new in the directory since the last sync', () => {
  const nina = directoryPerson('nina', 'Nina Nord', ['Library', 'Circulation']);

  it('signs in at once, in their unit, with the roles of their nested role groups', async () => {
    await addPerson(nina);
    await addGroupMember(ldap, 'faculty', personDn(nina));
    await addGroupMember(ldap, 'library-admins', personDn(nina));
    const binds = ldap.binds(personDn(nina));

    const claims = await claimsOf('nina', nina.password);
    expect(claims).toMatchObject({ preferred_username: 'nina', roles: ['staff', 'unit-admin'] });
    expect(ldap.binds(personDn(nina))).toBe(binds + 1);
    const nord = await personOf(gateway, 'nina');
    expect(nord).toMatchObject({
      status: 'active',
      roles: ['staff', 'unit-admin'],
      units: ['campus/library/circulation', 'campus/library'],
      passwordHash: null,
    });
    expect(claims.sub).toBe(nord!.user.id);
    expect(nord!.user).toMatchObject({ displayName: 'Nina Nord', email: 'nina@campus.test' });
    const link = await gateway.models.DirectoryAccount.findByPk(nord!.user.id);
    expect(link).toMatchObject({ dn: personDn(nina), directoryUsername: 'nina' });
    expect(link!.entryId).toMatch(/^[0-9a-f]+$/);
    expect(await lastEvent('directory.provision', 'nina')).toEqual({
      outcome: 'success',
      details: { directory: 'campus-ldap', dn: personDn(nina) },
    });
    expect(await lastEvent('login', 'nina')).toEqual({ outcome: 'success', details: null });
  });

  it('is counted unchanged by the next sync, not added again', async () => {
    const report = await sync(gateway, 'campus-ldap');
    expect(report).toMatchObject({ outcome: 'success', added: 0, updated: 0, unchanged: 2, refused: 0 });
    expect(await gateway.models.User.count({ where: { username: 'nina' } })).toBe(1);
    expect(passedLogin(await attempt('nina', nina.password))).toBe(true);
  });
});

describe('a wrong password at a first sign-in', () => {
  const omar = directoryPerson('omar', 'Omar Olsen');

  it('creates nothing, says what any wrong password says, and counts against the name', async () => {
    await addPerson(omar);
    const users = await gateway.models.User.count();
    const binds = ldap.binds(personDn(omar));
    for (let i = 1; i <= MAX_FAILURES; i++) {
      const verifications = await passwordVerifications(gateway);
      const page = await attempt('omar', `not-the-password-${i}`);
      expect(page.status).toBe(401);
      expect(alertOf(page)).toBe('Wrong username or password.');
      // What a wrong password for an account here costs, though the directory's bind told it sooner.
      expect((await passwordVerifications(gateway)) - verifications).toBe(1);
    }
    expect(ldap.binds(personDn(omar))).toBe(binds + MAX_FAILURES);
    expect(await lastEvent('login', 'omar')).toEqual({ outcome: 'failure', details: { reason: 'wrong_password' } });
    // There is no account to lock: the name is, as an unknown name is, and nothing more reaches the directory.
    const locked = await attempt('omar', omar.password);
    expect(locked.status).toBe(429);
    expect(ldap.binds(personDn(omar))).toBe(binds + MAX_FAILURES);
    expect(await gateway.models.User.count()).toBe(users);
    expect(await lastEvent('directory.provision', 'omar')).toBeUndefined();
  });
});

describe('an entry disabled in the directory', () => {
  it('is not brought in, and only someone who knew the password hears it is disabled', async () => {
    await addAdPerson('dina', 'Dina Dahl', 'dina-directory-pw', true);
    const wrong = await attempt('dina', 'not-the-password');
    expect(wrong.status).toBe(401);
    expect(alertOf(wrong)).toBe('Wrong username or password.');

    const page = await attempt('dina', 'dina-directory-pw');
    expect(page.status).toBe(403);
    expect(alertOf(page)).toMatch(/^This account is disabled/);
    expect(await userNamed('dina')).toBeNull();
    expect(await lastEvent('login', 'dina')).toEqual({ outcome: 'failure', details: { reason: 'disabled' } });
    // A sync skips it too.
    expect(await sync(gateway, 'campus-ad')).toMatchObject({ added: 0, skippedDisabled: 1 });
  });

  it('disables someone here already at the next sign-in with their name, as a sync would, answering as before', async () => {
    await addAdPerson('dag', 'Dag Dale', 'dag-directory-pw');
    expect(passedLogin(await attempt('dag', 'dag-directory-pw'))).toBe(true);
    await ad.replace(adDn('dag'), 'userAccountControl', ['514']);
    expect(alertOf(await attempt('dag', 'not-the-password'))).toBe('Wrong username or password.');
    expect((await userNamed('dag'))!.status).toBe('disabled');
    expect(await lastEvent('user.disable', 'dag')).toMatchObject({
      details: { directory: 'campus-ad', reason: 'disabled in the directory (found at a sign-in)' },
    });
    expect(alertOf(await attempt('dag', 'dag-directory-pw'))).toMatch(/^This account is disabled/);
  });
});

describe('an entry that cannot become a person', () => {
  it('is not brought in, and the person is told why and to contact IT, only after the right password', async () => {
    const pim = { ...directoryPerson('pim', 'Pim Pauw'), mail: null };
    await addPerson(pim);
    const wrong = await attempt('pim', 'not-the-password');
    expect(alertOf(wrong)).toBe('Wrong username or password.');

    const page = await attempt('pim', pim.password);
    expect(page.status).toBe(403);
    expect(alertOf(page)).toMatch(/cannot be used to sign in here\. Please contact your IT department/);
    expect(alertOf(page)).toContain('has no email (mail)');
    expect(await userNamed('pim')).toBeNull();
    expect(await lastEvent('login', 'pim')).toEqual({
      outcome: 'failure',
      details: { reason: 'directory_entry_unusable' },
    });
    expect(await lastEvent('directory.provision', 'pim')).toEqual({
      outcome: 'failure',
      details: { directory: 'campus-ldap', dn: personDn(pim), reason: 'has no email (mail)' },
    });

    // Each try costs the directory binds and reads: counted against the name, until it is refused unasked.
    expect((await attempt('pim', pim.password)).status).toBe(403);
    const binds = ldap.binds(personDn(pim));
    const locked = await attempt('pim', pim.password);
    expect(locked.status).toBe(429);
    expect(ldap.binds(personDn(pim))).toBe(binds);
  });

  it('does not name whoever here holds its email', async () => {
    const copy = { ...directoryPerson('nora', 'Nora Copy'), mail: 'nina@campus.test' };
    await addPerson(copy);
    const page = await attempt('nora', copy.password);
    expect(page.status).toBe(403);
    expect(alertOf(page)).toContain('its username or email address is already in use here');
    expect(alertOf(page)).not.toContain('nina');
    expect(await userNamed('nora')).toBeNull();
  });
});

describe('a name two directories have', () => {
  it('is nobody’s until only one entry carries it', async () => {
    const sam = directoryPerson('sam', 'Sam Stone');
    await addPerson(sam);
    await addAdPerson('sam', 'Sam Strand', 'sam-ad-directory-pw');
    for (const password of [sam.password, 'sam-ad-directory-pw']) {
      const page = await attempt('sam', password);
      expect(page.status).toBe(401);
      expect(alertOf(page)).toBe('Wrong username or password.');
    }
    expect(ldap.binds(personDn(sam)) + ad.binds(adDn('sam'))).toBe(0);
    expect(await userNamed('sam')).toBeNull();
    expect(await lastEvent('login', 'sam')).toEqual({ outcome: 'failure', details: { reason: 'unknown_account' } });

    await ad.removeEntry(adDn('sam'));
    expect(passedLogin(await attempt('sam', sam.password))).toBe(true);
    expect((await personOf(gateway, 'sam'))!.units).toEqual(['campus/library']);
  });
});

describe('someone the directory renamed since the last sync', () => {
  it('signs in with the new name to their own account, which takes the name; locked, nothing is sent', async () => {
    const before = (await personOf(gateway, 'ben'))!;
    await ad.replace(adDn('ben'), 'sAMAccountName', ['benny']);
    await gateway.models.User.update({ lockedUntil: new Date(Date.now() + 60_000) }, { where: { username: 'ben' } });
    const binds = ad.binds(adDn('ben'));
    const locked = await attempt('benny', ben.password);
    expect(locked.status).toBe(429);
    expect(ad.binds(adDn('ben'))).toBe(binds);
    await gateway.models.User.update({ lockedUntil: null }, { where: { username: 'ben' } });

    // A wrong password counts against them, as with their Atrium username, and costs what any wrong password does.
    const verifications = await passwordVerifications(gateway);
    expect((await attempt('benny', 'not-the-password')).status).toBe(401);
    expect((await userNamed('ben'))!.failedLogins).toBe(1);
    expect((await passwordVerifications(gateway)) - verifications).toBe(1);
    expect(await lastEvent('login', 'benny')).toEqual({
      outcome: 'failure',
      details: { reason: 'wrong_password', account: 'ben' },
    });

    const claims = await claimsOf('benny', ben.password);
    expect(claims).toMatchObject({ sub: before.user.id, preferred_username: 'ben' });
    expect(await userNamed('benny')).toBeNull();
    expect((await gateway.models.DirectoryAccount.findByPk(before.user.id))!.directoryUsername).toBe('benny');
    expect(await lastEvent('login', 'ben')).toEqual({ outcome: 'success', details: { directoryUsername: 'benny' } });
    expect(await lastEvent('directory.provision', 'ben')).toBeUndefined();
  });
});

describe('who an entry is', () => {
  it('never takes an entry with a copy of someone’s id for them, nor brings it in', async () => {
    const [own] = await ad.admin(
      async (c) =>
        (await c.search(adDn('ben'), { attributes: ['objectGUID'], explicitBufferAttributes: ['objectGUID'] }))
          .searchEntries,
    );
    await ad.addEntry(adDn('mallory'), {
      objectClass: 'user',
      objectCategory: 'person',
      cn: 'mallory',
      sn: 'Mallory',
      sAMAccountName: 'mallory',
      userAccountControl: '512',
      objectGUID: own!.objectGUID as Buffer,
      mail: 'mallory@ad.campus.test',
      userPassword: 'mallory-directory-pw',
    });
    try {
      const page = await attempt('mallory', 'mallory-directory-pw');
      expect(page.status).toBe(401);
      expect(alertOf(page)).toBe('Wrong username or password.');
      expect(ad.binds(adDn('mallory'))).toBe(0);
      expect(await userNamed('mallory')).toBeNull();
    } finally {
      await ad.removeEntry(adDn('mallory'));
    }
    // With an id of their own, the same name and password bring them in as themselves.
    await addAdPerson('mallory', 'Mallory Moe', 'mallory-directory-pw');
    expect(await claimsOf('mallory', 'mallory-directory-pw')).toMatchObject({ preferred_username: 'mallory' });
    expect((await userNamed('mallory'))!.id).not.toBe((await userNamed('ben'))!.id);
  });

  it('never takes an entry at the DN of a link without an id for that person; a sync settles it', async () => {
    await updateDirectory(asOperator(gateway), sealerOf(gateway), 'campus-ad', { forgetEntryIds: true });
    const ben = (await userNamed('ben'))!;
    expect((await gateway.models.DirectoryAccount.findByPk(ben.id))!.entryId).toBeNull();
    // Someone who may add entries moves ben's entry away and puts their own where it was.
    await ad.moveEntry(adDn('ben'), adDn('ben-moved'));
    await addAdPerson('ben', 'Zed Zorn', 'zed-directory-pw');
    await ad.replace(adDn('ben'), 'sAMAccountName', ['zed']);
    const page = await attempt('zed', 'zed-directory-pw');
    expect(page.status).toBe(403);
    expect(alertOf(page)).toMatch(/until the next sync nothing shows it is theirs/);
    expect(await userNamed('zed')).toBeNull();
    expect((await userNamed('ben'))!.email).toBe(ben.email);
    expect((await gateway.models.DirectoryAccount.findByPk(ben.id))!.entryId).toBeNull();
    await ad.removeEntry(adDn('ben'));
    await ad.moveEntry(adDn('ben-moved'), adDn('ben'));

    // ben himself, renamed there meanwhile, waits for the sync too: only an id says an entry is someone.
    await ad.replace(adDn('ben'), 'sAMAccountName', ['benno']);
    await ad.replace(adDn('ben'), 'mail', ['benno@ad.campus.test']);
    expect((await attempt('benno', 'ben-directory-pw')).status).toBe(403);
    expect(await userNamed('benno')).toBeNull();
    await sync(gateway, 'campus-ad');
    expect(await claimsOf('benno', 'ben-directory-pw')).toMatchObject({ sub: ben.id, preferred_username: 'ben' });
    const link = (await gateway.models.DirectoryAccount.findByPk(ben.id))!;
    expect(link.directoryUsername).toBe('benno');
    expect(link.entryId).toMatch(/^[0-9a-f]{32}$/);
    expect((await userNamed('ben'))!.email).toBe('benno@ad.campus.test');
  });

  it('never takes an entry for the person its first username names, when the name typed is its second', async () => {
    // A directory without ids, in which people are matched by their username.
    await ldap.addEntry(`uid=quinn,${FORMER}`, {
      objectClass: 'inetOrgPerson',
      uid: 'quinn',
      cn: 'Quinn Quist',
      sn: 'Quist',
      mail: 'quinn@campus.test',
      userPassword: 'quinn-directory-pw',
    });
    await register(gateway, 'campus-annex', ldap.url, { userBase: FORMER, idAttribute: 'none' });
    expect((await sync(gateway, 'campus-annex')).added).toBe(1);
    const quinn = (await userNamed('quinn'))!;
    await ldap.addEntry(`cn=mallory,${FORMER}`, {
      objectClass: 'inetOrgPerson',
      uid: ['quinn', 'yyy'],
      cn: 'mallory',
      sn: 'Mallory',
      mail: 'mallory@campus.test',
      userPassword: 'mallory-pw',
    });
    const page = await attempt('yyy', 'mallory-pw');
    expect(page.status).toBe(403);
    expect(alertOf(page)).toMatch(/its username is quinn there, not yyy/);
    expect(await userNamed('yyy')).toBeNull();
    expect((await userNamed('quinn'))!.email).toBe('quinn@campus.test');
    expect((await gateway.models.DirectoryAccount.findByPk(quinn.id))!.dn).toBe(`uid=quinn,${FORMER}`);
    await ldap.removeEntry(`cn=mallory,${FORMER}`);
  });
});

describe('while a sync of the directory runs', () => {
  it('says "try again in a minute", counts nothing and creates nothing; then the person signs in', async () => {
    const rita = directoryPerson('rita', 'Rita Rud');
    await addPerson(rita);
    const directory = (await gateway.models.Directory.findOne({ where: { name: 'campus-ldap' } }))!;
    const lease = await takeLease(asOperator(gateway), directory);
    try {
      for (let i = 0; i <= MAX_FAILURES; i++) {
        const page = await attempt('rita', rita.password);
        expect(page.status).toBe(503);
        expect(alertOf(page)).toMatch(/not answering right now.*Try again in a minute/);
        expect(page.headers.get('retry-after')).toBe('60');
      }
      expect(await userNamed('rita')).toBeNull();
      expect(await lastEvent('login', 'rita')).toEqual({
        outcome: 'failure',
        details: { reason: 'directory_unavailable' },
      });
    } finally {
      await lease.release();
    }
    expect(passedLogin(await attempt('rita', rita.password))).toBe(true);
  });
});

describe('many newcomers at once', () => {
  const holdFor = async <T>(work: () => Promise<T>): Promise<T> => {
    const directory = (await gateway.models.Directory.findOne({ where: { name: 'campus-ldap' } }))!;
    // Another newcomer being written holds the lease for a moment, as each one's first sign-in does.
    const held = await takeLease(asOperator(gateway), directory, { short: true });
    const working = work();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await held.release();
    return working;
  };

  it('each waits for the one being brought in, instead of being told to try again', async () => {
    const [sol, tim] = [directoryPerson('sol', 'Sol Sand'), directoryPerson('tim', 'Tim Tangen')];
    await addPerson(sol);
    await addPerson(tim);
    const pages = await holdFor(() => Promise.all([attempt('sol', sol.password), attempt('tim', tim.password)]));
    expect(pages.map((page) => [page.status, alertOf(page), passedLogin(page)])).toEqual([
      [200, null, true],
      [200, null, true],
    ]);
    expect((await userNamed('sol'))?.status).toBe('active');
    expect((await userNamed('tim'))?.status).toBe('active');
  });

  it('takes a lease let go between its try and its look at the holder, instead of refusing', async () => {
    const { Directory } = gateway.models;
    const directory = (await Directory.findOne({ where: { name: 'campus-ldap' } }))!;
    const held = await takeLease(asOperator(gateway), directory, { short: true });
    let letGo = false;
    // The holder lets go right after the next taker's try found the lease held.
    Directory.addHook('afterBulkUpdate', 'let-go', async (options) => {
      const owner = (options as { attributes?: { syncOwner?: string | null } }).attributes?.syncOwner;
      if (letGo || !owner || owner === held.owner) return;
      letGo = true;
      await held.release();
    });
    try {
      const lease = await takeLease(asOperator(gateway), directory);
      await lease.release();
    } finally {
      Directory.removeHook('afterBulkUpdate', 'let-go');
    }
    expect(letGo).toBe(true);
  });

  it('does not make a sync that starts meanwhile skip its run', async () => {
    expect(await holdFor(() => sync(gateway, 'campus-ldap'))).toMatchObject({ outcome: 'success' });
  });
});

describe('a directory that does not answer', () => {
  it('gives the same "try again" to a name no account has, and locks nothing', async () => {
    const tove = directoryPerson('tove', 'Tove Tangen');
    await addPerson(tove);
    await ad.pause();
    try {
      const page = await attempt('tove', tove.password);
      expect(page.status).toBe(503);
      expect(alertOf(page)).toMatch(/not answering right now/);
    } finally {
      await ad.resume();
    }
    expect(await userNamed('tove')).toBeNull();
    expect(passedLogin(await attempt('tove', tove.password))).toBe(true);
  });

  it('answers a name nobody has as it answers a wrong password, so an outage tells nobody who exists', async () => {
    await ad.pause();
    try {
      const nobody = await attempt('nobody-here', 'some-password');
      const wrong = await attempt('lou', 'not-lous-password');
      expect([nobody.status, alertOf(nobody)]).toEqual([401, 'Wrong username or password.']);
      expect([wrong.status, alertOf(wrong)]).toEqual([401, 'Wrong username or password.']);
    } finally {
      await ad.resume();
    }
  });
});

describe('a wrong password for an account here', () => {
  /** The searches for a name each directory has had (its stats lines), by the filter's username. */
  const searchesFor = (name: string) =>
    [ldap, ad].map((d) => d.log().filter((line) => line.includes(' SRCH ') && line.includes(`=${name})`)).length);

  it('asks the directories what a name no account has asks, so the wait tells nobody whose the name is', async () => {
    const before = searchesFor('alice');
    const unknownBefore = searchesFor('nobody-at-all');
    expect(alertOf(await attempt('nobody-at-all', 'some-password'))).toBe('Wrong username or password.');
    const unknownAsked = searchesFor('nobody-at-all').map((n, i) => n - unknownBefore[i]!);
    expect(unknownAsked.every((n) => n > 0)).toBe(true);

    expect(alertOf(await attempt('alice', 'not-alices-password'))).toBe('Wrong username or password.');
    expect(searchesFor('alice').map((n, i) => n - before[i]!)).toEqual(unknownAsked);
    // Her right password asks nothing of them; her email is never asked about, as a newcomer's is not.
    const after = searchesFor('alice');
    expect(passedLogin(await attempt('alice', DEMO_PASSWORD))).toBe(true);
    expect(alertOf(await attempt('alice@campus.test', 'not-alices-password'))).toBe('Wrong username or password.');
    expect(searchesFor('alice')).toEqual(after);
  });
});

describe('a name with filter characters', () => {
  it('never reaches a directory, so it matches no entry, while the name itself signs in', async () => {
    const tia = directoryPerson('tia', 'Tia Tveit');
    await addPerson(tia);
    const binds = ldap.binds() + ad.binds();
    for (const name of ['ti*', '*', 'ti*)(uid=*', 'tia)(|(uid=*']) {
      const page = await attempt(name, tia.password);
      expect(page.status, name).toBe(401);
      expect(alertOf(page), name).toBe('Wrong username or password.');
    }
    expect(ldap.binds() + ad.binds()).toBe(binds);
    expect(await gateway.models.User.count({ where: { username: 'tia' } })).toBe(0);
    expect(passedLogin(await attempt('tia', tia.password))).toBe(true);
  });
});

describe('an email typed', () => {
  it('is never looked for in a directory', async () => {
    const una = directoryPerson('una', 'Una Ulv');
    await addPerson(una);
    const binds = ldap.binds() + ad.binds();
    const page = await attempt('una@campus.test', una.password);
    expect(page.status).toBe(401);
    expect(ldap.binds() + ad.binds()).toBe(binds);
    expect(passedLogin(await attempt('una', una.password))).toBe(true);
  });
});
