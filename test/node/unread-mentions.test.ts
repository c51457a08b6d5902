import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AtriumClient, Conversation } from '../../sdk/client.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';

const ALICE = 'alice@eng.campus.test';
const DAVE = 'dave@eng.campus.test';
const CAROL = 'carol@eng.campus.test';

let gateway: TestGateway;
let eng: TestNode;
const devices: AtriumClient[] = [];

beforeAll(async () => {
  gateway = await startTestGateway('im-unread-mentions');
  eng = await startTestNode(gateway, 'eng.campus.test');
});
afterAll(async () => {
  for (const device of devices) device.close();
  await eng?.stop();
  await gateway?.stop();
});

async function device(username: string): Promise<AtriumClient> {
  const sdk = await connectAs(gateway, eng, username);
  devices.push(sdk);
  return sdk;
}

/** Of a conversation as a list shows it: how many are unread, and how many of those mention the viewer. */
const counts = (view: Conversation | undefined) => view && { unread: view.unread, mentions: view.unreadMentions };

describe('unread mentions', () => {
  it('are counted by the node among all the unread of a conversation, in every view of it, until read', async () => {
    const [alice, dave, carol] = [await device('alice'), await device('dave'), await device('carol')];
    const group = await alice.createGroup('Lab 4 rota', [DAVE, CAROL]);
    const id = group.id;
    await alice.setRole(id, DAVE, 'admin');
    await dave.send({ conversationId: id, text: '@alice can you open the lab?', mentions: [ALICE] });
    // Named anywhere in the mentions (first, between others, last) counts; her address as text does not.
    await dave.send({ conversationId: id, text: '@alice @carol @dave we three', mentions: [ALICE, CAROL, DAVE] });
    await dave.send({ conversationId: id, text: ALICE });
    await carol.send({ conversationId: id, text: '@dave @alice @carol all of us', mentions: [DAVE, ALICE, CAROL] });
    await dave.send({ conversationId: id, text: '@alice @carol you close it', mentions: [ALICE, CAROL] });
    const taken = await dave.send({ conversationId: id, text: '@alice never mind', mentions: [ALICE] });
    await dave.recall(taken.messageId);
    // One's own mention of oneself is not news.
    await alice.send({ conversationId: id, text: 'Noted, @alice', mentions: [ALICE] });

    // As a list and a first sync give it, however little of the history a device then loads.
    const listed = (await alice.conversations()).find((c) => c.id === id);
    expect(counts(listed)).toEqual({ unread: 5, mentions: 4 });
    const phone = await device('alice');
    expect(counts((await phone.sync()).conversations.find((c) => c.id === id))).toEqual({ unread: 5, mentions: 4 });
    expect(counts((await carol.conversations()).find((c) => c.id === id))).toEqual({ unread: 5, mentions: 2 });
    // As a change she makes shows the group to her.
    expect(counts(await phone.renameGroup(id, 'Lab 4 rota (May)'))).toEqual({ unread: 5, mentions: 4 });

    // A device counts on from there as mentions come, as the node would.
    const seen: Conversation[] = [];
    alice.on('conversation', (view) => seen.push(view));
    await dave.send({ conversationId: id, text: '@alice and the keys', mentions: [ALICE] });
    await dave.renameGroup(id, 'Lab 4 rota (June)');
    await expect.poll(() => counts(seen.findLast((v) => v.id === id))).toEqual({ unread: 6, mentions: 5 });

    const end = (await alice.conversations()).find((c) => c.id === id)!.lastSeq;
    await alice.markRead(id, end);
    expect(counts((await alice.conversations()).find((c) => c.id === id))).toEqual({ unread: 0, mentions: 0 });
  });
});
