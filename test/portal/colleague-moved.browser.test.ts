import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { campusPeople, startCampus, type Campus } from '../helpers/federation.ts';
import { addPerson } from '../helpers/gateway.ts';
import { operator } from '../../gateway/context.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';
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
  campus = await startCampus('portal-colleague-moved');
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
});
