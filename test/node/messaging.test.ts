import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPerson, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, login, startTestNode, type TestNode } from '../helpers/node.ts';
import { uuidv7 } from '../../core/uuid7.ts';
import { AtriumClient, type Message } from '../../sdk/client.ts';
import { metricsForThisMachineOnly } from '../helpers/metrics-reader.ts';

let gateway: TestGateway;
let eng: TestNode;

beforeAll(async () => {
  gateway = await startTestGateway('im-messaging');
  eng = await startTestNode(gateway, 'eng.campus.test');
});
afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
});

const collect = (sdk: AtriumClient) => {
  const got: Message[] = [];
  sdk.on('message', (m) => got.push(m));
  return got;
};

describe('direct messages on one domain', () => {
  it("acknowledges a send only once it is stored, and pushes it to the peer and the sender's other device", async () => {
    const alicePhone = await connectAs(gateway, eng, 'alice');
    const aliceLaptop = await connectAs(gateway, eng, 'alice', alicePhone.login);
    const dave = await connectAs(gateway, eng, 'dave');
    const daveInbox = collect(dave);
    const laptopInbox = collect(aliceLaptop);

    const ack = await alicePhone.send({ to: 'dave@eng.campus.test', text: 'hello dave' });
    expect(ack.seq).toBe(1);
    const stored = await eng.models.Message.findOne({ where: { id: ack.messageId } });
    expect(stored).not.toBeNull();
    // Stored to the millisecond the ack states (ordering and sync cursors depend on it).
    expect(stored!.createdAt.toISOString()).toBe(ack.at);

    await expect.poll(() => daveInbox.map((m) => m.text)).toEqual(['hello dave']);
    await expect.poll(() => laptopInbox.map((m) => m.id)).toEqual([ack.messageId]);
    expect(daveInbox[0]!.sender).toBe('alice@eng.campus.test');
    for (const c of [alicePhone, aliceLaptop, dave]) c.close();
  });

  it('tells the peer of a new conversation with its first message, and of none that was only opened', async () => {
    await addPerson(gateway, 'erin');
    const alice = await connectAs(gateway, eng, 'alice');
    const erin = await connectAs(gateway, eng, 'erin');
    const told: string[] = [];
    erin.on('conversation', (c) => told.push(c.id));
    const opened = await alice.openDirect('erin@eng.campus.test');
    // Opened and left empty: nothing for Erin's list.
    await alice.send({ to: 'dave@eng.campus.test', text: 'a barrier through the same node' });
    expect(told).toEqual([]);

    await alice.send({ conversationId: opened.id, text: 'hello erin' });
    // Her devices learn of it as it comes, not when their page next asks for the list.
    await expect.poll(() => told).toEqual([opened.id]);
    await alice.send({ conversationId: opened.id, text: 'and again' });
    await alice.send({ to: 'dave@eng.campus.test', text: 'another barrier' });
    expect(told).toEqual([opened.id]);
    alice.close();
    erin.close();
  });

  it('counts each acknowledged send, with the time from its arrival to its ack, in /metrics', async () => {
    const count = async () => {
      const text = await (await fetch(`${eng.url}/metrics`)).text();
      return Number(/^atrium_im_send_ack_seconds_count\{[^}]*\} (\d+)$/m.exec(text)?.[1] ?? NaN);
    };
    const before = await count();
    const alice = await connectAs(gateway, eng, 'alice');
    for (let i = 0; i < 3; i++) await alice.send({ to: 'dave@eng.campus.test', text: `measured ${i}` });
    await expect(
      alice.send({ conversationId: '00000000-0000-4000-8000-000000000000', text: 'not mine' }),
    ).rejects.toMatchObject({ code: 'not_member' });
    expect(await count()).toBe(before + 3);
    const text = await (await fetch(`${eng.url}/metrics`)).text();
    // Every ack here took far less than 5 s: the top finite bucket holds them all.
    expect(Number(/^atrium_im_send_ack_seconds_bucket\{le="5"[^}]*\} (\d+)$/m.exec(text)?.[1])).toBe(before + 3);
    alice.close();
  });

  it('keeps /metrics, which names partner domains, to this machine where the operator set no token', async () => {
    expect(await metricsForThisMachineOnly(eng.url)).toContain('atrium_im_send_ack_seconds');
  });

  it('gives messages ids that sort in the order they were stored (UUIDv7)', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await alice.send({ to: 'dave@eng.campus.test', text: `in order ${i}` })).messageId);
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(Array.from({ length: 1_000 }, () => uuidv7(0))).size).toBe(1_000);
    alice.close();
  });

  it('returns the same ack for a retried client id and never stores a second message', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const first = await alice.send({ to: 'dave@eng.campus.test', text: 'once', clientMsgId: 'retry-test-0001' });
    const again = await alice.send({ to: 'dave@eng.campus.test', text: 'once', clientMsgId: 'retry-test-0001' });
    expect(again.messageId).toBe(first.messageId);
    expect(again.seq).toBe(first.seq);
    expect(again.duplicate).toBe(true);
    expect(await eng.models.Message.count({ where: { clientMsgId: 'retry-test-0001' } })).toBe(1);
    alice.close();
  });

  it('answers a send over HTTP with what a socket ack carries, its retry too', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const conversation = await alice.openDirect('dave@eng.campus.test');
    const viaSocket = await alice.request('send', {
      conversationId: conversation.id,
      clientMsgId: 'shape-socket-01',
      text: 'by socket',
    });
    const { v: _v, type: _type, re: _re, ...ack } = viaSocket;
    const post = async () => {
      const response = await fetch(`${eng.localUrl}/api/v1/conversations/${conversation.id}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await alice.login.tokenFor(eng.url)}`, 'content-type': 'application/json' },
        body: JSON.stringify({ clientMsgId: 'shape-http-0001', text: 'by HTTP' }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const first = await post();
    expect(first.status).toBe(201);
    expect(Object.keys(first.body).sort()).toEqual(Object.keys(ack).sort());
    expect(first.body).toMatchObject({
      conversationId: conversation.id,
      clientMsgId: 'shape-http-0001',
      seq: Number(ack.seq) + 1,
      duplicate: false,
    });
    const again = await post();
    expect(again).toEqual({ status: 200, body: { ...first.body, duplicate: true } });
    alice.close();
  });

  it('keeps a gap-free sequence under concurrent senders', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const dave = await connectAs(gateway, eng, 'dave');
    const conversation = await alice.openDirect('dave@eng.campus.test');
    const acks = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        (i % 2 ? alice : dave).send({ conversationId: conversation.id, text: `m${i}` }),
      ),
    );
    const rows = await eng.models.Message.findAll({
      where: { conversationId: conversation.id },
      order: [['seq', 'ASC']],
    });
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: rows.length }, (_, i) => i + 1));
    expect(new Set(acks.map((a) => a.seq)).size).toBe(60);
    alice.close();
    dave.close();
  });

  it('lets a device that was offline catch up from its cursor', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const daveLogin = await login(gateway, 'dave');
    const dave = await connectAs(gateway, eng, 'dave', daveLogin);
    const conversation = await alice.openDirect('dave@eng.campus.test');
    await dave.sync();
    const cursor = dave.cursors.get(conversation.id)!;
    dave.close();

    const sent: string[] = [];
    for (let i = 0; i < 5; i++)
      sent.push((await alice.send({ conversationId: conversation.id, text: `while away ${i}` })).messageId);

    const again = new AtriumClient({
      url: `${eng.url.replace('http', 'ws')}/ws`,
      token: () => daveLogin.tokenFor(eng.url),
    });
    const inbox = collect(again);
    await again.connect();
    await expect.poll(() => inbox.filter((m) => m.seq > cursor).map((m) => m.id)).toEqual(expect.arrayContaining(sent));
    alice.close();
    again.close();
  });

  it('gives a new device the recent part of a long conversation, and the rest page by page through history', async () => {
    const carol = await connectAs(gateway, eng, 'carol');
    const conversation = await carol.openDirect('eng-admin@eng.campus.test');
    for (let i = 1; i <= 80; i++) await carol.send({ conversationId: conversation.id, text: `line ${i}` });

    const fresh = await connectAs(gateway, eng, 'eng-admin');
    const { messages } = await fresh.sync();
    const texts = messages.filter((m) => m.conversationId === conversation.id).map((m) => m.text);
    expect(texts).toEqual(Array.from({ length: 50 }, (_, i) => `line ${i + 31}`));
    expect(fresh.cursors.get(conversation.id)).toBe(80);

    const older = await fresh.history(conversation.id, 31, 30);
    expect(older.messages.map((m) => m.text)).toEqual(Array.from({ length: 30 }, (_, i) => `line ${30 - i}`));
    expect(older.hasMore).toBe(false);

    // A device that asks for everything it lacks (cursor 0) still gets it, a page at a time.
    const all = await fresh.request('sync', { cursors: { [conversation.id]: 0 }, limit: 60 });
    expect(
      (all.messages as { conversationId: string }[]).filter((m) => m.conversationId === conversation.id),
    ).toHaveLength(60);
    expect(all.more).toContain(conversation.id);
    carol.close();
    fresh.close();
  });
});
