import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { signedTransaction, startCampus, type Campus } from '../helpers/federation.ts';
import { advanceSequences, insertRows } from '../../node/messages/group-commit.ts';
import {
  chromiumMissing,
  launchChromium,
  openConversation,
  send,
  signInToPortal,
  startDirect,
  type Person,
} from './browser.ts';
import { LENA, lawEntry, lawGroup } from './law-relay.ts';

let campus: Campus;
let browser: Browser;
let alice: Person;
let dave: Person;

beforeAll(async () => {
  if (chromiumMissing) return;
  campus = await startCampus('portal-app-names');
  browser = await launchChromium();
  alice = await signInToPortal(browser, campus.gateway.issuer, 'alice');
  dave = await signInToPortal(browser, campus.gateway.issuer, 'dave');
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await campus?.stop();
});

const ALICE = 'alice@eng.campus.test';
const DAVE = 'dave@eng.campus.test';
const CLERK = 'hook-0123456789abcdef@law.campus.test';

/** The sender line above someone else's message: their name, then their address. */
function senderLine(person: Person, text: string) {
  return person.page.locator('.conversation .message:not(.mine)', { hasText: text }).locator('.sender').textContent();
}

describe.skipIf(chromiumMissing)('the names the portal shows for people and apps', () => {
  it('keeps a person’s name and presence in their direct chat when another college’s group relays their entry under an app’s name', {
    timeout: 60_000,
  }, async () => {
    const a = alice.page;
    await startDirect(dave.page, 'alice', 'Alice Chen');
    await send(dave.page, 'Lunch at noon?');
    const direct = a.locator('.conversation-item', { hasText: 'Lunch at noon?' });
    await expect.poll(() => direct.locator('.item-title').textContent(), { timeout: 10_000 }).toBe('Dave Okafor');

    // Law's node hosts a group Dave is in, and writes into it as him, calling him an app. This version's
    // node refuses that (relay-checks.ts); one before it stored it as it came, and the portal must still
    // hold: it is written into Engineering's store as storeEntries does, and Alice's portal opened again.
    const id = randomUUID();
    const forged = lawEntry(
      id,
      1,
      { text: 'Court is adjourned', senderName: 'Dean of Law', senderKind: 'bot' },
      { sender: DAVE },
    );
    const relayed = await signedTransaction(campus, 'law', 'eng', [lawGroup(id, 'Moot court', [ALICE, DAVE]), forged]);
    expect(relayed).toMatchObject({
      status: 200,
      body: { applied: 1, refused: [{ event: 1, code: 'invalid_entry' }] },
    });
    const eng = campus.nodes.eng;
    const { message } = forged;
    await eng.sequelize.transaction(async (tx) => {
      // In place of the placeholder this version stored at its seq.
      await eng.models.Message.destroy({ where: { id: message.id }, transaction: tx });
      await insertRows(eng.sequelize, tx, [
        { ...message, conversationId: id, createdAt: new Date(message.createdAt), editedAt: null, recalledAt: null },
      ]);
      await advanceSequences(eng.sequelize, tx, [[id, message.seq]], new Date(), { forwardOnly: true });
    });
    await a.reload();
    await a.waitForSelector('#connection[data-state=online]', { timeout: 15_000 });
    await expect
      .poll(() => a.locator('.conversation-item', { hasText: 'Court is adjourned' }).count(), { timeout: 10_000 })
      .toBe(1);

    // Elsewhere Dave is still Dave: his direct chat's title, his messages there, and his presence (an app has none).
    // (Polled: a page opened again learns names from the directory a moment after it draws.)
    await expect.poll(() => direct.locator('.item-title').textContent(), { timeout: 10_000 }).toBe('Dave Okafor');
    await openConversation(a, 'Lunch at noon?');
    await expect.poll(() => a.locator('#conversation-title').textContent()).toBe('Dave Okafor');
    await expect.poll(() => senderLine(alice, 'Lunch at noon?')).toBe(`Dave Okafor ${DAVE}`);
    await expect.poll(() => a.locator('.conversation-subtitle').textContent()).toBe(`${DAVE} · online`);
    expect(alice.errors).toEqual([]);
  });

  it('names a webhook as it named itself in its group, and a person as the directory does though the entry says otherwise', {
    timeout: 60_000,
  }, async () => {
    const a = alice.page;
    const id = randomUUID();
    const events = [
      lawGroup(id, 'Law clinic', [ALICE, DAVE]),
      // Law's own webhook: its home speaks for it.
      lawEntry(
        id,
        1,
        { text: 'Filing deadline is Friday', senderName: 'Court Clerk', senderKind: 'webhook' },
        { sender: CLERK },
      ),
      // A person's entry with a name but no app's kind: the name is not theirs to take.
      lawEntry(id, 2, { text: 'Who has the brief?', senderName: 'Queen of Hearts' }),
    ];
    expect(await signedTransaction(campus, 'law', 'eng', events)).toEqual({ status: 200, body: { applied: 3 } });
    await openConversation(a, 'Law clinic');
    await expect
      .poll(() => senderLine(alice, 'Filing deadline is Friday'), { timeout: 10_000 })
      .toBe(`Court Clerk webhook ${CLERK}`);
    await expect.poll(() => senderLine(alice, 'Who has the brief?'), { timeout: 10_000 }).toBe(`Lena Park ${LENA}`);
    expect(alice.errors).toEqual([]);
  });

  it('marks a webhook as one, in its bubble and the list, and shows names kept with control characters without them', {
    timeout: 60_000,
  }, async () => {
    const a = alice.page;
    const id = randomUUID();
    // Kept before such names were refused (or by a node that does not refuse them): shown without them.
    const events = [
      lawGroup(id, 'Moot \u202Etruoc', [ALICE, DAVE]),
      lawEntry(
        id,
        1,
        { text: 'Your leave request was approved', senderName: 'Leave Approval\u202E', senderKind: 'webhook' },
        { sender: CLERK },
      ),
    ];
    expect(await signedTransaction(campus, 'law', 'eng', events)).toEqual({ status: 200, body: { applied: 2 } });
    const item = a.locator('.conversation-item', { hasText: 'Your leave request was approved' });
    await expect.poll(() => item.locator('.item-name').textContent(), { timeout: 10_000 }).toBe('Moot truoc');
    // Read out as a webhook's too.
    expect(await a.locator('#announcer').textContent()).toBe(
      'New message from Leave Approval (webhook) in Moot truoc: Your leave request was approved',
    );
    expect(await item.locator('.item-preview').textContent()).toBe('Leave (webhook): Your leave request was approved');
    await openConversation(a, 'Moot truoc');
    const message = a.locator('.conversation .message:not(.mine)', { hasText: 'Your leave request was approved' });
    // The name in a <bdi>, so that a name written right to left does not turn the address after it around.
    await expect.poll(() => message.locator('.sender bdi').textContent(), { timeout: 10_000 }).toBe('Leave Approval');
    expect(await senderLine(alice, 'Your leave request was approved')).toBe(`Leave Approval webhook ${CLERK}`);
    expect(await message.locator('.avatar').getAttribute('class')).toContain('webhook');
    expect(await a.locator('#conversation-title').textContent()).toBe('Moot truoc');
    expect(alice.errors).toEqual([]);
  });

  it('shows a person’s name kept with control characters without them, found and in their chat', {
    timeout: 60_000,
  }, async () => {
    const a = alice.page;
    // Kept before such names were refused.
    await campus.gateway.models.User.update({ displayName: 'Carol \u202EavliS' }, { where: { username: 'carol' } });
    await startDirect(a, 'carol', 'Carol avliS');
    await expect.poll(() => a.locator('#conversation-title').textContent(), { timeout: 10_000 }).toBe('Carol avliS');
    expect(alice.errors).toEqual([]);
  });
});
