import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { campusPeople, startCampus, type Campus } from '../helpers/federation.ts';
import type { AtriumClient, Conversation, Message } from '../../sdk/client.ts';
import { openRaw } from '../helpers/raw-socket.ts';
import { allowPair } from '../../gateway/federation/policy.ts';
import { operator } from '../../gateway/context.ts';

let campus: Campus;
let people: ReturnType<typeof campusPeople>;
const clients: AtriumClient[] = [];

async function as(username: string, node: 'eng' | 'arts' | 'law') {
  const client = await people(username, node);
  clients.push(client);
  return client;
}

const texts = (inbox: Message[]) => inbox.filter((m) => m.kind === 'text').map((m) => m.text);

beforeAll(async () => {
  campus = await startCampus('fed-groups');
  people = campusPeople(campus);
});
afterAll(async () => {
  for (const c of clients) c.close();
  await campus?.stop();
});

describe('a group with members from three colleges', () => {
  it('is refused while two of the colleges may not exchange messages', async () => {
    const alice = await as('alice', 'eng');
    await expect(alice.createGroup('Not yet', ['bob@arts.campus.test', 'lena@law.campus.test'])).rejects.toMatchObject({
      code: 'federation_denied',
    });
    await allowPair(
      { ...campus.gateway.context(null), actor: operator('test') },
      { a: 'arts.campus.test', b: 'law.campus.test' },
    );
    // Nodes see a policy change once their copy of the registry expires (REGISTRY_TTL_SECONDS, 1 s here):
    // their clocks are moved past it.
    campus.advanceClocks(1_200);
  });

  it("orders everyone's messages at its home and gives every college the same sequence", async () => {
    const alice = await as('alice', 'eng');
    const bob = await as('bob', 'arts');
    const lena = await as('lena', 'law');
    const inboxes = new Map<AtriumClient, Message[]>();
    for (const c of [alice, bob, lena]) {
      const inbox: Message[] = [];
      c.on('message', (m) => inbox.push(m));
      inboxes.set(c, inbox);
    }
    const told = new Map<AtriumClient, Set<string>>();
    for (const c of [bob, lena]) {
      told.set(c, new Set());
      c.on('conversation', (conv) => told.get(c)!.add(conv.id));
    }
    const group = await alice.createGroup('Moot court prep', [
      'bob@arts.campus.test',
      'lena@law.campus.test',
      'dave@eng.campus.test',
    ]);
    expect(group.homeDomain).toBe('eng.campus.test');
    // Bob and Lena learn of the group from their own nodes once the home has replicated it.
    for (const c of [bob, lena]) await expect.poll(() => told.get(c)!.has(group.id), { timeout: 15_000 }).toBe(true);

    await alice.send({ conversationId: group.id, text: 'welcome all' });
    await bob.send({ conversationId: group.id, text: 'hi from arts' });
    await lena.send({ conversationId: group.id, text: 'hi from law' });

    // Each sees the others' messages in the home's order (their own came back as the ack).
    const all = ['welcome all', 'hi from arts', 'hi from law'];
    for (const [c, own] of [
      [alice, 'welcome all'],
      [bob, 'hi from arts'],
      [lena, 'hi from law'],
    ] as const) {
      await expect.poll(() => texts(inboxes.get(c)!), { timeout: 15_000 }).toEqual(all.filter((t) => t !== own));
    }
    const logOf = async (node: 'eng' | 'arts' | 'law') =>
      (
        await campus.nodes[node].models.Message.findAll({
          where: { conversationId: group.id },
          order: [['seq', 'ASC']],
        })
      ).map((m) => `${m.seq}:${m.id}`);
    const home = await logOf('eng');
    await expect.poll(() => logOf('arts')).toEqual(home);
    await expect.poll(() => logOf('law')).toEqual(home);
    expect(home.map((e) => Number(e.split(':')[0]))).toEqual(Array.from({ length: home.length }, (_, i) => i + 1));
  });

  it('lets a remote member recall their own message everywhere', async () => {
    const alice = await as('alice', 'eng');
    const lena = await as('lena', 'law');
    const group = await alice.createGroup('Recall check', ['lena@law.campus.test']);
    await expect
      .poll(async () => campus.nodes.law.models.Conversation.count({ where: { id: group.id } }), { timeout: 15_000 })
      .toBe(1);
    const oops = await lena.send({ conversationId: group.id, text: 'wrong chat' });
    // The recall goes out once Lena's node holds the message the home ordered.
    await expect
      .poll(async () => campus.nodes.law.models.Message.count({ where: { id: oops.messageId } }), { timeout: 15_000 })
      .toBe(1);
    await lena.recall(oops.messageId);
    for (const node of ['eng', 'law'] as const) {
      await expect
        .poll(
          async () =>
            (await campus.nodes[node].models.Message.findOne({ where: { id: oops.messageId } }))?.recalledAt !== null,
          { timeout: 15_000 },
        )
        .toBe(true);
    }
  });

  it('lets a remote member edit and recall a message at once, before its copy is back from the home', async () => {
    const alice = await as('alice', 'eng');
    const lena = await as('lena', 'law');
    const group = await alice.createGroup('Quick fingers', ['lena@law.campus.test']);
    await expect
      .poll(async () => campus.nodes.law.models.Conversation.count({ where: { id: group.id } }), { timeout: 15_000 })
      .toBe(1);
    // Right after each ack: the copy of the message at law is still on its way back from eng.
    const oops = await lena.send({ conversationId: group.id, text: 'wrong chat' });
    const edited = await lena.edit(oops.messageId, 'wrong chat, sorry');
    expect(edited.messageId).not.toBe(oops.messageId);
    const again = await lena.send({ conversationId: group.id, text: 'really wrong chat' });
    await lena.recall(again.messageId);
    for (const node of ['eng', 'law'] as const) {
      await expect
        .poll(
          async () =>
            (await campus.nodes[node].models.Message.findOne({ where: { id: again.messageId } }))?.recalledAt ?? null,
          { timeout: 15_000 },
        )
        .not.toBeNull();
    }
    const [engCopy] = await campus.nodes.eng.models.Message.findAll({ where: { id: edited.messageId } });
    expect(engCopy?.body).toContain('wrong chat, sorry');
    alice.close();
    lena.close();
  });

  it('takes back the edits of a recalled message on every college, not only the message', async () => {
    const alice = await as('alice', 'eng');
    const lena = await as('lena', 'law');
    const group = await alice.createGroup('Edit then recall', ['lena@law.campus.test']);
    const sent = await alice.send({ conversationId: group.id, text: 'meet at 5' });
    const edit = await alice.edit(sent.messageId, 'meet at 5, room 12 (door code 4711)');
    await expect
      .poll(
        async () => (await campus.nodes.law.models.Message.findOne({ where: { id: edit.messageId } }))?.body ?? '',
        { timeout: 15_000 },
      )
      .toContain('4711');
    // Lena's own college finds the message by its edited text, and by nothing once it is recalled.
    expect((await lena.search('door code')).map((m) => m.id)).toEqual([sent.messageId]);
    await alice.recall(sent.messageId);
    await expect
      .poll(
        async () =>
          (await campus.nodes.law.models.Message.findOne({ where: { id: sent.messageId } }))?.recalledAt ?? null,
        { timeout: 15_000 },
      )
      .not.toBeNull();
    expect(await lena.search('door code')).toEqual([]);
    expect(await lena.search('meet at')).toEqual([]);
    const copies = await campus.nodes.law.models.Message.findAll({ where: { conversationId: group.id } });
    expect(copies.filter((m) => m.body.includes('door code') || m.body.includes('meet at 5'))).toEqual([]);
    alice.close();
    lena.close();
  });

  it('sends a college that was down the recall, never the edited text that was still waiting for it', async () => {
    const alice = await as('alice', 'eng');
    const group = await alice.createGroup('Recall while away', ['lena@law.campus.test']);
    await expect
      .poll(async () => campus.nodes.law.models.Conversation.count({ where: { id: group.id } }), { timeout: 15_000 })
      .toBe(1);
    await campus.stopNode('law');
    let sent;
    try {
      sent = await alice.send({ conversationId: group.id, text: 'meet at 6' });
      await alice.edit(sent.messageId, 'meet at 6, room 14 (door code 5822)');
      await alice.recall(sent.messageId);
      // What eng still holds for law carries the recall, and nothing of the message or its edit (looked for by
      // words: ids are hex, and one may hold the digits 5822).
      const waiting = await campus.nodes.eng.federationModels.OutboxEntry.findAll({
        where: { destination: 'law.campus.test' },
      });
      expect(waiting.length).toBeGreaterThanOrEqual(3);
      expect(waiting.filter((row) => row.event.includes('door code') || row.event.includes('meet at 6'))).toEqual([]);
    } finally {
      await campus.restartNode('law');
    }
    const lena = await as('lena', 'law');
    await expect
      .poll(
        async () =>
          (await campus.nodes.law.models.Message.findOne({ where: { id: sent.messageId } }))?.recalledAt ?? null,
        { timeout: 20_000 },
      )
      .not.toBeNull();
    const copies = await campus.nodes.law.models.Message.findAll({ where: { conversationId: group.id } });
    expect(copies.filter((m) => m.body.includes('door code') || m.body.includes('meet at 6'))).toEqual([]);
    expect(lena.messages.filter((m) => m.text?.includes('door code') || m.text?.includes('meet at 6'))).toEqual([]);
    alice.close();
    lena.close();
  });

  it('lets a remote member leave, after which their college no longer receives the group', async () => {
    const alice = await as('alice', 'eng');
    const bob = await as('bob', 'arts');
    const group = await alice.createGroup('Leavers', ['bob@arts.campus.test', 'dave@eng.campus.test']);
    await expect
      .poll(async () => campus.nodes.arts.models.Conversation.count({ where: { id: group.id } }), { timeout: 15_000 })
      .toBe(1);
    await bob.leave(group.id);
    await expect
      .poll(
        async () =>
          (
            await campus.nodes.eng.models.Member.findOne({
              where: { conversationId: group.id, address: 'bob@arts.campus.test' },
            })
          )?.state,
        { timeout: 15_000 },
      )
      .toBe('left');
    const after = await alice.send({ conversationId: group.id, text: 'only eng now' });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await campus.nodes.arts.models.Message.count({ where: { id: after.messageId } })).toBe(0);
    await expect
      .poll(
        async () =>
          (
            await campus.nodes.arts.models.Member.findOne({
              where: { conversationId: group.id, address: 'bob@arts.campus.test' },
            })
          )?.state,
      )
      .toBe('left');
  });

  it('writes one departure when a member of another college leaves from two devices at once', async () => {
    const alice = await as('alice', 'eng');
    const phone = await as('bob', 'arts');
    const laptop = await as('bob', 'arts');
    const group = await alice.createGroup('Leaving twice, remotely', ['bob@arts.campus.test', 'dave@eng.campus.test']);
    await expect
      .poll(async () => campus.nodes.arts.models.Conversation.count({ where: { id: group.id } }), { timeout: 15_000 })
      .toBe(1);
    const outcomes = await Promise.allSettled([phone.leave(group.id), laptop.leave(group.id)]);
    const codes = outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : (o.reason as { code: string }).code)).sort();
    expect(codes).toEqual(['not_member', 'ok']);
    const { messages } = await alice.history(group.id);
    expect(messages.map((m) => m.event)).toEqual(['member.left', 'group.created']);
    for (const c of [alice, phone, laptop]) c.close();
  });

  it('tells members of other colleges of a change by its entry, and their SDK shows the group as it now is', async () => {
    const alice = await as('alice', 'eng');
    const bob = await as('bob', 'arts');
    const views: Conversation[] = [];
    bob.on('conversation', (c) => views.push(c));
    const group = await alice.createGroup('Growing', ['bob@arts.campus.test']);
    await expect.poll(() => views.filter((c) => c.id === group.id).length, { timeout: 15_000 }).toBeGreaterThan(0);
    const shown = views.length;
    // Bob's second device is a bare socket: it shows what crosses the wire at arts.
    const raw = await openRaw(campus.nodes.arts.url, [
      'atrium.v1',
      `atrium.token.${await bob.login.tokenFor(campus.nodes.arts.url)}`,
    ]);
    await raw.next((f) => f.type === 'ready');
    try {
      await alice.invite(group.id, ['lena@law.campus.test', 'dave@eng.campus.test']);
      await alice.renameGroup(group.id, 'Grown');
      await raw.next((f) => f.type === 'message' && (f.message as Message).event === 'group.renamed', 15_000);
      expect(raw.frames.filter((f) => f.type === 'conversation')).toEqual([]);
    } finally {
      raw.socket.close();
    }
    await expect.poll(() => views.at(-1)?.title, { timeout: 15_000 }).toBe('Grown');
    expect(views.length).toBeGreaterThan(shown);
    expect(
      views
        .at(-1)!
        .members.map((m) => m.address)
        .sort(),
    ).toEqual(['alice@eng.campus.test', 'bob@arts.campus.test', 'dave@eng.campus.test', 'lena@law.campus.test']);
    const atArts = (await bob.conversations()).find((c) => c.id === group.id)!;
    expect(atArts.members.map((m) => m.address).sort()).toEqual(
      views
        .at(-1)!
        .members.map((m) => m.address)
        .sort(),
    );
  });
});
