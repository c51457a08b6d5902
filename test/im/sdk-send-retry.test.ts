import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { AtriumClient } from '../../im/sdk/client.ts';

// A stand-in for a node that loses the answer to the first send (as a node did before rate-limit refusals
// carried the frame's id): only the SDK's own behaviour is under test here.
let wss: WebSocketServer;
let url: string;
const sends: string[] = [];

beforeAll(async () => {
  wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => 'atrium.v1' });
  await new Promise((resolve) => wss.once('listening', resolve));
  url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`;
  wss.on('connection', (ws: WebSocket) => {
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { id: string; type: string; clientMsgId?: string };
      const reply = (type: string, fields: Record<string, unknown>) => ws.send(JSON.stringify({ v: 1, type, re: frame.id, ...fields }));
      if (frame.type === 'auth') reply('ready', { address: 'alice@eng.campus.test', expiresAt: new Date(Date.now() + 3_600_000).toISOString(), serverTime: new Date().toISOString() });
      else if (frame.type === 'sync') reply('sync', { conversations: [], messages: [], more: [], cursor: new Date().toISOString() });
      else if (frame.type === 'send') {
        sends.push(frame.clientMsgId!);
        if (sends.length === 1) return; // lost
        reply('ack', { messageId: 'm-1', conversationId: 'c-1', seq: 1, at: new Date().toISOString(), duplicate: sends.length > 2 });
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
});
