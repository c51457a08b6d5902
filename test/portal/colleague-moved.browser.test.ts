import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { campusPeople, startCampus, type Campus } from '../helpers/federation.ts';
import { addPerson } from '../helpers/gateway.ts';
import { operator } from '../../gateway/context.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';
import { addDomain } from '../../gateway/domains/domains.ts';
import { removeDomain } from '../../gateway/domains/remove-domain.ts';
import { pinDomainKeys } from '../../gateway/federation/pin-domain.ts';
import { allowPair } from '../../gateway/federation/policy.ts';
import { chromiumMissing, launchChromium, openConversation, send, signInToPortal, statusOf } from './browser.ts';

/**
 * Someone's chat moved to another college (an administrator's "Move their chat"): the people who chatted
 * with them at their old address see, in that conversation, where they chat now, with their name as
 * before, and go on there in one click (chat-moved.test.ts is the mover's own view).
 */
let campus: Campus;
let browser: Browser | undefined;
let as: ReturnType<typeof campusPeople>;
const ops = () => ({ ...campus.gateway.context(null), actor: operator('test') });

beforeAll(async () => {
  // Law's node asks the gateway every second whether its domain is still there (removal, below).
  campus = await startCampus('portal-colleague-moved', { nodeEnv: { ENDED_ACCESS_POLL_SECONDS: '1' } });
  as = campusPeople(campus);
  if (!chromiumMissing) browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  as?.close();
  await browser?.close();
  await campus?.stop();
});

describe.skipIf(chromiumMissing)('a conversation with someone whose chat moved to another college', () => {
  it('says where they chat now, keeps their name, shows no last seen, and opens the chat there', {
    timeout: 60_000,
  }, async () => {
    await addPerson(campus.gateway, 'gwen', { units: ['campus/eng/cs'] });
    const gwen = await as('gwen', 'eng');
    // Online at eng until the move: her old college's node has a last-seen time for her old address.
    await gwen.send({ to: 'dave@eng.campus.test', text: 'See you at the lab' });
    await updateUser(ops(), 'gwen', { units: ['campus/arts/music'], moveChat: true });

    const dave = await signInToPortal(browser!, campus.gateway.issuer, 'dave');
    await openConversation(dave.page, 'gwen');
    const note = dave.page.locator('.conversation .moved-note');
    await expect
      .poll(() => note.textContent(), { timeout: 10_000 })
      .toContain('Test gwen now chats as gwen@arts.campus.test');
    expect(await dave.page.locator('#conversation-title').textContent()).toBe('Test gwen');
    const subtitle = await dave.page.locator('.conversation-subtitle').textContent();
    expect(subtitle).toContain('gwen@eng.campus.test');
    expect(subtitle).not.toContain('last seen');

    // Writing there anyway says where to write instead, and nothing waits to be delivered.
    await send(dave.page, 'Are you there?');
    await expect
      .poll(() => dave.page.locator('.message.failed').textContent(), { timeout: 10_000 })
      .toContain('Test gwen now chats at gwen@arts.campus.test');

    await note.getByRole('button', { name: 'Open that conversation' }).click();
    await expect
      .poll(() => dave.page.locator('.conversation-subtitle').textContent(), { timeout: 10_000 })
      .toContain('gwen@arts.campus.test');
    expect(await dave.page.locator('#conversation-title').textContent()).toBe('Test gwen');
    expect(await dave.page.locator('.conversation .moved-note').isVisible()).toBe(false);
    await send(dave.page, 'Welcome to Arts');
    await expect.poll(() => statusOf(dave.page, 'Welcome to Arts'), { timeout: 10_000 }).not.toBe('sending');
    expect(dave.errors).toEqual([]);
    await dave.context.close();
  });

  it("says a college's chat was removed from the campus, to its people and to those writing to them, and finds it again once it is back", {
    timeout: 120_000,
  }, async () => {
    const LAW = 'law.campus.test';
    const dave = await as('dave', 'eng');
    await dave.send({ to: `lena@${LAW}`, text: 'Moot court at ten' });
    // A group hosted at Law, with Dave in it.
    const lenaOnLaw = await as('lena', 'law');
    const group = await lenaOnLaw.createGroup('Moot court', [`dave@eng.campus.test`]);
    await lenaOnLaw.send({ conversationId: group.id, text: 'Bring the brief' });
    const lena = await signInToPortal(browser!, campus.gateway.issuer, 'lena');
    await openConversation(lena.page, 'Dave');
    const davesTab = await signInToPortal(browser!, campus.gateway.issuer, 'dave');
    await openConversation(davesTab.page, 'Lena Park');
    await lena.page.goto(`${campus.gateway.issuer}/`);
    const lenasList = lena.page.locator('#conversations');
    await expect.poll(() => lenasList.textContent(), { timeout: 10_000 }).toContain('Dave Okafor');

    await removeDomain(ops(), LAW, { movePeople: true });

    // Her own tab, and a reload of it, name her college and say what happened, not that chat was never set up.
    const removed = "School of Law's chat was removed from the campus by the campus administrators";
    await expect.poll(() => lenasList.textContent(), { timeout: 20_000 }).toContain(removed);
    expect(await lenasList.textContent()).toContain('Ask your IT help desk');
    await lena.page.reload();
    await expect.poll(() => lenasList.textContent(), { timeout: 10_000 }).toContain(removed);
    expect(await lenasList.textContent()).not.toContain('not set up');

    // Writing to her from another college, once its node knows: her college named, no Retry.
    campus.advanceClocks(5_000);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await send(davesTab.page, 'Are you still there?');
    const failed = davesTab.page.locator('.message.failed');
    await expect
      .poll(() => failed.textContent(), { timeout: 10_000 })
      .toContain("Not sent: School of Law's chat is no longer on the campus");
    expect(await failed.textContent()).not.toContain(LAW);
    expect(await failed.getByRole('button', { name: 'Retry' }).count()).toBe(0);
    // So does writing in a group hosted there.
    await openConversation(davesTab.page, 'Moot court');
    await send(davesTab.page, 'On my way');
    const inGroup = davesTab.page.locator('.message.failed', { hasText: 'On my way' });
    await expect
      .poll(() => inGroup.textContent(), { timeout: 10_000 })
      .toContain("Not sent: School of Law's chat is no longer on the campus");
    expect(await inGroup.getByRole('button', { name: 'Retry' }).count()).toBe(0);
    // Her name stays as it was known, after a reload too, though the directory no longer answers for her.
    await davesTab.page.reload();
    await openConversation(davesTab.page, 'Lena Park');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await davesTab.page.locator('#conversation-title').textContent()).toBe('Lena Park');

    // Added back: her tab, left open, finds her chat again by itself.
    await addDomain(ops(), { name: LAW, url: campus.nodes.law.url, units: ['campus/law'] });
    await pinDomainKeys(ops(), LAW);
    await allowPair(ops(), { a: 'eng.campus.test', b: LAW });
    await expect.poll(() => lenasList.textContent(), { timeout: 60_000 }).toContain('Dave');
    expect(await lenasList.textContent()).not.toContain(removed);
    await lena.context.close();
    await davesTab.context.close();
  });
});
