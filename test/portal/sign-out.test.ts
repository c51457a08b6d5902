import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import * as client from 'openid-client';
import { BrowserAgent, formWithAction, signInThrough } from '../helpers/browser-agent.ts';
import { startCampus, type Campus } from '../helpers/federation.ts';
import { addPerson, registerTestApp, signInToConsole } from '../helpers/gateway.ts';
import { codeFlow, discover } from '../helpers/rp.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { chromiumMissing, launchChromium, send, signInToPortal, startDirect, statusOf } from './browser.ts';
import { operator } from '../../gateway/context.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';

const REDIRECT = 'http://localhost:9/cb';
const AFTER_LOGOUT = 'http://localhost:9/bye';
const CONFIRMATION = 'No, stay signed in';

let campus: Campus;
let browser: Browser | undefined;
const url = (path: string) => `${campus.gateway.issuer}${path}`;

beforeAll(async () => {
  campus = await startCampus('portal-sign-out');
  if (!chromiumMissing) browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await campus?.stop();
});

/** Signs in to the portal without JavaScript, presses Sign out (its API), and returns where it sends the browser. */
async function portalSignOut(username: string): Promise<{ agent: BrowserAgent; redirect: string }> {
  const agent = new BrowserAgent();
  expect((await signInThrough(agent, url('/'), username, DEMO_PASSWORD)).url).toBe(url('/'));
  const response = await agent.request(url('/portal/api/logout'), {
    method: 'POST',
    headers: { accept: 'application/json', 'x-atrium-portal': '1' },
  });
  expect(response.status).toBe(200);
  const { redirect } = (await response.json()) as { redirect: string };
  return { agent, redirect };
}

describe.skipIf(chromiumMissing)('the portal’s Sign out in a browser', () => {
  it('signs out of the gateway at once, with no second question: the next visit asks for the password', {
    timeout: 60_000,
  }, async () => {
    const alice = await signInToPortal(browser!, campus.gateway.issuer, 'alice');
    await startDirect(alice.page, 'bob', 'Bob Martin');
    // A second tab of the same browser session, halfway through a message.
    const other = await alice.context.newPage();
    await other.goto(alice.page.url());
    await other.waitForSelector('#connection[data-state=online]');
    await other.locator('.conversation .composer-input').fill('See you at the lab at');

    await alice.page.getByRole('button', { name: 'Sign out' }).click();
    await alice.page.waitForURL((at) => at.href.startsWith(url('/portal/signed-out')), { timeout: 10_000 });
    expect(await alice.page.locator('h1').textContent()).toBe('You are signed out');

    // The other tab is told, and says so instead of "offline".
    await expect
      .poll(
        () =>
          other
            .locator('.ended h2')
            .textContent({ timeout: 1000 })
            .catch(() => null),
        { timeout: 10_000 },
      )
      .toBe('You were signed out');
    expect(await other.locator('#connection').textContent()).toBe('Signed out');
    expect(await other.locator('.offline-banner').textContent()).toMatch(/signed out/);
    expect(await other.locator('.offline-banner').textContent()).not.toMatch(/offline/i);
    // Nor does the list behind the dialog promise the conversations for when chat can be reached.
    await expect.poll(() => other.locator('#conversations').textContent()).toBe('You are signed out.');

    // The gateway session is gone: opening the portal asks for the password.
    await alice.page.goto(url('/'));
    expect(await alice.page.locator('input[type=password]').count()).toBe(1);

    // Signing in again from the other tab brings back what was being written there.
    await other.getByRole('link', { name: 'Sign in again' }).click();
    await other.fill('#username', 'alice');
    await other.fill('#password', DEMO_PASSWORD);
    await other.click('button[type=submit]');
    await other.waitForSelector('.conversation .composer-input', { timeout: 15_000 });
    await expect.poll(() => other.locator('.conversation .composer-input').inputValue()).toBe('See you at the lab at');
    expect(alice.errors).toEqual([]);
    await alice.context.close();
  });
});

describe.skipIf(chromiumMissing)('an open portal tab when access ends', () => {
  const ops = () => ({ ...campus.gateway.context(null), actor: operator('test') });

  it('shows nothing more of the person once an administrator disables them, and says why', {
    timeout: 60_000,
  }, async () => {
    await addPerson(campus.gateway, 'zoe');
    const zoe = await signInToPortal(browser!, campus.gateway.issuer, 'zoe');
    await startDirect(zoe.page, 'bob', 'Bob Martin');
    await send(zoe.page, 'Exam answers attached');
    await zoe.page.locator('.conversation .composer-input').fill('Half-written');
    await updateUser(ops(), 'zoe', { status: 'disabled' });

    await zoe.page.waitForSelector('.ended h2', { timeout: 10_000 });
    expect(await zoe.page.locator('.ended h2').textContent()).toBe('Your sign-in was ended');
    // Nothing it cannot keep: someone removed from a campus directory is told "Wrong username or password".
    expect(await zoe.page.locator('.ended p').textContent()).toBe(
      'Your password was changed or reset, you were signed out everywhere, or your access was ended (by an ' +
        'administrator, or by your campus directory), so chat was closed. If signing in again does not work, ask ' +
        'your IT administrator.',
    );
    expect(await zoe.page.locator('.conversation-item').count()).toBe(0);
    expect(await zoe.page.locator('body').textContent()).not.toContain('Exam answers attached');
    expect(await zoe.page.locator('body').textContent()).not.toContain('Bob Martin');
    // Only the dialog takes the keyboard: the rest of the page is inert.
    expect(await zoe.page.locator('#app').evaluate((root) => (root as HTMLElement).inert)).toBe(true);
    expect(await zoe.page.evaluate(() => document.activeElement?.textContent)).toBe('Sign in again');
    expect(zoe.errors).toEqual([]);
    await zoe.context.close();
  });

  it('drops the conversations of a domain the person was moved off, and goes on with the others', {
    timeout: 60_000,
  }, async () => {
    await addPerson(campus.gateway, 'yan', { units: ['campus/eng/cs', 'campus/arts/music'] });
    const yan = await signInToPortal(browser!, campus.gateway.issuer, 'yan');
    await startDirect(yan.page, 'alice', 'Alice Chen');
    await send(yan.page, 'Lab at three?');
    await updateUser(ops(), 'yan', { units: ['campus/arts/music'], moveChat: true });

    await expect
      .poll(() => yan.page.locator('#toasts').textContent(), { timeout: 10_000 })
      .toContain('You no longer chat on eng.campus.test');
    expect(await yan.page.locator('.conversation-item', { hasText: 'Alice Chen' }).count()).toBe(0);
    expect(await yan.page.locator('.ended').count()).toBe(0);
    await yan.page.waitForSelector('#connection[data-state=online]');
    await startDirect(yan.page, 'bob', 'Bob Martin');
    await send(yan.page, 'Still here on arts');
    await expect.poll(() => statusOf(yan.page, 'Still here on arts'), { timeout: 10_000 }).not.toBe('sending');
    expect(yan.errors).toEqual([]);
    await yan.context.close();
  });
});

describe('the gateway’s sign-out confirmation', () => {
  it('is not asked of the portal’s own sign-out; without JavaScript its one button signs out', async () => {
    const { agent, redirect } = await portalSignOut('carol');
    const page = await agent.navigate(redirect);
    expect(page.html).not.toContain(CONFIRMATION);
    expect(page.html).toContain('/assets/sign-out-now.js');
    const done = await agent.submit(page, formWithAction(page, '/session/end/confirm'), { logout: 'yes' });
    expect(done.url).toMatch(new RegExp(`^${url('/portal/signed-out')}`));
    expect((await agent.navigate(url('/'))).html).toContain('name="password"');
  });

  it('is still asked when the portal’s sign-out link comes without the portal’s own state, or a forged one', async () => {
    const { agent, redirect } = await portalSignOut('dave');
    for (const state of [null, 'zzzzzzzz.forged', `${new URL(redirect).searchParams.get('state')}x`]) {
      const link = new URL(redirect);
      if (state === null) link.searchParams.delete('state');
      else link.searchParams.set('state', state);
      expect((await agent.navigate(link.href)).html).toContain(CONFIRMATION);
    }
    // Still signed in at the gateway: the portal comes back without the password.
    expect((await agent.navigate(url('/'))).html).not.toContain('name="password"');
  });

  it('is not asked of the admin console’s own Sign out either: the next visit asks for the password', async () => {
    const { agent, page } = await signInToConsole(campus.gateway.issuer, 'admin');
    const signOut = await agent.submit(page, formWithAction(page, '/admin/logout'));
    expect(signOut.html).not.toContain(CONFIRMATION);
    const done = await agent.submit(signOut, formWithAction(signOut, '/session/end/confirm'), { logout: 'yes' });
    expect(done.url).toMatch(new RegExp(`^${url('/admin/signed-out')}`));
    expect((await agent.navigate(url('/admin'))).html).toContain('name="password"');
  });

  it('is still asked when another app starts the sign-out (RP-initiated logout)', async () => {
    const app = await registerTestApp(campus.gateway, {
      name: 'Course pages',
      redirectUris: [REDIRECT],
      postLogoutRedirectUris: [AFTER_LOGOUT],
    });
    const rp = await discover(campus.gateway.issuer, app.clientId, app.clientSecret);
    const { tokens, agent } = await codeFlow(rp, REDIRECT, 'bob');
    const endSession = client.buildEndSessionUrl(rp, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: AFTER_LOGOUT,
      state: 'see-you',
    });
    const confirm = await agent.navigate(endSession.href, {}, AFTER_LOGOUT);
    expect(confirm.html).toContain('Sign out?');
    expect(confirm.html).toContain(CONFIRMATION);
  });
});
