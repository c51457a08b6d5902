import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, login, startTestNode, type TestNode } from '../helpers/node.ts';
import { AtriumClient, type Message } from '../../im/sdk/client.ts';

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
  it('acknowledges a send only once it is stored, and pushes it to the peer and the sender\'s other device', async () => {
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

  it('keeps a gap-free sequence under concurrent senders', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const dave = await connectAs(gateway, eng, 'dave');
    const conversation = await alice.openDirect('dave@eng.campus.test');
    const acks = await Promise.all(
      Array.from({ length: 60 }, (_, i) => (i % 2 ? alice : dave).send({ conversationId: conversation.id, text: `m${i}` })),
    );
    const rows = await eng.models.Message.findAll({ where: { conversationId: conversation.id }, order: [['seq', 'ASC']] });
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
    for (let i = 0; i < 5; i++) sent.push((await alice.send({ conversationId: conversation.id, text: `while away ${i}` })).messageId);

    const again = new AtriumClient({ url: `${eng.url.replace('http', 'ws')}/ws`, token: () => daveLogin.tokenFor(eng.url) });
    const inbox = collect(again);
    await again.connect();
    await expect.poll(() => inbox.filter((m) => m.seq > cursor).map((m) => m.id)).toEqual(expect.arrayContaining(sent));
    alice.close();
    again.close();
  });
});
