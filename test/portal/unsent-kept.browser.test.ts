import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startCampus, type Campus } from '../helpers/federation.ts';
import { connectAs } from '../helpers/node.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { chromiumMissing, launchChromium, openConversation, send, signInToPortal } from './browser.ts';

let campus: Campus;
let browser: Browser | undefined;
/** Orchestra: a group Bob keeps at Arts, with Alice of Engineering in it. */
let groupId: string;

beforeAll(async () => {
  campus = await startCampus('portal-unsent-kept');
  if (!chromiumMissing) browser = await launchChromium();
  const bob = await connectAs(campus.gateway, campus.nodes.arts, 'bob');
  groupId = (await bob.createGroup('Orchestra', ['alice@eng.campus.test'])).id;
  bob.close();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await campus?.stop();
});

const UNREACHABLE =
  'Not sent yet: College of Arts, where this group is hosted, cannot be reached right now; the portal sends it as soon as it can.';

/** The texts of Orchestra's messages as its host, Arts, keeps them, in their order there. */
async function keptAtArts(): Promise<string[]> {
  const bob = await connectAs(campus.gateway, campus.nodes.arts, 'bob');
  try {
    const { messages } = await bob.history(groupId);
    return messages
      .filter((m) => m.kind === 'text')
      .sort((a, b) => a.seq - b.seq)
      .map((m) => m.text ?? '');
  } finally {
    bob.close();
  }
}

/** The person's own messages in the open conversation: those sent, and those not (yet). */
async function ownTexts(page: Page): Promise<{ sent: string[]; unsent: string[] }> {
  return {
    sent: await page.locator('.message.mine:not(.pending) .text').allInnerTexts(),
    unsent: await page.locator('.message.pending .text').allInnerTexts(),
  };
}

describe.skipIf(chromiumMissing)('messages that did not go because a college was out of reach', () => {
  it('are still there, not sent, after a reload, and go by themselves once the college is back, in order, once each', {
    timeout: 90_000,
  }, async () => {
    const alice = await signInToPortal(browser!, campus.gateway.issuer, 'alice');
    const page = alice.page;
    let artsDown = false;
    try {
      await openConversation(page, 'Orchestra');
      await campus.stopNode('arts');
      artsDown = true;
      await send(page, 'Rehearsal moved to Friday');
      await send(page, 'Bring the new scores');
      const failed = page.locator('.message.pending.failed');
      await expect
        .poll(() => failed.locator('.status-failed').allInnerTexts(), { timeout: 20_000 })
        .toEqual([UNREACHABLE, UNREACHABLE]);
      // The person may still throw one away.
      expect(await failed.first().getByRole('button', { name: 'Discard' }).isVisible()).toBe(true);

      await page.reload();
      await page.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
      await page.waitForSelector('.conversation .composer-input');
      await expect
        .poll(() => ownTexts(page), { timeout: 10_000 })
        .toEqual({ sent: [], unsent: ['Rehearsal moved to Friday', 'Bring the new scores'] });
      // Tried again meanwhile, and still not sent while Arts is down.
      await expect
        .poll(() => failed.locator('.status-failed').allInnerTexts(), { timeout: 20_000 })
        .toEqual([UNREACHABLE, UNREACHABLE]);

      await campus.restartNode('arts');
      artsDown = false;
      await expect
        .poll(() => ownTexts(page), { timeout: 45_000 })
        .toEqual({ sent: ['Rehearsal moved to Friday', 'Bring the new scores'], unsent: [] });
      expect(await keptAtArts()).toEqual(['Rehearsal moved to Friday', 'Bring the new scores']);
      // Nothing goes twice later either.
      await page.waitForTimeout(2_000);
      expect(await keptAtArts()).toEqual(['Rehearsal moved to Friday', 'Bring the new scores']);
      expect(alice.errors).toEqual([]);
    } finally {
      await alice.context.close();
      if (artsDown) await campus.restartNode('arts');
    }
  });

  it('sends one its college could not take by itself with the same client id, and leaves one refused for good to the person', {
    timeout: 60_000,
  }, async () => {
    const alice = await signInToPortal(browser!, campus.gateway.issuer, 'alice');
    const page = alice.page;
    const sends = new Map<string, string[]>();
    try {
      // The node's answers as if Engineering refused the first (no longer a member) and could not reach Arts
      // for the second, the first time it was sent.
      await page.routeWebSocket(/\/ws$/, (ws) => {
        const server = ws.connectToServer();
        ws.onMessage((data) => {
          const frame = JSON.parse(String(data)) as {
            v: number;
            type: string;
            id: string;
            clientMsgId?: string;
            text?: string;
          };
          if (frame.type !== 'send' || !frame.text) return server.send(data);
          const ids = sends.get(frame.text) ?? [];
          sends.set(frame.text, [...ids, frame.clientMsgId!]);
          const code =
            frame.text === 'Refused for good' ? 'not_member' : ids.length === 0 ? 'federation_unavailable' : null;
          if (!code) return server.send(data);
          ws.send(JSON.stringify({ v: frame.v, type: 'error', re: frame.id, code, message: `${code} (test)` }));
        });
        server.onMessage((data) => ws.send(data));
      });
      await page.reload();
      await page.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
      await openConversation(page, 'Orchestra');
      await send(page, 'Refused for good');
      await send(page, 'Goes after all');

      await expect
        .poll(() => ownTexts(page).then(({ sent }) => sent.at(-1)), { timeout: 15_000 })
        .toBe('Goes after all');
      const [first, again] = sends.get('Goes after all')!;
      expect(again).toBe(first);
      // The refusal stays for the person to act on: nothing sends it again by itself.
      await page.waitForTimeout(3_000);
      expect(sends.get('Refused for good')).toHaveLength(1);
      const refused = page.locator('.message.pending.failed');
      expect(await refused.locator('.text').allInnerTexts()).toEqual(['Refused for good']);
      expect(await refused.locator('.status-failed').innerText()).toBe('Not sent: not_member (test)');
      expect((await keptAtArts()).filter((text) => text === 'Goes after all')).toHaveLength(1);
      expect(alice.errors).toEqual([]);
    } finally {
      await alice.context.close();
    }
  });

  it('are forgotten at sign-out like drafts: the next sign-in in the tab neither shows nor sends them', {
    timeout: 60_000,
  }, async () => {
    const alice = await signInToPortal(browser!, campus.gateway.issuer, 'alice');
    const page = alice.page;
    let proxyDown = false;
    try {
      await openConversation(page, 'Orchestra');
      await campus.stopProxy();
      proxyDown = true;
      await send(page, 'Never mind this one');
      await expect.poll(() => page.locator('.message.pending.failed').count(), { timeout: 20_000 }).toBe(1);
      await page.reload();
      await page.waitForSelector('.conversation .composer-input');
      await expect.poll(() => ownTexts(page).then(({ unsent }) => unsent)).toEqual(['Never mind this one']);

      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL((at) => at.pathname.startsWith('/portal/signed-out'), { timeout: 10_000 });
      expect(await page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.startsWith('atrium.')))).toEqual([]);
      await campus.restartProxy();
      proxyDown = false;
      await page.goto(`${campus.gateway.issuer}/`);
      await page.fill('#username', 'alice');
      await page.fill('#password', DEMO_PASSWORD);
      await page.click('button[type=submit]');
      await page.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
      await openConversation(page, 'Orchestra');
      await page.waitForTimeout(3_000);
      expect(await page.locator('.message.pending').count()).toBe(0);
      expect(await keptAtArts()).not.toContain('Never mind this one');
      expect(alice.errors).toEqual([]);
    } finally {
      await alice.context.close();
      if (proxyDown) await campus.restartProxy();
    }
  });
});
