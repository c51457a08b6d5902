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
const bob = 'bob@arts.campus.test';
const carol = 'carol@arts.campus.test';

let campus: Campus;
let people: ReturnType<typeof campusPeople>;
const clients: AtriumClient[] = [];

beforeAll(async () => {
  campus = await startCampus('fed-group-changes');
  people = campusPeople(campus);
});
afterAll(async () => {
  for (const c of clients) c.close();
  await campus?.stop();
});

/** A group homed at eng, as eng relays it to arts (alice owns it, bob is in it), with bob watching on arts. */
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
        members: [
          { address: alice, role: 'owner', state: 'active', joinedSeq: 0 },
          { address: bob, role: 'member', state: 'active', joinedSeq: 0 },
        ],
      },
    },
  ]);
  expect(opened).toEqual({ status: 200, body: { applied: 1 } });
  await expect.poll(() => views.has(id), { timeout: 15_000 }).toBe(true);
  return { id, bobOnArts, view: () => views.get(id)! };
}

/** An entry the group's home ordered, written by alice; `fields` are its body. */
function entry(conversationId: string, seq: number, fields: Record<string, unknown>, kind = 'system') {
  return {
    type: 'entry',
    conversationId,
    message: {
      id: randomUUID(),
      seq,
      sender: alice,
      clientMsgId: `relayed-${randomUUID()}`,
      kind,
      body: JSON.stringify(fields),
      refId: null,
      createdAt: new Date().toISOString(),
      editedAt: null,
      recalledAt: null,
    },
  };
}

const codes = (answer: TransactionAnswer) => answer.body.refused?.map((r) => `${r.event}:${r.code}`);
/** One line per entry, as a device reads it: its kind, and a group change's event and fields. */
const lines = (messages: Message[]) =>
  [...messages]
    .sort((a, b) => a.seq - b.seq)
    .map((m) =>
      [m.seq, m.kind, m.event, m.members === undefined ? undefined : JSON.stringify(m.members), m.role]
        .filter((part) => part !== undefined)
        .join(' '),
    );

describe('a group change relayed by its home', () => {
  it('whose fields do not fit its event is not stored: its seq holds a placeholder, and a well-formed one still applies', async () => {
    const { id, bobOnArts, view } = await groupWithBobWatching();
    const answer = await signedTransaction(campus, 'eng', 'arts', [
      entry(id, 1, { event: 'member.joined', members: carol, by: alice }),
      entry(id, 2, { event: 'member.joined', members: [42], by: alice }),
      entry(id, 3, { event: 'member.role', members: [bob], role: 'superuser', by: alice }),
      // A body does not speak for its entry's kind: this text reaches devices as the text it is.
      entry(id, 4, { kind: 'system', event: 'member.role', members: [bob], role: 'root' }, 'text'),
      entry(id, 5, { event: 'member.joined', members: [carol], by: alice }),
      // An event this node does not know is a newer node's: it passes as it came.
      entry(id, 6, { event: 'group.pinned', members: 'anything' }),
    ]);
    expect(answer.status).toBe(200);
    expect(answer.body.applied).toBe(3);
    expect(codes(answer)).toEqual(['0:invalid_entry', '1:invalid_entry', '2:invalid_entry']);

    const expected = [
      '1 withheld',
      '2 withheld',
      '3 withheld',
      `4 text member.role ["${bob}"] root`,
      `5 system member.joined ["${carol}"]`,
      '6 system group.pinned "anything"',
    ];
    await expect.poll(() => lines(bobOnArts.messages), { timeout: 15_000 }).toEqual(expected);
    expect(lines((await bobOnArts.history(id)).messages)).toEqual(expected);
    // Bob's view of the group took the one well-formed join, and nothing of the rest.
    expect(
      view()
        .members.map((m) => `${m.address} ${m.role}`)
        .sort(),
    ).toEqual([`${alice} owner`, `${bob} member`, `${carol} member`]);
  });

  it('may not rewrite a stored group change through the target of an edit', async () => {
    const { id, bobOnArts } = await groupWithBobWatching();
    const joined = entry(id, 1, { event: 'member.joined', members: [carol], by: alice });
    expect(await signedTransaction(campus, 'eng', 'arts', [joined])).toEqual({ status: 200, body: { applied: 1 } });
    const edit = entry(id, 2, { text: 'edited' }, 'edit');
    const answer = await signedTransaction(campus, 'eng', 'arts', [
      {
        ...edit,
        message: { ...edit.message, refId: joined.message.id },
        target: {
          id: joined.message.id,
          body: JSON.stringify({ event: 'member.joined', members: [42], by: alice }),
          editedAt: new Date().toISOString(),
          recalledAt: null,
        },
      },
    ]);
    expect(answer.status).toBe(200);
    expect(codes(answer)).toEqual(['0:invalid_entry']);
    expect(lines((await bobOnArts.history(id)).messages)).toEqual([
      `1 system member.joined ["${carol}"]`,
      '2 withheld',
    ]);
  });
});
