import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operator } from '../../gateway/context.ts';
import { allowPair } from '../../gateway/federation/policy.ts';
import { pinDomainKeys } from '../../gateway/federation/pin-domain.ts';
import { addPeople, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import { openRaw } from '../helpers/raw-socket.ts';
import type { AtriumClient, Conversation, Message } from '../../sdk/client.ts';

const ALICE = 'alice@eng.campus.test';
const DAVE = 'dave@eng.campus.test';
const CAROL = 'carol@eng.campus.test';
const ENZO = 'eng-admin@eng.campus.test';
const BOB_ARTS = 'bob@arts.campus.test';

type Device = AtriumClient & {
  messages: Message[];
  views: Conversation[];
  login: Awaited<ReturnType<typeof connectAs>>['login'];
};

let gateway: TestGateway;
let eng: TestNode;
// Bob's node: a node confirms that its addresses exist before anyone opens a conversation with them.
let arts: TestNode;
let alice: Device;
let dave: Device;
let carol: Device;
let enzo: Device;

async function device(username: string): Promise<Device> {
  const sdk = await connectAs(gateway, eng, username);
  const d = Object.assign(sdk, { messages: [] as Message[], views: [] as Conversation[] });
  d.on('message', (m) => d.messages.push(m));
  d.on('conversation', (c) => d.views.push(c));
  return d;
}

beforeAll(async () => {
  gateway = await startTestGateway('im-groups');
  eng = await startTestNode(gateway, 'eng.campus.test');
  // Groups take members of other domains only where the federation policy allows it.
  const operatorCtx = { ...gateway.context(null), actor: operator('test') };
  arts = await startTestNode(gateway, 'arts.campus.test');
  await pinDomainKeys(operatorCtx, 'eng.campus.test');
  await pinDomainKeys(operatorCtx, 'arts.campus.test');
  await allowPair(operatorCtx, { a: 'eng.campus.test', b: 'arts.campus.test' });
  // Both nodes read the registry as they started, before the pair was allowed, and read a copy younger
  // than 5 s no sooner even on a refusal: their clocks move past that (test/helpers/federation.ts does too).
  for (const node of [eng, arts]) node.clock.advance(5_000);
  await addPeople(gateway, ['p1', 'p2', 'p3', 'p4', 'p5']);
  [alice, dave, carol, enzo] = await Promise.all([
    device('alice'),
    device('dave'),
    device('carol'),
    device('eng-admin'),
  ]);
});
afterAll(async () => {
  for (const d of [alice, dave, carol, enzo]) d?.close();
  await eng?.stop();
  await arts?.stop();
  await gateway?.stop();
});

const addresses = (c: Conversation | undefined) => c?.members.map((m) => m.address).sort();
const roles = (c: Conversation) => Object.fromEntries(c.members.map((m) => [m.address, m.role]));
const latest = (d: Device, id: string) => d.views.filter((c) => c.id === id).at(-1);
const systemEvents = (d: Device, id: string) =>
  d.messages.filter((m) => m.conversationId === id && m.kind === 'system').map((m) => m.event);
const refused = (p: Promise<unknown>, code: string) => expect(p).rejects.toMatchObject({ code });

describe('creating a group', () => {
  it('makes the creator owner, takes members of any domain, and tells every local member', async () => {
    const group = await alice.createGroup('Robotics club', [DAVE, CAROL, BOB_ARTS]);
    expect(group).toMatchObject({
      kind: 'group',
      homeDomain: 'eng.campus.test',
      title: 'Robotics club',
      lastSeq: 1,
      joinedSeq: 0,
    });
    expect(roles(group)).toEqual({ [ALICE]: 'owner', [DAVE]: 'member', [CAROL]: 'member', [BOB_ARTS]: 'member' });

    for (const member of [dave, carol]) {
      await expect.poll(() => latest(member, group.id)?.title).toBe('Robotics club');
      await expect.poll(() => systemEvents(member, group.id)).toEqual(['group.created']);
    }
    const opening = dave.messages.find((m) => m.conversationId === group.id)!;
    expect(opening).toMatchObject({ seq: 1, sender: ALICE, title: 'Robotics club', by: ALICE });
    expect(opening.members).toEqual([ALICE, DAVE, CAROL, BOB_ARTS]);
    expect((await enzo.conversations()).map((c) => c.id)).not.toContain(group.id);
  });

  it('creates a group over HTTP for bots and scripts, with the same pushes', async () => {
    const response = await fetch(`${eng.url}/api/v1/conversations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await alice.login.tokenFor(eng.url)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'Made over HTTP', members: [DAVE] }),
    });
    expect(response.status).toBe(201);
    const { conversation } = (await response.json()) as { conversation: Conversation };
    expect(roles(conversation)).toEqual({ [ALICE]: 'owner', [DAVE]: 'member' });
    await expect.poll(() => latest(dave, conversation.id)?.title).toBe('Made over HTTP');
    await expect.poll(() => latest(alice, conversation.id)?.title).toBe('Made over HTTP');

    const bad = await fetch(`${eng.url}/api/v1/conversations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await alice.login.tokenFor(eng.url)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: '', members: [DAVE] }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'invalid_input', fields: { title: expect.any(String) } } });
  });

  it('makes one group for a create repeated with the same client id, at once or later, and another for a new id', async () => {
    const before = await eng.models.Conversation.count();
    // Alice's phone and laptop send the same create at once (a client retrying on its other connection).
    const laptop = await device('alice');
    const [first, concurrent] = await Promise.all([
      alice.createGroup('Lab 3 rota', [DAVE], 'rota-create-0001'),
      laptop.createGroup('Lab 3 rota', [DAVE], 'rota-create-0001'),
    ]);
    laptop.close();
    expect(concurrent.id).toBe(first.id);
    const later = await alice.createGroup('Lab 3 rota', [DAVE], 'rota-create-0001');
    expect(later).toMatchObject({ id: first.id, title: 'Lab 3 rota', lastSeq: 1 });
    const overHttp = await fetch(`${eng.url}/api/v1/conversations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await alice.login.tokenFor(eng.url)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'Lab 3 rota', members: [DAVE], clientId: 'rota-create-0001' }),
    });
    expect(((await overHttp.json()) as { conversation: Conversation }).conversation.id).toBe(first.id);
    expect(await eng.models.Conversation.count()).toBe(before + 1);
    expect(await eng.models.Message.count({ where: { conversationId: first.id } })).toBe(1);
    await expect.poll(() => systemEvents(dave, first.id)).toEqual(['group.created']);

    // Another person's same client id, or the same person's next one, is another group.
    const carols = await carol.createGroup('Lab 3 rota', [DAVE], 'rota-create-0001');
    const next = await alice.createGroup('Lab 3 rota', [DAVE], 'rota-create-0002');
    expect(new Set([first.id, carols.id, next.id]).size).toBe(3);
    expect(await eng.models.Conversation.count()).toBe(before + 3);
  });

  it('pushes each member the group as they see it, whatever the title holds', async () => {
    const title = 'Reading [] list "q" \\ [members] ]}';
    const group = await alice.createGroup(title, [DAVE, CAROL]);
    await alice.markRead(group.id, 1);
    await alice.invite(group.id, [ENZO]);
    for (const [member, who] of [
      [dave, DAVE],
      [carol, CAROL],
      [enzo, ENZO],
    ] as const) {
      await expect.poll(() => latest(member, group.id)?.members.length).toBe(4);
      const view = latest(member, group.id)!;
      expect(view.title).toBe(title);
      expect(roles(view)).toEqual({ [ALICE]: 'owner', [DAVE]: 'member', [CAROL]: 'member', [ENZO]: 'member' });
      // Each has their own place in it: Enzo joined at the invite, the others at the start.
      expect(view.joinedSeq).toBe(who === ENZO ? 1 : 0);
      // Enzo's group came from the node after Alice read the first entry, so it shows her there. Dave's
      // and Carol's were built from entries since their first view: her reading covered no message of
      // theirs, so they were not told of it (docs/protocol.md, "Receipts").
      expect(view.members.find((m) => m.address === ALICE)!.readSeq).toBe(who === ENZO ? 1 : 0);
    }
  });

  it('refuses a member listed twice, an empty title and a title over 200 characters', async () => {
    await refused(alice.createGroup('Twice', [DAVE, DAVE]), 'invalid_input');
    await refused(alice.createGroup('   ', [DAVE]), 'invalid_frame');
    await refused(alice.createGroup('x'.repeat(201), [DAVE]), 'invalid_frame');
    expect((await dave.conversations()).map((c) => c.title)).not.toContain('Twice');
  });

  it('refuses members of a domain the federation policy does not allow, before storing anything', async () => {
    const before = await eng.models.Conversation.count();
    await refused(alice.createGroup('Outside the policy', [DAVE, 'lena@law.campus.test']), 'federation_denied');
    expect(await eng.models.Conversation.count()).toBe(before);
    const group = await alice.createGroup('Policy on invite', [DAVE]);
    await refused(alice.invite(group.id, ['lena@law.campus.test']), 'federation_denied');
    expect((await alice.history(group.id)).messages.map((m) => m.event)).toEqual(['group.created']);
  });
});

describe('changing a group', () => {
  it('appends every change to the sequence as a system entry, in order, and pushes the new state', async () => {
    const group = await alice.createGroup('Study group', [DAVE, CAROL]);
    await alice.renameGroup(group.id, 'Exam prep');
    await alice.invite(group.id, [ENZO]);
    await alice.setRole(group.id, CAROL, 'admin');
    const after = await carol.removeMember(group.id, DAVE);
    expect(after.title).toBe('Exam prep');
    expect(roles(after)).toEqual({ [ALICE]: 'owner', [CAROL]: 'admin', [ENZO]: 'member' });

    const { messages } = await alice.history(group.id);
    const entries = messages.reverse();
    expect(entries.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(entries.map((m) => [m.event, m.by])).toEqual([
      ['group.created', ALICE],
      ['group.renamed', ALICE],
      ['member.joined', ALICE],
      ['member.role', ALICE],
      ['member.removed', CAROL],
    ]);
    expect(entries[3]).toMatchObject({ members: [CAROL], role: 'admin' });

    await expect.poll(() => latest(enzo, group.id) && roles(latest(enzo, group.id)!)).toEqual(roles(after));
    await expect.poll(() => systemEvents(enzo, group.id)).toEqual(['member.joined', 'member.role', 'member.removed']);
    await expect.poll(() => latest(alice, group.id)?.members.length).toBe(3);
  });

  it('refuses changes by people whose role does not allow them', async () => {
    const group = await alice.createGroup('Permissions', [DAVE, CAROL, ENZO]);
    await alice.setRole(group.id, CAROL, 'admin');
    await alice.setRole(group.id, ENZO, 'admin');

    await refused(dave.renameGroup(group.id, 'Mine now'), 'forbidden');
    await refused(dave.invite(group.id, [BOB_ARTS]), 'forbidden');
    await refused(dave.removeMember(group.id, CAROL), 'forbidden');
    await refused(carol.setRole(group.id, DAVE, 'admin'), 'forbidden');
    await refused(carol.removeMember(group.id, ENZO), 'forbidden');
    await refused(carol.removeMember(group.id, ALICE), 'forbidden');
    await refused(alice.removeMember(group.id, ALICE), 'invalid_input');
    await refused(alice.setRole(group.id, ALICE, 'member'), 'invalid_input');
    await refused(alice.invite(group.id, [DAVE]), 'invalid_input');
    await refused(alice.removeMember(group.id, BOB_ARTS), 'invalid_input');

    const direct = await alice.openDirect(DAVE);
    await refused(alice.renameGroup(direct.id, 'Not a group'), 'invalid_input');

    const elsewhere = await dave.createGroup('Dave only', []);
    await refused(alice.renameGroup(elsewhere.id, 'Intruder'), 'not_member');
    await refused(alice.leave(elsewhere.id), 'not_member');

    const { messages } = await alice.history(group.id);
    expect(messages.map((m) => m.event)).toEqual(['member.role', 'member.role', 'group.created']);
    const [now] = (await alice.conversations()).filter((c) => c.id === group.id);
    expect(now!.title).toBe('Permissions');
    expect(roles(now!)).toEqual({ [ALICE]: 'owner', [DAVE]: 'member', [CAROL]: 'admin', [ENZO]: 'admin' });
  });

  it('lets the owner hand the group to a member and stay on as an admin, after which only the new owner rules', async () => {
    const group = await alice.createGroup('Handover', [DAVE, CAROL]);
    await alice.setRole(group.id, CAROL, 'admin');
    await refused(carol.setRole(group.id, CAROL, 'owner'), 'forbidden');
    await refused(carol.setRole(group.id, DAVE, 'owner'), 'forbidden');

    const after = await alice.setRole(group.id, DAVE, 'owner');
    expect(roles(after)).toEqual({ [ALICE]: 'admin', [DAVE]: 'owner', [CAROL]: 'admin' });
    await expect.poll(() => latest(carol, group.id) && roles(latest(carol, group.id)!)).toEqual(roles(after));
    const [entry] = (await dave.history(group.id)).messages;
    expect(entry).toMatchObject({ kind: 'system', event: 'member.role', members: [DAVE], role: 'owner', by: ALICE });

    await refused(alice.setRole(group.id, CAROL, 'member'), 'forbidden');
    await refused(alice.setRole(group.id, ALICE, 'owner'), 'forbidden');
    await dave.setRole(group.id, CAROL, 'member');
    const rows = await eng.models.Member.findAll({ where: { conversationId: group.id, role: 'owner' } });
    expect(rows.map((m) => m.address)).toEqual([DAVE]);
  });

  it('refuses to change a group hosted by another domain, whose sequence only its home may extend', async () => {
    // A group homed on arts, as federation stores its copy here.
    const id = randomUUID();
    await eng.models.Conversation.create({
      id,
      kind: 'group',
      homeDomain: 'arts.campus.test',
      title: 'Arts club',
      directKey: null,
      createdBy: BOB_ARTS,
    });
    await eng.models.Member.bulkCreate([
      { conversationId: id, address: BOB_ARTS, role: 'owner', state: 'active' },
      { conversationId: id, address: ALICE, role: 'admin', state: 'active' },
    ]);
    await refused(alice.renameGroup(id, 'Renamed from eng'), 'not_home');
    await refused(alice.invite(id, [DAVE]), 'not_home');
    // Leaving is asked of the home itself (federation); arts never made this group, so it refuses.
    await refused(alice.leave(id), 'not_home');
    const copy = await eng.models.Conversation.findByPk(id);
    expect(copy).toMatchObject({ title: 'Arts club', lastSeq: 0 });
  });

  it('cuts a removed member off: no pushes, no sending, no history, and tells them', async () => {
    const group = await alice.createGroup('Cut off', [DAVE, CAROL]);
    await alice.send({ conversationId: group.id, text: 'while dave is here' });
    await expect
      .poll(() => dave.messages.filter((m) => m.conversationId === group.id && m.kind === 'text').length)
      .toBe(1);

    await alice.removeMember(group.id, DAVE);
    await expect.poll(() => addresses(latest(dave, group.id))).toEqual([ALICE, CAROL]);

    const ack = await alice.send({ conversationId: group.id, text: 'after dave left' });
    await expect.poll(() => carol.messages.some((m) => m.id === ack.messageId)).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(dave.messages.some((m) => m.id === ack.messageId)).toBe(false);

    await refused(dave.send({ conversationId: group.id, text: 'let me back' }), 'not_member');
    await refused(dave.history(group.id), 'not_member');
    expect((await dave.conversations()).map((c) => c.id)).not.toContain(group.id);
  });
});

describe('mentions in a group', () => {
  it('keeps a mention of a member and drops one of someone outside the group', async () => {
    const group = await alice.createGroup('Mentions', [DAVE]);
    const ack = await alice.send({ conversationId: group.id, text: '@dave @carol look', mentions: [DAVE, CAROL] });
    await expect.poll(() => dave.messages.find((m) => m.id === ack.messageId)?.mentions).toEqual([DAVE]);
    const stored = (await alice.history(group.id)).messages.find((m) => m.id === ack.messageId)!;
    expect(stored.mentions).toEqual([DAVE]);
  });
});

describe('joining late and leaving', () => {
  it('shows a late joiner only what follows their joining, with nothing unread from before', async () => {
    const group = await alice.createGroup('Late joiners', [DAVE]);
    await alice.send({ conversationId: group.id, text: 'said before carol came' });
    await dave.send({ conversationId: group.id, text: 'also before' });

    const invited = await alice.invite(group.id, [CAROL]);
    await expect.poll(() => latest(carol, group.id)?.joinedSeq).toBe(3);
    expect(latest(carol, group.id)!.unread).toBe(0);
    expect(invited.lastSeq).toBe(4);

    const { messages } = await carol.history(group.id);
    expect(messages.map((m) => [m.seq, m.kind, m.event])).toEqual([[4, 'system', 'member.joined']]);
    // What a new device of Carol's gets when it syncs from nothing.
    const fresh = (await carol.request('sync', {})).messages as Message[];
    expect(fresh.filter((m) => m.conversationId === group.id).map((m) => m.seq)).toEqual([4]);
    expect(await carol.search('before', { conversationId: group.id })).toEqual([]);

    await alice.send({ conversationId: group.id, text: 'welcome carol' });
    await expect
      .poll(() => carol.messages.filter((m) => m.conversationId === group.id && m.kind === 'text').map((m) => m.text))
      .toEqual(['welcome carol']);
  });

  it('lets someone who left come back, seeing only what follows their return', async () => {
    const group = await alice.createGroup('Come back', [DAVE]);
    const left = await dave.leave(group.id);
    expect(addresses(left)).toEqual([ALICE]);
    await refused(dave.history(group.id), 'not_member');
    await alice.send({ conversationId: group.id, text: 'while dave was away' });

    const back = await alice.invite(group.id, [DAVE]);
    expect(roles(back)).toEqual({ [ALICE]: 'owner', [DAVE]: 'member' });
    const { messages } = await dave.history(group.id);
    expect(messages.map((m) => m.event ?? m.text)).toEqual(['member.joined']);
  });

  it('shows a creator who left nothing of the group when they repeat its create, until they are back', async () => {
    const clientId = `left-${randomUUID()}`;
    const group = await alice.createGroup('Before alice left', [CAROL], clientId);
    await alice.leave(group.id);
    await carol.renameGroup(group.id, 'After alice left');
    const before = await eng.models.Conversation.count();

    await refused(alice.createGroup('Before alice left', [CAROL], clientId), 'not_member');
    const overHttp = await fetch(`${eng.url}/api/v1/conversations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await alice.login.tokenFor(eng.url)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'Before alice left', members: [CAROL], clientId }),
    });
    expect(overHttp.status).toBe(403);
    expect(await overHttp.json()).toEqual({ error: { code: 'not_member', message: expect.any(String) } });
    expect(await eng.models.Conversation.count()).toBe(before);

    await carol.invite(group.id, [ALICE]);
    expect(await alice.createGroup('Before alice left', [CAROL], clientId)).toMatchObject({
      id: group.id,
      title: 'After alice left',
    });
  });

  it('passes ownership to the longest-standing admin, else the longest-standing member', async () => {
    // Enzo is there from the start, Dave joins later: Dave's address sorts first, so only the join order can pick Enzo.
    const group = await alice.createGroup('Succession', [ENZO, CAROL]);
    await alice.invite(group.id, [DAVE]);
    await alice.setRole(group.id, CAROL, 'admin');

    const gone = await alice.leave(group.id);
    expect(addresses(gone)).toEqual([CAROL, DAVE, ENZO]);
    await expect
      .poll(() => latest(carol, group.id) && roles(latest(carol, group.id)!))
      .toEqual({ [CAROL]: 'owner', [ENZO]: 'member', [DAVE]: 'member' });
    const { messages } = await carol.history(group.id, undefined, 1);
    expect(messages[0]).toMatchObject({ event: 'member.left', members: [ALICE], owner: CAROL });

    await carol.leave(group.id);
    await expect
      .poll(() => latest(dave, group.id) && roles(latest(dave, group.id)!))
      .toEqual({ [ENZO]: 'owner', [DAVE]: 'member' });
    await enzo.renameGroup(group.id, 'Enzo runs it');

    await enzo.leave(group.id);
    const last = await dave.leave(group.id);
    expect(last.members).toEqual([]);
    const rows = await eng.models.Member.findAll({ where: { conversationId: group.id } });
    expect(rows.every((m) => m.state === 'left')).toBe(true);
  });
});

describe('telling members of a change', () => {
  it('sends members who stay only the change’s entry, sends joiners the group, and the SDK shows everyone the group as it now is', async () => {
    const group = await alice.createGroup('Big enough', [CAROL, ENZO]);
    await alice.send({ conversationId: group.id, text: 'before anyone joins' });
    // Carol's second device is a bare socket: it shows what crosses the wire.
    const raw = await openRaw(eng.url, ['atrium.v1', `atrium.token.${await carol.login.tokenFor(eng.url)}`]);
    await raw.next((f) => f.type === 'ready');
    try {
      await alice.invite(group.id, [DAVE]);
      await alice.setRole(group.id, ENZO, 'admin');
      await enzo.renameGroup(group.id, 'Bigger now');
      await raw.next((f) => f.type === 'message' && (f.message as Message).event === 'group.renamed');
      const about = raw.frames.filter((f) => JSON.stringify(f).includes(group.id));
      expect(about.map((f) => (f.type === 'message' ? (f.message as Message).event : f.type))).toEqual([
        'member.joined',
        'member.role',
        'group.renamed',
      ]);

      // The joiner is shown the whole group; nothing before his joining is his to read.
      await expect.poll(() => latest(dave, group.id)?.title).toBe('Bigger now');
      const seen = latest(dave, group.id)!;
      expect(roles(seen)).toEqual({ [ALICE]: 'owner', [CAROL]: 'member', [ENZO]: 'admin', [DAVE]: 'member' });
      expect(seen.unread).toBe(0);
      // Those who stayed see the same group, built by their SDK from the entries.
      for (const member of [carol, enzo]) {
        await expect.poll(() => latest(member, group.id)?.title).toBe('Bigger now');
        expect(roles(latest(member, group.id)!)).toEqual(roles(seen));
      }
      const joined = latest(carol, group.id)!.members.find((m) => m.address === DAVE)!;
      expect(joined.readSeq).toBe(seen.joinedSeq);
      const fromNode = (await carol.conversations()).find((c) => c.id === group.id)!;
      const byAddress = (c: Conversation) => c.members.toSorted((a, b) => a.address.localeCompare(b.address));
      expect(byAddress(latest(carol, group.id)!)).toEqual(byAddress(fromNode));
    } finally {
      raw.socket.close();
    }
  });

  it('keeps the unread count of a group its SDK builds from entries: new messages count, reading clears them', async () => {
    const group = await alice.createGroup('Counting', [CAROL]);
    await expect.poll(() => latest(carol, group.id)?.id).toBe(group.id);
    for (const text of ['one', 'two', 'three']) await alice.send({ conversationId: group.id, text });
    await alice.renameGroup(group.id, 'Counting, renamed');
    await expect.poll(() => latest(carol, group.id)?.title).toBe('Counting, renamed');
    expect(latest(carol, group.id)!.unread).toBe(3);
    expect((await carol.conversations()).find((c) => c.id === group.id)!.unread).toBe(3);

    await carol.markRead(group.id, latest(carol, group.id)!.lastSeq);
    await alice.renameGroup(group.id, 'Counting, read');
    await expect.poll(() => latest(carol, group.id)?.title).toBe('Counting, read');
    expect(latest(carol, group.id)!.unread).toBe(0);

    // A message recalled before it was read no longer counts.
    const kept = await alice.send({ conversationId: group.id, text: 'kept' });
    const gone = await alice.send({ conversationId: group.id, text: 'gone' });
    await alice.recall(gone.messageId);
    await alice.renameGroup(group.id, 'Counting, recalled');
    await expect.poll(() => latest(carol, group.id)?.title).toBe('Counting, recalled');
    expect(latest(carol, group.id)!.unread).toBe(1);
    expect((await carol.conversations()).find((c) => c.id === group.id)!.unread).toBe(1);
    expect(kept.seq).toBeLessThan(gone.seq);

    // Read up to a place among what came since: what follows it still counts, and nothing before it.
    const more: Awaited<ReturnType<typeof alice.send>>[] = [];
    for (const text of ['four', 'five', 'six']) more.push(await alice.send({ conversationId: group.id, text }));
    await expect.poll(() => carol.messages.some((m) => m.id === more[2]!.messageId)).toBe(true);
    await carol.markRead(group.id, more[1]!.seq);
    await alice.renameGroup(group.id, 'Counting, partly read');
    await expect.poll(() => latest(carol, group.id)?.title).toBe('Counting, partly read');
    expect(latest(carol, group.id)!.unread).toBe(1);
    expect((await carol.conversations()).find((c) => c.id === group.id)!.unread).toBe(1);
  });

  it('builds, from entries alone, the same group as the node shows, through a long run of changes of every kind', async () => {
    const owner = await device('alice');
    const watcher = carol;
    const group = await owner.createGroup('Changing a lot', [CAROL, DAVE]);
    const pool = ['p1', 'p2', 'p3', 'p4', 'p5'].map((p) => `${p}@eng.campus.test`);
    // A fixed sequence (no randomness, so a failure repeats): joins, removals, promotions, handovers, renames, leaves and returns.
    const steps: (() => Promise<unknown>)[] = [
      () => owner.invite(group.id, pool.slice(0, 3)),
      () => owner.setRole(group.id, pool[0]!, 'admin'),
      () => owner.renameGroup(group.id, 'Changed once'),
      () => owner.removeMember(group.id, pool[1]!),
      () => owner.setRole(group.id, DAVE, 'owner'),
      () => dave.invite(group.id, [pool[1]!, pool[3]!]),
      () => dave.setRole(group.id, pool[3]!, 'admin'),
      () => dave.leave(group.id),
      () => owner.invite(group.id, [DAVE]),
      () => owner.renameGroup(group.id, 'Changed again'),
      () => owner.setRole(group.id, pool[3]!, 'member'),
      () => owner.removeMember(group.id, pool[0]!),
      () => owner.leave(group.id),
    ];
    const sorted = (c: Conversation) => ({ title: c.title, members: c.members.map((m) => [m.address, m.role]).sort() });
    try {
      for (const [i, step] of steps.entries()) {
        await step();
        // Asked with a bare request: the SDK's own list call would replace what it built.
        const listed = (await watcher.request('conversations.list')).conversations as Conversation[];
        const fromNode = listed.find((c) => c.id === group.id)!;
        await expect
          .poll(() => latest(watcher, group.id) && sorted(latest(watcher, group.id)!), {
            message: `after step ${i + 1}`,
          })
          .toEqual(sorted(fromNode));
      }
    } finally {
      owner.close();
    }
  });

  it('tells who leaves or is removed, and the SDK of those who stay drops them and passes the ownership on', async () => {
    const group = await alice.createGroup('Thinning out', [CAROL, DAVE, ENZO]);
    await alice.setRole(group.id, ENZO, 'admin');
    await alice.removeMember(group.id, DAVE);
    await expect.poll(() => addresses(latest(dave, group.id))).toEqual([ALICE, CAROL, ENZO]);
    await alice.leave(group.id);
    await expect
      .poll(() => latest(carol, group.id) && roles(latest(carol, group.id)!))
      .toEqual({ [CAROL]: 'member', [ENZO]: 'owner' });
    expect(latest(enzo, group.id) && roles(latest(enzo, group.id)!)).toEqual({ [CAROL]: 'member', [ENZO]: 'owner' });
  });
});

describe('changes that race each other', () => {
  const settled = (promises: Promise<unknown>[]) =>
    Promise.allSettled(promises).then((all) =>
      all.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code: string }).code)),
    );

  it('writes one departure for a leave asked twice at once, from two devices', async () => {
    const group = await alice.createGroup('Leaving twice', [DAVE, CAROL]);
    const daveAgain = await device('dave');
    try {
      const outcomes = await settled([dave.leave(group.id), daveAgain.leave(group.id)]);
      expect(outcomes.sort()).toEqual(['not_member', 'ok']);
    } finally {
      daveAgain.close();
    }
    const { messages } = await alice.history(group.id);
    expect(messages.map((m) => m.event)).toEqual(['member.left', 'group.created']);
  });

  it('judges a change after the one that landed first: a removed admin’s invite or rename is refused', async () => {
    const group = await alice.createGroup('Racing admins', [DAVE, CAROL]);
    await alice.setRole(group.id, DAVE, 'admin');
    // Dave's invite and rename race his removal; whatever lands after the removal is refused.
    const outcomes = await settled([
      alice.removeMember(group.id, DAVE),
      dave.invite(group.id, [ENZO]),
      dave.renameGroup(group.id, 'Dave was here'),
    ]);
    expect(outcomes[0]).toBe('ok');
    const { messages } = await alice.history(group.id);
    const entries = [...messages].reverse();
    const removedAt = entries.findIndex((m) => m.event === 'member.removed');
    expect(entries.slice(removedAt + 1).filter((m) => m.sender === DAVE)).toEqual([]);
    // What was refused left nothing behind; what was accepted is there once.
    expect(entries.filter((m) => m.event === 'member.joined').length).toBe(outcomes[1] === 'ok' ? 1 : 0);
    expect(entries.filter((m) => m.event === 'group.renamed').length).toBe(outcomes[2] === 'ok' ? 1 : 0);
    for (const outcome of outcomes.slice(1)) expect(['ok', 'not_member']).toContain(outcome);
    const enzoRow = await eng.models.Member.findOne({ where: { conversationId: group.id, address: ENZO } });
    expect(enzoRow?.state === 'active').toBe(outcomes[1] === 'ok');
  });

  it('names one owner when the owner hands the group on while leaving', async () => {
    const group = await alice.createGroup('Handover race', [DAVE, CAROL]);
    await alice.setRole(group.id, CAROL, 'admin');
    const outcomes = await settled([alice.setRole(group.id, DAVE, 'owner'), alice.leave(group.id)]);
    expect(outcomes[1]).toBe('ok');
    const owners = await eng.models.Member.findAll({
      where: { conversationId: group.id, role: 'owner', state: 'active' },
    });
    expect(owners.length).toBe(1);
    const { messages } = await carol.history(group.id);
    const left = messages.find((m) => m.event === 'member.left')!;
    // The leave names as successor whoever it passed ownership to, or nobody if Alice had handed it on first.
    const role = messages.findIndex((m) => m.event === 'member.role');
    const handedOnFirst = role > messages.indexOf(left);
    expect(outcomes[0]).toBe(handedOnFirst ? 'ok' : 'not_member');
    if (handedOnFirst) expect(left.owner).toBeUndefined();
    else expect(left.owner).toBe(owners[0]!.address);
  });

  it('writes one role change for the same promotion asked twice at once', async () => {
    const group = await alice.createGroup('Promoting twice', [DAVE]);
    const aliceAgain = await device('alice');
    try {
      const both = await Promise.all([
        alice.setRole(group.id, DAVE, 'admin'),
        aliceAgain.setRole(group.id, DAVE, 'admin'),
      ]);
      for (const view of both) expect(roles(view)[DAVE]).toBe('admin');
    } finally {
      aliceAgain.close();
    }
    const { messages } = await dave.history(group.id);
    expect(messages.map((m) => m.event)).toEqual(['member.role', 'group.created']);
  });
});
