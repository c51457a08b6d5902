import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { AtriumClient } from '../../im/sdk/client.ts';

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
      const frame = JSON.parse(String(data)) as { id: string; type: string; clientMsgId?: string; clientId?: string; title?: string };
      const reply = (type: string, fields: Record<string, unknown>) => ws.send(JSON.stringify({ v: 1, type, re: frame.id, ...fields }));
      if (frame.type === 'auth') reply('ready', { address: 'alice@eng.campus.test', expiresAt: new Date(Date.now() + 3_600_000).toISOString(), serverTime: new Date().toISOString() });
      else if (frame.type === 'sync') reply('sync', { conversations: [], messages: [], more: [], cursor: new Date().toISOString() });
      else if (frame.type === 'send') {
        sends.push(frame.clientMsgId!);
        if (sends.length === 1) return; // lost
        reply('ack', { messageId: 'm-1', conversationId: 'c-1', seq: 1, at: new Date().toISOString(), duplicate: sends.length > 2 });
      } else if (frame.type === 'group.create') {
        creates.push(frame.clientId!);
        if (creates.length === 1) return ws.terminate(); // made, but the answer is lost with the connection
        reply('conversation', { conversation: { id: 'g-1', kind: 'group', title: frame.title } });
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
