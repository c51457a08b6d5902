import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { AtriumBot } from '../../sdk/bot.ts';
import { startCampus, type Campus } from '../helpers/federation.ts';
import { botToken, register } from '../apps/helpers.ts';
import { chromiumMissing, launchChromium, openConversation, send, signInToPortal, type Person } from './browser.ts';

const ALICE = 'alice@eng.campus.test';

let campus: Campus;
let browser: Browser;
let alice: Person;
let bot: AtriumBot;
let app: Server;
let appUrl: string;
/** Every request the app's server got: its booking page, and a card click would be a POST to its callback. */
const calls: { method: string; url: string; referer: string | undefined }[] = [];

beforeAll(async () => {
  if (chromiumMissing) return;
  campus = await startCampus('portal-links');
  app = createServer((req, res) => {
    calls.push({ method: req.method ?? '', url: req.url ?? '', referer: req.headers.referer });
    if (req.method === 'GET')
      res.writeHead(200, { 'content-type': 'text/html' }).end('<title>Booking 12</title><h1>Booking 12</h1>');
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  appUrl = `http://localhost:${(app.address() as AddressInfo).port}`;
  const rooms = await register(campus.gateway, {
    name: 'Room Bookings',
    slug: 'room-bookings',
    redirectUris: ['http://localhost:9/cb'],
    interactionCallbackUrl: `${appUrl}/atrium/callback`,
    botEnabled: true,
  });
  const token = await botToken(campus.gateway, rooms, campus.nodes.eng.url);
  bot = new AtriumBot({ nodeUrl: campus.nodes.eng.localUrl, token: () => token });
  browser = await launchChromium();
  alice = await signInToPortal(browser, campus.gateway.issuer, 'alice');
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await campus?.stop();
  await new Promise((r) => app?.close(r));
});

/** The links in the text of the newest message containing `text`, as their text and attributes. */
async function linksIn(text: string) {
  const message = alice.page.locator('.message', { hasText: text }).last();
  await message.waitFor({ timeout: 10_000 });
  return message.locator('.text a').evaluateAll((links) =>
    links.map((a) => ({
      text: a.textContent,
      href: a.getAttribute('href'),
      target: a.getAttribute('target'),
      rel: a.getAttribute('rel'),
    })),
  );
}

const linkTo = (url: string, text = url) => ({ text, href: url, target: '_blank', rel: 'noopener noreferrer' });

describe.skipIf(chromiumMissing)('web addresses in the portal', () => {
  it('are links in a message, opening in a new tab; nothing else is, and a sentence keeps its full stop', {
    timeout: 60_000,
  }, async () => {
    const p = alice.page;
    await bot.sendText({ to: ALICE }, 'Your room: https://rooms.campus.test/booking. Not javascript:alert(1)');
    await openConversation(p, 'Room Bookings');
    expect(await linksIn('Your room:')).toEqual([linkTo('https://rooms.campus.test/booking')]);
    // The full stop after the address is the sentence's, shown as text after the link.
    expect(await p.locator('.message', { hasText: 'Your room:' }).locator('.text').textContent()).toBe(
      'Your room: https://rooms.campus.test/booking. Not javascript:alert(1)',
    );

    await bot.sendText(
      { to: ALICE },
      'Map (see https://maps.campus.test/lab-2), and https://en.wikipedia.test/wiki/Set_(mathematics)! Also ' +
        'data:text/html,hi and javascript://%0aalert(1) and HTTPS://CAPS.campus.test/A?b=1&c=2, done',
    );
    expect(await linksIn('Map (see')).toEqual([
      linkTo('https://maps.campus.test/lab-2'),
      linkTo('https://en.wikipedia.test/wiki/Set_(mathematics)'),
      linkTo('https://caps.campus.test/A?b=1&c=2', 'HTTPS://CAPS.campus.test/A?b=1&c=2'),
    ]);

    // A mention and a link side by side both keep working, in what the person writes too; a mention's
    // full stop is the sentence's as well.
    await send(p, '@room-bookings the form is https://forms.campus.test/@alice/leave?, see @room-bookings.');
    await expect.poll(() => linksIn('the form is')).toEqual([linkTo('https://forms.campus.test/@alice/leave')]);
    const mine = p.locator('.message.mine:not(.pending)', { hasText: 'the form is' });
    await mine.waitFor({ timeout: 10_000 });
    expect(await mine.locator('.mention').allTextContents()).toEqual(['@room-bookings', '@room-bookings']);
    expect(await mine.locator('.text').textContent()).toBe(
      '@room-bookings the form is https://forms.campus.test/@alice/leave?, see @room-bookings.',
    );
    expect(alice.errors).toEqual([]);
  });

  it('wraps a very long address inside the message rather than widening it', { timeout: 30_000 }, async () => {
    const p = alice.page;
    const long = `https://rooms.campus.test/${'x'.repeat(600)}`;
    await bot.sendText({ to: ALICE }, `Long one: ${long}`);
    expect(await linksIn('Long one:')).toEqual([linkTo(long)]);
    const widths = await p
      .locator('.message', { hasText: 'Long one:' })
      .evaluate((li) => ({ bubble: li.querySelector('.bubble')!.scrollWidth, list: li.closest('ol')!.clientWidth }));
    expect(widths.bubble).toBeLessThanOrEqual(widths.list);
  });

  it('are reached with the keyboard and announced as links, and the arrow keys still move between messages', {
    timeout: 30_000,
  }, async () => {
    const p = alice.page;
    await bot.sendText({ to: ALICE }, 'Plain words after the links');
    await p.locator('.message', { hasText: 'Plain words after the links' }).waitFor();
    // From the newest message, one up is the one with a link; Tab goes from it into its link.
    await p.locator('.message', { hasText: 'Plain words after the links' }).locator('.bubble').focus();
    await p.keyboard.press('ArrowUp');
    expect(await p.evaluate(() => document.activeElement?.textContent)).toContain('Long one:');
    await p.keyboard.press('Tab');
    expect(await p.evaluate(() => document.activeElement?.tagName)).toBe('A');
    expect(await p.getByRole('link', { name: /^https:\/\/rooms\.campus\.test\/x+$/ }).count()).toBe(1);
    // Back on the message, the arrow keys go on moving between messages.
    await p.keyboard.press('Shift+Tab');
    await p.keyboard.press('ArrowDown');
    expect(await p.evaluate(() => document.activeElement?.textContent)).toContain('Plain words after the links');
    // Still one Tab stop for the messages: the one last reached.
    expect(await p.locator('.message-list .bubble[tabindex="0"]').count()).toBe(1);
  });
});

describe.skipIf(chromiumMissing)('a link on a card', () => {
  it('shows as a button-like link with where it leads, opens the page in a new tab, and never calls the app', {
    timeout: 60_000,
  }, async () => {
    const p = alice.page;
    const bookingUrl = `${appUrl}/bookings/12?tab=details`;
    await bot.sendCard(
      { to: ALICE },
      {
        title: 'Lab 2 is booked for you',
        text: 'All bookings: https://rooms.campus.test/mine.',
        fields: [{ label: 'Rules', value: 'https://rooms.campus.test/rules' }],
        actions: [
          { label: 'Open in Room Bookings', url: bookingUrl, style: 'primary' },
          { id: 'cancel', label: 'Cancel it', style: 'danger' },
        ],
      },
    );
    const card = p.locator('.message.has-card', { hasText: 'Lab 2 is booked' }).locator('.card');
    await card.waitFor({ timeout: 10_000 });
    const link = card.getByRole('link', { name: /^Open in Room Bookings/ });
    expect(await link.getAttribute('href')).toBe(bookingUrl);
    expect(await link.getAttribute('target')).toBe('_blank');
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer');
    // Where it leads shows next to its label, and a screen reader hears that it opens a new tab.
    const host = new URL(appUrl).host;
    expect(await link.locator('.card-link-host').textContent()).toBe(host);
    expect(await link.textContent()).toBe(`Open in Room Bookings ${host} (opens in a new tab)`);
    // The card's button is still a button; its text and values have their links.
    expect(await card.getByRole('button', { name: 'Cancel it' }).count()).toBe(1);
    expect(await card.locator('p a').getAttribute('href')).toBe('https://rooms.campus.test/mine');
    expect(await card.locator('dd a').getAttribute('href')).toBe('https://rooms.campus.test/rules');

    const before = calls.length;
    const [opened] = await Promise.all([alice.context.waitForEvent('page'), link.click()]);
    await opened.waitForLoadState();
    expect(opened.url()).toBe(bookingUrl);
    expect(await opened.title()).toBe('Booking 12');
    await opened.close();
    // The app served its page, without learning where from, and got no callback for the click.
    expect(calls.slice(before).filter((c) => c.url !== '/favicon.ico')).toEqual([
      { method: 'GET', url: '/bookings/12?tab=details', referer: undefined },
    ]);
    await p.waitForTimeout(500);
    expect(calls.filter((c) => c.method === 'POST')).toEqual([]);
    expect(alice.errors).toEqual([]);
  });
});
