import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { inetOrgPerson, ouLdif, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { chromiumMissing, launchChromium } from '../portal/browser.ts';
import { register, RESET_URL, sync } from './fixtures.ts';

let gateway: TestGateway;
let ldap: TestSlapd;
let browser: Browser;

const vera = { uid: 'vera', name: 'Vera Vasquez', password: 'vera-directory-pw', ous: ['Library'] };

beforeAll(async () => {
  if (chromiumMissing) return;
  gateway = await startTestGateway('dir-browser');
  ldap = await startTestSlapd({ ldif: [ouLdif([['Library']]), inetOrgPerson(vera)].join('\n') });
  await register(gateway, 'campus-ldap', ldap.url);
  await sync(gateway, 'campus-ldap');
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await ldap?.stop();
  await gateway?.stop();
});

describe.skipIf(chromiumMissing)('a directory person in a real browser', () => {
  it('signs in with the directory password, is refused a wrong one, and finds the directory reset page', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));

    await page.goto(`${gateway.issuer}/portal/login`);
    await page.fill('#username', 'vera');
    await page.fill('#password', 'not-the-directory-password');
    await page.click('form[action$="/login"] button[type=submit]');
    await expect.poll(() => page.locator('[role=alert]').innerText()).toMatch(/username or password/i);

    await page.click('#forgot-password');
    await expect.poll(() => page.locator(`a[href="${RESET_URL}"]`).count()).toBe(1);
    await page.goto(`${gateway.issuer}/portal/login`);

    await page.fill('#username', 'vera');
    await page.fill('#password', vera.password);
    await page.click('form[action$="/login"] button[type=submit]');
    await page.waitForURL(`${gateway.issuer}/`);
    await expect.poll(() => page.content()).toContain('Vera Vasquez');
    expect(errors).toEqual([]);
    await context.close();
  });
});
