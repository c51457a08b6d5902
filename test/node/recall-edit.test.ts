import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import type { AtriumClient, Message } from '../../sdk/client.ts';

const DAVE = 'dave@eng.campus.test';
const CAROL_ARTS = 'carol@arts.campus.test';

type Device = AtriumClient & { messages: Message[] };

let gateway: TestGateway;
let eng: TestNode;
/** A node whose recall window is one second, so its passing can be waited for. */
let arts: TestNode;
let alice: Device;
let dave: Device;
let bob: Device;

async function device(node: TestNode, username: string): Promise<Device> {
  const sdk = await connectAs(gateway, node, username);
  const d = Object.assign(sdk, { messages: [] as Message[] });
  d.on('message', (m) => d.messages.push(m));
  return d;
}

beforeAll(async () => {
  gateway = await startTestGateway('im-recall-edit');
  eng = await startTestNode(gateway, 'eng.campus.test');
  arts = await startTestNode(gateway, 'arts.campus.test', { RECALL_WINDOW_SECONDS: '1' });
  [alice, dave, bob] = await Promise.all([device(eng, 'alice'), device(eng, 'dave'), device(arts, 'bob')]);
});
// Tests move the node's clock rather than wait; each starts again at the machine's time.
afterEach(() => arts.clock.reset());

afterAll(async () => {
  for (const d of [alice, dave, bob]) d?.close();
  await arts?.stop();
  await eng?.stop();
  await gateway?.stop();
});

const refused = (p: Promise<unknown>, code: string) => expect(p).rejects.toMatchObject({ code });
const about = (d: Device, messageId: string) => d.messages.filter((m) => m.refId === messageId);
const find = async (d: AtriumClient, conversationId: string, id: string) =>
  (await d.history(conversationId)).messages.find((m) => m.id === id);

describe('editing', () => {
  it('shows the new text to the other side at once and to anyone reading later', async () => {
    const sent = await alice.send({ to: DAVE, text: 'meet at 5' });
    const edited = await alice.edit(sent.messageId, 'meet at 6');
    expect(edited).toMatchObject({ conversationId: sent.conversationId, seq: sent.seq + 1, duplicate: false });

    await expect.poll(() => about(dave, sent.messageId).map((m) => [m.kind, m.text])).toEqual([['edit', 'meet at 6']]);
    const original = await find(dave, sent.conversationId, sent.messageId);
    expect(original).toMatchObject({ text: 'meet at 6', recalledAt: null });
    expect(original!.editedAt).not.toBeNull();
  });

  it("refuses edits of another person's message, of a group's system entry and of a recalled message", async () => {
    const sent = await alice.send({ to: DAVE, text: 'mine' });
    await refused(dave.edit(sent.messageId, 'yours now'), 'forbidden');

    const group = await alice.createGroup('Edit rules', [DAVE]);
    const [opening] = (await alice.history(group.id)).messages;
    await refused(alice.edit(opening!.id, 'rewritten history'), 'invalid_input');

    await alice.recall(sent.messageId);
    await refused(alice.edit(sent.messageId, 'back again'), 'recalled');
    expect(await find(alice, sent.conversationId, sent.messageId)).toMatchObject({ recalledAt: expect.any(String) });
    expect((await find(alice, sent.conversationId, sent.messageId))!.text).toBeUndefined();
  });
});

describe('recalling', () => {
  it('takes a message back within the window: others lose its text and that of its edits, its place stays', async () => {
    const sent = await alice.send({ to: DAVE, text: 'wrong chat, sorry' });
    const edit = await alice.edit(sent.messageId, 'still the wrong chat');
    const recall = await alice.recall(sent.messageId);
    expect(recall.seq).toBe(edit.seq + 1);

    await expect.poll(() => about(dave, sent.messageId).map((m) => m.kind)).toEqual(['edit', 'recall']);
    const { messages } = await dave.history(sent.conversationId);
    const target = messages.find((m) => m.id === sent.messageId)!;
    const editEntry = messages.find((m) => m.id === edit.messageId)!;
    expect(target).toMatchObject({ seq: sent.seq, sender: 'alice@eng.campus.test', recalledAt: expect.any(String) });
    expect(target.text).toBeUndefined();
    expect(editEntry.text).toBeUndefined();
    const stored = await eng.models.Message.findOne({ where: { id: sent.messageId } });
    expect(stored!.body).toBe('{}');
  });

  it('lets only the sender recall', async () => {
    const sent = await alice.send({ to: DAVE, text: 'not yours to recall' });
    await refused(dave.recall(sent.messageId), 'forbidden');
    expect(await find(dave, sent.conversationId, sent.messageId)).toMatchObject({
      text: 'not yours to recall',
      recalledAt: null,
    });
  });

  it('acknowledges a resent recall with the first one and stores it once', async () => {
    const sent = await alice.send({ to: DAVE, text: 'recall me twice' });
    const first = await alice.recall(sent.messageId, 'recall-retry-0001');
    const again = await alice.recall(sent.messageId, 'recall-retry-0001');
    expect(again).toMatchObject({ messageId: first.messageId, seq: first.seq, duplicate: true });
    expect(first.duplicate).toBe(false);
    expect(
      await eng.models.Message.count({ where: { sender: 'alice@eng.campus.test', clientMsgId: 'recall-retry-0001' } }),
    ).toBe(1);

    // Another recall of the same message under a new id is refused: it is already recalled.
    await refused(alice.recall(sent.messageId), 'recalled');
    await expect.poll(() => about(dave, sent.messageId).length).toBe(1);
  });

  it('refuses a recall once the window has passed, and the message stays as it was', async () => {
    const sent = await bob.send({ to: CAROL_ARTS, text: 'too late to take back' });
    await bob.recall((await bob.send({ conversationId: sent.conversationId, text: 'quick recall' })).messageId);
    // The window at arts is 1 s: move its clock past it.
    arts.clock.advance(1_100);
    await refused(bob.recall(sent.messageId), 'recall_window_passed');
    expect(await find(bob, sent.conversationId, sent.messageId)).toMatchObject({
      text: 'too late to take back',
      recalledAt: null,
    });
  });
});
