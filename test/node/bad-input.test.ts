import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, login, startTestNode, type TestNode } from '../helpers/node.ts';
import { openRaw, type RawSocket } from '../helpers/raw-socket.ts';

let gateway: TestGateway;
let eng: TestNode;
let strict: TestNode;

async function authed(node: TestNode, username = 'alice'): Promise<RawSocket> {
  const who = await login(gateway, username);
  const raw = await openRaw(node.url, ['atrium.v1', `atrium.token.${await who.tokenFor(node.url)}`]);
  await raw.next((f) => f.type === 'ready');
  return raw;
}

beforeAll(async () => {
  gateway = await startTestGateway('im-bad');
  eng = await startTestNode(gateway, 'eng.campus.test', { MAX_FRAME_BYTES: '2048' });
  // The same domain served by a stricter node (its own database) for the flood tests.
  strict = await startTestNode(gateway, 'arts.campus.test', { FRAMES_PER_SECOND: '5', ABUSE_STRIKES: '4' });
});
// Tests move the node's clock rather than wait; each starts again at the machine's time.
afterEach(() => strict.clock.reset());

afterAll(async () => {
  await eng?.stop();
  await strict?.stop();
  await gateway?.stop();
});

describe('bad frames get an error frame and change nothing', () => {
  it('answers each kind of bad frame with its own stable code and keeps the socket open', async () => {
    const raw = await authed(eng);
    raw.sendRaw('{not json');
    expect(await raw.next((f) => f.code === 'malformed_json')).toMatchObject({ type: 'error' });
    raw.send({ v: 1, id: 'u1', type: 'teleport' });
    expect(await raw.next((f) => f.re === 'u1')).toMatchObject({ type: 'error', code: 'unknown_type' });
    raw.send({ v: 9, id: 'v1', type: 'ping' });
    expect(await raw.next((f) => f.re === 'v1')).toMatchObject({ code: 'unsupported_version' });
    raw.send({ v: 1, id: 'i1', type: 'send', clientMsgId: 'x', to: 'not an address' });
    const invalid = await raw.next((f) => f.re === 'i1');
    expect(invalid).toMatchObject({ code: 'invalid_frame' });
    expect(Object.keys(invalid.fields as object)).toEqual(expect.arrayContaining(['clientMsgId', 'to']));
    raw.sendRaw(Buffer.from([1, 2, 3]), true);
    expect(await raw.next((f) => f.code === 'binary_not_supported')).toBeTruthy();
    raw.send({
      v: 1,
      id: 'big',
      type: 'send',
      clientMsgId: 'big-frame-01',
      to: 'dave@eng.campus.test',
      text: 'x'.repeat(3000),
    });
    expect(await raw.next((f) => f.code === 'frame_too_large')).toBeTruthy();
    raw.send({ v: 1, id: 'p1', type: 'ping' });
    expect(await raw.next((f) => f.re === 'p1')).toMatchObject({ type: 'pong' });
    expect(await eng.models.Message.count({ where: { clientMsgId: 'big-frame-01' } })).toBe(0);
    raw.socket.close();
  });

  it('names a field a frame does not have, rather than dropping it, and stores nothing', async () => {
    const raw = await authed(eng);
    // A typo of conversationId, and a field of some other client's making.
    raw.send({
      v: 1,
      id: 'x1',
      type: 'send',
      clientMsgId: 'extra-field-01',
      to: 'dave@eng.campus.test',
      text: 'hi',
      conversationID: 'c',
      colour: 'red',
    });
    const refused = await raw.next((f) => f.re === 'x1');
    expect(refused).toMatchObject({
      type: 'error',
      code: 'invalid_input',
      fields: { conversationID: 'unknown field', colour: 'unknown field' },
    });
    expect(refused.message).toContain('conversationID');
    expect(Object.keys(refused.fields as object).sort()).toEqual(['colour', 'conversationID']);
    // Alongside a field that is invalid too, both are named.
    raw.send({ v: 1, id: 'x2', type: 'ping', at: 1 });
    expect(await raw.next((f) => f.re === 'x2')).toMatchObject({
      code: 'invalid_input',
      fields: { at: 'unknown field' },
    });
    raw.send({ v: 1, id: 'x3', type: 'read', conversationId: 'nope', seq: 1, upTo: 2 });
    expect(await raw.next((f) => f.re === 'x3')).toMatchObject({
      code: 'invalid_input',
      fields: { conversationId: expect.any(String), upTo: 'unknown field' },
    });
    expect(await eng.models.Message.count({ where: { clientMsgId: 'extra-field-01' } })).toBe(0);
    raw.socket.close();
  });

  it('closes a socket that sends a frame far beyond the limit', async () => {
    const raw = await authed(eng);
    raw.sendRaw('x'.repeat(2048 * 4 + 10));
    expect((await raw.closed).code).toBe(1009);
  });

  it('refuses to send into a conversation the sender is not a member of', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const carol = await connectAs(gateway, eng, 'carol');
    const theirs = await carol.openDirect('dave@eng.campus.test');
    await expect(alice.send({ conversationId: theirs.id, text: 'let me in' })).rejects.toMatchObject({
      code: 'not_member',
    });
    await expect(alice.history(theirs.id)).rejects.toMatchObject({ code: 'not_member' });
    expect(await eng.models.Message.count({ where: { conversationId: theirs.id } })).toBe(0);
    alice.close();
    carol.close();
  });

  it('fails a send whose write fails with an error frame, never an ack; the retry then succeeds once', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const conversation = await alice.openDirect('dave@eng.campus.test');
    const qi = eng.sequelize.getQueryInterface();
    await qi.renameTable('messages', 'messages_away');
    try {
      await expect(
        alice.request('send', { conversationId: conversation.id, clientMsgId: 'db-down-0001', text: 'during outage' }),
      ).rejects.toMatchObject({
        code: 'store_failed',
      });
    } finally {
      await qi.renameTable('messages_away', 'messages');
    }
    const ack = await alice.request('send', {
      conversationId: conversation.id,
      clientMsgId: 'db-down-0001',
      text: 'during outage',
    });
    expect(ack).toMatchObject({ type: 'ack', duplicate: false });
    expect(await eng.models.Message.count({ where: { clientMsgId: 'db-down-0001' } })).toBe(1);
    alice.close();
  });
});

describe('abuse', () => {
  it('refuses the frames of a burst beyond the allowance, says when to send them again, and keeps the socket open', async () => {
    const raw = await authed(strict, 'bob');
    let closed = false;
    void raw.closed.then(() => (closed = true));
    // Three bursts, each far beyond the allowance (5 a second here), each sent again after the pause named:
    // more refused frames than ABUSE_STRIKES (4), but three runs of them.
    for (const burst of ['a', 'b', 'c']) {
      for (let i = 0; i < 30; i++) raw.send({ v: 1, id: `${burst}${i}`, type: 'ping' });
      const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => raw.next((f) => f.re === `${burst}${i}`)));
      expect(answers.filter((f) => f.type === 'pong')).toHaveLength(5);
      const refused = answers.filter((f) => f.type === 'error');
      expect(refused).toHaveLength(25);
      // The refusal names the refused frame, so that its sender can retry it, and says when.
      expect(refused.every((f) => f.code === 'rate_limited' && typeof f.retryAfterMs === 'number')).toBe(true);
      const retryAfterMs = Math.max(...refused.map((f) => f.retryAfterMs as number));
      expect(retryAfterMs).toBeGreaterThan(0);
      expect(retryAfterMs).toBeLessThanOrEqual(1000);
      // The node's clock is moved rather than waited for: the pause named, then a second for the next burst.
      strict.clock.advance(retryAfterMs);
      for (let i = 0; i < 5; i++) raw.send({ v: 1, id: `${burst}-again-${i}`, type: 'ping' });
      for (let i = 0; i < 5; i++)
        expect(await raw.next((f) => f.re === `${burst}-again-${i}`)).toMatchObject({ type: 'pong' });
      strict.clock.advance(1000);
    }
    expect(closed).toBe(false);
    raw.socket.close();
  });

  it('disconnects a client that keeps sending too fast', async () => {
    const raw = await authed(strict, 'bob');
    let i = 0;
    const flood = setInterval(
      () => raw.socket.readyState === raw.socket.OPEN && raw.send({ v: 1, id: `fl${i++}`, type: 'ping' }),
      5,
    );
    try {
      expect((await raw.closed).code).toBe(4429);
    } finally {
      clearInterval(flood);
    }
  });

  it('disconnects a client that keeps sending garbage', async () => {
    const raw = await authed(strict, 'bob');
    for (let i = 0; i < 4; i++) raw.sendRaw('garbage');
    expect((await raw.closed).code).toBe(4400);
  });

  it('keeps serving everyone else', async () => {
    await request(strict.server).get('/healthz').expect(200);
    const bob = await connectAs(gateway, strict, 'bob');
    expect((await bob.send({ to: 'carol@arts.campus.test', text: 'fine' })).seq).toBe(1);
    bob.close();
  });
});

describe('HTTP API input', () => {
  it('requires a bearer token and answers bad bodies with a JSON error', async () => {
    await request(eng.server).get('/api/v1/conversations').expect(401);
    const token = await (await login(gateway, 'alice')).tokenFor(eng.url);
    const response = await request(eng.server)
      .post('/api/v1/conversations/00000000-0000-4000-8000-000000000000/messages')
      .set('authorization', `Bearer ${token}`)
      .set('content-type', 'application/json')
      .send('{"clientMsgId": ');
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('invalid_body');
  });

  it("names a field a body does not have, as a socket names a frame's, and stores nothing", async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    const direct = await alice.openDirect('dave@eng.campus.test');
    const token = await alice.login.tokenFor(eng.url);
    const [conversations, messages] = [await eng.models.Conversation.count(), await eng.models.Message.count()];
    const refusals = [
      ['/api/v1/conversations', { title: 'Typo', members: [], colour: 'red' }, { colour: 'unknown field' }],
      [
        `/api/v1/conversations/${direct.id}/messages`,
        { clientMsgId: 'http-extra-01', txet: 'hi', text: 'hi' },
        { txet: 'unknown field' },
      ],
      // The path names the conversation: a body naming one too (another, say) is not quietly overruled.
      [
        `/api/v1/conversations/${direct.id}/messages`,
        { clientMsgId: 'http-extra-02', text: 'hi', conversationId: '00000000-0000-4000-8000-000000000000' },
        { conversationId: 'unknown field' },
      ],
    ] as const;
    for (const [path, body, fields] of refusals) {
      const response = await request(eng.server).post(path).set('authorization', `Bearer ${token}`).send(body);
      expect({ status: response.status, body: response.body }).toEqual({
        status: 400,
        body: { error: { code: 'invalid_input', message: `Unknown field: ${Object.keys(fields)[0]}`, fields } },
      });
    }
    expect([await eng.models.Conversation.count(), await eng.models.Message.count()]).toEqual([
      conversations,
      messages,
    ]);
    alice.close();
  });
});
