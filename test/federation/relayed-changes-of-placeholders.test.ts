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
  campus = await startCampus('fed-relayed-changes-of-placeholders');
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

/** An entry the group's home ordered at `seq`, as its outbox sends it, whose stored body is `body`. */
function entry(conversationId: string, seq: number, sender: string, kind: string, body: string): Entry {
  const id = randomUUID();
  return {
    type: 'entry',
    conversationId,
    message: {
      id,
      seq,
      sender,
      clientMsgId: kind === 'withheld' ? `withheld-${id}` : `relayed-${randomUUID()}`,
      kind,
      body,
      refId: null,
      createdAt: new Date().toISOString(),
      editedAt: null,
      recalledAt: null,
    },
  };
}

/** What the home's outbox sends for an entry the policy kept from this domain (withhold.ts). */
const placeholder = (conversationId: string, seq: number) =>
  entry(conversationId, seq, `system@${ENG}`, 'withheld', '{}');

/** `sender`'s edit or recall of `of`, with the new state it gives `of`, as a home's outbox sends it. */
function change(of: Entry, seq: number, sender: string, kind: 'edit' | 'recall', text?: string): Entry {
  const at = new Date().toISOString();
  const body = JSON.stringify(text === undefined ? {} : { text });
  const made = entry(of.conversationId, seq, sender, kind, body);
  made.message.refId = of.message.id;
  made.target = {
    id: of.message.id,
    body,
    editedAt: kind === 'edit' ? at : null,
    recalledAt: kind === 'recall' ? at : null,
  };
  return made;
}

/** The fields every entry has on the wire, whatever its body (presentMessage). */
const ENVELOPE = [
  'id',
  'conversationId',
  'seq',
  'sender',
  'clientMsgId',
  'kind',
  'refId',
  'createdAt',
  'editedAt',
  'recalledAt',
];

/** One line per entry, as a device reads it: its place, kind, author, text, and what its body gave it. */
const lines = (messages: Message[]) =>
  messages
    .sort((a, b) => a.seq - b.seq)
    .map((m) => {
      const fields = Object.keys(m).filter((key) => !ENVELOPE.includes(key));
      const marks = `${m.editedAt ? ' (edited)' : ''}${m.recalledAt ? ' (recalled)' : ''}`;
      return `${m.seq} ${m.kind} ${m.sender}: ${m.text ?? '-'}${marks} [${fields.join(',')}]`;
    });

describe('a relayed change aimed at an entry held here as a withheld placeholder', () => {
  it('leaves the placeholder without text, whether the home withheld the entry or this node refused it', async () => {
    const { id, bobOnArts } = await groupWithBobWatching();
    const withheldByHome = placeholder(id, 1);
    const withheldAgain = placeholder(id, 3);
    // Refused here (its body is not an object), so stored as a placeholder of the same id.
    const refusedHere = entry(id, 5, dave, 'text', JSON.stringify("dave's words"));
    const answer = await signedTransaction(campus, 'eng', 'arts', [
      withheldByHome,
      change(withheldByHome, 2, carol, 'edit', "carol's words"),
      withheldAgain,
      change(withheldAgain, 4, carol, 'recall'),
      refusedHere,
      change(refusedHere, 6, dave, 'edit', "dave's edited words"),
    ]);
    expect(answer.status).toBe(200);
    expect(answer.body.refused?.map((r) => `${r.event}:${r.code}`)).toEqual(['4:invalid_entry']);

    expect(lines((await bobOnArts.history(id)).messages)).toEqual([
      `1 withheld system@${ENG}: - []`,
      `2 edit ${carol}: carol's words [text]`,
      `3 withheld system@${ENG}: - []`,
      `4 recall ${carol}: - []`,
      `5 withheld system@${ENG}: - []`,
      `6 edit ${dave}: dave's edited words [text]`,
    ]);
  });
});
