import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  campusPeople,
  conversationSnapshot,
  refusals,
  relayedEntry,
  signedTransaction,
  startCampus,
  type Campus,
} from '../helpers/federation.ts';
import { directIdentity } from '../../node/conversations/open-direct.ts';

const ENG = 'eng.campus.test';
const ARTS = 'arts.campus.test';
const LAW = 'law.campus.test';
const alice = `alice@${ENG}`;
const dave = `dave@${ENG}`;
const bob = `bob@${ARTS}`;
const carol = `carol@${ARTS}`;
const lena = `lena@${LAW}`;

let campus: Campus;
let as: ReturnType<typeof campusPeople>;

const transaction = (from: 'eng' | 'arts' | 'law', to: 'eng' | 'arts' | 'law', events: unknown[]) =>
  signedTransaction(campus, from, to, events);

const stored = (node: 'eng' | 'arts' | 'law', conversationId: string) =>
  campus.nodes[node].models.Message.count({ where: { conversationId } });
const held = (node: 'eng' | 'arts' | 'law', conversationId: string) =>
  campus.nodes[node].models.Conversation.count({ where: { id: conversationId } });
/** A node's copy of a conversation, one line per seq: its text, or who speaks for a placeholder. */
const copy = async (node: 'eng' | 'arts' | 'law', conversationId: string) =>
  (await campus.nodes[node].models.Message.findAll({ where: { conversationId }, order: [['seq', 'ASC']] })).map((m) =>
    m.kind === 'withheld' ? `${m.seq} withheld by ${m.sender}` : `${m.seq} ${JSON.parse(m.body).text}`,
  );

beforeAll(async () => {
  campus = await startCampus('fed-relay');
  as = campusPeople(campus);
});
afterAll(async () => {
  as?.close();
  await campus?.stop();
});

describe('a direct conversation', () => {
  it("is accepted only from the home its two addresses give, so a peer cannot take over another pair's conversation", async () => {
    // carol@arts and dave@eng: their conversation is ordered by arts. Eng claims to be its home.
    const { id, homeDomain } = directIdentity(carol, dave);
    expect(homeDomain).toBe(ARTS);
    const forged = await transaction('eng', 'arts', [
      conversationSnapshot(id, 'direct', ENG, [carol, dave]),
      relayedEntry(id, 1, dave, { text: 'forged by eng' }),
    ]);
    expect(forged.status).toBe(403);
    expect(forged.body.error?.code).toBe('sender_not_of_origin');
    expect(await held('arts', id)).toBe(0);
    expect(await stored('arts', id)).toBe(0);

    // Dave's real messages to Carol still reach her through her node, the conversation's home.
    const carolOnArts = await as('carol', 'arts');
    const daveOnEng = await as('dave', 'eng');
    const ack = await daveOnEng.send({ to: carol, text: 'really from dave' });
    expect(ack.conversationId).toBe(id);
    await expect.poll(() => carolOnArts.messages.map((m) => m.text), { timeout: 15_000 }).toContain('really from dave');
    expect(carolOnArts.messages.map((m) => m.text)).not.toContain('forged by eng');
  });

  it('must list exactly the two people its id is made from', async () => {
    // alice@eng and carol@arts: ordered by eng, so eng is their home; still it may not add a third person.
    const { id, homeDomain } = directIdentity(alice, carol);
    expect(homeDomain).toBe(ENG);
    const third = await transaction('eng', 'arts', [
      conversationSnapshot(id, 'direct', ENG, [alice, carol, bob]),
      relayedEntry(id, 1, alice, { text: 'three in a pair' }),
    ]);
    expect(third.status).toBe(400);
    expect(third.body.error?.code).toBe('invalid_conversation');
    const others = await transaction('eng', 'arts', [
      conversationSnapshot(id, 'direct', ENG, [alice, bob]),
      relayedEntry(id, 1, alice, { text: 'not their pair' }),
    ]);
    expect(others.status).toBe(400);
    expect(others.body.error?.code).toBe('invalid_conversation');
    expect(await held('arts', id)).toBe(0);
    expect(await stored('arts', id)).toBe(0);
  });

  it('cannot be squatted by a group that takes its id', async () => {
    const { id } = directIdentity(bob, carol);
    const squat = await transaction('eng', 'arts', [conversationSnapshot(id, 'group', ENG, [alice, bob, carol])]);
    expect(squat.status).toBe(400);
    expect(squat.body.error?.code).toBe('invalid_conversation');
    expect(await held('arts', id)).toBe(0);

    const carolOnArts = await as('carol', 'arts');
    const bobOnArts = await as('bob', 'arts');
    const ack = await bobOnArts.send({ to: carol, text: 'our own conversation' });
    expect(ack.conversationId).toBe(id);
    await expect
      .poll(() => carolOnArts.messages.map((m) => m.text), { timeout: 15_000 })
      .toContain('our own conversation');
  });

  it('takes from its home only entries written by one of its two people', async () => {
    const aliceOnEng = await as('alice', 'eng');
    const ack = await aliceOnEng.send({ to: bob, text: 'hello bob' });
    await expect.poll(() => stored('arts', ack.conversationId), { timeout: 15_000 }).toBe(1);
    const answer = await transaction('eng', 'arts', [
      relayedEntry(ack.conversationId, 2, dave, { text: 'dave was never here' }),
      relayedEntry(ack.conversationId, 3, alice, { text: 'alice again' }),
    ]);
    expect(answer.status).toBe(200);
    expect(answer.body.applied).toBe(1);
    expect(refusals(answer)).toEqual(['0:not_a_member']);
    // The refused entry keeps its seq as the home's placeholder, so bob's copy stays gap-free.
    expect(await copy('arts', ack.conversationId)).toEqual([
      '1 hello bob',
      `2 withheld by system@${ENG}`,
      '3 alice again',
    ]);
  });
});

// The campus's policy lets eng talk with arts and with law, but keeps arts and law apart.
describe('a group relayed by its home', () => {
  it('is refused where two of its colleges may not exchange messages, and nothing of it is stored', async () => {
    const id = randomUUID();
    const answer = await transaction('law', 'eng', [
      conversationSnapshot(id, 'group', LAW, [lena, alice, bob]),
      relayedEntry(id, 1, bob, { text: 'from arts, through law' }),
    ]);
    expect(answer.status).toBe(200);
    expect(answer.body.applied).toBe(0);
    expect(refusals(answer)).toEqual(['0:policy_denied', '1:conversation_not_held']);
    expect(await held('eng', id)).toBe(0);
    expect(await stored('eng', id)).toBe(0);
  });

  it('may not vouch for an author whose college the policy keeps apart from it; the rest of the transaction applies', async () => {
    const id = randomUUID();
    const opened = await transaction('law', 'eng', [
      conversationSnapshot(id, 'group', LAW, [lena, alice]),
      relayedEntry(id, 1, lena, { text: 'law and eng' }),
    ]);
    expect(opened).toEqual({ status: 200, body: { applied: 2 } });
    const aliceOnEng = await as('alice', 'eng');
    const relayed = await transaction('law', 'eng', [
      relayedEntry(id, 2, bob, { text: 'bob, said law' }),
      relayedEntry(id, 3, lena, { text: 'lena again' }),
    ]);
    expect(relayed.status).toBe(200);
    expect(relayed.body.applied).toBe(1);
    expect(refusals(relayed)).toEqual(['0:policy_denied']);
    expect(await copy('eng', id)).toEqual(['1 law and eng', `2 withheld by system@${LAW}`, '3 lena again']);
    const { messages } = await aliceOnEng.history(id);
    expect(
      messages.sort((a, b) => a.seq - b.seq).map((m) => `${m.seq} ${m.kind === 'withheld' ? 'withheld' : m.text}`),
    ).toEqual(['1 law and eng', '2 withheld', '3 lena again']);
  });

  it("still carries what the home's own webhooks post, and its members' messages, to the other colleges", async () => {
    const aliceOnEng = await as('alice', 'eng');
    const bobOnArts = await as('bob', 'arts');
    const group = await aliceOnEng.createGroup('Build news', [bob]);
    await expect.poll(() => held('arts', group.id), { timeout: 15_000 }).toBe(1);
    const { url } = await aliceOnEng.createWebhook(group.id, 'Build server');
    const posted = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'Build #7 passed' }),
    });
    expect(posted.status).toBe(201);
    await bobOnArts.send({ conversationId: group.id, text: 'nice' });
    await expect.poll(() => aliceOnEng.messages.map((m) => m.text), { timeout: 15_000 }).toContain('nice');
    await expect.poll(() => bobOnArts.messages.map((m) => m.text), { timeout: 15_000 }).toContain('Build #7 passed');
  });

  it("may not bring in a member from a college the policy keeps apart from another member's", async () => {
    const id = randomUUID();
    expect((await transaction('law', 'eng', [conversationSnapshot(id, 'group', LAW, [lena, alice])])).status).toBe(200);
    const invited = await transaction('law', 'eng', [conversationSnapshot(id, 'group', LAW, [lena, alice, bob])]);
    expect(refusals(invited)).toEqual(['0:policy_denied']);
    const members = await campus.nodes.eng.models.Member.findAll({ where: { conversationId: id } });
    expect(members.map((m) => m.address).sort()).toEqual([alice, lena]);
  });
});

describe('entries of a conversation this node does not hold', () => {
  it("are not stored when the snapshot sent with them names none of this college's people", async () => {
    const id = randomUUID();
    const answer = await transaction('eng', 'arts', [
      conversationSnapshot(id, 'group', ENG, [alice, dave]),
      relayedEntry(id, 1, dave, { text: 'nobody at arts is in this' }),
    ]);
    expect(answer.status).toBe(200);
    expect(answer.body.applied).toBe(0);
    expect(refusals(answer)).toEqual(['0:no_member_here', '1:conversation_not_held']);
    expect(await held('arts', id)).toBe(0);
    expect(await stored('arts', id)).toBe(0);
  });

  it('are refused without a snapshot, and the rest of the transaction applies', async () => {
    const id = randomUUID();
    const group = randomUUID();
    const answer = await transaction('eng', 'arts', [
      relayedEntry(id, 1, alice, { text: 'no snapshot of this' }),
      conversationSnapshot(group, 'group', ENG, [alice, bob]),
      relayedEntry(group, 1, alice, { text: 'a real group' }),
    ]);
    expect(answer.status).toBe(200);
    expect(answer.body.applied).toBe(2);
    expect(refusals(answer)).toEqual(['0:conversation_not_held']);
    expect(await stored('arts', id)).toBe(0);
    expect(await stored('arts', group)).toBe(1);
  });
});
