import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startCampus, type Campus } from '../helpers/federation.ts';
import { connectAs } from '../helpers/node.ts';
import { operator } from '../../gateway/context.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import {
  chromiumMissing,
  launchChromium,
  openConversation,
  ownMessage,
  PHONE,
  send,
  signInToPortal,
  smallTargets,
  startDirect,
  type Person,
} from './browser.ts';

let campus: Campus;
let browser: Browser;
let alice: Person;

beforeAll(async () => {
  if (chromiumMissing) return;
  campus = await startCampus('portal-limits', {
    nodeEnv: { SEARCHES_PER_MINUTE: '2', SOCKETS_PER_PERSON: '2', DIRECTORY_SEARCHES_PER_MINUTE: '3' },
  });
  await createUser(
    { ...campus.gateway.context(null), actor: operator('test') },
    {
      username: 'chenwei',
      displayName: '陈伟',
      email: 'chenwei@campus.test',
      password: DEMO_PASSWORD,
      roles: ['student'],
      units: ['campus/eng/cs'],
    },
  );
  browser = await launchChromium();
  alice = await signInToPortal(browser, campus.gateway.issuer, 'alice');
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await campus?.stop();
});

describe.skipIf(chromiumMissing)('the portal with CJK names and long texts', () => {
  it('finds a person by a one-character Chinese surname', { timeout: 30_000 }, async () => {
    const a = alice.page;
    await a.click('a[data-nav="#/new"]');
    await a.fill('#people-query', '陈');
    await a.click('button[aria-label="Message 陈伟"]', { timeout: 10_000 });
    await a.waitForSelector('.conversation .composer-input');
    await expect.poll(() => a.locator('#conversation-title').textContent()).toBe('陈伟');
  });

  it('says a text is over the limit before sending, and keeps it to be shortened', { timeout: 30_000 }, async () => {
    const a = alice.page;
    const input = a.locator('.conversation .composer-input');
    const counter = a.locator('.conversation .composer-counter');
    await input.fill('y'.repeat(8_400));
    await expect.poll(() => counter.textContent()).toContain('8,400 / 8,000 characters: 400 too many');
    await input.press('Enter');
    await a.waitForTimeout(500);
    expect(await a.locator('.message.mine').count()).toBe(0);
    expect(await input.inputValue()).toHaveLength(8_400);

    await input.fill('y'.repeat(7_000));
    expect(await counter.isHidden()).toBe(true);
    await input.press('Enter');
    await expect.poll(() => a.locator('.message.mine:not(.pending)').count(), { timeout: 10_000 }).toBe(1);
    expect(await input.inputValue()).toBe('');
    expect(alice.errors).toEqual([]);
  });

  it('says a search the node refused was not made, not that nothing matches', { timeout: 30_000 }, async () => {
    const a = alice.page;
    await a.click('a[data-nav="#/search"]');
    const status = a.locator('#search-status');
    for (const round of [1, 2]) {
      await a.fill('#search-query', `yyy${round}`);
      await a.press('#search-query', 'Enter');
      await expect.poll(() => status.textContent()).toMatch(/found|Nothing matches/);
    }
    await a.fill('#search-query', 'yyyy');
    await a.press('#search-query', 'Enter');
    await expect.poll(() => status.textContent()).toMatch(/was not searched: At most 2 searches a minute/);
    expect(await status.textContent()).not.toContain('Nothing matches');
    await a.goBack();
    await a.locator('.conversation .composer-input').waitFor();
  });

  it('says a people search the node refused was not made, not that nobody was found', { timeout: 30_000 }, async () => {
    const a = alice.page;
    await a.click('a[data-nav="#/new"]');
    const status = a.locator('#people-status');
    // Alice searched for 陈 already: two more by name are within her three a minute, the next is not.
    for (const query of ['zq', 'zqx']) {
      await a.fill('#people-query', query);
      await expect.poll(() => status.textContent()).toBe('Nobody found.');
      await a.fill('#people-query', '');
    }
    await a.fill('#people-query', 'zqxw');
    await expect.poll(() => status.textContent()).toContain('At most 3 people searches a minute');
    await a.goBack();
    await a.locator('.conversation .composer-input').waitFor();
  });

  it('says a tab refused for too many connections is that, and connects once another closes', {
    timeout: 40_000,
  }, async () => {
    const second = await alice.context.newPage();
    await second.goto(`${campus.gateway.issuer}/`);
    await second.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
    // The node allows Alice two sockets (SOCKETS_PER_PERSON): this third tab is refused, not out of reach.
    const third = await alice.context.newPage();
    await third.goto(`${campus.gateway.issuer}/`);
    const banner = third.locator('.offline-banner');
    await expect.poll(() => banner.textContent(), { timeout: 15_000 }).toContain('You already have 2 connections open');
    expect(await banner.textContent()).toContain('This tab connects once one is closed');
    expect(await banner.textContent()).not.toContain('cannot be reached');
    await second.close();
    await third.waitForSelector('#connection[data-state=online]', { timeout: 20_000 });
    expect(await banner.isHidden()).toBe(true);
    await third.close();
  });
});

/** WCAG's contrast ratio of two `rgb(r, g, b)` colours. */
function contrast(a: string, b: string): number {
  const luminance = (rgb: string) => {
    const [r, g, bl] = (rgb.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map((c) => {
      const v = Number(c) / 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

describe.skipIf(chromiumMissing)('the portal on a phone', () => {
  let phone: Person;
  beforeAll(async () => {
    if (chromiumMissing) return;
    phone = await signInToPortal(browser, campus.gateway.issuer, 'bob', { viewport: PHONE, hasTouch: true });
  }, 30_000);
  afterAll(() => phone?.context.close());

  it('starts a new line with Enter on a touch-first phone, and sends with the Send button', {
    timeout: 30_000,
  }, async () => {
    const p = phone.page;
    await startDirect(p, 'alice', 'Alice Chen');
    const input = p.locator('.conversation .composer-input');
    // The on-screen keyboard's Enter key says it adds a line; a desktop's message box says Enter sends.
    expect(await input.getAttribute('enterkeyhint')).toBe('enter');
    expect(await alice.page.locator('.conversation .composer-input').getAttribute('enterkeyhint')).toBe('send');
    await input.pressSequentially('Bring the score');
    await input.press('Enter');
    await input.pressSequentially('and a pencil');
    expect(await input.inputValue()).toBe('Bring the score\nand a pencil');
    expect(await p.locator('.message.mine').count()).toBe(0);
    await p.locator('.conversation button.send').tap();
    await expect
      .poll(() => ownMessage(p, 'Bring the score').locator('.text').textContent(), { timeout: 10_000 })
      .toBe('Bring the score\nand a pencil');
    expect(await input.inputValue()).toBe('');
    expect(phone.errors).toEqual([]);
  });

  it('gives fields 16 px text on a phone, so that Safari does not zoom in, and a message box 44 px tall', {
    timeout: 30_000,
  }, async () => {
    const p = phone.page;
    const fontOf = (selector: string) =>
      p.locator(selector).evaluate((el) => Number.parseFloat(getComputedStyle(el).fontSize));
    const input = p.locator('.conversation .composer-input');
    expect(await fontOf('.conversation .composer-input')).toBeGreaterThanOrEqual(16);
    // One line high, and at least 44 px: a line of text does not make it grow to two.
    await input.fill('One line');
    await input.dispatchEvent('input');
    expect((await input.boundingBox())!.height).toBeGreaterThanOrEqual(44);
    expect(await input.evaluate((el: HTMLTextAreaElement) => el.rows)).toBe(1);
    await p.click('a[data-nav="#/search"]');
    expect(await fontOf('#search-query')).toBeGreaterThanOrEqual(16);
    await p.click('a[data-nav="#/new"]');
    expect(await fontOf('#people-query')).toBeGreaterThanOrEqual(16);
    await p.goBack();
    await p.goBack();
    await p.locator('.conversation .composer-input').waitFor();
  });

  it('counts on the way back to the list the messages unread in other conversations, in its name too', {
    timeout: 30_000,
  }, async () => {
    const p = phone.page;
    const back = p.locator('.conversation .back');
    const chats = p.locator('a.nav-link.chats');
    expect(await back.locator('.badge').count()).toBe(0);
    // 陈伟 writes to Bob, in a conversation not on his phone's screen.
    const chen = await connectAs(campus.gateway, campus.nodes.eng, 'chenwei');
    try {
      await chen.send({ to: 'bob@arts.campus.test', text: 'Are you at the library?' });
    } finally {
      chen.close();
    }
    await expect.poll(() => back.locator('.badge').textContent(), { timeout: 10_000 }).toBe('1');
    expect(await back.locator('.badge').isVisible()).toBe(true);
    expect(await back.getAttribute('aria-label')).toBe(
      'Back to conversations (1 unread message in other conversations)',
    );
    expect(await chats.locator('.badge').textContent()).toBe('1');
    expect(await chats.getAttribute('aria-label')).toBe('Chats (1 unread message in other conversations)');
    // A message in the conversation on screen is read there: it does not count.
    await openConversation(alice.page, 'Bob Martin');
    await send(alice.page, 'Yes, the score and a pencil');
    await p.locator('.message', { hasText: 'Yes, the score and a pencil' }).waitFor({ timeout: 10_000 });
    expect(await back.locator('.badge').textContent()).toBe('1');
    // Read, it counts no more.
    await back.click();
    await openConversation(p, '陈伟');
    await expect.poll(() => p.locator('.conversation .back').getAttribute('aria-label')).toBe('Back to conversations');
    expect(await p.locator('.conversation .back .badge').count()).toBe(0);
    expect(await chats.locator('.badge').count()).toBe(0);
    expect(phone.errors).toEqual([]);
  });

  it('fits a 320 px wide screen: nothing of the top bar, a conversation or its message box is cut off', {
    timeout: 30_000,
  }, async () => {
    const p = phone.page;
    await p.setViewportSize({ width: 320, height: 568 });
    try {
      /** What shows partly or wholly beyond the screen's edges, of what is on screen under `selector`. */
      const cutOff = (selector: string) =>
        p.evaluate(
          (within) =>
            [...document.querySelectorAll<HTMLElement>(`${within} *`)]
              .filter((el) => el.getClientRects().length > 0 && !el.closest('.visually-hidden, .connection'))
              .map((el) => ({ el, box: el.getBoundingClientRect() }))
              .filter(({ box }) => box.left < 0 || box.right > document.documentElement.clientWidth)
              .map(
                ({ el, box }) =>
                  `${el.getAttribute('aria-label') ?? el.getAttribute('class')}: ${box.left}–${box.right}`,
              ),
          selector,
        );
      expect(await cutOff('.topbar')).toEqual([]);
      expect(await cutOff('.conversation')).toEqual([]);
      expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(320);
      // Still 44×44 px to tap, and Sign out shows as leaving: an arrow out of a box open on its side (the
      // box's closed side, at the left, away from where the arrow points).
      expect(await smallTargets(p, '.topbar a, .topbar button')).toEqual([]);
      const picture = await p.locator('.sign-out svg path').evaluate((path: SVGPathElement) => {
        const at = (x: number, y: number) => path.isPointInFill(new DOMPoint(x, y));
        return { boxLeft: at(3.5, 4) && at(3.5, 20), boxRight: at(20.5, 4) || at(20.5, 20), arrowTip: at(20.5, 12) };
      });
      expect(picture).toEqual({ boxLeft: true, boxRight: false, arrowTip: true });
      await p.getByRole('button', { name: 'Back to conversations' }).click();
      expect(await cutOff('.topbar')).toEqual([]);
      expect(await cutOff('.sidebar')).toEqual([]);
    } finally {
      await p.setViewportSize(PHONE);
    }
  });
});

describe.skipIf(chromiumMissing)('the portal for people who see less well', () => {
  it("shows the keyboard's focus and a field's edge at 3:1 against what is around them", {
    timeout: 30_000,
  }, async () => {
    const a = alice.page;
    await a.click('a[data-nav="#/new"]');
    const input = a.locator('#people-query');
    await input.focus();
    const field = await input.evaluate((el) => {
      const style = getComputedStyle(el);
      return { border: style.borderTopColor, background: style.backgroundColor };
    });
    expect(contrast(field.border, field.background)).toBeGreaterThanOrEqual(3);
    await a.keyboard.press('Tab');
    const ring = await a.evaluate(() => {
      const el = document.activeElement as HTMLElement;
      return { outline: getComputedStyle(el).outlineColor, style: getComputedStyle(el).outlineStyle };
    });
    expect(ring.style).not.toBe('none');
    // Against the white panels and the light blue of one's own messages.
    expect(contrast(ring.outline, 'rgb(255, 255, 255)')).toBeGreaterThanOrEqual(3);
    expect(contrast(ring.outline, 'rgb(223, 232, 255)')).toBeGreaterThanOrEqual(3);
  });
});
