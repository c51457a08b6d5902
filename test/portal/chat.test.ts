import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startCampus, type Campus } from '../helpers/federation.ts';
import { chromiumMissing, launchChromium, openConversation, ownMessage, send, signInToPortal, type Person } from './browser.ts';

let campus: Campus;
let browser: Browser;
let alice: Person;
let bob: Person;

beforeAll(async () => {
  if (chromiumMissing) return;
  campus = await startCampus('portal-chat');
  browser = await launchChromium();
  alice = await signInToPortal(browser, campus.gateway.issuer, 'alice');
  bob = await signInToPortal(browser, campus.gateway.issuer, 'bob');
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await campus?.stop();
});

describe.skipIf(chromiumMissing)('the portal in a real browser', () => {
  it('lets two people of two colleges chat both ways, with receipts and typing', { timeout: 60_000 }, async () => {
    const a = alice.page;
    const b = bob.page;
    await a.click('a[data-nav="#/new"]');
    await a.fill('#people-query', 'bob');
    await a.click('button[aria-label="Message Bob Martin"]');
    await a.waitForSelector('.conversation .composer-input');
    await expect.poll(() => a.locator('#conversation-title').textContent()).toBe('Bob Martin');

    await send(a, 'Hello Bob, from Engineering');
    await expect.poll(() => ownMessage(a, 'Hello Bob').getAttribute('data-seq').catch(() => null)).toBeTruthy();

    // Bob's list shows the new conversation, unread, with the last message.
    const item = b.locator('.conversation-item', { hasText: 'Alice Chen' });
    await expect.poll(() => item.locator('.badge').textContent().catch(() => null), { timeout: 10_000 }).toBe('1');
    await expect.poll(() => item.locator('.item-preview').textContent()).toBe('Hello Bob, from Engineering');
    await expect.poll(() => ownMessage(a, 'Hello Bob').locator('.status').getAttribute('data-status'), { timeout: 10_000 }).toBe('delivered');

    await openConversation(b, 'Alice Chen');
    await expect.poll(() => b.locator('.message', { hasText: 'Hello Bob, from Engineering' }).count()).toBe(1);
    await expect.poll(() => ownMessage(a, 'Hello Bob').locator('.status').getAttribute('data-status'), { timeout: 10_000 }).toBe('read');
    await expect.poll(() => item.locator('.badge').count()).toBe(0);

    await b.locator('.conversation .composer-input').pressSequentially('Hi Al', { delay: 30 });
    await expect.poll(() => a.locator('.typing').textContent(), { timeout: 10_000 }).toBe('Bob Martin is typing…');
    await b.locator('.conversation .composer-input').press('Enter');
    await expect.poll(() => a.locator('.message:not(.mine)', { hasText: 'Hi Al' }).count(), { timeout: 10_000 }).toBe(1);
    await expect.poll(() => ownMessage(b, 'Hi Al').locator('.status').getAttribute('data-status'), { timeout: 10_000 }).toBe('read');
    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  });
});
