import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  campusPeople,
  groupWithBobWatching,
  refusals,
  relayedChange,
  relayedEntry,
  signedTransaction,
  startCampus,
  type Campus,
} from '../helpers/federation.ts';
import type { AtriumClient, Message } from '../../sdk/client.ts';

const ENG = 'eng.campus.test';
const alice = `alice@${ENG}`;
const dave = `dave@${ENG}`;
const carol = 'carol@arts.campus.test';

let campus: Campus;
let people: ReturnType<typeof campusPeople>;

beforeAll(async () => {
  campus = await startCampus('fed-relayed-changes');
  people = campusPeople(campus);
});
afterAll(async () => {
  people?.close();
  await campus?.stop();
});

/** One line per entry of a conversation, as a device reads it. */
const lines = (messages: Message[], conversationId: string) =>
  messages
    .filter((m) => m.conversationId === conversationId)
    .sort((a, b) => a.seq - b.seq)
    .map(
      (m) =>
        `${m.seq} ${m.kind} ${m.sender}: ${m.text ?? '-'}${m.editedAt ? ' (edited)' : ''}${m.recalledAt ? ' (recalled)' : ''}`,
    );
const history = async (client: AtriumClient, id: string) => lines((await client.history(id)).messages, id);

describe('a change relayed by its home', () => {
  it("does not rewrite carol's message when dave sent it, and does when carol did", async () => {
    const { id, bobOnArts } = await groupWithBobWatching(campus, people);
    const said = relayedEntry(id, 1, carol, { text: "carol's words" });
    expect(await signedTransaction(campus, 'eng', 'arts', [said])).toEqual({ status: 200, body: { applied: 1 } });

    const forged = await signedTransaction(campus, 'eng', 'arts', [
      relayedChange(said, 2, dave, 'edit', "dave's words"),
    ]);
    expect(forged.status).toBe(200);
    expect(refusals(forged)).toEqual(['0:invalid_entry']);
    // Bob's device is handed a placeholder, not an edit it would apply to carol's message.
    await expect
      .poll(() => lines(bobOnArts.messages, id), { timeout: 15_000 })
      .toEqual([`1 text ${carol}: carol's words`, `2 withheld system@${ENG}: -`]);
    expect(await history(bobOnArts, id)).toEqual([`1 text ${carol}: carol's words`, `2 withheld system@${ENG}: -`]);

    const edited = await signedTransaction(campus, 'eng', 'arts', [
      relayedChange(said, 3, carol, 'edit', 'carol, edited'),
    ]);
    expect(edited).toEqual({ status: 200, body: { applied: 1 } });
    expect(await history(bobOnArts, id)).toEqual([
      `1 text ${carol}: carol, edited (edited)`,
      `2 withheld system@${ENG}: -`,
      `3 edit ${carol}: carol, edited`,
    ]);
  });

  it("may not reach past its author's own text, by its target or by what it refers to", async () => {
    const { id, bobOnArts } = await groupWithBobWatching(campus, people);
    const carols = relayedEntry(id, 1, carol, { text: "carol's words" });
    const daves = relayedEntry(id, 2, dave, { text: "dave's words" });
    // Dave edits his own message, but its target is carol's.
    const aimedElsewhere = relayedChange(carols, 3, dave, 'edit', 'rewritten');
    aimedElsewhere.message.refId = daves.message.id;
    // A text of dave's that carries a target.
    const textWithTarget = relayedChange(carols, 4, dave, 'text', 'rewritten');
    textWithTarget.message.refId = null;
    // Devices apply an edit to the message it refers to, target or not.
    const noTarget = relayedChange(carols, 6, dave, 'edit', 'rewritten');
    delete noTarget.target;
    // A system entry of alice's, which her edit may not rewrite either.
    const joined = relayedEntry(id, 7, alice, { event: 'member.joined', members: [carol], by: alice }, 'system');
    const answer = await signedTransaction(campus, 'eng', 'arts', [
      carols,
      daves,
      aimedElsewhere,
      textWithTarget,
      relayedChange(carols, 5, dave, 'recall'),
      noTarget,
      joined,
      relayedChange(joined, 8, alice, 'edit', 'rewritten'),
    ]);
    expect(answer.status).toBe(200);
    expect(answer.body.applied).toBe(3);
    expect(refusals(answer)).toEqual([
      '2:invalid_entry',
      '3:invalid_entry',
      '4:invalid_entry',
      '5:invalid_entry',
      '7:invalid_entry',
    ]);
    const withheld = [3, 4, 5, 6].map((seq) => `${seq} withheld system@${ENG}: -`);
    expect(await history(bobOnArts, id)).toEqual([
      `1 text ${carol}: carol's words`,
      `2 text ${dave}: dave's words`,
      ...withheld,
      `7 system ${alice}: -`,
      `8 withheld system@${ENG}: -`,
    ]);
  });

  it('may not bring back a recalled message, while its author edits and recalls it in the same transaction', async () => {
    const { id, bobOnArts } = await groupWithBobWatching(campus, people);
    const said = relayedEntry(id, 1, carol, { text: 'first' });
    const answer = await signedTransaction(campus, 'eng', 'arts', [
      said,
      relayedChange(said, 2, carol, 'edit', 'first, edited'),
      relayedChange(said, 3, carol, 'recall'),
      relayedChange(said, 4, carol, 'edit', 'back again'),
    ]);
    expect(answer.status).toBe(200);
    expect(answer.body.applied).toBe(3);
    expect(refusals(answer)).toEqual(['3:invalid_entry']);
    expect(await history(bobOnArts, id)).toEqual([
      `1 text ${carol}: - (recalled)`,
      `2 edit ${carol}: - (recalled)`,
      `3 recall ${carol}: -`,
      `4 withheld system@${ENG}: -`,
    ]);
  });
});
