import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CALLBACK_HEADERS, callbackSignature } from '../../protocol/callback-signature.ts';
import { CallbackRejected, createCallbackVerifier, type CardCallback } from '../../protocol/verify-callback.ts';
import { disableApp, enableApp } from '../../gateway/apps-registry/set-app-disabled.ts';
import { updateApp } from '../../gateway/apps-registry/update-app.ts';
import { pinDomainKeys } from '../../gateway/federation/pin-domain.ts';
import { AtriumBot } from '../../sdk/bot.ts';
import type { Card, Message } from '../../sdk/client.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type Login, type TestNode } from '../helpers/node.ts';
import { freePort } from '../helpers/ports.ts';
import { asOperator, botToken, register } from './helpers.ts';

const ALICE = 'alice@eng.campus.test';
const DAVE = 'dave@eng.campus.test';
const ROOMS = 'rooms@eng.campus.test';

type Received = { headers: IncomingHttpHeaders; body: string; event?: CardCallback; rejected?: string };
/** What the app answers next (JSON, or written by hand); by default a card saying who decided. */
type Answer = { status: number; body?: unknown } | { write: (res: ServerResponse) => void };
let answer: (event: CardCallback) => Answer = (event) => ({
  status: 200,
  body: { card: decided(event) },
});
const received: Received[] = [];

const request: Card = {
  title: 'Room booking: Lab 2, Friday 14:00',
  text: 'Requested by Alice Chen',
  fields: [{ label: 'Purpose', value: 'Robotics <club> & friends' }],
  actions: [
    { id: 'approve', label: 'Approve', style: 'primary' },
    { id: 'reject', label: 'Reject', style: 'danger' },
  ],
};
const decided = (event: CardCallback): Card => ({
  title: request.title,
  text: `${event.actionId === 'approve' ? 'Approved' : 'Rejected'} by ${event.user.name}`,
  fields: request.fields!,
  actions: [],
});

let gateway: TestGateway;
let eng: TestNode;
let app: Server;
let appUrl: string;
let callbackSecret: string;
let bot: AtriumBot;
type Device = Awaited<ReturnType<typeof device>>;
let alice: Device;
let aliceTablet: Device;
let dave: Device;
let carol: Device;

async function device(username: string, login?: Login) {
  const sdk = await connectAs(gateway, eng, username, login);
  const d = Object.assign(sdk, { messages: [] as Message[] });
  d.on('message', (m) => d.messages.push(m));
  return d;
}

/** The app's callback endpoint: verifies every click with the project's verifier, then answers. */
function startApp(): Promise<Server> {
  const verify = createCallbackVerifier({ secret: () => callbackSecret });
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const entry: Received = { headers: req.headers, body };
      received.push(entry);
      verify({ headers: req.headers, body }).then(
        (event) => {
          entry.event = event;
          const next = answer(event);
          if ('write' in next) return next.write(res);
          const { status, body: out } = next;
          res
            .writeHead(status, { 'content-type': 'application/json' })
            .end(out === undefined ? '' : JSON.stringify(out));
        },
        (error: CallbackRejected) => {
          entry.rejected = error.reason;
          res.writeHead(401).end();
        },
      );
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

beforeAll(async () => {
  gateway = await startTestGateway('cards', { LOGIN_IP_LIMIT: '1000' });
  eng = await startTestNode(gateway, 'eng.campus.test');
  await pinDomainKeys(asOperator(gateway), 'eng.campus.test');
  app = await startApp();
  appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  const rooms = await register(gateway, {
    name: 'Room Bookings',
    slug: 'rooms',
    redirectUris: ['http://localhost:9/cb'],
    interactionCallbackUrl: `${appUrl}/atrium/callback`,
    botEnabled: true,
  });
  callbackSecret = rooms.callbackSecret!;
  const token = await botToken(gateway, rooms, eng.url);
  bot = new AtriumBot({ nodeUrl: eng.localUrl, token: () => token });
  alice = await device('alice');
  [aliceTablet, dave, carol] = await Promise.all([device('alice', alice.login), device('dave'), device('carol')]);
});
afterAll(async () => {
  for (const d of [alice, aliceTablet, dave, carol]) d?.close();
  await eng?.stop();
  await gateway?.stop();
  await new Promise((r) => app?.close(r));
});

async function cardInGroup() {
  const group = await alice.createGroup(`Lab bookings ${received.length}`, [DAVE]);
  await alice.invite(group.id, [ROOMS]);
  const ack = await bot.sendCard({ conversationId: group.id }, request);
  await expect
    .poll(() => dave.messages.find((m) => m.id === ack.messageId))
    .toMatchObject({ kind: 'card', card: request, sender: ROOMS, senderName: 'Room Bookings' });
  return { group, messageId: ack.messageId };
}

describe('an interactive card', () => {
  it("sends a click to the app signed, and the app's answer updates the card on every member's devices", async () => {
    const { group, messageId } = await cardInGroup();
    const result = await dave.cardAction(messageId, 'approve');
    expect(result).toMatchObject({ messageId, actionId: 'approve', updated: true });

    const call = received.at(-1)!;
    expect(call.rejected).toBeUndefined();
    expect(call.event).toMatchObject({
      messageId,
      conversationId: group.id,
      actionId: 'approve',
      user: { address: DAVE, name: 'Dave Okafor' },
      app: 'rooms',
      nonce: expect.any(String),
    });
    expect(call.headers[CALLBACK_HEADERS.signature]).toBe(
      callbackSignature(callbackSecret, String(call.headers[CALLBACK_HEADERS.timestamp]), call.body),
    );

    const expected = {
      kind: 'card.update',
      refId: messageId,
      sender: ROOMS,
      card: { title: request.title, text: 'Approved by Dave Okafor', actions: [] },
    };
    for (const d of [alice, aliceTablet, dave])
      await expect
        .poll(() => d.messages.find((m) => m.kind === 'card.update' && m.refId === messageId))
        .toMatchObject(expected);
    // History shows the card itself as it is now.
    const stored = (await alice.history(group.id)).messages.find((m) => m.id === messageId);
    expect(stored).toMatchObject({
      kind: 'card',
      card: { text: 'Approved by Dave Okafor', actions: [] },
      editedAt: expect.any(String),
    });
    // The card no longer offers the action.
    await expect(alice.cardAction(messageId, 'approve')).rejects.toMatchObject({ code: 'unknown_action' });
  });

  it('refuses a click by someone outside the conversation, and an action the card does not offer', async () => {
    const { messageId } = await cardInGroup();
    const calls = received.length;
    await expect(carol.cardAction(messageId, 'approve')).rejects.toMatchObject({ code: 'not_member' });
    await expect(dave.cardAction(messageId, 'delete-everything')).rejects.toMatchObject({ code: 'unknown_action' });
    const text = (await alice.send({ to: DAVE, text: 'not a card' })).messageId;
    await expect(dave.cardAction(text, 'approve')).rejects.toMatchObject({ code: 'invalid_input' });
    expect(received.length).toBe(calls);
  });

  it('sends the app no click once its bot was removed from the group, and leaves the card as it was', async () => {
    const { group, messageId } = await cardInGroup();
    await alice.removeMember(group.id, ROOMS);
    const calls = received.length;
    await expect(dave.cardAction(messageId, 'approve')).rejects.toMatchObject({ code: 'app_unavailable' });
    expect(received.length).toBe(calls);
    const stored = (await alice.history(group.id)).messages.find((m) => m.id === messageId);
    expect(stored).toMatchObject({ card: request, editedAt: null });
  });

  it('tells the person who clicked when the app fails, and leaves the card as it was', async () => {
    const { group, messageId } = await cardInGroup();
    answer = () => ({ status: 500, body: { error: 'database down' } });
    await expect(dave.cardAction(messageId, 'reject')).rejects.toMatchObject({
      code: 'callback_failed',
      message: expect.stringContaining('HTTP 500'),
    });
    answer = () => ({ status: 200, body: { card: { title: '', actions: 'nonsense' } } });
    await expect(dave.cardAction(messageId, 'reject')).rejects.toMatchObject({
      code: 'callback_failed',
      message: expect.stringContaining('invalid card'),
    });
    // An answer with only a toast reaches the clicker and changes nothing for the others.
    answer = () => ({ status: 200, body: { toast: 'Already handled by someone else' } });
    expect(await dave.cardAction(messageId, 'reject')).toMatchObject({
      updated: false,
      toast: 'Already handled by someone else',
    });
    const stored = (await alice.history(group.id)).messages.find((m) => m.id === messageId);
    expect(stored).toMatchObject({ card: request, editedAt: null });
    answer = (event) => ({ status: 200, body: { card: decided(event) } });
  });

  it('tells the person who clicked when the app answers with too much, and reads no more of it', async () => {
    const { group, messageId } = await cardInGroup();
    let sent = 0;
    let closed!: Promise<void>;
    // An answer that never ends: the node must stop it, not hold it all until the click times out.
    answer = () => ({
      write: (res) => {
        closed = new Promise((resolve) => res.on('close', resolve));
        res.writeHead(200, { 'content-type': 'application/json' }).write('{"toast":"');
        const chunk = 'x'.repeat(16 * 1024);
        const pump = () => {
          while (!res.destroyed && sent < 256 * 1024 * 1024 && res.write(chunk)) sent += chunk.length;
        };
        res.on('drain', pump);
        pump();
      },
    });
    try {
      await expect(dave.cardAction(messageId, 'approve')).rejects.toMatchObject({
        code: 'callback_failed',
        message: expect.stringContaining('too much'),
      });
      await closed;
      expect(sent).toBeLessThan(32 * 1024 * 1024);
      const stored = (await alice.history(group.id)).messages.find((m) => m.id === messageId);
      expect(stored).toMatchObject({ card: request, editedAt: null });
    } finally {
      answer = (event) => ({ status: 200, body: { card: decided(event) } });
    }
  });

  it('tells the person who clicked when the app breaks off its answer halfway', async () => {
    const { messageId } = await cardInGroup();
    answer = () => ({
      write: (res) => {
        res.writeHead(200, { 'content-type': 'application/json' }).write('{"toast":"Approved, and');
        setTimeout(() => res.destroy(), 20);
      },
    });
    try {
      await expect(dave.cardAction(messageId, 'approve')).rejects.toMatchObject({
        code: 'callback_failed',
        message: expect.stringContaining('did not finish its answer'),
      });
    } finally {
      answer = (event) => ({ status: 200, body: { card: decided(event) } });
    }
  });

  it('tells the person who clicked that the app may have acted when its answer never came, and nothing was done only when it was not reached', async () => {
    const { messageId } = await cardInGroup();
    const click = () => dave.cardAction(messageId, 'approve');
    const held: ServerResponse[] = [];
    // The node's 10 s deadline, shortened: the app has the click and is still at it.
    const timeout = AbortSignal.timeout.bind(AbortSignal);
    const shortened = vi.spyOn(AbortSignal, 'timeout').mockImplementation((ms) => timeout(ms === 10_000 ? 300 : ms));
    answer = () => ({ write: (res) => held.push(res) });
    try {
      await expect(click()).rejects.toMatchObject({
        code: 'callback_failed',
        message: 'Room Bookings did not answer within 10 s; it may or may not have acted on this click',
      });
      expect(held).toHaveLength(1);
      shortened.mockRestore();
      // The app closes the connection without an answer.
      answer = () => ({ write: (res) => res.destroy() });
      await expect(click()).rejects.toMatchObject({
        code: 'callback_failed',
        message: 'Room Bookings gave no answer; it may or may not have acted on this click',
      });
      // Nothing listens where the clicks go: the click never left the node.
      const calls = received.length;
      const nowhere = `http://127.0.0.1:${await freePort()}/atrium/callback`;
      await updateApp(asOperator(gateway), 'rooms', { interactionCallbackUrl: nowhere });
      await expect(click()).rejects.toMatchObject({
        code: 'callback_failed',
        message: 'Room Bookings could not be reached; nothing was done',
      });
      expect(received.length).toBe(calls);
    } finally {
      shortened.mockRestore();
      for (const res of held) res.destroy();
      await updateApp(asOperator(gateway), 'rooms', { interactionCallbackUrl: `${appUrl}/atrium/callback` });
      answer = (event) => ({ status: 200, body: { card: decided(event) } });
    }
  });

  it('reaches an app on this machine by its host name where the operator allows it, as outside production', async () => {
    const desk = await register(gateway, {
      name: 'Front Desk',
      slug: 'front-desk',
      redirectUris: ['http://localhost:9/cb'],
      interactionCallbackUrl: `${appUrl.replace('127.0.0.1', 'localhost')}/atrium/callback`,
      botEnabled: true,
    });
    const token = await botToken(gateway, desk, eng.url);
    const deskBot = new AtriumBot({ nodeUrl: eng.localUrl, token: () => token });
    const group = await alice.createGroup('Front desk', [DAVE]);
    await alice.invite(group.id, ['front-desk@eng.campus.test']);
    const { messageId } = await deskBot.sendCard({ conversationId: group.id }, request);
    const roomsSecret = callbackSecret;
    callbackSecret = desk.callbackSecret!;
    try {
      expect(await dave.cardAction(messageId, 'approve')).toMatchObject({ messageId, updated: true });
      expect(received.at(-1)!.event).toMatchObject({ app: 'front-desk', actionId: 'approve' });
    } finally {
      callbackSecret = roomsSecret;
    }
  });

  it('sends no click on a card its bot sent someone the app is no longer for, and writes no answer of it there', async () => {
    // The bot opened this conversation with Alice; then the app is narrowed to staff (Alice is a student).
    const ack = await bot.sendCard({ to: ALICE }, request);
    await expect.poll(() => alice.messages.find((m) => m.id === ack.messageId)).toMatchObject({ card: request });
    const narrow = () => updateApp(asOperator(gateway), 'rooms', { visibility: { units: [], roles: ['staff'] } });
    const widen = () => updateApp(asOperator(gateway), 'rooms', { visibility: { units: [], roles: [] } });
    const unchanged = async () => {
      const shown = await alice.history(ack.conversationId);
      expect(shown.messages.map((m) => m.kind)).toEqual(['card']);
      expect(shown.messages[0]).toMatchObject({ card: request, editedAt: null });
    };
    await narrow();
    try {
      const calls = received.length;
      await expect(alice.cardAction(ack.messageId, 'approve')).rejects.toMatchObject({
        code: 'app_unavailable',
        message:
          'Room Bookings is no longer available to you (your campus administrators changed whom it is for); nothing was sent to it.',
      });
      expect(received.length).toBe(calls);
      // Nor may the bot change that card itself.
      await expect(bot.updateCard(ack.messageId, { ...request, actions: [] })).rejects.toMatchObject({
        code: 'forbidden',
      });
      await unchanged();
      // Narrowed while the app answers the click: the app heard it, but its new card is not written.
      await widen();
      answer = (event) => ({
        write: (res) => {
          void narrow().then(() =>
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ card: decided(event) })),
          );
        },
      });
      await expect(alice.cardAction(ack.messageId, 'approve')).rejects.toMatchObject({
        code: 'app_unavailable',
        message: expect.stringContaining('its answer to your click was not shown'),
      });
      expect(received.length).toBe(calls + 1);
      await unchanged();
    } finally {
      answer = (event) => ({ status: 200, body: { card: decided(event) } });
      await widen();
    }
  });

  it('writes no answer of an app turned off while it answered the click', async () => {
    const { group, messageId } = await cardInGroup();
    const calls = received.length;
    answer = (event) => ({
      write: (res) => {
        void disableApp(asOperator(gateway), 'rooms').then(() =>
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ card: decided(event) })),
        );
      },
    });
    try {
      await expect(dave.cardAction(messageId, 'approve')).rejects.toMatchObject({
        code: 'app_unavailable',
        message:
          'Room Bookings has been turned off by your campus administrators; its answer to your click was not shown.',
      });
      // The app heard the click, but the card stays as it was for everyone.
      expect(received.length).toBe(calls + 1);
      const shown = await alice.history(group.id);
      expect(shown.messages.filter((m) => m.kind === 'card.update')).toEqual([]);
    } finally {
      answer = (event) => ({ status: 200, body: { card: decided(event) } });
      await enableApp(asOperator(gateway), 'rooms');
    }
  });

  it('lets the bot itself update its card for everyone', async () => {
    const { messageId } = await cardInGroup();
    const cancelled = { title: request.title, text: 'Cancelled: the lab is closed on Friday', fields: [], actions: [] };
    await bot.updateCard(messageId, cancelled);
    await expect
      .poll(() => dave.messages.find((m) => m.kind === 'card.update' && m.refId === messageId)?.card)
      .toMatchObject(cancelled);
    // Not somebody else's message.
    const text = await alice.send({ to: DAVE, text: 'mine' });
    await expect(bot.updateCard(text.messageId, cancelled)).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('the callback verifier', () => {
  const secret = 'a-callback-secret-of-an-app-0123456789';
  const event = {
    messageId: 'm',
    conversationId: 'c',
    actionId: 'approve',
    user: { address: DAVE, name: 'Dave' },
    app: 'rooms',
  };
  const signed = (body: string, timestamp: string, key = secret) => ({
    headers: {
      [CALLBACK_HEADERS.timestamp]: timestamp,
      [CALLBACK_HEADERS.signature]: callbackSignature(key, timestamp, body),
    },
    body,
  });
  const now = () => Math.floor(Date.now() / 1000);
  const body = (timestamp: number, nonce = 'n0nce-0123456789abcdef') => JSON.stringify({ ...event, timestamp, nonce });
  const reason = (p: Promise<unknown>) =>
    p.then(
      () => 'accepted',
      (e: CallbackRejected) => e.reason,
    );

  it('accepts a genuine callback once and refuses its replay', async () => {
    const verify = createCallbackVerifier({ secret });
    const ts = now();
    expect(await verify(signed(body(ts), String(ts)))).toMatchObject({
      actionId: 'approve',
      nonce: 'n0nce-0123456789abcdef',
    });
    expect(await reason(verify(signed(body(ts), String(ts))))).toBe('replayed');
  });

  it('refuses a forged signature, a changed body, a stale timestamp and a missing signature', async () => {
    const verify = createCallbackVerifier({ secret });
    const ts = now();
    expect(await reason(verify(signed(body(ts, 'nonce-forged-00000001'), String(ts), 'not-the-secret')))).toBe(
      'bad_signature',
    );
    const genuine = signed(body(ts, 'nonce-changed-0000001'), String(ts));
    expect(await reason(verify({ ...genuine, body: genuine.body.replace('approve', 'reject') }))).toBe('bad_signature');
    const old = now() - 301;
    expect(await reason(verify(signed(body(old, 'nonce-stale-000000001'), String(old))))).toBe('stale');
    expect(await reason(verify({ headers: {}, body: body(ts, 'nonce-unsigned-000001') }))).toBe('unsigned');
    // A body whose timestamp differs from the signed header is refused too.
    expect(await reason(verify(signed(body(ts - 10, 'nonce-mismatch-000001'), String(ts))))).toBe('malformed');
  });

  it('refuses a replay of a real callback from the node', async () => {
    const { messageId } = await cardInGroup();
    await dave.cardAction(messageId, 'reject');
    const captured = received.at(-1)!;
    expect(captured.event).toBeDefined();
    const replay = await fetch(`${appUrl}/atrium/callback`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [CALLBACK_HEADERS.timestamp]: String(captured.headers[CALLBACK_HEADERS.timestamp]),
        [CALLBACK_HEADERS.signature]: String(captured.headers[CALLBACK_HEADERS.signature]),
      },
      body: captured.body,
    });
    expect(replay.status).toBe(401);
    expect(received.at(-1)!.rejected).toBe('replayed');
  });
});
