import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startCampus, type Campus } from '../helpers/federation.ts';
import { register } from '../apps/helpers.ts';
import {
  chromiumMissing,
  launchChromium,
  openConversation,
  ownMessage,
  send,
  signInToPortal,
  startDirect,
} from './browser.ts';

const ROOMS = 'room-bookings@eng.campus.test';

let campus: Campus;
let browser: Browser | undefined;

beforeAll(async () => {
  if (chromiumMissing) return;
  campus = await startCampus('portal-bot-direct-chat');
  await register(campus.gateway, {
    name: 'Room Bookings',
    slug: 'room-bookings',
    redirectUris: ['http://localhost:9/cb'],
    botEnabled: true,
  });
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await campus?.stop();
});

/** What the open conversation says of the app and of one's message to it. */
async function shown(page: Page, text: string) {
  const status = ownMessage(page, text).locator('.status');
  return {
    heading: await page.locator('.conversation-subtitle').textContent(),
    status: await status.textContent(),
    detail: await status.getAttribute('title'),
    note: await page
      .locator('.app-note:not([hidden])')
      .textContent()
      .catch(() => null),
  };
}

const answered = {
  heading: ROOMS,
  status: 'Sent',
  detail: 'Sent to Room Bookings, an app',
  note: 'Room Bookings is an app: it can read what is written here, and answers through the buttons on its cards.',
};

describe.skipIf(chromiumMissing)('a direct chat with an app’s bot', () => {
  it('shows no presence for the app and no delivery to wait for, before and after the page is reloaded', {
    timeout: 60_000,
  }, async () => {
    const alice = await signInToPortal(browser!, campus.gateway.issuer, 'alice');
    try {
      const a = alice.page;
      await startDirect(a, 'room', 'Room Bookings (app)');
      await send(a, 'Is room 101 free at noon?');
      await expect.poll(() => shown(a, 'Is room 101 free at noon?'), { timeout: 10_000 }).toEqual(answered);

      // A page that did not find it by a search knows it from the directory, not only from its own messages.
      const again = await alice.context.newPage();
      await again.goto(`${campus.gateway.issuer}/`);
      await again.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
      await openConversation(again, 'Room Bookings');
      await expect.poll(() => shown(again, 'Is room 101 free at noon?'), { timeout: 10_000 }).toEqual(answered);
      expect(alice.errors).toEqual([]);
    } finally {
      await alice.context.close();
    }
  });
});
