import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page, Route } from 'playwright-core';
import { operator } from '../../gateway/context.ts';
import { setUserStatus } from '../../gateway/accounts/update-user.ts';
import { signedTransaction, startCampus, type Campus } from '../helpers/federation.ts';
import { connectAs } from '../helpers/node.ts';
import {
  chromiumMissing,
  launchChromium,
  openConversation,
  ownMessage,
  PHONE,
  send,
  signInToPortal,
  type Person,
} from './browser.ts';
import { LENA, lawEntry, lawGroup } from './law-relay.ts';

/** Alice reads in British English, from Shanghai (UTC+8 all year): what she sees follows both. */
const ZONE = 'Asia/Shanghai';
const DAY = 86_400_000;
const ALICE = 'alice@eng.campus.test';

let campus: Campus;
let browser: Browser;
let alice: Person;

beforeAll(async () => {
  if (chromiumMissing) return;
  campus = await startCampus('portal-times-and-names');
  browser = await launchChromium();
  alice = await signInToPortal(browser, campus.gateway.issuer, 'alice', { locale: 'en-GB', timezoneId: ZONE });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await campus?.stop();
});

/** A moment in Alice's words, as Intl writes it in her language and time zone. */
const inHerZone = (at: Date, options: Intl.DateTimeFormatOptions) =>
  new Intl.DateTimeFormat('en-GB', { ...options, timeZone: ZONE }).format(at);
const clock = (at: Date) => inHerZone(at, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });

/** A long message, as someone pastes a whole notice: ~4,000 characters. */
const OLD_NEWS = `Old news, and then ${'the whole notice again '.repeat(170)}`;
const NOTE = 'Yesterday’s <b>note</b>: the Note is due';

describe.skipIf(chromiumMissing)('what the portal tells about when, where and who', () => {
  it('shows each message’s time, a line between days, the day’s time or the date in the list, and “@you” until read', {
    timeout: 60_000,
  }, async () => {
    const a = alice.page;
    const now = new Date();
    const threeDaysAgo = new Date(now.getTime() - 3 * DAY);
    const yesterday = new Date(now.getTime() - DAY);
    const court = randomUUID();
    const reading = randomUUID();
    const events = [
      lawGroup(court, 'Moot court', [ALICE]),
      lawEntry(court, 1, { text: 'Three days ago' }, { at: threeDaysAgo }),
      lawEntry(court, 2, { text: NOTE }, { at: yesterday }),
      lawEntry(court, 3, { text: 'Today, @alice, you open', mentions: [ALICE] }, { at: now }),
      lawGroup(reading, 'Reading group', [ALICE]),
      lawEntry(reading, 1, { text: OLD_NEWS }, { at: threeDaysAgo }),
    ];
    expect(await signedTransaction(campus, 'law', 'eng', events)).toEqual({ status: 200, body: { applied: 6 } });

    // The list: today's last message by its time, an older one by its date; a mention of Alice marked.
    const courtItem = a.locator('.conversation-item', { hasText: 'Moot court' });
    const readingItem = a.locator('.conversation-item', { hasText: 'Reading group' });
    await expect.poll(() => courtItem.locator('time').textContent(), { timeout: 10_000 }).toBe(clock(now));
    await expect
      .poll(() => readingItem.locator('time').textContent(), { timeout: 10_000 })
      .toBe(
        inHerZone(threeDaysAgo, { day: 'numeric', month: 'short' }) +
          (inHerZone(threeDaysAgo, { year: 'numeric' }) === inHerZone(now, { year: 'numeric' })
            ? ''
            : ` ${inHerZone(threeDaysAgo, { year: 'numeric' })}`),
      );
    expect(await courtItem.locator('.mention-mark').allTextContents()).toEqual(['@you']);
    expect(await courtItem.getAttribute('aria-label')).toContain('mentions you');
    expect(await readingItem.locator('.mention-mark').count()).toBe(0);
    // A long last message is read out as the list shows it, its start, not all 4,000 characters of it.
    const spoken = (await readingItem.getAttribute('aria-label'))!;
    expect(spoken).toMatch(/^Reading group, group, .*Old news, and then /);
    expect(spoken.length).toBeLessThan(250);
    expect(spoken.endsWith('…')).toBe(true);

    // The conversation: each message at its time, with the day in full on hover, under a line per day.
    await openConversation(a, 'Moot court');
    await expect.poll(() => a.locator('.message-list > .message').count(), { timeout: 10_000 }).toBe(3);
    const days = await a
      .locator('.message-list > li')
      .evaluateAll((items) =>
        items.map((li) =>
          li.classList.contains('day-separator') || li.classList.contains('unread-separator')
            ? `— ${li.textContent} —`
            : 'message',
        ),
      );
    const dateLine = inHerZone(threeDaysAgo, { weekday: 'long', day: 'numeric', month: 'long' });
    expect(days[0]).toMatch(new RegExp(`^— ${dateLine}( \\d{4})? —$`));
    // All three are unread: the conversation opens at the first, under "New messages".
    expect(days.slice(1)).toEqual(['— New messages —', 'message', '— Yesterday —', 'message', '— Today —', 'message']);
    for (const [text, at] of [
      ['Three days ago', threeDaysAgo],
      [NOTE, yesterday],
      ['Today, @alice, you open', now],
    ] as const) {
      const time = a.locator('.message', { hasText: text }).locator('.meta time');
      expect(await time.textContent()).toBe(clock(at));
      const full = (await time.getAttribute('title')) ?? '';
      for (const part of [
        inHerZone(at, { weekday: 'long' }),
        inHerZone(at, { day: 'numeric' }),
        inHerZone(at, { month: 'long' }),
        inHerZone(at, { year: 'numeric' }),
        clock(at),
      ])
        expect(full).toContain(part);
    }
    // Read now: the mark goes.
    await expect.poll(() => courtItem.locator('.mention-mark').count()).toBe(0);
    expect(alice.errors).toEqual([]);
  });

  it('names each search result’s conversation, sender and time, marks the words found as text, and opens it there', {
    timeout: 30_000,
  }, async () => {
    const a = alice.page;
    await a.click('a[data-nav="#/search"]');
    await a.fill('#search-query', 'NOTE');
    await a.press('#search-query', 'Enter');
    const result = a.locator('.search-result', { hasText: 'the Note is due' });
    await expect.poll(() => result.count(), { timeout: 10_000 }).toBe(1);
    expect(await result.locator('.result-conversation').allTextContents()).toEqual(['Moot court']);
    await expect.poll(() => result.locator('.result-sender').allTextContents()).toEqual(['Lena Park']);
    expect(await result.locator('time').textContent()).toContain(clock(new Date(Date.now() - DAY)));
    // The words found, in any case, are marked; what Lena wrote stays text, markup and all.
    expect(await result.locator('.result-text mark').allTextContents()).toEqual(['note', 'Note']);
    expect(await result.locator('.result-text').textContent()).toBe(NOTE);
    expect(await result.locator('.result-text b').count()).toBe(0);

    await result.click();
    await expect.poll(() => a.locator('#conversation-title').textContent()).toBe('Moot court');
    await expect.poll(() => a.locator('.message.found', { hasText: 'the Note is due' }).count()).toBe(1);
    expect(alice.errors).toEqual([]);
  });

  it('shows the units of the people found by their names, their paths on hover', { timeout: 30_000 }, async () => {
    const a = alice.page;
    await a.click('a[data-nav="#/new"]');
    await a.fill('#people-query', 'carol');
    const units = a.locator('.person', { hasText: 'carol@' }).locator('.person-units');
    await expect.poll(() => units.count(), { timeout: 10_000 }).toBe(1);
    expect((await units.textContent())!.slice(3).split('; ').sort()).toEqual([
      'Department of Electrical Engineering, College of Engineering',
      'Department of Music, College of Arts',
    ]);
    expect((await units.getAttribute('title'))!.split(', ').sort()).toEqual(['campus/arts/music', 'campus/eng/ee']);
    expect(alice.errors).toEqual([]);
  });

  it('shows no username where a name goes while the directory is slow, and the names this tab knew at once', {
    timeout: 60_000,
  }, async () => {
    const held: Route[] = [];
    const lookup = (url: URL) => url.pathname.endsWith('/api/v1/directory') && url.searchParams.has('usernames');
    const hold = (page: Page) => page.route(lookup, (route) => void held.push(route));
    const release = async (page: Page) => {
      await page.unroute(lookup);
      for (const route of held.splice(0)) await route.continue().catch(() => undefined);
    };
    const sender = (page: Page) => page.locator('.message', { hasText: 'Three days ago' }).locator('.sender');

    // Her tab, reloaded: Lena's name as the directory gave it before, at once, while the directory is asked again.
    const a = alice.page;
    await hold(a);
    try {
      await a.reload();
      await a.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
      await openConversation(a, 'Moot court');
      await sender(a).waitFor({ timeout: 10_000 });
      await expect.poll(() => held.length, { timeout: 10_000 }).toBeGreaterThan(0);
      expect(await sender(a).textContent()).toBe(`Lena Park ${LENA}`);
    } finally {
      await release(a);
    }

    // A new tab knows no names yet: a placeholder, never the username, until the directory answers.
    const tab = await alice.context.newPage();
    try {
      await hold(tab);
      await tab.goto(`${campus.gateway.issuer}/`);
      await tab.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
      await openConversation(tab, 'Moot court');
      await sender(tab).waitFor({ timeout: 10_000 });
      await expect.poll(() => held.length, { timeout: 10_000 }).toBeGreaterThan(0);
      expect(await sender(tab).textContent()).toBe(`… ${LENA}`);
      expect(await tab.locator('.conversation-list').textContent()).not.toMatch(/\blena\b/);
      await release(tab);
      await expect.poll(() => sender(tab).textContent(), { timeout: 10_000 }).toBe(`Lena Park ${LENA}`);
    } finally {
      await tab.close();
    }
    expect(alice.errors).toEqual([]);
  });

  it('names the college that hosts a group by its name, not its node’s domain, in its heading and details', {
    timeout: 30_000,
  }, async () => {
    const a = alice.page;
    const review = randomUUID();
    const events = [lawGroup(review, 'Bar review', [ALICE]), lawEntry(review, 1, { text: 'The reading list is up' })];
    expect(await signedTransaction(campus, 'law', 'eng', events)).toEqual({ status: 200, body: { applied: 2 } });
    await a.locator('.conversation-item', { hasText: 'Bar review' }).waitFor({ timeout: 10_000 });
    await openConversation(a, 'Bar review');
    await expect
      .poll(() => a.locator('.conversation-subtitle').textContent(), { timeout: 10_000 })
      .toBe('School of Law · 2 members: you, Lena Park');
    await a.getByRole('button', { name: 'Group details' }).click();
    const details = a.getByRole('dialog', { name: 'Group details' });
    await expect
      .poll(() => details.getByText(/^Hosted by /).textContent())
      .toBe('Hosted by School of Law: its owner and admins change it there. You can leave it from here.');
    await a.keyboard.press('Escape');
    await expect.poll(() => details.count()).toBe(0);
    expect(alice.errors).toEqual([]);
  });

  it('marks “@you” on a conversation whose unread mention is older than the latest page a new tab loads', {
    timeout: 60_000,
  }, async () => {
    const a = alice.page;
    const hall = randomUUID();
    // The mention, then more than the page the portal loads of a conversation at first (50 entries).
    const chatter = Array.from({ length: 60 }, (_, i) => lawEntry(hall, i + 2, { text: `Chatter ${i + 2}` }));
    const events = [
      lawGroup(hall, 'Study hall', [ALICE]),
      lawEntry(hall, 1, { text: '@alice, your turn to book the room', mentions: [ALICE] }),
      ...chatter,
    ];
    expect(await signedTransaction(campus, 'law', 'eng', events)).toEqual({ status: 200, body: { applied: 62 } });
    const item = a.locator('.conversation-item', { hasText: 'Study hall' });
    await expect.poll(() => item.locator('.badge').textContent(), { timeout: 10_000 }).toBe('61');

    await a.reload();
    await a.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
    await expect.poll(() => item.locator('.badge').textContent(), { timeout: 10_000 }).toBe('61');
    expect(await item.locator('.mention-mark').allTextContents()).toEqual(['@you']);
    expect(await item.getAttribute('aria-label')).toContain('mentions you');
    // Read: the mark goes, and stays gone in the next tab.
    await openConversation(a, 'Study hall');
    await expect.poll(() => item.locator('.mention-mark').count()).toBe(0);
    await a.click('a[data-nav="#/"]');
    await a.reload();
    await a.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
    await item.waitFor({ timeout: 10_000 });
    expect(await item.locator('.badge').count()).toBe(0);
    expect(await item.locator('.mention-mark').count()).toBe(0);
    expect(alice.errors).toEqual([]);
  });

  it('tags each conversation of someone of two colleges with its college, by name, readable on a phone', {
    timeout: 60_000,
  }, async () => {
    // Carol is of Arts and of Engineering.
    const bob = await connectAs(campus.gateway, campus.nodes.arts, 'bob');
    const dave = await connectAs(campus.gateway, campus.nodes.eng, 'dave');
    const LAB = 'Second-year electrical engineering lab partners, spring term';
    try {
      await bob.send({ to: 'carol@arts.campus.test', text: 'The concert is on Friday' });
      await dave.createGroup(LAB, ['carol@eng.campus.test']);
    } finally {
      bob.close();
      dave.close();
    }
    const carol = await signInToPortal(browser, campus.gateway.issuer, 'carol', { viewport: PHONE, hasTouch: true });
    try {
      const p = carol.page;
      const fromBob = p.locator('.conversation-item', { hasText: 'Bob Martin' });
      const lab = p.locator('.conversation-item', { hasText: LAB });
      await lab.waitFor({ timeout: 10_000 });
      await fromBob.waitFor({ timeout: 10_000 });
      expect(await fromBob.locator('.domain-tag').textContent()).toBe('Arts');
      expect(await fromBob.locator('.domain-tag').getAttribute('title')).toBe('College of Arts');
      expect(await fromBob.getAttribute('aria-label')).toMatch(/^Bob Martin, at College of Arts, /);
      expect(await lab.locator('.domain-tag').textContent()).toBe('Engineering');
      expect(await lab.getAttribute('aria-label')).toMatch(/, group, at College of Engineering, /);
      // A long title gives way to its college, which shows whole beside it.
      const shown = await lab.locator('.item-title').evaluate((title) => {
        const tag = title.querySelector<HTMLElement>('.domain-tag')!;
        return {
          whole: tag.scrollWidth <= tag.clientWidth,
          inside: tag.getBoundingClientRect().right <= title.getBoundingClientRect().right + 0.5,
        };
      });
      expect(shown).toEqual({ whole: true, inside: true });
      expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
      expect(carol.errors).toEqual([]);
    } finally {
      await carol.context.close();
    }
  });

  it('keeps a group’s host college in sight in its heading on a phone, the members’ names giving way', {
    timeout: 60_000,
  }, async () => {
    const bob = await connectAs(campus.gateway, campus.nodes.arts, 'bob');
    try {
      await bob.createGroup('Orchestra', [ALICE, 'dave@eng.campus.test', 'carol@arts.campus.test']);
    } finally {
      bob.close();
    }
    const phone = await signInToPortal(browser, campus.gateway.issuer, 'alice', { viewport: PHONE, hasTouch: true });
    try {
      const p = phone.page;
      await p.locator('.conversation-item', { hasText: 'Orchestra' }).waitFor({ timeout: 10_000 });
      await openConversation(p, 'Orchestra');
      const subtitle = p.locator('.conversation-subtitle');
      await expect
        .poll(() => subtitle.textContent(), { timeout: 10_000 })
        .toMatch(/^College of Arts · 4 members: you, /);
      // The line is cut (names are in Group details); where the group lives and its size stay in the box.
      const seen = await subtitle.evaluate((line) => {
        const range = document.createRange();
        range.setStart(line.firstChild!, 0);
        range.setEnd(line.firstChild!, 'College of Arts · 4 members'.length);
        return {
          cut: line.scrollWidth > line.clientWidth,
          hostInSight: range.getBoundingClientRect().right <= line.getBoundingClientRect().right,
        };
      });
      expect(seen).toEqual({ cut: true, hostInSight: true });
      expect(phone.errors).toEqual([]);
    } finally {
      await phone.context.close();
    }
  });

  it('shows the words searched for and what they found again, where they were, after a result is opened', {
    timeout: 30_000,
  }, async () => {
    const a = alice.page;
    await a.click('a[data-nav="#/search"]');
    await a.fill('#search-query', 'Chatter');
    await a.press('#search-query', 'Enter');
    const results = a.locator('.search-result');
    await expect.poll(() => results.count(), { timeout: 10_000 }).toBeGreaterThan(30);
    const found = await results.count();
    const panel = a.locator('.search-panel');
    const chosen = results.filter({ has: a.locator('.result-text', { hasText: /^Chatter 30$/ }) });
    await chosen.scrollIntoViewIfNeeded();
    const scrolled = await panel.evaluate((el) => el.scrollTop);
    expect(scrolled).toBeGreaterThan(100);
    const back = async () => {
      await expect.poll(() => a.inputValue('#search-query'), { timeout: 5_000 }).toBe('Chatter');
      expect(await results.count()).toBe(found);
      expect(await a.locator('#search-status').textContent()).toBe(`${found} messages found.`);
    };

    // Opened, then the browser's Back: the results as they were, scrolled there, the one opened focused.
    await chosen.click();
    await expect.poll(() => a.locator('#conversation-title').textContent()).toBe('Study hall');
    await a.goBack();
    await back();
    await expect.poll(() => chosen.evaluate((el) => el === document.activeElement)).toBe(true);
    expect(Math.abs((await panel.evaluate((el) => el.scrollTop)) - scrolled)).toBeLessThan(2);
    // Opened again, then Search in the top bar: the same.
    await chosen.click();
    await expect.poll(() => a.locator('#conversation-title').textContent()).toBe('Study hall');
    await a.click('a[data-nav="#/search"]');
    await back();
    expect(Math.abs((await panel.evaluate((el) => el.scrollTop)) - scrolled)).toBeLessThan(2);
    expect(alice.errors).toEqual([]);
  });
});

describe.skipIf(chromiumMissing)('who wrote a message and when, to a screen reader, a finger and a keyboard', () => {
  it('reads “You” for one’s own messages, and gives the date in full and who read it on a tap or Tab', {
    timeout: 60_000,
  }, async () => {
    const dave = await connectAs(campus.gateway, campus.nodes.eng, 'dave');
    const carol = await connectAs(campus.gateway, campus.nodes.eng, 'carol');
    const phone = await signInToPortal(browser, campus.gateway.issuer, 'alice', {
      viewport: PHONE,
      hasTouch: true,
      locale: 'en-GB',
      timezoneId: ZONE,
    });
    try {
      const group = await dave.createGroup('Figures for the report', [ALICE, 'carol@eng.campus.test']);
      await dave.send({ conversationId: group.id, text: 'The draft is up' });
      const p = phone.page;
      await p.locator('.conversation-item', { hasText: 'Figures for the report' }).waitFor({ timeout: 10_000 });
      await openConversation(p, 'Figures for the report');
      await send(p, 'I will add the figures');
      const mine = ownMessage(p, 'I will add the figures');
      const theirs = p.locator('.message:not(.mine)', { hasText: 'The draft is up' });
      await expect.poll(() => mine.locator('.status').getAttribute('data-status'), { timeout: 10_000 }).not.toBe(null);
      const last = async () => (await carol.conversations()).find((c) => c.id === group.id)?.lastSeq ?? 0;
      await expect.poll(last, { timeout: 10_000 }).toBe(3);
      await carol.markRead(group.id, 3);
      await expect.poll(() => mine.locator('.status').textContent(), { timeout: 10_000 }).toBe('Read by 1 of 2');

      const full = async (message: typeof mine) =>
        new Intl.DateTimeFormat('en-GB', { dateStyle: 'full', timeStyle: 'short', timeZone: ZONE }).format(
          new Date((await message.locator('.meta time').getAttribute('datetime'))!),
        );
      const info = (message: typeof mine) => message.locator('.message-info');
      const shown = async (message: typeof mine) => ((await info(message).boundingBox())?.width ?? 0) > 1;
      // A screen reader hears who wrote each, and when in full; for her own, who read it.
      expect(await mine.ariaSnapshot()).toMatch(/^- listitem:\n {2}- article "You [^"]+":\n {4}- paragraph: You\n/);
      expect(await mine.ariaSnapshot()).toContain(`- paragraph: Sent ${await full(mine)}. Read by Carol Silva.`);
      expect(await theirs.ariaSnapshot()).toContain(`- paragraph: Sent ${await full(theirs)}.`);
      // The eye sees it once the message is tapped, or reached from the keyboard (the one before, too).
      expect(await shown(mine)).toBe(false);
      await mine.locator('.bubble').tap();
      await expect.poll(() => shown(mine)).toBe(true);
      expect(await info(mine).innerText()).toBe(`Sent ${await full(mine)}. Read by Carol Silva.`);
      await p.keyboard.press('ArrowUp');
      await expect.poll(() => shown(theirs)).toBe(true);
      expect(await theirs.locator('.bubble').evaluate((el) => el === document.activeElement)).toBe(true);
      expect(await shown(mine)).toBe(false);
      expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
      expect(phone.errors).toEqual([]);
    } finally {
      dave.close();
      carol.close();
      await phone.context.close();
    }
  });
});

describe.skipIf(chromiumMissing)('someone whose account was disabled', () => {
  it('keeps their name, tagged “account disabled” in the list, heading and members, and says messages to them wait', {
    timeout: 60_000,
  }, async () => {
    const DAVE = 'dave@eng.campus.test';
    const ops = { ...campus.gateway.context(null), actor: operator('test') };
    const dave = await connectAs(campus.gateway, campus.nodes.eng, 'dave');
    try {
      const direct = await dave.openDirect(ALICE);
      await dave.send({ conversationId: direct.id, text: 'Are the figures in?' });
      await dave.createGroup('Lab safety rota', [ALICE]);
      await setUserStatus(ops, 'dave', 'disabled');

      const a = alice.page;
      await a.reload();
      await a.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
      const item = a.locator('.conversation-item', { hasText: 'Are the figures in?' });
      await expect.poll(() => item.locator('.item-name').textContent(), { timeout: 10_000 }).toBe('Dave Okafor');
      await expect
        .poll(() => item.locator('.disabled-tag').textContent(), { timeout: 10_000 })
        .toBe('account disabled');
      expect(await item.getAttribute('aria-label')).toMatch(/^Dave Okafor, account disabled, /);

      await item.click();
      await expect
        .poll(() => a.locator('#conversation-title').textContent(), { timeout: 10_000 })
        .toBe('Dave Okafor account disabled');
      const note = a.locator('.conversation .app-note');
      expect(await note.textContent()).toBe(
        "Dave Okafor's account is disabled: messages wait and reach them only if it is enabled again.",
      );
      expect(await note.isVisible()).toBe(true);
      // Still sent: the node keeps it for him, and he gets it if his account is enabled again.
      await send(a, 'See you on Monday');
      await ownMessage(a, 'See you on Monday').waitFor({ timeout: 10_000 });

      await openConversation(a, 'Lab safety rota');
      await a.getByRole('button', { name: 'Group details' }).click();
      const row = a.getByRole('dialog', { name: 'Group details' }).locator(`.member[data-address="${DAVE}"]`);
      await expect.poll(() => row.locator('strong').textContent(), { timeout: 10_000 }).toBe('Dave Okafor');
      expect(await row.locator('.disabled-tag').textContent()).toBe('account disabled');
      await a.keyboard.press('Escape');
      expect(alice.errors).toEqual([]);
    } finally {
      dave.close();
      await setUserStatus(ops, 'dave', 'active');
    }
  });
});
