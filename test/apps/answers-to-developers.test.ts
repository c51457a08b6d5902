import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setAppDisabled } from '../../gateway/apps-registry/set-app-disabled.ts';
import { pinDomainKeys } from '../../gateway/federation/pin-domain.ts';
import type { DomainNode } from '../../node/main.ts';
import { AtriumBot } from '../../sdk/bot.ts';
import type { AtriumClient, Card } from '../../sdk/client.ts';
import { BrowserAgent, htmlText } from '../helpers/browser-agent.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNodeOn } from '../helpers/node.ts';
import { codeFlow, discover } from '../helpers/rp.ts';
import { api, asOperator, botToken, nodeApi, register } from './helpers.ts';

/**
 * What an app's developer is told when they get something wrong: each answer says what is wrong and what
 * to do, at the gateway (a disabled app, a token request, a token of the wrong kind) and at a chat node
 * (the bot API, card callbacks).
 */
const ALICE = 'alice@eng.campus.test';
const REDIRECT = 'http://localhost:9/room-booking-cb';

let gateway: TestGateway;
let db: TestDatabase;
let eng: DomainNode;
const logs: Record<string, unknown>[] = [];
let callbacks: Server;
/** What the app's callback answers the next click with. */
let answer: unknown = {};
let roomBooking: { clientId: string; clientSecret: string };
let bot: AtriumBot;
let botJwt: string;
let alice: AtriumClient;

beforeAll(async () => {
  gateway = await startTestGateway('answers-to-developers', { LOGIN_IP_LIMIT: '1000' });
  db = await createTestDatabase('eng');
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  eng = await startTestNodeOn(gateway, 'eng.campus.test', db, {}, { logger });
  await pinDomainKeys(asOperator(gateway), 'eng.campus.test');
  callbacks = createServer((req, res) => {
    req
      .resume()
      .on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer)));
  });
  await new Promise<void>((resolve) => callbacks.listen(0, '127.0.0.1', resolve));
  const app = await register(gateway, {
    name: 'Room Booking',
    slug: 'room-booking',
    redirectUris: [REDIRECT],
    interactionCallbackUrl: `http://127.0.0.1:${(callbacks.address() as AddressInfo).port}/atrium/callback`,
    botEnabled: true,
    firstParty: true,
  });
  roomBooking = { clientId: app.clientId, clientSecret: app.clientSecret! };
  botJwt = await botToken(gateway, roomBooking, eng.url);
  bot = new AtriumBot({ nodeUrl: eng.localUrl, token: () => botJwt });
  alice = await connectAs(gateway, eng, 'alice');
});
afterAll(async () => {
  alice?.close();
  await eng?.close();
  await db?.drop();
  await gateway?.stop();
  await new Promise((resolve) => callbacks?.close(resolve));
});

/** A raw token request of Room Booking's with `secret` (Basic, or in the body when `post`). */
async function tokenRequest(secret: string, params: Record<string, string>, post = false) {
  const body = new URLSearchParams(params);
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  if (post) {
    body.set('client_id', roomBooking.clientId);
    body.set('client_secret', secret);
  } else {
    const pair = `${encodeURIComponent(roomBooking.clientId)}:${encodeURIComponent(secret)}`;
    headers.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
  }
  const response = await fetch(`${gateway.issuer}/token`, { method: 'POST', headers, body });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const card = (actions: Card['actions'] = [{ id: 'book', label: 'Book' }]): Card => ({
  title: 'Lab 2, Friday 14:00',
  actions,
});

const warnings = (message: string) =>
  logs.filter((line) => line.level === 40 && line.msg === message && line.app === 'room-booking');

describe('the gateway, to an app developer', () => {
  it('refuses scope=im without resource as invalid_target naming resource, not with a token no node takes', async () => {
    const refused = await tokenRequest(roomBooking.clientSecret, { grant_type: 'client_credentials', scope: 'im' });
    expect(refused).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
    expect(refused.body.error_description).toContain('resource=');
    // Named, the node's token is issued as before.
    const named = await tokenRequest(roomBooking.clientSecret, {
      grant_type: 'client_credentials',
      scope: 'im',
      resource: eng.url,
    });
    expect(named).toMatchObject({ status: 200, body: { scope: 'im' } });
  });

  it("tells a chat node's token or a client-credentials token at the gateway's API what it is and which token to use", async () => {
    const asBot = await api(gateway, '/api/v1/workbench', botJwt);
    expect(asBot.status).toBe(401);
    expect(asBot.body.error.message).toContain(`This is a bot's token for the chat node ${eng.url}`);
    expect(asBot.body.error.message).toContain("a person's gateway access token");

    const rp = await discover(gateway.issuer, roomBooking.clientId, roomBooking.clientSecret);
    const { tokens } = await codeFlow(rp, REDIRECT, 'alice', { scope: 'openid im offline_access', resource: eng.url });
    const forNode = await client.refreshTokenGrant(rp, tokens.refresh_token!, { resource: eng.url });
    const asPerson = await api(gateway, '/api/admin/v1/apps', forNode.access_token);
    expect(asPerson.status).toBe(401);
    expect(asPerson.body.error.message).toContain(`This is a token for the chat node ${eng.url}`);

    const own = await tokenRequest(roomBooking.clientSecret, { grant_type: 'client_credentials' });
    const asApp = await api(gateway, '/api/v1/workbench', String(own.body.access_token));
    expect(asApp.status).toBe(401);
    expect(asApp.body.error.message).toContain("This is an app's own client-credentials token");
    // A token that is nothing of the gateway's is still just not valid.
    expect((await api(gateway, '/api/v1/workbench', 'made-up')).body.error.message).toContain(
      'unknown, expired or revoked',
    );
  });
});

describe('a chat node, to an app developer', () => {
  it('answers a bot post that is not JSON by saying the body must be JSON with Content-Type: application/json', async () => {
    const sent = await nodeApi(eng.localUrl, '/api/v1/bot/messages', botJwt, {
      method: 'POST',
      body: JSON.stringify({ to: ALICE, text: 'hello' }),
      headers: { 'content-type': 'text/plain' },
    });
    expect(sent).toMatchObject({ status: 415, body: { error: { code: 'unsupported_media_type' } } });
    expect(sent.body.error.message).toContain('Content-Type: application/json');
    // No body at all: the same, not "expected object, received undefined".
    const empty = await nodeApi(eng.localUrl, '/api/v1/bot/messages', botJwt, { method: 'POST' });
    expect(empty).toMatchObject({ status: 415, body: { error: { code: 'unsupported_media_type' } } });
    expect(empty.body.error.message).toContain('Content-Type: application/json');
  });

  it('refuses a card with buttons from an app without a callback URL, saying how to set one; takes one without', async () => {
    const app = await register(gateway, {
      name: 'Notice Board',
      slug: 'notice-board',
      redirectUris: ['http://localhost:9/cb'],
      botEnabled: true,
    });
    const board = new AtriumBot({ nodeUrl: eng.localUrl, token: await tokenOf(app) });
    await expect(board.sendCard({ to: ALICE }, card())).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringContaining('atrium apps update notice-board --callback-url'),
      fields: { 'card.actions': expect.stringContaining('interaction callback URL') },
    });
    const plain = await board.sendCard({ to: ALICE }, card([]));
    expect(plain.duplicate).toBe(false);
    await expect(board.updateCard(plain.messageId, card())).rejects.toMatchObject({ code: 'invalid_input' });
    // Links are opened by the client, never sent to the app: a card of links alone needs no callback URL.
    const links = await board.sendCard(
      { to: ALICE },
      { ...card([]), actions: [{ label: 'Open the board', url: 'https://board.campus.test/notices/7' }] },
    );
    expect(links.duplicate).toBe(false);
  });

  it("logs why an app's card answer was refused, and words a toast too long as such", async () => {
    const { messageId } = await bot.sendCard({ to: ALICE }, card());
    answer = { card: { title: '', actions: [{ id: 'no spaces allowed', label: 'x' }] } };
    await expect(alice.cardAction(messageId, 'book')).rejects.toMatchObject({
      code: 'callback_failed',
      message: 'Room Booking answered with an invalid card',
    });
    const [refused] = warnings('a card callback answer was refused');
    expect(refused?.issues).toEqual([
      expect.stringMatching(/^card\.title: /),
      expect.stringMatching(/^card\.actions\.0\.id: /),
    ]);

    answer = { card: card([]), toast: 'x'.repeat(501) };
    await expect(alice.cardAction(messageId, 'book')).rejects.toMatchObject({
      message: 'Room Booking answered with a toast longer than 500 characters',
    });

    // Bounded, whatever the app sends.
    answer = {
      card: { title: '', fields: Array.from({ length: 40 }, () => ({ label: '', value: 'y'.repeat(2000) })) },
    };
    await expect(alice.cardAction(messageId, 'book')).rejects.toMatchObject({ code: 'callback_failed' });
    const last = warnings('a card callback answer was refused').at(-1)!;
    expect((last.issues as string[]).length).toBeLessThanOrEqual(10);
    expect(JSON.stringify(last).length).toBeLessThan(4_000);
  });

  it('takes a card answer with fields it does not know, as before, and names them in a warning', async () => {
    const { messageId } = await bot.sendCard({ to: ALICE }, card());
    answer = { ok: true, card: { ...card([]), colour: 'green' }, toast: 'Booked.' };
    expect(await alice.cardAction(messageId, 'book')).toMatchObject({ toast: 'Booked.', updated: true });
    const dropped = warnings('a card callback answer had fields it does not take; they were dropped').at(-1);
    expect(new Set(dropped?.issues as string[])).toEqual(
      new Set(['(answer): unknown fields ok', 'card: unknown fields colour']),
    );
  });
});

describe('a disabled app', () => {
  it('tells the app itself, with its right secret, that it is turned off; a wrong secret still looks wrong', async () => {
    await setAppDisabled(asOperator(gateway), 'room-booking', true);
    const request = { grant_type: 'client_credentials', scope: 'im', resource: eng.url };
    for (const post of [false, true]) {
      expect(await tokenRequest(roomBooking.clientSecret, request, post)).toEqual({
        status: 401,
        body: { error: 'invalid_client', error_description: 'the app is turned off at the gateway' },
      });
      expect(await tokenRequest(`${roomBooking.clientSecret}x`, request, post)).toEqual({
        status: 401,
        body: { error: 'invalid_client', error_description: 'client authentication failed' },
      });
    }
    // Nor does a caller asking for a page instead of JSON learn more with a wrong secret.
    const asPage = await fetch(`${gateway.issuer}/token`, {
      method: 'POST',
      headers: { accept: 'text/html' },
      body: new URLSearchParams({ ...request, client_id: roomBooking.clientId, client_secret: 'wrong' }),
    });
    expect(asPage.status).toBe(401);
    expect(await asPage.text()).not.toContain('turned off');
  });

  it('shows people sent to sign in to it a page saying their administrators turned it off', async () => {
    const rp = await discover(gateway.issuer, roomBooking.clientId, roomBooking.clientSecret);
    const url = client.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const page = await new BrowserAgent().navigate(url.toString(), {}, REDIRECT);
    expect(page.status).toBe(403);
    expect(htmlText(page.html)).toContain('Room Booking has been turned off by your campus administrators');
    expect(page.html).not.toContain('invalid_client');
    await setAppDisabled(asOperator(gateway), 'room-booking', false);
  });
});

function tokenOf(app: { clientId: string; clientSecret?: string | null }) {
  const registered = { clientId: app.clientId, clientSecret: app.clientSecret! };
  return botToken(gateway, registered, eng.url).then((token) => () => token);
}
