import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import * as client from 'openid-client';
import { addPerson, registerTestApp, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { discover } from '../helpers/rp.ts';
import { pageErrors } from '../helpers/page-errors.ts';
import { chromiumMissing, launchChromium, PHONE, smallTargets } from '../portal/browser.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';

let appServer: Server;
let REDIRECT: string;
let gateway: TestGateway;
let browser: Browser;
const url = (path: string) => `${gateway.issuer}${path}`;
const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;
const passkeyNames = async (username: string) =>
  (await gateway.models.Passkey.findAll({ where: { userId: (await userNamed(username)).id } })).map((p) => p.name);

/** 64 characters, the most a passkey's name may have, with no space or hyphen to break the line at. */
const LONG_NAME = 'TheLaptopFromTheThirdFloorLibraryDeskBesideTheWindowNumberTwelve'.slice(0, 64);
/** An app's name as long, and as unbroken, as a person might see on their account page. */
const LONG_APP = 'CampusCourseRegistrationAndTimetablePlannerForEveryFacultyAndSchool';

/** A phone's browser of its own (own cookies) with a platform authenticator that answers without a prompt. */
async function phone(): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: PHONE });
  const page = await context.newPage();
  const errors = pageErrors(page);
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { page, errors };
}

async function passwordStep(page: Page, username: string) {
  await page.fill('#username', username);
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('form[action$="/login"] button[type=submit]');
}

/** How wide the page is: wider than the screen means it scrolls sideways (the console's main column too). */
const pageWidth = (page: Page) =>
  page.evaluate(() => {
    const main = document.querySelector('main')!;
    return Math.max(document.scrollingElement!.scrollWidth, main.scrollWidth - main.clientWidth + window.innerWidth);
  });

beforeAll(async () => {
  if (chromiumMissing) return;
  appServer = createServer((_req, res) => res.end('the app'));
  await new Promise<void>((resolve) => appServer.listen(0, '127.0.0.1', resolve));
  REDIRECT = `http://localhost:${(appServer.address() as AddressInfo).port}/cb`;
  gateway = await startTestGateway('long-names-phone', { LOGIN_IP_LIMIT: '1000' });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await gateway?.stop();
  appServer?.close();
});

describe.skipIf(chromiumMissing)('long names on a phone', () => {
  it('a 64-character passkey name and a long app name wrap on the account page and the console’s person page', {
    timeout: 90_000,
  }, async () => {
    await addPerson(gateway, 'lena');
    const app = await registerTestApp(gateway, { name: LONG_APP, redirectUris: [REDIRECT], firstParty: false });
    const rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
    const lena = await phone();
    await lena.page.goto(url('/account/security'));
    // Every button of the sign-in page is a thumb's size on a phone.
    expect(await smallTargets(lena.page, 'main button, .card button')).toEqual([]);
    await passwordStep(lena.page, 'lena');
    await lena.page.waitForURL(url('/account/security'));
    await lena.page.fill('#passkey-name', LONG_NAME);
    await lena.page.click('#add-passkey button[type=submit]');
    await expect.poll(() => lena.page.locator('ul.recovery-codes li').count(), { timeout: 15_000 }).toBe(10);
    // Download, Copy and the way back: each a thumb's size.
    expect(await smallTargets(lena.page, 'button, .link-row a')).toEqual([]);
    expect(await passkeyNames('lena')).toEqual([LONG_NAME]);

    // The app, allowed: it is listed under "Apps you allowed", and under the device that signed in to it.
    const authorize = client.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: client.randomState(),
    });
    await lena.page.goto(authorize.toString());
    await lena.page.click('form[action$="/confirm"] button[type=submit]');
    await lena.page.waitForURL((u) => u.href.startsWith(REDIRECT), { timeout: 15_000 });

    await lena.page.goto(url('/account/security'));
    expect(await lena.page.locator('.passkey-name').innerText()).toBe(LONG_NAME);
    expect(await lena.page.locator('.allowed-app-name').innerText()).toBe(LONG_APP);
    expect(await lena.page.locator('.device-apps').first().innerText()).toContain(LONG_APP);
    const overflowing = await lena.page.evaluate(
      (width) =>
        [...document.querySelectorAll('.passkey-name, .allowed-app-name, .device-name, .device-apps, #factor-status')]
          .filter((el) => {
            // Where its text ends, not its box: a word wider than its paragraph runs out of the box.
            const text = document.createRange();
            text.selectNodeContents(el);
            return text.getBoundingClientRect().right > width;
          })
          .map((el) => el.className || el.id),
      PHONE.width,
    );
    expect({ width: await pageWidth(lena.page), overflowing }).toEqual({ width: PHONE.width, overflowing: [] });
    expect(lena.errors).toEqual([]);

    // The console's page of the person, and its list of apps, on an administrator's phone.
    const console = await browser.newContext({ viewport: PHONE });
    const page = await console.newPage();
    await page.goto(url('/admin/login'));
    await passwordStep(page, 'admin');
    await page.waitForURL(url('/admin/users'));
    const widths: Record<string, number> = {};
    for (const path of [`/admin/users/${(await userNamed('lena')).id}`, '/admin/apps']) {
      await page.goto(url(path));
      widths[path] = await pageWidth(page);
    }
    expect(Object.entries(widths).filter(([, width]) => width > PHONE.width)).toEqual([]);
  });
});
