import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { setAppDisabled } from '../../gateway/apps-registry/set-app-disabled.ts';
import { updateApp } from '../../gateway/apps-registry/update-app.ts';
import { pinDomainKeys } from '../../gateway/federation/pin-domain.ts';
import { createBotReach } from '../../node/bots/bot-reach.ts';
import { AtriumBot } from '../../sdk/bot.ts';
import { AtriumClient, type Message } from '../../sdk/client.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import { asOperator, botToken, nodeApi, register } from './helpers.ts';

const ALICE = 'alice@eng.campus.test';
const DAVE = 'dave@eng.campus.test';
const HELPDESK = 'helpdesk@eng.campus.test';

let gateway: TestGateway;
let eng: TestNode;
type Device = Awaited<ReturnType<typeof device>>;
let alice: Device;
let dave: Device;
let token: string;
let bot: AtriumBot;
let helpdesk: Awaited<ReturnType<typeof register>>;

async function device(username: string) {
  const sdk = await connectAs(gateway, eng, username);
  const d = Object.assign(sdk, { messages: [] as Message[] });
  d.on('message', (m) => d.messages.push(m));
  return d;
}

beforeAll(async () => {
  gateway = await startTestGateway('bots', { LOGIN_IP_LIMIT: '1000' });
  // A short app cache, so that disabling an app reaches the node within the test; and a bot's pace that a
  // test reaches quickly (the other bots here write far fewer times).
  eng = await startTestNode(gateway, 'eng.campus.test', { REGISTRY_TTL_SECONDS: '1', BOT_WRITES_PER_MINUTE: '50' });
  await pinDomainKeys(asOperator(gateway), 'eng.campus.test');
  helpdesk = await register(gateway, {
    name: 'IT Helpdesk',
    slug: 'helpdesk',
    redirectUris: ['http://localhost:9/cb'],
    botEnabled: true,
  });
  token = await botToken(gateway, helpdesk, eng.url);
  bot = new AtriumBot({ nodeUrl: eng.localUrl, token: () => token });
  [alice, dave] = await Promise.all([device('alice'), device('dave')]);
});
afterAll(async () => {
  alice?.close();
  dave?.close();
  await eng?.stop();
  await gateway?.stop();
});

describe('a bot', () => {
  it('is slug@domain on the node, named after its app', async () => {
    expect(await bot.me()).toEqual({ address: HELPDESK, kind: 'app', domain: 'eng.campus.test' });
  });

  it('writes to a person of its domain in a direct conversation, as its app', async () => {
    const ack = await bot.sendText({ to: ALICE }, 'Your laptop is ready for pickup.');
    await expect
      .poll(() => alice.messages.find((m) => m.id === ack.messageId))
      .toMatchObject({
        sender: HELPDESK,
        senderName: 'IT Helpdesk',
        senderKind: 'bot',
        kind: 'text',
        text: 'Your laptop is ready for pickup.',
      });
    const [conversation] = (await bot.conversations()).filter((c) => c.id === ack.conversationId);
    expect(conversation?.members.map((m) => m.address).sort()).toEqual([ALICE, HELPDESK]);
    // Alice answers in the same conversation, which the bot then reads.
    await alice.send({ conversationId: ack.conversationId, text: 'Thanks!' });
    expect((await bot.history(ack.conversationId)).messages.map((m) => m.text)).toEqual([
      'Thanks!',
      'Your laptop is ready for pickup.',
    ]);
  });

  it('posts into a group only once it has been invited, and a retry with the same id posts once', async () => {
    const group = await alice.createGroup('Lab 3', [DAVE]);
    await expect(bot.sendText({ conversationId: group.id }, 'hello?')).rejects.toMatchObject({ code: 'not_member' });
    await alice.invite(group.id, [HELPDESK]);
    const first = await bot.sendText({ conversationId: group.id }, 'Printer fixed.', 'printer-fixed-1');
    const retry = await bot.sendText({ conversationId: group.id }, 'Printer fixed.', 'printer-fixed-1');
    expect(retry).toMatchObject({ messageId: first.messageId, duplicate: true });
    await expect
      .poll(() =>
        dave.messages.filter((m) => m.conversationId === group.id && m.sender === HELPDESK).map((m) => m.text),
      )
      .toEqual(['Printer fixed.']);

    // Removed again, it is refused again.
    await alice.removeMember(group.id, HELPDESK);
    await expect(bot.sendText({ conversationId: group.id }, 'still here?')).rejects.toMatchObject({
      code: 'not_member',
    });
  });

  it('cannot change a card it posted into a group once it has been removed from that group', async () => {
    const group = await alice.createGroup('Lab 7', [DAVE]);
    await alice.invite(group.id, [HELPDESK]);
    const card = await bot.sendCard({ conversationId: group.id }, { title: 'Build passed', fields: [], actions: [] });
    await alice.removeMember(group.id, HELPDESK);
    const before = await eng.models.Message.count({ where: { conversationId: group.id } });

    const lure = { title: 'URGENT: re-enter your password at https://evil.example', fields: [], actions: [] };
    await expect(bot.updateCard(card.messageId, lure)).rejects.toMatchObject({ code: 'not_member' });
    expect(await eng.models.Message.count({ where: { conversationId: group.id } })).toBe(before);
    const shown = (await alice.history(group.id)).messages.find((m) => m.id === card.messageId);
    expect(shown).toMatchObject({ card: { title: 'Build passed' }, editedAt: null });
  });

  it('is refused, as people are, when it writes to an address nobody has, and opens no conversation', async () => {
    const before = await eng.models.Conversation.count();
    const refused = await nodeApi(eng.localUrl, '/api/v1/bot/messages', token, {
      method: 'POST',
      body: { to: 'nobody@eng.campus.test', text: 'Your ticket is closed.' },
    });
    expect(refused).toMatchObject({
      status: 422,
      body: { error: { code: 'unknown_address', fields: { to: expect.stringContaining('nobody@eng.campus.test') } } },
    });
    expect(await eng.models.Conversation.count()).toBe(before);
  });

  it('is refused outside its domain and with bad input, field by field', async () => {
    await expect(bot.sendText({ to: 'bob@arts.campus.test' }, 'hi')).rejects.toMatchObject({
      code: 'invalid_input',
      fields: { to: expect.stringContaining('eng.campus.test') },
    });
    // A group this node does not hold (another college's, say): where to post instead.
    await expect(bot.sendText({ conversationId: randomUUID() }, 'hi')).rejects.toMatchObject({
      code: 'not_found',
      message: expect.stringContaining(
        'No such conversation on this node (eng.campus.test). A group of another college is on its own node: post there as helpdesk@<that domain>',
      ),
    });
    const bad = await nodeApi(eng.localUrl, '/api/v1/bot/messages', token, {
      method: 'POST',
      body: { to: ALICE, text: 'a', card: { title: 'b' } },
    });
    expect(bad).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_input', fields: { text: 'give either text or a card' } } },
    });
    const badCard = await nodeApi(eng.localUrl, '/api/v1/bot/messages', token, {
      method: 'POST',
      body: {
        to: ALICE,
        card: {
          title: '',
          actions: [
            { id: 'a b', label: 'x' },
            { id: 'ok', label: 'y'.repeat(61) },
          ],
        },
      },
    });
    expect(badCard.body.error.fields).toMatchObject({
      'card.title': 'a card needs a title',
      'card.actions.0.id': expect.any(String),
      'card.actions.1.label': 'at most 60 characters',
    });

    // A field the bot API does not have is named, as on a socket, and nothing is posted or changed.
    const posted = await bot.sendCard({ to: DAVE }, { title: 'Ticket 12', fields: [], actions: [] });
    const messages = await eng.models.Message.count();
    const unknown = [
      ['POST', '/api/v1/bot/messages', { to: ALICE, text: 'hi', extra: 1 }, { extra: 'unknown field' }],
      [
        'POST',
        '/api/v1/bot/messages',
        { to: ALICE, card: { title: 'T', actions: [{ id: 'ok', label: 'OK', stlye: 'primary' }] } },
        { 'card.actions.0.stlye': 'unknown field' },
      ],
      [
        'PATCH',
        `/api/v1/bot/messages/${posted.messageId}`,
        { card: { title: 'Ticket 12 closed', colour: 'red' }, extra: true },
        { 'card.colour': 'unknown field', extra: 'unknown field' },
      ],
    ] as const;
    for (const [method, path, body, fields] of unknown) {
      expect(await nodeApi(eng.localUrl, path, token, { method, body })).toEqual({
        status: 400,
        body: { error: { code: 'invalid_input', message: expect.stringMatching(/^Unknown fields?: /), fields } },
      });
    }
    expect(await eng.models.Message.count()).toBe(messages);
  });

  it("cannot use the people's write endpoints or write on a socket, and people cannot use the bot API", async () => {
    const { conversationId } = await bot.sendText({ to: DAVE }, 'ping');
    const asPerson = await nodeApi(eng.localUrl, `/api/v1/conversations/${conversationId}/messages`, token, {
      method: 'POST',
      body: { clientMsgId: 'bot-as-person-1', text: 'x' },
    });
    expect(asPerson).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });

    const socket = new AtriumClient({ url: `${eng.localUrl.replace(/^http/, 'ws')}/ws`, token: () => token });
    await socket.connect();
    expect((await socket.conversations()).length).toBeGreaterThan(0);
    await expect(socket.send({ conversationId, text: 'over the socket' })).rejects.toMatchObject({ code: 'forbidden' });
    socket.close();

    const daveToken = await dave.login.tokenFor(eng.url);
    const personAsBot = await nodeApi(eng.localUrl, '/api/v1/bot/messages', daveToken, {
      method: 'POST',
      body: { to: ALICE, text: 'I am a bot' },
    });
    expect(personAsBot).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
  });

  it('falls silent once its app is disabled, even with a token issued before', async () => {
    await setAppDisabled(asOperator(gateway), 'helpdesk', true);
    await new Promise((r) => setTimeout(r, 1_100));
    await expect(bot.sendText({ to: ALICE }, 'anyone?')).rejects.toMatchObject({ code: 'client_disabled' });
    await setAppDisabled(asOperator(gateway), 'helpdesk', false);
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await bot.sendText({ to: ALICE }, 'back again')).duplicate).toBe(false);
  });
});

describe("the bot of a unit's app", () => {
  const ITSEC = 'it-security@eng.campus.test';
  let itsec: AtriumBot;
  let itsecToken: string;
  let aliceDirect: string;
  const fromItsec = (d: Device) => d.messages.filter((m) => m.sender === ITSEC).map((m) => m.text);

  beforeAll(async () => {
    // Computer Science's app: its bot gets tokens for eng.campus.test, the node serving CS's parent unit
    // (and Electrical Engineering, Dave's). Its name is free text.
    const app = await register(gateway, {
      name: 'IT Security',
      slug: 'it-security',
      ownerUnit: 'campus/eng/cs',
      redirectUris: ['http://localhost:9/cb'],
      botEnabled: true,
    });
    itsecToken = await botToken(gateway, app, eng.url);
    itsec = new AtriumBot({ nodeUrl: eng.localUrl, token: () => itsecToken });
  });

  it('writes to people of its unit, and is refused for anyone else on the node, with nothing created', async () => {
    aliceDirect = (await itsec.sendText({ to: ALICE }, 'Your CS account is ready.')).conversationId;
    const before = await eng.models.Conversation.count();
    const refused = await nodeApi(eng.localUrl, '/api/v1/bot/messages', itsecToken, {
      method: 'POST',
      body: { to: DAVE, text: 'Re-enter your password at https://evil.example' },
    });
    expect(refused).toMatchObject({
      status: 403,
      body: {
        error: {
          code: 'forbidden',
          message: expect.stringContaining('IT Security is not for'),
          fields: { to: expect.stringContaining(DAVE) },
        },
      },
    });
    expect(await eng.models.Conversation.count()).toBe(before);
    await expect.poll(() => fromItsec(alice)).toEqual(['Your CS account is ready.']);
    expect(fromItsec(dave)).toEqual([]);
  });

  it('cannot search the people directory', async () => {
    const refused = await nodeApi(eng.localUrl, '/api/v1/directory?q=dave', itsecToken);
    expect(refused).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    expect(JSON.stringify(refused.body)).not.toContain('Dave Okafor');
  });

  it('still writes where people let it in: a group it was invited to, and a conversation a person opened', async () => {
    const group = await alice.createGroup('CS and EE', [DAVE]);
    await alice.invite(group.id, [ITSEC]);
    await itsec.sendText({ conversationId: group.id }, 'Patch night tonight.');
    const asked = await dave.openDirect(ITSEC);
    expect((await itsec.sendText({ to: DAVE }, 'Here is the guide you asked for.')).conversationId).toBe(asked.id);
    await expect
      .poll(() => fromItsec(dave).sort())
      .toEqual(['Here is the guide you asked for.', 'Patch night tonight.']);
  });

  it('is refused in a conversation it opened once its app is no longer for that person', async () => {
    // The app is narrowed to staff; the node learns it within its cache time (1 s here, moved rather than waited).
    await updateApp(asOperator(gateway), 'it-security', { visibility: { units: [], roles: ['staff'] } });
    eng.clock.advance(1_100);
    try {
      await expect(itsec.sendText({ conversationId: aliceDirect }, 'one more thing')).rejects.toMatchObject({
        code: 'forbidden',
        fields: { conversationId: expect.stringContaining(ALICE) },
      });
      await expect(itsec.sendText({ to: ALICE }, 'one more thing')).rejects.toMatchObject({ code: 'forbidden' });
      // Dave opened his conversation with the bot himself: that stays his choice.
      expect((await itsec.sendText({ to: DAVE }, 'still here for you')).duplicate).toBe(false);
    } finally {
      eng.clock.reset();
    }
  });

  it('no longer reads a conversation it opened once its app is no longer for that person, who keeps it whole', async () => {
    // Still narrowed to staff (above): Alice, a student, is left out; what she says there is for her alone now.
    eng.clock.advance(1_100);
    try {
      const file = await alice.upload(new TextEncoder().encode('my new password'), 'password.txt', 'text/plain');
      await alice.send({ conversationId: aliceDirect, text: 'Here it is', attachments: [file.id] });
      const path = `/api/v1/conversations/${aliceDirect}`;
      for (const read of [`${path}/messages`, `${path}/members`]) {
        expect(await nodeApi(eng.localUrl, read, itsecToken), read).toMatchObject({
          status: 403,
          body: { error: { code: 'forbidden', fields: { conversationId: expect.stringContaining(ALICE) } } },
        });
      }
      expect(await nodeApi(eng.localUrl, `/api/v1/attachments/${file.id}`, itsecToken)).toMatchObject({
        status: 404,
      });
      const listed = (await itsec.conversations()).map((c) => c.id);
      expect(listed).not.toContain(aliceDirect);
      // Where people let it in, it reads as before: Dave's conversation with it, the group Alice invited it to.
      expect(listed).toContain((await dave.openDirect(ITSEC)).id);
      expect(listed).toHaveLength(2);
      // Alice's copy is hers as it was: the bot's message and her own, with her file.
      const hers = (await alice.history(aliceDirect)).messages;
      expect(hers.map((m) => m.text)).toEqual(['Here it is', 'Your CS account is ready.']);
      expect(hers[0]?.attachments?.map((a) => a.id)).toEqual([file.id]);
    } finally {
      eng.clock.reset();
    }
  });
});

describe("a bot's pace", () => {
  let notices: AtriumBot;
  let noticesToken: string;
  let card: Awaited<ReturnType<AtriumBot['sendCard']>>;

  beforeAll(async () => {
    const app = await register(gateway, {
      name: 'Term Notices',
      slug: 'term-notices',
      redirectUris: ['http://localhost:9/cb'],
      botEnabled: true,
    });
    noticesToken = await botToken(gateway, app, eng.url);
    notices = new AtriumBot({ nodeUrl: eng.localUrl, token: () => noticesToken });
  });

  it('is BOT_WRITES_PER_MINUTE posts and card updates: past it, 429 rate_limited with Retry-After, nothing stored', async () => {
    card = await notices.sendCard({ to: ALICE }, { title: 'Term starts Monday', fields: [], actions: [] });
    const before = await eng.models.Message.count();
    const post = (i: number) =>
      fetch(`${eng.localUrl}/api/v1/bot/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${noticesToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ to: DAVE, text: `Notice ${i}` }),
      });
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => post(i)));
    // 50 a minute, the card above among them: however the 60 interleave, each is counted once.
    expect(answers.filter((a) => a.status === 201)).toHaveLength(49);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused).toHaveLength(11);
    for (const answer of refused) {
      expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(answer.headers.get('retry-after'))).toBeLessThanOrEqual(60);
      expect(await answer.json()).toMatchObject({
        error: { code: 'rate_limited', message: expect.stringContaining('50 times a minute') },
      });
    }
    expect(await eng.models.Message.count()).toBe(before + 49);

    // A card update counts alike, and is refused alike: the card stays as it was.
    const update = await nodeApi(eng.localUrl, `/api/v1/bot/messages/${card.messageId}`, noticesToken, {
      method: 'PATCH',
      body: { card: { title: 'Term starts Tuesday', fields: [], actions: [] } },
    });
    expect(update).toMatchObject({ status: 429, body: { error: { code: 'rate_limited' } } });
    const shown = (await alice.history(card.conversationId)).messages.find((m) => m.id === card.messageId);
    expect(shown).toMatchObject({ card: { title: 'Term starts Monday' }, editedAt: null });
    expect(await eng.models.Message.count()).toBe(before + 49);
    // Each bot counts for itself.
    expect((await bot.sendText({ to: DAVE }, 'Helpdesk is open')).duplicate).toBe(false);
  });

  it('makes the SDK wait as the node says and try once more, or say how long to wait', async () => {
    const NOTICES = 'term-notices@eng.campus.test';
    const impatient = new AtriumBot({ nodeUrl: eng.localUrl, token: () => noticesToken, maxRateLimitWaitMs: 0 });
    // The minute the test above used up may have ended on a slow machine: used up again if so (to Dave).
    let refusal: { code: string; retryAfterMs: number } | undefined;
    for (let i = 0; i <= 50 && !refusal; i += 1)
      refusal = await impatient.sendText({ to: DAVE }, `Filler ${i}`).then(
        () => undefined,
        (error: unknown) => error as { code: string; retryAfterMs: number },
      );
    expect(refusal).toMatchObject({ code: 'rate_limited', retryAfterMs: expect.any(Number) });
    expect(refusal!.retryAfterMs).toBeGreaterThanOrEqual(1_000);
    expect(refusal!.retryAfterMs).toBeLessThanOrEqual(60_000);

    // The node's minute moved on to its last seconds: the bot is told to wait, waits, and is let through.
    eng.clock.advance(Math.max(0, refusal!.retryAfterMs - 3_000));
    try {
      const statuses: number[] = [];
      const patient = new AtriumBot({
        nodeUrl: eng.localUrl,
        token: () => noticesToken,
        fetch: async (input, init) => {
          const response = await fetch(input, init);
          statuses.push(response.status);
          return response;
        },
      });
      const ack = await patient.sendText({ to: ALICE }, 'Library closes early');
      expect(statuses).toEqual([429, 201]);
      await expect
        .poll(() => alice.messages.filter((m) => m.sender === NOTICES && m.kind === 'text').map((m) => m.text))
        .toEqual(['Library closes early']);
      expect(ack.conversationId).toBe(card.conversationId);
    } finally {
      eng.clock.reset();
    }
  });
});

describe("a node's word on whom an app is for", () => {
  it("keeps the last answer for the bot's reads while the gateway is away, never for its writes, nor after the app's change", async () => {
    // A stand-in for the gateway's answer: the app is for Alice.
    const gatewayStandIn = createServer((_req, res) =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ person: { username: 'alice', appIsFor: true } })),
    );
    await new Promise<void>((resolve) => gatewayStandIn.listen(0, '127.0.0.1', resolve));
    let now = 0;
    const reach = createBotReach({
      gatewayIssuer: `http://127.0.0.1:${(gatewayStandIn.address() as AddressInfo).port}`,
      origin: 'eng.campus.test',
      signingKey: () => eng.federation.keys.signingKey(),
      ttlMs: 1_000,
      logger: createLogger('bot-reach', 'silent'),
      now: () => now,
    });
    expect(await reach.isFor('helpdesk', 'alice')).toBe(true);
    await new Promise((resolve) => gatewayStandIn.close(resolve));
    now += 2_000;

    await expect(reach.isFor('helpdesk', 'alice')).rejects.toMatchObject({ code: 'gateway_unavailable', status: 503 });
    expect(await reach.isFor('helpdesk', 'alice', { lastIfAway: true })).toBe(true);
    reach.forget('helpdesk');
    await expect(reach.isFor('helpdesk', 'alice', { lastIfAway: true })).rejects.toMatchObject({
      code: 'gateway_unavailable',
    });
  });
});
