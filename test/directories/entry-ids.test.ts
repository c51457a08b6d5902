import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { Attribute, Change } from 'ldapts';
import { registerTestApp, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { codeFlow, discover, loginAttempt } from '../helpers/rp.ts';
import { adUser, inetOrgPerson, ouLdif, PEOPLE, personDn, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { relinkPerson } from '../../gateway/directories/relink-person.ts';
import { summarize } from '../../gateway/directories/sync-report.ts';
import { updateDirectory } from '../../gateway/directories/update-directory.ts';
import { asOperator, personOf, register, sealerOf, sync } from './fixtures.ts';

/**
 * A directory person is their entry, named by its stable id (entryUUID, AD's objectGUID), not by the
 * username it carries: a username given to someone else later never hands them the account, and a person
 * the directory renamed or moved stays who they are.
 */
const REDIRECT = 'http://localhost:9/cb';
let gateway: TestGateway;
let ldap: TestSlapd;
let ad: TestSlapd;
let rp: client.Configuration;

const ida = { uid: 'ida', name: 'Ida Ilves', password: 'ida-directory-pw', ous: ['Physics'] };
const jon = { uid: 'jon', name: 'Jon Jansen', password: 'jon-directory-pw', ous: ['Physics'] };
const kai = { uid: 'kai', name: 'Kai Karlsen', password: 'kai-directory-pw', ous: ['Physics'] };
// Keeps the directory from looking empty when the others leave it.
const lou = { uid: 'lou', name: 'Lou Lind', password: 'lou-directory-pw', ous: ['Physics'] };
const GUIDS = { ana: Buffer.from('00112233445566778899aabbccddeeff', 'hex') };

/** The alert the login page shows after one try, or null when it let the person in. */
const signInAlert = async (username: string, password: string) =>
  /role="alert">([^<]*)</.exec((await loginAttempt(rp, REDIRECT, username, password)).html)?.[1] ?? null;

const linkOf = async (username: string) => {
  const user = await gateway.models.User.findOne({ where: { username } });
  return gateway.models.DirectoryAccount.findByPk(user!.id);
};

/** Someone else's entry at the same place, with the same username: what a reused username looks like. */
const newcomerAt = (person: typeof ida, password: string) =>
  ldap.addEntry(personDn(person), {
    objectClass: 'inetOrgPerson',
    uid: person.uid,
    cn: 'Somebody Else',
    sn: 'Else',
    mail: `${person.uid}.new@campus.test`,
    userPassword: password,
  });

beforeAll(async () => {
  gateway = await startTestGateway('dir-entry-ids');
  const app = await registerTestApp(gateway, { name: 'Lab Notes', redirectUris: [REDIRECT] });
  rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
  ldap = await startTestSlapd({
    ldif: [
      ouLdif([['Physics'], ['Chemistry']]),
      ...[ida, jon].map((p) => inetOrgPerson(p)),
      // Made before kai's entry, so the directory returns it first; without mail it is not read at first.
      inetOrgPerson({ uid: 'copy', ous: ['Physics'], mail: null }),
      ...[kai, lou].map((p) => inetOrgPerson(p)),
    ].join('\n'),
  });
  ad = await startTestSlapd({
    activeDirectoryLike: true,
    ldif: [
      adUser({ uid: 'ana', name: 'Ana Alves', objectGUID: GUIDS.ana }),
      adUser({ uid: 'bo', name: 'Bo Berg' }),
    ].join('\n'),
  });
  await register(gateway, 'campus-ldap', ldap.url);
  await register(gateway, 'campus-ad', ad.url, { preset: 'active-directory' });
  expect((await sync(gateway, 'campus-ldap')).added).toBe(4);
  expect((await sync(gateway, 'campus-ad')).added).toBe(2);
});
afterAll(async () => {
  await ldap?.stop();
  await ad?.stop();
  await gateway?.stop();
});

describe('a username given to someone else', () => {
  it('never signs them in to the account of the person who had it, and the sync refuses their entry', async () => {
    await ldap.removeEntry(personDn(ida));
    await newcomerAt(ida, 'newcomer-pw');
    // Before any sync: the account is still active, and the newcomer's own password does not open it; they
    // are told to ask IT, and nothing counts toward locking ida's account.
    expect(await signInAlert('ida', 'newcomer-pw')).toMatch(
      /contact your IT department .* it is a new entry under this username, not the one this account was made from/,
    );
    expect((await personOf(gateway, 'ida'))!.user.failedLogins).toBe(0);
    expect(await signInAlert('ida', 'not-their-password')).toBe('Wrong username or password.');

    const report = await sync(gateway, 'campus-ldap');
    expect(report.names.refused).toContainEqual({
      username: 'ida',
      dn: personDn(ida),
      reason: expect.stringMatching(
        /^this username belongs to another entry of this directory \(entryUUID [0-9a-f-]{36}, last at uid=ida,/,
      ),
    });
    expect(report.names.disabled).toEqual(['ida']);
    const person = (await personOf(gateway, 'ida'))!;
    expect(person.status).toBe('disabled');
    expect(person.user.displayName).toBe('Ida Ilves');
    expect(person.user.email).toBe('ida@campus.test');
  });

  it('is theirs once an administrator relinks the person to it, and it signs in then', async () => {
    const relinked = await relinkPerson(asOperator(gateway), sealerOf(gateway), 'campus-ldap', 'ida');
    expect(relinked).toMatchObject({
      username: 'ida',
      dn: personDn(ida),
      entryId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    const report = await sync(gateway, 'campus-ldap');
    expect(report.names.reenabled).toEqual(['ida']);
    expect((await personOf(gateway, 'ida'))!.user.displayName).toBe('Somebody Else');
    const { tokens } = await codeFlow(rp, REDIRECT, 'ida', {}, undefined, 'newcomer-pw');
    expect(tokens.access_token).toBeTruthy();
  });

  it('is relinked only to an entry that exists, is not someone else’s, and of a person of that directory', async () => {
    const relink = (directory: string, username: string) =>
      relinkPerson(asOperator(gateway), sealerOf(gateway), directory, username);
    await expect(relink('campus-ldap', 'ida')).rejects.toMatchObject({ status: 409, message: /already the person of/ });
    await expect(relink('campus-ldap', 'ana')).rejects.toMatchObject({
      status: 404,
      message: /not a person of directory campus-ldap/,
    });
    await expect(relink('campus-ldap', 'nobody')).rejects.toMatchObject({ status: 404 });
    // lou's entry gets kai's username as well: two entries carry it, so neither is taken.
    await ldap.replace(personDn(lou), 'uid', ['lou', 'kai']);
    await expect(relink('campus-ldap', 'kai')).rejects.toMatchObject({ status: 409, message: /more than one entry/ });
    await ldap.replace(personDn(lou), 'uid', ['lou']);
  });
});

describe('the entry id setting', () => {
  it('disables nobody when it changes: the links take their ids afresh at the next sync', async () => {
    const idOfKai = (await linkOf('kai'))!.entryId;
    expect(idOfKai).toMatch(/^[0-9a-f]+$/);
    await updateDirectory(asOperator(gateway), sealerOf(gateway), 'campus-ldap', { idAttribute: 'none' });
    expect((await linkOf('kai'))!.entryId).toBeNull();
    let report = await sync(gateway, 'campus-ldap');
    expect(report).toMatchObject({ outcome: 'success', disabled: 0 });
    expect((await linkOf('kai'))!.entryId).toBeNull();

    await updateDirectory(asOperator(gateway), sealerOf(gateway), 'campus-ldap', { idAttribute: 'entryUUID' });
    report = await sync(gateway, 'campus-ldap');
    expect(report).toMatchObject({ outcome: 'success', disabled: 0 });
    expect((await linkOf('kai'))!.entryId).toBe(idOfKai);
  });
});

describe('a person the directory renamed or moved', () => {
  it('stays who they are, keeps their username and signs in with it', async () => {
    const before = (await personOf(gateway, 'jon'))!;
    // A new RDN renames the entry's uid too.
    await ldap.moveEntry(personDn(jon), `uid=jonathan,ou=Chemistry,${PEOPLE}`);

    const report = await sync(gateway, 'campus-ldap');
    expect(report.disabled).toBe(0);
    expect(report.added).toBe(0);
    expect(report.names.renamed).toEqual(['jon (jonathan there)']);
    expect(report.names.refused.map((r) => r.username)).not.toContain('jonathan');
    const after = (await personOf(gateway, 'jon'))!;
    expect(after).toMatchObject({ status: 'active', units: ['campus/chemistry'] });
    expect(after.user.id).toBe(before.user.id);
    expect(await gateway.models.User.count({ where: { username: 'jonathan' } })).toBe(0);
    expect((await linkOf('jon'))!.dn).toBe(`uid=jonathan,ou=Chemistry,${PEOPLE}`);

    const { tokens } = await codeFlow(rp, REDIRECT, 'jon', {}, undefined, jon.password);
    expect(tokens.access_token).toBeTruthy();
  });

  it('is reported renamed by the sync that sees it, and not again by the next ones', async () => {
    for (let i = 0; i < 2; i++) {
      const report = await sync(gateway, 'campus-ldap');
      expect(report.renamed ?? 0).toBe(0);
      expect(report.names.renamed ?? []).toEqual([]);
      expect(summarize(report)).not.toMatch(/renamed there/);
    }
    expect((await personOf(gateway, 'jon'))!.status).toBe('active');
  });
});

describe("Active Directory's binary objectGUID", () => {
  it('names the person by its bytes, and a reused sAMAccountName at the same DN is refused with the GUID shown as AD writes it', async () => {
    expect((await linkOf('ana'))!.entryId).toBe(GUIDS.ana.toString('hex'));
    await ad.removeEntry(personDn({ uid: 'ana' }, 'cn'));
    await ad.addEntry(personDn({ uid: 'ana' }, 'cn'), {
      objectClass: 'user',
      objectCategory: 'person',
      cn: 'ana',
      sn: 'Ana',
      sAMAccountName: 'ana',
      mail: 'another.ana@campus.test',
      userAccountControl: '512',
      objectGUID: randomBytes(16),
    });
    const report = await sync(gateway, 'campus-ad');
    expect(report.names.refused).toContainEqual({
      username: 'ana',
      dn: personDn({ uid: 'ana' }, 'cn'),
      reason: expect.stringContaining('(objectGUID {33221100-5544-7766-8899-aabbccddeeff}, last at cn=ana,'),
    });
    expect(report.names.disabled).toEqual(['ana']);
    expect((await personOf(gateway, 'ana'))!.user.email).toBe('ana@campus.test');
  });

  it('refuses a second entry that carries a copy of someone’s objectGUID, and leaves them as they are', async () => {
    await ad.addEntry(`cn=bo-copy,${PEOPLE}`, {
      objectClass: 'user',
      objectCategory: 'person',
      cn: 'bo-copy',
      sn: 'Copy',
      sAMAccountName: 'bo-copy',
      mail: 'bo.copy@campus.test',
      userAccountControl: '514',
      objectGUID: Buffer.from((await linkOf('bo'))!.entryId!, 'hex'),
    });
    const report = await sync(gateway, 'campus-ad');
    expect(report.names.refused).toContainEqual({
      username: 'bo-copy',
      dn: `cn=bo-copy,${PEOPLE}`,
      reason: 'another entry of this page has the same objectGUID',
    });
    expect(report.disabled).toBe(0);
    expect((await personOf(gateway, 'bo'))!.status).toBe('active');
    expect(await gateway.models.User.count({ where: { username: 'bo-copy' } })).toBe(0);
  });
});

describe("a copy of someone's entry read before their own", () => {
  it('leaves them as they are, though their own entry is refused as the second with their username', async () => {
    const copy = personDn({ uid: 'copy', ous: ['Physics'] });
    await ldap.replace(copy, 'uid', ['copy', 'kai']);
    await ldap.replace(copy, 'mail', ['kai@campus.test']);
    await ldap.moveEntry(copy, `uid=kai,ou=Chemistry,${PEOPLE}`);
    const report = await sync(gateway, 'campus-ldap');
    expect(report.names.refused).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ username: 'kai', dn: `uid=kai,ou=Chemistry,${PEOPLE}` }),
        { username: 'kai', dn: personDn(kai), reason: 'another entry of this page has the same username' },
      ]),
    );
    expect(report.disabled).toBe(0);
    expect((await personOf(gateway, 'kai'))!).toMatchObject({ status: 'active', units: ['campus/physics'] });
  });
});

describe('a directory rebuilt with new entry ids', () => {
  it('disables nobody and says what to do', async () => {
    const rebuilt = await startTestSlapd({
      activeDirectoryLike: true,
      ldif: ['cy', 'dee', 'eli'].map((uid) => adUser({ uid, name: `Person ${uid}` })).join('\n'),
    });
    try {
      await register(gateway, 'rebuilt-ad', rebuilt.url, { preset: 'active-directory' });
      expect((await sync(gateway, 'rebuilt-ad')).added).toBe(3);
      for (const uid of ['cy', 'dee', 'eli'])
        await rebuilt.admin((c) =>
          c.modify(
            personDn({ uid }, 'cn'),
            new Change({
              operation: 'replace',
              modification: new Attribute({ type: 'objectGUID', values: [randomBytes(16)] }),
            }),
          ),
        );
      const report = await sync(gateway, 'rebuilt-ad');
      expect(report).toMatchObject({ outcome: 'failure', disabled: 0 });
      expect(report.error).toMatch(
        /^3 of the 3 entries read carry the username of someone whose entry had another objectGUID: the directory looks rebuilt with new entry ids\. Nobody was disabled/,
      );
      for (const uid of ['cy', 'dee', 'eli']) expect((await personOf(gateway, uid))!.status).toBe('active');
    } finally {
      await rebuilt.stop();
    }
  });
});
