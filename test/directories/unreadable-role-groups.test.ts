import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { updateDirectory } from '../../gateway/directories/update-directory.ts';
import { summarize } from '../../gateway/directories/sync-report.ts';
import { runAtrium } from '../helpers/cli.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import {
  adUser,
  group,
  groupDn,
  inetOrgPerson,
  ouLdif,
  PEOPLE,
  personDn,
  startTestSlapd,
  type TestSlapd,
} from '../helpers/slapd.ts';
import {
  alertOf,
  asOperator,
  personOf,
  register,
  sealerOf,
  type SignInGateway,
  startSignInGateway,
  sync,
} from './fixtures.ts';

/**
 * A role group that cannot be read (its DN mistyped, the group deleted, or hidden from the service account)
 * would take its role from every member: staff would become students, the directory's administrators would
 * lose the console. The sync stops before it changes anything and names the group, as when the directory
 * does not answer; a first sign-in that needs the group is told to try again.
 */
let gateway: TestGateway;
let attempt: SignInGateway['attempt'];
let ldap: TestSlapd;

const STAFF = groupDn('staff');
const ADMINS = groupDn('admins');
/** A group the service account may not see (slapd answers "no such object" for it, as ACLs make it). */
const HIDDEN = groupDn('hidden-admins');
const AD_STAFF = groupDn('ad-staff');
const ROLE_GROUPS = [`staff=${STAFF}`, `admin=${ADMINS}`];

const sofia = { uid: 'sofia', name: 'Sofia Sand', ous: ['Ldap'] };
const aaron = { uid: 'aaron', name: 'Aaron Abbe', ous: ['Ldap'] };
const pia = { uid: 'pia', name: 'Pia Pohl', ous: ['Ldap'] };
const ben = { uid: 'ben', name: 'Ben Berg', ous: ['Ad'], memberOf: [AD_STAFF] };

const setRoleGroups = (name: string, roleGroups: string[]) =>
  updateDirectory(asOperator(gateway), sealerOf(gateway), name, { roleGroups });

beforeAll(async () => {
  ({ gateway, attempt } = await startSignInGateway('dir-unreadable-role-groups', 'Timetable', 5));
  ldap = await startTestSlapd({
    activeDirectoryLike: true,
    databaseLines: [`access to dn.base="${HIDDEN}" by * none`, 'access to * by * read'],
    ldif: [
      ouLdif([['Ldap'], ['Ad']]),
      inetOrgPerson(sofia),
      inetOrgPerson(aaron),
      inetOrgPerson(pia),
      adUser(ben),
      group('staff', [personDn(sofia)]),
      group('admins', [personDn(aaron)]),
      group('hidden-admins', [personDn(aaron)]),
      `dn: ${AD_STAFF}\nobjectClass: group\ncn: ad-staff\n`,
    ].join('\n'),
  });
  await register(gateway, 'campus-ldap', ldap.url, { userBase: `ou=Ldap,${PEOPLE}`, roleGroups: ROLE_GROUPS });
  await register(gateway, 'campus-ad', ldap.url, {
    preset: 'active-directory',
    userBase: `ou=Ad,${PEOPLE}`,
    roleGroups: [`staff=${AD_STAFF}`],
  });
  expect(await sync(gateway, 'campus-ldap')).toMatchObject({ outcome: 'success', added: 3 });
  expect(await sync(gateway, 'campus-ad')).toMatchObject({ outcome: 'success', added: 1 });
  expect((await personOf(gateway, 'sofia'))!.roles).toEqual(['staff']);
  expect((await personOf(gateway, 'aaron'))!.roles).toEqual(['admin']);
});
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
});

describe('a role group that cannot be read', () => {
  it('stops the sync before it changes anything, naming the group and its role', async () => {
    const typo = groupDn('staf');
    await setRoleGroups('campus-ldap', [`staff=${typo}`, `admin=${ADMINS}`]);
    // What the sync would otherwise bring in: a new name for Pia.
    await ldap.replace(personDn(pia), 'displayName', ['Pia Pohl-Park']);
    const report = await sync(gateway, 'campus-ldap');
    expect(report).toMatchObject({ outcome: 'failure', updated: 0, disabled: 0 });
    expect(report.error).toContain(
      `the staff role group ${typo} (the directory has no such entry) cannot be read, so its members would lose the role`,
    );
    expect(summarize(report)).toMatch(/Nothing was changed\.$/);
    expect((await personOf(gateway, 'sofia'))!.roles).toEqual(['staff']);
    expect((await personOf(gateway, 'pia'))!.user.displayName).toBe('Pia Pohl');

    const cli = await runAtrium(gateway.db, ['directories', 'sync', 'campus-ldap']);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain(`the staff role group ${typo}`);
  });

  it('stops it for an admin group hidden from the service account, whose members keep the console', async () => {
    await setRoleGroups('campus-ldap', [`staff=${STAFF}`, `admin=${HIDDEN}`]);
    const report = await sync(gateway, 'campus-ldap');
    expect(report.outcome).toBe('failure');
    expect(report.error).toContain(`the admin role group ${HIDDEN}`);
    expect((await personOf(gateway, 'aaron'))!.roles).toEqual(['admin']);
  });

  it("stops it when the people's groups come from their memberOf too", async () => {
    const typo = groupDn('ad-staf');
    await setRoleGroups('campus-ad', [`staff=${typo}`]);
    const report = await sync(gateway, 'campus-ad');
    expect(report.outcome).toBe('failure');
    expect(report.error).toContain(`the staff role group ${typo}`);
    expect((await personOf(gateway, 'ben'))!.roles).toEqual(['staff']);
  });

  it('tells someone new at their first sign-in to try again, and brings nobody in', async () => {
    await ldap.addEntry(personDn({ uid: 'nina', ous: ['Ldap'] }), {
      objectClass: 'inetOrgPerson',
      uid: 'nina',
      cn: 'Nina Nord',
      sn: 'Nord',
      mail: 'nina@campus.test',
      userPassword: 'nina-directory-pw',
    });
    const page = await attempt('nina', 'nina-directory-pw');
    expect(page.status).toBe(503);
    expect(alertOf(page)).toMatch(/not answering right now/);
    expect(await personOf(gateway, 'nina')).toBeNull();
  });

  it('is fixed by the right DN: the next sync goes on', async () => {
    await setRoleGroups('campus-ldap', ROLE_GROUPS);
    expect(await sync(gateway, 'campus-ldap')).toMatchObject({ outcome: 'success', added: 1, updated: 1 });
    expect((await personOf(gateway, 'sofia'))!.roles).toEqual(['staff']);
  });
});
