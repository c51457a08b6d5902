import { Attribute, Change, Client } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disabledOf } from '../../gateway/directories/disabled-flag.ts';
import { findDirectory } from '../../gateway/directories/find-directory.ts';
import { directorySettingsOf } from '../../gateway/directories/settings.ts';
import { summarize } from '../../gateway/directories/sync-report.ts';
import { testDirectory } from '../../gateway/directories/test-directory.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import {
  DS389_SCHEMA,
  entry,
  inetOrgPerson,
  ouLdif,
  personDn,
  startTestSlapd,
  SUFFIX,
  type TestSlapd,
} from '../helpers/slapd.ts';
import {
  alertOf,
  asOperator,
  type DirectoryPerson,
  directoryPerson,
  passedLogin,
  personOf,
  register,
  sealerOf,
  type SignInGateway,
  startSignInGateway,
  sync,
} from './fixtures.ts';

/**
 * A directory's own way of saying an account is disabled: OpenLDAP's ppolicy lock (pwdAccountLockedTime,
 * read by the openldap preset), 389 Directory Server's nsAccountLock: TRUE. A value that says neither is
 * reported, and disables nobody.
 */
let gateway: TestGateway;
let attempt: SignInGateway['attempt'];
let ldap: TestSlapd;
let ds: TestSlapd;

const POLICY = `cn=default,ou=Services,${SUFFIX}`;
const lars = directoryPerson('lars', 'Lars Locked');
const nora = directoryPerson('nora', 'Nora Nilsen');
const fiona = directoryPerson('fiona', 'Fiona Frost');
const pia = directoryPerson('pia', 'Pia Persson');
const people = [nora, fiona, pia];

const lockFor = (p: DirectoryPerson, time: string) => ldap.replace(personDn(p), 'pwdAccountLockedTime', [time]);
const unlock = (p: DirectoryPerson) =>
  ldap.admin((c) =>
    c.modify(
      personDn(p),
      new Change({ operation: 'delete', modification: new Attribute({ type: 'pwdAccountLockedTime', values: [] }) }),
    ),
  );
const statusOf = async (uid: string) => (await personOf(gateway, uid))?.status;

beforeAll(async () => {
  ({ gateway, attempt } = await startSignInGateway('dir-locked-entries', 'Locked Entries App', 5));
  ldap = await startTestSlapd({
    ldif: [
      entry(POLICY, {
        objectClass: ['pwdPolicy', 'person'],
        cn: 'default',
        sn: 'policy',
        pwdAttribute: 'userPassword',
        pwdLockout: 'TRUE',
        pwdMaxFailure: '2',
        pwdLockoutDuration: '600',
      }),
      ouLdif([['Library']]),
      inetOrgPerson({ ...lars, extra: { pwdAccountLockedTime: '000001010000Z' } }),
      ...people.map((p) => inetOrgPerson(p)),
    ].join('\n'),
    databaseLines: ['moduleload ppolicy', 'overlay ppolicy', `ppolicy_default "${POLICY}"`, 'ppolicy_use_lockout'],
  });
  // The openldap preset, nothing said of the disabled attribute.
  await register(gateway, 'campus-ldap', ldap.url);
});
afterAll(async () => {
  await ds?.stop();
  await ldap?.stop();
  await gateway?.stop();
});

describe('reading a disabled attribute', () => {
  const now = Date.UTC(2026, 11, 7, 12, 0, 0);
  const read = (attribute: string, value: string) => disabledOf(() => [value], { disabledAttribute: attribute }, now);

  it('reads each kind as its directory writes it', () => {
    expect(read('userAccountControl', '514')).toEqual({ disabled: true, problem: null });
    expect(read('userAccountControl', '512')).toEqual({ disabled: false, problem: null });
    expect(read('nsAccountLock', 'True').disabled).toBe(true);
    expect(read('nsAccountLock', 'FALSE').disabled).toBe(false);
    expect(read('pwdAccountLockedTime', '000001010000Z').disabled).toBe(true);
    expect(read('pwdAccountLockedTime', '20261207130000Z').disabled).toBe(true);
    // 13:30 at +02:00 is 11:30 UTC: past.
    expect(read('pwdAccountLockedTime', '202612071330+0200').disabled).toBe(false);
    expect(read('pwdAccountLockedTime', '20261207115959.5Z').disabled).toBe(false);
    // Any other attribute: its value says its kind.
    expect(read('employeeStatus', '2').disabled).toBe(true);
    expect(read('employeeStatus', 'TRUE').disabled).toBe(true);
    expect(read('employeeStatus', '000001010000Z').disabled).toBe(true);
  });

  it('says what it cannot read, and takes it for not disabled', () => {
    expect(read('userAccountControl', 'TRUE')).toEqual({
      disabled: false,
      problem: 'userAccountControl "TRUE" is not a number (bit 2 set: disabled)',
    });
    expect(read('pwdAccountLockedTime', '20261331000000Z').problem).toContain('is not a time');
    expect(read('nsAccountLock', '1').problem).toBe('nsAccountLock "1" is not TRUE or FALSE');
    expect(read('employeeStatus', 'left').problem).toContain('is not a number (bit 2 set: disabled), TRUE or FALSE');
  });
});

describe('an OpenLDAP directory with the ppolicy overlay', () => {
  it('reads pwdAccountLockedTime by default: an entry locked for good is not brought in', async () => {
    const s = directorySettingsOf(await findDirectory(asOperator(gateway), 'campus-ldap'));
    expect(s.disabledAttribute).toBe('pwdAccountLockedTime');
    const report = await sync(gateway, 'campus-ldap');
    expect(report).toMatchObject({ added: people.length, skippedDisabled: 1, refused: 0 });
    expect(await personOf(gateway, 'lars')).toBeNull();
  });

  it('disables someone an administrator locks for good, and enables them once unlocked', async () => {
    await lockFor(nora, '000001010000Z');
    const locked = await sync(gateway, 'campus-ldap');
    expect(locked.names.disabled).toEqual(['nora']);
    expect(await statusOf('nora')).toBe('disabled');
    expect(summarize(locked)).not.toContain('could not be read');

    await unlock(nora);
    expect((await sync(gateway, 'campus-ldap')).names.reenabled).toEqual(['nora']);
    expect(await statusOf('nora')).toBe('active');
  });

  it('disables someone locked until a time to come, not someone wrong passwords locked for a while', async () => {
    await lockFor(fiona, '20991231235959Z');
    // Two wrong passwords at the directory itself (a phone with an old one): ppolicy locks pia now, for
    // pwdLockoutDuration; anyone can do that to anyone.
    for (let i = 0; i < 2; i++) {
      const client = new Client({ url: ldap.url });
      await expect(client.bind(personDn(pia), 'an-old-password')).rejects.toThrow();
      await client.unbind();
    }
    const { searchEntries } = await ldap.admin((c) =>
      c.search(personDn(pia), { scope: 'base', attributes: ['pwdAccountLockedTime'] }),
    );
    expect(String(searchEntries[0]!.pwdAccountLockedTime)).toMatch(/^\d{14}Z$/);

    const report = await sync(gateway, 'campus-ldap');
    expect(report.names.disabled).toEqual(['fiona']);
    expect(await statusOf('fiona')).toBe('disabled');
    expect(await statusOf('pia')).toBe('active');
    expect(report.unreadFlags).toBe(0);
  });
});

describe('a 389 Directory Server (nsAccountLock)', () => {
  const dsPeople = {
    held: directoryPerson('ds.held', 'Hanna Held', ['Staff']),
    lower: directoryPerson('ds.lower', 'Lea Lower', ['Staff']),
    open: directoryPerson('ds.open', 'Olle Open', ['Staff']),
    free: directoryPerson('ds.free', 'Frida Free', ['Staff']),
  };
  const lockable = (p: DirectoryPerson, nsAccountLock?: string) =>
    inetOrgPerson({
      ...p,
      extra: {
        objectClass: ['inetOrgPerson', 'atriumTestLockable'],
        ...(nsAccountLock ? { nsAccountLock } : {}),
      },
    });

  beforeAll(async () => {
    ds = await startTestSlapd({
      ldif: [
        ouLdif([['Staff']]),
        lockable(dsPeople.held, 'TRUE'),
        lockable(dsPeople.lower, 'true'),
        lockable(dsPeople.open, 'FALSE'),
        lockable(dsPeople.free),
      ].join('\n'),
      schemaFiles: [DS389_SCHEMA],
    });
    await register(gateway, 'campus-ds', ds.url, { disabledAttribute: 'nsAccountLock', unitRoot: 'campus' });
  });

  it('takes nsAccountLock: TRUE, in any case, for disabled', async () => {
    const report = await sync(gateway, 'campus-ds');
    expect(report).toMatchObject({ added: 2, skippedDisabled: 2, refused: 0 });
    expect(await personOf(gateway, 'ds.held')).toBeNull();
    expect(await statusOf('ds.open')).toBe('active');
  });

  it('refuses the sign-in of someone locked since the last sync, and disables them at once', async () => {
    await ds.replace(personDn(dsPeople.open), 'nsAccountLock', ['TRUE']);
    // 389-DS itself refuses the bind of a locked entry; this slapd does not, so only Atrium's check stands.
    const page = await attempt('ds.open', dsPeople.open.password);
    expect(passedLogin(page)).toBe(false);
    expect(alertOf(page)).toContain('This account is disabled');
    expect(await statusOf('ds.open')).toBe('disabled');
    expect(passedLogin(await attempt('ds.free', dsPeople.free.password))).toBe(true);
  });

  it('says in a test and in the sync report when a value says neither, and disables nobody for it', async () => {
    await ds.replace(personDn(dsPeople.free), 'nsAccountLock', ['yes']);
    const test = await testDirectory(asOperator(gateway), sealerOf(gateway), 'campus-ds');
    expect(test.ok).toBe(false);
    expect(test.problem).toContain(
      `nsAccountLock of 1 of the 4 entries cannot be read as disabled or not (${personDn(dsPeople.free)}: nsAccountLock "yes" is not TRUE or FALSE`,
    );

    const report = await sync(gateway, 'campus-ds');
    expect(report.outcome).toBe('success');
    expect(report.unreadFlags).toBe(1);
    expect(summarize(report)).toContain(
      `The disabled flag of 1 entry could not be read, so it counts as not disabled (${personDn(dsPeople.free)}: nsAccountLock "yes" is not TRUE or FALSE`,
    );
    expect(await statusOf('ds.free')).toBe('active');
  });
});
