import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startTestNode, type TestNode } from '../helpers/node.ts';
import { pageErrors } from '../helpers/page-errors.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { signOutEverywhere } from '../../gateway/accounts/end-access.ts';
import { operator } from '../../gateway/context.ts';
import { chromiumMissing, DESKTOP, launchChromium, signInToPortal } from './browser.ts';

/** With an apostrophe and an ampersand, which the tab and the top bar must show as written. */
const CAMPUS = "St. Mary's College of Arts & Sciences";

let named: TestGateway;
let plain: TestGateway;
let eng: TestNode;
let browser: Browser;

beforeAll(async () => {
  if (chromiumMissing) return;
  [named, plain] = await Promise.all([
    startTestGateway('portal-campus-named', { CAMPUS_NAME: CAMPUS }),
    startTestGateway('portal-campus-plain'),
  ]);
  // Chat comes online, and ends when the session does, only with the person's node running.
  eng = await startTestNode(named, 'eng.campus.test');
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await eng?.stop();
  await Promise.all([named?.stop(), plain?.stop()]);
});

/**
 * Alice signed in to the portal of `gateway` in a browser of her own, with the page drawn (its nodes are
 * not running here: the top bar and the tab's title do not wait for chat). Page errors and CSP violations
 * are collected.
 */
async function portalOf(gateway: TestGateway): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  const errors = pageErrors(page);
  await page.goto(`${gateway.issuer}/`);
  await page.fill('#username', 'alice');
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(`${gateway.issuer}/`);
  await page.waitForSelector('#app[data-state=ready]', { timeout: 15_000 });
  return { page, errors };
}

describe.skipIf(chromiumMissing)('the portal’s tab and top bar', () => {
  it('name the campus where CAMPUS_NAME is set', { timeout: 60_000 }, async () => {
    const { page, errors } = await portalOf(named);
    await expect.poll(() => page.title(), { timeout: 10_000 }).toBe(`Chats · ${CAMPUS}`);
    expect(await page.locator('.topbar .brand').textContent()).toBe(CAMPUS);
    expect(await page.locator('h1').first().textContent()).toBe(CAMPUS);
    await page.click('a[data-nav="#/apps"]');
    await expect.poll(() => page.title()).toBe(`Apps · ${CAMPUS}`);
    expect(errors).toEqual([]);

    // Signed out in another tab of the same browser: this one says whose session ended.
    const other = await page.context().newPage();
    await other.goto(`${named.issuer}/`);
    await other.waitForSelector('#app[data-state=ready]', { timeout: 15_000 });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await other.waitForSelector('.ended', { timeout: 15_000 });
    expect(await other.locator('.ended').textContent()).toContain(`Your ${CAMPUS} session ended`);
    expect(await other.locator('.ended').textContent()).not.toContain('Atrium');
    await page.context().close();
  });

  it('name the campus after the session ends, when chat closes', { timeout: 60_000 }, async () => {
    const { page, context } = await signInToPortal(browser, named.issuer, 'alice');
    await signOutEverywhere({ ...named.context(null), actor: operator('test') }, 'alice');
    await page.waitForSelector('#app[data-state=ended]', { timeout: 15_000 });
    expect(await page.title()).toBe(CAMPUS);
    await context.close();
  });

  it('say Atrium, as before, where it is not', { timeout: 60_000 }, async () => {
    const { page } = await portalOf(plain);
    await expect.poll(() => page.title(), { timeout: 10_000 }).toBe('Chats · Atrium');
    expect(await page.locator('.topbar .brand').textContent()).toBe('Atrium');
    await page.context().close();
  });
});
