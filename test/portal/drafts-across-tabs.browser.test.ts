import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startCampus, type Campus } from '../helpers/federation.ts';
import { connectAs } from '../helpers/node.ts';
import { chromiumMissing, launchChromium, openConversation, signInToPortal } from './browser.ts';

let campus: Campus;
let browser: Browser | undefined;

beforeAll(async () => {
  campus = await startCampus('portal-drafts-across-tabs');
  if (!chromiumMissing) browser = await launchChromium();
  const dave = await connectAs(campus.gateway, campus.nodes.eng, 'dave');
  await dave.createGroup('Lab', ['alice@eng.campus.test']);
  await dave.createGroup('Reading club', ['alice@eng.campus.test']);
  dave.close();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await campus?.stop();
});

/** Another tab of the same browser, at the portal, signed in already. */
async function newTab(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${campus.gateway.issuer}/`);
  await page.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
  return page;
}

const box = (page: Page) => page.locator('.conversation .composer-input');

/** What the browser keeps as drafts of the person's, their texts alone. */
const keptTexts = (page: Page) =>
  page.evaluate(() =>
    Object.keys(localStorage)
      .filter((k) => k.startsWith('atrium.writing.') && k.includes('.draft.'))
      .map((k) => (JSON.parse(localStorage.getItem(k) ?? '{}') as { text?: string }).text),
  );

/** Waits until this tab's storage holds `text` as a draft, and a moment more for its `storage` event. */
async function heard(page: Page, text: string): Promise<void> {
  await expect.poll(() => keptTexts(page)).toContain(text);
  await page.waitForTimeout(300);
}

describe.skipIf(chromiumMissing)('a draft written in two tabs', () => {
  it('a tab that had the conversation on screen takes up the other tab’s text once the person leaves and comes back', {
    timeout: 60_000,
  }, async () => {
    const alice = await signInToPortal(browser!, campus.gateway.issuer, 'alice');
    try {
      const a = alice.page;
      await openConversation(a, 'Lab');
      const b = await newTab(alice.context);
      await openConversation(b, 'Lab');
      await box(b).fill('Written in the second tab');
      await heard(a, 'Written in the second tab');
      // On screen in the first tab, what the person sees there does not change under them.
      expect(await box(a).inputValue()).toBe('');

      await openConversation(a, 'Reading club');
      await openConversation(a, 'Lab');
      expect(await box(a).inputValue()).toBe('Written in the second tab');
      await box(a).press('End');
      await box(a).pressSequentially(', and more');
      const fresh = await newTab(alice.context);
      await openConversation(fresh, 'Lab');
      expect(await box(fresh).inputValue()).toBe('Written in the second tab, and more');
      expect(await a.locator('.conversation .composer-notice').innerText()).toBe('');
      expect(alice.errors).toEqual([]);
    } finally {
      await alice.context.close();
    }
  });

  it('writing on in a tab that did not follow keeps the newer text and says what the other tab’s was', {
    timeout: 60_000,
  }, async () => {
    const alice = await signInToPortal(browser!, campus.gateway.issuer, 'alice');
    try {
      const a = alice.page;
      await openConversation(a, 'Reading club');
      await box(a).fill('First words');
      const b = await newTab(alice.context);
      await openConversation(b, 'Reading club');
      expect(await box(b).inputValue()).toBe('First words');
      await box(b).fill('First words, then the second tab’s thoughts');
      await heard(a, 'First words, then the second tab’s thoughts');

      await box(a).press('End');
      await box(a).pressSequentially(' here');
      await expect
        .poll(() => a.locator('.conversation .composer-notice').innerText())
        .toContain('First words, then the second tab’s thoughts');
      // The newer edit is what is kept; leaving and coming back does not undo it.
      await openConversation(a, 'Lab');
      await openConversation(a, 'Reading club');
      expect(await box(a).inputValue()).toBe('First words here');
      const fresh = await newTab(alice.context);
      await openConversation(fresh, 'Reading club');
      expect(await box(fresh).inputValue()).toBe('First words here');
      expect(alice.errors).toEqual([]);
    } finally {
      await alice.context.close();
    }
  });
});
