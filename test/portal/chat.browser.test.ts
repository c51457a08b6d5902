import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { signedTransaction, startCampus, type Campus } from '../helpers/federation.ts';
import { addPeople, addPerson } from '../helpers/gateway.ts';
import { advanceSequences, insertRows } from '../../node/messages/group-commit.ts';
import {
  chromiumMissing,
  DESKTOP,
  launchChromium,
  openConversation,
  ownMessage,
  PHONE,
  send,
  signInToPortal,
  startDirect,
  statusOf,
  type Person,
  smallTargets,
} from './browser.ts';
import { lawEntry } from './law-relay.ts';
import { portalPeople } from './portal-people.ts';

let campus: Campus;
let browser: Browser;
let alice: Person;
let bob: Person;

beforeAll(async () => {
  if (chromiumMissing) return;
  // Long histories are written here a few hundred messages at once: past a person's usual burst (100),
  // the node would pace them at 20 a second, seconds of waiting that no test here is about.
  campus = await startCampus('portal-chat', { nodeEnv: { MESSAGE_BURST: '500' } });
  browser = await launchChromium();
  alice = await signIn('alice');
  bob = await signIn('bob');
}, 90_000);

const { signIn, connect } = portalPeople(
  () => campus,
  () => browser,
);

afterAll(async () => {
  await browser?.close();
  await campus?.stop();
});

// A tiny PNG (1×1, red), to upload as an image.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==',
  'base64',
);

/** The unread count on a conversation of the list, or null while it has none. */
const badgeOf = (item: Locator) =>
  item
    .locator('.badge')
    .textContent()
    .catch(() => null);

/** A picture taller than the page shows it (120×480), drawn by the browser itself, as a PNG. */
async function tallPicture(page: Page): Promise<Buffer> {
  const data = await page.evaluate(() => {
    const canvas = document.createElement('canvas');
    canvas.width = 120;
    canvas.height = 480;
    const g = canvas.getContext('2d')!;
    g.fillStyle = '#2452c9';
    g.fillRect(0, 0, 120, 480);
    return canvas.toDataURL('image/png').split(',')[1]!;
  });
  return Buffer.from(data, 'base64');
}

/**
 * Starts keeping what a screen reader would read out of the page from now on, as a screen reader hears
 * it: text written into a live region (aria-live other than "off", or role log, status or alert), where
 * the nearest such region decides, and none that is aria-busy.
 */
async function recordAnnouncements(page: Page): Promise<void> {
  await page.evaluate(() => {
    const said: string[] = [];
    Object.assign(window, { said });
    const announced = (node: Node): boolean => {
      const el = node instanceof Element ? node : node.parentElement;
      if (!el || el.closest('[aria-busy=true]')) return false;
      const region = el.closest('[aria-live], [role=log], [role=status], [role=alert]');
      return region !== null && region.getAttribute('aria-live') !== 'off';
    };
    new MutationObserver((records) => {
      for (const r of records) {
        if (!announced(r.target)) continue;
        if (r.type === 'characterData') said.push(r.target.textContent ?? '');
        for (const node of r.addedNodes) if (node.textContent?.trim()) said.push(node.textContent);
      }
    }).observe(document.body, { childList: true, characterData: true, subtree: true });
  });
}

/** What was read out since recordAnnouncements that has `text` in it. */
const announcedWith = (page: Page, text: string) =>
  page.evaluate((t) => (window as unknown as { said: string[] }).said.filter((s) => s.includes(t)), text);

/** How far, in CSS px, the conversation's messages are scrolled up from their end. */
const distanceFromEnd = (page: Page) =>
  page.locator('.conversation .messages').evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);

/**
 * Scrolls the open conversation up as a reader does, again as each page of earlier messages comes (a
 * scroll while one is loading asks for nothing), until the message with this text shows.
 */
async function scrollBackTo(page: Page, text: RegExp): Promise<void> {
  const scroller = page.locator('.conversation .messages');
  const shown = page.locator('.message .text', { hasText: text });
  await expect
    .poll(
      async () => {
        await scroller.evaluate((el) => el.scrollTo({ top: 0 }));
        return shown.count();
      },
      { timeout: 15_000 },
    )
    .toBe(1);
}

/** Where an element's foot is beyond the foot of the conversation's messages on screen (≤ 0: in view). */
const belowMessages = (page: Page, selector: string) =>
  page.evaluate((sel) => {
    const box = document.querySelector('.conversation .messages')!.getBoundingClientRect();
    return document.querySelector(sel)!.getBoundingClientRect().bottom - box.bottom;
  }, selector);

/** Says yes to the question a Recall button asks. */
async function confirmRecall(page: Page): Promise<void> {
  await page.getByRole('alertdialog', { name: 'Recall this message?' }).getByRole('button', { name: 'Recall' }).click();
}

describe.skipIf(chromiumMissing)('the portal in a real browser', () => {
  it('lets two people of two colleges chat both ways, with unread counts, receipts and typing', {
    timeout: 60_000,
  }, async () => {
    const a = alice.page;
    const b = bob.page;
    await startDirect(a, 'bob', 'Bob Martin');
    await expect.poll(() => a.locator('#conversation-title').textContent()).toBe('Bob Martin');

    await send(a, 'Hello Bob, from Engineering');
    await expect.poll(() => statusOf(a, 'Hello Bob')).toMatch(/sent|delivered/);

    // Bob's list shows the new conversation, unread, with the last message.
    const item = b.locator('.conversation-item', { hasText: 'Alice Chen' });
    await expect.poll(() => badgeOf(item), { timeout: 10_000 }).toBe('1');
    await expect.poll(() => item.locator('.item-preview').textContent()).toBe('Hello Bob, from Engineering');
    await expect.poll(() => statusOf(a, 'Hello Bob'), { timeout: 10_000 }).toBe('delivered');

    await openConversation(b, 'Alice Chen');
    await expect.poll(() => b.locator('.message', { hasText: 'Hello Bob, from Engineering' }).count()).toBe(1);
    await expect.poll(() => statusOf(a, 'Hello Bob'), { timeout: 10_000 }).toBe('read');
    // Each sees the other, of another college, online (their node asks the other college's node).
    await expect
      .poll(() => b.locator('.conversation-subtitle').textContent(), { timeout: 10_000 })
      .toBe('alice@eng.campus.test · online');
    await expect
      .poll(() => a.locator('.conversation-subtitle').textContent(), { timeout: 10_000 })
      .toBe('bob@arts.campus.test · online');
    await expect.poll(() => item.locator('.badge').count()).toBe(0);

    // Each time the typing line's words are written (were it a live region, each time would be read out).
    await a.evaluate(() => {
      const line = document.querySelector('.conversation .typing')!;
      const said: (string | null)[] = [];
      Object.assign(window, { typingSaid: said });
      new MutationObserver(() => said.push(line.textContent)).observe(line, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
    await b.locator('.conversation .composer-input').pressSequentially('Hi Al', { delay: 30 });
    await expect.poll(() => a.locator('.typing').textContent(), { timeout: 10_000 }).toBe('Bob Martin is typing…');
    // Her own message meanwhile draws her view again, but "is typing…" is not written (nor read out) again.
    await send(a, 'Take your time');
    await expect.poll(() => statusOf(a, 'Take your time'), { timeout: 10_000 }).toMatch(/sent|delivered|read/);
    await b.locator('.conversation .composer-input').press('Enter');
    await expect
      .poll(() => a.locator('.message:not(.mine)', { hasText: 'Hi Al' }).count(), { timeout: 10_000 })
      .toBe(1);
    // His message ends his typing at once, and "is typing…" was said once, not again as it came.
    expect(await a.locator('.typing').textContent()).toBe('');
    await expect.poll(() => statusOf(b, 'Hi Al'), { timeout: 10_000 }).toBe('read');
    expect(await a.evaluate(() => (window as unknown as { typingSaid: string[] }).typingSaid)).toEqual([
      'Bob Martin is typing…',
      '',
    ]);
    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  });

  it('edits and recalls one’s own messages for everyone', { timeout: 40_000 }, async () => {
    const a = alice.page;
    const b = bob.page;
    // A window low enough that the conversation fills it: the message edited is at the list's foot.
    await a.setViewportSize({ width: DESKTOP.width, height: 520 });
    await send(a, 'See you at 5');
    await expect.poll(() => b.locator('.message', { hasText: 'See you at 5' }).count(), { timeout: 10_000 }).toBe(1);
    const mine = ownMessage(a, 'See you at 5');
    await mine.locator('.bubble').focus();
    // Its info line stays as the focus goes on to Edit: were it hidden then, the list would move the button
    // under the pointer pressing it, and the click would miss.
    const info = mine.locator('.message-info');
    const shown = (await info.boundingBox())!;
    expect(shown.height).toBeGreaterThan(5);
    await mine.getByRole('button', { name: 'Edit' }).focus();
    expect((await info.boundingBox())!.height).toBe(shown.height);
    await mine.getByRole('button', { name: 'Edit' }).click();
    // The edit box takes a message's width and grows with its text, wrapped lines too, as the message box does.
    const box = a.locator('.edit-input');
    expect((await box.boundingBox())!.width).toBeGreaterThan(400);
    await box.fill(`See you at 6\n${'and bring the slides for the review, '.repeat(8)}\nand the notes`);
    await box.dispatchEvent('input');
    expect(await box.evaluate((el: HTMLTextAreaElement) => el.rows)).toBeGreaterThanOrEqual(5);
    expect(await box.evaluate((el) => el.scrollHeight - el.clientHeight)).toBeLessThanOrEqual(1);
    // Its keys are the message box's: Shift+Enter starts a new line, Enter saves; Save and Cancel follow it by Tab.
    await box.fill('See you at 6');
    await box.press('Shift+Enter');
    expect(await box.inputValue()).toBe('See you at 6\n');
    // Lines added to the last message grow the box downwards: the list follows, its buttons stay in view.
    for (let line = 0; line < 6; line++) await a.keyboard.press('Shift+Enter');
    const belowList = await a.evaluate(() => {
      const list = document.querySelector('.conversation .messages')!.getBoundingClientRect();
      return document.querySelector('.edit-buttons')!.getBoundingClientRect().bottom - list.bottom;
    });
    expect(belowList).toBeLessThanOrEqual(0);
    await a.setViewportSize(DESKTOP);
    expect(await a.locator('.edit-input').count()).toBe(1);
    await box.press('Tab');
    expect(await a.evaluate(() => document.activeElement?.textContent)).toBe('Cancel');
    await a.keyboard.press('Tab');
    expect(await a.evaluate(() => document.activeElement?.textContent)).toBe('Save');
    await box.focus();
    await box.press('Backspace');
    await box.press('Enter');
    await expect
      .poll(() => b.locator('.message', { hasText: 'See you at 6' }).locator('.edited').count(), { timeout: 10_000 })
      .toBe(1);
    await expect.poll(() => b.locator('.message', { hasText: 'See you at 5' }).count()).toBe(0);
    // On her side the bubble is back as it was, edited, in its place: no edit box left over, nothing twice.
    await expect.poll(() => ownMessage(a, 'See you at 6').locator('.edited').count()).toBe(1);
    expect(await a.locator('.edit-input').count()).toBe(0);
    expect(await a.locator('.message', { hasText: /See you at [56]/ }).count()).toBe(1);
    // Her list shows the last message as it now reads.
    const preview = a.locator('.conversation-item', { hasText: 'Bob Martin' }).locator('.item-preview');
    await expect.poll(() => preview.textContent()).toBe('You: See you at 6');
    // An edit given up (Escape, then Cancel) leaves it as it was, once.
    for (const giveUp of ['Escape', 'Cancel']) {
      await ownMessage(a, 'See you at 6').locator('.bubble').focus();
      await ownMessage(a, 'See you at 6').getByRole('button', { name: 'Edit' }).click();
      await a.locator('.edit-input').fill('See you never');
      if (giveUp === 'Escape') await a.locator('.edit-input').press('Escape');
      else await a.getByRole('button', { name: 'Cancel' }).click();
      await expect.poll(() => a.locator('.edit-input').count()).toBe(0);
      expect(await a.locator('.message', { hasText: /See you/ }).allTextContents()).toEqual([
        expect.stringContaining('See you at 6'),
      ]);
    }

    await send(a, 'Oops, wrong chat');
    await expect
      .poll(() => b.locator('.message', { hasText: 'Oops, wrong chat' }).count(), { timeout: 10_000 })
      .toBe(1);
    const oops = ownMessage(a, 'Oops, wrong chat');
    // A receipt changes the message's status in place: the button one is pressing stays the same button.
    const drawn = await oops.elementHandle();
    await expect.poll(() => statusOf(a, 'Oops, wrong chat'), { timeout: 10_000 }).toBe('read');
    expect(await drawn!.evaluate((el) => el.isConnected)).toBe(true);
    await oops.locator('.bubble').focus();
    // Recall is asked about first: it cannot be undone. Cancel keeps the message, for everyone.
    await oops.getByRole('button', { name: 'Recall' }).click();
    const ask = a.getByRole('alertdialog', { name: 'Recall this message?' });
    await ask.waitFor();
    expect(await ask.textContent()).toContain('This cannot be undone.');
    await ask.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => ask.count()).toBe(0);
    await a.waitForTimeout(300);
    expect(await b.locator('.message', { hasText: 'Oops, wrong chat' }).count()).toBe(1);
    expect(await a.locator('.text.recalled').count()).toBe(0);
    // The message keeps the focus, for another try from the keyboard.
    expect(await a.evaluate(() => document.activeElement?.closest('.message')?.textContent)).toContain(
      'Oops, wrong chat',
    );
    await oops.getByRole('button', { name: 'Recall' }).click();
    await confirmRecall(a);
    await expect
      .poll(() => b.locator('.message', { hasText: 'Oops, wrong chat' }).count(), { timeout: 10_000 })
      .toBe(0);
    await expect.poll(() => b.locator('.text.recalled').count()).toBeGreaterThan(0);
    await expect.poll(() => a.locator('.text.recalled', { hasText: 'You recalled this message' }).count()).toBe(1);
  });

  it('keeps a button pressed while its message changes, so the press still counts', { timeout: 40_000 }, async () => {
    const a = alice.page;
    const b = bob.page;
    await send(a, 'Typo here');
    await expect.poll(() => b.locator('.message', { hasText: 'Typo here' }).count(), { timeout: 10_000 }).toBe(1);
    const mine = ownMessage(a, 'Typo here');
    const id = (await mine.getAttribute('id'))!.slice('m-'.length);
    await mine.locator('.bubble').focus();
    const recall = mine.getByRole('button', { name: 'Recall' });
    const box = (await recall.boundingBox())!;
    // Her other device is online before the press: a press holds redraws back for a second at most, and
    // signing in within it (over 1 s on a busy machine) let the redraw through before the release.
    const laptop = await connect('alice');
    await a.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await a.mouse.down();
    // Meanwhile her other device edits the message: the change arrives while the button is held.
    try {
      await laptop.edit(id, 'Typo fixed');
      await expect.poll(() => b.locator('.message', { hasText: 'Typo fixed' }).count(), { timeout: 10_000 }).toBe(1);
    } finally {
      laptop.close();
    }
    await a.mouse.up();
    await confirmRecall(a);
    await expect.poll(() => b.locator('.message', { hasText: 'Typo fixed' }).count(), { timeout: 10_000 }).toBe(0);
    // And once released, the page shows what happened meanwhile.
    await expect
      .poll(() => a.locator(`#m-${id} .text.recalled`).textContent(), { timeout: 10_000 })
      .toBe('You recalled this message');
  });

  it('stops counting a message as unread once its sender recalls it', { timeout: 40_000 }, async () => {
    const a = alice.page;
    const b = bob.page;
    // Bob looks at another conversation meanwhile.
    await startDirect(b, 'carol', 'Carol Silva');
    const item = b.locator('.conversation-item', { hasText: 'Alice Chen' });
    await send(a, 'Gone before you read it');
    await expect.poll(() => badgeOf(item), { timeout: 10_000 }).toBe('1');
    const mine = ownMessage(a, 'Gone before you read it');
    await mine.locator('.bubble').focus();
    await mine.getByRole('button', { name: 'Recall' }).click();
    await confirmRecall(a);
    await expect.poll(() => item.locator('.item-preview').textContent(), { timeout: 10_000 }).toContain('recalled');
    expect(await item.locator('.badge').count()).toBe(0);
    await openConversation(b, 'Alice Chen');
  });

  it('takes a message’s Recall button away once the node’s time to recall it has passed', {
    timeout: 40_000,
  }, async () => {
    const a = alice.page;
    const recallOf = (text: string) => ownMessage(a, text).locator('.tools button', { hasText: 'Recall' });
    await send(a, 'Recall me while you can');
    await expect.poll(() => statusOf(a, 'Recall me while you can'), { timeout: 10_000 }).toMatch(/sent|delivered|read/);
    expect(await recallOf('Recall me while you can').count()).toBe(1);
    const windowMs = campus.nodes.eng.services.config.recallWindowSeconds * 1000;
    try {
      // The page's clock moves on to 2 s before the window ends; a message arrives, then nothing more.
      await a.evaluate((ahead) => {
        const now = Date.now;
        Date.now = () => now() + ahead;
      }, windowMs - 2_000);
      await send(bob.page, 'Anything new?');
      await expect
        .poll(() => a.locator('.message:not(.mine)', { hasText: 'Anything new?' }).count(), { timeout: 10_000 })
        .toBe(1);
      await expect.poll(() => recallOf('Recall me while you can').count(), { timeout: 10_000 }).toBe(0);
      expect(await ownMessage(a, 'Recall me while you can').locator('.tools button', { hasText: 'Edit' }).count()).toBe(
        1,
      );
    } finally {
      // A clock put back would hold the page's frames up (its pacing): the page starts afresh instead.
      await a.reload();
      await a.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
    }
  });

  it('shows what people and apps write as text, never as markup', { timeout: 30_000 }, async () => {
    const a = alice.page;
    const b = bob.page;
    const evil = '<img src=x onerror="window.pwned=1"><b>bold</b>';
    await send(a, evil);
    const received = b.locator('.message:not(.mine)', { hasText: '<b>bold</b>' });
    await expect.poll(() => received.count(), { timeout: 10_000 }).toBe(1);
    expect(await received.locator('.text').textContent()).toBe(evil);
    expect(await received.locator('img, b').count()).toBe(0);
    expect(await b.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
  });

  it('uploads an image with a progress bar and shows it to someone of another college as a preview', {
    timeout: 40_000,
  }, async () => {
    // The file stays on Alice's node (Engineering); Bob's node (Arts) fetches it from there for him.
    const a = alice.page;
    const b = bob.page;
    await openConversation(a, 'Bob Martin');
    await a
      .locator('.conversation input[type=file]')
      .setInputFiles({ name: '<v2> dot.png', mimeType: 'image/png', buffer: PNG });
    await expect.poll(() => a.locator('.upload progress').count()).toBe(1);
    await expect.poll(() => a.locator('.upload.uploaded').count(), { timeout: 10_000 }).toBe(1);
    await send(a, 'Here is the picture');
    await openConversation(b, 'Alice Chen');
    const received = b.locator('.message:not(.mine)', { hasText: 'Here is the picture' });
    await expect
      .poll(
        () =>
          received
            .locator('img.preview')
            .getAttribute('src')
            .catch(() => null),
        { timeout: 10_000 },
      )
      .toMatch(/^blob:/);
    // The picture decodes after its src is set: wait for it, then check it is the 1×1 PNG that was sent.
    await expect
      .poll(
        () =>
          received.locator('img.preview').evaluate((img: HTMLImageElement) => (img.complete ? img.naturalWidth : -1)),
        { timeout: 10_000 },
      )
      .toBe(1);
    // A click opens it large in the page, from the same blob: URL; Download there saves it under the name
    // it was given, as typed; Escape closes it, back to the preview.
    const preview = received.locator('.attachment button');
    await preview.click();
    const viewer = b.getByRole('dialog', { name: '<v2> dot.png' });
    await viewer.waitFor();
    expect(await viewer.locator('img').getAttribute('src')).toBe(
      await received.locator('img.preview').getAttribute('src'),
    );
    expect(await viewer.locator('img').getAttribute('alt')).toBe('<v2> dot.png');
    const download = b.waitForEvent('download');
    await viewer.getByRole('button', { name: 'Download' }).click();
    // The page names the file as typed; Chromium fits the name to what every system accepts as it saves.
    expect((await download).suggestedFilename()).toBe('_v2_ dot.png');
    await b.keyboard.press('Escape');
    await expect.poll(() => viewer.count()).toBe(0);
    expect(await preview.evaluate((el) => el === document.activeElement)).toBe(true);
    // Still in the conversation: Escape closed only the picture.
    expect(await b.locator('#conversation-title').textContent()).toBe('Alice Chen');

    // A tall picture arrives while Bob reads the end: once it has loaded (and taken its height) he still sees
    // the end, and what is written after it.
    const tall = await tallPicture(a);
    await a
      .locator('.conversation input[type=file]')
      .setInputFiles({ name: 'tall.png', mimeType: 'image/png', buffer: tall });
    await expect.poll(() => a.locator('.upload.uploaded').count(), { timeout: 10_000 }).toBe(1);
    await send(a, 'A tall one');
    const tallOne = b.locator('.message:not(.mine)', { hasText: 'A tall one' }).locator('img.preview');
    await expect
      .poll(
        () => tallOne.evaluate((img: HTMLImageElement) => (img.complete ? img.naturalHeight : -1)).catch(() => -1),
        {
          timeout: 10_000,
        },
      )
      .toBe(480);
    const scroller = b.locator('.conversation .messages');
    expect(await scroller.evaluate((el) => el.scrollHeight > el.clientHeight + 200)).toBe(true);
    const belowEnd = () => scroller.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);
    await expect.poll(belowEnd).toBeLessThan(2);
    await send(a, 'Did you get it?');
    await expect
      .poll(() => b.locator('.message:not(.mine)', { hasText: 'Did you get it?' }).count(), { timeout: 10_000 })
      .toBe(1);
    await expect.poll(belowEnd).toBeLessThan(2);
    expect(bob.errors).toEqual([]);
  });

  it('finds messages by their words and opens them in their conversation', { timeout: 30_000 }, async () => {
    const b = bob.page;
    await b.click('a[data-nav="#/search"]');
    await b.fill('#search-query', 'Engineering');
    await b.press('#search-query', 'Enter');
    const result = b.locator('.search-result', { hasText: 'Hello Bob, from Engineering' });
    await expect.poll(() => result.count(), { timeout: 10_000 }).toBe(1);
    await result.click();
    await expect.poll(() => b.locator('#conversation-title').textContent()).toBe('Alice Chen');
    await expect.poll(() => b.locator('.message.found', { hasText: 'Hello Bob, from Engineering' }).count()).toBe(1);
  });

  it('keeps what is typed offline, shows it as sending, and catches up on reconnect', { timeout: 60_000 }, async () => {
    const a = alice.page;
    const b = bob.page;
    await b.context().setOffline(true);
    await expect.poll(() => b.locator('#connection').getAttribute('data-state')).toBe('offline');
    expect(await b.locator('.offline-banner').isVisible()).toBe(true);
    // Offline, Bob's page cannot know who is online: it claims nobody is, in the heading or the list.
    await expect.poll(() => b.locator('.conversation-subtitle').textContent()).toBe('alice@eng.campus.test');
    expect(await b.locator('.conversation-list .presence').count()).toBe(0);

    await send(a, 'Are you there?');
    await send(a, 'Ping again');
    await send(b, 'Typed on the train');
    await expect
      .poll(() =>
        b.locator('.message.pending', { hasText: 'Typed on the train' }).locator('[data-status=sending]').count(),
      )
      .toBe(1);
    await expect.poll(() => b.locator('.offline-banner').textContent()).toContain('1 message will be sent');
    await b.waitForTimeout(500);
    expect(await b.locator('.message', { hasText: 'Are you there?' }).count()).toBe(0);

    await b.context().setOffline(false);
    await expect.poll(() => b.locator('#connection').getAttribute('data-state'), { timeout: 15_000 }).toBe('online');
    await expect
      .poll(() => b.locator('.message:not(.mine)', { hasText: 'Ping again' }).count(), { timeout: 15_000 })
      .toBe(1);
    expect(await b.locator('.message:not(.mine)', { hasText: 'Are you there?' }).count()).toBe(1);
    await expect.poll(() => statusOf(b, 'Typed on the train'), { timeout: 15_000 }).toMatch(/sent|delivered|read/);
    await expect
      .poll(() => a.locator('.message:not(.mine)', { hasText: 'Typed on the train' }).count(), { timeout: 15_000 })
      .toBe(1);
    // Sent once, however often the socket came and went.
    expect(await b.locator('.message', { hasText: 'Typed on the train' }).count()).toBe(1);
    expect(await b.locator('.message.pending').count()).toBe(0);
    // Back online, it knows again.
    await expect
      .poll(() => b.locator('.conversation-subtitle').textContent(), { timeout: 10_000 })
      .toBe('alice@eng.campus.test · online');
  });

  it('tells the node of a conversation read while it was out of reach once it is back', {
    timeout: 60_000,
  }, async () => {
    const a = alice.page;
    const b = bob.page;
    await openConversation(b, 'Carol Silva');
    await send(a, 'Read me on the train');
    const item = b.locator('.conversation-item', { hasText: 'Alice Chen' });
    await expect.poll(() => badgeOf(item), { timeout: 10_000 }).toBe('1');
    await expect.poll(() => statusOf(a, 'Read me on the train'), { timeout: 10_000 }).toBe('delivered');
    await b.context().setOffline(true);
    await expect.poll(() => b.locator('#connection').getAttribute('data-state')).toBe('offline');
    // Bob reads it offline, and moves on to another conversation before the network returns.
    await openConversation(b, 'Alice Chen');
    await expect.poll(() => item.locator('.badge').count()).toBe(0);
    await openConversation(b, 'Carol Silva');
    await b.context().setOffline(false);
    await expect.poll(() => b.locator('#connection').getAttribute('data-state'), { timeout: 15_000 }).toBe('online');
    await expect.poll(() => statusOf(a, 'Read me on the train'), { timeout: 10_000 }).toBe('read');
    // And the page opened afresh shows it read.
    await b.reload();
    await b.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
    await item.waitFor();
    expect(await item.locator('.badge').count()).toBe(0);
    await openConversation(b, 'Alice Chen');
  });

  it('keeps a conversation read while its node was out of reach when the tab is closed first, and tells the node from the next tab', {
    timeout: 60_000,
  }, async () => {
    const a = alice.page;
    // Written before Dave opens the portal, which finds the new conversation as it starts.
    await startDirect(a, 'dave', 'Dave Okafor');
    await send(a, 'Read me, then close the tab');
    const dave = await signIn('dave');
    try {
      const item = (page: Page) => page.locator('.conversation-item[aria-label^="Alice Chen,"]');
      await expect.poll(() => item(dave.page).locator('.badge').textContent(), { timeout: 10_000 }).toBe('1');
      await expect.poll(() => statusOf(a, 'Read me, then close'), { timeout: 10_000 }).toBe('delivered');
      await dave.context.setOffline(true);
      await expect.poll(() => dave.page.locator('#connection').getAttribute('data-state')).toBe('offline');
      await item(dave.page).click();
      await expect.poll(() => item(dave.page).locator('.badge').count()).toBe(0);
      // The tab is closed before the node could be told, and the network comes back.
      await dave.page.close();
      await dave.context.setOffline(false);
      await a.waitForTimeout(500);
      expect(await statusOf(a, 'Read me, then close')).toBe('delivered');
      // Dave's next tab tells the node: Alice sees it read, and his list shows nothing unread.
      const next = await dave.context.newPage();
      await next.goto(`${campus.gateway.issuer}/`);
      await next.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
      await expect.poll(() => statusOf(a, 'Read me, then close'), { timeout: 10_000 }).toBe('read');
      await item(next).waitFor();
      expect(await item(next).locator('.badge').count()).toBe(0);
      // Nothing of it stays in the browser once the node was told.
      expect(
        await next.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('atrium.unsent-reads.'))),
      ).toEqual([]);
    } finally {
      await dave.context.close();
    }
  });

  it('creates a group with people from two colleges, with mentions suggested and highlighted', {
    timeout: 60_000,
  }, async () => {
    const a = alice.page;
    const b = bob.page;
    await a.click('a[data-nav="#/new"]');
    for (const [query, name] of [
      ['bob', 'Bob Martin'],
      ['dave', 'Dave Okafor'],
    ] as const) {
      await a.fill('#people-query', query);
      await a.getByRole('button', { name: `Add to group: ${name}` }).click();
    }
    await a.fill('#group-title', 'Robotics <club>');
    await a.click('.group-form button[type=submit]');
    await expect
      .poll(() => a.locator('#conversation-title').textContent(), { timeout: 10_000 })
      .toBe('Robotics <club>');
    await expect.poll(() => a.locator('.message.system').first().textContent()).toContain('created the group');

    const input = a.locator('.conversation .composer-input');
    await input.pressSequentially('Welcome @bo', { delay: 20 });
    await expect.poll(() => a.locator('.suggestions [role=option]').count()).toBe(1);
    await input.press('Enter');
    await expect.poll(() => input.inputValue()).toBe('Welcome @bob ');
    await input.pressSequentially('and @da', { delay: 20 });
    await input.press('Tab');
    await input.press('Enter');
    await expect.poll(() => ownMessage(a, 'Welcome').locator('.mention').count(), { timeout: 10_000 }).toBe(2);

    await openConversation(b, 'Robotics <club>');
    const welcome = b.locator('.message.mentions-me', { hasText: 'Welcome' });
    await expect.poll(() => welcome.locator('.mention-me').textContent(), { timeout: 10_000 }).toBe('@bob');
    await send(b, 'Thanks, glad to join from Arts');
    await expect
      .poll(() => a.locator('.message:not(.mine)', { hasText: 'glad to join from Arts' }).count(), { timeout: 10_000 })
      .toBe(1);
    // Dave, of Engineering, gets it too (through the SDK: he has no browser open).
    const dave = await connect('dave');
    try {
      const { conversations } = await dave.sync();
      const group = conversations.find((c) => c.title === 'Robotics <club>');
      expect(group?.members.map((m) => m.address).sort()).toEqual([
        'alice@eng.campus.test',
        'bob@arts.campus.test',
        'dave@eng.campus.test',
      ]);
      await dave.markRead(group!.id, group!.lastSeq);
      await expect
        .poll(() => ownMessage(a, 'Welcome').locator('.status').textContent(), { timeout: 10_000 })
        .toMatch(/Read/);
    } finally {
      dave.close();
    }
  });

  it('names a few members of a big group, counts the rest, and follows changes made elsewhere', {
    timeout: 60_000,
  }, async () => {
    const a = alice.page;
    // Carol makes it: the conversation list then has no second item naming Dave, whom later tests open.
    const carol = await connect('carol');
    try {
      const usernames = Array.from({ length: 20 }, (_, i) => `student-${String(i).padStart(2, '0')}`);
      // Nobody opens a conversation with an address nobody has: these people exist (without passwords).
      await addPeople(campus.gateway, [...usernames, 'late-1', 'late-2', 'late-3']);
      const students = usernames.map((u) => `${u}@eng.campus.test`);
      const lookups: string[] = [];
      const record = (r: { url(): string }) => void (r.url().includes('/api/v1/directory') && lookups.push(r.url()));
      a.on('request', record);
      const group = await carol.createGroup('Lecture 101', ['alice@eng.campus.test', ...students]);
      await openConversation(a, 'Lecture 101');
      const subtitle = a.locator('.conversation-subtitle');
      await expect
        .poll(() => subtitle.textContent(), { timeout: 10_000 })
        .toMatch(/^College of Engineering · 22 members: you, (?:[^,]+, ){7}[^,]+ and 13 more$/);
      await expect.poll(() => subtitle.textContent(), { timeout: 10_000 }).toContain('Carol Silva');
      // The members' names came in one lookup per node, not one search per member.
      a.off('request', record);
      expect(lookups.filter((u) => u.includes('q='))).toEqual([]);
      expect(lookups.length).toBeGreaterThan(0);
      expect(lookups.length).toBeLessThanOrEqual(2);
      // Alice stays a member: her page learns of these from the entries alone.
      await carol.invite(group.id, ['late-1@eng.campus.test', 'late-2@eng.campus.test', 'late-3@eng.campus.test']);
      await expect
        .poll(() => subtitle.textContent(), { timeout: 10_000 })
        .toMatch(/^College of Engineering · 25 members: .* and 16 more$/);
      await carol.renameGroup(group.id, 'Lecture 101 (autumn)');
      await expect
        .poll(() => a.locator('#conversation-title').textContent(), { timeout: 10_000 })
        .toBe('Lecture 101 (autumn)');
      // The list redraws only the items that changed: the others stay the same elements under the pointer.
      const untouched = await a.locator('.conversation-item', { hasText: 'Robotics <club>' }).elementHandle();
      await carol.removeMember(group.id, 'late-2@eng.campus.test');
      await expect
        .poll(() => subtitle.textContent(), { timeout: 10_000 })
        .toMatch(/^College of Engineering · 24 members: .* and 15 more$/);
      await expect
        .poll(() => a.locator('.conversation-item', { hasText: 'Lecture 101' }).locator('.item-preview').textContent())
        .toContain('removed');
      expect(await untouched!.evaluate((el) => el.isConnected)).toBe(true);
    } finally {
      carol.close();
    }
    expect(alice.errors).toEqual([]);
  });

  it('tells the node a message reached it in a small group, and in a group of over 100 members only when read', {
    timeout: 60_000,
  }, async () => {
    const carol = await connect('carol');
    try {
      const hall = Array.from({ length: 101 }, (_, i) => `hall-${String(i).padStart(3, '0')}`);
      await addPeople(campus.gateway, hall);
      const crowd = hall.map((u) => `${u}@eng.campus.test`);
      const big = await carol.createGroup('Main hall', ['alice@eng.campus.test', ...crowd]);
      const small = await carol.createGroup('Lab pair', ['alice@eng.campus.test']);
      await expect
        .poll(() => alice.page.locator('.conversation-item', { hasText: 'Lab pair' }).count(), { timeout: 10_000 })
        .toBe(1);
      const inBig = await carol.send({ conversationId: big.id, text: 'the hall opens at nine' });
      const inSmall = await carol.send({ conversationId: small.id, text: 'bring the probes' });
      const deliveredSeq = async (conversationId: string) =>
        (await campus.nodes.eng.models.Member.findOne({ where: { conversationId, address: 'alice@eng.campus.test' } }))!
          .deliveredSeq;
      await expect.poll(() => deliveredSeq(small.id), { timeout: 10_000 }).toBe(inSmall.seq);
      // Both reached the page together; the big group's had as long to be told, and was not.
      await new Promise((r) => setTimeout(r, 500));
      expect(await deliveredSeq(big.id)).toBeLessThan(inBig.seq);
      await expect.poll(() => badgeOf(alice.page.locator('.conversation-item', { hasText: 'Main hall' }))).toBe('1');
      // Reading it is told, in a group of any size.
      await openConversation(alice.page, 'Main hall');
      await expect.poll(() => deliveredSeq(big.id), { timeout: 10_000 }).toBe(inBig.seq);
      // Its views list only Alice (over VIEW_MEMBERS_MAX): opened, the page reads the members in pages.
      expect(big.members.map((m) => m.address)).toEqual(['carol@eng.campus.test']);
      await expect
        .poll(() => alice.page.locator('.conversation-subtitle').textContent(), { timeout: 10_000 })
        .toMatch(/^College of Engineering · 103 members: you, (?:[^,]+, ){7}[^,]+ and 94 more$/);
    } finally {
      carol.close();
    }
    expect(alice.errors).toEqual([]);
  });

  it('opens a group of 230 reading only a few of its members, and finds whom to mention on its node', {
    timeout: 60_000,
  }, async () => {
    const a = alice.page;
    const carol = await connect('carol');
    try {
      const crowd = Array.from({ length: 228 }, (_, i) => `aud-${String(i).padStart(3, '0')}`);
      await addPeople(campus.gateway, crowd);
      const group = await carol.createGroup('Campus announcements', [
        'alice@eng.campus.test',
        ...crowd.map((u) => `${u}@eng.campus.test`),
      ]);
      // Alice announced something from another device; five read it, one among the first members the page
      // reads and four past them, on receipts her page is never told of.
      const phone = await connect('alice');
      const exam = await phone.send({ conversationId: group.id, text: 'Exam dates are out' });
      phone.close();
      await Promise.all(
        ['aud-005', 'aud-100', 'aud-150', 'aud-227', 'carol'].map((u) =>
          campus.nodes.eng.services.receipts.mark({
            conversationId: group.id,
            address: `${u}@eng.campus.test`,
            kind: 'read',
            upTo: exam.seq,
          }),
        ),
      );
      // The frames the page sends and gets on its sockets from now on (it reloads to open them anew).
      const sent: Record<string, unknown>[] = [];
      const received: Record<string, unknown>[] = [];
      const parse = (payload: string | Buffer) => JSON.parse(String(payload)) as Record<string, unknown>;
      a.on('websocket', (ws) => {
        ws.on('framesent', ({ payload }) => void sent.push(parse(payload)));
        ws.on('framereceived', ({ payload }) => void received.push(parse(payload)));
      });
      await a.reload();
      await a.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
      await openConversation(a, 'Campus announcements');
      const subtitle = a.locator('.conversation-subtitle');
      await expect
        .poll(() => subtitle.textContent(), { timeout: 10_000 })
        .toMatch(/^College of Engineering · 230 members: you, (?:[^,]+, ){7}[^,]+ and 221 more$/);
      const asked = () => sent.filter((f) => f.type === 'members' && f.conversationId === group.id);
      const read = received
        .filter((f) => f.type === 'members.result' && f.conversationId === group.id)
        .flatMap((f) => f.members as unknown[]);
      expect(asked().length).toBeGreaterThan(0);
      expect(asked().length).toBeLessThanOrEqual(2);
      expect(read.length).toBeLessThanOrEqual(100);
      // Reloaded, the page shows the node's count, not the one reader among the members it holds.
      const statusText = (text: string) => ownMessage(a, text).locator('.status').textContent();
      await expect.poll(() => statusText('Exam dates'), { timeout: 10_000 }).toBe('Read by 5 of 229');

      // aud-219 is far past what the page read: its node finds them as their name is typed.
      const input = a.locator('.conversation .composer-input');
      await input.pressSequentially('Hello @aud-21', { delay: 20 });
      const options = a.locator('.suggestions:not([hidden]) [role=option]');
      await expect.poll(() => options.allTextContents(), { timeout: 10_000 }).toHaveLength(8);
      expect((await options.allTextContents()).every((t) => t.includes('@aud-21'))).toBe(true);
      await input.pressSequentially('9', { delay: 20 });
      await expect
        .poll(() => options.allTextContents(), { timeout: 10_000 })
        .toEqual(['aud-219 @aud-219 · eng.campus.test']);
      await input.press('Enter');
      await expect.poll(() => input.inputValue()).toBe('Hello @aud-219 ');
      const searches = asked().filter((f) => f.query !== undefined);
      expect(searches.map((f) => f.query)).toContain('aud-219');
      expect(searches.every((f) => (f.limit as number) <= 8)).toBe(true);
      // Asked as typing pauses, not once a key.
      expect(searches.length).toBeLessThanOrEqual(4);
      await input.press('Enter');
      await expect
        .poll(() => ownMessage(a, 'Hello').locator('.mention').textContent(), { timeout: 10_000 })
        .toBe('@aud-219');
      const stored = await campus.nodes.eng.models.Message.findOne({
        where: { conversationId: group.id, kind: 'text' },
        order: [['seq', 'DESC']],
      });
      expect(JSON.parse(stored!.body).mentions).toEqual(['aud-219@eng.campus.test']);
      // Carol, whom the page did not read (past the first members), reads it: her receipt counts, live.
      const counted = () => received.filter((f) => f.type === 'read.counts.result').length;
      const countsBefore = counted();
      await carol.markRead(group.id, stored!.seq);
      await expect.poll(() => statusText('Hello'), { timeout: 10_000 }).toBe('Read by 1 of 229');
      // She had read the announcement already, and the node counted her: not twice, now or once counted again.
      expect(await statusText('Exam dates')).toBe('Read by 5 of 229');
      await expect.poll(counted, { timeout: 10_000 }).toBeGreaterThan(countsBefore);
      expect(await statusText('Exam dates')).toBe('Read by 5 of 229');
      expect(await statusText('Hello')).toBe('Read by 1 of 229');
    } finally {
      carol.close();
    }
    expect(alice.errors).toEqual([]);
  });

  it('pages through a long history by scrolling up', { timeout: 60_000 }, async () => {
    const dave = await connect('dave');
    try {
      for (let i = 1; i <= 75; i++) await dave.send({ to: 'alice@eng.campus.test', text: `Line ${i}` });
    } finally {
      dave.close();
    }
    const a = alice.page;
    // Read once (it opens at the first of them, unread), then opened again: at its end, the latest page.
    await openConversation(a, 'Dave Okafor');
    await expect.poll(() => a.locator('.message .text', { hasText: /^Line 75$/ }).count(), { timeout: 10_000 }).toBe(1);
    await a.click('a[data-nav="#/"]');
    await openConversation(a, 'Dave Okafor');
    await expect.poll(() => a.locator('.message .text', { hasText: /^Line 75$/ }).count(), { timeout: 10_000 }).toBe(1);
    const shown = await a.locator('.message-list > .message').count();
    expect(shown).toBeLessThanOrEqual(31);
    expect(await a.locator('.message', { hasText: /^Line 1\b/ }).count()).toBe(0);
    await scrollBackTo(a, /^Line 1$/);
  });

  it('after long offline shows the latest messages at once and scrolls back through what it missed', {
    timeout: 90_000,
  }, async () => {
    const carol = await connect('carol');
    const a = alice.page;
    try {
      for (let i = 1; i <= 5; i++) await carol.send({ to: 'alice@eng.campus.test', text: `Before ${i}` });
      // Its last message names the conversation: several of Alice's name Carol by now.
      await openConversation(a, 'Before 5');
      await expect.poll(() => a.locator('.message .text', { hasText: /^Before 5$/ }).count()).toBe(1);
      await a.context().setOffline(true);
      await expect.poll(() => a.locator('#connection').getAttribute('data-state')).toBe('offline');
      // More than a sync's page (100) while away: the node sends the latest page and the gap.
      for (let i = 1; i <= 160; i++) await carol.send({ to: 'alice@eng.campus.test', text: `Away ${i}` });
    } finally {
      carol.close();
    }
    await a.context().setOffline(false);
    await expect
      .poll(() => a.locator('.message .text', { hasText: /^Away 160$/ }).count(), { timeout: 15_000 })
      .toBe(1);
    expect(await a.locator('.message .text', { hasText: /^Away 1$/ }).count()).toBe(0);
    await scrollBackTo(a, /^Before 1$/);
    // Every message once, in order, with no hole where the gap was.
    const texts = await a.locator('.message-list > .message .text').allTextContents();
    const expected = [
      ...[1, 2, 3, 4, 5].map((i) => `Before ${i}`),
      ...Array.from({ length: 160 }, (_, i) => `Away ${i + 1}`),
    ];
    expect(texts.filter((t) => /^(Before|Away) \d+$/.test(t))).toEqual(expected);
  });

  it('works on a phone: one column, back to the list, usable by keyboard', { timeout: 60_000 }, async () => {
    const phone = await signIn('bob', { viewport: PHONE, hasTouch: true });
    try {
      const p = phone.page;
      expect(await p.locator('.sidebar').isVisible()).toBe(true);
      expect(await p.locator('.pane').isVisible()).toBe(false);
      await openConversation(p, 'Alice Chen');
      expect(await p.locator('.sidebar').isVisible()).toBe(false);
      expect(await p.locator('.conversation .back').isVisible()).toBe(true);
      await send(p, 'Sent from my phone');
      await expect
        .poll(
          () =>
            alice.page.locator('.conversation-item', { hasText: 'Bob Martin' }).locator('.item-preview').textContent(),
          { timeout: 10_000 },
        )
        .toBe('Sent from my phone');
      // Escape goes back to the list, with the conversation focused; Enter opens it again.
      await p.keyboard.press('Escape');
      await expect.poll(() => p.locator('.pane').isVisible()).toBe(false);
      await expect
        .poll(() => p.evaluate(() => document.activeElement?.classList.contains('conversation-item') ?? false))
        .toBe(true);
      await p.keyboard.press('Enter');
      await expect.poll(() => p.locator('.conversation .composer-input').isVisible()).toBe(true);
      // Everything to tap in the top bar, the conversation's head and the message box is at least 44×44 px.
      expect(await smallTargets(p, '.topbar a, .topbar button, .conversation-head button, .composer button')).toEqual(
        [],
      );
      expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      // Turned on its side (844×390, both columns), the top bar stays one line and the conversation's head
      // and message box keep to a thumb's height: the messages get most of the height, and still 44 px targets.
      await p.setViewportSize({ width: 844, height: 390 });
      const sideways = await p.evaluate(() => {
        const height = (selector: string) => document.querySelector(selector)!.getBoundingClientRect().height;
        // Words in the top bar that take two lines ("Atrium / University", "New / chat").
        const texts = document.createTreeWalker(document.querySelector('.topbar')!, NodeFilter.SHOW_TEXT);
        const wrapped: string[] = [];
        for (let node = texts.nextNode(); node; node = texts.nextNode()) {
          const range = document.createRange();
          range.selectNodeContents(node);
          if (new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size > 1)
            wrapped.push(node.textContent!);
        }
        return {
          topbar: height('.topbar'),
          messages: height('.conversation .messages'),
          scroll: document.documentElement.scrollWidth,
          wrapped,
        };
      });
      expect(sideways.wrapped).toEqual([]);
      expect(sideways.topbar).toBeLessThan(56);
      expect(sideways.messages).toBeGreaterThanOrEqual(390 * 0.55);
      expect(sideways.scroll).toBeLessThanOrEqual(844);
      expect(await p.locator('.sidebar').isVisible()).toBe(true);
      expect(
        await smallTargets(
          p,
          '.topbar a, .topbar button, .conversation-head button, .composer button, .composer textarea',
        ),
      ).toEqual([]);
      await p.setViewportSize(PHONE);
      // And whom to mention: each suggestion is a row a thumb can pick.
      const input = p.locator('.conversation .composer-input');
      await input.pressSequentially('@ali');
      const suggested = p.locator('.suggestions:not([hidden]) [role=option]');
      await expect.poll(() => suggested.count()).toBeGreaterThan(0);
      expect((await suggested.first().boundingBox())!.height).toBeGreaterThanOrEqual(44);
      await input.fill('');
      // So are a file shared there, a picture and the picture viewer's buttons.
      await p.locator('.conversation input[type=file]').setInputFiles([
        { name: '<v2> draft.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4\n') },
        { name: 'phone.png', mimeType: 'image/png', buffer: PNG },
      ]);
      await expect.poll(() => p.locator('.upload.uploaded').count(), { timeout: 10_000 }).toBe(2);
      await send(p, 'Files from my phone');
      const files = ownMessage(p, 'Files from my phone');
      await files.locator('.attachment.file button').waitFor({ timeout: 10_000 });
      await files.locator('.attachment.image img.preview[src^="blob:"]').waitFor({ timeout: 10_000 });
      expect(await smallTargets(p, '.message .attachments button')).toEqual([]);
      await files.locator('.attachment.image button').click();
      await p.getByRole('dialog', { name: 'phone.png' }).waitFor();
      expect(await smallTargets(p, '.image-viewer button')).toEqual([]);
      await p.keyboard.press('Escape');
      await expect.poll(() => p.getByRole('dialog', { name: 'phone.png' }).count()).toBe(0);
      // A file that cannot be fetched says so, and why.
      await p.route('**/api/v1/attachments/**', (route) => route.abort());
      await files.locator('.attachment.file button').click();
      await expect
        .poll(() => p.locator('.toast').allTextContents(), { timeout: 10_000 })
        .toContainEqual(expect.stringMatching(/^Could not download <v2> draft\.pdf: \S/));
      await p.unroute('**/api/v1/attachments/**');
      await p.getByRole('button', { name: 'Back to conversations' }).click();
      await expect.poll(() => p.locator('.sidebar').isVisible()).toBe(true);
      // "New chat" fits the phone's width, with people found listed: nothing sticks out sideways.
      await p.click('a[data-nav="#/new"]');
      // Bob is not someone to start a chat with, nor counted among those found.
      await p.fill('#people-query', 'bob martin');
      await expect.poll(() => p.locator('#people-status').textContent(), { timeout: 10_000 }).toBe('Nobody found.');
      expect(await p.locator('.people-panel .person').count()).toBe(0);
      await p.fill('#people-query', 'carol');
      await p.locator('.people-panel .person').first().waitFor({ timeout: 10_000 });
      expect(await p.locator('#people-status').textContent()).toBe(
        `${await p.locator('.people-panel .person').count()} found.`,
      );
      const sticksOut = await p.evaluate(() => {
        const panel = document.querySelector<HTMLElement>('.people-panel')!;
        const right = Math.max(...[...panel.querySelectorAll('*')].map((el) => el.getBoundingClientRect().right));
        return { scroll: panel.scrollWidth - panel.clientWidth, right: right - window.innerWidth };
      });
      expect(sticksOut.scroll).toBeLessThanOrEqual(0);
      expect(sticksOut.right).toBeLessThanOrEqual(0);
      // Its buttons (Message, Add to group) and fields are big enough to tap, as are a group's details.
      expect(await smallTargets(p, '.people-panel button, .people-panel input')).toEqual([]);
      await p.getByRole('button', { name: 'Add to group: Carol Silva' }).click();
      await p.fill('#group-title', 'Phone group');
      await p.click('.group-form button[type=submit]');
      await expect.poll(() => p.locator('#conversation-title').textContent(), { timeout: 10_000 }).toBe('Phone group');
      await p.getByRole('button', { name: 'Group details' }).click();
      await p.locator('.group-dialog .member').first().waitFor({ timeout: 10_000 });
      expect(await smallTargets(p, '.group-dialog button, .group-dialog input')).toEqual([]);
      await p.keyboard.press('Escape');
      await expect.poll(() => p.locator('.group-dialog[open]').count()).toBe(0);
      await p.getByRole('button', { name: 'Back to conversations' }).click();
      // And the search's field and button.
      await p.click('a[data-nav="#/search"]');
      await p.locator('#search-query').waitFor();
      expect(await smallTargets(p, '.search-form button, .search-form input')).toEqual([]);
      await p.getByRole('button', { name: 'Back to conversations' }).click();
      await expect.poll(() => p.locator('.sidebar').isVisible()).toBe(true);
      // Every icon-only button has a name.
      const unnamed = await p.evaluate(
        () =>
          [...document.querySelectorAll('button, a')].filter(
            (el) => !(el.getAttribute('aria-label') || el.textContent?.trim()),
          ).length,
      );
      expect(unnamed).toBe(0);
      expect(phone.errors).toEqual([]);
    } finally {
      await phone.context.close();
    }
  });

  it('on a phone opens a chat at its first unread message, keeps the keyboard down and the newest messages in view', {
    timeout: 60_000,
  }, async () => {
    await addPerson(campus.gateway, 'rhea');
    await addPerson(campus.gateway, 'wes');
    const wes = await connect('wes');
    let phone: Person | undefined;
    try {
      // Written before Rhea opens the portal, which finds the new conversation as it starts.
      for (let i = 1; i <= 5; i++) await wes.send({ to: 'rhea@eng.campus.test', text: `Read ${i}` });
      phone = await signIn('rhea', { viewport: PHONE, hasTouch: true });
      const p = phone.page;
      await openConversation(p, 'Test wes');
      await expect.poll(() => p.locator('.message .text', { hasText: /^Read 5$/ }).count()).toBe(1);
      // Opening a chat to read it does not focus the message box: a phone's keyboard would cover half the screen.
      expect(await p.evaluate(() => document.activeElement?.closest('.composer') ?? null)).toBeNull();
      // All of it new: the "New messages" line is above the first message.
      expect(await p.locator('.unread-separator + .message').textContent()).toContain('Read 1');
      await p.getByRole('button', { name: 'Back to conversations' }).click();
      for (let i = 1; i <= 25; i++) await wes.send({ to: 'rhea@eng.campus.test', text: `Unread ${i}` });
      const item = p.locator('.conversation-item', { hasText: 'Test wes' });
      await expect.poll(() => badgeOf(item), { timeout: 10_000 }).toBe('25');

      // It opens at the first of the 25 under a "New messages" line, with the last read ones above it.
      await item.click();
      await p.waitForSelector('.conversation .unread-separator');
      expect(await p.locator('.unread-separator').textContent()).toBe('New messages');
      const next = await p.evaluate(() => {
        const line = document.querySelector('.unread-separator')!;
        const messages = document.querySelector('.conversation .messages')!.getBoundingClientRect();
        const top = line.getBoundingClientRect().top - messages.top;
        return { text: line.nextElementSibling?.textContent, top, previous: line.previousElementSibling?.textContent };
      });
      expect(next.text).toContain('Unread 1');
      expect(next.previous).toContain('Read 5');
      expect(next.top).toBeGreaterThanOrEqual(0);
      expect(next.top).toBeLessThan(100);
      expect(await distanceFromEnd(p)).toBeGreaterThan(200);
      // What is opened is read: the badge goes, and the line stays until the chat is left.
      await expect.poll(() => item.locator('.badge').count()).toBe(0);
      await p.waitForTimeout(300);
      expect(await p.locator('.unread-separator').count()).toBe(1);
      expect(await p.evaluate(() => document.activeElement?.closest('.composer') ?? null)).toBeNull();

      // At the end, the newest messages stay in view as the message box grows: files attached, lines typed.
      await p.locator('.conversation .messages').evaluate((el) => el.scrollTo({ top: el.scrollHeight }));
      await expect.poll(() => distanceFromEnd(p)).toBeLessThanOrEqual(1);
      await p.locator('.conversation input[type=file]').setInputFiles([
        { name: 'week 3 notes.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4\n') },
        { name: 'board.png', mimeType: 'image/png', buffer: PNG },
      ]);
      await expect.poll(() => p.locator('.upload.uploaded').count(), { timeout: 10_000 }).toBe(2);
      await p.locator('.conversation .composer-input').fill('one\ntwo\nthree\nfour\nfive');
      await p.waitForTimeout(100);
      expect(await distanceFromEnd(p)).toBeLessThanOrEqual(1);
      await p.getByRole('button', { name: 'Send', exact: true }).click();
      const mine = ownMessage(p, 'five');
      await mine.waitFor({ timeout: 10_000 });

      // Tapping one's latest message scrolls its Edit and Recall into view.
      await p.locator('.conversation .messages').evaluate((el) => el.scrollTo({ top: el.scrollHeight }));
      await mine.locator('.text').tap();
      await mine.getByRole('button', { name: 'Edit' }).waitFor();
      await expect.poll(() => belowMessages(p, '.message.mine:last-child .tools')).toBeLessThanOrEqual(0);
      // The tap only showed them: it pressed neither.
      expect(await p.locator('.edit-input').count()).toBe(0);
      expect(await p.getByRole('alertdialog').count()).toBe(0);
      // Editing on a phone: Enter starts a new line (its keyboard has no Shift+Enter), Save saves.
      await mine.getByRole('button', { name: 'Edit' }).tap();
      const box = p.locator('.edit-input');
      await box.press('Enter');
      await box.pressSequentially('six');
      expect(await box.inputValue()).toBe('one\ntwo\nthree\nfour\nfive\nsix');
      expect(await p.locator('.edit-input').count()).toBe(1);
      await p.getByRole('button', { name: 'Save' }).tap();
      await expect.poll(() => ownMessage(p, 'six').locator('.edited').count(), { timeout: 10_000 }).toBe(1);
      // Opened again, all of it read: at its end, with no line.
      await p.getByRole('button', { name: 'Back to conversations' }).click();
      await openConversation(p, 'Test wes');
      expect(await p.locator('.unread-separator').count()).toBe(0);
      await expect.poll(() => distanceFromEnd(p)).toBeLessThanOrEqual(1);
      expect(phone.errors).toEqual([]);
    } finally {
      wes.close();
      await phone?.context.close();
    }
  });

  it('skips to the open conversation, and reads out others’ new messages, not earlier ones or one’s own', {
    timeout: 60_000,
  }, async () => {
    await addPerson(campus.gateway, 'sol');
    await addPerson(campus.gateway, 'tam');
    const tam = await connect('tam');
    let sol: Person | undefined;
    try {
      // Written before Sol opens the portal, which finds the new conversation as it starts.
      for (let i = 1; i <= 45; i++) await tam.send({ to: 'sol@eng.campus.test', text: `Note ${i}` });
      sol = await signIn('sol');
      const p = sol.page;
      // Read once (all of it shows, from the first unread), then opened again: at its end, the latest 30.
      await openConversation(p, 'Test tam');
      await expect.poll(() => p.locator('.message .text', { hasText: /^Note 45$/ }).count()).toBe(1);
      await expect
        .poll(() => p.locator('.conversation-item', { hasText: 'Test tam' }).locator('.badge').count())
        .toBe(0);
      await p.click('a[data-nav="#/"]');
      await openConversation(p, 'Test tam');
      await expect.poll(() => p.locator('.message .text', { hasText: /^Note 45$/ }).count()).toBe(1);
      expect(await p.locator('.message .text', { hasText: /^Note 1$/ }).count()).toBe(0);
      // On a computer the message box takes the focus, to answer at once.
      expect(await p.evaluate(() => document.activeElement?.classList.contains('composer-input'))).toBe(true);

      await recordAnnouncements(p);
      // "Skip to the conversation" moves into it, and leaves it open and the address as it was.
      const address = p.url();
      const history = await p.evaluate(() => window.history.length);
      await p.locator('a.skip').focus();
      await p.keyboard.press('Enter');
      await p.waitForTimeout(200);
      expect(p.url()).toBe(address);
      expect(await p.evaluate(() => window.history.length)).toBe(history);
      expect(await p.locator('#conversation-title').textContent()).toBe('Test tam');
      expect(await p.evaluate(() => document.activeElement?.closest('.conversation') !== null)).toBe(true);
      // Tab goes on from there (to "Show earlier messages", which shows them and goes: focus stays in the list).
      await p.keyboard.press('Tab');
      expect(await p.evaluate(() => document.activeElement?.closest('.conversation') !== null)).toBe(true);

      // Earlier messages shown on scrolling up are not read out.
      await scrollBackTo(p, /^Note 1$/);
      expect(await announcedWith(p, 'Note')).toEqual([]);
      // Nor is one's own message, sending or sent.
      await send(p, 'Got them all');
      await expect.poll(() => statusOf(p, 'Got them all'), { timeout: 10_000 }).toMatch(/sent|delivered|read/);
      expect(await announcedWith(p, 'Got them all')).toEqual([]);

      // Someone else's new message is, once, with who wrote it.
      await tam.send({ to: 'sol@eng.campus.test', text: 'Welcome back' });
      await expect
        .poll(() => announcedWith(p, 'Welcome back'), { timeout: 10_000 })
        .toEqual(['Test tam: Welcome back']);
      await p.waitForTimeout(300);
      expect(await announcedWith(p, 'Welcome back')).toHaveLength(1);
      expect(sol.errors).toEqual([]);
    } finally {
      tam.close();
      await sol?.context.close();
    }
  });

  it('opens on the conversation list from a link whose address cannot be decoded, at start and later', {
    timeout: 60_000,
  }, async () => {
    const dave = await signIn('dave');
    try {
      const p = dave.page;
      // A link cut short in a chat message: its escape %E0%A4%A is not UTF-8.
      await p.goto(`${campus.gateway.issuer}/#/c/%E0%A4%A/x`);
      await p.reload();
      await p.waitForSelector('#app[data-state=ready], #app [role=alert]', { timeout: 15_000 });
      expect(await p.locator('#app [role=alert]').count()).toBe(0);
      await p.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
      expect(await p.evaluate(() => document.body.dataset.view)).toBe('list');
      expect(await p.locator('.pane .placeholder').textContent()).toContain('Choose a conversation');
      // The same link followed once the portal runs: the view changes to the list.
      await p.click('a[data-nav="#/apps"]');
      await expect.poll(() => p.evaluate(() => document.body.dataset.view)).toBe('panel');
      await p.evaluate(() => (window.location.hash = '#/c/%E0%A4%A/y'));
      await expect.poll(() => p.evaluate(() => document.body.dataset.view)).toBe('list');
      expect(await p.locator('.pane .placeholder').textContent()).toContain('Choose a conversation');
      expect(dave.errors).toEqual([]);
    } finally {
      await dave.context.close();
    }
  });

  it('shows a change an older node stored in a shape it cannot read as a neutral line, and keeps following the group', {
    timeout: 60_000,
  }, async () => {
    const a = alice.page;
    const eng = campus.nodes.eng;
    const id = randomUUID();
    const lena = 'lena@law.campus.test';
    const group = {
      type: 'conversation',
      conversation: {
        id,
        kind: 'group',
        homeDomain: 'law.campus.test',
        title: 'Moot court',
        members: [lena, 'alice@eng.campus.test'].map((address, i) => ({
          address,
          role: i === 0 ? 'owner' : 'member',
          state: 'active',
          joinedSeq: 0,
        })),
      },
    };
    expect(await signedTransaction(campus, 'law', 'eng', [group])).toEqual({ status: 200, body: { applied: 1 } });
    await a.locator('.conversation-item', { hasText: 'Moot court' }).waitFor({ timeout: 10_000 });
    // Law relayed a change whose members are not addresses. This version refuses it (relay-checks.ts), but
    // a node before it stored it as it came: it is written into Engineering's store as storeEntries does,
    // and Alice's portal, opened again, syncs it like any entry the node holds.
    const { message } = lawEntry(id, 1, { event: 'member.joined', by: lena, members: [42] }, { kind: 'system' });
    await eng.sequelize.transaction(async (tx) => {
      await insertRows(eng.sequelize, tx, [
        { ...message, conversationId: id, createdAt: new Date(message.createdAt), editedAt: null, recalledAt: null },
      ]);
      await advanceSequences(eng.sequelize, tx, [[id, message.seq]], new Date(), { forwardOnly: true });
    });
    await a.reload();
    await a.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
    const item = a.locator('.conversation-item', { hasText: 'Moot court' });
    await expect
      .poll(() => item.locator('.item-preview').textContent(), { timeout: 10_000 })
      .toBe('The conversation changed');
    await openConversation(a, 'Moot court');
    expect(await a.locator('.conversation .message.system').textContent()).toBe('The conversation changed');
    // The group is still two people, and what comes next is drawn in the list and the open conversation.
    expect(await a.locator('.conversation-subtitle').textContent()).toMatch(/^School of Law · 2 members/);
    const next = lawEntry(id, 2, { text: 'The hearing moved to nine' });
    expect(await signedTransaction(campus, 'law', 'eng', [next])).toEqual({ status: 200, body: { applied: 1 } });
    await expect
      .poll(() => a.locator('.conversation .message', { hasText: 'The hearing moved to nine' }).count(), {
        timeout: 10_000,
      })
      .toBe(1);
    await expect.poll(() => item.locator('.item-preview').textContent()).toContain('The hearing moved to nine');
    expect(alice.errors).toEqual([]);
  });

  it('notifies of new messages while the tab is hidden, once allowed', { timeout: 40_000 }, async () => {
    // Blocked by the browser (it asks no more): the bell says so and how to allow them, and shows them blocked.
    const watcher = await signIn('bob', {
      beforeOpening: (context) =>
        context.addInitScript(() => {
          class Blocking {
            static permission = 'default';
            static requestPermission = async () => {
              Blocking.permission = 'denied';
              return 'denied';
            };
          }
          Object.defineProperty(window, 'Notification', { value: Blocking, configurable: true, writable: true });
        }),
    });
    try {
      const p = watcher.page;
      await p.getByRole('button', { name: 'Turn on notifications' }).click();
      await expect
        .poll(() => p.locator('.toast').textContent())
        .toBe(
          'Notifications are blocked for this site in your browser. To get them, allow notifications for this site in the browser’s site settings (the icon beside the address), then reload the page.',
        );
      expect(await p.getByRole('button', { name: 'Turn on notifications' }).count()).toBe(0);
      // Pressed again, the blocked bell says it again.
      await p.evaluate(() => {
        for (const toast of document.querySelectorAll('.toast')) toast.remove();
      });
      await p.getByRole('button', { name: 'Notifications are blocked' }).click();
      await expect.poll(() => p.locator('.toast', { hasText: 'Notifications are blocked' }).count()).toBe(1);
      await watcher.context.grantPermissions(['notifications']);
      await p.evaluate(() => {
        const shown: { title: string; body: string }[] = [];
        (window as unknown as { shown: typeof shown }).shown = shown;
        class FakeNotification {
          static permission = 'granted';
          static requestPermission = async () => 'granted';
          onclick: (() => void) | null = null;
          constructor(title: string, options: { body: string }) {
            shown.push({ title, body: options.body });
          }
          close() {}
        }
        Object.defineProperty(window, 'Notification', { value: FakeNotification });
        Object.defineProperty(document, 'visibilityState', { get: () => 'hidden' });
        document.dispatchEvent(new Event('visibilitychange'));
      });
      await openConversation(alice.page, 'Bob Martin');
      await send(alice.page, 'Are you coming to the lab?');
      await expect
        .poll(() => p.evaluate(() => (window as unknown as { shown: { title: string; body: string }[] }).shown), {
          timeout: 10_000,
        })
        .toEqual([{ title: 'Alice Chen', body: 'Are you coming to the lab?' }]);
      expect(await p.locator('#announcer').textContent()).toBe(
        'New message from Alice Chen: Are you coming to the lab?',
      );
      // A conversation someone starts while the tab is hidden is news too.
      const dave = await connect('dave');
      try {
        await dave.send({ to: 'bob@arts.campus.test', text: 'Hi Bob, Dave from EE here' });
      } finally {
        dave.close();
      }
      await expect
        .poll(() => p.evaluate(() => (window as unknown as { shown: { title: string }[] }).shown.map((n) => n.title)), {
          timeout: 10_000,
        })
        .toEqual(['Alice Chen', 'Dave Okafor']);
      await expect
        .poll(() => p.locator('.conversation-item', { hasText: 'Dave Okafor' }).locator('.badge').textContent())
        .toBe('1');
    } finally {
      await watcher.context.close();
    }
  });

  it('shows notifications through its service worker where the page may not (Android), and says when none can be', {
    timeout: 40_000,
  }, async () => {
    // As Chrome on Android: notifications allowed, but the page may not make one (only a service worker may).
    const android = async (context: BrowserContext) => {
      await context.grantPermissions(['notifications']);
      await context.addInitScript(() => {
        const Real = window.Notification;
        class AndroidNotification {
          constructor() {
            throw new TypeError("Failed to construct 'Notification': Illegal constructor.");
          }
          static get permission() {
            return Real.permission;
          }
          static requestPermission = () => Real.requestPermission();
        }
        Object.defineProperty(window, 'Notification', { value: AndroidNotification, configurable: true });
        let visibility = 'visible';
        Object.defineProperty(document, 'visibilityState', { get: () => visibility, configurable: true });
        Object.assign(window, {
          setVisibility: (state: string) => {
            visibility = state;
            document.dispatchEvent(new Event('visibilitychange'));
          },
        });
      });
    };
    const watcher = await signIn('bob', { beforeOpening: android });
    type Page = { setVisibility(state: string): void };
    try {
      const p = watcher.page;
      // Notifications allowed, the page has the gateway's service worker at work, for the whole portal.
      await expect
        .poll(() => p.evaluate(async () => (await navigator.serviceWorker.getRegistration('/'))?.active?.scriptURL), {
          timeout: 10_000,
        })
        .toBe(`${campus.gateway.issuer}/portal-worker.js`);
      await p.evaluate(() => (window as unknown as Page).setVisibility('hidden'));
      await openConversation(alice.page, 'Bob Martin');
      await send(alice.page, 'The lab is open till nine');
      const shown = () =>
        p.evaluate(async () =>
          (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => `${n.title}: ${n.body}`),
        );
      await expect.poll(shown, { timeout: 10_000 }).toEqual(['Alice Chen: The lab is open till nine']);
      // A click on it (which reaches the worker) brings the conversation up in the portal's tab.
      expect(await p.locator('.conversation').count()).toBe(0);
      const [worker] = watcher.context.serviceWorkers();
      await worker!.evaluate(async () => {
        const scope = self as unknown as {
          registration: ServiceWorkerRegistration;
          NotificationEvent: new (type: string, init: { notification: Notification }) => Event;
        };
        const [notification] = await scope.registration.getNotifications();
        self.dispatchEvent(new scope.NotificationEvent('notificationclick', { notification: notification! }));
      });
      await expect.poll(() => p.locator('#conversation-title').textContent(), { timeout: 10_000 }).toBe('Alice Chen');
      await expect.poll(shown).toEqual([]);
      // A browser that shows none either way: said once the person is back, rather than lost without a word.
      await p.evaluate(() => {
        ServiceWorkerRegistration.prototype.showNotification = () => Promise.reject(new TypeError('Not here'));
      });
      await send(alice.page, 'Bring your badge');
      await p.locator('.message', { hasText: 'Bring your badge' }).waitFor({ timeout: 10_000 });
      expect(await p.locator('.toast').count()).toBe(0);
      await p.evaluate(() => (window as unknown as Page).setVisibility('visible'));
      await expect
        .poll(() => p.locator('.toast').allTextContents())
        .toEqual([
          'This browser did not let the portal show notifications of the messages that came while it was in the background. They are all here.',
        ]);
      expect(watcher.errors).toEqual([]);
    } finally {
      await watcher.context.close();
    }
  });

  it('tells someone without a chat domain that chat is not set up for them', { timeout: 30_000 }, async () => {
    const admin = await signIn('admin');
    try {
      expect(await admin.page.locator('.conversation-list .empty').textContent()).toContain(
        'Chat is not set up for your account',
      );
      expect(admin.errors).toEqual([]);
    } finally {
      await admin.context.close();
    }
  });

  it('serves the page under a strict Content-Security-Policy that allows only the nodes', async () => {
    const response = await alice.page.request.get(`${campus.gateway.issuer}/`);
    const csp = response.headers()['content-security-policy']!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const connect = csp.split(';').find((d) => d.trim().startsWith('connect-src'))!;
    for (const node of Object.values(campus.nodes)) {
      expect(connect).toContain(new URL(node.url).origin);
      expect(connect).toContain(new URL(node.url).origin.replace('http:', 'ws:'));
    }
    expect(connect.trim().split(/\s+/)).toHaveLength(2 + Object.keys(campus.nodes).length * 2);
    expect(alice.errors).toEqual([]);
  });

  it('lets a group’s owner rename it, add, promote and remove people; members leave; open details follow', {
    timeout: 40_000,
  }, async () => {
    const a = alice.page;
    const b = bob.page;
    const laptop = await connect('alice');
    const dave = await connect('dave');
    try {
      const club = await laptop.createGroup('Chess club', ['bob@arts.campus.test', 'dave@eng.campus.test']);
      await openConversation(a, 'Chess club');
      await openConversation(b, 'Chess club');
      // Bob, a member of another college, sees who is in it; he can leave, not change it.
      await b.getByRole('button', { name: 'Group details' }).click();
      const bobs = b.getByRole('dialog', { name: 'Group details' });
      await expect.poll(() => bobs.locator('.member').count(), { timeout: 10_000 }).toBe(3);
      expect(await bobs.getByRole('button', { name: 'Rename group' }).isVisible()).toBe(false);
      expect(await bobs.locator('.member [data-action]').count()).toBe(0);

      await a.getByRole('button', { name: 'Group details' }).click();
      const panel = a.getByRole('dialog', { name: 'Group details' });
      await expect
        .poll(() => panel.locator('.member', { hasText: 'Alice Chen (you)' }).locator('.role').textContent())
        .toBe('Owner');
      await panel.getByRole('button', { name: 'Rename group' }).click();
      await panel.getByLabel('New name for the group').fill('Chess club (spring)');
      await panel.getByLabel('New name for the group').press('Enter');
      await expect.poll(() => a.locator('#conversation-title').textContent()).toBe('Chess club (spring)');
      expect(await a.locator('.conversation .composer-input').getAttribute('aria-label')).toBe(
        'Message Chess club (spring)',
      );
      await expect
        .poll(() => bobs.locator('.group-name-text').textContent(), { timeout: 10_000 })
        .toBe('Chess club (spring)');

      await panel.getByLabel('Find people to add').fill('carol');
      await panel.getByRole('button', { name: 'Add to group: Carol Silva' }).click();
      await panel.getByRole('button', { name: 'Add chosen people' }).click();
      await expect.poll(() => panel.locator('.dialog-notice[role=status]').textContent()).toBe('Added Carol Silva.');
      await expect.poll(() => bobs.locator('.member', { hasText: 'Carol Silva' }).count(), { timeout: 10_000 }).toBe(1);
      // Her name came from the directory after the line telling of her was drawn: it is drawn again.
      await expect
        .poll(() => b.locator('.message.system', { hasText: 'Alice Chen added Carol Silva' }).count())
        .toBe(1);

      // By keyboard: the button is named by the words it shows, and the focus stays on it as its row is
      // drawn again (it now makes Bob a plain member again), not dropped out of the dialog.
      await panel.getByRole('button', { name: 'Make admin: Bob Martin' }).focus();
      await a.keyboard.press('Enter');
      await expect
        .poll(() => bobs.locator('.member', { hasText: 'Bob Martin (you)' }).locator('.role').textContent(), {
          timeout: 10_000,
        })
        .toBe('Admin');
      await expect
        .poll(() =>
          a.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.tagName),
        )
        .toBe('Make member: Bob Martin');
      // Still nothing to change from Arts: the group is changed at its home, Engineering.
      expect(await bobs.locator('.group-name .muted').textContent()).toContain('its owner and admins change it there');

      // Dave leaves from his own device: both open lists follow.
      await dave.leave(club.id);
      await expect
        .poll(() => panel.locator('.member', { hasText: 'Dave Okafor' }).count(), { timeout: 10_000 })
        .toBe(0);
      await expect.poll(() => bobs.locator('.member', { hasText: 'Dave Okafor' }).count(), { timeout: 10_000 }).toBe(0);

      // Removing asks first. Bob's details close, and his conversation says why he can no longer write.
      await panel.getByRole('button', { name: 'Remove Bob Martin from the group' }).click();
      await a.getByRole('alertdialog', { name: 'Remove Bob Martin?' }).getByRole('button', { name: 'Remove' }).click();
      await expect
        .poll(() => b.locator('.conversation-ended').textContent(), { timeout: 10_000 })
        .toContain('You were removed from this group');
      expect(await bobs.count()).toBe(0);
      expect(await b.locator('.conversation .composer-input').count()).toBe(0);
      expect(await b.locator('.conversation-item', { hasText: 'Chess club' }).count()).toBe(0);
      await expect.poll(() => panel.locator('.member').count(), { timeout: 10_000 }).toBe(2);

      // Escape closes the dialog, not the conversation, and gives the focus back to its button.
      await a.keyboard.press('Escape');
      await expect.poll(() => panel.count()).toBe(0);
      expect(await a.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Group details');
      expect(await a.locator('#conversation-title').textContent()).toBe('Chess club (spring)');

      // The owner leaves, told first who takes the group over.
      await a.getByRole('button', { name: 'Group details' }).click();
      await panel.getByRole('button', { name: 'Leave group' }).click();
      const leaving = a.getByRole('alertdialog', { name: 'Leave “Chess club (spring)”?' });
      expect(await leaving.textContent()).toContain('ownership passes to Carol Silva');
      await leaving.getByRole('button', { name: 'Leave group' }).click();
      await expect.poll(() => a.locator('.toast', { hasText: 'You left “Chess club (spring)”.' }).count()).toBe(1);
      expect(await a.locator('.conversation-item', { hasText: 'Chess club' }).count()).toBe(0);
      const owner = await campus.nodes.eng.models.Member.findOne({
        where: { conversationId: club.id, role: 'owner', state: 'active' },
      });
      expect(owner?.address).toBe('carol@arts.campus.test');

      // A big group's members come a page at a time, as one asks for more.
      const crowd = Array.from({ length: 55 }, (_, i) => `chess-${String(i).padStart(2, '0')}`);
      await addPeople(campus.gateway, crowd);
      await laptop.createGroup(
        'Chess league',
        crowd.map((u) => `${u}@eng.campus.test`),
      );
      await openConversation(a, 'Chess league');
      await a.getByRole('button', { name: 'Group details' }).click();
      await expect.poll(() => panel.locator('.member').count(), { timeout: 10_000 }).toBe(50);
      await panel.getByRole('button', { name: 'Show more (50 of 56 shown)' }).click();
      await expect.poll(() => panel.locator('.member').count()).toBe(56);
      expect(await panel.locator('.show-more').isVisible()).toBe(false);

      // The owner hands the group over, asked first, and stays on as an admin without the owner's controls.
      await panel
        .getByRole('button', { name: /^Make owner: / })
        .first()
        .click();
      const handing = a.getByRole('alertdialog', { name: /^Make .* the owner\?$/ });
      expect(await handing.textContent()).toContain('You stay in the group as an admin.');
      await handing.getByRole('button', { name: 'Make owner' }).click();
      await expect
        .poll(() => panel.locator('.member', { hasText: 'Alice Chen (you)' }).locator('.role').textContent(), {
          timeout: 10_000,
        })
        .toBe('Admin');
      expect(await panel.getByRole('button', { name: /^Make owner: / }).count()).toBe(0);
      const league = (await campus.nodes.eng.models.Conversation.findOne({ where: { title: 'Chess league' } }))!;
      const newOwner = await campus.nodes.eng.models.Member.findOne({
        where: { conversationId: league.id, role: 'owner', state: 'active' },
      });
      expect(newOwner?.address).toMatch(/^chess-\d\d@eng\.campus\.test$/);
      expect([...alice.errors, ...bob.errors]).toEqual([]);
    } finally {
      laptop.close();
      dave.close();
    }
  });
});
