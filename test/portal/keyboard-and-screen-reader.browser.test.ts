import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { AtriumClient } from '../../sdk/client.ts';
import type { LeaveApp } from '../../examples/leave-approval/main.ts';
import { startCampus, type Campus } from '../helpers/federation.ts';
import { dayFromToday, startLeaveApprovalFor } from '../helpers/leave-approval.ts';
import { connectAs } from '../helpers/node.ts';
import { chromiumMissing, launchChromium, openConversation, signInToPortal, type Person } from './browser.ts';
import { startTestApp, type TestApp } from './test-app.ts';

let campus: Campus;
let browser: Browser;
let leave: LeaveApp;
let notes: TestApp;
let alice: Person;
let dave: AtriumClient;
/** Dave's direct conversation with Alice. */
let withAlice: string;

beforeAll(async () => {
  if (chromiumMissing) return;
  campus = await startCampus('portal-keyboard');
  ({ app: leave } = await startLeaveApprovalFor(campus.gateway, {
    eng: campus.nodes.eng.url,
    arts: campus.nodes.arts.url,
  }));
  notes = await startTestApp(campus.gateway, 'notes', 'Course Notes');
  browser = await launchChromium();
  dave = await connectAs(campus.gateway, campus.nodes.eng, 'dave');
  for (let i = 1; i <= 12; i++)
    withAlice = (await dave.send({ to: 'alice@eng.campus.test', text: `Note ${i}` })).conversationId;
  alice = await signInToPortal(browser, campus.gateway.issuer, 'alice');
}, 90_000);

afterAll(async () => {
  dave?.close();
  await browser?.close();
  await notes?.close();
  await leave?.close();
  await campus?.stop();
});

/** What has the keyboard focus, as a screen reader names it: its role and accessible name. */
async function focused(page: Page): Promise<string> {
  const focus = page.locator('*:focus');
  if ((await focus.count()) === 0) return 'nothing';
  const snapshot = await focus.ariaSnapshot();
  return snapshot.split('\n')[0]!.replace(/^- /, '').replace(/:$/, '');
}

/** WCAG's contrast ratio of two CSS colours `rgb(r, g, b)`. */
function contrast(a: string, b: string): number {
  const luminance = (colour: string) => {
    const [r, g, bl] = colour
      .match(/\d+(?:\.\d+)?/g)!
      .slice(0, 3)
      .map((v) => Number(v) / 255);
    const f = (c: number) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r!) + 0.7152 * f(g!) + 0.0722 * f(bl!);
  };
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

const activeTag = (page: Page) => page.evaluate(() => document.activeElement?.tagName ?? null);

describe.skipIf(chromiumMissing)('the portal with a keyboard and a screen reader', () => {
  it('makes the messages one Tab stop, moved through with the arrow keys, each named by who wrote it', {
    timeout: 60_000,
  }, async () => {
    const p = alice.page;
    await openConversation(p, 'Dave Okafor');
    await expect.poll(() => p.locator('.message .text', { hasText: /^Note 12$/ }).count(), { timeout: 10_000 }).toBe(1);
    const clock = (n: number) =>
      p
        .locator('.message', { has: p.locator('.text', { hasText: new RegExp(`^Note ${n}$`) }) })
        .locator('.meta time')
        .textContent();
    // From the message box on out of the conversation, Shift+Tab stops at one message, the newest, named by
    // its sender and time, however many there are.
    await p.locator('.conversation .composer-input').focus();
    const stops: string[] = [];
    const inConversation = () => p.evaluate(() => document.activeElement?.closest('.conversation') != null);
    for (let i = 0; i < 30 && (await inConversation()); i++) {
      await p.keyboard.press('Shift+Tab');
      stops.push(await focused(p));
    }
    expect(stops.filter((s) => s.startsWith('article'))).toEqual([`article "Dave Okafor ${await clock(12)}"`]);
    expect(stops.length).toBeLessThan(6);
    // Back in, the arrow keys move between them; Home and End go to the first and the last.
    await p.locator('.conversation .composer-input').focus();
    while (!(await focused(p)).startsWith('article')) await p.keyboard.press('Shift+Tab');
    expect(await focused(p)).toBe(`article "Dave Okafor ${await clock(12)}"`);
    await p.keyboard.press('ArrowUp');
    expect(await focused(p)).toBe(`article "Dave Okafor ${await clock(11)}"`);
    expect(await p.locator('*:focus .text').textContent()).toBe('Note 11');
    await p.keyboard.press('Home');
    expect(await p.locator('*:focus .text').textContent()).toBe('Note 1');
    await p.keyboard.press('ArrowDown');
    expect(await p.locator('*:focus .text').textContent()).toBe('Note 2');
    // The message last reached is where Tab comes back to.
    await p.locator('.conversation .composer-input').focus();
    while (!(await focused(p)).startsWith('article')) await p.keyboard.press('Shift+Tab');
    expect(await p.locator('*:focus .text').textContent()).toBe('Note 2');
    await p.keyboard.press('End');
    expect(await p.locator('*:focus .text').textContent()).toBe('Note 12');
    // The scrolling list around them is named as a group may be, not a nameless box with a name.
    expect(await p.getByRole('group', { name: 'Messages' }).count()).toBe(1);
    expect(alice.errors).toEqual([]);
  });

  it('does not read out each time someone starts typing, and shows it all the same', {
    timeout: 30_000,
  }, async () => {
    const p = alice.page;
    await dave.typing(withAlice);
    const line = p.locator('.conversation .typing');
    await expect.poll(() => line.textContent(), { timeout: 10_000 }).toBe('Dave Okafor is typing…');
    expect(await line.isVisible()).toBe(true);
    expect(
      await line.evaluate(
        (el) => el.closest('[aria-live]:not([aria-live=off]), [role=log], [role=status], [role=alert]') !== null,
      ),
    ).toBe(false);
  });

  it('names the view and the conversation in the tab’s title, and moves the focus to a view’s heading', {
    timeout: 60_000,
  }, async () => {
    const p = alice.page;
    expect(await p.title()).toBe('Dave Okafor · Atrium');
    expect(await p.getByRole('heading', { level: 1 }).count()).toBe(1);
    await p.click('a[data-nav="#/apps"]');
    await expect.poll(() => p.title()).toBe('Apps · Atrium');
    expect(await focused(p)).toBe('heading "Apps" [level=2]');
    // Unread messages are counted before the view's name.
    await dave.send({ to: 'alice@eng.campus.test', text: 'Are you there?' });
    await expect.poll(() => p.title(), { timeout: 10_000 }).toBe('(1) Apps · Atrium');
    await p.click('a[data-nav="#/search"]');
    await expect.poll(() => p.title()).toBe('(1) Search · Atrium');
    await p.click('a[data-nav="#/new"]');
    await expect.poll(() => p.title()).toBe('(1) New chat · Atrium');
    await openConversation(p, 'Dave Okafor');
    await expect.poll(() => p.title(), { timeout: 10_000 }).toBe('Dave Okafor · Atrium');
  });

  it('empties the search box with Escape before leaving, and keeps a message being written', {
    timeout: 60_000,
  }, async () => {
    const p = alice.page;
    const input = p.locator('.conversation .composer-input');
    await input.fill('Half a thought');
    await input.press('Escape');
    expect(await p.locator('.conversation').count()).toBe(1);
    expect(await input.inputValue()).toBe('Half a thought');
    // A second Escape leaves, as one does with an empty box; what was written stays as the draft.
    await input.press('Escape');
    await expect.poll(() => p.locator('.conversation').count()).toBe(0);

    await p.click('a[data-nav="#/search"]');
    const search = p.locator('#search-query');
    await search.fill('Note');
    await search.press('Escape');
    expect(await search.inputValue()).toBe('');
    expect(await p.title()).toBe('Search · Atrium');
    await search.press('Escape');
    await expect.poll(() => p.title()).toBe('Chats · Atrium');
  });

  it('names buttons and app links by the words they show', { timeout: 60_000 }, async () => {
    const p = alice.page;
    await p.click('a[data-nav="#/new"]');
    await p.fill('#people-query', 'dave');
    const add = p.getByRole('button', { name: 'Add to group: Dave Okafor' });
    await add.waitFor({ timeout: 10_000 });
    expect(await add.textContent()).toBe('Add to group');
    await add.click();
    const chosen = p.getByRole('button', { name: 'Chosen: Dave Okafor', pressed: true });
    expect(await chosen.textContent()).toBe('Chosen ✓');

    await p.click('a[data-nav="#/apps"]');
    const tile = p.getByRole('link', { name: 'Course Notes (opens in a new tab)' });
    await tile.waitFor({ timeout: 10_000 });
    const description = await tile.evaluate((el) =>
      (el.getAttribute('aria-describedby') ?? '')
        .split(' ')
        .map((id) => document.getElementById(id)?.textContent)
        .join(' '),
    );
    expect(description).toBe('Course Notes, for the portal tests');
  });

  it('keeps the focus in a card whose button was pressed, when the app answers and when it cannot', {
    timeout: 90_000,
  }, async () => {
    // Dave asks for leave twice, in the app opened from his portal; Carol approves from the cards in her chat.
    const student = await signInToPortal(browser, campus.gateway.issuer, 'dave');
    await student.page.click('a[data-nav="#/apps"]');
    const tile = student.page.locator('.app-tile[data-app="leave-approval"]');
    const [tab] = await Promise.all([student.context.waitForEvent('page'), tile.click()]);
    for (const [from, to] of [
      [7, 9],
      [14, 15],
    ] as const) {
      await tab.goto(leave.url);
      await tab.fill('#from', dayFromToday(from));
      await tab.fill('#to', dayFromToday(to));
      await tab.fill('#reason', `Away from day ${from}`);
      await tab.click('button[type=submit]:has-text("Send to my approver")');
      await expect.poll(() => tab.locator('body').textContent(), { timeout: 10_000 }).toContain('Sent to');
    }
    await student.context.close();

    const carol = await signInToPortal(browser, campus.gateway.issuer, 'carol');
    const p = carol.page;
    await openConversation(p, 'Leave Approval');
    const card = (reason: string) => p.locator('.message.has-card', { hasText: reason }).locator('.card');
    await card('Away from day 7').locator('.card-action[data-action=approve]').waitFor({ timeout: 10_000 });
    await card('Away from day 14').locator('.card-action[data-action=approve]').waitFor({ timeout: 10_000 });
    // Each card is a group named by its title, not one more landmark of the page.
    expect(await p.getByRole('region', { name: 'Leave request from Dave Okafor' }).count()).toBe(0);
    expect(await p.getByRole('group', { name: 'Leave request from Dave Okafor' }).count()).toBe(2);

    await card('Away from day 7').locator('.card-action[data-action=approve]').focus();
    await p.keyboard.press('Enter');
    await expect
      .poll(() => card('Away from day 7').textContent(), { timeout: 10_000 })
      .toContain('Approved by Carol Silva');
    await expect.poll(() => activeTag(p), { timeout: 5_000 }).not.toBe('BODY');
    expect(await focused(p)).toBe('heading "Leave request from Dave Okafor" [level=3]');
    expect(await p.evaluate(() => document.activeElement?.closest('.message')?.textContent)).toContain(
      'Away from day 7',
    );

    // The app gone, the click fails: the focus is back on the button, to try again.
    await leave.close();
    await card('Away from day 14').locator('.card-action[data-action=approve]').focus();
    await p.keyboard.press('Enter');
    await expect.poll(() => p.locator('.toast').count(), { timeout: 20_000 }).toBeGreaterThan(0);
    await expect.poll(() => focused(p), { timeout: 5_000 }).toBe('button "Approve"');
    expect(await p.evaluate(() => document.activeElement?.closest('.message')?.textContent)).toContain(
      'Away from day 14',
    );
    expect(carol.errors).toEqual([]);
    await carol.context.close();
  });

  it('tells online, away and offline apart by shape as well as colour, each clear against its white ring', {
    timeout: 60_000,
  }, async () => {
    const p = alice.page;
    await p.click('a[data-nav="#/"]');
    const dot = p.locator('.conversation-item', { hasText: 'Dave Okafor' }).locator('.presence');
    /** The dot's look with its colours left out, and the colours it is drawn in but white. */
    const look = () =>
      dot.evaluate((el) => {
        const style = getComputedStyle(el);
        const drawn = `${style.backgroundImage}|${style.boxShadow}`;
        return {
          shape: drawn.replace(/rgba?\([^)]*\)/g, 'colour'),
          colours: [...`${style.backgroundColor} ${drawn}`.matchAll(/rgba?\([^)]*\)/g)]
            .map((m) => m[0])
            .filter((c) => c !== 'rgb(255, 255, 255)' && !c.startsWith('rgba(0, 0, 0, 0')),
          ring: style.borderTopColor,
        };
      });
    await expect.poll(() => dot.getAttribute('class'), { timeout: 10_000 }).toContain('presence-online');
    const online = await look();
    await dave.setPresence('away');
    await expect.poll(() => dot.getAttribute('class'), { timeout: 10_000 }).toContain('presence-away');
    const away = await look();
    dave.close();
    await expect.poll(() => dot.getAttribute('class'), { timeout: 20_000 }).toContain('presence-offline');
    const offline = await look();
    expect(new Set([online.shape, away.shape, offline.shape]).size).toBe(3);
    for (const state of [online, away, offline]) {
      expect(state.colours.length).toBeGreaterThan(0);
      for (const colour of state.colours) expect(contrast(colour, state.ring)).toBeGreaterThanOrEqual(3);
    }
  });
});
