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
  campus = await startCampus('fed-relayed-body-shapes');
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

/** A text the group's home ordered at `seq`, written by `sender`, whose stored body is `body` as it came. */
function text(conversationId: string, seq: number, sender: string, body: string) {
  return {
    type: 'entry',
    conversationId,
    message: {
      id: randomUUID(),
      seq,
      sender,
      clientMsgId: `relayed-${randomUUID()}`,
      kind: 'text',
      body,
      refId: null,
      createdAt: new Date().toISOString(),
      editedAt: null,
      recalledAt: null,
    },
  };
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

/** The fields an entry shows beyond its envelope: what its body gave it. */
const bodyFields = (message: Message) => Object.keys(message).filter((key) => !ENVELOPE.includes(key));

const codes = (answer: TransactionAnswer) => answer.body.refused?.map((r) => `${r.event}:${r.code}`);
/** One line per entry of a conversation, as a device reads it: its place, kind, author and text. */
const lines = (messages: Message[], conversationId: string) =>
  messages
    .filter((m) => m.conversationId === conversationId)
    .sort((a, b) => a.seq - b.seq)
    .map((m) => `${m.seq} ${m.kind} ${m.sender}: ${m.text ?? '-'}`);

describe('a relayed body that is not a JSON object', () => {
  it('is refused, and bob sees a withheld placeholder at its place instead of its characters as fields', async () => {
    const { id, bobOnArts } = await groupWithBobWatching();
    const said = text(id, 5, carol, JSON.stringify({ text: "carol's words" }));
    // Carol's own edit of her text, whose target would make her text's stored body a string.
    const edit = text(id, 6, carol, JSON.stringify({ text: 'edited' }));
    const editWithStringTarget = {
      ...edit,
      message: { ...edit.message, kind: 'edit', refId: said.message.id },
      target: {
        id: said.message.id,
        body: JSON.stringify('edited'),
        editedAt: edit.message.createdAt,
        recalledAt: null,
      },
    };
    const answer = await signedTransaction(campus, 'eng', 'arts', [
      text(id, 1, dave, JSON.stringify('hello')),
      text(id, 2, dave, JSON.stringify(['h', 'i'])),
      text(id, 3, dave, '42'),
      text(id, 4, dave, 'null'),
      said,
      editWithStringTarget,
    ]);
    expect(answer.status).toBe(200);
    expect(answer.body.applied).toBe(1);
    expect(codes(answer)).toEqual([
      '0:invalid_entry',
      '1:invalid_entry',
      '2:invalid_entry',
      '3:invalid_entry',
      '5:invalid_entry',
    ]);

    const expected = [
      ...[1, 2, 3, 4].map((seq) => `${seq} withheld system@${ENG}: -`),
      `5 text ${carol}: carol's words`,
      `6 withheld system@${ENG}: -`,
    ];
    await expect.poll(() => lines(bobOnArts.messages, id), { timeout: 15_000 }).toEqual(expected);
    const history = (await bobOnArts.history(id)).messages;
    expect(lines(history, id)).toEqual(expected);
    expect(history.sort((a, b) => a.seq - b.seq).map(bodyFields)).toEqual([[], [], [], [], ['text'], []]);
  });

  it('already stored, as a node before this check stored it, shows bob its entry with no body fields', async () => {
    const { id, bobOnArts } = await groupWithBobWatching();
    const entries = [
      text(id, 1, dave, JSON.stringify({ text: 'a string soon' })),
      text(id, 2, carol, JSON.stringify({ text: 'an array soon' })),
    ];
    expect(await signedTransaction(campus, 'eng', 'arts', entries)).toEqual({ status: 200, body: { applied: 2 } });
    const { Message: rows } = campus.nodes.arts.models;
    await rows.update({ body: JSON.stringify('hello') }, { where: { id: entries[0]!.message.id } });
    await rows.update(
      { body: JSON.stringify(['a', { text: 'from an array' }]) },
      { where: { id: entries[1]!.message.id } },
    );

    const history = (await bobOnArts.history(id)).messages;
    expect(lines(history, id)).toEqual([`1 text ${dave}: -`, `2 text ${carol}: -`]);
    expect(history.map(bodyFields)).toEqual([[], []]);
  });
});
