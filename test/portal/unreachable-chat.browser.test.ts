import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startCampus, type Campus } from '../helpers/federation.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { connectAs } from '../helpers/node.ts';
import { chromiumMissing, DESKTOP, launchChromium, openConversation, PHONE, send, signInToPortal } from './browser.ts';

let campus: Campus;
let browser: Browser | undefined;

beforeAll(async () => {
  campus = await startCampus('portal-unreachable-chat');
  if (!chromiumMissing) browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await campus?.stop();
});

/**
 * What the top bar shows of the connection: its words (beside the dot), nothing at all, or a dot alone,
 * which tells a person nothing.
 */
function connectionShown(page: Page): Promise<'words' | 'nothing' | 'dot alone'> {
  return page.evaluate(() => {
    const status = document.querySelector('#connection')!.getBoundingClientRect();
    if (status.width <= 1 && status.height <= 1) return 'nothing';
    const words = document.querySelector('#connection .connection-text')!.getBoundingClientRect();
    return words.width > 1 && words.height > 1 ? 'words' : 'dot alone';
  });
}

describe.skipIf(chromiumMissing)("the portal while a college's chat node is down", () => {
  it('says chat there cannot be reached, not that the person is offline, and loads when it is back', {
    timeout: 60_000,
  }, async () => {
    // Lena's chat lives on Law's node alone.
    await campus.stopNode('law');
    const context = await browser!.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    const issuer = campus.gateway.issuer;
    await page.goto(`${issuer}/`);
    await page.fill('#username', 'lena');
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(`${issuer}/`);

    const banner = page.locator('.offline-banner');
    // The banner's words are there (hidden) from the first try on: it shows once that try has failed.
    await page.waitForSelector('#connection[data-state=offline]', { timeout: 15_000 });
    expect(await banner.isVisible()).toBe(true);
    // Named as people know the college, not by its node's domain name.
    expect(await banner.textContent()).toBe(
      'Chat at School of Law cannot be reached right now; the portal keeps trying. Nothing you type is lost.',
    );
    expect(await page.locator('#connection .connection-text').textContent()).toBe('Chat out of reach — retrying…');
    await expect
      .poll(() => page.locator('.conversation-list li.empty').textContent())
      .toBe('Your conversations appear as soon as chat can be reached again.');
    // It does not flicker back to "Connecting…" with each retry.
    await page.waitForTimeout(1_500);
    expect(await page.locator('#connection').getAttribute('data-state')).toBe('offline');

    // The browser's own network gone is said as such.
    await context.setOffline(true);
    await expect.poll(() => banner.textContent()).toBe('You are offline. Nothing you type is lost.');
    await context.setOffline(false);

    await campus.restartNode('law');
    await page.waitForSelector('#connection[data-state=online]', { timeout: 30_000 });
    expect(await banner.isHidden()).toBe(true);
    await expect
      .poll(() => page.locator('.conversation-list li.empty').textContent())
      .toBe('No conversations yet. Start one with “New chat” (+ at the top).');
    await context.close();
  });

  it('on a phone, says in the banner what is out of reach instead of showing a dot without words', {
    timeout: 60_000,
  }, async () => {
    // Carol chats on Engineering's node and on Arts'.
    const carol = await signInToPortal(browser!, campus.gateway.issuer, 'carol', { viewport: PHONE, hasTouch: true });
    const page = carol.page;
    const status = page.locator('#connection');
    const banner = page.locator('.offline-banner');
    try {
      expect(await connectionShown(page)).toBe('nothing');
      expect(await status.getAttribute('aria-label')).toBe('Online');
      expect(await banner.isHidden()).toBe(true);

      await campus.stopNode('arts');
      await expect
        .poll(() => banner.textContent(), { timeout: 15_000 })
        .toBe(
          'Chat at College of Arts cannot be reached right now; the portal keeps trying. Nothing you type is lost.',
        );
      expect(await banner.isVisible()).toBe(true);
      expect(await status.getAttribute('aria-label')).toBe('Reconnecting to College of Arts…');
      expect(await connectionShown(page)).toBe('nothing');

      await carol.context.setOffline(true);
      await expect.poll(() => banner.textContent()).toBe('You are offline. Nothing you type is lost.');
      expect(await status.getAttribute('aria-label')).toBe('Offline — reconnecting…');
      expect(await connectionShown(page)).toBe('nothing');
      await carol.context.setOffline(false);

      await campus.restartNode('arts');
      await page.waitForSelector('#connection[data-state=online]', { timeout: 30_000 });
      expect(await banner.isHidden()).toBe(true);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
      // Wide enough, the top bar says it in words beside the dot, as it always did on a desktop.
      await page.setViewportSize(DESKTOP);
      expect(await connectionShown(page)).toBe('words');
      expect(await page.locator('#connection .connection-text').textContent()).toBe('Online');
      expect(carol.errors).toEqual([]);
    } finally {
      await carol.context.close();
    }
  });

  it('says a message to a group hosted at a college out of reach did not go, naming the college, not an error code', {
    timeout: 60_000,
  }, async () => {
    const bob = await connectAs(campus.gateway, campus.nodes.arts, 'bob');
    await bob.createGroup('Orchestra', ['alice@eng.campus.test']);
    bob.close();
    const alice = await signInToPortal(browser!, campus.gateway.issuer, 'alice');
    const page = alice.page;
    try {
      await page.locator('.conversation-item', { hasText: 'Orchestra' }).waitFor({ timeout: 10_000 });
      await openConversation(page, 'Orchestra');
      await campus.stopNode('arts');
      await send(page, 'Rehearsal moved to Friday');
      const failed = page.locator('.message.pending.failed', { hasText: 'Rehearsal moved to Friday' });
      await expect
        .poll(() => failed.locator('.status-failed').textContent(), { timeout: 15_000 })
        .toBe(
          'Not sent yet: College of Arts, where this group is hosted, cannot be reached right now; the portal sends it as soon as it can.',
        );
      expect(await failed.getByRole('button', { name: 'Retry' }).isVisible()).toBe(true);
      expect(alice.errors).toEqual([]);
    } finally {
      await alice.context.close();
      await campus.restartNode('arts');
    }
  });

  it('stores a message once when Retry follows a send its host college stored but whose answer was lost', {
    timeout: 60_000,
  }, async () => {
    const bob = await connectAs(campus.gateway, campus.nodes.arts, 'bob');
    const group = await bob.createGroup('Choir', ['alice@eng.campus.test']);
    const received: string[] = [];
    bob.on('message', (m) => {
      if (m.conversationId === group.id && m.text) received.push(m.text);
    });
    const alice = await signInToPortal(browser!, campus.gateway.issuer, 'alice');
    const page = alice.page;
    try {
      // The first send reaches the nodes and is stored, but neither its answer nor the copy of it the node
      // passes on comes back before Retry is pressed, as when the host college's answer is lost.
      let lost: { id: string; clientMsgId: string } | undefined;
      let retried = false;
      await page.routeWebSocket(/\/ws$/, (ws) => {
        const server = ws.connectToServer();
        ws.onMessage((data) => {
          const frame = JSON.parse(String(data)) as { type: string; id: string; clientMsgId?: string };
          if (frame.type === 'send' && lost) retried = true;
          if (frame.type === 'send' && !lost) lost = { id: frame.id, clientMsgId: frame.clientMsgId! };
          server.send(data);
        });
        server.onMessage((data) => {
          const frame = JSON.parse(String(data)) as { v: number; re?: string };
          if (lost && frame.re === lost.id) {
            ws.send(
              JSON.stringify({
                v: frame.v,
                type: 'error',
                re: frame.re,
                code: 'federation_unavailable',
                message: 'arts.campus.test did not confirm the message',
              }),
            );
            return;
          }
          if (lost && !retried && frame.re === undefined && String(data).includes(lost.clientMsgId)) return;
          ws.send(data);
        });
      });
      await page.reload();
      await page.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
      await page.locator('.conversation-item', { hasText: 'Choir' }).waitFor({ timeout: 10_000 });
      await openConversation(page, 'Choir');
      await send(page, 'Choir meets at noon');
      const failed = page.locator('.message.pending.failed', { hasText: 'Choir meets at noon' });
      await failed.getByRole('button', { name: 'Retry' }).click();

      await expect
        .poll(() => page.locator('.message.mine:not(.pending)', { hasText: 'Choir meets at noon' }).count(), {
          timeout: 10_000,
        })
        .toBe(1);
      expect(await page.locator('.message.pending').count()).toBe(0);
      await expect.poll(() => received).toEqual(['Choir meets at noon']);
      // Nothing more comes later either.
      await page.waitForTimeout(1_000);
      expect(received).toEqual(['Choir meets at noon']);
      const { messages } = await bob.history(group.id);
      expect(messages.filter((m) => m.text === 'Choir meets at noon')).toHaveLength(1);
      expect(alice.errors).toEqual([]);
    } finally {
      bob.close();
      await alice.context.close();
    }
  });

  it('lists the conversations of the colleges that answer while another is out of reach, even none', {
    timeout: 60_000,
  }, async () => {
    // Carol has no conversation at Engineering; Arts, her other college, is down as she signs in on a phone.
    await campus.stopNode('arts');
    const context = await browser!.newContext({ viewport: PHONE, hasTouch: true, isMobile: true });
    const page = await context.newPage();
    try {
      const issuer = campus.gateway.issuer;
      await page.goto(`${issuer}/`);
      await page.fill('#username', 'carol');
      await page.fill('#password', DEMO_PASSWORD);
      await page.click('button[type=submit]');
      await page.waitForURL(`${issuer}/`);
      await page.waitForSelector('#connection[data-state=partial]', { timeout: 15_000 });
      await expect
        .poll(() => page.locator('.conversation-list li.empty').textContent(), { timeout: 15_000 })
        .toBe('No conversations yet. Any at College of Arts appear as soon as chat there can be reached again.');
      expect(await page.locator('.offline-banner').textContent()).toBe(
        'Chat at College of Arts cannot be reached right now; the portal keeps trying. Nothing you type is lost.',
      );

      await campus.restartNode('arts');
      await page.waitForSelector('#connection[data-state=online]', { timeout: 30_000 });
      await expect
        .poll(() => page.locator('.conversation-list li.empty').textContent())
        .toBe('No conversations yet. Start one with “New chat” (+ at the top).');
    } finally {
      await context.close();
    }
  });
});
