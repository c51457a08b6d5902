import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page, Route } from 'playwright-core';
import { startCampus, type Campus } from '../helpers/federation.ts';
import { connectAs } from '../helpers/node.ts';
import { addPerson } from '../helpers/gateway.ts';
import { operator } from '../../gateway/context.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { chromiumMissing, launchChromium, openConversation, send, signInToPortal, startDirect } from './browser.ts';

let campus: Campus;
let browser: Browser | undefined;
/** Orchestra: a group Bob keeps at Arts, with Alice of Engineering in it. */
let orchestra: string;
/** Lab: a group Dave keeps at Engineering, Alice's own college, with her in it. */
let lab: string;

beforeAll(async () => {
  campus = await startCampus('portal-writing-kept');
  if (!chromiumMissing) browser = await launchChromium();
  const bob = await connectAs(campus.gateway, campus.nodes.arts, 'bob');
  orchestra = (await bob.createGroup('Orchestra', ['alice@eng.campus.test'])).id;
  bob.close();
  const dave = await connectAs(campus.gateway, campus.nodes.eng, 'dave');
  lab = (await dave.createGroup('Lab', ['alice@eng.campus.test'])).id;
  dave.close();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await campus?.stop();
});

/** The texts of a group's messages as its host keeps them, in their order there. */
async function keptAt(domain: 'eng' | 'arts', groupId: string): Promise<string[]> {
  const host = await connectAs(campus.gateway, campus.nodes[domain], domain === 'arts' ? 'bob' : 'dave');
  try {
    const { messages } = await host.history(groupId);
    return messages
      .filter((m) => m.kind === 'text')
      .sort((a, b) => a.seq - b.seq)
      .map((m) => m.text ?? '');
  } finally {
    host.close();
  }
}

/** The person's own messages in the open conversation: those sent, and those not (yet). */
async function ownTexts(page: Page): Promise<{ sent: string[]; unsent: string[] }> {
  return {
    sent: await page.locator('.message.mine:not(.pending) .text').allInnerTexts(),
    unsent: await page.locator('.message.pending .text').allInnerTexts(),
  };
}

/** A new tab of the same browser, at the portal (signed in, when the browser still holds the session). */
async function newTab(context: BrowserContext, online = true): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${campus.gateway.issuer}/`);
  if (online) await page.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
  return page;
}

/** Signs in at the gateway's form in this tab, as another person may at a shared computer. */
async function signInHere(page: Page, username: string): Promise<void> {
  await page.goto(`${campus.gateway.issuer}/`);
  await page.fill('#username', username);
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
}

/** The keys of what the portal keeps in this browser's lasting storage of what people wrote. */
const keptWriting = (page: Page) =>
  page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('atrium.writing.')));

describe.skipIf(chromiumMissing)('what a person wrote and did not send, kept in the browser', () => {
  it('a draft comes back in a new tab after its tab was closed, and follows into a tab already open', {
    timeout: 60_000,
  }, async () => {
    const alice = await signInToPortal(browser!, campus.gateway.issuer, 'alice');
    try {
      await openConversation(alice.page, 'Orchestra');
      await alice.page.locator('.conversation .composer-input').fill('Half a thought about the concert');
      await alice.page.close();

      const again = await newTab(alice.context);
      await openConversation(again, 'Orchestra');
      expect(await again.locator('.conversation .composer-input').inputValue()).toBe(
        'Half a thought about the concert',
      );

      // Written on in one tab, it is there in another open at the list.
      const other = await newTab(alice.context);
      await again.locator('.conversation .composer-input').fill('A whole thought about the concert');
      await openConversation(other, 'Orchestra');
      expect(await other.locator('.conversation .composer-input').inputValue()).toBe(
        'A whole thought about the concert',
      );
      // Cleared, it does not come back.
      await other.locator('.conversation .composer-input').fill('');
      await other.close();
      await again.close();
      const third = await newTab(alice.context);
      await openConversation(third, 'Orchestra');
      expect(await third.locator('.conversation .composer-input').inputValue()).toBe('');
      expect(await keptWriting(third)).toEqual([]);
      expect(alice.errors).toEqual([]);
    } finally {
      await alice.context.close();
    }
  });

  it('a message sent while its node is down survives its tab being closed and goes once the node is back, once', {
    timeout: 90_000,
  }, async () => {
    const alice = await signInToPortal(browser!, campus.gateway.issuer, 'alice');
    let engDown = false;
    try {
      await openConversation(alice.page, 'Lab');
      await campus.stopNode('eng');
      engDown = true;
      await alice.page.waitForSelector('#connection:not([data-state=online])', { timeout: 15_000 });
      await send(alice.page, 'Sent on the train, offline');
      await expect.poll(() => ownTexts(alice.page)).toEqual({ sent: [], unsent: ['Sent on the train, offline'] });
      await alice.page.close();

      await campus.restartNode('eng');
      engDown = false;
      const again = await newTab(alice.context);
      await openConversation(again, 'Lab');
      await expect
        .poll(() => ownTexts(again), { timeout: 30_000 })
        .toEqual({ sent: ['Sent on the train, offline'], unsent: [] });
      expect(await keptAt('eng', lab)).toEqual(['Sent on the train, offline']);
      // Nothing goes twice later, nor from a tab opened after it went.
      const later = await newTab(alice.context);
      await openConversation(later, 'Lab');
      await later.waitForTimeout(2_000);
      expect(await ownTexts(later)).toEqual({ sent: ['Sent on the train, offline'], unsent: [] });
      expect(await keptAt('eng', lab)).toEqual(['Sent on the train, offline']);
      expect(await keptWriting(later)).toEqual([]);
      expect(alice.errors).toEqual([]);
    } finally {
      await alice.context.close();
      if (engDown) await campus.restartNode('eng');
    }
  });

  it('two tabs show a message not sent yet once each, and it is stored once when the college is back', {
    timeout: 90_000,
  }, async () => {
    const alice = await signInToPortal(browser!, campus.gateway.issuer, 'alice');
    let proxyDown = false;
    try {
      await openConversation(alice.page, 'Orchestra');
      await campus.stopProxy();
      proxyDown = true;
      await send(alice.page, 'Both tabs know this one');
      await expect.poll(() => alice.page.locator('.message.pending.failed').count(), { timeout: 20_000 }).toBe(1);

      const other = await newTab(alice.context);
      await openConversation(other, 'Orchestra');
      await expect.poll(() => ownTexts(other)).toEqual({ sent: [], unsent: ['Both tabs know this one'] });

      await campus.restartProxy();
      proxyDown = false;
      for (const page of [alice.page, other])
        await expect
          .poll(() => ownTexts(page), { timeout: 45_000 })
          .toEqual({ sent: ['Both tabs know this one'], unsent: [] });
      await other.waitForTimeout(2_000);
      for (const page of [alice.page, other])
        expect(await ownTexts(page)).toEqual({ sent: ['Both tabs know this one'], unsent: [] });
      expect((await keptAt('arts', orchestra)).filter((t) => t === 'Both tabs know this one')).toHaveLength(1);
      expect(await keptWriting(other)).toEqual([]);
      expect(alice.errors).toEqual([]);
    } finally {
      await alice.context.close();
      if (proxyDown) await campus.restartProxy();
    }
  });

  it('another person signing in at the same browser sees none of it; the writer gets it back; signing out wipes it', {
    timeout: 120_000,
  }, async () => {
    const alice = await signInToPortal(browser!, campus.gateway.issuer, 'alice');
    const context = alice.context;
    let proxyDown = false;
    try {
      await openConversation(alice.page, 'Orchestra');
      await campus.stopProxy();
      proxyDown = true;
      await send(alice.page, 'Only Alice may send this');
      await expect.poll(() => alice.page.locator('.message.pending.failed').count(), { timeout: 20_000 }).toBe(1);
      await alice.page.locator('.conversation .composer-input').fill('Alice is still writing this');
      await alice.page.close();
      // Her session ends with the browser's (a shared lab computer); the browser's storage stays.
      await context.clearCookies();

      const bobsTab = await context.newPage();
      await signInHere(bobsTab, 'bob');
      await openConversation(bobsTab, 'Orchestra');
      await bobsTab.waitForTimeout(2_000);
      expect(await bobsTab.locator('.conversation .composer-input').inputValue()).toBe('');
      expect(await bobsTab.locator('.message.pending').count()).toBe(0);
      expect(await bobsTab.locator('.message', { hasText: 'Only Alice may send this' }).count()).toBe(0);
      await bobsTab.close();
      await context.clearCookies();

      const alicesTab = await context.newPage();
      await signInHere(alicesTab, 'alice');
      await openConversation(alicesTab, 'Orchestra');
      expect(await alicesTab.locator('.conversation .composer-input').inputValue()).toBe('Alice is still writing this');
      await expect.poll(() => ownTexts(alicesTab).then(({ unsent }) => unsent)).toEqual(['Only Alice may send this']);

      await alicesTab.getByRole('button', { name: 'Sign out' }).click();
      await alicesTab.waitForURL((at) => at.pathname.startsWith('/portal/signed-out'), { timeout: 10_000 });
      expect(await keptWriting(alicesTab)).toEqual([]);
      await campus.restartProxy();
      proxyDown = false;
      await alicesTab.close();
      const next = await context.newPage();
      await signInHere(next, 'alice');
      await openConversation(next, 'Orchestra');
      await next.waitForTimeout(3_000);
      expect(await next.locator('.conversation .composer-input').inputValue()).toBe('');
      expect(await next.locator('.message.pending').count()).toBe(0);
      expect(await keptAt('arts', orchestra)).not.toContain('Only Alice may send this');
      expect(alice.errors).toEqual([]);
    } finally {
      await context.close();
      if (proxyDown) await campus.restartProxy();
    }
  });
});

describe.skipIf(chromiumMissing)('what a person wrote, when their access ends', () => {
  it('leaves the browser once an administrator disables them, from every tab', {
    timeout: 60_000,
  }, async () => {
    await addPerson(campus.gateway, 'wanda');
    const wanda = await signInToPortal(browser!, campus.gateway.issuer, 'wanda');
    try {
      await startDirect(wanda.page, 'bob', 'Bob Martin');
      await wanda.page.locator('.conversation .composer-input').fill('Notes nobody else should find');
      const other = await newTab(wanda.context);
      await expect.poll(() => keptWriting(other).then((keys) => keys.length)).toBe(1);
      // The other tab asks the portal for something (her apps) just as she is disabled: it hears that she is
      // signed out before her node closes the chat and says why, and must say why all the same.
      let hold!: (route: Route) => void;
      const held = new Promise<Route>((resolve) => {
        hold = resolve;
      });
      await other.route('**/portal/api/workbench', (route) => hold(route));
      await other.click('a[data-nav="#/apps"]');
      const askedForApps = await held;
      await updateUser({ ...campus.gateway.context(null), actor: operator('test') }, 'wanda', { status: 'disabled' });
      const answered = other.waitForResponse('**/portal/api/workbench');
      await askedForApps.continue();
      expect((await answered).status()).toBe(401);

      for (const page of [wanda.page, other]) await page.waitForSelector('.ended h2', { timeout: 10_000 });
      expect(await keptWriting(other)).toEqual([]);
      for (const page of [wanda.page, other])
        expect(await page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.startsWith('atrium.')))).toEqual(
          [],
        );
      expect(wanda.errors).toEqual([]);
    } finally {
      await wanda.context.close();
    }
  });
});

describe.skipIf(chromiumMissing)('the most the browser keeps of what a person wrote', () => {
  it('says when a draft is too long to keep whole, and when too many messages wait to be sent to keep one more', {
    timeout: 60_000,
  }, async () => {
    const alice = await signInToPortal(browser!, campus.gateway.issuer, 'alice');
    const page = alice.page;
    try {
      await openConversation(page, 'Lab');
      const input = page.locator('.conversation .composer-input');
      const notice = page.locator('.conversation .composer-notice');
      await input.fill('x'.repeat(20_001));
      await expect
        .poll(() => notice.innerText())
        .toBe('This draft is longer than 20,000 characters: only its beginning comes back if the page closes.');
      await input.fill('Short again');
      await expect.poll(() => notice.innerText()).toBe('');

      // A hundred messages wait already (written in a conversation no longer shown, say).
      await page.evaluate(() => {
        const draft = Object.keys(localStorage).find((k) => k.startsWith('atrium.writing.'))!;
        const prefix = draft.slice(0, draft.indexOf('.draft.') + 1);
        for (let i = 0; i < 100; i++) {
          const clientMsgId = `waiting-${String(i).padStart(3, '0')}`;
          const unsent = {
            key: 'eng.campus.test/gone',
            clientMsgId,
            text: `waiting ${i}`,
            mentions: [],
            attachments: [],
          };
          localStorage.setItem(
            `${prefix}unsent.${clientMsgId}`,
            JSON.stringify({ ...unsent, createdAt: '2026-01-01T00:00:00Z' }),
          );
        }
      });
      await send(page, 'One too many');
      await expect
        .poll(() => notice.innerText())
        .toBe(
          '100 messages wait to be sent already, the most the portal keeps: this one stays here until some of them have gone.',
        );
      expect(await input.inputValue()).toBe('One too many');
      expect(await page.locator('.message', { hasText: 'One too many' }).count()).toBe(0);
      expect(await keptAt('eng', lab)).not.toContain('One too many');
      expect(alice.errors).toEqual([]);
    } finally {
      await alice.context.close();
    }
  });
});
