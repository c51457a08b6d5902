import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { campusPeople, signedTransaction, startCampus, type Campus } from '../helpers/federation.ts';
import type { AtriumClient, Conversation, Message } from '../../sdk/client.ts';

const ENG = 'eng.campus.test';
const alice = `alice@${ENG}`;
const dave = `dave@${ENG}`;
const bob = 'bob@arts.campus.test';
const carol = 'carol@arts.campus.test';

let campus: Campus;
let people: ReturnType<typeof campusPeople>;
const clients: AtriumClient[] = [];

beforeAll(async () => {
  campus = await startCampus('fed-relayed-bodies');
  people = campusPeople(campus);
});
afterAll(async () => {
  for (const c of clients) c.close();
  await campus?.stop();
});

/** A group homed at eng (alice, dave; bob and carol of arts), as eng relays it to arts, with bob watching there. */
async function groupWithBobWatching() {
  const bobOnArts = await people('bob', 'arts');
  clients.push(bobOnArts);
  const views = new Map<string, Conversation>();
  bobOnArts.on('conversation', (view) => views.set(view.id, view));
  const id = randomUUID();
  const opened = await signedTransaction(campus, 'eng', 'arts', [
    {
      type: 'conversation',
      conversation: {
        id,
        kind: 'group',
        homeDomain: ENG,
        title: 'Relayed',
        members: [alice, dave, bob, carol].map((address, i) => ({
          address,
          role: i === 0 ? 'owner' : 'member',
          state: 'active',
          joinedSeq: 0,
        })),
      },
    },
  ]);
  expect(opened).toEqual({ status: 200, body: { applied: 1 } });
  await expect.poll(() => views.has(id), { timeout: 15_000 }).toBe(true);
  return { id, bobOnArts };
}

/** A text the group's home ordered at `seq`, written by `sender`; `body` is stored as it came. */
function text(conversationId: string, seq: number, sender: string, body: Record<string, unknown>) {
  return {
    type: 'entry',
    conversationId,
    message: {
      id: randomUUID(),
      seq,
      sender,
      clientMsgId: `relayed-${randomUUID()}`,
      kind: 'text',
      body: JSON.stringify(body),
      refId: null,
      createdAt: new Date().toISOString(),
      editedAt: null,
      recalledAt: null,
    },
  };
}

/** One line per entry of a conversation, as a device reads it: its place, kind, author and text. */
const lines = (messages: Message[], conversationId: string) =>
  messages
    .filter((m) => m.conversationId === conversationId)
    .sort((a, b) => a.seq - b.seq)
    .map((m) => `${m.seq} ${m.kind} ${m.sender}: ${m.text}`);

describe("a relayed entry's body", () => {
  it("does not speak for who sent it: bob sees a text of dave claiming to be carol as dave's", async () => {
    const { id, bobOnArts } = await groupWithBobWatching();
    // Dave is a member, so his entry passes the home's checks; its body claims carol wrote it.
    const answer = await signedTransaction(campus, 'eng', 'arts', [
      text(id, 1, carol, { text: 'hello from carol' }),
      text(id, 2, dave, { text: 'I am carol', sender: carol }),
    ]);
    expect(answer).toEqual({ status: 200, body: { applied: 2 } });

    const expected = [`1 text ${carol}: hello from carol`, `2 text ${dave}: I am carol`];
    await expect.poll(() => lines(bobOnArts.messages, id), { timeout: 15_000 }).toEqual(expected);
    expect(lines((await bobOnArts.history(id)).messages, id)).toEqual(expected);
  });

  it("does not take another entry's place, kind or id: each keeps the one its home gave it", async () => {
    const { id, bobOnArts } = await groupWithBobWatching();
    const first = text(id, 1, carol, { text: 'first' });
    const second = text(id, 2, dave, {
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
