import { randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountExpiresToDate, expiryOf } from '../../gateway/directories/account-expiry.ts';
import { findDirectory } from '../../gateway/directories/find-directory.ts';
import { syncDirectory } from '../../gateway/directories/sync-directory.ts';
import { directorySettingsOf } from '../../gateway/directories/settings.ts';
import { summarize } from '../../gateway/directories/sync-report.ts';
import { testDirectory } from '../../gateway/directories/test-directory.ts';
import { describeUpdate, updateDirectory } from '../../gateway/directories/update-directory.ts';
import type { Directory } from '../../gateway/models/directories.ts';
import { filledFormWithAction, mainText, submitFilled } from '../helpers/browser-agent.ts';
import { runAtrium } from '../helpers/cli.ts';
import { registerTestApp, signInToConsole, type TestGateway } from '../helpers/gateway.ts';
import { codeFlow, discover } from '../helpers/rp.ts';
import { adUser, ouLdif, personDn, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
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
 * Active Directory ends an account on a date (accountExpires, a FILETIME): an account past it is disabled
 * here as one the directory marks disabled, at the next sync or at a sign-in, and enabled again when the
 * date is moved on. 0 and 9223372036854775807 mean never; a value that is no time is reported, and
 * disables nobody.
 */

/** 100 ns intervals between 1601-01-01 and 1970-01-01. */
const EPOCH_1970 = 116_444_736_000_000_000n;
/** `at` as a FILETIME, as AD writes accountExpires. */
const filetime = (at: number) => String(BigInt(at) * 10_000n + EPOCH_1970);
const HOUR = 3_600_000;
const NEVER = '9223372036854775807';

describe('reading an account expiry', () => {
  const now = Date.UTC(2026, 11, 7, 12, 0, 0);
  const read = (attribute: string, value: string) => expiryOf(() => [value], { expiryAttribute: attribute }, now);

  it('reads accountExpires as 100 ns since 1601 UTC, exactly beyond 2^53, with 0 and 2^63-1 for never', () => {
    expect(accountExpiresToDate('116444736000000000')).toEqual(new Date('1970-01-01T00:00:00.000Z'));
    expect(accountExpiresToDate('134093664012345678')).toEqual(new Date('2025-12-05T00:00:01.234Z'));
    expect(accountExpiresToDate(filetime(now))).toEqual(new Date(now));
    expect(accountExpiresToDate('0')).toBe('never');
    expect(accountExpiresToDate(NEVER)).toBe('never');
    expect(accountExpiresToDate('9223372036854775806')).toEqual(expect.any(Date));
    for (const bad of ['', '-1', '12a', '1.5', '0x7FFFFFFFFFFFFFFF', '9223372036854775808', '99999999999999999999'])
      expect(accountExpiresToDate(bad)).toBeNull();
  });

  it('takes an account for expired from its end on, and never for 0, 2^63-1 or no value', () => {
    expect(read('accountExpires', filetime(now))).toEqual({ expired: true, problem: null });
    expect(read('accountExpires', filetime(now - 1)).expired).toBe(true);
    expect(read('accountExpires', filetime(now + 1)).expired).toBe(false);
    expect(read('AccountExpires', '1').expired).toBe(true);
    expect(read('accountExpires', '0').expired).toBe(false);
    expect(read('accountExpires', NEVER).expired).toBe(false);
    expect(expiryOf(() => [], { expiryAttribute: 'accountExpires' }, now)).toEqual({ expired: false, problem: null });
    expect(expiryOf(() => [filetime(now - 1)], { expiryAttribute: null }, now).expired).toBe(false);
  });

  it('reads any other attribute as an LDAP time, and says what it cannot read, taking it for not expired', () => {
    expect(read('pwdEndTime', '20261207115959Z').expired).toBe(true);
    expect(read('pwdEndTime', '20261207130000+0200').expired).toBe(true);
    expect(read('pwdEndTime', '20261207120001Z').expired).toBe(false);
    expect(read('accountExpires', '9223372036854775808')).toEqual({
      expired: false,
      problem:
        'accountExpires "9223372036854775808" is not a Windows file time (100 ns intervals since 1601; 0 or 9223372036854775807: never)',
    });
    // A number is no time elsewhere: a count of days, or of seconds, must not pass for a moment in 1601.
    expect(read('pwdEndTime', '20500')).toEqual({
      expired: false,
      problem: 'pwdEndTime "20500" is not a time (such as 20270131000000Z)',
    });
  });
});

let gateway: TestGateway;
let attempt: SignInGateway['attempt'];
let ad: TestSlapd;
let rp: client.Configuration;
const REDIRECT = 'http://localhost:9/expiry-cb';

const person = (uid: string, name: string) => ({ ...directoryPerson(uid, name), ous: ['Staff'] });
const old = person('old', 'Olga Old');
const ada = person('ada', 'Ada Zero');
const bo = person('bo', 'Bo Never');
const cy = person('cy', 'Cy Unset');
const dee = person('dee', 'Dee Later');
const eve = person('eve', 'Eve Ending');
const fay = person('fay', 'Fay Final');
const gus = person('gus', 'Gus Garbled');
const hal = person('hal', 'Hal Hired');

const entryOf = (p: DirectoryPerson, accountExpires?: string) =>
  adUser({ ...p, extra: accountExpires === undefined ? {} : { accountExpires } });
const dnOf = (p: DirectoryPerson) => personDn(p, 'cn');
const expireAt = (p: DirectoryPerson, value: string) => ad.replace(dnOf(p), 'accountExpires', [value]);
const statusOf = async (uid: string) => (await personOf(gateway, uid))?.status;
const disableReasonOf = async (target: string) => {
  const [event] = await gateway.models.AuditEvent.findAll({
    where: { action: 'user.disable', target },
    order: [['id', 'DESC']],
    limit: 1,
  });
  return (JSON.parse(event?.details ?? '{}') as { reason?: string }).reason;
};

beforeAll(async () => {
  ({ gateway, attempt } = await startSignInGateway('dir-account-expires', 'Expiry App', 5));
  const app = await registerTestApp(gateway, { name: 'Expiry Tokens App', redirectUris: [REDIRECT] });
  rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
  const later = filetime(Date.UTC(2099, 0, 1));
  ad = await startTestSlapd({
    activeDirectoryLike: true,
    ldif: [
      ouLdif([['Staff']]),
      entryOf(old, filetime(Date.now() - 24 * HOUR)),
      entryOf(ada, '0'),
      entryOf(bo, NEVER),
      entryOf(cy),
      entryOf(dee, later),
      entryOf(eve, later),
      entryOf(fay, later),
      // One beyond 64 bits: a value AD never writes, which the INTEGER syntax still takes.
      entryOf(gus, '9223372036854775808'),
    ].join('\n'),
  });
  await register(gateway, 'campus-ad', ad.url, { preset: 'active-directory' });
});
afterAll(async () => {
  await ad?.stop();
  await gateway?.stop();
});

describe('an Active Directory whose accounts end on a date', () => {
  it('is read through the preset, and a test names a value it cannot read and shows an expired entry', async () => {
    const settings = directorySettingsOf(await findDirectory(asOperator(gateway), 'campus-ad'));
    expect(settings.expiryAttribute).toBe('accountExpires');
    const test = await testDirectory(asOperator(gateway), sealerOf(gateway), 'campus-ad');
    expect(test.ok).toBe(false);
    expect(test.problem).toBe(
      `accountExpires of 1 of the 8 entries cannot be read as a time (${dnOf(gus)}: accountExpires ` +
        '"9223372036854775808" is not a Windows file time (100 ns intervals since 1601; 0 or 9223372036854775807: ' +
        'never)), and a sync counts such entries as not expired: set the account expiry attribute to one the ' +
        'directory keeps for it (accountExpires), or to none',
    );
    expect(test.sample).toContainEqual(expect.objectContaining({ username: 'old', disabled: true, expired: true }));
    expect(test.sample).toContainEqual(expect.objectContaining({ username: 'ada', disabled: false, expired: false }));
  });

  it('does not bring in an expired account; never-ending, unset, future and unreadable ones are active', async () => {
    const report = await sync(gateway, 'campus-ad');
    expect(report).toMatchObject({ outcome: 'success', added: 7, skippedDisabled: 1, refused: 0, unreadExpiries: 1 });
    expect(report.unreadExpiryNotes).toEqual([
      `${dnOf(gus)}: accountExpires "9223372036854775808" is not a Windows file time (100 ns intervals since 1601; 0 or 9223372036854775807: never)`,
    ]);
    expect(summarize(report)).toContain(
      '1 disabled or expired in the directory and not created; 1 unit created. The account expiry of 1 entry ' +
        `could not be read, so it counts as not expired (${dnOf(gus)}: accountExpires "9223372036854775808"`,
    );
    expect(await personOf(gateway, 'old')).toBeNull();
    for (const uid of ['ada', 'bo', 'cy', 'dee', 'eve', 'fay', 'gus']) expect(await statusOf(uid)).toBe('active');
  });

  it('disables someone whose account expired, as one disabled there: their sessions and tokens end', async () => {
    const { tokens, agent } = await codeFlow(rp, REDIRECT, 'eve', {}, undefined, eve.password);
    const current = await client.refreshTokenGrant(rp, tokens.refresh_token!);
    await expireAt(eve, filetime(Date.now() - HOUR));

    // Counted by the pass that writes nothing, which the mass change limit weighs.
    const dry = await syncDirectory(asOperator(gateway), { sealer: sealerOf(gateway), dryRun: true }, 'campus-ad');
    expect(dry.massChange).toMatchObject({ active: 7, disabling: 1, disablingNames: ['eve'], over: false });

    const report = await sync(gateway, 'campus-ad');
    expect(report).toMatchObject({ outcome: 'success', disabled: 1, unreadExpiries: 1 });
    expect(report.names.disabled).toEqual(['eve']);
    const eveNow = await personOf(gateway, 'eve');
    expect(eveNow!.status).toBe('disabled');
    await expect(client.refreshTokenGrant(rp, current.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    expect(await gateway.models.EndedAccess.count({ where: { kind: 'sub', subject: eveNow!.user.id } })).toBe(1);
    expect(await disableReasonOf('eve')).toBe('expired in the directory');
    // The gateway session the browser holds is gone too.
    const silent = client.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT,
      scope: 'openid',
      prompt: 'none',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const back = await agent.navigate(silent.toString(), {}, REDIRECT);
    expect(new URL(back.url).searchParams.get('error')).toBe('login_required');
    for (const uid of ['ada', 'bo', 'cy', 'dee', 'fay', 'gus']) expect(await statusOf(uid)).toBe('active');
  });

  it('enables them again once the date is moved on, and they sign in', async () => {
    await expireAt(eve, filetime(Date.UTC(2099, 5, 30)));
    const report = await sync(gateway, 'campus-ad');
    expect(report.names.reenabled).toEqual(['eve']);
    expect(report.disabled).toBe(0);
    expect(await statusOf('eve')).toBe('active');
    const { tokens } = await codeFlow(rp, REDIRECT, 'eve', {}, undefined, eve.password);
    expect(tokens.access_token).toBeTruthy();
    // And an end date removed (0) is never, too.
    await expireAt(eve, '0');
    expect((await sync(gateway, 'campus-ad')).disabled).toBe(0);
  });

  it('refuses the sign-in of someone whose account expired since the last sync, and disables them at once', async () => {
    await expireAt(fay, filetime(Date.now() - HOUR));
    // AD itself refuses the bind of an expired account; this slapd does not, so only Atrium's check stands.
    const page = await attempt('fay', fay.password);
    expect(passedLogin(page)).toBe(false);
    expect(alertOf(page)).toContain('This account is disabled');
    expect(await statusOf('fay')).toBe('disabled');
    expect(await disableReasonOf('fay')).toBe('expired in the directory (found at a sign-in)');
    // Nor is someone new, whose account ended before they ever signed in here, brought in by their first sign-in.
    await ad.addEntry(dnOf(hal), {
      objectClass: 'user',
      objectCategory: 'person',
      cn: 'hal',
      sn: 'Hired',
      displayName: hal.name,
      sAMAccountName: 'hal',
      mail: 'hal@campus.test',
      userPassword: hal.password,
      userAccountControl: '512',
      objectGUID: randomBytes(16),
      accountExpires: filetime(Date.now() - HOUR),
    });
    const newcomer = await attempt('hal', hal.password);
    expect(alertOf(newcomer)).toContain('This account is disabled');
    expect(await personOf(gateway, 'hal')).toBeNull();
  });
});

describe('the account expiry setting', () => {
  it('is given to Active Directory registrations stored before it existed, and to no OpenLDAP one', async () => {
    const stored = (await findDirectory(asOperator(gateway), 'campus-ad')).settings;
    const { expiryAttribute, ...before } = JSON.parse(stored) as Record<string, unknown>;
    expect(expiryAttribute).toBe('accountExpires');
    const upgraded = (preset: string) =>
      directorySettingsOf({ settings: JSON.stringify({ ...before, preset }) } as Directory).expiryAttribute;
    expect(upgraded('active-directory')).toBe('accountExpires');
    expect(upgraded('openldap')).toBeNull();
  });

  it('is turned off with none on the command line, and set again in the console', async () => {
    const off = await runAtrium(gateway.db, ['directories', 'update', 'campus-ad', '--expiry-attribute', 'none']);
    expect(off.code, off.stderr).toBe(0);
    expect(off.stdout).toContain('Changed: account expiry attribute accountExpires → none.');
    expect(off.stdout).toContain('account expiry not read');
    // Off, an account that ended there is not disabled for it: fay is back, old and hal come in.
    const offSync = await sync(gateway, 'campus-ad');
    expect(offSync.names.reenabled).toEqual(['fay']);
    expect(offSync.names.added.sort()).toEqual(['hal', 'old']);

    const admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
    const path = '/admin/directories/campus-ad';
    const form = await admin.navigate(`${gateway.issuer}${path}`);
    expect(form.html).toContain('name="expiryAttribute" type="text" value="none"');
    const saved = await submitFilled(admin, form, filledFormWithAction(form, path), {
      expiryAttribute: 'accountExpires',
    });
    expect(mainText(saved)).toContain('Changed: account expiry attribute none → accountExpires.');
    expect((await sync(gateway, 'campus-ad')).names.disabled.sort()).toEqual(['fay', 'hal', 'old']);
  });

  it('set by hand, is kept through a change of preset, and follows the preset otherwise', async () => {
    const edit = (changes: Record<string, unknown>) =>
      updateDirectory(asOperator(gateway), sealerOf(gateway), 'campus-ad', changes);
    const followed = await edit({ preset: 'openldap' });
    expect(followed.changes).toContainEqual(expect.objectContaining({ before: 'accountExpires', after: 'none' }));
    expect((await edit({ preset: 'active-directory' })).attributes.expiry).toBe('accountExpires');
    await edit({ expiryAttribute: 'pwdEndTime' });
    const kept = await edit({ preset: 'openldap' });
    expect(kept.attributes.expiry).toBe('pwdEndTime');
    expect(describeUpdate(kept)).toContainEqual(
      expect.stringMatching(/^Kept as set, not the openldap preset's: .*account expiry attribute pwdEndTime/),
    );
  });
});
