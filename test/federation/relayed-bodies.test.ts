import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  campusPeople,
  groupWithBobWatching,
  relayedEntry,
  signedTransaction,
  startCampus,
  type Campus,
} from '../helpers/federation.ts';
import type { Message } from '../../sdk/client.ts';

const dave = 'dave@eng.campus.test';
const carol = 'carol@arts.campus.test';

let campus: Campus;
let people: ReturnType<typeof campusPeople>;

beforeAll(async () => {
  campus = await startCampus('fed-relayed-bodies');
  people = campusPeople(campus);
});
afterAll(async () => {
  people?.close();
  await campus?.stop();
});

/** One line per entry of a conversation, as a device reads it: its place, kind, author and text. */
const lines = (messages: Message[], conversationId: string) =>
  messages
    .filter((m) => m.conversationId === conversationId)
    .sort((a, b) => a.seq - b.seq)
    .map((m) => `${m.seq} ${m.kind} ${m.sender}: ${m.text}`);

describe("a relayed entry's body", () => {
  it("does not speak for who sent it: bob sees a text of dave claiming to be carol as dave's", async () => {
    const { id, bobOnArts } = await groupWithBobWatching(campus, people);
    // Dave is a member, so his entry passes the home's checks; its body claims carol wrote it.
    const answer = await signedTransaction(campus, 'eng', 'arts', [
      relayedEntry(id, 1, carol, { text: 'hello from carol' }),
      relayedEntry(id, 2, dave, { text: 'I am carol', sender: carol }),
    ]);
    expect(answer).toEqual({ status: 200, body: { applied: 2 } });

    const expected = [`1 text ${carol}: hello from carol`, `2 text ${dave}: I am carol`];
    await expect.poll(() => lines(bobOnArts.messages, id), { timeout: 15_000 }).toEqual(expected);
    expect(lines((await bobOnArts.history(id)).messages, id)).toEqual(expected);
  });

  it("does not take another entry's place, kind or id: each keeps the one its home gave it", async () => {
    const { id, bobOnArts } = await groupWithBobWatching(campus, people);
    const first = relayedEntry(id, 1, carol, { text: 'first' });
    const second = relayedEntry(id, 2, dave, {
      text: 'second',
      id: first.message.id,
      conversationId: randomUUID(),
      seq: 1,
      clientMsgId: first.message.clientMsgId,
      kind: 'system',
      refId: first.message.id,
    });
    const answer = await signedTransaction(campus, 'eng', 'arts', [first, second]);
    expect(answer).toEqual({ status: 200, body: { applied: 2 } });

    const expected = [`1 text ${carol}: first`, `2 text ${dave}: second`];
    await expect.poll(() => lines(bobOnArts.messages, id), { timeout: 15_000 }).toEqual(expected);
    const shown = (await bobOnArts.history(id)).messages.find((m) => m.text === 'second');
    expect(shown).toMatchObject({
      id: second.message.id,
      conversationId: id,
      seq: 2,
      clientMsgId: second.message.clientMsgId,
      kind: 'text',
      refId: null,
    });
  });
});
