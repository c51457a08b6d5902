import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  campusPeople,
  signedTransaction,
  startCampus,
  type Campus,
  type TransactionAnswer,
} from '../helpers/federation.ts';
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
  campus = await startCampus('fed-relayed-changes');
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

type Entry = {
  type: 'entry';
  conversationId: string;
  message: {
    id: string;
    seq: number;
    sender: string;
    clientMsgId: string;
    kind: string;
    body: string;
    refId: string | null;
    createdAt: string;
    editedAt: string | null;
    recalledAt: string | null;
  };
  target?: { id: string; body: string; editedAt: string | null; recalledAt: string | null };
};

/** An entry the group's home ordered at `seq`, as its outbox sends it. */
function entry(conversationId: string, seq: number, sender: string, kind: string, body: object): Entry {
  return {
    type: 'entry',
    conversationId,
    message: {
      id: randomUUID(),
      seq,
      sender,
      clientMsgId: `relayed-${randomUUID()}`,
      kind,
      body: JSON.stringify(body),
      refId: null,
      createdAt: new Date().toISOString(),
      editedAt: null,
      recalledAt: null,
    },
  };
}

/** A change of `of` (an edit, a recall, or a text posing as one), with its new state as a home's outbox sends it. */
function change(of: Entry, seq: number, sender: string, kind: 'edit' | 'recall' | 'text', text?: string): Entry {
  const at = new Date().toISOString();
  const body = text === undefined ? {} : { text };
  const made = entry(of.conversationId, seq, sender, kind, body);
  made.message.refId = of.message.id;
  made.target = {
    id: of.message.id,
    body: JSON.stringify(body),
    editedAt: kind === 'recall' ? null : at,
    recalledAt: kind === 'recall' ? at : null,
  };
  return made;
}

const codes = (answer: TransactionAnswer) => answer.body.refused?.map((r) => `${r.event}:${r.code}`);
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
    const { id, bobOnArts } = await groupWithBobWatching();
    const said = entry(id, 1, carol, 'text', { text: "carol's words" });
    expect(await signedTransaction(campus, 'eng', 'arts', [said])).toEqual({ status: 200, body: { applied: 1 } });

    const forged = await signedTransaction(campus, 'eng', 'arts', [change(said, 2, dave, 'edit', "dave's words")]);
    expect(forged.status).toBe(200);
    expect(codes(forged)).toEqual(['0:invalid_entry']);
    // Bob's device is handed a placeholder, not an edit it would apply to carol's message.
    await expect
      .poll(() => lines(bobOnArts.messages, id), { timeout: 15_000 })
      .toEqual([`1 text ${carol}: carol's words`, `2 withheld system@${ENG}: -`]);
    expect(await history(bobOnArts, id)).toEqual([`1 text ${carol}: carol's words`, `2 withheld system@${ENG}: -`]);

    const edited = await signedTransaction(campus, 'eng', 'arts', [change(said, 3, carol, 'edit', 'carol, edited')]);
    expect(edited).toEqual({ status: 200, body: { applied: 1 } });
    expect(await history(bobOnArts, id)).toEqual([
      `1 text ${carol}: carol, edited (edited)`,
      `2 withheld system@${ENG}: -`,
      `3 edit ${carol}: carol, edited`,
    ]);
  });

  it("may not reach past its author's own text, by its target or by what it refers to", async () => {
    const { id, bobOnArts } = await groupWithBobWatching();
    const carols = entry(id, 1, carol, 'text', { text: "carol's words" });
    const daves = entry(id, 2, dave, 'text', { text: "dave's words" });
    // Dave edits his own message, but its target is carol's.
    const aimedElsewhere = change(carols, 3, dave, 'edit', 'rewritten');
    aimedElsewhere.message.refId = daves.message.id;
    // A text of dave's that carries a target.
    const textWithTarget = change(carols, 4, dave, 'text', 'rewritten');
    textWithTarget.message.refId = null;
    // Devices apply an edit to the message it refers to, target or not.
    const noTarget = change(carols, 6, dave, 'edit', 'rewritten');
    delete noTarget.target;
    // A system entry of alice's, which her edit may not rewrite either.
    const joined = entry(id, 7, alice, 'system', { event: 'member.joined', members: [carol], by: alice });
    const answer = await signedTransaction(campus, 'eng', 'arts', [
      carols,
      daves,
      aimedElsewhere,
      textWithTarget,
      change(carols, 5, dave, 'recall'),
      noTarget,
      joined,
      change(joined, 8, alice, 'edit', 'rewritten'),
    ]);
    expect(answer.status).toBe(200);
    expect(answer.body.applied).toBe(3);
    expect(codes(answer)).toEqual([
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
    const { id, bobOnArts } = await groupWithBobWatching();
    const said = entry(id, 1, carol, 'text', { text: 'first' });
    const answer = await signedTransaction(campus, 'eng', 'arts', [
      said,
      change(said, 2, carol, 'edit', 'first, edited'),
      change(said, 3, carol, 'recall'),
      change(said, 4, carol, 'edit', 'back again'),
    ]);
    expect(answer.status).toBe(200);
    expect(answer.body.applied).toBe(3);
    expect(codes(answer)).toEqual(['3:invalid_entry']);
    expect(await history(bobOnArts, id)).toEqual([
      `1 text ${carol}: - (recalled)`,
      `2 edit ${carol}: - (recalled)`,
      `3 recall ${carol}: -`,
      `4 withheld system@${ENG}: -`,
    ]);
  });
});
