import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { updateDirectory } from '../../gateway/directories/update-directory.ts';
import { BrowserAgent, filledFormWithAction, mainText, submitFilled } from '../helpers/browser-agent.ts';
import { runAtrium } from '../helpers/cli.ts';
import { signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { group, groupDn, inetOrgPerson, ouLdif, PEOPLE, personDn, startTestSlapd, SUFFIX } from '../helpers/slapd.ts';
import type { TestSlapd } from '../helpers/slapd.ts';
import { asOperator, personOf, register, sealerOf, sync } from './fixtures.ts';

/**
 * A narrowed user base (or filter) makes most of a directory's people look gone at once. A sync that would
 * disable, or move to other units, more than the directory's mass change limit (10% of its active people,
 * and more than 5 of them) changes nothing and says so, until an administrator confirms that one sync; a
 * dry run says what a sync would do without doing it.
 */
let gateway: TestGateway;
let ldap: TestSlapd;

const HISTORY = ['Arts', 'History'];
const colleges: Record<string, string[]> = {
  History: ['hana', 'hugo', 'hedda', 'hank', 'holly'],
  Music: ['mia', 'milo', 'mona'],
  CS: ['cora', 'cyd', 'cato', 'cleo', 'cyril', 'cass', 'cole', 'cruz'],
  EE: ['ivo', 'eddy', 'elsa', 'emil', 'enzo', 'esme', 'evan', 'ezra'],
};
const ousOf = (college: string) =>
  college === 'History' || college === 'Music' ? ['Arts', college] : ['Eng', college];
const everyone = Object.entries(colleges).flatMap(([college, uids]) =>
  uids.map((uid) => ({ uid, ous: ousOf(college) })),
);
const HISTORY_BASE = `ou=History,ou=Arts,${PEOPLE}`;

const atrium = (...args: string[]) => runAtrium(gateway.db, ['directories', ...args]);
const setUserBase = (userBase: string) =>
  updateDirectory(asOperator(gateway), sealerOf(gateway), 'campus-ldap', { userBase });
const disabledPeople = () => gateway.models.User.count({ where: { status: 'disabled' } });
const lastReport = async () =>
  JSON.parse((await gateway.models.Directory.findOne({ where: { name: 'campus-ldap' } }))!.lastReport!);
const audited = (action: string) =>
  gateway.models.AuditEvent.findAll({ where: { action, target: 'campus-ldap' }, order: [['id', 'ASC']] });

beforeAll(async () => {
  gateway = await startTestGateway('dir-mass-change', { LOGIN_IP_LIMIT: '1000' });
  ldap = await startTestSlapd({
    ldif: [
      ouLdif(Object.keys(colleges).map(ousOf)),
      ...everyone.map((p) => inetOrgPerson({ uid: p.uid, name: `${p.uid} Person`, ous: p.ous })),
      group('admins', [personDn({ uid: 'ivo', ous: ['Eng', 'EE'] })]),
    ].join('\n'),
  });
  await register(gateway, 'campus-ldap', ldap.url, { roleGroups: [`admin=${groupDn('admins')}`] });
  expect(await sync(gateway, 'campus-ldap')).toMatchObject({ outcome: 'success', added: 24 });
});
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
});

describe('a sync over the mass change limit', () => {
  it('changes nothing after a narrowed user base, and says so with exit status 2', async () => {
    await setUserBase(HISTORY_BASE);
    const stopped = await atrium('sync', 'campus-ldap');
    expect(stopped.code).toBe(2);
    expect(stopped.stderr).toContain(
      "this sync would disable 19 of the directory's 24 active people (79%) and move 5 of them to other units (21%), " +
        "over the directory's mass change limit (more than 10% of its active people and more than 5 of them in one sync)",
    );
    expect(stopped.stderr).toContain('atrium directories sync campus-ldap --dry-run');
    expect(stopped.stderr).toMatch(/Nothing was changed\./);
    expect(stopped.stderr).toMatch(/^Would disable: .*\bivo\b/m);
    expect(stopped.stderr).toMatch(/^Would move to another unit: .*\bhana \(campus\/arts\/history → campus\)/m);
    expect(await disabledPeople()).toBe(0);
    expect((await personOf(gateway, 'hana'))!.units).toEqual(['campus/arts/history']);
    expect((await personOf(gateway, 'ivo'))!.roles).toEqual(['admin']);
    const event = (await audited('directory.sync')).at(-1)!;
    expect(event.outcome).toBe('failure');
    expect(JSON.parse(event.details!).massChange).toMatchObject({ active: 24, disabling: 19, moving: 5, over: true });
  });

  it('is said by a dry run, which changes nothing, the last report included', async () => {
    const before = await lastReport();
    const dry = await atrium('sync', 'campus-ldap', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(
      /^Dry run of campus-ldap \(nothing was changed\) in [\d.]+ s: 5 entries; a sync now would add 0, update 5 \(5 of them moved to another unit\), leave 0 unchanged, disable 19,/,
    );
    expect(dry.stdout).toContain('It would stop there and change nothing');
    expect(dry.stdout).toMatch(/^Would disable: .*\bcora\b/m);
    expect(await lastReport()).toEqual(before);
    expect(await audited('directory.dry_run')).toHaveLength(1);
    expect(await disabledPeople()).toBe(0);
  });

  it('goes through once an administrator confirms that one sync', async () => {
    const confirmed = await atrium('sync', 'campus-ldap', '--allow-mass-change');
    expect(confirmed.code, confirmed.stderr).toBe(0);
    expect(confirmed.stdout).toMatch(/5 updated, 0 unchanged, 19 disabled/);
    expect(await disabledPeople()).toBe(19);
    const event = (await audited('directory.sync')).at(-1)!;
    expect(JSON.parse(event.details!).massChange).toMatchObject({ over: true, allowed: true });
    // Back to the whole directory: re-enabling and moving five back is within the limit.
    await setUserBase(PEOPLE);
    expect(await sync(gateway, 'campus-ldap')).toMatchObject({ outcome: 'success', reenabled: 19, updated: 5 });
    expect(await disabledPeople()).toBe(0);
  });

  it('guards a mass move alone, such as a user base widened above the OUs', async () => {
    await setUserBase(SUFFIX);
    const report = await sync(gateway, 'campus-ldap');
    expect(report).toMatchObject({ outcome: 'failure', updated: 0, disabled: 0 });
    expect(report.error).toContain(
      "this sync would move 24 of its 24 active people to other units (100%), over the directory's",
    );
    expect((await personOf(gateway, 'cora'))!.units).toEqual(['campus/eng/cs']);
    await setUserBase(PEOPLE);
  });
});

describe('the console', () => {
  let admin: BrowserAgent;
  const PAGE = '/admin/directories/campus-ldap';
  const open = () => admin.navigate(`${gateway.issuer}${PAGE}`);

  beforeAll(async () => {
    admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
  });

  it('says a stopped sync, shows a dry run, and syncs past the limit only with the box ticked', async () => {
    await setUserBase(HISTORY_BASE);
    let page = await open();
    page = await submitFilled(admin, page, filledFormWithAction(page, `${PAGE}/sync`));
    expect(mainText(page)).toContain('Sync of campus-ldap stopped after');
    expect(mainText(page)).toContain('tick "Disable and move them anyway" and sync now');
    expect(page.html).toContain('name="allowMassChange"');
    expect(await disabledPeople()).toBe(0);

    const dry = await submitFilled(admin, page, filledFormWithAction(page, `${PAGE}/dry-run`));
    expect(mainText(dry)).toMatch(/Dry run of campus-ldap \(nothing was changed\) .* disable 19,/);
    expect(mainText(dry)).toMatch(/Would move to another unit: .*hana \(campus\/arts\/history → campus\)/);

    page = await open();
    page = await submitFilled(admin, page, filledFormWithAction(page, `${PAGE}/sync`), { allowMassChange: 'yes' });
    expect(mainText(page)).toMatch(
      /Synced campus-ldap in [\d.]+ s: 5 entries; 0 added, 5 updated, 0 unchanged, 19 disabled/,
    );
    expect(await disabledPeople()).toBe(19);
    await setUserBase(PEOPLE);
    expect(await sync(gateway, 'campus-ldap')).toMatchObject({ outcome: 'success', reenabled: 19 });
  });
});

describe('the mass change limit', () => {
  it('is a setting of each directory, shown and changed like the others', async () => {
    const changed = await atrium('update', 'campus-ldap', '--mass-change-limit', '25%');
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toContain('Changed: mass change limit 10% → 25%.');
    expect(changed.stdout).toContain(
      'mass changes:  a sync stops, changing nothing, before it disables or moves more than 25% of the active people (and more than 5)',
    );
    const bad = await atrium('update', 'campus-ldap', '--mass-change-limit', 'most');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('a percentage from 1 to 100, or off');
    const off = await updateDirectory(asOperator(gateway), sealerOf(gateway), 'campus-ldap', {
      massChangeLimit: 'off',
    });
    expect(off).toMatchObject({
      massChangeLimit: null,
      changes: [{ field: 'massChangeLimit', before: '25%', after: 'off' }],
    });
  });
});
