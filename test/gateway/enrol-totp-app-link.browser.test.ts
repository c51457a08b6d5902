import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { TOTP, URI } from 'otpauth';
import { addPerson, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { chromiumMissing, launchChromium, PHONE } from '../portal/browser.ts';
import { pageErrors } from '../helpers/page-errors.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { dropSecondFactorRequirement, requireSecondFactor } from '../../gateway/factors/policy.ts';
import { operator } from '../../gateway/context.ts';

/**
 * The setup step of a sign-in, opened on the phone that has the authenticator app: the QR code cannot be
 * scanned from the phone's own screen, so a link hands the app the key (an otpauth:// address) instead.
 */
let gateway: TestGateway;
let browser: Browser;

beforeAll(async () => {
  if (chromiumMissing) return;
  gateway = await startTestGateway('enrol-totp-app-link');
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await gateway?.stop();
});

describe.skipIf(chromiumMissing)('setting up an authenticator app on the phone itself', () => {
  it('offers a link that opens the app with the key shown, under the page’s CSP', async () => {
    const asOperator = { ...gateway.context(null), actor: operator('test') };
    await addPerson(gateway, 'phoebe', { roles: ['staff'] });
    await requireSecondFactor(asOperator, { kind: 'role', value: 'staff' });
    try {
      const context = await browser.newContext({ viewport: PHONE });
      const page = await context.newPage();
      const errors = pageErrors(page);
      await page.goto(`${gateway.issuer}/`);
      await page.fill('#username', 'phoebe');
      await page.fill('#password', DEMO_PASSWORD);
      await page.click('form[action$="/login"] button[type=submit]');
      await page.click('#begin-totp button[type=submit]');

      const link = page.getByRole('link', { name: 'Open in your authenticator app' });
      await expect.poll(() => link.count(), { timeout: 15_000 }).toBe(1);
      // The address as the browser reads it from the page: the app's own, every part of it intact.
      const href = (await link.getAttribute('href'))!;
      expect(href).toMatch(/^otpauth:\/\/totp\//);
      const app = URI.parse(href) as TOTP;
      const shown = (await page.locator('#totp-secret').innerText()).replace(/\s/g, '');
      expect(app.secret.base32).toBe(shown);
      expect(app.label).toBe('phoebe');
      expect(app.issuer).toBe(`Atrium ${new URL(gateway.issuer).hostname} port ${new URL(gateway.issuer).port}`);
      expect([app.algorithm, app.digits, app.period]).toEqual(['SHA1', 6, 30]);

      // Followed, it leaves the page to the app (here, no app answers): nothing is refused on the way.
      await link.click();
      await page.waitForTimeout(500);
      expect(errors).toEqual([]);
      await context.close();
    } finally {
      await dropSecondFactorRequirement(asOperator, { kind: 'role', value: 'staff' });
    }
  }, 60_000);
});
