import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { textFrame, textFrameOf, writeTextFrame } from '../../node/ws/text-frame.ts';

let server: WebSocketServer;
let url: string;

beforeAll(async () => {
  server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await new Promise((resolve) => server.once('listening', resolve));
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

/** A client and the server's side of its socket. */
async function pair(): Promise<{ client: WebSocket; served: WebSocket; received: string[] }> {
  const served = new Promise<WebSocket>((resolve) => server.once('connection', resolve));
  const client = new WebSocket(url, { perMessageDeflate: false });
  const received: string[] = [];
  client.on('message', (data, binary) => received.push(binary ? 'binary!' : String(data)));
  await new Promise((resolve) => client.once('open', resolve));
  return { client, served: await served, received };
}

describe('a text frame built once and written to each socket', () => {
  it('reaches a client as the same text, of every length the frame header knows, in order with what ws sends', async () => {
    const { client, served, received } = await pair();
    // Payloads of 125, 126, 65,535 and 65,536 bytes sit at the header's three sizes of length field.
    const texts = [0, 5, 125, 126, 65_535, 65_536, 200_000].map((n) => 'x'.repeat(n)).concat('héllo ✓ 你好');
    served.send('first, by ws');
    for (const text of texts) {
      const payload = Buffer.from(text);
      writeTextFrame(served, textFrame(payload), payload);
    }
    served.send('last, by ws');
    await expect.poll(() => received.length).toBe(texts.length + 2);
    expect(received).toEqual(['first, by ws', ...texts, 'last, by ws']);
    client.close();
  });

  it('is encoded straight from a string, the same frame as from its bytes, and reaches the client as that text', async () => {
    const { client, served, received } = await pair();
    const texts = [0, 125, 126, 65_535, 65_536].map((n) => 'é'.repeat(n)).concat('héllo ✓ 你好 😀');
    for (const text of texts) {
      const { frame, payload } = textFrameOf(text);
      expect(frame.equals(textFrame(Buffer.from(text)))).toBe(true);
      expect(payload.toString()).toBe(text);
      writeTextFrame(served, frame, payload);
    }
    await expect.poll(() => received.length).toBe(texts.length);
    expect(received).toEqual(texts);
    client.close();
  });

  it("leaves with the rest of its turn: one socket's frames of a turn are written together, in order", async () => {
    const { client, served, received } = await pair();
    const stream = (served as unknown as { _socket: Socket })._socket;
    const writes: number[] = [];
    const write = stream._writev!.bind(stream);
    stream._writev = (chunks, callback) => {
      writes.push(chunks.length);
      write(chunks, callback);
    };
    const texts = ['one', 'two', 'three'];
    for (const text of texts) {
      const payload = Buffer.from(text);
      writeTextFrame(served, textFrame(payload), payload);
    }
    served.send('by ws, in between');
    const payload = Buffer.from('four');
    writeTextFrame(served, textFrame(payload), payload);
    await expect.poll(() => received.length).toBe(5);
    expect(received).toEqual([...texts, 'by ws, in between', 'four']);
    // ws writes its frame as header and payload: six buffers in one system call, not five calls.
    expect(writes).toEqual([6]);
    client.close();
  });

  it('is not written to a socket that is closing', async () => {
    const { client, served, received } = await pair();
    const closed = new Promise((resolve) => client.once('close', resolve));
    served.close();
    const payload = Buffer.from('too late');
    writeTextFrame(served, textFrame(payload), payload);
    await closed;
    expect(received).toEqual([]);
  });
});
