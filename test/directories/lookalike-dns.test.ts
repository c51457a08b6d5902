import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import {
  adUser,
  entry,
  group,
  groupDn,
  ouLdif,
  PEOPLE,
  startTestSlapd,
  SUFFIX,
  type TestSlapd,
} from '../helpers/slapd.ts';
import { personOf, register, sync } from './fixtures.ts';

/**
 * Whoever may create a directory entry can choose its RDN, and an RDN may spell a whole DN with escaped
 * commas (`cn=Boss\,ou=Staff` directly under ou=People reads like cn=Boss,ou=Staff,ou=People). Roles
 * follow the real DN only.
 */
let gateway: TestGateway;
let ldap: TestSlapd;
let ad: TestSlapd;

const bossDn = `cn=Boss,ou=Staff,${PEOPLE}`;
const mimicDn = `cn=Boss\\,ou=Staff,${PEOPLE}`;
const adminsDn = `cn=Admins,ou=Groups,${SUFFIX}`;
// A group directly under the suffix whose cn is the text "Admins,ou=Groups".
const mimicAdminsDn = `cn=Admins\\,ou=Groups,${SUFFIX}`;

const person = (dn: string, uid: string, cn: string) =>
  entry(dn, { objectClass: 'inetOrgPerson', uid, cn, sn: uid, mail: `${uid}@campus.test` });

beforeAll(async () => {
  gateway = await startTestGateway('dir-lookalike-dns');
  ldap = await startTestSlapd({
    ldif: [
      ouLdif([['Staff']]),
      person(bossDn, 'boss', 'Boss'),
      person(mimicDn, 'mallory', 'Boss,ou=Staff'),
      group('admins', [bossDn]),
    ].join('\n'),
  });
  ad = await startTestSlapd({
    activeDirectoryLike: true,
    ldif: [
      entry(adminsDn, { objectClass: 'group', cn: 'Admins' }),
      adUser({ uid: 'chief', memberOf: [adminsDn] }),
      adUser({ uid: 'trudy', memberOf: [mimicAdminsDn] }),
    ].join('\n'),
  });
  await register(gateway, 'campus-ldap', ldap.url, { roleGroups: [`admin=${groupDn('admins')}`] });
  await register(gateway, 'campus-ad', ad.url, { preset: 'active-directory', roleGroups: [`admin=${adminsDn}`] });
});
afterAll(async () => {
  await ldap?.stop();
  await ad?.stop();
  await gateway?.stop();
});

describe('an entry whose RDN spells another DN', () => {
  it("does not get the role of a group it is not in because it spells a member's DN", async () => {
    const report = await sync(gateway, 'campus-ldap');
    expect(report.added).toBe(2);
    expect((await personOf(gateway, 'boss'))!.roles).toEqual(['admin']);
    expect((await personOf(gateway, 'mallory'))!.roles).toEqual(['student']);
  });

  it("does not get a mapped group's role through a group whose RDN spells the mapped group's DN (memberOf)", async () => {
    const report = await sync(gateway, 'campus-ad');
    expect(report.added).toBe(2);
    expect((await personOf(gateway, 'chief'))!.roles).toEqual(['admin']);
    expect((await personOf(gateway, 'trudy'))!.roles).toEqual(['student']);
  });
});
