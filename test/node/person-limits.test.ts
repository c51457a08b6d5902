import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPerson, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, login, startTestNode, type TestNode } from '../helpers/node.ts';
import { frameId, openRaw, openSignedIn, type RawSocket } from '../helpers/raw-socket.ts';

/*
 * What one person may do on a node, whichever way they ask: low allowances here so that a few requests
 * reach them. The node's clock runs with the machine's until a test moves it on.
 */
const LIMITS = {
  MESSAGES_PER_SECOND: '1',
  MESSAGE_BURST: '5',
  SOCKETS_PER_PERSON: '3',
  SEARCHES_PER_MINUTE: '3',
  DIRECTORY_SEARCHES_PER_MINUTE: '3',
  GROUP_CREATIONS_PER_HOUR: '3',
  WEBHOOKS_PER_GROUP: '2',
  WEBHOOK_CREATIONS_PER_HOUR: '5',
};
const DAVE = 'dave@eng.campus.test';

let gateway: TestGateway;
let eng: TestNode;

beforeAll(async () => {
  gateway = await startTestGateway('person-limits');
  for (const username of ['mira', 'noor', 'olek', 'pia', 'quinn', 'rosa']) await addPerson(gateway, username);
  eng = await startTestNode(gateway, 'eng.campus.test', LIMITS);
});
afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
});

const tokenOf = async (username: string) => (await login(gateway, username)).tokenFor(eng.url);

/** A request to the node's HTTP API with `token`; the body read as JSON. */
async function api(token: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${eng.localUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: (await response.json()) as Record<string, any>,
  };
}

/** Sends a frame on a raw socket and waits for its answer. */
async function ask(raw: RawSocket, frame: Record<string, unknown>) {
  const id = frameId();
  raw.send({ v: 1, id, ...frame });
  return raw.next((f) => f.re === id);
}

const storedFrom = (sender: string) => eng.models.Message.count({ where: { sender, kind: 'text' } });

describe("a person's messages", () => {
  it('keep the order they were sent in when the allowance refuses some: none overtakes one refused', async () => {
    const rosa = await connectAs(gateway, eng, 'rosa');
    try {
      const direct = await rosa.openDirect(DAVE);
      // Eight at once on an allowance of five: three are refused, and sent again when the SDK is told.
      const texts = Array.from({ length: 8 }, (_, i) => `step ${i + 1}`);
      const acks = await Promise.all(texts.map((text) => rosa.send({ conversationId: direct.id, text })));
      const stored = await eng.models.Message.findAll({
        where: { conversationId: direct.id, kind: 'text' },
        order: [['seq', 'ASC']],
      });
      expect(stored.map((m) => JSON.parse(m.body).text)).toEqual(texts);
      expect(acks.map((a) => a.seq)).toEqual(stored.map((m) => m.seq));
    } finally {
      rosa.close();
    }
  }, 20_000);

  it('share one allowance over every socket and the HTTP API; past it each way is refused, saying when, and nothing is stored', async () => {
    const token = await tokenOf('mira');
    const [laptop, phone, third] = [
      await openSignedIn(eng.localUrl, token),
      await openSignedIn(eng.localUrl, token),
      await openSignedIn(eng.localUrl, token),
    ];
    const dave = await openSignedIn(eng.localUrl, await tokenOf('dave'));
    const { conversation } = await ask(dave, { type: 'direct.open', peer: 'mira@eng.campus.test' });
    const conversationId = (conversation as { id: string }).id;
    const send = (raw: RawSocket, n: number) =>
      ask(raw, { type: 'send', conversationId, clientMsgId: `mira-${n}-x`, text: `hi ${n}` });
    const post = (n: number) =>
      api(token, 'POST', `/conversations/${conversationId}/messages`, { clientMsgId: `mira-${n}-h`, text: `hi ${n}` });

    // Five at once, from three places: the burst.
    expect((await send(laptop, 1)).type).toBe('ack');
    expect((await send(phone, 2)).type).toBe('ack');
    expect((await post(3)).status).toBe(201);
    expect((await send(third, 4)).type).toBe('ack');
    expect((await post(5)).status).toBe(201);

    // A sixth is refused however it comes: another socket brings no allowance of its own.
    for (const raw of [laptop, phone, third]) {
      expect(await send(raw, 6)).toMatchObject({
        type: 'error',
        code: 'rate_limited',
        retryAfterMs: expect.any(Number),
        message: expect.stringContaining('at most 1 message a second'),
      });
    }
    const refused = await post(6);
    expect(refused).toMatchObject({ status: 429, body: { error: { code: 'rate_limited' } } });
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    // Someone else's allowance is their own.
    expect((await send(dave, 7)).type).toBe('ack');
    expect(await storedFrom('mira@eng.campus.test')).toBe(5);

    // Not a moment before the pause she was told is over (a message then could overtake the refused ones)…
    eng.clock.advance(1_000);
    expect((await post(7)).status).toBe(429);
    // …and then she sends again.
    eng.clock.advance(Number(refused.retryAfter) * 1000);
    expect((await post(7)).status).toBe(201);
    for (const raw of [laptop, phone, third, dave]) raw.socket.close();
  });

  it('a flood of HTTP sends at once gets through only as far as the burst', async () => {
    const token = await tokenOf('noor');
    const group = await api(token, 'POST', '/conversations', { title: 'Flood', members: [DAVE] });
    const id = group.body.conversation.id as string;
    const started = Date.now();
    const statuses = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        api(token, 'POST', `/conversations/${id}/messages`, { clientMsgId: `flood-${i}-noor`, text: `spam ${i}` }).then(
          (r) => r.status,
        ),
      ),
    );
    // The burst, and what came back (one a second) while the flood lasted.
    const taken = statuses.filter((s) => s === 201).length;
    expect(taken).toBeGreaterThanOrEqual(5);
    expect(taken).toBeLessThanOrEqual(5 + Math.ceil((Date.now() - started) / 1000));
    expect(statuses.filter((s) => s !== 201).every((s) => s === 429)).toBe(true);
  });
});

describe("a person's sockets", () => {
  it('are at most SOCKETS_PER_PERSON: one more is told why and closed with 4429, and the open ones go on', async () => {
    const token = await tokenOf('pia');
    const open = [
      await openSignedIn(eng.localUrl, token),
      await openSignedIn(eng.localUrl, token),
      await openSignedIn(eng.localUrl, token),
    ];
    const extra = await openRaw(eng.localUrl, ['atrium.v1', `atrium.token.${token}`]);
    expect(await extra.next((f) => f.type === 'error')).toMatchObject({
      code: 'too_many_sockets',
      message: expect.stringContaining('3 connections open'),
    });
    expect(await extra.closed).toEqual({ code: 4429, reason: 'too_many_sockets' });
    expect(extra.frames.some((f) => f.type === 'ready')).toBe(false);
    for (const raw of open) expect((await ask(raw, { type: 'ping' })).type).toBe('pong');
    // Another person is not counted with pia; and once one of hers closes, she may open another.
    await openSignedIn(eng.localUrl, await tokenOf('dave')).then((raw) => raw.socket.close());
    open[0]!.socket.close();
    await open[0]!.closed;
    const again = await openSignedIn(eng.localUrl, token);
    expect((await ask(again, { type: 'ping' })).type).toBe('pong');
    for (const raw of [...open, again]) raw.socket.close();
  });
});

describe("a person's searches", () => {
  it('are at most SEARCHES_PER_MINUTE on every socket together; the SDK is told at once and its sends go on', async () => {
    const quinn = await connectAs(gateway, eng, 'quinn');
    const raw = await openSignedIn(eng.localUrl, await quinn.login.tokenFor(eng.url));
    for (const query of ['lab', 'report']) expect(await quinn.search(query)).toEqual([]);
    expect((await ask(raw, { type: 'search', query: 'exam' })).type).toBe('search.result');
    expect(await ask(raw, { type: 'search', query: 'again' })).toMatchObject({
      type: 'error',
      code: 'rate_limited',
      message: expect.stringContaining('At most 3 searches a minute'),
    });
    const started = Date.now();
    await expect(quinn.search('more')).rejects.toMatchObject({
      code: 'rate_limited',
      retryAfterMs: expect.any(Number),
    });
    // Refused for most of a minute: the SDK does not hold the socket's other frames that long.
    const { id } = await quinn.openDirect(DAVE);
    await quinn.send({ conversationId: id, text: 'still here' });
    expect(Date.now() - started).toBeLessThan(3_000);
    eng.clock.advance(60_000);
    expect(await quinn.search('lab')).toEqual([]);
    raw.socket.close();
    quinn.close();
  });
});

describe("a person's people searches", () => {
  it('are at most DIRECTORY_SEARCHES_PER_MINUTE by name; looking up names already held is not counted', async () => {
    const token = await tokenOf('rosa');
    for (const q of ['mira', 'noor', 'olek']) {
      const found = await api(token, 'GET', `/directory?q=${q}`);
      expect(found.status).toBe(200);
      expect(found.body.people.map((p: { username: string }) => p.username)).toEqual([q]);
    }
    const refused = await api(token, 'GET', '/directory?q=pia');
    expect(refused.status).toBe(429);
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    expect(refused.body.error).toMatchObject({
      code: 'rate_limited',
      message: expect.stringContaining('At most 3 people searches a minute'),
    });
    // The portal's lookups of the names of people it already shows go on.
    const lookup = await api(token, 'GET', '/directory?usernames=pia,quinn');
    expect(lookup.status).toBe(200);
    expect(lookup.body.people).toHaveLength(2);
    // Another person's allowance is their own.
    expect((await api(await tokenOf('pia'), 'GET', '/directory?q=rosa')).status).toBe(200);
    eng.clock.advance(60_000);
    expect((await api(token, 'GET', '/directory?q=pia')).status).toBe(200);
  });
});

describe("a person's new groups", () => {
  it('are at most GROUP_CREATIONS_PER_HOUR, on a socket and over HTTP; a retry of one made is not another', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const token = await alice.login.tokenFor(eng.url);
    const first = await alice.createGroup('URGENT from the dean 1', [DAVE], 'dean-group-0001');
    await alice.createGroup('URGENT from the dean 2', [DAVE]);
    expect(
      (await api(token, 'POST', '/conversations', { title: 'URGENT from the dean 3', members: [DAVE] })).status,
    ).toBe(201);
    // The same create again (a lost answer) answers with the group made, and counts nothing.
    expect((await alice.createGroup('URGENT from the dean 1', [DAVE], 'dean-group-0001')).id).toBe(first.id);
    await expect(alice.createGroup('URGENT from the dean 4', [DAVE])).rejects.toMatchObject({
      code: 'rate_limited',
      message: 'At most 3 new groups an hour. Try again in 60 minutes.',
    });
    const refused = await api(token, 'POST', '/conversations', { title: 'URGENT from the dean 5', members: [DAVE] });
    expect(refused).toMatchObject({ status: 429, body: { error: { code: 'rate_limited' } } });
    expect(Number(refused.retryAfter)).toBeGreaterThan(3_000);
    const titles = (await alice.conversations()).map((c) => c.title).filter((t) => t?.startsWith('URGENT'));
    expect(titles.sort()).toEqual(['URGENT from the dean 1', 'URGENT from the dean 2', 'URGENT from the dean 3']);
    alice.close();
  });
});

describe('webhooks', () => {
  it('are at most WEBHOOKS_PER_GROUP in a group (revoked ones aside) and WEBHOOK_CREATIONS_PER_HOUR a person', async () => {
    const carol = await connectAs(gateway, eng, 'carol');
    const token = await carol.login.tokenFor(eng.url);
    const [first, second] = [await carol.createGroup('Builds', [DAVE]), await carol.createGroup('Deploys', [DAVE])];
    const { webhook } = await carol.createWebhook(first.id, 'CI one');
    await carol.createWebhook(first.id, 'CI two');
    const full = await api(token, 'POST', `/conversations/${first.id}/webhooks`, { name: 'CI three' });
    expect(full).toMatchObject({
      status: 409,
      body: {
        error: {
          code: 'conflict',
          message: 'This group has 2 webhooks, as many as a group may have: revoke one to create another',
        },
      },
    });
    await carol.revokeWebhook(webhook.id);
    await carol.createWebhook(first.id, 'CI three');
    await carol.createWebhook(second.id, 'Deploy one');
    await carol.createWebhook(second.id, 'Deploy two');
    // Five made this hour: a sixth is refused wherever it would go.
    const third = await carol.createGroup('Releases', [DAVE]);
    await expect(carol.createWebhook(third.id, 'Release bot')).rejects.toMatchObject({
      code: 'rate_limited',
      message: 'At most 5 new webhooks an hour. Try again in 60 minutes.',
    });
    expect(await carol.webhooks(third.id)).toEqual([]);
    carol.close();
  });

  it('made side by side in one group still leave it at most WEBHOOKS_PER_GROUP', async () => {
    const token = await tokenOf('dave');
    const group = await api(token, 'POST', '/conversations', { title: 'Alerts', members: ['alice@eng.campus.test'] });
    const id = group.body.conversation.id as string;
    const made = await Promise.all(
      Array.from({ length: 5 }, (_, i) => api(token, 'POST', `/conversations/${id}/webhooks`, { name: `Alert ${i}` })),
    );
    const listed = await api(token, 'GET', `/conversations/${id}/webhooks`);
    expect(listed.body.webhooks.length).toBeLessThanOrEqual(2);
    expect(made.filter((r) => r.status === 201)).toHaveLength(listed.body.webhooks.length);
    expect(made.every((r) => r.status === 201 || r.body.error.code === 'conflict')).toBe(true);
  });
});
