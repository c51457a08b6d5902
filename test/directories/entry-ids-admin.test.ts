import { Op } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { filledFormWithAction, submitFilled } from '../helpers/browser-agent.ts';
import { registerTestApp, signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { discover, loginAttempt } from '../helpers/rp.ts';
import {
  adUser,
  inetOrgPerson,
  ouLdif,
  PEOPLE,
  personDn,
  SERVICE_DN,
  startTestSlapd,
  type TestSlapd,
} from '../helpers/slapd.ts';
import { relinkPerson } from '../../gateway/directories/relink-person.ts';
import { presentDirectory } from '../../gateway/directories/present-directory.ts';
import { directorySettingsOf } from '../../gateway/directories/settings.ts';
import { takeLease } from '../../gateway/directories/sync-lease.ts';
import { testDirectory } from '../../gateway/directories/test-directory.ts';
import { updateDirectory } from '../../gateway/directories/update-directory.ts';
import { asOperator, personOf, register, sealerOf, sync } from './fixtures.ts';

/**
 * What an administrator does to a directory whose people are named by their entries' ids: an everyday edit
 * keeps the ids (only a new id attribute, or being told, forgets them), nothing forgets them or relinks
 * anyone under a running sync, a relink never hands a renamed person's account to whoever got their old
 * name, and "Test" says when the service account cannot read the ids every sync needs.
 */
const REDIRECT = 'http://localhost:9/cb';
let gateway: TestGateway;
let ldap: TestSlapd;
let hidden: TestSlapd;
let ad: TestSlapd;
let rp: client.Configuration;

const physics = (uid: string, name: string) => ({ uid, name, password: `${uid}-directory-pw`, ous: ['Physics'] });
const ida = physics('ida', 'Ida Ilves');
const jon = physics('jon', 'Jon Jansen');
const kai = physics('kai', 'Kai Karlsen');
const lou = physics('lou', 'Lou Lind');
const mia = physics('mia', 'Mia Moss');
const PEOPLE_OF_LDAP = [ida, jon, kai, lou, mia];
/** Sixteen bytes that all happen to be printable: still a GUID, and shown as one. */
const PRINTABLE_GUID = Buffer.from('Atrium-GUID-0001', 'latin1');

const update = (name: string, input: Record<string, unknown>) =>
  updateDirectory(asOperator(gateway), sealerOf(gateway), name, input);
const relink = (name: string, username: string) => relinkPerson(asOperator(gateway), sealerOf(gateway), name, username);
const directoryRow = async (name: string) => (await gateway.models.Directory.findOne({ where: { name } }))!;
const linkOf = async (username: string) => {
  const user = await gateway.models.User.findOne({ where: { username } });
  return (await gateway.models.DirectoryAccount.findByPk(user!.id))!;
};
/** Each person of campus-ldap with the id their link keeps. */
const idsOfLdap = async () =>
  Object.fromEntries(await Promise.all(PEOPLE_OF_LDAP.map(async (p) => [p.uid, (await linkOf(p.uid)).entryId])));
const linksWithIds = async (name: string) =>
  gateway.models.DirectoryAccount.count({
    where: { directoryId: (await directoryRow(name)).id, entryId: { [Op.ne]: null } },
  });

/** The alert the login page shows after one try, or null when it let the person in. */
const signInAlert = async (username: string, password: string) =>
  /role="alert">([^<]*)</.exec((await loginAttempt(rp, REDIRECT, username, password)).html)?.[1] ?? null;

/** An entry made anew at a person's DN: to the directory another entry (another entryUUID), same username. */
const newEntryAt = (person: typeof ida, cn: string, password: string) =>
  ldap.addEntry(personDn(person), {
    objectClass: 'inetOrgPerson',
    uid: person.uid,
    cn,
    sn: cn.split(' ').at(-1)!,
    mail: `${person.uid}.new@campus.test`,
    userPassword: password,
  });

beforeAll(async () => {
  gateway = await startTestGateway('dir-entry-ids-admin', { LOGIN_IP_LIMIT: '1000' });
  const app = await registerTestApp(gateway, { name: 'Lab Notes', redirectUris: [REDIRECT] });
  rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
  ldap = await startTestSlapd({
    ldif: [ouLdif([['Physics']]), ...PEOPLE_OF_LDAP.map((p) => inetOrgPerson(p))].join('\n'),
  });
  // A directory whose service account may not read entryUUID (an ACL as a cautious administrator writes one).
  hidden = await startTestSlapd({
    ldif: [ouLdif([['Library']]), inetOrgPerson({ uid: 'nia', ous: ['Library'] }), inetOrgPerson({ uid: 'oz' })].join(
      '\n',
    ),
    databaseLines: [`access to attrs=entryUUID by dn.exact="${SERVICE_DN}" none by * break`],
  });
  ad = await startTestSlapd({
    activeDirectoryLike: true,
    ldif: [adUser({ uid: 'cy', name: 'Cy Cole' }), adUser({ uid: 'di', name: 'Di Dunn' })].join('\n'),
  });
  await register(gateway, 'campus-ldap', ldap.url);
  await register(gateway, 'library-ldap', hidden.url);
  await register(gateway, 'campus-ad', ad.url, { preset: 'active-directory' });
  expect((await sync(gateway, 'campus-ldap')).added).toBe(5);
  expect((await sync(gateway, 'campus-ad')).added).toBe(2);
});
afterAll(async () => {
  await ldap?.stop();
  await hidden?.stop();
  await ad?.stop();
  await gateway?.stop();
});

describe('the entry ids a directory’s links keep', () => {
  it('stay when the id attribute is typed in another case, or left empty', async () => {
    const ids = await idsOfLdap();
    expect(Object.values(ids).every((id) => typeof id === 'string')).toBe(true);
    await update('campus-ldap', { idAttribute: 'entryuuid' });
    expect(await idsOfLdap()).toEqual(ids);
    // Empty means "as it is", as the form and the help say, not a bad attribute name.
    const kept = await update('campus-ldap', { idAttribute: '' });
    expect(kept.attributes.id).toBe('entryuuid');
    await update('campus-ldap', { idAttribute: 'entryUUID' });
    expect(await idsOfLdap()).toEqual(ids);
    expect(await sync(gateway, 'campus-ldap')).toMatchObject({ outcome: 'success', disabled: 0, refused: 0 });
  });

  it('are forgotten when the administrator says the directory was rebuilt, which the audit log tells', async () => {
    const ids = await idsOfLdap();
    await update('campus-ldap', { forgetEntryIds: true });
    expect(await linksWithIds('campus-ldap')).toBe(0);
    const [event] = await gateway.models.AuditEvent.findAll({
      where: { action: 'directory.update', target: 'campus-ldap' },
      order: [['id', 'DESC']],
      limit: 1,
    });
    expect(JSON.parse(event!.details!)).toMatchObject({ changed: ['forgetEntryIds'], entryIdsCleared: 5 });
    // The next sync takes them again from the entries it matches by username: the same ids, nobody disabled.
    expect(await sync(gateway, 'campus-ldap')).toMatchObject({ outcome: 'success', disabled: 0 });
    expect(await idsOfLdap()).toEqual(ids);
  });

  it('are forgotten from the console by a checkbox on the directory’s form, whose empty id field changes nothing', async () => {
    const { agent: admin } = await signInToConsole(gateway.issuer, 'admin');
    const page = await admin.navigate(`${gateway.issuer}/admin/directories/campus-ldap`);
    expect(page.html).toContain('name="forgetEntryIds"');
    const saved = await submitFilled(admin, page, filledFormWithAction(page, '/admin/directories/campus-ldap'), {
      idAttribute: '',
      forgetEntryIds: 'on',
    });
    expect(saved.url).toBe(`${gateway.issuer}/admin/directories/campus-ldap`);
    expect(await linksWithIds('campus-ldap')).toBe(0);
    expect(directorySettingsOf(await directoryRow('campus-ldap')).idAttribute).toBe('entryUUID');
    expect(await sync(gateway, 'campus-ldap')).toMatchObject({ outcome: 'success', disabled: 0 });
    expect(await linksWithIds('campus-ldap')).toBe(5);
  });
});

describe('while a sync holds the directory', () => {
  it('an update that would forget the ids, and a relink, are refused and change nothing; other edits go through', async () => {
    // kai comes back under a new entry: the sync refuses it and disables kai, and only a relink brings them back.
    await ldap.removeEntry(personDn(kai));
    await newEntryAt(kai, 'Kai Karlsen', kai.password);
    expect((await sync(gateway, 'campus-ldap')).names.disabled).toEqual(['kai']);
    const ids = await idsOfLdap();

    const lease = await takeLease(asOperator(gateway), await directoryRow('campus-ldap'));
    try {
      await expect(update('campus-ldap', { idAttribute: 'none', timeoutSeconds: 9 })).rejects.toMatchObject({
        status: 409,
        message: expect.stringContaining('A sync of directory campus-ldap is already running'),
      });
      await expect(update('campus-ldap', { forgetEntryIds: true })).rejects.toMatchObject({ status: 409 });
      await expect(relink('campus-ldap', 'kai')).rejects.toMatchObject({
        status: 409,
        message: expect.stringContaining('already running'),
      });
      expect(directorySettingsOf(await directoryRow('campus-ldap'))).toMatchObject({
        idAttribute: 'entryUUID',
        timeoutSeconds: 5,
      });
      expect(await idsOfLdap()).toEqual(ids);
      expect((await update('campus-ldap', { timeoutSeconds: 7 })).timeoutSeconds).toBe(7);
    } finally {
      await lease.release();
    }

    await relink('campus-ldap', 'kai');
    expect((await sync(gateway, 'campus-ldap')).names.reenabled).toEqual(['kai']);
  });
});

describe('a short hold of the directory', () => {
  it('is waited for by two relinks at once, both done, and is not shown as a sync running', async () => {
    // lou and mia come back under new entries: the sync disables them, and each needs a relink.
    for (const p of [lou, mia]) {
      await ldap.removeEntry(personDn(p));
      await newEntryAt(p, p.name, p.password);
    }
    expect((await sync(gateway, 'campus-ldap')).names.disabled.sort()).toEqual(['lou', 'mia']);

    // Someone new being brought in at their first sign-in holds the directory for a moment.
    const held = await takeLease(asOperator(gateway), await directoryRow('campus-ldap'), { short: true });
    const shown = presentDirectory(await directoryRow('campus-ldap'), 0);
    const relinks = Promise.all([relink('campus-ldap', 'lou'), relink('campus-ldap', 'mia')]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await held.release();

    expect((await relinks).map((r) => r.username)).toEqual(['lou', 'mia']);
    expect(shown.syncRunning).toBe(false);
    expect((await sync(gateway, 'campus-ldap')).names.reenabled.sort()).toEqual(['lou', 'mia']);
  });
});

describe('a person the directory renamed, whose old username it gave to someone new', () => {
  it('keeps their account when the directory’s URL changes: the newcomer neither signs in to it nor takes it', async () => {
    const before = (await personOf(gateway, 'jon'))!;
    await ldap.moveEntry(personDn(jon), `uid=jonathan,ou=Physics,${PEOPLE}`);
    await newEntryAt(jon, 'Jon Newcomer', 'newcomer-pw');
    const ids = await idsOfLdap();

    // The same server under another name, as when a host alias or a replica is put in front of it.
    const moved = await update('campus-ldap', { url: ldap.url.replace('127.0.0.1', 'localhost') });
    expect(moved.url).toContain('localhost');

    expect(await signInAlert('jon', 'newcomer-pw')).toBe('Wrong username or password.');
    expect(await idsOfLdap()).toEqual(ids);
    const report = await sync(gateway, 'campus-ldap');
    expect(report.disabled).toBe(0);
    expect(report.names.refused).toContainEqual(
      expect.objectContaining({ username: 'jon', dn: personDn(jon), reason: expect.stringContaining('another entry') }),
    );
    const after = (await personOf(gateway, 'jon'))!;
    expect(after.user.id).toBe(before.user.id);
    expect(after.user.displayName).toBe('Jon Jansen');
    expect(after.status).toBe('active');
    expect(await signInAlert('jon', 'newcomer-pw')).toBe('Wrong username or password.');
    expect(await signInAlert('jon', jon.password)).toBeNull();
  });

  it('is not relinked to the newcomer’s entry while their own entry is still there', async () => {
    const id = (await linkOf('jon')).entryId;
    await expect(relink('campus-ldap', 'jon')).rejects.toMatchObject({
      status: 409,
      message: `jon's own entry is still at uid=jonathan,ou=Physics,${PEOPLE} (the directory renamed it); nothing to relink`,
    });
    expect((await linkOf('jon')).entryId).toBe(id);
    expect(await gateway.models.AuditEvent.count({ where: { action: 'directory.relink', target: 'jon' } })).toBe(0);
  });

  it('is named in a relink by a valid username only', async () => {
    await expect(relink('campus-ldap', 'jon (physics)')).rejects.toMatchObject({
      status: 400,
      code: 'invalid_input',
      fields: { username: expect.stringContaining('letters, digits') },
    });
  });
});

describe('testing a directory', () => {
  it('fails, saying what to do, when the service account cannot read the entries’ ids', async () => {
    const tested = await testDirectory(asOperator(gateway), sealerOf(gateway), 'library-ldap');
    expect(tested).toMatchObject({ ok: false, connected: true, people: 2 });
    expect(tested.problem).toMatch(
      /^none of the 2 entries sampled has a usable entryUUID \(uid=\w+,.* has no entryUUID\)/,
    );
    expect(tested.problem).toContain('let the service account read entryUUID, or set the id attribute to none');
    // What a sync then makes of them: nobody, as the test said beforehand.
    expect(await sync(gateway, 'library-ldap')).toMatchObject({ added: 0, refused: 2 });

    await update('library-ldap', { idAttribute: 'none' });
    expect(await testDirectory(asOperator(gateway), sealerOf(gateway), 'library-ldap')).toMatchObject({
      ok: true,
      problem: null,
    });
  });
});

describe("Active Directory's objectGUID", () => {
  it('is shown as a GUID even when its bytes happen to be printable', async () => {
    await ad.removeEntry(personDn({ uid: 'cy' }, 'cn'));
    await ad.addEntry(personDn({ uid: 'cy' }, 'cn'), {
      objectClass: 'user',
      objectCategory: 'person',
      cn: 'cy',
      sn: 'Cole',
      sAMAccountName: 'cy',
      mail: 'cy@campus.test',
      userAccountControl: '512',
      objectGUID: PRINTABLE_GUID,
    });
    expect((await sync(gateway, 'campus-ad')).names.disabled).toEqual(['cy']);
    const relinked = await relink('campus-ad', 'cy');
    expect(relinked.entryId).toBe('{69727441-6d75-472d-5549-442d30303031}');
    const sampled = (await testDirectory(asOperator(gateway), sealerOf(gateway), 'campus-ad')).sample;
    expect(sampled).toContainEqual(
      expect.objectContaining({ username: 'cy', entryId: '{69727441-6d75-472d-5549-442d30303031}' }),
    );
  });
});
