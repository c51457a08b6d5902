import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import type { AtriumClient, Message, Typing } from '../../sdk/client.ts';

const DAVE = 'dave@eng.campus.test';
const ALICE = 'alice@eng.campus.test';

let gateway: TestGateway;
let eng: TestNode;

beforeAll(async () => {
  gateway = await startTestGateway('im-typing');
  eng = await startTestNode(gateway, 'eng.campus.test');
});
// Tests move the node's clock rather than wait; each starts again at the machine's time.
afterEach(() => eng.clock.reset());

afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
});

async function device(username: string, login?: Awaited<ReturnType<typeof connectAs>>['login']) {
  const sdk = await connectAs(gateway, eng, username, login);
  const seen = { typed: [] as Typing[], messages: [] as Message[] };
  sdk.on('typing', (t) => seen.typed.push(t));
  sdk.on('message', (m) => seen.messages.push(m));
  return Object.assign(sdk, seen);
}

/** Frames keep their order on a socket: once this message has arrived, whatever was sent before it has too. */
async function settle(from: AtriumClient, conversationId: string, to: { messages: Message[] }): Promise<void> {
  const ack = await from.send({ conversationId, text: 'settle' });
  await expect.poll(() => to.messages.some((m) => m.id === ack.messageId)).toBe(true);
}

describe('typing', () => {
  it('reaches the other members’ devices, at most once per interval, and not the typist’s own', async () => {
    const alicePhone = await device('alice');
    const aliceLaptop = await device('alice', alicePhone.login);
    const dave = await device('dave');
    const conversation = await alicePhone.openDirect(DAVE);
    await alicePhone.typing(conversation.id);
    await alicePhone.typing(conversation.id);
    await alicePhone.typing(conversation.id);
    await settle(alicePhone, conversation.id, dave);
    expect(dave.typed.map((t) => [t.conversationId, t.address])).toEqual([[conversation.id, ALICE]]);
    expect(aliceLaptop.typed).toEqual([]);
    // After the interval it is told again.
    eng.clock.advance(1_600);
    await alicePhone.typing(conversation.id);
    await expect.poll(() => dave.typed.length).toBe(2);
    for (const d of [alicePhone, aliceLaptop, dave]) d.close();
  });

  it('is refused to someone outside the conversation, and nobody is told', async () => {
    const alice = await device('alice');
    const dave = await device('dave');
    const carol = await device('carol');
    const conversation = await alice.openDirect(DAVE);
    await expect(carol.typing(conversation.id)).rejects.toMatchObject({ code: 'not_member' });
    await settle(alice, conversation.id, dave);
    expect(dave.typed).toEqual([]);
    for (const d of [alice, dave, carol]) d.close();
  });
});
