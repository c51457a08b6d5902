import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import * as client from 'openid-client';
import { decodeJwt } from 'jose';
import { addPerson, registerTestApp, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { discover } from '../helpers/rp.ts';
import { chromiumMissing, launchChromium } from '../portal/browser.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { operator } from '../../gateway/context.ts';
import { MFA_ACR } from '../../gateway/factors/acr.ts';
import { setPasswordless } from '../../gateway/factors/passkeys/passwordless-policy.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';
import { dropSecondFactorRequirement, requireSecondFactor } from '../../gateway/factors/policy.ts';
import { pageErrors } from '../helpers/page-errors.ts';

/** The app's callback: a page of its own, where the test reads the code from the address. */
let appServer: Server;
let REDIRECT: string;
let gateway: TestGateway;
let browser: Browser;
let rp: client.Configuration;
const url = (path: string) => `${gateway.issuer}${path}`;
const admin = () => ({ ...gateway.context(null), actor: operator('test') });
const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;
const passkeysOf = async (username: string) =>
  gateway.models.Passkey.findAll({ where: { userId: (await userNamed(username)).id }, order: [['createdAt', 'ASC']] });
const audits = (action: string, where: Record<string, unknown> = {}) =>
  gateway.models.AuditEvent.findAll({ where: { action, ...where }, order: [['id', 'ASC']] });

/** A person at a browser of their own (a context: own cookies) with a platform authenticator of its own. */
type Person = { context: BrowserContext; page: Page; cdp: CDPSession; authenticatorId: string; errors: string[] };

async function addAuthenticator(cdp: CDPSession): Promise<string> {
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return authenticatorId;
}

async function person(): Promise<Person> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = pageErrors(page);
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  return { context, page, cdp, authenticatorId: await addAuthenticator(cdp), errors };
}

async function passwordStep(page: Page, username: string) {
  await page.fill('#username', username);
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('form[action$="/login"] button[type=submit]');
}

/** Signs in to the portal through the gateway's login form (a fresh sign-in), then opens the account page. */
async function openAccountPage(p: Person, username: string) {
  await p.page.goto(url('/account/security'));
  await passwordStep(p.page, username);
  // Signed in, back on the page asked for.
  await p.page.waitForURL(url('/account/security'));
}

const notice = (page: Page) => page.locator('#account-notice').innerText({ timeout: 10_000 });

/** Clicks a button of the account page whose form posts and comes back to the page (post, redirect, get). */
async function clickAndReturn(page: Page, selector: string) {
  const back = page.waitForResponse((r) => r.url() === url('/account/security') && r.request().method() === 'GET', {
    timeout: 15_000,
  });
  await page.click(selector);
  await back;
  await page.waitForLoadState('domcontentloaded');
}

/**
 * Adds a passkey from the account page. A person's first second factor shows its ten recovery codes
 * once, with the notice; the test reads them and goes back to the account page.
 */
async function addPasskey(p: Person, name: string, options: { refusedByBrowser?: boolean; first?: boolean } = {}) {
  await p.page.fill('#passkey-name', name);
  if (options.refusedByBrowser) return p.page.click('#add-passkey button[type=submit]');
  if (!options.first) return clickAndReturn(p.page, '#add-passkey button[type=submit]');
  await p.page.click('#add-passkey button[type=submit]');
  await expect.poll(() => p.page.locator('ul.recovery-codes li').count(), { timeout: 15_000 }).toBe(10);
  expect(await p.page.locator('h1').innerText()).toBe('Your passkey is added');
  const codes = await p.page.locator('ul.recovery-codes li').allInnerTexts();
  const said = await notice(p.page);
  await p.page.click('a[href="/account/security"]');
  await p.page.waitForURL(url('/account/security'));
  return { codes, said };
}

/** An app's sign-in in this browser; `finish` waits for the callback and returns the ID token's claims. */
async function appSignIn(p: Person, params: Record<string, string> = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const authorize = client.buildAuthorizationUrl(rp, {
    redirect_uri: REDIRECT,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...params,
  });
  await p.page.goto(authorize.toString());
  return async () => {
    await p.page.waitForURL((u) => u.href.startsWith(REDIRECT), { timeout: 15_000 });
    const tokens = await client.authorizationCodeGrant(rp, new URL(p.page.url()), {
      pkceCodeVerifier: verifier,
      expectedState: state,
    });
    return decodeJwt(tokens.id_token!);
  };
}

/** How many of the account page's name field, Rename and Remove buttons are named for the passkey `key`. */
const controlsOf = (page: Page, key: string) =>
  Promise.all(
    [
      page.getByRole('textbox', { name: `Name of “${key}”`, exact: true }),
      page.getByRole('button', { name: `Rename “${key}”`, exact: true }),
      page.getByRole('button', { name: `Remove “${key}”`, exact: true }),
    ].map((control) => control.count()),
  );

const visible = (page: Page, selector: string) =>
  page.waitForSelector(`${selector}:not([hidden])`, { timeout: 10_000 });

let alice: Person;
let bob: Person;
let dave: Person;

beforeAll(async () => {
  if (chromiumMissing) return;
  appServer = createServer((_req, res) => res.end('the app'));
  await new Promise<void>((resolve) => appServer.listen(0, '127.0.0.1', resolve));
  REDIRECT = `http://localhost:${(appServer.address() as AddressInfo).port}/cb`;
  gateway = await startTestGateway('passkeys-browser', { LOGIN_MAX_FAILURES: '6' });
  browser = await launchChromium();
  const app = await registerTestApp(gateway, { name: 'Grades', redirectUris: [REDIRECT], firstParty: true });
  rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
});
afterAll(async () => {
  await browser?.close();
  await gateway?.stop();
  appServer?.close();
});

describe.skipIf(chromiumMissing)('passkeys in a real browser', () => {
  it('registers two passkeys from the account page, renames one and removes the other', {
    timeout: 60_000,
  }, async () => {
    alice = await person();
    await openAccountPage(alice, 'alice');
    expect(await alice.page.locator('#no-passkeys').count()).toBe(1);
    // Just signed in: no confirmation is asked for.
    expect(await alice.page.locator('#confirm').count()).toBe(0);

    const first = await addPasskey(alice, 'Laptop', { first: true });
    expect(first?.said).toBe('Added the passkey “Laptop”.');
    expect(first?.codes).toHaveLength(10);
    expect(await alice.page.locator('#factor-status').innerText()).toContain('your passkey “Laptop”');
    const held = await alice.cdp.send('WebAuthn.getCredentials', { authenticatorId: alice.authenticatorId });
    expect(held.credentials).toHaveLength(1);
    expect(held.credentials[0]!.isResidentCredential).toBe(true);
    expect(held.credentials[0]!.rpId).toBe('localhost');

    // The same authenticator cannot hold a second one of hers (the options exclude it): a second device.
    await addPasskey(alice, 'Laptop again', { refusedByBrowser: true });
    await expect
      .poll(() => alice.page.locator('#add-passkey [data-passkey-error]').innerText())
      .toContain('already registered');
    // Cancelled at the browser's prompt (the browser answers NotAllowedError, this once): adding one says
    // that no passkey was added, not that none was found (which fits signing in only).
    await alice.page.evaluate(() => {
      const create = navigator.credentials.create.bind(navigator.credentials);
      navigator.credentials.create = () => {
        navigator.credentials.create = create;
        return Promise.reject(
          new DOMException('The operation either timed out or was not allowed.', 'NotAllowedError'),
        );
      };
    });
    await addPasskey(alice, 'Laptop again', { refusedByBrowser: true });
    await expect
      .poll(() => alice.page.locator('#add-passkey [data-passkey-error]').innerText())
      .toBe(
        'No passkey was added: the request was cancelled or timed out. Try again, and follow what your browser or device asks.',
      );
    await alice.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: alice.authenticatorId });
    alice.authenticatorId = await addAuthenticator(alice.cdp);
    await addPasskey(alice, 'Phone');
    expect(await notice(alice.page)).toBe('Added the passkey “Phone”.');
    expect(await alice.page.locator('.passkey-name').allInnerTexts()).toEqual(['Laptop', 'Phone']);
    // Each passkey's field and buttons are named for it: a screen reader's list of controls tells them apart.
    for (const key of ['Laptop', 'Phone']) expect(await controlsOf(alice.page, key)).toEqual([1, 1, 1]);

    await alice.page.fill('li.passkey:has-text("Phone") form.rename-passkey input[name=name]', 'Work phone');
    await clickAndReturn(alice.page, 'li.passkey:has-text("Phone") form.rename-passkey button');
    expect(await notice(alice.page)).toBe('Renamed the passkey to “Work phone”.');
    // The browser posts a removal only with its box ticked (no script: the box is required).
    const understood = 'li.passkey:has-text("Laptop") form.remove-passkey input[name=understood]';
    expect(await alice.page.locator(understood).evaluate((box: HTMLInputElement) => box.validity.valueMissing)).toBe(
      true,
    );
    await alice.page.check(understood);
    await clickAndReturn(alice.page, 'li.passkey:has-text("Laptop") form.remove-passkey button');
    expect(await notice(alice.page)).toBe('Removed the passkey “Laptop”.');
    // The page opens at the notice, focused (read out), in view however far down its section is.
    await expect.poll(() => alice.page.evaluate(() => document.activeElement?.id)).toBe('account-notice');
    const shown = await alice.page.evaluate(() => {
      const box = document.getElementById('account-notice')!.getBoundingClientRect();
      // The browser scrolls its top to the window's, give or take part of a pixel.
      return box.top > -1 && box.bottom <= window.innerHeight;
    });
    expect(shown).toBe(true);
    expect(await alice.page.locator('.passkey-name').allInnerTexts()).toEqual(['Work phone']);

    const stored = await passkeysOf('alice');
    expect(stored.map((p) => p.name)).toEqual(['Work phone']);
    expect(stored[0]!.credentialId).toBe(
      (
        await alice.cdp.send('WebAuthn.getCredentials', { authenticatorId: alice.authenticatorId })
      ).credentials[0]!.credentialId.replace(/=+$/, '')
        .replace(/\+/g, '-')
        .replace(/\//g, '_'),
    );
    expect(stored[0]!.transports).toContain('internal');
    expect(await audits('passkey.register', { target: 'alice', outcome: 'success' })).toHaveLength(2);
    expect(await audits('passkey.rename', { target: 'alice' })).toHaveLength(1);
    expect(await audits('passkey.remove', { target: 'alice' })).toHaveLength(1);
    expect(alice.errors).toEqual([]);
  });

  it('names a passkey’s controls for it as text, whatever its name holds', async () => {
    const odd = `Ann's "key" <b>2</b> & co`;
    const rename = async (to: string) => {
      await alice.page.fill('li.passkey form.rename-passkey input[name=name]', to);
      await clickAndReturn(alice.page, 'li.passkey form.rename-passkey button');
    };
    await rename(odd);
    expect(await alice.page.locator('.passkey-name').allInnerTexts()).toEqual([odd]);
    expect(await controlsOf(alice.page, odd)).toEqual([1, 1, 1]);
    expect(await alice.page.locator('.passkeys b').count()).toBe(0);
    await rename('Work phone');
    expect(await controlsOf(alice.page, 'Work phone')).toEqual([1, 1, 1]);
    expect(alice.errors).toEqual([]);
  });

  it('uses a passkey as the second factor after the password, which meets acr_values asking for MFA', async () => {
    const finish = await appSignIn(alice, { prompt: 'login', acr_values: MFA_ACR });
    await passwordStep(alice.page, 'alice');
    await visible(alice.page, '#passkey-second-factor');
    expect(await alice.page.locator('h1').innerText()).toBe('Use your passkey');
    // Beside it, for a lost device: a recovery code, never an authenticator app she does not have.
    expect(await alice.page.locator('label[for=code]').innerText()).toBe('Recovery code');
    await alice.page.click('#passkey-second-factor button[type=submit]');
    const claims = await finish();
    expect(claims.sub).toBe((await userNamed('alice')).id);
    expect(claims.amr).toEqual(['pwd', 'hwk', 'user']);
    expect(claims.acr).toBe(MFA_ACR);
    const [used] = await passkeysOf('alice');
    expect(used!.lastUsedAt).not.toBeNull();
    const entries = await audits('login.second_factor', { target: 'alice', outcome: 'success' });
    expect(JSON.parse(entries.at(-1)!.details!)).toMatchObject({ method: 'passkey', passkey: used!.id });
    expect(alice.errors).toEqual([]);
  });

  it('offers sign-in with a passkey alone only while the administrator allows it', async () => {
    let finish = await appSignIn(alice, { prompt: 'login' });
    await alice.page.waitForSelector('#username');
    expect(await alice.page.locator('#passkey-sign-in').count()).toBe(0);

    await setPasswordless(admin(), 'on');
    finish = await appSignIn(alice, { prompt: 'login' });
    await visible(alice.page, '#passkey-sign-in');
    await alice.page.click('#passkey-sign-in button[type=submit]');
    const claims = await finish();
    expect(claims.sub).toBe((await userNamed('alice')).id);
    expect(claims.amr).toEqual(['hwk', 'user', 'mfa']);
    expect(claims.acr).toBe(MFA_ACR);
    expect(JSON.parse((await audits('login', { target: 'alice', outcome: 'success' })).at(-1)!.details!)).toMatchObject(
      { method: 'passkey', userVerified: true },
    );

    // Turned off while the page is open: the button no longer works.
    await appSignIn(alice, { prompt: 'login' });
    await visible(alice.page, '#passkey-sign-in');
    await setPasswordless(admin(), 'off');
    await alice.page.click('#passkey-sign-in button[type=submit]');
    await expect
      .poll(() => alice.page.locator('#passkey-sign-in [data-passkey-error]').innerText())
      .toContain('not enabled');
    expect(alice.page.url()).toContain('/interaction/');
  });

  it('refuses someone else’s passkey as a person’s second factor, and audits it', async () => {
    bob = await person();
    await openAccountPage(bob, 'bob');
    expect((await addPasskey(bob, 'Bob’s key', { first: true }))?.said).toBe('Added the passkey “Bob’s key”.');

    // At bob's browser, someone who knows alice's password: the page asks for one of alice's passkeys,
    // which bob's authenticator does not hold, so the test lets it offer any (as a tampered page would).
    await bob.page.route('**/passkey/options', async (route) => {
      const response = await route.fetch();
      const body = (await response.json()) as { options: { allowCredentials?: unknown[] } };
      body.options.allowCredentials = [];
      await route.fulfill({ response, json: body });
    });
    const before = (await userNamed('alice')).failedLogins;
    await appSignIn(bob, { prompt: 'login' });
    await passwordStep(bob.page, 'alice');
    await visible(bob.page, '#passkey-second-factor');
    await bob.page.click('#passkey-second-factor button[type=submit]');
    await expect
      .poll(() => bob.page.locator('p.notice.error[role=alert]').first().innerText({ timeout: 10_000 }))
      .toContain('That passkey was not accepted');
    expect(bob.page.url()).toContain('/interaction/');
    await bob.page.unroute('**/passkey/options');

    const refusal = (await audits('login.second_factor', { target: 'alice', outcome: 'failure' })).at(-1)!;
    expect(JSON.parse(refusal.details!)).toMatchObject({
      method: 'passkey',
      reason: 'passkey_of_someone_else',
      owner: 'bob',
    });
    expect((await userNamed('alice')).failedLogins).toBe(before + 1);
    const [bobsKey] = await passkeysOf('bob');
    expect(bobsKey!.lastUsedAt).toBeNull();
  });

  it('refuses a replayed registration and an expired challenge, changing nothing', async () => {
    dave = await person();
    await openAccountPage(dave, 'dave');
    let recorded: string | null = null;
    await dave.page.route('**/account/security/passkeys', async (route) => {
      if (route.request().method() === 'POST') recorded = route.request().postData();
      await route.continue();
    });
    expect((await addPasskey(dave, 'Desk', { first: true }))?.said).toBe('Added the passkey “Desk”.');
    await dave.page.unroute('**/account/security/passkeys');
    expect(recorded).toContain('response=');

    // The same answer again: its challenge was taken by the first.
    const replay = await dave.page.request.post(url('/account/security/passkeys'), {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      data: recorded!.replace(/name=Desk/, 'name=Desk+again'),
      maxRedirects: 0,
    });
    expect(replay.status()).toBe(303);
    await dave.page.goto(url('/account/security'));
    expect(await notice(dave.page)).toBe('This passkey request has expired or was already used. Start again.');
    expect((await passkeysOf('dave')).map((p) => p.name)).toEqual(['Desk']);

    // A challenge that expired before the answer arrived (a new authenticator, so that one is not excluded).
    await dave.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: dave.authenticatorId });
    dave.authenticatorId = await addAuthenticator(dave.cdp);
    await dave.page.route('**/account/security/passkeys', async (route) => {
      await gateway.models.PasskeyChallenge.update({ expiresAt: new Date(Date.now() - 1000) }, { where: {} });
      await route.continue();
    });
    await addPasskey(dave, 'Too slow');
    expect(await notice(dave.page)).toBe('This passkey request has expired or was already used. Start again.');
    await dave.page.unroute('**/account/security/passkeys');
    expect((await passkeysOf('dave')).map((p) => p.name)).toEqual(['Desk']);
    const failures = await audits('passkey.register', { target: 'dave', outcome: 'failure' });
    expect(failures.map((f) => JSON.parse(f.details!).reason)).toEqual(['challenge', 'challenge']);
  });

  it('refuses an answer replayed into a later sign-in', async () => {
    let recorded: string | null = null;
    await alice.page.route('**/passkey', async (route) => {
      recorded = route.request().postData();
      await route.continue();
    });
    const finish = await appSignIn(alice, { prompt: 'login' });
    await passwordStep(alice.page, 'alice');
    await visible(alice.page, '#passkey-second-factor');
    await alice.page.click('#passkey-second-factor button[type=submit]');
    await finish();
    await alice.page.unroute('**/passkey');

    // A later sign-in asks for a passkey; the old answer (to the old challenge) is sent instead.
    const old = new URLSearchParams(recorded!).get('response')!;
    await alice.page.route('**/passkey', async (route) => {
      const body = new URLSearchParams(route.request().postData()!);
      body.set('response', old);
      await route.continue({ postData: body.toString() });
    });
    await appSignIn(alice, { prompt: 'login' });
    await passwordStep(alice.page, 'alice');
    await visible(alice.page, '#passkey-second-factor');
    await alice.page.click('#passkey-second-factor button[type=submit]');
    await expect
      .poll(() => alice.page.locator('p.notice.error[role=alert]').first().innerText({ timeout: 10_000 }))
      .toContain('That passkey was not accepted');
    await alice.page.unroute('**/passkey');
    const refusal = (await audits('login.second_factor', { target: 'alice', outcome: 'failure' })).at(-1)!;
    expect(JSON.parse(refusal.details!)).toMatchObject({ method: 'passkey', reason: 'not_verified' });
  });

  it('does not sign in a disabled person with their passkey', async () => {
    await setPasswordless(admin(), 'on');
    await updateUser(admin(), 'bob', { status: 'disabled' });
    await appSignIn(bob, { prompt: 'login' });
    await visible(bob.page, '#passkey-sign-in');
    await bob.page.click('#passkey-sign-in button[type=submit]');
    await expect
      .poll(() => bob.page.locator('p.notice.error[role=alert]').first().innerText({ timeout: 10_000 }))
      .toContain('This account is disabled');
    const refusal = (await audits('login', { target: 'bob', outcome: 'failure' })).at(-1)!;
    expect(JSON.parse(refusal.details!)).toMatchObject({ method: 'passkey', reason: 'disabled' });
    await updateUser(admin(), 'bob', { status: 'active' });
    await setPasswordless(admin(), 'off');
  });

  it('refuses a passkey whose signature counter went backwards, and audits a possible copy', async () => {
    const [key] = await passkeysOf('alice');
    const counter = key!.counter;
    await gateway.models.Passkey.update({ counter: 1_000_000 }, { where: { id: key!.id } });
    await appSignIn(alice, { prompt: 'login' });
    await passwordStep(alice.page, 'alice');
    await visible(alice.page, '#passkey-second-factor');
    await alice.page.click('#passkey-second-factor button[type=submit]');
    await expect
      .poll(() => alice.page.locator('p.notice.error[role=alert]').first().innerText({ timeout: 10_000 }))
      .toContain('That passkey was not accepted');
    const flagged = await audits('passkey.counter_regression', { target: 'alice' });
    expect(flagged).toHaveLength(1);
    expect(JSON.parse(flagged[0]!.details!)).toMatchObject({ passkey: key!.id, stored: 1_000_000 });
    expect((await passkeysOf('alice'))[0]!.counter).toBe(1_000_000);
    await gateway.models.Passkey.update({ counter }, { where: { id: key!.id } });
  });

  it('makes new recovery codes from the account page, and the portal links to it', async () => {
    await alice.page.goto(url('/'));
    // In the portal's account menu.
    await alice.page.getByRole('button', { name: 'Account' }).click({ timeout: 15_000 });
    const link = alice.page.locator('a.account-security[href="/account/security"]');
    await link.waitFor({ timeout: 15_000 });
    await link.click();
    await alice.page.waitForURL(url('/account/security'));
    expect(await alice.page.locator('h1').innerText()).toBe('Sign-in security');
    expect(await alice.page.locator('#codes-left').innerText()).toBe('10');
    await alice.page.click('#new-recovery-codes button[type=submit]');
    await expect.poll(() => alice.page.locator('ul.recovery-codes li').count()).toBe(10);
    const codes = await alice.page.locator('ul.recovery-codes li').allInnerTexts();

    // The second step now offers a recovery code beside the passkey.
    const finish = await appSignIn(alice, { prompt: 'login' });
    await passwordStep(alice.page, 'alice');
    await alice.page.waitForSelector('#code');
    await alice.page.fill('#code', codes[0]!);
    await alice.page.click('form[action$="/code"] button[type=submit]');
    expect((await finish()).acr).toBe(MFA_ACR);
    expect(await audits('factor.recovery_codes', { target: 'alice' })).toHaveLength(1);
    expect(alice.errors).toEqual([]);
  });
});

/** What a page of recovery codes shows: its heading, notice, the codes listed, what it says instead, any refusal. */
const codesPage = async (page: Page) => ({
  heading: await page.locator('h1').innerText(),
  notice: await page.locator('#account-notice').allInnerTexts(),
  codes: await page.locator('ul.recovery-codes li').count(),
  notShown: await page.locator('#codes-not-shown').allInnerTexts(),
  refusals: await page.locator('[role=alert]:not([hidden])').allInnerTexts(),
});

describe.skipIf(chromiumMissing)('the recovery codes of a first passkey, reloaded in a real browser', () => {
  it('on the account page: shown once, and a reload, Back or Forward posts nothing and says so', async () => {
    await addPerson(gateway, 'pia');
    const pia = await person();
    await openAccountPage(pia, 'pia');
    await pia.page.fill('#passkey-name', 'Laptop');
    await pia.page.click('#add-passkey button[type=submit]');
    await expect.poll(() => pia.page.locator('ul.recovery-codes li').count(), { timeout: 15_000 }).toBe(10);
    expect((await codesPage(pia.page)).notice).toEqual(['Added the passkey “Laptop”.']);

    // Reloaded (a resubmit, had the codes been the answer to the post): the same page, without them.
    const reloaded = await pia.page.reload();
    const shownOnce = {
      heading: 'Your passkey is added',
      notice: ['Added the passkey “Laptop”.'],
      codes: 0,
      notShown: [
        'Your recovery codes were shown once, when you set it up, and are not shown again. If you did not keep them, make new ones on Sign-in security: new ones replace them.',
      ],
      refusals: [],
    };
    expect(await codesPage(pia.page)).toEqual(shownOnce);
    expect(reloaded?.request().method()).toBe('GET');
    expect(pia.page.url()).toBe(url('/account/security/recovery-codes'));
    await pia.page.goBack();
    expect(pia.page.url()).toBe(url('/account/security'));
    expect(await pia.page.locator('[role=alert]:not([hidden])').count()).toBe(0);
    await pia.page.goForward();
    expect(await codesPage(pia.page)).toEqual(shownOnce);

    // Added once, and no refused registration (a challenge "expired or already used") was ever posted.
    expect((await passkeysOf('pia')).map((p) => p.name)).toEqual(['Laptop']);
    expect((await audits('passkey.register', { target: 'pia' })).map((a) => a.outcome)).toEqual(['success']);
    expect(pia.errors).toEqual([]);
  });

  it('at a sign-in’s setup step: shown once, and a reload posts nothing and says they were shown once', async () => {
    await addPerson(gateway, 'stan', { roles: ['staff'] });
    await requireSecondFactor(admin(), { kind: 'role', value: 'staff' });
    try {
      const stan = await person();
      await stan.page.goto(url('/'));
      await passwordStep(stan.page, 'stan');
      await visible(stan.page, '#enrol-passkey');
      await stan.page.fill('#passkey-name', 'Laptop');
      await stan.page.click('#enrol-passkey button[type=submit]');
      await expect.poll(() => stan.page.locator('ul.recovery-codes li').count(), { timeout: 15_000 }).toBe(10);

      // The codes are the step's page, which the post redirected to: a reload asks for it again, and
      // never posts the passkey again.
      expect(stan.page.url()).toMatch(/\/interaction\/[^/]+$/);
      const reloaded = await stan.page.reload();
      expect(reloaded?.request().method()).toBe('GET');
      expect(reloaded?.request().redirectedFrom()).toBeNull();
      expect(await codesPage(stan.page)).toEqual({
        heading: 'Your passkey is added',
        notice: [],
        codes: 0,
        notShown: [
          'Your recovery codes were shown once, when you set it up, and are not shown again. If you did not keep them, make new ones on Sign-in security once you are signed in: new ones replace them.',
        ],
        refusals: [],
      });
      await stan.page.click('form[action$="/continue"] button[type=submit]');
      await stan.page.waitForURL(url('/'));
      expect((await audits('passkey.register', { target: 'stan' })).map((a) => a.outcome)).toEqual(['success']);
      expect(stan.errors).toEqual([]);
    } finally {
      await dropSecondFactorRequirement(admin(), { kind: 'role', value: 'staff' });
    }
  });
});
