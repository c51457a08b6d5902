import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { BrowserAgent, formWithAction, type Page } from '../helpers/browser-agent.ts';
import { registerTestApp, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startGateway, type Gateway } from '../../gateway/main.ts';
import { codeFlow, discover, loginAttempt } from '../helpers/rp.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { unlockUser } from '../../gateway/accounts/unlock-user.ts';
import { signOutEverywhere } from '../../gateway/accounts/end-access.ts';
import { operator } from '../../gateway/context.ts';
import { knownDeviceCookieName } from '../../gateway/http/known-device-cookie.ts';

const REDIRECT = 'http://localhost:9/cb';
let gateway: TestGateway;
let rp: client.Configuration;

async function loginPage(agent = new BrowserAgent()): Promise<{ agent: BrowserAgent; page: Page }> {
  const url = client.buildAuthorizationUrl(rp, {
    redirect_uri: REDIRECT,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  return { agent, page: await agent.navigate(url.toString(), {}, REDIRECT) };
}

async function attempt(username: string, password: string, browser = new BrowserAgent()): Promise<Page> {
  const { agent, page } = await loginPage(browser);
  return agent.submit(page, formWithAction(page, '/login'), { username, password }, REDIRECT);
}

const alertOf = (page: Page) => /role="alert">([^<]*)</.exec(page.html)?.[1];
const loginCount = (outcome: 'success' | 'failure', target: string) =>
  gateway.models.AuditEvent.count({ where: { action: 'login', outcome, target } });

beforeAll(async () => {
  // The per-address limit has its own gateway below: here, all of a file's attempts come from one address.
  gateway = await startTestGateway('login', {
    LOGIN_MAX_FAILURES: '3',
    LOGIN_LOCKOUT_MINUTES: '10',
    LOGIN_IP_LIMIT: '1000',
  });
  const app = await registerTestApp(gateway, { name: 'Timetable', redirectUris: [REDIRECT] });
  rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
});
afterAll(async () => gateway?.stop());

describe('the login form', () => {
  it('accepts an email address as well as a username, and audits the sign-in', async () => {
    const page = await attempt('Alice@Campus.test', DEMO_PASSWORD);
    // Signed in: the next step is the consent screen for this (not first-party) app.
    expect(page.status).toBe(200);
    expect(page.html).toContain('/confirm"');
    expect(await loginCount('success', 'alice')).toBeGreaterThanOrEqual(1);
  });

  it('answers an unknown account and a wrong password with the same message', async () => {
    const unknown = await attempt('nobody-here', 'whatever-password');
    const wrong = await attempt('bob', 'not-the-password');
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    const message = (p: Page) => /role="alert">([^<]*)</.exec(p.html)?.[1];
    expect(message(unknown)).toBe('Wrong username or password.');
    expect(message(wrong)).toBe(message(unknown));
    // The name is kept, so the focus is on the password, which the message describes and marks as wrong.
    expect(wrong.html).toMatch(/<p class="notice error" id="login-error" role="alert">/);
    expect(wrong.html).toMatch(/<input id="username"[^>]* value="bob"[^>]* required>/);
    expect(wrong.html).toMatch(
      /<input id="password"[^>]* required autofocus aria-describedby="login-error" aria-invalid="true">/,
    );
    expect(await loginCount('failure', 'nobody-here')).toBe(1);
  });

  it('locks an account after repeated failures, even for the right password, saying for how long', async () => {
    for (let i = 0; i < 3; i++) expect((await attempt('dave', `wrong-${i}-password`)).status).toBe(401);
    const locked = await attempt('dave', DEMO_PASSWORD);
    expect(locked.status).toBe(429);
    // How long it lasts, and the way out without an administrator for whoever forgot the password, without
    // saying that the password was wrong (wrong codes lock the same way).
    expect(alertOf(locked)).toBe(
      'Too many failed attempts (wrong passwords or codes): signing in to this account is paused. Try again in 10 minutes. You can still sign in on a browser or device you have signed in with before. If you have forgotten your password, you can choose a new one with “Forgot your password?” below.',
    );
    expect(locked.html).toContain('id="forgot-password"');
    // Told to come back after the lockout (LOGIN_LOCKOUT_MINUTES, 10 here), as every 429 says.
    // The lockout's ten minutes, less the moments the failures took on a busy machine.
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(590);
    expect(Number(locked.headers.get('retry-after'))).toBeLessThanOrEqual(600);
    expect(await gateway.models.AuditEvent.count({ where: { action: 'account.locked', target: 'dave' } })).toBe(1);
    const dave = await gateway.models.User.findOne({ where: { username: 'dave' } });
    expect(dave!.lockedUntil!.getTime()).toBeGreaterThan(Date.now() + 9 * 60_000);
  });

  it('locks a name that does not exist the same way, so lockout does not reveal who exists', async () => {
    for (let i = 0; i < 3; i++) await attempt('ghost-user', `wrong-${i}-password`);
    const page = await attempt('ghost-user', 'wrong-again-password');
    expect(page.status).toBe(429);
    expect(page.html).toContain('Too many failed attempts');
    // The same wait as for a real account, so not even the header tells the two apart.
    // The lockout's ten minutes, less the moments the failures took on a busy machine.
    expect(Number(page.headers.get('retry-after'))).toBeGreaterThan(590);
    expect(Number(page.headers.get('retry-after'))).toBeLessThanOrEqual(600);
  });

  it('counts only the failures of the last lockout minutes, as for a name that does not exist', async () => {
    await createUser(
      { ...gateway.context(null), actor: operator('test') },
      {
        username: 'slow-typist',
        displayName: 'Slow Typist',
        email: 'slow-typist@campus.test',
        password: DEMO_PASSWORD,
        units: ['campus/eng'],
        roles: ['student'],
      },
    );
    for (let i = 0; i < 2; i++) expect((await attempt('slow-typist', `wrong-${i}-password`)).status).toBe(401);
    // Those two were eleven minutes ago, past LOGIN_LOCKOUT_MINUTES (10 here): they no longer count.
    const { User } = gateway.models;
    const typist = await User.findOne({ where: { username: 'slow-typist' } });
    await User.update({ failuresSince: new Date(Date.now() - 11 * 60_000) }, { where: { id: typist!.id } });
    expect((await attempt('slow-typist', 'wrong-2-password')).status).toBe(401);
    const signedIn = await attempt('slow-typist', DEMO_PASSWORD);
    expect(signedIn.status).toBe(200);
    expect(await gateway.models.AuditEvent.count({ where: { action: 'account.locked', target: 'slow-typist' } })).toBe(
      0,
    );
    // Within the minutes they do: three in a row lock it, as above.
    for (let i = 0; i < 3; i++) await attempt('slow-typist', `wrong-${i}-again`);
    expect((await attempt('slow-typist', DEMO_PASSWORD)).status).toBe(429);
  });

  it("keeps the person's updated_at through sign-ins, wrong passwords, a lockout and signing out: none changes their information", async () => {
    const ctx = { ...gateway.context(null), actor: operator('test') };
    await createUser(ctx, {
      username: 'uma',
      displayName: 'Uma Quiet',
      email: 'uma@campus.test',
      password: DEMO_PASSWORD,
      units: ['campus/eng/cs'],
      roles: ['student'],
    });
    const updatedAt = async () => (await gateway.models.User.findOne({ where: { username: 'uma' } }))!.updatedAt;
    const before = await updatedAt();
    for (let i = 0; i < 3; i++) await attempt('uma', 'not-the-password');
    await unlockUser(ctx, 'uma');
    expect((await attempt('uma', DEMO_PASSWORD)).html).toContain('/confirm"');
    await signOutEverywhere(ctx, 'uma');
    expect((await gateway.models.User.findOne({ where: { username: 'uma' } }))!.lastLoginAt).not.toBeNull();
    expect((await updatedAt()).getTime()).toBe(before.getTime());
    const { tokens } = await codeFlow(rp, REDIRECT, 'uma', { scope: 'openid profile' });
    expect(tokens.claims()!.updated_at).toBe(Math.floor(before.getTime() / 1000));
    // A change to what the person is does move it.
    await updateUser(ctx, 'uma', { displayName: 'Uma Loud' });
    expect((await updatedAt()).getTime()).toBeGreaterThan(before.getTime());
  });

  it('tells a disabled user only when the password is right, and ends their refresh tokens', async () => {
    const { tokens } = await codeFlow(rp, REDIRECT, 'bob');
    await updateUser({ ...gateway.context(null), actor: operator('test') }, 'bob', { status: 'disabled' });
    const right = await attempt('bob', DEMO_PASSWORD);
    expect(right.status).toBe(403);
    expect(right.html).toContain('This account is disabled');
    const wrong = await attempt('bob', 'not-the-password');
    expect(wrong.html).toContain('Wrong username or password.');
    await expect(client.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await updateUser({ ...gateway.context(null), actor: operator('test') }, 'bob', { status: 'active' });
  });

  it('sends someone disabled while signed in back to the login form, which then says the account is disabled', async () => {
    const agent = new BrowserAgent();
    await codeFlow(rp, REDIRECT, 'carol', {}, agent);
    await updateUser({ ...gateway.context(null), actor: operator('test') }, 'carol', { status: 'disabled' });
    try {
      const { page } = await loginPage(agent);
      expect(page.status).toBe(200);
      expect(page.html).toContain('/login"');
      const refused = await agent.submit(
        page,
        formWithAction(page, '/login'),
        { username: 'carol', password: DEMO_PASSWORD },
        REDIRECT,
      );
      expect(refused.html).toContain('This account is disabled');
    } finally {
      await updateUser({ ...gateway.context(null), actor: operator('test') }, 'carol', { status: 'active' });
    }
  });

  it('rejects a form posted without its CSRF token and signs nobody in', async () => {
    const { agent, page } = await loginPage();
    const form = formWithAction(page, '/login');
    const before = await loginCount('success', 'carol');
    const { _csrf, ...withoutToken } = form.fields;
    const response = await agent.submit(
      page,
      { ...form, fields: withoutToken },
      { username: 'carol', password: DEMO_PASSWORD },
      REDIRECT,
    );
    expect(response.status).toBe(403);
    expect(response.html).toContain('did not come from this site');
    const forged = await agent.submit(
      page,
      form,
      { username: 'carol', password: DEMO_PASSWORD, _csrf: 'forged-token' },
      REDIRECT,
    );
    expect(forged.status).toBe(403);
    expect(await loginCount('success', 'carol')).toBe(before);
  });

  it('escapes what the user typed when it shows the form again', async () => {
    const page = await attempt('<script>alert(1)</script>', 'whatever-password');
    expect(page.html).not.toContain('<script>alert(1)</script>');
    expect(page.html).toContain('&lt;script&gt;');
  });
});

describe('a browser the person signed in with before', () => {
  const host = () => new URL(gateway.issuer).host;
  const DEVICE = knownDeviceCookieName(false);
  let home: () => BrowserAgent;
  let laptop: () => BrowserAgent;
  let phone: () => BrowserAgent;

  /**
   * A browser where the person once finished signing in, and has signed out since (or whose session
   * ended): all it keeps is its known-device cookie. Each call gives that browser again.
   */
  async function browserSignedInBefore(username: string): Promise<() => BrowserAgent> {
    const agent = new BrowserAgent();
    expect((await attempt(username, DEMO_PASSWORD, agent)).html).toContain('/confirm"');
    const kept = [...(agent.cookies.get(host()) ?? new Map<string, string>())].filter(([name]) => name === DEVICE);
    return () => {
      const browser = new BrowserAgent();
      browser.cookies.set(host(), new Map(kept));
      return browser;
    };
  }

  /** Someone else, at browsers of their own, types wrong passwords for the person until they are locked out. */
  async function lockedByOthers(username: string): Promise<void> {
    // Spelt as anyone may type it: each names the same account.
    const names = [username.toUpperCase(), `${username}@campus.test`, ` ${username}`, username];
    let status = 0;
    for (let i = 0; i < names.length && status !== 429; i++)
      status = (await attempt(names[i]!, `guess-${i}-password`)).status;
    expect(status).toBe(429);
  }

  const lastLogin = async (outcome: 'success' | 'failure') =>
    (
      await gateway.models.AuditEvent.findAll({
        where: { action: 'login', outcome, target: 'dave' },
        order: [['id', 'ASC']],
      })
    ).at(-1)!;

  beforeAll(async () => {
    // Locked by the test above; unlocked, he signs in at three browsers of his.
    await unlockUser({ ...gateway.context(null), actor: operator('test') }, 'dave');
    home = await browserSignedInBefore('dave');
    laptop = await browserSignedInBefore('dave');
    phone = await browserSignedInBefore('dave');
  });

  it('lets the person in with the right password while others keep their account locked, and audits why', async () => {
    await lockedByOthers('dave');
    const page = await attempt('dave', DEMO_PASSWORD, home());
    expect(page.status).toBe(200);
    expect(page.html).toContain('/confirm"');
    expect(JSON.parse((await lastLogin('success')).details!)).toEqual({ lockedAccount: 'known device let through' });
  });

  it("keeps the account locked for every browser it does not know, the person's own sign-in notwithstanding", async () => {
    await lockedByOthers('dave');
    expect((await attempt('dave', DEMO_PASSWORD, laptop())).status).toBe(200);
    const elsewhere = await attempt('dave', DEMO_PASSWORD);
    expect(elsewhere.status).toBe(429);
    expect(alertOf(elsewhere)).toMatch(/^Too many failed attempts .* You can still sign in on a browser or device/);
    // The lockout's ten minutes, less the moments the failures took on a busy machine.
    expect(Number(elsewhere.headers.get('retry-after'))).toBeGreaterThan(590);
    expect(Number(elsewhere.headers.get('retry-after'))).toBeLessThanOrEqual(600);
    expect(JSON.parse((await lastLogin('failure')).details!)).toEqual({ reason: 'locked' });
    const dave = await gateway.models.User.findOne({ where: { username: 'dave' } });
    expect(dave!.lockedUntil!.getTime()).toBeGreaterThan(Date.now());
  });

  it('locks a known browser after its own wrong passwords, that browser alone, and counts them against the account', async () => {
    await lockedByOthers('dave');
    const locks = () => gateway.models.AuditEvent.count({ where: { action: 'account.locked', target: 'dave' } });
    const before = await locks();
    for (let i = 0; i < 3; i++) {
      const wrong = await attempt('dave', `typo-${i}-password`, phone());
      expect(wrong.status).toBe(401);
      expect(alertOf(wrong)).toBe('Wrong username or password.');
    }
    // As many as lock an account: it is locked anew, for its full time.
    expect(await locks()).toBe(before + 1);
    const refused = await attempt('dave', DEMO_PASSWORD, phone());
    expect(refused.status).toBe(429);
    expect(JSON.parse((await lastLogin('failure')).details!)).toEqual({ reason: 'device_locked' });
    // His other browser, which typed nothing wrong, still gets in.
    expect((await attempt('dave', DEMO_PASSWORD, home())).status).toBe(200);
  });
});

describe('per-address rate limit', () => {
  let limited: TestGateway;
  let second: Gateway;
  let rps: client.Configuration[];
  beforeAll(async () => {
    limited = await startTestGateway('ratelimit', { LOGIN_IP_LIMIT: '4', LOGIN_IP_WINDOW_SECONDS: '600' });
    // A second process of the same gateway, over the same database, as behind a load balancer.
    second = await startGateway(limited.config, { migrate: false });
    const app = await registerTestApp(limited, { name: 'Grades', redirectUris: [REDIRECT] });
    expect(second.issuer).not.toBe(limited.issuer);
    rps = [
      await discover(limited.issuer, app.clientId, app.clientSecret),
      await discover(second.issuer, app.clientId, app.clientSecret),
    ];
  });
  afterAll(async () => {
    await second?.close();
    await limited?.stop();
  });

  it('lets any number of right passwords through from one address: a campus behind one NAT is not stopped by its own sign-ins', async () => {
    for (const [i, username] of ['alice', 'bob', 'carol', 'dave', 'alice', 'bob', 'carol'].entries()) {
      const result = await loginAttempt(rps[i % 2]!, REDIRECT, username, DEMO_PASSWORD);
      expect([result.status, alertOf(result)]).toEqual([200, undefined]);
    }
    // Nothing of the allowance was spent: the next test's failures start from the whole of it.
  });

  it("refuses further attempts from one address across accounts, and across the gateway's processes, once its allowance is spent", async () => {
    const statuses: number[] = [];
    for (const [i, username] of ['alice', 'bob', 'carol', 'dave', 'alice', 'bob'].entries()) {
      const rp = rps[i % 2]!;
      const result = await loginAttempt(rp, REDIRECT, username, 'wrong-password-x');
      statuses.push(result.status);
      if (result.status === 429) {
        // About the network, not the account, and when to come back (the 600-second window, in minutes).
        expect(alertOf(result)).toBe(
          'Too many sign-in attempts have come from your network (everyone on it counts, not only you). Try again in 10 minutes.',
        );
        expect(Number(result.headers.get('retry-after'))).toBeGreaterThan(540);
      }
    }
    // Four attempts in all, whichever process took them; each process alone would have allowed four.
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429]);
    // Even the right password, told the same.
    const right = await loginAttempt(rps[0]!, REDIRECT, 'carol', DEMO_PASSWORD);
    expect(right.status).toBe(429);
    expect(alertOf(right)).toMatch(/^Too many sign-in attempts have come from your network/);
  });
});
