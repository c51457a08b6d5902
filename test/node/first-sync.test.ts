import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../core/uuid7.ts';
import { AtriumClient, type Message, type SyncGap } from '../../sdk/client.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, login, startTestNode, type Login, type TestNode } from '../helpers/node.ts';

const ALICE = 'alice@eng.campus.test';
const DAVE = 'dave@eng.campus.test';
const CAROL = 'carol@eng.campus.test';
const PAGE = 20;

let gateway: TestGateway;
let eng: TestNode;
let alice: Login;

beforeAll(async () => {
  gateway = await startTestGateway('im-first-sync');
  // The tests send a few hundred messages at once: neither a socket's frames nor a person's messages are
  // paced here (at the usual 20 a second past a burst of 100, the sends alone took 10 s).
  eng = await startTestNode(gateway, 'eng.campus.test', { FRAMES_PER_SECOND: '5000', MESSAGE_BURST: '1000' });
  alice = await login(gateway, 'alice');
});
afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
});

/**
 * A conversation with a long history, written with the node's models as the node writes one: a
 * gap-free sequence, the conversation's last entry and time, every member read up to the end.
 */
async function longConversation(members: string[], length: number, kind: 'direct' | 'group'): Promise<string> {
  const { Conversation, Member, Message } = eng.models;
  const id = crypto.randomUUID();
  const start = Date.now() - 3_600_000;
  const last = new Date(start + length);
  await Conversation.create({
    id,
    kind,
    homeDomain: 'eng.campus.test',
    title: kind === 'group' ? 'Long group' : null,
    directKey: kind === 'direct' ? [...members].sort().join('|') : null,
    lastSeq: length,
    createdBy: members[0]!,
    createdAt: new Date(start),
    updatedAt: last,
  });
  await Member.bulkCreate(
    members.map((address, i) => ({
      conversationId: id,
      address,
      role: kind === 'group' && i === 0 ? ('owner' as const) : ('member' as const),
      state: 'active' as const,
      readSeq: length,
      deliveredSeq: length,
    })),
  );
  for (let from = 1; from <= length; from += 500) {
    const rows = [];
    for (let seq = from; seq < from + 500 && seq <= length; seq++) {
      rows.push({
        conversationId: id,
        seq,
        id: uuidv7(start + seq),
        sender: members[seq % members.length]!,
        clientMsgId: `hist-${id.slice(0, 8)}-${seq}`,
        kind: 'text',
        body: JSON.stringify({ text: `line ${seq}` }),
        refId: null,
        createdAt: new Date(start + seq),
        editedAt: null,
        recalledAt: null,
      });
    }
    await Message.bulkCreate(rows);
  }
  return id;
}

/** A new device of Alice's (no cursors), syncing pages of PAGE entries; counts every message it is told of. */
async function newDevice(): Promise<AtriumClient & { arrived: Message[]; gapsTold: SyncGap[] }> {
  const device = Object.assign(
    new AtriumClient({
      url: `${eng.localUrl.replace(/^http/, 'ws')}/ws`,
      token: () => alice.tokenFor(eng.url),
      backoff: { initialMs: 50, maxMs: 500 },
      pageSize: PAGE,
    }),
    { arrived: [] as Message[], gapsTold: [] as SyncGap[] },
  );
  device.on('message', (m) => device.arrived.push(m));
  device.on('gap', (g) => device.gapsTold.push(g));
  const synced = device.once('conversation', () => true, 15_000);
  await device.connect();
  await synced;
  return device;
}

const seqsOf = (messages: Message[], conversationId: string) =>
  messages.filter((m) => m.conversationId === conversationId).map((m) => m.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Pages back with loadOlder until the beginning; the messages in the order they were loaded. */
async function scrollToTheBeginning(device: AtriumClient, conversationId: string): Promise<Message[]> {
  const loaded: Message[] = [];
  for (let pages = 0; pages < 100; pages++) {
    const page = await device.loadOlder(conversationId);
    loaded.push(...page.messages);
    if (page.beginning) return loaded;
  }
  throw new Error('never reached the beginning');
}

describe("a new device's first sync of long histories", () => {
  let direct: string;
  let group: string;
  beforeAll(async () => {
    direct = await longConversation([ALICE, DAVE], 1_000, 'direct');
    group = await longConversation([CAROL, ALICE, DAVE], 700, 'group');
  });

  it('brings the latest page of each conversation and nothing older', async () => {
    const device = await newDevice();
    expect(seqsOf(device.arrived, direct)).toEqual(range(1_000 - PAGE + 1, 1_000));
    expect(seqsOf(device.arrived, group)).toEqual(range(700 - PAGE + 1, 700));
    expect(device.cursors.get(direct)).toBe(1_000);
    expect(device.cursors.get(group)).toBe(700);
    expect(device.reachedBeginning(direct)).toBe(false);
    expect(device.gaps.size).toBe(0);
    // An entry reads the same in a sync page as through history.
    const [newest] = (await device.history(direct, undefined, 1)).messages;
    expect(device.arrived.find((m) => m.id === newest!.id)).toEqual(newest);

    // The next sync goes on from the latest entry: nothing of the histories comes after all.
    const before = device.arrived.length;
    await device.sync();
    expect(device.arrived.length).toBe(before);
    device.close();
  });

  it('pages back to the first message with loadOlder, each message once and in order', async () => {
    const device = await newDevice();
    const loaded = await scrollToTheBeginning(device, direct);
    const all = [...loaded.map((m) => m.seq).reverse(), ...seqsOf(device.arrived, direct)];
    expect(all).toEqual(range(1, 1_000));
    expect(loaded.every((m) => m.text === `line ${m.seq}`)).toBe(true);
    expect(device.reachedBeginning(direct)).toBe(true);
    expect(await device.loadOlder(direct)).toEqual({ messages: [], beginning: true });
    // Scrolling loads what is older; it is not news.
    expect(device.arrived.filter((m) => m.conversationId === direct)).toHaveLength(PAGE);
    device.close();
  });
});

describe('a device that comes back after being away', () => {
  it('gets everything it missed when that is less than a page or two', async () => {
    const carol = await connectAs(gateway, eng, 'carol');
    const conversation = await carol.openDirect(ALICE);
    await Promise.all(range(1, 40).map((i) => carol.send({ conversationId: conversation.id, text: `before ${i}` })));
    const device = await newDevice();
    device.close();

    const missed = await Promise.all(
      range(1, 70).map((i) => carol.send({ conversationId: conversation.id, text: `missed ${i}` })),
    );
    device.arrived.length = 0;
    await device.connect();
    await expect.poll(() => seqsOf(device.arrived, conversation.id).length).toBe(70);
    expect(seqsOf(device.arrived, conversation.id).sort((a, b) => a - b)).toEqual(
      missed.map((a) => a.seq).sort((a, b) => a - b),
    );
    expect(device.gapsTold).toEqual([]);
    expect(device.cursors.get(conversation.id)).toBe(110);
    carol.close();
    device.close();
  });

  it('gets the latest page and a gap after missing more, and loadOlder fills the gap down to what it held', async () => {
    const dave = await connectAs(gateway, eng, 'dave');
    const conversation = await dave.createGroup('Busy group', [ALICE]);
    const early = await Promise.all(
      range(1, 30).map((i) => dave.send({ conversationId: conversation.id, text: `early ${i}` })),
    );
    const top = Math.max(...early.map((a) => a.seq));
    const device = await newDevice();
    const held = seqsOf(device.arrived, conversation.id);
    expect(held).toEqual(range(top - PAGE + 1, top));
    device.close();

    await Promise.all(
      range(1, 250).map((i) => dave.send({ conversationId: conversation.id, text: `while away ${i}` })),
    );
    const last = top + 250;
    device.arrived.length = 0;
    await device.connect();
    await expect
      .poll(() => device.gapsTold)
      .toEqual([{ conversationId: conversation.id, afterSeq: top, beforeSeq: last - PAGE + 1 }]);
    await expect.poll(() => seqsOf(device.arrived, conversation.id)).toEqual(range(last - PAGE + 1, last));
    expect(device.cursors.get(conversation.id)).toBe(last);
    expect(device.gaps.get(conversation.id)).toEqual(device.gapsTold[0]);

    // Scrolling back fills the gap, each entry once, and then goes on before what the device held.
    const filled: number[] = [];
    while (device.gaps.has(conversation.id)) {
      filled.push(...(await device.loadOlder(conversation.id)).messages.map((m) => m.seq));
    }
    expect(filled.sort((a, b) => a - b)).toEqual(range(top + 1, last - PAGE));
    const next = await device.loadOlder(conversation.id);
    expect(next.messages.map((m) => m.seq)).toEqual(range(1, held[0]! - 1).reverse());
    expect(next.beginning).toBe(true);
    dave.close();
    device.close();
  });
});

describe('the sync frame', () => {
  it('with gaps, answers a cursor far behind with the latest entries and the gap; without, pages forward', async () => {
    const conversationId = await longConversation([ALICE, CAROL], 300, 'group');
    const device = await newDevice();
    const asked = await device.request('sync', {
      cursors: { [conversationId]: 10 },
      limit: 100,
      recent: 5,
      gaps: true,
    });
    expect(seqsOf(asked.messages as Message[], conversationId)).toEqual(range(296, 300));
    expect(asked.gaps).toContainEqual({ conversationId, afterSeq: 10, beforeSeq: 296 });
    expect(asked.more).not.toContain(conversationId);

    const forward = await device.request('sync', { cursors: { [conversationId]: 10 }, limit: 100 });
    expect(seqsOf(forward.messages as Message[], conversationId)).toEqual(range(11, 110));
    expect(forward.more).toContain(conversationId);
    expect(forward.gaps).toEqual([]);

    await expect(device.request('sync', { gaps: 'yes' } as never)).rejects.toMatchObject({ code: 'invalid_frame' });
    device.close();
  });
});
