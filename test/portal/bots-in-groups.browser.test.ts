import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { AtriumBot } from '../../sdk/bot.ts';
import { startCampus, type Campus } from '../helpers/federation.ts';
import { setAppDisabled } from '../../gateway/apps-registry/set-app-disabled.ts';
import { asOperator, botToken, register } from '../apps/helpers.ts';
import { chromiumMissing, launchChromium, openConversation, signInToPortal, type Person } from './browser.ts';

const ROOMS = 'room-bookings@eng.campus.test';

let campus: Campus;
let browser: Browser;
let alice: Person;
let rooms: Awaited<ReturnType<typeof register>>;

beforeAll(async () => {
  if (chromiumMissing) return;
  campus = await startCampus('portal-bots-in-groups');
  rooms = await register(campus.gateway, {
    name: 'Room Bookings',
    slug: 'room-bookings',
    redirectUris: ['http://localhost:9/cb'],
    botEnabled: true,
  });
  const printers = await register(campus.gateway, {
    name: 'Lab Printers',
    slug: 'lab-printers',
    redirectUris: ['http://localhost:9/cb'],
    botEnabled: true,
  });
  await setAppDisabled(asOperator(campus.gateway), printers.slug, true);
  browser = await launchChromium();
  alice = await signInToPortal(browser, campus.gateway.issuer, 'alice');
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await campus?.stop();
});

describe.skipIf(chromiumMissing)('an app’s bot in the portal', () => {
  it('is found in New chat as an app, put in a new group, and posts there; it is offered no owner or admin role', {
    timeout: 90_000,
  }, async () => {
    const a = alice.page;
    await a.click('a[data-nav="#/new"]');
    const status = a.locator('#people-status');
    const found = a.locator('.people .person');
    const search = async (query: string) => {
      await a.fill('#people-query', '');
      await a.fill('#people-query', query);
      await expect.poll(() => status.textContent(), { timeout: 10_000 }).toMatch(/found/);
      return found.allTextContents();
    };
    // By its app's name, its slug and its whole address; shown as an app, not as a person.
    for (const query of ['Room Bookings', 'room-bookings', ROOMS]) {
      expect(await search(query)).toEqual([`Room Bookings · app ${ROOMS}MessageAdd to group`]);
    }
    // A turned-off app's bot is nobody to add.
    expect(await search('Lab Printers')).toEqual([]);
    expect(await status.textContent()).toBe('Nobody found.');

    await search('room');
    await a.getByRole('button', { name: 'Add to group: Room Bookings (app)' }).click();
    await search('dave');
    await a.getByRole('button', { name: 'Add to group: Dave Okafor' }).click();
    expect(await a.locator('.group-form .chip').allTextContents()).toEqual(['Room Bookings (app)', 'Dave Okafor']);
    await a.fill('#group-title', 'Room 101');
    await a.click('.group-form button[type=submit]');
    await expect.poll(() => a.locator('#conversation-title').textContent(), { timeout: 10_000 }).toBe('Room 101');

    // The bot finds the group among its own and posts into it with its token.
    const token = await botToken(campus.gateway, rooms, campus.nodes.eng.url);
    const bot = new AtriumBot({ nodeUrl: campus.nodes.eng.localUrl, token: () => token });
    const group = (await bot.conversations()).find((c) => c.title === 'Room 101');
    expect(group).toBeDefined();
    await bot.sendText({ conversationId: group!.id }, 'Room 101 is booked 2–4 pm.');
    await expect
      .poll(() => a.locator('.message:not(.mine)', { hasText: 'Room 101 is booked' }).count(), { timeout: 10_000 })
      .toBe(1);

    // Group details: Dave may be made owner or admin; the bot may not, only removed.
    await a.getByRole('button', { name: 'Group details' }).click();
    const panel = a.getByRole('dialog', { name: 'Group details' });
    await expect.poll(() => panel.locator('.member').count(), { timeout: 10_000 }).toBe(3);
    const actions = (who: string) =>
      panel.locator('.member', { hasText: who }).locator('[data-action]').allTextContents();
    expect(await actions('Dave Okafor')).toEqual(['Make admin', 'Make owner', 'Remove']);
    expect(await actions(ROOMS)).toEqual(['Remove']);
    await panel.getByRole('button', { name: 'Close' }).click();
    expect(alice.errors).toEqual([]);
  });

  it('is added to a group from Group details, and a direct chat with it can be opened', {
    timeout: 90_000,
  }, async () => {
    const a = alice.page;
    await a.click('a[data-nav="#/new"]');
    await a.fill('#people-query', 'dave');
    await a.getByRole('button', { name: 'Add to group: Dave Okafor' }).click();
    await a.fill('#group-title', 'Room 102');
    await a.click('.group-form button[type=submit]');
    await expect.poll(() => a.locator('#conversation-title').textContent(), { timeout: 10_000 }).toBe('Room 102');

    await a.getByRole('button', { name: 'Group details' }).click();
    const panel = a.getByRole('dialog', { name: 'Group details' });
    await panel.getByLabel('Find people to add').fill('room book');
    await panel.getByRole('button', { name: 'Add to group: Room Bookings (app)' }).click();
    await panel.getByRole('button', { name: 'Add chosen people' }).click();
    await expect.poll(() => panel.locator('.dialog-notice[role=status]').textContent()).toBe('Added Room Bookings.');
    await expect.poll(() => panel.locator('.member', { hasText: ROOMS }).count(), { timeout: 10_000 }).toBe(1);
    expect(await panel.locator('.member', { hasText: ROOMS }).locator('[data-action]').allTextContents()).toEqual([
      'Remove',
    ]);
    await panel.getByRole('button', { name: 'Close' }).click();

    // The node lets a person open a direct conversation with a bot of their node: "Message" does.
    await a.click('a[data-nav="#/new"]');
    await a.fill('#people-query', 'room bookings');
    await a.getByRole('button', { name: 'Message Room Bookings (app)' }).click();
    await a.waitForSelector('.conversation .composer-input');
    const token = await botToken(campus.gateway, rooms, campus.nodes.eng.url);
    const bot = new AtriumBot({ nodeUrl: campus.nodes.eng.localUrl, token: () => token });
    await expect
      .poll(async () => (await bot.conversations()).filter((c) => c.kind === 'direct').map((c) => c.members.length))
      .toEqual([2]);

    // After a reload the page knows the bot only from its node's member list: still its app, only Remove.
    await a.reload();
    await a.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
    await openConversation(a, 'Room 102');
    await a.getByRole('button', { name: 'Group details' }).click();
    const reloaded = a.getByRole('dialog', { name: 'Group details' });
    const row = reloaded.locator('.member', { hasText: ROOMS });
    await expect.poll(() => row.count(), { timeout: 10_000 }).toBe(1);
    expect(await row.locator('.member-name').textContent()).toBe(`Room Bookings · app ${ROOMS}`);
    expect(await row.locator('[data-action]').allTextContents()).toEqual(['Remove']);
    expect(
      await reloaded.locator('.member', { hasText: 'Dave Okafor' }).locator('[data-action]').allTextContents(),
    ).toEqual(['Make admin', 'Make owner', 'Remove']);
    await reloaded.getByRole('button', { name: 'Close' }).click();
    expect(alice.errors).toEqual([]);
  });
});
