import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { operator } from '../../gateway/context.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { addPeople, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type Login, type TestNode } from '../helpers/node.ts';
import { openRaw } from '../helpers/raw-socket.ts';
import type { AtriumClient, Message, Receipt } from '../../sdk/client.ts';

const ALICE = 'alice@eng.campus.test';
const DAVE = 'dave@eng.campus.test';
const CAROL = 'carol@eng.campus.test';

type Device = AtriumClient & { receipts: Receipt[]; messages: Message[] };

let gateway: TestGateway;
let eng: TestNode;

beforeAll(async () => {
  // Some thirty people sign in from this one address here, more than a gateway lets one address try by default.
  gateway = await startTestGateway('im-receipts', { LOGIN_IP_LIMIT: '200' });
  eng = await startTestNode(gateway, 'eng.campus.test');
});
afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
});

async function device(username: string, login?: Login): Promise<Device & { login: Login }> {
  const sdk = await connectAs(gateway, eng, username, login);
  const d = Object.assign(sdk, { receipts: [] as Receipt[], messages: [] as Message[] });
  d.on('receipt', (r) => d.receipts.push(r));
  d.on('message', (m) => d.messages.push(m));
  return d;
}

/** The receipts a device was told of one member in one conversation, as [readSeq, deliveredSeq]. */
const positionsOf = (d: Device, conversationId: string, address: string) =>
  d.receipts
    .filter((r) => r.conversationId === conversationId && r.address === address)
    .map((r) => [r.readSeq, r.deliveredSeq]);

/**
 * Every frame the node wrote to these devices before `sender` sent a last message has arrived once that
 * message has (frames on a socket keep their order): what a device was not told by then, it never is.
 */
async function settle(sender: Device, conversationId: string, devices: Device[]): Promise<void> {
  const ack = await sender.send({ conversationId, text: 'settle' });
  for (const d of devices) await expect.poll(() => d.messages.some((m) => m.id === ack.messageId)).toBe(true);
}

describe('receipts', () => {
  it('move a reader’s positions forward only and never past the end, and say where they now are', async () => {
    const alice = await device('alice');
    const dave = await device('dave');
    const first = await alice.send({ to: DAVE, text: 'one' });
    await alice.send({ conversationId: first.conversationId, text: 'two' });
    const third = await alice.send({ conversationId: first.conversationId, text: 'three' });
    const id = first.conversationId;

    expect(await dave.markDelivered(id, first.seq + 1)).toMatchObject({
      address: DAVE,
      deliveredSeq: first.seq + 1,
      readSeq: 0,
    });
    // Reading also delivers.
    expect(await dave.markRead(id, third.seq)).toMatchObject({ readSeq: third.seq, deliveredSeq: third.seq });
    expect(await dave.markRead(id, first.seq)).toMatchObject({ readSeq: third.seq, deliveredSeq: third.seq });
    expect(await dave.markDelivered(id, first.seq)).toMatchObject({ readSeq: third.seq, deliveredSeq: third.seq });
    expect(await dave.markRead(id, third.seq + 50)).toMatchObject({ readSeq: third.seq, deliveredSeq: third.seq });
    const stored = await eng.models.Member.findOne({ where: { conversationId: id, address: DAVE } });
    expect([stored!.readSeq, stored!.deliveredSeq]).toEqual([third.seq, third.seq]);
    // Alice saw dave's positions move, and only when they moved.
    await settle(dave, id, [alice]);
    expect(positionsOf(alice, id, DAVE)).toEqual([
      [0, first.seq + 1],
      [third.seq, third.seq],
    ]);
    alice.close();
    dave.close();
  });

  it('reach the reader’s other devices, so they agree on what is read', async () => {
    const alice = await device('alice');
    const davePhone = await device('dave');
    const daveLaptop = await device('dave', davePhone.login);
    const ack = await alice.send({ to: DAVE, text: 'read me on one device' });
    await expect.poll(() => daveLaptop.messages.some((m) => m.id === ack.messageId)).toBe(true);
    await davePhone.markRead(ack.conversationId, ack.seq);
    await expect.poll(() => positionsOf(daveLaptop, ack.conversationId, DAVE).at(-1)).toEqual([ack.seq, ack.seq]);
    // The laptop's own copy of the conversation has nothing unread any more.
    await expect
      .poll(async () => (await daveLaptop.conversations()).find((c) => c.id === ack.conversationId)?.unread)
      .toBe(0);
    // The phone had its answer; it is not told again.
    await settle(alice, ack.conversationId, [davePhone]);
    expect(positionsOf(davePhone, ack.conversationId, DAVE)).toEqual([]);
    for (const d of [alice, davePhone, daveLaptop]) d.close();
  });

  it('asked from two devices at once, end at the furthest either asked for', async () => {
    const alice = await device('alice');
    const davePhone = await device('dave');
    const daveLaptop = await device('dave', davePhone.login);
    const first = await alice.send({ to: DAVE, text: 'first' });
    const second = await alice.send({ conversationId: first.conversationId, text: 'second' });
    const [read, delivered] = await Promise.all([
      davePhone.markRead(first.conversationId, first.seq),
      daveLaptop.markDelivered(first.conversationId, second.seq),
    ]);
    // Whichever was written first, both end where the two together lead: read to the first, delivered to the second.
    const stored = await eng.models.Member.findOne({ where: { conversationId: first.conversationId, address: DAVE } });
    expect([stored!.readSeq, stored!.deliveredSeq]).toEqual([first.seq, second.seq]);
    expect(read.readSeq).toBe(first.seq);
    expect(delivered.deliveredSeq).toBe(second.seq);
    await expect.poll(() => positionsOf(alice, first.conversationId, DAVE).at(-1)).toEqual([first.seq, second.seq]);
    for (const d of [alice, davePhone, daveLaptop]) d.close();
  });

  it('in a group, reach the senders of the messages they cover and no other member', async () => {
    const alice = await device('alice');
    const dave = await device('dave');
    const carol = await device('carol');
    const group = await alice.createGroup('Receipts', [DAVE, CAROL]);
    const fromAlice = await alice.send({ conversationId: group.id, text: 'from alice' });
    const fromCarol = await carol.send({ conversationId: group.id, text: 'from carol' });

    // Dave has alice's message but not carol's yet: only alice is told.
    await dave.markDelivered(group.id, fromAlice.seq);
    await settle(dave, group.id, [alice, carol]);
    expect(positionsOf(alice, group.id, DAVE).map(([, delivered]) => delivered)).toEqual([fromAlice.seq]);
    expect(positionsOf(carol, group.id, DAVE)).toEqual([]);

    // Dave reads both: alice (her message is now read) and carol (hers delivered and read) are told.
    await dave.markRead(group.id, fromCarol.seq);
    await expect.poll(() => positionsOf(carol, group.id, DAVE)).toEqual([[fromCarol.seq, fromCarol.seq]]);
    await expect.poll(() => positionsOf(alice, group.id, DAVE).at(-1)).toEqual([fromCarol.seq, fromCarol.seq]);

    // Carol reads alice's message (alice is told), then on to the end: past alice's message there are
    // only carol's and dave's, so dave is told and alice is not.
    await carol.markRead(group.id, fromAlice.seq);
    await expect.poll(() => positionsOf(alice, group.id, CAROL).at(-1)?.[0]).toBe(fromAlice.seq);
    const last = await dave.send({ conversationId: group.id, text: 'one more from dave' });
    const aliceKnew = positionsOf(alice, group.id, CAROL).length;
    await carol.markRead(group.id, last.seq);
    await expect.poll(() => positionsOf(dave, group.id, CAROL).at(-1)).toEqual([last.seq, last.seq]);
    await settle(dave, group.id, [alice]);
    expect(positionsOf(alice, group.id, CAROL)).toHaveLength(aliceKnew);

    // A view still shows every member's positions as they are.
    const view = (await alice.conversations()).find((c) => c.id === group.id)!;
    expect(view.members.find((m) => m.address === CAROL)).toMatchObject({ readSeq: last.seq });
    for (const d of [alice, dave, carol]) d.close();
  });

  it('no longer reach a sender who left the group', async () => {
    const alice = await device('alice');
    const dave = await device('dave');
    const carol = await device('carol');
    const group = await alice.createGroup('Leaving', [DAVE, CAROL]);
    const fromCarol = await carol.send({ conversationId: group.id, text: 'bye soon' });
    await carol.leave(group.id);
    await dave.markRead(group.id, fromCarol.seq);
    const marker = await alice.send({ to: CAROL, text: 'still in touch' });
    await expect.poll(() => carol.messages.some((m) => m.id === marker.messageId)).toBe(true);
    expect(positionsOf(carol, group.id, DAVE)).toEqual([]);
    for (const d of [alice, dave, carol]) d.close();
  });

  it('after a long absence, reach the senders of everything the reader caught up on', async () => {
    const alice = await device('alice');
    const dave = await device('dave');
    const carol = await device('carol');
    const group = await alice.createGroup('Long thread', [DAVE, CAROL]);
    const fromCarol = await carol.send({ conversationId: group.id, text: 'early on' });
    // Thousands of Alice's entries since (written straight to the store, as a busy term would), then Dave reads them all.
    const count = 2_100;
    const at = new Date();
    await eng.models.Message.bulkCreate(
      Array.from({ length: count }, (_, i) => ({
        conversationId: group.id,
        seq: fromCarol.seq + 1 + i,
        id: randomUUID(),
        sender: ALICE,
        clientMsgId: `bulk-${String(i).padStart(6, '0')}`,
        kind: 'text',
        body: JSON.stringify({ text: `note ${i}` }),
        refId: null,
        createdAt: at,
        editedAt: null,
        recalledAt: null,
      })),
    );
    await eng.models.Conversation.update({ lastSeq: fromCarol.seq + count }, { where: { id: group.id } });
    await dave.markRead(group.id, fromCarol.seq + count);
    await expect
      .poll(() => positionsOf(carol, group.id, DAVE).at(-1))
      .toEqual([fromCarol.seq + count, fromCarol.seq + count]);
    await expect
      .poll(() => positionsOf(alice, group.id, DAVE).at(-1))
      .toEqual([fromCarol.seq + count, fromCarol.seq + count]);
    for (const d of [alice, dave, carol]) d.close();
  });

  it('are refused to someone outside the conversation, and change nothing', async () => {
    const alice = await device('alice');
    const carol = await device('carol');
    const ack = await alice.send({ to: DAVE, text: 'just the two of us' });
    await expect(carol.markRead(ack.conversationId, ack.seq)).rejects.toMatchObject({ code: 'not_member' });
    expect(await eng.models.Member.count({ where: { conversationId: ack.conversationId, address: CAROL } })).toBe(0);
    expect(positionsOf(alice, ack.conversationId, CAROL)).toEqual([]);
    alice.close();
    carol.close();
  });
});

describe('receipts in a big group', () => {
  it('are written together when many members mark a message at once, and reach its sender alone', async () => {
    const ctx = { ...gateway.context(null), actor: operator('test') };
    const names = Array.from({ length: 24 }, (_, i) => `reader${String(i).padStart(2, '0')}`);
    for (const username of names) {
      await createUser(ctx, {
        username,
        displayName: `Reader ${username.slice(6)}`,
        email: `${username}@campus.test`,
        password: DEMO_PASSWORD,
        roles: ['student'],
        units: ['campus/eng/cs'],
      });
    }
    const alice = await device('alice');
    const dave = await device('dave');
    const readers: Device[] = [];
    for (const name of names) readers.push(await device(name));
    const group = await alice.createGroup('Lecture hall', [DAVE, ...names.map((n) => `${n}@eng.campus.test`)]);
    // Another of Alice's devices, bare, to see the frames themselves.
    const aliceRaw = await openRaw(eng.url, ['atrium.v1', `atrium.token.${await alice.login.tokenFor(eng.url)}`]);
    await aliceRaw.next((f) => f.type === 'ready');
    const ack = await alice.send({ conversationId: group.id, text: 'the slides are up' });
    for (const r of readers) await expect.poll(() => r.messages.some((m) => m.id === ack.messageId)).toBe(true);

    // As the portal does on each message: every reader's device marks it delivered, all at once.
    let updates = 0;
    eng.sequelize.addHook('afterQuery', 'count-receipt-writes', (_options, query) => {
      if (/^\s*UPDATE\s+[`"]?members\b/i.test(String((query as unknown as { sql?: string }).sql ?? ''))) updates += 1;
    });
    try {
      const answers = await Promise.all(readers.map((r) => r.markDelivered(group.id, ack.seq)));
      expect(answers.map((a) => a.deliveredSeq)).toEqual(names.map(() => ack.seq));
    } finally {
      eng.sequelize.removeHook('afterQuery', 'count-receipt-writes');
    }
    // One statement per receipt before; a few for all of them now.
    expect(updates).toBeLessThan(names.length / 2);
    const stored = await eng.models.Member.findAll({ where: { conversationId: group.id, state: 'active' } });
    expect(stored.filter((m) => names.includes(m.address.split('@')[0]!)).map((m) => m.deliveredSeq)).toEqual(
      names.map(() => ack.seq),
    );

    // Alice, whose message it is, hears of every reader; Dave, who sent nothing, of none.
    await expect
      .poll(() => new Set(alice.receipts.filter((r) => r.conversationId === group.id).map((r) => r.address)).size)
      .toBe(names.length);
    await settle(alice, group.id, [dave]);
    expect(dave.receipts.filter((r) => r.conversationId === group.id)).toEqual([]);
    // They reached her gathered: a `receipts` frame lists several, so she had fewer frames than receipts.
    const told = aliceRaw.frames.filter((f) => f.type === 'receipt' || f.type === 'receipts');
    const listed = told.flatMap((f) =>
      f.type === 'receipts' ? (f.receipts as { address: string }[]) : [f as { address: string }],
    );
    expect(new Set(listed.map((r) => r.address)).size).toBe(names.length);
    expect(told.length).toBeLessThan(names.length / 2);
    aliceRaw.socket.close();
    for (const d of [alice, dave, ...readers]) d.close();
  });
});

describe('read counts', () => {
  it('count the other active members who read up to each entry, with one statement, for members only', async () => {
    const crowd = Array.from({ length: 40 }, (_, i) => `counted${String(i).padStart(2, '0')}@eng.campus.test`);
    await addPeople(
      gateway,
      crowd.map((a) => a.split('@')[0]!),
    );
    const alice = await device('alice');
    const dave = await device('dave');
    const carol = await device('carol');
    const group = await alice.createGroup('Counted', [DAVE, ...crowd]);
    const seqs: number[] = [];
    for (const text of ['one', 'two', 'three', 'four'])
      seqs.push((await alice.send({ conversationId: group.id, text })).seq);
    const [s1, s2, s3, s4] = seqs as [number, number, number, number];
    // Ten read to the first, fifteen to the second, five to the last, ten nothing; Dave to the third.
    const readTo = (i: number) => (i < 10 ? s1 : i < 25 ? s2 : i < 30 ? s4 : 0);
    await Promise.all(
      crowd.map((address, i) =>
        readTo(i) > 0
          ? eng.services.receipts.mark({ conversationId: group.id, address, kind: 'read', upTo: readTo(i) })
          : undefined,
      ),
    );
    await dave.markRead(group.id, s3);
    // The asker's own reading is not counted.
    await alice.markRead(group.id, s4);

    let statements = 0;
    eng.sequelize.addHook('afterQuery', 'count-read-counts', (_options, query) => {
      if (/\bmembers\b/i.test(String((query as unknown as { sql?: string }).sql ?? ''))) statements += 1;
    });
    try {
      expect(await alice.readCounts(group.id, [s4, s1, s3, s2, s1])).toEqual({
        conversationId: group.id,
        memberCount: 42,
        counts: [
          { seq: s1, read: 31 },
          { seq: s2, read: 21 },
          { seq: s3, read: 6 },
          { seq: s4, read: 5 },
        ],
      });
    } finally {
      eng.sequelize.removeHook('afterQuery', 'count-read-counts');
    }
    expect(statements).toBe(1);
    // Any member may ask (every member's position is in the member pages): Dave's counts leave him out, not Alice.
    expect((await dave.readCounts(group.id, [s3])).counts).toEqual([{ seq: s3, read: 6 }]);
    // Someone removed no longer counts.
    await alice.removeMember(group.id, crowd[25]!);
    expect(await alice.readCounts(group.id, [s4])).toMatchObject({ memberCount: 41, counts: [{ seq: s4, read: 4 }] });

    await expect(carol.readCounts(group.id, [s1])).rejects.toMatchObject({ code: 'not_member' });
    const refused = (fields: Record<string, unknown>) =>
      alice.request('read.counts', { conversationId: group.id, seqs: [s1], ...fields } as never);
    await expect(refused({ seqs: [] })).rejects.toMatchObject({
      code: 'invalid_frame',
      fields: { seqs: 'at least 1 seq' },
    });
    await expect(refused({ seqs: [0] })).rejects.toMatchObject({
      code: 'invalid_frame',
      fields: { 'seqs.0': 'at least 1' },
    });
    await expect(refused({ seqs: Array.from({ length: 101 }, (_, i) => i + 1) })).rejects.toMatchObject({
      code: 'invalid_frame',
      fields: { seqs: 'at most 100 seqs' },
    });
    await expect(refused({ seqs: [1.5] })).rejects.toMatchObject({
      code: 'invalid_frame',
      fields: { 'seqs.0': expect.any(String) },
    });
    await expect(refused({ conversationId: 'lecture' })).rejects.toMatchObject({
      code: 'invalid_frame',
      fields: { conversationId: 'a conversation id' },
    });
    await expect(refused({ seq: s1 })).rejects.toMatchObject({
      code: 'invalid_input',
      fields: { seq: 'unknown field' },
    });
    for (const d of [alice, dave, carol]) d.close();
  });
});
