import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPeople, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import type { AtriumClient, Conversation, Message } from '../../sdk/client.ts';

const ALICE = 'alice@eng.campus.test';
const DAVE = 'dave@eng.campus.test';
const CAROL = 'carol@eng.campus.test';

type Device = AtriumClient & {
  messages: Message[];
  views: Conversation[];
  login: Awaited<ReturnType<typeof connectAs>>['login'];
};

let gateway: TestGateway;
let eng: TestNode;
let alice: Device;
let dave: Device;
let carol: Device;

const people = Array.from({ length: 70 }, (_, i) => `pm${String(i).padStart(2, '0')}`);
const addressOf = (username: string) => `${username}@eng.campus.test`;

async function device(username: string): Promise<Device> {
  const sdk = await connectAs(gateway, eng, username);
  const d = Object.assign(sdk, { messages: [] as Message[], views: [] as Conversation[] });
  d.on('message', (m) => d.messages.push(m));
  d.on('conversation', (c) => d.views.push(c));
  return d;
}

// VIEW_MEMBERS_MAX is a setting: 5 here, so that a group of a dozen is a "big" one.
beforeAll(async () => {
  gateway = await startTestGateway('im-member-pages');
  eng = await startTestNode(gateway, 'eng.campus.test', { VIEW_MEMBERS_MAX: '5' });
  await addPeople(gateway, people);
  [alice, dave, carol] = await Promise.all([device('alice'), device('dave'), device('carol')]);
});
afterAll(async () => {
  for (const d of [alice, dave, carol]) d?.close();
  await eng?.stop();
  await gateway?.stop();
});

async function bigGroup(title: string): Promise<Conversation> {
  return alice.createGroup(title, [DAVE, ...people.slice(0, 10).map(addressOf)]);
}

describe('a group bigger than VIEW_MEMBERS_MAX', () => {
  it('is shown with its member count and only the viewer, to its creator, a joiner, sync and the list alike', async () => {
    const group = await bigGroup('Announcements');
    expect(group.memberCount).toBe(12);
    expect(group.members).toEqual([{ address: ALICE, role: 'owner', readSeq: 0, deliveredSeq: 0 }]);

    // The joiner is told of the group without the eleven others.
    await expect.poll(() => dave.views.find((v) => v.id === group.id)).toBeDefined();
    const told = dave.views.find((v) => v.id === group.id)!;
    expect(told.memberCount).toBe(12);
    expect(told.members.map((m) => m.address)).toEqual([DAVE]);

    const listed = (await dave.conversations()).find((c) => c.id === group.id)!;
    expect(listed.memberCount).toBe(12);
    expect(listed.members.map((m) => m.address)).toEqual([DAVE]);
    const { conversations } = await dave.sync();
    expect(conversations.find((c) => c.id === group.id)?.members.map((m) => m.address)).toEqual([DAVE]);
  });

  it('pages through its members in address order, to its members only', async () => {
    const group = await bigGroup('Lecture');
    const everyone = [ALICE, DAVE, ...people.slice(0, 10).map(addressOf)].sort();
    const first = await dave.members(group.id, undefined, 5);
    expect(first.memberCount).toBe(12);
    expect(first.members.map((m) => m.address)).toEqual(everyone.slice(0, 5));
    expect(first.next).toBe(everyone[4]);
    const second = await dave.members(group.id, first.next!, 5);
    expect(second.members.map((m) => m.address)).toEqual(everyone.slice(5, 10));
    const last = await dave.members(group.id, second.next!, 5);
    expect(last.members.map((m) => m.address)).toEqual(everyone.slice(10));
    expect(last.next).toBeNull();
    expect((await dave.allMembers(group.id)).map((m) => m.address)).toEqual(everyone);
    const owner = first.members.find((m) => m.address === ALICE) ?? (await alice.allMembers(group.id))[0];
    expect(owner).toMatchObject({ address: ALICE, role: 'owner' });

    // Someone outside, and someone who left, may not read it; bad pages are refused by field.
    await expect(carol.members(group.id)).rejects.toMatchObject({ code: 'not_member' });
    await dave.leave(group.id);
    await expect(dave.members(group.id)).rejects.toMatchObject({ code: 'not_member' });
    await expect(alice.members(group.id, undefined, 1001)).rejects.toMatchObject({
      code: 'invalid_frame',
      fields: { limit: expect.any(String) },
    });
    await expect(alice.members(group.id, 'not an address')).rejects.toMatchObject({
      code: 'invalid_frame',
      fields: { after: expect.any(String) },
    });
    const remaining = await alice.allMembers(group.id);
    expect(remaining.map((m) => m.address)).toEqual(everyone.filter((a) => a !== DAVE));
  });

  it('finds members by the start of their username, the typed text matching itself, to its members only', async () => {
    const odd = ['sq_a', 'sqxa', 'sqzb'];
    await addPeople(gateway, odd);
    const group = await alice.createGroup('Search me', [
      DAVE,
      ...people.slice(0, 10).map(addressOf),
      ...odd.map(addressOf),
    ]);
    const found = async (prefix: string, limit?: number) =>
      (await dave.findMembers(group.id, prefix, limit)).map((m) => m.address);

    expect(await found('pm0', 3)).toEqual(['pm00', 'pm01', 'pm02'].map(addressOf));
    expect(await found(' PM0 ', 20)).toEqual(people.slice(0, 10).map(addressOf));
    expect(await found('da')).toEqual([DAVE]);
    // `_` and `%` are letters of the text, not LIKE's wildcards: "sq_" is not "sq" and any one character.
    expect(await found('sq_')).toEqual([addressOf('sq_a')]);
    expect(await found('sq')).toEqual(odd.map(addressOf));
    expect(await found('%')).toEqual([]);
    expect(await found('sq%')).toEqual([]);
    expect(await found('s_x')).toEqual([]);
    const page = await dave.request('members', { conversationId: group.id, query: 'pm', limit: 4 });
    expect(page.memberCount).toBe(15);
    expect(page.next).toBe(addressOf('pm03'));

    await expect(carol.findMembers(group.id, 'pm')).rejects.toMatchObject({ code: 'not_member' });
    await expect(dave.findMembers(group.id, 'x'.repeat(65))).rejects.toMatchObject({
      code: 'invalid_frame',
      fields: { query: expect.any(String) },
    });
    await expect(dave.findMembers(group.id, '  ')).rejects.toMatchObject({
      code: 'invalid_frame',
      fields: { query: expect.any(String) },
    });
    const token = await dave.login.tokenFor(eng.url);
    const overHttp = await fetch(`${eng.localUrl}/api/v1/conversations/${group.id}/members?q=sq_`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(((await overHttp.json()) as { members: { address: string }[] }).members.map((m) => m.address)).toEqual([
      addressOf('sq_a'),
    ]);
  });

  it('answers the same pages over HTTP', async () => {
    const group = await bigGroup('Over HTTP');
    const token = await dave.login.tokenFor(eng.url);
    const get = (query: string) =>
      fetch(`${eng.localUrl}/api/v1/conversations/${group.id}/members${query}`, {
        headers: { authorization: `Bearer ${token}` },
      });
    const response = await get('?limit=3');
    expect(response.status).toBe(200);
    const page = (await response.json()) as { memberCount: number; members: { address: string }[]; next: string };
    expect(page.memberCount).toBe(12);
    expect(page.members).toHaveLength(3);
    const next = await (await get(`?limit=20&after=${encodeURIComponent(page.next)}`)).json();
    expect((next as { members: unknown[] }).members).toHaveLength(9);
    expect((await get('?limit=0')).status).toBe(400);
  });

  it('tells members who stay of a change by its entry alone, and their SDK keeps the count in step', async () => {
    const group = await alice.createGroup('Growing', [DAVE, ...people.slice(0, 6).map(addressOf)]);
    expect(group.memberCount).toBe(8);
    await alice.invite(group.id, [CAROL, addressOf(people[6]!)]);
    const joined = await (async () => {
      await expect
        .poll(() => dave.messages.find((m) => m.conversationId === group.id && m.event === 'member.joined'))
        .toBeDefined();
      return dave.messages.find((m) => m.conversationId === group.id && m.event === 'member.joined')!;
    })();
    // The entry names who joined, not the whole group.
    expect(joined.members).toEqual([CAROL, addressOf(people[6]!)]);
    await expect.poll(() => dave.views.findLast((v) => v.id === group.id)?.memberCount).toBe(10);
    expect(dave.views.findLast((v) => v.id === group.id)!.members.map((m) => m.address)).toEqual([DAVE]);
    // Carol, who joined, is shown the group with herself alone in its list.
    await expect.poll(() => carol.views.find((v) => v.id === group.id)?.memberCount).toBe(10);
    expect(carol.views.find((v) => v.id === group.id)!.members.map((m) => m.address)).toEqual([CAROL]);

    await alice.removeMember(group.id, CAROL);
    await expect.poll(() => dave.views.findLast((v) => v.id === group.id)?.memberCount).toBe(9);
  });
});

describe('entries that add many people to a big group', () => {
  it('name the first 20 and count them all, and the SDK keeps the count in step', async () => {
    const group = await alice.createGroup('Campus', [DAVE]);
    const many = people.slice(10, 40).map(addressOf);
    const grown = await alice.invite(group.id, many);
    expect(grown.memberCount).toBe(32);
    await expect
      .poll(() => dave.messages.find((m) => m.conversationId === group.id && m.event === 'member.joined'))
      .toBeDefined();
    const entry = dave.messages.find((m) => m.conversationId === group.id && m.event === 'member.joined')!;
    expect(entry.members).toEqual(many.slice(0, 20));
    expect(entry.count).toBe(30);
    // Dave's view listed both members; it now counts 32, its list no longer whole (as the node's views).
    await expect.poll(() => dave.views.findLast((v) => v.id === group.id)?.memberCount).toBe(32);
    expect((await dave.allMembers(group.id)).map((m) => m.address).sort()).toEqual([ALICE, DAVE, ...many].sort());
  });
});

describe('messages to a big group', () => {
  it('reach a device that connected after the first ones, and not one that closed', async () => {
    const group = await alice.createGroup('Hall', [DAVE, CAROL, ...people.map(addressOf)]);
    const first = await alice.send({ conversationId: group.id, text: 'first' });
    await expect.poll(() => dave.messages.some((m) => m.id === first.messageId)).toBe(true);
    // The node looks a big group's sockets up once for its messages: a new socket must still be among them.
    const laptop = await connectAs(gateway, eng, 'dave', dave.login);
    const seen: string[] = [];
    laptop.on('message', (m) => seen.push(m.id));
    const second = await alice.send({ conversationId: group.id, text: 'second' });
    await expect.poll(() => seen.includes(second.messageId)).toBe(true);
    laptop.close();
    await expect.poll(() => eng.sockets.registry.connectionsOf(DAVE).length).toBe(1);
    const third = await alice.send({ conversationId: group.id, text: 'third' });
    await expect.poll(() => dave.messages.some((m) => m.id === third.messageId)).toBe(true);
    expect(seen).not.toContain(third.messageId);
  });
});

describe('a group of up to VIEW_MEMBERS_MAX', () => {
  it('is shown with every member, as before', async () => {
    const group = await alice.createGroup('Study group', [DAVE, CAROL, addressOf(people[0]!), addressOf(people[1]!)]);
    expect(group.memberCount).toBe(5);
    expect(group.members.map((m) => m.address).sort()).toEqual(
      [ALICE, DAVE, CAROL, addressOf(people[0]!), addressOf(people[1]!)].sort(),
    );
    await expect.poll(() => carol.views.find((v) => v.id === group.id)?.members.length).toBe(5);
    // The direct conversation lists both people whatever the setting.
    const direct = await alice.openDirect(DAVE);
    expect(direct.members.map((m) => m.address).sort()).toEqual([ALICE, DAVE]);
    expect(direct.memberCount).toBe(2);
  });
});
