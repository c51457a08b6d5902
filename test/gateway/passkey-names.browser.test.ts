import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { addPerson, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { pageErrors } from '../helpers/page-errors.ts';
import { chromiumMissing, launchChromium } from '../portal/browser.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { operator } from '../../gateway/context.ts';
import { dropSecondFactorRequirement, requireSecondFactor } from '../../gateway/factors/policy.ts';

let gateway: TestGateway;
let browser: Browser;
const url = (path: string) => `${gateway.issuer}${path}`;
const admin = () => ({ ...gateway.context(null), actor: operator('test') });
const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;
const passkeyNames = async (username: string) =>
  (await gateway.models.Passkey.findAll({ where: { userId: (await userNamed(username)).id } })).map((p) => p.name);
const registrations = async (username: string) =>
  gateway.models.AuditEvent.count({ where: { action: 'passkey.register', target: username } });

const BIDI_NAME = 'Laptop \u202Eyek';
const CONTROL_REFUSED =
  'A name cannot contain control characters, such as those that turn text around. Type it as plain text.';

type Person = { page: Page; cdp: CDPSession; authenticatorId: string; errors: string[] };

/** A browser of its own (own cookies) with a platform authenticator that answers without a prompt. */
async function person(): Promise<Person> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = pageErrors(page);
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
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
  return { page, cdp, authenticatorId, errors };
}

/** How many keys the person's authenticator holds: one made for a name the server never took stays there. */
const keysHeld = async (p: Person) =>
  (await p.cdp.send('WebAuthn.getCredentials', { authenticatorId: p.authenticatorId })).credentials.length;

async function passwordStep(page: Page, username: string) {
  await page.fill('#username', username);
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('form[action$="/login"] button[type=submit]');
}

async function openAccountPage(p: Person, username: string) {
  await p.page.goto(url('/account/security'));
  await passwordStep(p.page, username);
  await p.page.waitForURL(url('/account/security'));
}

/** What the passkey form shows after a try: its error, the name field's value, and whether it is marked. */
const formState = async (page: Page, form: string) => ({
  error: await page.locator(`${form} [data-passkey-error]:not([hidden])`).innerText({ timeout: 10_000 }),
  name: await page.locator('#passkey-name').inputValue(),
  invalid: await page.locator('#passkey-name').getAttribute('aria-invalid'),
  focused: await page.evaluate(() => document.activeElement?.id),
});

beforeAll(async () => {
  if (chromiumMissing) return;
  gateway = await startTestGateway('passkey-names-browser', { LOGIN_IP_LIMIT: '1000' });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await gateway?.stop();
});

describe.skipIf(chromiumMissing)('a passkey’s name, checked before any authenticator is asked', () => {
  it('on the account page: a refused name stays as typed, says what is wrong, and no key is made', {
    timeout: 60_000,
  }, async () => {
    await addPerson(gateway, 'nora');
    const nora = await person();
    await openAccountPage(nora, 'nora');

    await nora.page.fill('#passkey-name', BIDI_NAME);
    await nora.page.click('#add-passkey button[type=submit]');
    expect(await formState(nora.page, '#add-passkey')).toEqual({
      error: CONTROL_REFUSED,
      name: BIDI_NAME,
      invalid: 'true',
      focused: 'passkey-name',
    });
    // Blank but for spaces, which the field's `required` lets through.
    await nora.page.fill('#passkey-name', '   ');
    await nora.page.click('#add-passkey button[type=submit]');
    expect((await formState(nora.page, '#add-passkey')).error).toBe('Give the passkey a name.');

    // Refused by the server when the options are asked for (here: a page that sent another name than the
    // field's): said the same way, at the field, which keeps what was typed.
    await nora.page.route('**/account/security/passkeys/options', (route) =>
      route.continue({ postData: JSON.stringify({ ...route.request().postDataJSON(), name: ' ' }) }),
    );
    await nora.page.fill('#passkey-name', 'Laptop');
    await nora.page.click('#add-passkey button[type=submit]');
    expect(await formState(nora.page, '#add-passkey')).toEqual({
      error: 'Give the passkey a name.',
      name: 'Laptop',
      invalid: 'true',
      focused: 'passkey-name',
    });
    await nora.page.unroute('**/account/security/passkeys/options');
    expect(nora.page.url()).toBe(url('/account/security'));
    expect(await keysHeld(nora)).toBe(0);
    expect(await registrations('nora')).toBe(0);

    // A name that may be: the authenticator is asked, and the passkey is added under it.
    await nora.page.click('#add-passkey button[type=submit]');
    await expect.poll(() => nora.page.locator('ul.recovery-codes li').count(), { timeout: 15_000 }).toBe(10);
    expect(await passkeyNames('nora')).toEqual(['Laptop']);
    expect(await keysHeld(nora)).toBe(1);
    expect(nora.errors).toEqual([]);
  });

  it('at a sign-in’s setup step: a refused name stays as typed, and no key is made', {
    timeout: 60_000,
  }, async () => {
    await addPerson(gateway, 'otto', { roles: ['staff'] });
    await requireSecondFactor(admin(), { kind: 'role', value: 'staff' });
    try {
      const otto = await person();
      await otto.page.goto(url('/'));
      await passwordStep(otto.page, 'otto');
      await otto.page.waitForSelector('#enrol-passkey:not([hidden])', { timeout: 15_000 });
      const step = otto.page.url();

      await otto.page.fill('#passkey-name', BIDI_NAME);
      await otto.page.click('#enrol-passkey button[type=submit]');
      expect(await formState(otto.page, '#enrol-passkey')).toEqual({
        error: CONTROL_REFUSED,
        name: BIDI_NAME,
        invalid: 'true',
        focused: 'passkey-name',
      });
      expect(otto.page.url()).toBe(step);
      expect(await keysHeld(otto)).toBe(0);
      expect(await registrations('otto')).toBe(0);

      await otto.page.fill('#passkey-name', 'Phone');
      await otto.page.click('#enrol-passkey button[type=submit]');
      await expect.poll(() => otto.page.locator('ul.recovery-codes li').count(), { timeout: 15_000 }).toBe(10);
      expect(await passkeyNames('otto')).toEqual(['Phone']);
      expect(otto.errors).toEqual([]);
    } finally {
      await dropSecondFactorRequirement(admin(), { kind: 'role', value: 'staff' });
    }
  });
});
