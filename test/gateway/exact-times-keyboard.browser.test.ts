import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { chromiumMissing, launchChromium } from '../portal/browser.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { pageErrors } from '../helpers/page-errors.ts';

let gateway: TestGateway;
let browser: Browser;
const url = (path: string) => `${gateway.issuer}${path}`;

beforeAll(async () => {
  if (chromiumMissing) return;
  gateway = await startTestGateway('exact-times-keyboard');
  browser = await launchChromium();
  await gateway.models.AuditEvent.create({
    at: new Date('2025-03-14T20:05:09.000Z'),
    actorId: null,
    actorName: 'ops',
    action: 'user.unlock',
    target: 'alice',
    outcome: 'success',
    ip: null,
    details: JSON.stringify({}),
  });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await gateway?.stop();
});

describe.skipIf(chromiumMissing)('exact times on the console', () => {
  it('are reached with the keyboard, and then shown and read in full, not only on hover', {
    timeout: 60_000,
  }, async () => {
    const context = await browser.newContext({ locale: 'en-GB', timezoneId: 'Europe/Paris' });
    const page = await context.newPage();
    const errors = pageErrors(page);
    await page.goto(url('/admin/login'));
    await page.fill('#username', 'admin');
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('form[action$="/login"] button[type=submit]');
    await page.waitForURL((at) => at.pathname.startsWith('/admin/') && at.pathname !== '/admin/login');
    await page.goto(url('/admin/audit?action=user.unlock&actor=ops'));
    const time = page.locator('table.audit tbody tr', { hasText: 'alice' }).locator('time').first();
    const exact = (await time.getAttribute('title'))!;
    expect(exact).toContain('(2025-03-14 20:05:09 UTC)');
    const shown = (await time.innerText()).trim();

    let reached = false;
    for (let i = 0; i < 80 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await time.evaluate((el) => el === document.activeElement);
    }
    expect(reached).toBe(true);
    expect(await time.innerText()).toBe(exact);
    // What a screen reader reads of it then, too.
    expect(await time.ariaSnapshot()).toBe(`- time: ${exact}`);
    await page.keyboard.press('Tab');
    expect((await time.innerText()).trim()).toBe(shown);
    expect(errors).toEqual([]);
    await context.close();
  });
});
