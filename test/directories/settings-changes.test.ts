import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent, filledFormWithAction, mainText, submitFilled } from '../helpers/browser-agent.ts';
import { runAtrium } from '../helpers/cli.ts';
import { signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { inetOrgPerson, ouLdif, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { showDirectory } from '../../gateway/directories/list-directories.ts';
import { PRESET_DEFAULTS } from '../../gateway/directories/presets.ts';
import { asOperator, register, sync } from './fixtures.ts';

/**
 * What an update of a directory's settings says it changed, and what it keeps: a change of preset gives
 * the new preset's values only to the fields that held the old one's, never to one an administrator set.
 */
let gateway: TestGateway;
let ldap: TestSlapd;

/** Leaves out the accounts the directory's administrators locked (the test's stand-in for ppolicy's lock). */
const NOT_LOCKED = '(&(objectClass=inetOrgPerson)(!(employeeType=locked)))';

const update = (...options: string[]) => runAtrium(gateway.db, ['directories', 'update', 'campus-ldap', ...options]);
const shown = () => showDirectory(asOperator(gateway), 'campus-ldap');

beforeAll(async () => {
  gateway = await startTestGateway('dir-settings-changes', { LOGIN_IP_LIMIT: '1000' });
  ldap = await startTestSlapd({
    ldif: [
      ouLdif([['Library']]),
      inetOrgPerson({ uid: 'ana', name: 'Ana Alves', ous: ['Library'] }),
      inetOrgPerson({ uid: 'ben', name: 'Ben Berg', ous: ['Library'] }),
      inetOrgPerson({ uid: 'lars', name: 'Lars Locked', ous: ['Library'], extra: { employeeType: 'locked' } }),
    ].join('\n'),
  });
  await register(gateway, 'campus-ldap', ldap.url, { userFilter: NOT_LOCKED });
  expect(await sync(gateway, 'campus-ldap')).toMatchObject({ outcome: 'success', added: 2 });
});
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
});

describe('a change of preset', () => {
  it('keeps a user filter an administrator set, and says what it changed and what it kept', async () => {
    const toAd = await update('--preset', 'active-directory');
    expect(toAd.code, toAd.stderr).toBe(0);
    expect(toAd.stdout).toContain(
      'Saved directory campus-ldap. Changed: preset openldap → active-directory; username attribute uid → sAMAccountName;',
    );
    expect(toAd.stdout).toContain('entry id attribute entryUUID → objectGUID');
    expect(toAd.stdout).toContain('Forgot the entry ids of 2 people');
    expect(toAd.stdout).toContain(`Kept as set, not the active-directory preset's: user filter ${NOT_LOCKED}`);
    expect((await shown()).userFilter).toBe(NOT_LOCKED);

    const back = await update('--preset', 'openldap');
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toContain(
      'Changed: preset active-directory → openldap; username attribute sAMAccountName → uid;',
    );
    expect(back.stdout).toContain(`Kept as set, not the openldap preset's: user filter ${NOT_LOCKED}`);
    const now = await shown();
    expect(now).toMatchObject({ userFilter: NOT_LOCKED, groupMembership: 'member' });
    expect(now.attributes).toMatchObject({
      username: 'uid',
      id: 'entryUUID',
      disabled: PRESET_DEFAULTS.openldap.disabledAttribute,
    });
    // The locked account stays out.
    expect(await sync(gateway, 'campus-ldap')).toMatchObject({ outcome: 'success', added: 0, disabled: 0 });
    expect(await gateway.models.User.count({ where: { username: 'lars' } })).toBe(0);
  });

  it('takes the new value of a field given with it', async () => {
    const changed = await update('--preset', 'active-directory', '--user-filter', '(objectClass=person)');
    expect(changed.stdout).toContain(`user filter ${NOT_LOCKED} → (objectClass=person)`);
    expect(changed.stdout).not.toContain('Kept as set');
    expect((await update('--preset', 'openldap', '--user-filter', NOT_LOCKED)).code).toBe(0);
  });

  it('follows the preset on the console for the fields left as shown, and says what changed', async () => {
    const admin: BrowserAgent = (await signInToConsole(gateway.issuer, 'admin')).agent;
    const path = '/admin/directories/campus-ldap';
    const page = await admin.navigate(`${gateway.issuer}${path}`);
    const saved = await submitFilled(admin, page, filledFormWithAction(page, path), { preset: 'active-directory' });
    const text = mainText(saved);
    expect(text).toContain('Changed: preset openldap → active-directory; username attribute uid → sAMAccountName;');
    expect(text).toContain(`Kept as set, not the active-directory preset's: user filter ${NOT_LOCKED}`);
    expect((await shown()).attributes.username).toBe('sAMAccountName');
    expect((await update('--preset', 'openldap')).code).toBe(0);
  });
});

describe('an update that forgets entry ids', () => {
  it('says no sync runs, since its own hold of the directory is none', async () => {
    expect(await sync(gateway, 'campus-ldap')).toMatchObject({ outcome: 'success', disabled: 0 });
    const updated = await update('--id-attribute', 'uid');
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.stdout).toContain('entry id attribute entryUUID → uid');
    expect(updated.stdout).not.toContain('[sync running]');
    expect(await sync(gateway, 'campus-ldap')).toMatchObject({ outcome: 'success', disabled: 0 });
    const json = await update('--id-attribute', 'entryUUID', '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ syncRunning: false, entryIdsCleared: 2 });
  });
});
