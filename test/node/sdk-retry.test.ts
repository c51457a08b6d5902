import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { AtriumClient } from '../../sdk/client.ts';

// A stand-in for a node that loses the answer to the first send (as a node did before rate-limit refusals
// carried the frame's id), and drops the connection after the first group create, before answering it:
// only the SDK's own behaviour is under test here.
let wss: WebSocketServer;
let url: string;
const sends: string[] = [];
const creates: string[] = [];

beforeAll(async () => {
  wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => 'atrium.v1' });
  await new Promise((resolve) => wss.once('listening', resolve));
  url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`;
  wss.on('connection', (ws: WebSocket) => {
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as {
        id: string;
        type: string;
        clientMsgId?: string;
        clientId?: string;
        title?: string;
      };
      const reply = (type: string, fields: Record<string, unknown>) =>
        ws.send(JSON.stringify({ v: 1, type, re: frame.id, ...fields }));
      if (frame.type === 'auth')
        reply('ready', {
          address: 'alice@eng.campus.test',
          expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
          serverTime: new Date().toISOString(),
        });
      else if (frame.type === 'sync')
        reply('sync', { conversations: [], messages: [], more: [], cursor: new Date().toISOString() });
      else if (frame.type === 'send') {
        sends.push(frame.clientMsgId!);
        if (sends.length === 1) return; // lost
        reply('ack', {
          messageId: 'm-1',
          conversationId: 'c-1',
          seq: 1,
          at: new Date().toISOString(),
          clientMsgId: frame.clientMsgId,
          duplicate: sends.length > 2,
        });
      } else if (frame.type === 'group.create') {
        creates.push(frame.clientId!);
        if (creates.length === 1) return ws.terminate(); // made, but the answer is lost with the connection
        const view = {
          id: 'g-1',
          kind: 'group',
          homeDomain: 'eng.campus.test',
          title: frame.title,
          lastSeq: 1,
          updatedAt: new Date().toISOString(),
          joinedSeq: 0,
          readSeq: 0,
          unread: 0,
        };
        reply('conversation', {
          conversation: {
            ...view,
            members: [{ address: 'alice@eng.campus.test', role: 'owner', readSeq: 0, deliveredSeq: 0 }],
          },
        });
      }
    });
  });
});
afterAll(async () => {
  for (const client of wss?.clients ?? []) client.terminate();
  await new Promise((resolve) => wss?.close(resolve));
});

describe('the SDK', () => {
  it('sends a message again, with the same client id, when its ack does not come', async () => {
    const sdk = new AtriumClient({ url, token: () => 'token-for-the-test', sendRetryMs: 300 });
    await sdk.connect();
    const ack = await sdk.send({ conversationId: '00000000-0000-4000-8000-000000000001', text: 'hello' });
    expect(ack.messageId).toBe('m-1');
    expect(sends).toHaveLength(2);
    expect(sends[1]).toBe(sends[0]);
    expect(sdk.unsent).toBe(0);
    sdk.close();
  });

  it('creates a group again, with the same client id, once reconnected after the answer was lost', async () => {
    const sdk = new AtriumClient({ url, token: () => 'token-for-the-test', backoff: { initialMs: 50, maxMs: 200 } });
    await sdk.connect();
    const group = await sdk.createGroup('Lab 3 rota', []);
    expect(group).toMatchObject({ id: 'g-1', title: 'Lab 3 rota' });
    expect(creates).toHaveLength(2);
    expect(creates[0]).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
    expect(creates[1]).toBe(creates[0]);
    sdk.close();
  });
});

/** A stand-in node of its own for one test: `answer` replies to each frame after auth and sync. */
async function standInNode(
  rateLimit: { framesPerSecond: number; burst: number },
  answer: (frame: Record<string, any>, reply: (type: string, fields: Record<string, unknown>) => void) => void,
) {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => 'atrium.v1' });
  await new Promise((resolve) => server.once('listening', resolve));
  server.on('connection', (ws: WebSocket) => {
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Record<string, any>;
      const reply = (type: string, fields: Record<string, unknown>) =>
        ws.send(JSON.stringify({ v: 1, type, re: frame.id, ...fields }));
      if (frame.type === 'auth')
        reply('ready', {
          address: 'alice@eng.campus.test',
          expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
          serverTime: new Date().toISOString(),
          rateLimit,
        });
      else if (frame.type === 'sync')
        reply('sync.result', { conversations: [], messages: [], more: [], cursor: new Date().toISOString() });
      else answer(frame, reply);
    });
  });
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`,
    async close() {
      for (const client of server.clients) client.terminate();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const CONVERSATION = '00000000-0000-4000-8000-000000000002';

describe("the SDK and the node's frame allowance", () => {
  it('sends a frame the node refused as one too many again once the pause it named is over, and nothing before', async () => {
    const arrivals: { clientMsgId: string; at: number }[] = [];
    let refusedAt = 0;
    const node = await standInNode({ framesPerSecond: 1000, burst: 1000 }, (frame, reply) => {
      arrivals.push({ clientMsgId: frame.clientMsgId, at: Date.now() });
      const first = arrivals.filter((a) => a.clientMsgId === frame.clientMsgId).length === 1;
      if (first && ['paced-msg-3', 'paced-msg-4'].includes(frame.clientMsgId)) {
        refusedAt = Date.now();
        return reply('error', { code: 'rate_limited', message: 'Too many frames; slow down', retryAfterMs: 400 });
      }
      reply('ack', {
        messageId: `m-${frame.clientMsgId}`,
        conversationId: CONVERSATION,
        seq: arrivals.length,
        at: new Date().toISOString(),
        clientMsgId: frame.clientMsgId,
        duplicate: false,
      });
    });
    try {
      const sdk = new AtriumClient({ url: node.url, token: () => 'token-for-the-test' });
      await sdk.connect();
      const errors: string[] = [];
      sdk.on('error', (e) => errors.push(e.code));
      const acks = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          sdk.send({ conversationId: CONVERSATION, text: `m${i}`, clientMsgId: `paced-msg-${i}` }),
        ),
      );
      expect(acks.map((a) => a.messageId)).toEqual(Array.from({ length: 6 }, (_, i) => `m-paced-msg-${i}`));
      const again = arrivals.slice(6);
      expect(again.map((a) => a.clientMsgId)).toEqual(['paced-msg-3', 'paced-msg-4']);
      // As soon as the pause named is over: not before, and not after some fixed wait of the SDK's own.
      for (const a of again) expect(a.at - refusedAt).toBeGreaterThanOrEqual(390);
      for (const a of again) expect(a.at - refusedAt).toBeLessThan(900);
      // The caller never saw the refusals.
      expect(errors).toEqual([]);
      sdk.close();
    } finally {
      await node.close();
    }
  });

  it('keeps its frames within the allowance the node announced in ready', async () => {
    const limit = { framesPerSecond: 10, burst: 4 };
    const arrivals: number[] = [];
    const node = await standInNode(limit, (frame, reply) => {
      arrivals.push(Date.now());
      reply('ack', {
        messageId: `m-${frame.clientMsgId}`,
        conversationId: CONVERSATION,
        seq: arrivals.length,
        at: new Date().toISOString(),
        clientMsgId: frame.clientMsgId,
        duplicate: false,
      });
    });
    try {
      const sdk = new AtriumClient({ url: node.url, token: () => 'token-for-the-test' });
      await sdk.connect();
      const started = Date.now();
      await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          sdk.send({ conversationId: CONVERSATION, text: `m${i}`, clientMsgId: `announced-${i}` }),
        ),
      );
      // The node's bucket, replayed over the arrivals (auth and sync spent two of its tokens): none refused.
      let tokens = limit.burst - 2;
      let at = started;
      for (const t of arrivals) {
        tokens = Math.min(limit.burst, tokens + ((t - at) / 1000) * limit.framesPerSecond);
        at = t;
        expect(tokens).toBeGreaterThanOrEqual(1);
        tokens -= 1;
      }
      // And no slower than it must: twelve frames at ten a second.
      expect(Date.now() - started).toBeLessThan(2_500);
      sdk.close();
    } finally {
      await node.close();
    }
  });
});
