import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { Op } from 'sequelize';
import {
  BrowserAgent,
  filledFormWithAction,
  formWithAction,
  htmlText,
  signInThrough,
  submitFilled,
  type Page,
} from '../helpers/browser-agent.ts';
import { addPerson, ENG_NODE, registerTestApp, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { login } from '../helpers/node.ts';
import { codeFlow, discover, loginAttempt } from '../helpers/rp.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { personPrefix } from '../../gateway/portal/session-ids.ts';
import { rowPrefixesOf } from '../../gateway/portal/token-vault.ts';

const REDIRECT = 'http://localhost:9/cb';
const NEW_PASSWORD = 'a brand new passphrase';
let gateway: TestGateway;
let rp: client.Configuration;

const url = (path: string) => `${gateway.issuer}${path}`;
const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;

const seedUser = (username: string) => addPerson(gateway, username);

/** A browser signed in to the portal, on the account page. */
async function accountPage(username: string): Promise<{ agent: BrowserAgent; page: Page }> {
  const agent = new BrowserAgent();
  await signInThrough(agent, url('/account/security'), username, DEMO_PASSWORD);
  const page = await agent.navigate(url('/account/security'));
  expect(page.html).toContain(`Signed in as <strong>${username}</strong>`);
  return { agent, page };
}

const changePassword = (
  { agent, page }: { agent: BrowserAgent; page: Page },
  values: { current: string; password: string; confirmation?: string },
) =>
  agent.submit(page, formWithAction(page, '/account/security/password'), {
    current: values.current,
    password: values.password,
    confirmation: values.confirmation ?? values.password,
  });

const notice = (page: Page) =>
  /id="password-error" role="alert">([^<]*)</
    .exec(page.html)?.[1]
    ?.replace(/&#x27;/g, "'")
    .replace(/&#x3D;/g, '=');

/** Whether the account page still shows the person (else the browser was sent to the login form). */
async function stillSignedIn(agent: BrowserAgent, username: string): Promise<boolean> {
  const page = await agent.navigate(url('/account/security'));
  if (page.html.includes(`Signed in as <strong>${username}</strong>`)) return true;
  expect(page.html).toContain('/login"');
  return false;
}

/** The portal's rows of the person: their sessions and the tokens kept for them. */
const portalRowsOf = (userId: string) =>
  gateway.models.WebSession.count({
    where: { [Op.or]: rowPrefixesOf(personPrefix(userId)).map((prefix) => ({ sid: { [Op.like]: `${prefix}%` } })) },
  });

const auditOf = (action: string, target: string) =>
  gateway.models.AuditEvent.findAll({ where: { action, target }, order: [['id', 'ASC']] });

/** Whether the gateway's real login form lets the person in with this password. */
async function signsInWith(username: string, password: string): Promise<boolean> {
  const page = await loginAttempt(rp, REDIRECT, username, password);
  return page.url.startsWith(REDIRECT);
}

/** What a person has open elsewhere: an app's refresh token and the portal's on another device. */
async function sessionsElsewhere(username: string) {
  const app = await codeFlow(rp, REDIRECT, username);
  const portal = await login(gateway, username);
  return {
    appRefresh: () => client.refreshTokenGrant(rp, app.tokens.refresh_token!),
    portalToken: () => portal.tokenFor(ENG_NODE),
    other: await accountPage(username),
  };
}

beforeAll(async () => {
  gateway = await startTestGateway('account-password', {
    ATRIUM_TRUST_PROXY: 'true',
    LOGIN_IP_LIMIT: '1000',
    LOGIN_MAX_FAILURES: '3',
    LOGIN_LOCKOUT_MINUTES: '10',
  });
  const app = await registerTestApp(gateway, { name: 'Grades', redirectUris: [REDIRECT], firstParty: true });
  rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
});
afterAll(async () => gateway?.stop());

describe('changing one’s own password on the account page', () => {
  it('sets the new password, and ends every session and token of the person, this browser’s too', async () => {
    const pia = await seedUser('pia');
    const elsewhere = await sessionsElsewhere('pia');
    const here = await accountPage('pia');

    const done = await changePassword(here, { current: DEMO_PASSWORD, password: NEW_PASSWORD });
    expect(done.url).toBe(url('/account/password-changed'));
    expect(done.html).toContain('Sign in again with your new password');

    await expect(elsewhere.appRefresh()).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(elsewhere.portalToken()).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await stillSignedIn(elsewhere.other.agent, 'pia')).toBe(false);
    expect(await stillSignedIn(here.agent, 'pia')).toBe(false);
    expect(await portalRowsOf(pia.id)).toBe(0);
    // The nodes are told to close the person's sockets and refuse their access tokens.
    expect(await gateway.models.EndedAccess.count({ where: { kind: 'sub', subject: pia.id } })).toBe(1);
    const [event] = await auditOf('password.change', 'pia');
    expect({ actor: event?.actorName, outcome: event?.outcome }).toEqual({ actor: 'pia', outcome: 'success' });

    expect(await signsInWith('pia', DEMO_PASSWORD)).toBe(false);
    expect(await signsInWith('pia', NEW_PASSWORD)).toBe(true);
  });

  it('refuses a wrong current password, changes nothing, and counts it toward the lockout', async () => {
    const quin = await seedUser('quin');
    const elsewhere = await sessionsElsewhere('quin');
    const here = await accountPage('quin');

    const wrong = await changePassword(here, { current: 'not my password', password: NEW_PASSWORD });
    expect(wrong.status).toBe(401);
    expect(wrong.url).toBe(url('/account/security/password'));
    expect(notice(wrong)).toBe('That is not your current password. Nothing was changed.');
    expect((await userNamed('quin')).passwordHash).toBe(quin.passwordHash);
    expect((await userNamed('quin')).failedLogins).toBe(1);
    await expect(elsewhere.appRefresh()).resolves.toBeTruthy();
    await expect(elsewhere.portalToken()).resolves.toBeTruthy();
    expect(await stillSignedIn(here.agent, 'quin')).toBe(true);

    // LOGIN_MAX_FAILURES is 3: the third wrong one locks the account, as at sign-in.
    await changePassword(here, { current: 'not my password', password: NEW_PASSWORD });
    const third = await changePassword(here, { current: 'still not it', password: NEW_PASSWORD });
    expect(notice(third)).toMatch(/^Too many failed attempts/);
    expect((await userNamed('quin')).lockedUntil!.getTime()).toBeGreaterThan(Date.now());

    // Locked, the right one is refused too and tried against nothing.
    const locked = await changePassword(here, { current: DEMO_PASSWORD, password: NEW_PASSWORD });
    expect(notice(locked)).toMatch(/^Too many failed attempts/);
    expect((await userNamed('quin')).passwordHash).toBe(quin.passwordHash);
    expect((await auditOf('password.change', 'quin')).map((e) => JSON.parse(e.details!).reason)).toEqual([
      'wrong_password',
      'wrong_password',
      'wrong_password',
      'locked',
    ]);
    expect(await gateway.models.EndedAccess.count({ where: { subject: quin.id } })).toBe(0);
  });

  it('refuses new passwords the rules refuse, or that differ, with a clear message, and changes nothing', async () => {
    const rae = await seedUser('rae');
    const here = await accountPage('rae');
    const refusals: Record<string, string | undefined> = {};
    const tries = {
      differ: { current: DEMO_PASSWORD, password: NEW_PASSWORD, confirmation: `${NEW_PASSWORD}!` },
      tooShort: { current: DEMO_PASSWORD, password: 'short' },
      tooLong: { current: DEMO_PASSWORD, password: 'x'.repeat(201) },
      onlySpaces: { current: DEMO_PASSWORD, password: ' '.repeat(12) },
      same: { current: DEMO_PASSWORD, password: DEMO_PASSWORD },
      currentTooLong: { current: 'y'.repeat(2000), password: NEW_PASSWORD },
      noCurrent: { current: '', password: NEW_PASSWORD },
    };
    for (const [name, values] of Object.entries(tries)) refusals[name] = notice(await changePassword(here, values));
    expect(refusals).toEqual({
      differ: 'The two new passwords differ: type the same new password twice.',
      tooShort: 'The new password is not acceptable: at least 10 characters.',
      tooLong: 'The new password is not acceptable: at most 200 characters.',
      onlySpaces: 'The new password is not acceptable: needs letters, digits or signs, not only spaces.',
      same: 'The new password is the same as your current one: choose a different one.',
      currentTooLong: 'That is not your current password: it is far too long.',
      noCurrent: 'Enter your current password.',
    });
    const after = await userNamed('rae');
    // Only "same" checked the current password, and it was right: nothing counted toward the lockout.
    expect({ hash: after.passwordHash, failures: after.failedLogins }).toEqual({
      hash: rae.passwordHash,
      failures: 0,
    });
    expect(await stillSignedIn(here.agent, 'rae')).toBe(true);
    expect(await gateway.models.EndedAccess.count({ where: { subject: rae.id } })).toBe(0);
  });

  it('refuses a password thousands of characters long on the form itself, never with the error page', async () => {
    const ray = await seedUser('ray');
    const here = await accountPage('ray');
    const tries = {
      // 5,000 characters, typed or pasted in each field, of letters or of a script of several bytes each.
      current: { current: 'y'.repeat(5000), password: NEW_PASSWORD },
      newOnes: { current: DEMO_PASSWORD, password: 'x'.repeat(5000) },
      currentInHan: { current: '密'.repeat(5000), password: NEW_PASSWORD },
      allInHan: { current: '密'.repeat(5000), password: '码'.repeat(5000) },
    };
    const answers: Record<string, { status: number; notice: string | undefined; onTheForm: boolean }> = {};
    for (const [name, values] of Object.entries(tries)) {
      const page = await changePassword(here, values);
      expect(page.html).not.toContain('invalid_body');
      answers[name] = {
        status: page.status,
        notice: notice(page),
        onTheForm:
          page.html.includes('Signed in as <strong>ray</strong>') && page.html.includes('id="change-password"'),
      };
    }
    const tooLong = {
      status: 413,
      notice: 'Use at most 200 characters for a password. Nothing was changed.',
      onTheForm: true,
    };
    expect(answers).toEqual({
      current: { status: 400, notice: 'That is not your current password: it is far too long.', onTheForm: true },
      newOnes: { status: 400, notice: 'The new password is not acceptable: at most 200 characters.', onTheForm: true },
      currentInHan: tooLong,
      allInHan: tooLong,
    });
    // The field to type again has the focus; nothing of what was sent is put back.
    const last = await changePassword(here, tries.allInHan);
    expect(last.html).toMatch(
      /<input id="current-password"[^>]* value="" required aria-invalid="true" aria-describedby="password-error" autofocus>/,
    );
    expect(last.headers.get('cache-control')).toBe('no-store');
    const after = await userNamed('ray');
    expect({ hash: after.passwordHash, failures: after.failedLogins }).toEqual({ hash: ray.passwordHash, failures: 0 });
    expect(await stillSignedIn(here.agent, 'ray')).toBe(true);
  });

  it('refuses a post without the form token, and changes nothing', async () => {
    const sam = await seedUser('sam');
    const here = await accountPage('sam');
    const form = formWithAction(here.page, '/account/security/password');
    const { _csrf, ...fields } = form.fields;
    const forged = await here.agent.navigate(url('/account/security/password'), {
      method: 'POST',
      body: new URLSearchParams({
        ...fields,
        current: DEMO_PASSWORD,
        password: NEW_PASSWORD,
        confirmation: NEW_PASSWORD,
      }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(forged.status).toBe(403);
    expect((await userNamed('sam')).passwordHash).toBe(sam.passwordHash);
    expect(await stillSignedIn(here.agent, 'sam')).toBe(true);
  });

  it('does not check a current password sent from an address over the sign-in limit', async () => {
    const tam = await seedUser('tam');
    const here = await accountPage('tam');
    const ip = '203.0.113.77';
    // The address has used up its allowance of password checks, as after many failed sign-ins from it.
    const keyHash = createHash('sha256').update(`login-ip\nip:${ip}`).digest('hex');
    await gateway.sequelize.query('INSERT INTO rate_limits (key_hash, window_start, count) VALUES (?, ?, ?)', {
      replacements: [keyHash, Date.now(), 100_000],
    });
    const form = formWithAction(here.page, '/account/security/password');
    const response = await here.agent.request(url('/account/security/password'), {
      method: 'POST',
      body: new URLSearchParams({
        ...form.fields,
        current: DEMO_PASSWORD,
        password: NEW_PASSWORD,
        confirmation: NEW_PASSWORD,
      }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip },
    });
    // Said on the page shown again, with when to come back.
    expect(response.status).toBe(429);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    // About the network rather than the person's password, in minutes.
    expect(/id="password-error" role="alert">([^<]*)</.exec(await response.text())?.[1]).toMatch(
      /^Too many sign-in attempts have come from your network \(everyone on it counts, not only you\)\. Try again in \d+ minutes?\.$/,
    );
    expect((await userNamed('tam')).passwordHash).toBe(tam.passwordHash);
    expect((await userNamed('tam')).failedLogins).toBe(0);
  });

  it('shows a directory person no form but the directory’s reset page, and a post changes nothing', async () => {
    const uma = await seedUser('uma');
    const here = await accountPage('uma');
    expect(here.page.html).toContain('action="/account/security/password"');
    // Linked as a directory sync links someone, once signed in: the page asks only whether the link
    // exists, so no directory server is needed (test/directories/ signs in through a real slapd).
    const directory = await gateway.models.Directory.create({
      id: randomUUID(),
      name: 'campus-ldap',
      url: 'ldap://127.0.0.1:9',
      caFile: null,
      bindDn: 'cn=atrium,ou=Services,dc=campus,dc=test',
      bindPasswordSealed: 'unused',
      settings: '{}',
      resetUrl: 'https://password.campus.test/reset?from=atrium',
    });
    await gateway.models.DirectoryAccount.create({
      userId: uma.id,
      directoryId: directory.id,
      dn: 'uid=uma,ou=People,dc=campus,dc=test',
      seenRun: 'test',
    });
    try {
      const page = await here.agent.navigate(url('/account/security'));
      expect(page.html).not.toContain('action="/account/security/password"');
      expect(page.html).toContain('Your password is your campus directory password');
      expect(page.html).toContain('href="https://password.campus.test/reset?from&#x3D;atrium"');

      // A post made anyway (with the page's form token) is refused with the same pointer.
      const csrf = formWithAction(page, '/account/security/sign-out-everywhere').fields._csrf!;
      const refused = await here.agent.navigate(url('/account/security/password'), {
        method: 'POST',
        body: new URLSearchParams({
          _csrf: csrf,
          current: DEMO_PASSWORD,
          password: NEW_PASSWORD,
          confirmation: NEW_PASSWORD,
        }),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(notice(refused)).toBe(
        'uma signs in with the password of directory campus-ldap; it is changed there (https://password.campus.test/reset?from=atrium), not in Atrium',
      );
      expect((await userNamed('uma')).passwordHash).toBe(uma.passwordHash);
      expect(await stillSignedIn(here.agent, 'uma')).toBe(true);
    } finally {
      await gateway.models.DirectoryAccount.destroy({ where: { userId: uma.id } });
      await directory.destroy();
    }
  });
});

describe('signing out everywhere from the account page', () => {
  it('ends every session and token of the person, this browser’s too, and says so', async () => {
    const vic = await seedUser('vic');
    const elsewhere = await sessionsElsewhere('vic');
    const here = await accountPage('vic');

    const done = await here.agent.submit(here.page, formWithAction(here.page, '/account/security/sign-out-everywhere'));
    expect(done.url).toBe(url('/account/signed-out-everywhere'));
    expect(done.html).toContain('You are signed out everywhere');

    await expect(elsewhere.appRefresh()).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(elsewhere.portalToken()).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await stillSignedIn(elsewhere.other.agent, 'vic')).toBe(false);
    expect(await stillSignedIn(here.agent, 'vic')).toBe(false);
    expect(await portalRowsOf(vic.id)).toBe(0);
    expect(await gateway.models.EndedAccess.count({ where: { kind: 'sub', subject: vic.id } })).toBe(1);
    const [event] = await auditOf('user.sign_out_everywhere', 'vic');
    expect(event?.actorName).toBe('vic');
    // The password stays as it was.
    expect(await signsInWith('vic', DEMO_PASSWORD)).toBe(true);
  });

  it('asks first, as signing out one device does: unticked, it says so and ends nothing', async () => {
    const xia = await seedUser('xia');
    const elsewhere = await sessionsElsewhere('xia');
    const here = await accountPage('xia');
    const section = (page: Page) =>
      htmlText(/<section[^>]*id="everywhere">([\s\S]*?)<\/section>/.exec(page.html)?.[1] ?? '');
    expect(section(here.page)).toContain(
      'I understand: every device and app I am signed in to is signed out at once, this browser too.',
    );
    expect(here.page.html).toMatch(/<input type="checkbox" name="understood" value="yes" required>/);

    // Pressed without the box (the browser asks for it; a post made anyway is refused).
    const form = filledFormWithAction(here.page, '/account/security/sign-out-everywhere');
    const unticked = await submitFilled(here.agent, here.page, form);
    expect(unticked.url).toBe(url('/account/security#account-notice'));
    expect(section(unticked)).toContain('Tick “I understand” to sign out everywhere. Nothing was signed out.');
    await expect(elsewhere.portalToken()).resolves.toBeTruthy();
    expect(await stillSignedIn(here.agent, 'xia')).toBe(true);
    expect(await stillSignedIn(elsewhere.other.agent, 'xia')).toBe(true);
    expect(await gateway.models.EndedAccess.count({ where: { subject: xia.id } })).toBe(0);

    const done = await submitFilled(here.agent, unticked, form, { understood: 'yes' });
    expect(done.url).toBe(url('/account/signed-out-everywhere'));
    expect(await stillSignedIn(here.agent, 'xia')).toBe(false);
  });

  it('refuses a post without the form token, and ends nothing', async () => {
    const wes = await seedUser('wes');
    const elsewhere = await sessionsElsewhere('wes');
    const here = await accountPage('wes');
    const { _csrf, ...fields } = formWithAction(here.page, '/account/security/sign-out-everywhere').fields;
    const forged = await here.agent.navigate(url('/account/security/sign-out-everywhere'), {
      method: 'POST',
      body: new URLSearchParams(fields),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(forged.status).toBe(403);
    await expect(elsewhere.portalToken()).resolves.toBeTruthy();
    expect(await stillSignedIn(here.agent, 'wes')).toBe(true);
    expect(await gateway.models.EndedAccess.count({ where: { subject: wes.id } })).toBe(0);
  });
});
