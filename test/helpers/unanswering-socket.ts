import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import type { TestNode } from './node.ts';

export type UnansweringSocket = {
  /** The text frames the node sent, parsed. */
  frames(): Record<string, unknown>[];
  /** The close code the node sent, once it has. */
  closeCode(): number | undefined;
  /** Resolves when the node ends the TCP connection. */
  ended: Promise<void>;
  send(frame: unknown): void;
  destroy(): void;
};

/**
 * A WebSocket client over bare TCP that never answers the node's close frame, as a misbehaving client
 * may not (ws, the SDK and browsers always answer it).
 */
export async function openUnanswering(nodeUrl: string, protocols: string[]): Promise<UnansweringSocket> {
  const { hostname, port } = new URL(nodeUrl);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  socket.write(
    [
      'GET /ws HTTP/1.1',
      `Host: ${hostname}:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
      'Sec-WebSocket-Version: 13',
      `Sec-WebSocket-Protocol: ${protocols.join(', ')}`,
      '',
      '',
    ].join('\r\n'),
  );
  const received: { opcode: number; payload: Buffer }[] = [];
  let buffer = Buffer.alloc(0);
  let upgraded = false;
  // The node's frames are never masked and, here, never fragmented.
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    if (!upgraded) {
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      upgraded = true;
      buffer = buffer.subarray(end + 4);
    }
    for (;;) {
      if (buffer.length < 2) return;
      let length = buffer[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffer.length < 4) return;
        length = buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffer.length < 10) return;
        length = Number(buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (buffer.length < offset + length) return;
      received.push({ opcode: buffer[0]! & 0x0f, payload: buffer.subarray(offset, offset + length) });
      buffer = buffer.subarray(offset + length);
    }
  });
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  return {
    frames: () =>
      received.filter((f) => f.opcode === 0x1).map((f) => JSON.parse(f.payload.toString()) as Record<string, unknown>),
    closeCode: () => received.find((f) => f.opcode === 0x8)?.payload.readUInt16BE(0),
    ended,
    send(frame) {
      // A client's frames are masked (RFC 6455, 5.3).
      const payload = Buffer.from(JSON.stringify(frame));
      const mask = randomBytes(4);
      const header =
        payload.length < 126
          ? Buffer.from([0x81, 0x80 | payload.length])
          : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
      socket.write(Buffer.concat([header, mask, payload.map((b, i) => b ^ mask[i % 4]!)]));
    },
    destroy: () => socket.destroy(),
  };
}

/**
 * After the node closed `raw`: sends a message and a group.create as a client ignoring the close would,
 * waits a second, ends the connection, and says what the node stored and answered of them.
 */
export async function actAfterClose(
  raw: UnansweringSocket,
  node: Pick<TestNode, 'models'>,
): Promise<{ stored: number; answered: number }> {
  const tag = randomBytes(6).toString('hex');
  raw.send({ v: 1, id: `s-${tag}`, type: 'send', clientMsgId: `s-${tag}`, to: 'dave@eng.campus.test', text: 'late' });
  raw.send({ v: 1, id: `g-${tag}`, type: 'group.create', title: `Late ${tag}`, members: ['dave@eng.campus.test'] });
  await new Promise((r) => setTimeout(r, 1_000));
  raw.destroy();
  const stored =
    (await node.models.Message.count({ where: { clientMsgId: `s-${tag}` } })) +
    (await node.models.Conversation.count({ where: { title: `Late ${tag}` } }));
  const answered = raw.frames().filter((f) => f.re !== undefined && String(f.re).endsWith(tag)).length;
  return { stored, answered };
}
