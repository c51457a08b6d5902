import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setAppDisabled } from '../../gateway/apps-registry/set-app-disabled.ts';
import { updateApp } from '../../gateway/apps-registry/update-app.ts';
import { pinDomainKeys } from '../../gateway/federation/pin-domain.ts';
import { askDirectory } from '../../node/federation/directory.ts';
import { AtriumBot } from '../../sdk/bot.ts';
import type { AtriumClient } from '../../sdk/client.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, login, startTestNode, type TestNode } from '../helpers/node.ts';
import { actingAs, asOperator, botToken, register } from './helpers.ts';

const DAVE = 'dave@eng.campus.test';
const ROOMS = 'room-bookings@eng.campus.test';

let gateway: TestGateway;
let eng: TestNode;
let alice: AtriumClient;
let rooms: Awaited<ReturnType<typeof register>>;
let aliceToken: string;

beforeAll(async () => {
  gateway = await startTestGateway('bots-in-groups', { LOGIN_IP_LIMIT: '1000' });
  eng = await startTestNode(gateway, 'eng.campus.test', { REGISTRY_TTL_SECONDS: '1' });
  await pinDomainKeys(asOperator(gateway), 'eng.campus.test');
  rooms = await register(gateway, {
    name: 'Room Bookings',
    slug: 'room-bookings',
    redirectUris: ['http://localhost:9/cb'],
    botEnabled: true,
  });
  // An app without a bot is no one to add to a group.
  await register(gateway, { name: 'Room Survey', slug: 'room-survey', redirectUris: ['http://localhost:9/cb'] });
  alice = await connectAs(gateway, eng, 'alice');
  aliceToken = await (await login(gateway, 'alice')).tokenFor(eng.url);
});
afterAll(async () => {
  alice?.close();
  await eng?.stop();
  await gateway?.stop();
});

type Found = { name: string; username: string; address: string; addresses: string[]; units: string[]; app?: true };

async function search(q: string, token = aliceToken): Promise<Found[]> {
  const response = await request(eng.server)
    .get('/api/v1/directory')
    .query({ q })
    .set('authorization', `Bearer ${token}`);
  expect(response.status).toBe(200);
  return response.body.people as Found[];
}

describe('the people search finds apps’ bots', () => {
  it('by the app’s name, its slug or the bot’s whole address, at the searching node, marked as an app', async () => {
    const bot = {
      name: 'Room Bookings',
      username: 'room-bookings',
      address: ROOMS,
      addresses: [ROOMS],
      units: [],
      app: true,
    };
    expect(await search('room')).toEqual([bot]);
    expect(await search('BOOKINGS')).toEqual([bot]);
    expect(await search('room-book')).toEqual([bot]);
    expect(await search(ROOMS)).toEqual([bot]);
    // People are still found as before, and are not marked.
    const found = await search('dave');
    expect(found.map((p) => p.address)).toEqual([DAVE]);
    expect(found[0]).not.toHaveProperty('app');
  });

  it('finds a bot that can then be put in a group, where it posts with its token', async () => {
    const [found] = await search('Room Bookings');
    const group = await alice.createGroup('Room 101', [DAVE, found!.address]);
    const token = await botToken(gateway, rooms, eng.url);
    const bot = new AtriumBot({ nodeUrl: eng.localUrl, token: () => token });
    const ack = await bot.sendText({ conversationId: group.id }, 'Room 101 is booked 2–4 pm.');
    expect(ack.conversationId).toBe(group.id);
  });

  it('does not find the bot of an app turned off, or whose bot is', async () => {
    await setAppDisabled(asOperator(gateway), 'room-bookings', true);
    expect(await search('room')).toEqual([]);
    await setAppDisabled(asOperator(gateway), 'room-bookings', false);
    expect((await search('room')).map((p) => p.address)).toEqual([ROOMS]);
    await updateApp(asOperator(gateway), 'room-bookings', { botEnabled: false });
    expect(await search('room')).toEqual([]);
    await updateApp(asOperator(gateway), 'room-bookings', { botEnabled: true });
  });
});

describe('an app’s bot in a group', () => {
  it('cannot be made the owner or an admin: the node refuses, and nothing changes', async () => {
    const group = await alice.createGroup('Room 102', [DAVE, ROOMS]);
    const roles = async () =>
      Object.fromEntries((await alice.members(group.id)).members.map((m) => [m.address, m.role]));
    const before = await roles();
    expect(before[ROOMS]).toBe('member');

    for (const role of ['owner', 'admin'] as const) {
      await expect(alice.setRole(group.id, ROOMS, role)).rejects.toMatchObject({
        code: 'invalid_input',
        message: `Room Bookings is an app's bot: a bot cannot be ${role === 'owner' ? 'the owner' : 'an admin'} of a group`,
        fields: { member: "an app's bot: it can only be a member" },
      });
    }
    expect(await roles()).toEqual(before);
    const events = (await alice.history(group.id)).messages.map((m) => (m as { event?: string }).event);
    expect(events).not.toContain('member.role');

    // A person still can be, as before.
    await alice.setRole(group.id, DAVE, 'admin');
    expect((await roles())[DAVE]).toBe('admin');
  });

  it('is refused as owner though its app is turned off (it may be turned on again)', async () => {
    const group = await alice.createGroup('Room 103', [ROOMS]);
    await setAppDisabled(asOperator(gateway), 'room-bookings', true);
    try {
      // Past the node's app cache (REGISTRY_TTL_SECONDS): it hears the app is turned off.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      await expect(alice.setRole(group.id, ROOMS, 'owner')).rejects.toMatchObject({ code: 'invalid_input' });
    } finally {
      await setAppDisabled(asOperator(gateway), 'room-bookings', false);
    }
  });

  it('is marked as its app, with the app’s name, in every list of the group’s members; a person is not', async () => {
    type Listed = { address: string; role: string; app?: true; appName?: string };
    const byAddress = (members: Listed[]) => new Map(members.map((m) => [m.address, m]));
    const bot = { address: ROOMS, role: 'member', app: true, appName: 'Room Bookings' };
    const dave = await connectAs(gateway, eng, 'dave');
    const told: Listed[][] = [];
    dave.on('conversation', (c) => {
      if (c.title === 'Room 105') told.push(c.members);
    });
    try {
      const group = await alice.createGroup('Room 105', [DAVE, ROOMS]);
      // The creator's view, and the one each other member is sent.
      expect(byAddress(group.members).get(ROOMS)).toMatchObject(bot);
      expect(byAddress(group.members).get(DAVE)).not.toHaveProperty('app');
      await expect.poll(() => told.length).toBeGreaterThan(0);
      expect(byAddress(told[0]!).get(ROOMS)).toMatchObject(bot);
      // After a reload: the conversations read afresh, a page of members, the members over HTTP.
      const synced = (await dave.conversations()).find((c) => c.id === group.id)!;
      expect(byAddress(synced.members).get(ROOMS)).toMatchObject(bot);
      const page = byAddress((await alice.members(group.id)).members);
      expect(page.get(ROOMS)).toMatchObject(bot);
      expect(page.get(DAVE)).not.toHaveProperty('app');
      expect(page.get('alice@eng.campus.test')).not.toHaveProperty('appName');
      const response = await request(eng.server)
        .get(`/api/v1/conversations/${group.id}/members`)
        .set('authorization', `Bearer ${aliceToken}`);
      expect(response.status).toBe(200);
      expect(byAddress(response.body.members as Listed[]).get(ROOMS)).toMatchObject(bot);
      expect(byAddress(response.body.members as Listed[]).get(DAVE)).not.toHaveProperty('app');
    } finally {
      dave.close();
    }
  });

  it('is passed over when the owner leaves: ownership goes to a person, though the bot came first', async () => {
    // The bot is the group's first member after its owner (created with it), Dave joins later.
    const group = await alice.createGroup('Room 104', [ROOMS]);
    await alice.invite(group.id, [DAVE]);
    await alice.leave(group.id);
    const dave = await connectAs(gateway, eng, 'dave');
    try {
      const roles = Object.fromEntries((await dave.members(group.id)).members.map((m) => [m.address, m.role]));
      expect(roles).toEqual({ [DAVE]: 'owner', [ROOMS]: 'member' });
    } finally {
      dave.close();
    }
  });
});

describe('an app for one department', () => {
  const LAB = 'lab-bookings@eng.campus.test';
  const bots = (found: Found[]) => found.filter((p) => p.app).map((p) => p.address);
  let daveToken: string;
  /** The gateway's directory, asked as the Engineering node signs its requests. */
  const askAsEng = (params: Record<string, string>) =>
    askDirectory(
      { domain: 'eng.campus.test', gatewayIssuer: gateway.issuer, signingKey: eng.federation.keys.signingKey },
      params,
    );
  const subOf = async (username: string) =>
    (await gateway.context(null).models.User.findOne({ where: { username } }))!.id;

  beforeAll(async () => {
    // Registered by Engineering's unit admin for Electrical Engineering only: Computer Science cannot use it.
    await register(
      gateway,
      {
        name: 'Lab Bookings',
        slug: 'lab-bookings',
        ownerUnit: 'campus/eng',
        visibility: { units: ['campus/eng/ee'], roles: [] },
        redirectUris: ['http://localhost:9/cb'],
        botEnabled: true,
      },
      await actingAs(gateway, 'eng-admin'),
    );
    // A campus-wide app for History's people, whose bot the Engineering node may host.
    await register(gateway, {
      name: 'History Desk',
      slug: 'history-desk',
      visibility: { units: ['campus/arts/history'], roles: [] },
      redirectUris: ['http://localhost:9/cb'],
      botEnabled: true,
    });
    daveToken = await (await login(gateway, 'dave')).tokenFor(eng.url);
  });

  it('has its bot found by the people it is for, and by nobody else', async () => {
    expect(bots(await search('lab', daveToken))).toEqual([LAB]);
    expect(bots(await search(LAB, daveToken))).toEqual([LAB]);
    // Alice, of Computer Science, cannot sign in to it: she does not find its bot by any of its names.
    expect(bots(await search('lab'))).toEqual([]);
    expect(bots(await search('lab-bookings'))).toEqual([]);
    expect(bots(await search(LAB))).toEqual([]);
    // A campus-wide app's bot is still found by everyone.
    expect(bots(await search('room'))).toEqual([ROOMS]);
  });

  it('stays in a group someone it is for invited it into: the other members see it as a member', async () => {
    const dave = await connectAs(gateway, eng, 'dave');
    try {
      const group = await dave.createGroup('EE lab', ['alice@eng.campus.test', LAB]);
      // Marked once the node has read the new app's name (REGISTRY_TTL_SECONDS, here 1 s, after it was made).
      await expect
        .poll(async () => (await alice.members(group.id)).members.find((m) => m.address === LAB))
        .toMatchObject({ app: true, appName: 'Lab Bookings' });
    } finally {
      dave.close();
    }
  });

  it('is searched for the person a node names, only when that node serves them; a search naming nobody finds no bot', async () => {
    expect(bots(await askAsEng({ q: 'lab', for: await subOf('dave') }))).toEqual([LAB]);
    expect(bots(await askAsEng({ q: 'lab', for: await subOf('alice') }))).toEqual([]);
    // Bob, of History, may use History Desk, but the Engineering node does not serve him: it cannot search as him.
    expect(bots(await askAsEng({ q: 'history', for: await subOf('bob') }))).toEqual([]);
    expect(bots(await askAsEng({ q: 'room' }))).toEqual([]);
    // People are found as before.
    expect((await askAsEng({ q: 'dave' })).map((p) => p.address)).toEqual([DAVE]);
    await expect(askAsEng({ q: 'lab', for: 'dave' })).rejects.toMatchObject({ code: 'invalid_input' });
  });
});
