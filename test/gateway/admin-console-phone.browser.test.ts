import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { chromiumMissing, DESKTOP, launchChromium, PHONE } from '../portal/browser.ts';

let gateway: TestGateway;
let browser: Browser;
let page: Page;
let daveId: string;

beforeAll(async () => {
  if (chromiumMissing) return;
  gateway = await startTestGateway('console-phone', { LOGIN_IP_LIMIT: '1000' });
  daveId = (await gateway.models.User.findOne({ where: { username: 'dave' } }))!.id;
  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: PHONE })).newPage();
  await page.goto(`${gateway.issuer}/admin/login`);
  await page.fill('#username', 'admin');
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(`${gateway.issuer}/admin/users`);
});
afterAll(async () => {
  await browser?.close();
  await gateway?.stop();
});

/**
 * How wide the page is: wider than the screen means the whole page scrolls sideways. The main column,
 * which scrolls on its own, counts too: on a phone only a table's own box may scroll.
 */
const pageWidth = () =>
  page.evaluate(() => {
    const main = document.querySelector('main')!;
    return Math.max(document.scrollingElement!.scrollWidth, main.scrollWidth - main.clientWidth + window.innerWidth);
  });

describe.skipIf(chromiumMissing)('the admin console on a phone', () => {
  it('fits every page in 390px: tables scroll in their own box, unit checkboxes wrap', async () => {
    const paths = [
      '/admin/users',
      '/admin/users/new',
      `/admin/users/${daveId}`,
      '/admin/apps/new',
      '/admin/domains/eng.campus.test',
      '/admin/audit',
      '/admin/federation',
    ];
    const widths: Record<string, number> = {};
    for (const path of paths) {
      await page.goto(`${gateway.issuer}${path}`);
      widths[path] = await pageWidth();
    }
    expect(Object.entries(widths).filter(([, width]) => width > PHONE.width)).toEqual([]);
    // A unit's path is read in full, not cut at the screen's edge.
    await page.goto(`${gateway.issuer}/admin/users/new`);
    const unit = page.locator('.checks label', { hasText: 'campus/arts/history' });
    const box = (await unit.boundingBox())!;
    expect(box.x + box.width).toBeLessThanOrEqual(PHONE.width);
  });

  it('keeps the Disable section’s “I understand” box at its own size, on a phone and a desktop', async () => {
    for (const viewport of [PHONE, DESKTOP]) {
      await page.setViewportSize(viewport);
      await page.goto(`${gateway.issuer}/admin/users/${daveId}`);
      const box = '#status-form input[type=checkbox][name=understood]';
      const radio = (await page.locator(box).boundingBox())!;
      const label = (await page
        .locator('#status-form label', { has: page.locator('input[name=understood]') })
        .boundingBox())!;
      expect(radio.width).toBeLessThan(40);
      // The button starts its label, and the words follow it.
      expect(radio.x + radio.width).toBeLessThan(label.x + 40);
      expect(label.width).toBeGreaterThan(radio.width + 40);
    }
    await page.setViewportSize(PHONE);
  });
});
