import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addPeople, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import type { AtriumClient, Message, Typing } from '../../sdk/client.ts';

const DAVE = 'dave@eng.campus.test';
const ALICE = 'alice@eng.campus.test';
const CAROL = 'carol@eng.campus.test';
/** People who exist (without passwords) to fill groups up to and just past 100 members. */
const crowd = Array.from({ length: 98 }, (_, i) => `typing-${String(i).padStart(3, '0')}@eng.campus.test`);

let gateway: TestGateway;
let eng: TestNode;

beforeAll(async () => {
  gateway = await startTestGateway('im-typing');
  eng = await startTestNode(gateway, 'eng.campus.test');
  await addPeople(
    gateway,
    crowd.map((a) => a.split('@')[0]!),
  );
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

  it('is told once per interval whichever of the typist’s devices types', async () => {
    const davePhone = await device('dave');
    const daveLaptop = await device('dave', davePhone.login);
    const alice = await device('alice');
    const conversation = await davePhone.openDirect(ALICE);
    await davePhone.typing(conversation.id);
    await daveLaptop.typing(conversation.id);
    await settle(davePhone, conversation.id, alice);
    await settle(daveLaptop, conversation.id, alice);
    expect(alice.typed.map((t) => t.address)).toEqual([DAVE]);
    eng.clock.advance(1_600);
    await daveLaptop.typing(conversation.id);
    await expect.poll(() => alice.typed.length).toBe(2);
    for (const d of [davePhone, daveLaptop, alice]) d.close();
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

describe('typing in a group of more than 100 members', () => {
  const told = (d: { typed: Typing[] }, conversationId: string) =>
    d.typed
      .filter((t) => t.conversationId === conversationId)
      .map((t) => ({ address: t.address, several: t.several, count: t.count, addresses: t.addresses }));

  it('tells every member that several people are typing, at most once per interval, instead of each typist', async () => {
    const alice = await device('alice');
    const dave = await device('dave');
    const carol = await device('carol');
    const group = await alice.createGroup('Assembly', [DAVE, CAROL, ...crowd]);
    expect(group.memberCount).toBe(101);

    // The first typist after a quiet spell is told at once, collapsed.
    await dave.typing(group.id);
    await expect
      .poll(() => told(alice, group.id))
      .toEqual([{ address: DAVE, several: true, count: 1, addresses: [DAVE] }]);
    // Those who follow within the interval are gathered, not told one by one.
    await carol.typing(group.id);
    await alice.typing(group.id);
    await settle(dave, group.id, alice);
    await settle(dave, group.id, carol);
    expect(told(alice, group.id)).toHaveLength(1);
    expect(told(carol, group.id)).toHaveLength(1);
    // When the interval ends, one frame tells of both.
    eng.clock.advance(3_000);
    const both = { address: CAROL, several: true, count: 2, addresses: [CAROL, ALICE] };
    await expect.poll(() => told(dave, group.id).at(-1)).toEqual(both);
    await expect.poll(() => told(alice, group.id).at(-1)).toEqual(both);
    expect(told(dave, group.id)).toHaveLength(2);
    // Nobody typing: nothing more is told, however long it stays quiet.
    eng.clock.advance(10_000);
    await settle(dave, group.id, alice);
    expect(told(alice, group.id)).toHaveLength(2);
    for (const d of [alice, dave, carol]) d.close();
  });

  it('still tells each typist by name in a group of 100', async () => {
    const alice = await device('alice');
    const dave = await device('dave');
    const carol = await device('carol');
    const group = await alice.createGroup('Hundred', [DAVE, CAROL, ...crowd.slice(0, 97)]);
    expect(group.memberCount).toBe(100);
    await dave.typing(group.id);
    await carol.typing(group.id);
    await expect
      .poll(() => told(alice, group.id))
      .toEqual([
        { address: DAVE, several: undefined, count: undefined, addresses: undefined },
        { address: CAROL, several: undefined, count: undefined, addresses: undefined },
      ]);
    for (const d of [alice, dave, carol]) d.close();
  });
});
