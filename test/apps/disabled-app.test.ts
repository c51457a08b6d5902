import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setAppDisabled } from '../../gateway/apps-registry/set-app-disabled.ts';
import { updateApp } from '../../gateway/apps-registry/update-app.ts';
import { updateDomain } from '../../gateway/domains/domains.ts';
import { pinDomainKeys } from '../../gateway/federation/pin-domain.ts';
import type { DomainNode } from '../../node/main.ts';
import { AtriumBot } from '../../sdk/bot.ts';
import { AtriumClient, type Message } from '../../sdk/client.ts';
import { filledFormWithAction, mainText, submitFilled, type Page } from '../helpers/browser-agent.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { freePort } from '../helpers/federation.ts';
import { signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, startTestNodeOn, type TestNode } from '../helpers/node.ts';
import { codeFlow, discover } from '../helpers/rp.ts';
import { asOperator, botToken, nodeApi, register } from './helpers.ts';

const REDIRECT = 'http://localhost:9/timetable-cb';
const ALICE = 'alice@eng.campus.test';

let gateway: TestGateway;
let eng: TestNode;
let timetable: { slug: string; clientId: string; clientSecret: string };
let token: string;

beforeAll(async () => {
  gateway = await startTestGateway('disabled-app', { LOGIN_IP_LIMIT: '1000' });
  // The node asks the gateway about clients every second here (REGISTRY_TTL_SECONDS), not every 30 s.
  eng = await startTestNode(gateway, 'eng.campus.test', { REGISTRY_TTL_SECONDS: '1' });
  await pinDomainKeys(asOperator(gateway), 'eng.campus.test');
  const app = await register(gateway, {
    name: 'Timetable',
    slug: 'timetable',
    redirectUris: [REDIRECT],
    firstParty: true,
  });
  timetable = { slug: 'timetable', clientId: app.clientId, clientSecret: app.clientSecret! };
  // Alice signs in to the app, which asks for a token for the chat node (to post her timetable changes).
  const rp = await discover(gateway.issuer, timetable.clientId, timetable.clientSecret);
  const { tokens } = await codeFlow(rp, REDIRECT, 'alice', {
    scope: 'openid im offline_access',
    prompt: 'consent',
    resource: eng.url,
  });
  token = (await client.refreshTokenGrant(rp, tokens.refresh_token!, { resource: eng.url })).access_token;
});
afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
});

const me = (bearer: string) => fetch(`${eng.url}/api/v1/me`, { headers: { authorization: `Bearer ${bearer}` } });

describe('a disabled app', () => {
  it("loses its people's node tokens within the node's cache time: its sockets close, new ones and HTTP calls are refused", async () => {
    const first = await me(token);
    expect(first.status).toBe(200);
    const socket = new AtriumClient({
      url: `${eng.localUrl.replace(/^http/, 'ws')}/ws`,
      token: () => token,
      backoff: { initialMs: 50, maxMs: 500 },
    });
    await socket.connect();
    const portalUser = await connectAs(gateway, eng, 'dave');
    const ended = socket.once('ended', () => true, 15_000);

    await setAppDisabled(asOperator(gateway), timetable.slug, true);
    await expect.poll(async () => (await me(token)).status, { timeout: 10_000 }).toBe(401);
    expect(await (await me(token)).json()).toMatchObject({ error: { code: 'client_disabled' } });
    expect(await ended).toEqual({ code: 4403, reason: 'client_disabled' });
    expect(socket.state).toBe('closed');
    // Reconnecting cannot help (the close is final), and the portal's people are not touched.
    await expect(
      new AtriumClient({ url: `${eng.localUrl.replace(/^http/, 'ws')}/ws`, token: () => token }).connect(),
    ).rejects.toMatchObject({ code: 'client_disabled' });
    expect(portalUser.state).toBe('online');
    portalUser.close();

    await setAppDisabled(asOperator(gateway), timetable.slug, false);
    await expect.poll(async () => (await me(token)).status, { timeout: 10_000 }).toBe(200);
  });

  it("silences its bot's reads as well as its posts: the bot's node token is refused and its sockets close", async () => {
    const { bot, token, conversationId } = await botWithAConversation('snoop');
    const socket = socketWith(token);
    await socket.connect();
    const ended = socket.once('ended', () => true, 15_000);

    await setAppDisabled(asOperator(gateway), 'snoop', true);
    const history = `/api/v1/conversations/${conversationId}/messages`;
    await expect.poll(async () => (await nodeApi(eng.localUrl, history, token)).status, { timeout: 10_000 }).toBe(401);
    for (const path of ['/api/v1/conversations', history, `/api/v1/conversations/${conversationId}/members`]) {
      expect(await nodeApi(eng.localUrl, path, token), path).toMatchObject({
        status: 401,
        body: { error: { code: 'client_disabled' } },
      });
    }
    await expect(bot.sendText({ to: ALICE }, 'still here?')).rejects.toMatchObject({ code: 'client_disabled' });
    expect(await ended).toEqual({ code: 4403, reason: 'client_disabled' });
    await expect(socketWith(token).connect()).rejects.toMatchObject({ code: 'client_disabled' });

    await setAppDisabled(asOperator(gateway), 'snoop', false);
    await expect.poll(async () => (await nodeApi(eng.localUrl, history, token)).status, { timeout: 10_000 }).toBe(200);
  });
});

describe('an app whose bot is turned off', () => {
  it("has its bot's node token refused, reads included, while the app itself stays enabled", async () => {
    const { token, conversationId } = await botWithAConversation('pollster');
    const history = `/api/v1/conversations/${conversationId}/messages`;

    await updateApp(asOperator(gateway), 'pollster', { botEnabled: false });
    await expect.poll(async () => (await nodeApi(eng.localUrl, history, token)).status, { timeout: 10_000 }).toBe(401);
    expect((await nodeApi(eng.localUrl, history, token)).body).toMatchObject({ error: { code: 'client_disabled' } });
  });
});

/** An app with a bot, its node token, and a conversation with Alice in which she has answered the bot. */
async function botWithAConversation(slug: string) {
  const app = await register(gateway, {
    name: slug,
    slug,
    redirectUris: ['http://localhost:9/cb'],
    botEnabled: true,
  });
  const token = await botToken(gateway, app, eng.url);
  const bot = new AtriumBot({ nodeUrl: eng.localUrl, token: () => token });
  const { conversationId } = await bot.sendText({ to: ALICE }, 'hello');
  const alice = await connectAs(gateway, eng, 'alice');
  await alice.send({ conversationId, text: 'my private reply' });
  alice.close();
  expect(await nodeApi(eng.localUrl, `/api/v1/conversations/${conversationId}/messages`, token)).toMatchObject({
    status: 200,
  });
  return { bot, token, conversationId };
}

const socketWith = (token: string, node: { localUrl: string } = eng) =>
  new AtriumClient({
    url: `${node.localUrl.replace(/^http/, 'ws')}/ws`,
    token: () => token,
    backoff: { initialMs: 50, maxMs: 500 },
  });

describe('an app disabled in the console, on a domain of two processes that keep what the gateway says for 5 minutes', () => {
  const BOB = 'bob@arts.campus.test';
  let db: TestDatabase;
  let first: DomainNode;
  let second: DomainNode;
  let callbacks: Server;
  let clicks = 0;
  let bot: AtriumBot;
  let bob: AtriumClient & { messages: Message[] };

  beforeAll(async () => {
    // The app's callback: counts the clicks that reach it and takes each one.
    callbacks = createServer((req, res) => {
      clicks += 1;
      req
        .resume()
        .on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"toast":"Noted."}'));
    });
    await new Promise<void>((resolve) => callbacks.listen(0, '127.0.0.1', resolve));
    // Arts as two processes behind the first one's URL, sharing the database and Redis; each keeps what the
    // gateway says of an app, and checks the clients of its sockets, every REGISTRY_TTL_SECONDS (5 minutes
    // here: nothing below may wait for that), and polls ended access every 15 s.
    db = await createTestDatabase('arts-disabled-app');
    const port = await freePort();
    const shared = {
      NODE_PUBLIC_URL: `http://127.0.0.1:${port}`,
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_PREFIX: `test-${randomBytes(4).toString('hex')}`,
      REGISTRY_TTL_SECONDS: '300',
    };
    first = await startTestNodeOn(gateway, 'arts.campus.test', db, { ...shared, NODE_PORT: String(port) });
    second = await startTestNodeOn(gateway, 'arts.campus.test', db, shared);
    await updateDomain(asOperator(gateway), 'arts.campus.test', { url: shared.NODE_PUBLIC_URL });
    await pinDomainKeys(asOperator(gateway), 'arts.campus.test');

    const app = await register(gateway, {
      name: 'Leave Desk',
      slug: 'leave-desk',
      redirectUris: ['http://localhost:9/cb'],
      interactionCallbackUrl: `http://127.0.0.1:${(callbacks.address() as AddressInfo).port}/atrium/callback`,
      botEnabled: true,
    });
    const token = await botToken(gateway, app, first.url);
    // The bot and Bob both use the second process, which the gateway never tells anything directly.
    bot = new AtriumBot({ nodeUrl: second.localUrl, token: () => token });
    const socket = await connectAs(gateway, second, 'bob');
    bob = Object.assign(socket, { messages: [] as Message[] });
    bob.on('message', (m) => bob.messages.push(m));
  });
  afterAll(async () => {
    bob?.close();
    await first?.close();
    await second?.close();
    await db?.drop();
    await new Promise((resolve) => callbacks?.close(resolve));
  });

  /** Presses the app's Disable or Enable button in the console; the notice the page then shows. */
  async function pressInConsole(action: 'disable' | 'enable', slug = 'leave-desk'): Promise<string> {
    const { agent } = await signInToConsole(gateway.issuer, 'admin');
    const page: Page = await agent.navigate(`${gateway.issuer}/admin/apps/${slug}`);
    const done = await submitFilled(agent, page, filledFormWithAction(page, `/admin/apps/${slug}/${action}`), {
      ...(action === 'disable' ? { understood: 'yes' } : {}),
    });
    return mainText(done);
  }

  it('takes no card click and no bot message from the moment the console says so, and both work again once enabled', async () => {
    const { messageId } = await bot.sendCard(
      { to: BOB },
      { title: 'Leave request', actions: [{ id: 'approve', label: 'Approve' }] },
    );
    await expect.poll(() => bob.messages.some((m) => m.id === messageId)).toBe(true);
    // The node now keeps the gateway's word on the app, for 30 s.
    expect(await bob.cardAction(messageId, 'approve')).toMatchObject({ toast: 'Noted.' });
    expect(clicks).toBe(1);

    expect(await pressInConsole('disable')).toContain(
      'Disabled Leave Desk: it is off every workbench, nobody can sign in to it, and the chat nodes take no more messages from its bot and send it no more card clicks.',
    );
    await expect(bob.cardAction(messageId, 'approve')).rejects.toMatchObject({
      code: 'app_unavailable',
      message: 'Leave Desk has been turned off by your campus administrators; nothing was sent to it.',
    });
    expect(clicks).toBe(1);
    await expect(bot.sendText({ to: BOB }, 'still here?')).rejects.toMatchObject({ code: 'client_disabled' });

    expect(await pressInConsole('enable')).toContain(
      'Enabled Leave Desk: it is back on the workbench of the people it is for, and they can sign in to it again; its bot and its card buttons work again.',
    );
    expect(await bob.cardAction(messageId, 'approve')).toMatchObject({ toast: 'Noted.' });
    expect(clicks).toBe(2);
    expect((await bot.sendText({ to: BOB }, 'back again')).duplicate).toBe(false);
  });

  it("refuses its bot's very next post to someone a narrowed visibility leaves out", async () => {
    const app = await register(gateway, {
      name: 'Room Finder',
      slug: 'room-finder',
      redirectUris: ['http://localhost:9/cb'],
      botEnabled: true,
    });
    const token = await botToken(gateway, app, first.url);
    const finder = new AtriumBot({ nodeUrl: second.localUrl, token: () => token });
    // Campus-wide: the bot may write to Bob, and the node now keeps that answer for 30 s.
    const { conversationId } = await finder.sendText({ to: BOB }, 'Room 2.14 is free at noon.');

    await updateApp(asOperator(gateway), 'room-finder', { visibility: { units: ['campus/eng'], roles: [] } });
    await expect(finder.sendText({ conversationId }, 'And 3.01 at two.')).rejects.toMatchObject({
      code: 'forbidden',
      fields: { conversationId: expect.stringContaining(BOB) },
    });
    await expect(finder.sendText({ to: BOB }, 'And 3.01 at two.')).rejects.toMatchObject({ code: 'forbidden' });
  });

  /**
   * A new app's bot reading on a socket of the second process, in a direct conversation it opened with Bob;
   * the texts it hears there.
   */
  async function botReading(slug: string) {
    const app = await register(gateway, {
      name: slug,
      slug,
      redirectUris: ['http://localhost:9/cb'],
      botEnabled: true,
    });
    const token = await botToken(gateway, app, first.url);
    const opened = await new AtriumBot({ nodeUrl: second.localUrl, token: () => token }).sendText(
      { to: BOB },
      'Hi Bob',
    );
    const socket = Object.assign(socketWith(token, second), { heard: [] as (string | undefined)[] });
    socket.on('message', (m) => socket.heard.push(m.text));
    await socket.connect();
    await bob.send({ conversationId: opened.conversationId, text: 'Hi bot' });
    await expect.poll(() => socket.heard).toContain('Hi bot');
    return { socket: Object.assign(socket, { token }), conversationId: opened.conversationId };
  }

  it("closes its bot's open socket within seconds, and the bot hears nothing said in its conversations after", async () => {
    const { socket, conversationId } = await botReading('minutes');
    const ended = socket.once('ended', () => true, 15_000).then((close) => ({ close, at: Date.now() }));

    await pressInConsole('disable', 'minutes');
    const saidAt = Date.now();
    const { close, at } = await ended;
    expect(close).toEqual({ code: 4403, reason: 'client_disabled' });
    expect(at - saidAt).toBeLessThan(2_000);
    // Bob's phone says something more; his device on the bot's process hears it, the bot does not.
    const phone = await connectAs(gateway, second, 'bob');
    await phone.send({ conversationId, text: 'The minutes are confidential.' });
    phone.close();
    await expect.poll(() => bob.messages.map((m) => m.text)).toContain('The minutes are confidential.');
    expect(socket.heard).not.toContain('The minutes are confidential.');
    expect(socket.state).toBe('closed');
  });

  it('closes within seconds the sockets people opened with node tokens it got for them, and no other socket of theirs', async () => {
    const app = await register(gateway, {
      name: 'Notebook',
      slug: 'notebook',
      redirectUris: [REDIRECT],
      firstParty: true,
    });
    // Bob signs in to the app, which gets a token for the Arts node on his behalf and reads his chats with it.
    const rp = await discover(gateway.issuer, app.clientId, app.clientSecret!);
    const { tokens } = await codeFlow(rp, REDIRECT, 'bob', {
      scope: 'openid im offline_access',
      prompt: 'consent',
      resource: first.url,
    });
    const bobsToken = (await client.refreshTokenGrant(rp, tokens.refresh_token!, { resource: first.url })).access_token;
    const throughApp = socketWith(bobsToken, second);
    await throughApp.connect();
    const ended = throughApp.once('ended', () => true, 15_000).then((close) => ({ close, at: Date.now() }));

    await pressInConsole('disable', 'notebook');
    const saidAt = Date.now();
    const { close, at } = await ended;
    expect(close).toEqual({ code: 4403, reason: 'client_disabled' });
    expect(at - saidAt).toBeLessThan(2_000);
    expect(throughApp.state).toBe('closed');
    // His own device (the portal's token) is not the app's: it stays, and hears what is said to him.
    expect(bob.state).toBe('online');
    await bot.sendText({ to: BOB }, 'Your leave starts Monday.');
    await expect.poll(() => bob.messages.map((m) => m.text)).toContain('Your leave starts Monday.');
  });

  it("leaves its bot's socket open when it is only edited; narrowed, its bot stops reading what it opened with those left out", async () => {
    const { socket, conversationId } = await botReading('agenda');
    const AGENDA = 'agenda@arts.campus.test';
    // Bob also asks the bot into a group of his own: that he chose.
    const group = await bob.createGroup('Committee', [AGENDA]);

    await updateApp(asOperator(gateway), 'agenda', {
      name: 'Agenda Keeper',
      visibility: { units: ['campus/eng'], roles: [] },
    });
    // Time enough for each process to hear of the change and ask the gateway about the app again.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await bob.send({ conversationId, text: 'Item 3 moved to Friday.' });
    await bob.send({ conversationId: group.id, text: 'Item 4 stays.' });
    await expect.poll(() => socket.heard).toContain('Item 4 stays.');
    expect(socket.heard).not.toContain('Item 3 moved to Friday.');
    expect(socket.state).toBe('online');
    // Nor does the bot read that conversation by asking, on either process, nor get it from a first sync.
    await expect(socket.history(conversationId)).rejects.toMatchObject({ code: 'forbidden' });
    await expect(socket.members(conversationId)).rejects.toMatchObject({ code: 'forbidden' });
    expect((await socket.conversations()).map((c) => c.id)).toEqual([group.id]);
    const again = Object.assign(socketWith(socket.token, first), { texts: [] as string[] });
    again.on('message', (m) => m.text && again.texts.push(m.text));
    await again.connect();
    await expect.poll(() => again.texts).toContain('Item 4 stays.');
    expect(again.texts).toEqual(['Item 4 stays.']);
    again.close();
    socket.close();
    // Bob keeps the whole of it.
    expect((await bob.history(conversationId)).messages.map((m) => m.text)).toEqual([
      'Item 3 moved to Friday.',
      'Hi bot',
      'Hi Bob',
    ]);
  });
});
