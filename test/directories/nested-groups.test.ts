import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directorySettingsOf } from '../../gateway/directories/settings.ts';
import { syncDirectory } from '../../gateway/directories/sync-directory.ts';
import { summarize } from '../../gateway/directories/sync-report.ts';
import { testDirectory } from '../../gateway/directories/test-directory.ts';
import { updateDirectory } from '../../gateway/directories/update-directory.ts';
import { filledFormWithAction, submitFilled } from '../helpers/browser-agent.ts';
import { jsonOf, runAtrium } from '../helpers/cli.ts';
import { signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import {
  adUser,
  entry,
  GROUPS,
  groupDn,
  inetOrgPerson,
  PEOPLE,
  personDn,
  SERVICE_DN,
  SERVICE_PASSWORD,
  startTestSlapd,
  type TestSlapd,
} from '../helpers/slapd.ts';
import { asOperator, personOf, RESET_URL, register, sealerOf } from './fixtures.ts';

/**
 * A role group's role goes to the members of the groups nested in it too, at any depth up to 16
 * levels: staff ⊃ faculty ⊃ library-staff ⊃ ben. Directories registered before this existed keep
 * direct membership until it is turned on.
 */
let gateway: TestGateway;
let ldap: TestSlapd;
let ad: TestSlapd;

const dnOf = (uid: string) => personDn({ uid });
/** A chain deep-0 ⊃ deep-1 ⊃ … ⊃ deep-17: gus in deep-16 (16 levels down), fay in deep-17 (one more). */
const DEEP = 17;
const deepDn = (i: number) => groupDn(`deep-${i}`);
const groupOfNames = (cn: string, members: string[]) =>
  entry(groupDn(cn), { objectClass: 'groupOfNames', cn, member: members });

/** AD's `group` (ad-lite.schema): the groups it is in are its own memberOf. */
const adGroupDn = (cn: string) => `CN=${cn},OU=Groups,DC=campus,DC=test`;
const adGroup = (cn: string, memberOf: string[] = []) =>
  entry(adGroupDn(cn), { objectClass: 'group', cn, ...(memberOf.length > 0 ? { memberOf } : {}) });

/** What a sync writes to the log at warn level and above. */
function capturedLogger() {
  const lines: { msg: string; group?: string }[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { logger: pino({ level: 'warn' }, stream), lines };
}

const syncWith = (name: string, logger = capturedLogger().logger) =>
  syncDirectory(asOperator(gateway), { sealer: sealerOf(gateway), logger }, name);
const rolesOf = async (username: string) => (await personOf(gateway, username))?.roles;

beforeAll(async () => {
  gateway = await startTestGateway('dir-nested', { LOGIN_IP_LIMIT: '1000' });
  const people = ['ana', 'ben', 'dan', 'eve', 'fay', 'gus'];
  ldap = await startTestSlapd({
    ldif: [
      ...people.map((uid) => inetOrgPerson({ uid })),
      // A group deleted without its memberships (no referential integrity) is named in staff.
      groupOfNames('staff', [groupDn('faculty'), groupDn('deleted')]),
      groupOfNames('faculty', [groupDn('library-staff'), dnOf('ana')]),
      groupOfNames('library-staff', [dnOf('ben')]),
      // A cycle: admins ⊃ ops ⊃ admins.
      groupOfNames('admins', [groupDn('ops')]),
      groupOfNames('ops', [groupDn('admins'), dnOf('dan')]),
      // A sibling of faculty that no role group holds.
      groupOfNames('visitors', [dnOf('eve')]),
      ...Array.from({ length: DEEP + 1 }, (_, i) =>
        groupOfNames(`deep-${i}`, [i < DEEP ? deepDn(i + 1) : dnOf('fay'), ...(i === DEEP - 1 ? [dnOf('gus')] : [])]),
      ),
    ].join('\n'),
  });
  ad = await startTestSlapd({
    activeDirectoryLike: true,
    ldif: [
      adGroup('Staff'),
      adGroup('Faculty', [adGroupDn('Staff')]),
      adGroup('Library staff', [adGroupDn('Faculty')]),
      adGroup('Admins', [adGroupDn('Ops')]),
      adGroup('Ops', [adGroupDn('Admins')]),
      adGroup('Visitors'),
      adGroup('Guests', [adGroupDn('Visitors')]),
      adUser({ uid: 'ava', memberOf: [adGroupDn('Faculty')] }),
      adUser({ uid: 'bo', memberOf: [adGroupDn('Library staff')] }),
      adUser({ uid: 'dee', memberOf: [adGroupDn('Ops')] }),
      adUser({ uid: 'eli', memberOf: [adGroupDn('Guests')] }),
    ].join('\n'),
  });
});
afterAll(async () => {
  await ldap?.stop();
  await ad?.stop();
  await gateway?.stop();
});

const memberRoleGroups = [
  `staff=${groupDn('staff')}`,
  `admin=${groupDn('admins')}`,
  `unit-admin:campus/library=${deepDn(0)}`,
];

describe('a directory registered before nested groups were followed', () => {
  it('keeps direct membership until nested groups are turned on, then follows them', async () => {
    await register(gateway, 'campus-ldap', ldap.url, { groupBase: GROUPS, roleGroups: memberRoleGroups });
    // A registration stored by the version before has no nestedGroups in its settings.
    const row = (await gateway.models.Directory.findOne({ where: { name: 'campus-ldap' } }))!;
    const before = JSON.parse(row.settings) as Record<string, unknown>;
    delete before.nestedGroups;
    await row.update({ settings: JSON.stringify(before) });
    expect(directorySettingsOf(row).nestedGroups).toBe(false);

    expect(await syncWith('campus-ldap')).toMatchObject({ outcome: 'success', added: 6 });
    expect(await rolesOf('ana')).toEqual(['student']);
    expect(await rolesOf('ben')).toEqual(['student']);
    expect(await rolesOf('dan')).toEqual(['student']);

    const updated = await updateDirectory(asOperator(gateway), sealerOf(gateway), 'campus-ldap', {
      nestedGroups: 'on',
    });
    expect(updated.nestedGroups).toBe(true);
    expect(await syncWith('campus-ldap')).toMatchObject({ outcome: 'success' });
    expect(await rolesOf('ben')).toEqual(['staff']);
  });
});

describe('nested groups in member mode', () => {
  it('gives the role to the members of groups nested in the role group, two levels down too', async () => {
    const { logger, lines } = capturedLogger();
    const report = await syncWith('campus-ldap', logger);
    expect(report).toMatchObject({ outcome: 'success', refused: 0 });
    expect(await rolesOf('ana')).toEqual(['staff']);
    expect(await rolesOf('ben')).toEqual(['staff']);
    // The deleted group named in staff is a line in the log and in the report, not a failed sync.
    expect(lines).toContainEqual(expect.objectContaining({ group: groupDn('deleted') }));
    expect(report.groupNotes).toContainEqual(expect.stringMatching(/^cn=deleted,ou=Groups,.*: .*cannot be read/));
    expect(summarize(report)).toMatch(/; \d+ groups? gave no role through (it|them)\.$/);
  });

  it('ends a cycle of groups, and gives nothing to the members of a group no role group holds', async () => {
    expect(await rolesOf('dan')).toEqual(['admin']);
    expect(await rolesOf('eve')).toEqual(['student']);
  });

  it('follows 16 levels and logs the group below them instead of following it', async () => {
    const { logger, lines } = capturedLogger();
    expect(await syncWith('campus-ldap', logger)).toMatchObject({ outcome: 'success' });
    expect(await rolesOf('gus')).toEqual(['student', 'unit-admin']);
    expect(await rolesOf('fay')).toEqual(['student']);
    expect(lines).toContainEqual(
      expect.objectContaining({ group: deepDn(DEEP), msg: expect.stringContaining('not followed') }),
    );
  });

  it('finds the same groups without a group base: members outside the user base are looked at', async () => {
    await updateDirectory(asOperator(gateway), sealerOf(gateway), 'campus-ldap', { groupBase: '' });
    await ldap.replace(groupDn('library-staff'), 'member', [dnOf('ben'), dnOf('eve')]);
    expect(await syncWith('campus-ldap')).toMatchObject({ outcome: 'success' });
    expect(await rolesOf('eve')).toEqual(['staff']);
    expect(await rolesOf('gus')).toEqual(['student', 'unit-admin']);
  });

  it('says in a test how many groups are nested in the role groups', async () => {
    const result = await testDirectory(asOperator(gateway), sealerOf(gateway), 'campus-ldap');
    // faculty and library-staff in staff, ops in admins (admins in ops is the cycle back), deep-1 … deep-16.
    expect(result).toMatchObject({ ok: true, nestedGroups: 3 + 16 });
    expect(result.groupNotes).toContainEqual(expect.stringContaining(deepDn(DEEP)));
  });

  it('names the groups that gave no role in the last report, in the CLI and on the console', async () => {
    const shown = await runAtrium(gateway.db, ['directories', 'show', 'campus-ldap']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^Gave no role: cn=deleted,ou=Groups,.*cannot be read/m);
    expect(shown.stdout).toMatch(new RegExp(`^Gave no role: ${deepDn(DEEP)}: .*not followed`, 'm'));
    const admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
    const page = await admin.navigate(`${gateway.issuer}/admin/directories/campus-ldap`);
    expect(page.html).toMatch(/<ul class="group-notes"><li>cn(=|&#x3D;)deleted,[^<]*cannot be read/);
  });
});

describe('nested groups in memberOf mode', () => {
  beforeAll(async () => {
    await register(gateway, 'campus-ad', ad.url, {
      preset: 'active-directory',
      userBase: PEOPLE,
      roleGroups: [`staff=${adGroupDn('Staff')}`, `admin=${adGroupDn('Admins')}`],
    });
  });

  it('gives the role to people whose groups are nested in the role group, two levels down too', async () => {
    expect(await syncWith('campus-ad')).toMatchObject({ outcome: 'success', added: 4 });
    expect(await rolesOf('ava')).toEqual(['staff']);
    expect(await rolesOf('bo')).toEqual(['staff']);
  });

  it('ends a cycle of groups, and gives nothing through a group no role group holds', async () => {
    expect(await rolesOf('dee')).toEqual(['admin']);
    expect(await rolesOf('eli')).toEqual(['student']);
  });

  it('keeps direct membership while nested groups are off', async () => {
    const change = (nestedGroups: string) =>
      updateDirectory(asOperator(gateway), sealerOf(gateway), 'campus-ad', { nestedGroups });
    await change('off');
    expect(await syncWith('campus-ad')).toMatchObject({ outcome: 'success' });
    expect(await rolesOf('bo')).toEqual(['student']);
    expect(await rolesOf('dee')).toEqual(['student']);
    await change('on');
    expect(await syncWith('campus-ad')).toMatchObject({ outcome: 'success' });
    expect(await rolesOf('bo')).toEqual(['staff']);
  });
});

describe('a group base the directory has no entry for, in memberOf mode', () => {
  it("says so in plain words in a test, without the LDAP library's words", async () => {
    const nowhere = 'OU=Nowhere,DC=campus,DC=test';
    const change = (groupBase: string) =>
      updateDirectory(asOperator(gateway), sealerOf(gateway), 'campus-ad', { groupBase });
    await change(nowhere);
    try {
      const result = await testDirectory(asOperator(gateway), sealerOf(gateway), 'campus-ad');
      expect(result.groupNotes).toContain(
        `${adGroupDn('Staff')}: the groups in it cannot be searched for: the directory has no entry ${nowhere}: ` +
          'check the group base',
      );
      expect(result.groupNotes.join('\n')).not.toMatch(/Code: 0x|NoSuchObject|cannot be found\./);
    } finally {
      await change('');
    }
  });
});

describe('the setting', () => {
  it('is on for a new registration', async () => {
    const added = await register(gateway, 'fresh-ldap', ldap.url, { userBase: `ou=Nobody,${PEOPLE}` });
    expect(added.nestedGroups).toBe(true);
  });

  it('is set by atrium directories add and update --nested-groups on|off, and shown', async () => {
    const args = [
      ...['directories', 'add', 'cli-ldap', '--url', ldap.url, '--starttls', 'no', '--bind-dn', SERVICE_DN],
      ...['--bind-password-stdin', '--user-base', `ou=Nobody,${PEOPLE}`, '--unit-root', 'campus'],
      ...['--reset-url', RESET_URL, '--nested-groups', 'off', '--json'],
    ];
    const added = await runAtrium(gateway.db, args, { stdin: `${SERVICE_PASSWORD}\n` });
    expect(added.code, added.stderr).toBe(0);
    expect(jsonOf(added).nestedGroups).toBe(false);
    const on = await runAtrium(gateway.db, ['directories', 'update', 'cli-ldap', '--nested-groups', 'on']);
    expect(on.code, on.stderr).toBe(0);
    expect(on.stdout).toContain('nested groups followed');
    const row = await gateway.models.Directory.findOne({ where: { name: 'cli-ldap' } });
    expect(directorySettingsOf(row!).nestedGroups).toBe(true);
    const bad = await runAtrium(gateway.db, ['directories', 'update', 'cli-ldap', '--nested-groups', 'maybe']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('on or off');
  });

  it("is the console form's checkbox, ticked for a new directory", async () => {
    const admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
    const form = await admin.navigate(`${gateway.issuer}/admin/directories/new`);
    const filled = filledFormWithAction(form, '/admin/directories');
    expect(filled.entries).toContainEqual(['nestedGroups', 'on']);
    const page = await submitFilled(admin, form, filled, {
      name: 'console-ldap',
      url: ldap.url,
      startTls: 'no',
      bindDn: SERVICE_DN,
      bindPassword: SERVICE_PASSWORD,
      userBase: `ou=Nobody,${PEOPLE}`,
      resetUrl: RESET_URL,
      nestedGroups: [],
    });
    expect(page.url).toBe(`${gateway.issuer}/admin/directories/console-ldap`);
    const settings = async () =>
      directorySettingsOf((await gateway.models.Directory.findOne({ where: { name: 'console-ldap' } }))!);
    expect((await settings()).nestedGroups).toBe(false);
    expect(filledFormWithAction(page, '/admin/directories/console-ldap').entries).not.toContainEqual([
      'nestedGroups',
      'on',
    ]);
    const saved = await submitFilled(admin, page, filledFormWithAction(page, '/admin/directories/console-ldap'), {
      nestedGroups: 'on',
    });
    expect((await settings()).nestedGroups).toBe(true);
    expect(filledFormWithAction(saved, '/admin/directories/console-ldap').entries).toContainEqual([
      'nestedGroups',
      'on',
    ]);
  });
});
