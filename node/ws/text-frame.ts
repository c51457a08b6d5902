import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/** The length of a text frame's header for a payload of this many bytes (RFC 6455, 5.2). */
function headerLength(length: number): number {
  return length < 126 ? 2 : length < 0x10000 ? 4 : 10;
}

function writeHeader(frame: Buffer, length: number): void {
  frame[0] = 0x81;
  if (length < 126) frame[1] = length;
  else if (length < 0x10000) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
}

/**
 * The WebSocket frame (RFC 6455: final, text, unmasked as a server's frames are) of a payload, built
 * once for every socket a delivery goes to.
 */
export function textFrame(payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(headerLength(payload.length) + payload.length);
  writeHeader(frame, payload.length);
  payload.copy(frame, frame.length - payload.length);
  return frame;
}

/**
 * The text frame of a string, and its payload (a view into the frame): the text is encoded once,
 * straight into the frame, rather than into a buffer of its own and then copied after a header.
 */
export function textFrameOf(text: string): { frame: Buffer; payload: Buffer } {
  const length = Buffer.byteLength(text);
  const header = headerLength(length);
  const frame = Buffer.allocUnsafe(header + length);
  writeHeader(frame, length);
  frame.write(text, header, 'utf8');
  return { frame, payload: frame.subarray(header) };
}

// Sockets written to in this turn, held corked until the turn's frames are all written (see below).
const corked: Socket[] = [];

function uncorkAll(): void {
  for (const stream of corked) stream.uncork();
  corked.length = 0;
}

/**
 * Writes a text frame built by textFrame to a socket as one buffer, or sends its payload through `ws`
 * where that is not safe. `ws.send` frames the payload again for every socket and writes header and
 * payload as two buffers (cork, writev): about 15 µs more per socket on the bench's machine, 150 ms
 * per message in a 10,000-member group, where the write system calls are all that is left. Writing to
 * the TCP stream directly keeps the frames' order with what `ws` writes itself (pings, replies,
 * closing): without compression (the node never negotiates it) `ws` writes each frame at once, too.
 *
 * The stream stays corked until the current turn's callbacks and promise reactions have run, so that
 * the frames one socket gets in a turn (the acks of a flush's messages from one device, and the
 * messages delivered to it) leave in one system call rather than one each: the write calls were over a
 * third of the node's CPU at its best direct-message rate (bench/node profile). Order is kept: what
 * `ws` writes meanwhile joins the same corked stream.
 */
export function writeTextFrame(socket: WebSocket, frame: Buffer, payload: Buffer): void {
  if (socket.readyState !== socket.OPEN) return;
  const stream = (socket as unknown as { _socket?: Socket })._socket;
  if (stream && socket.extensions === '' && stream.writable) {
    if (stream.writableCorked === 0) {
      stream.cork();
      if (corked.push(stream) === 1) process.nextTick(uncorkAll);
    }
    stream.write(frame);
  } else socket.send(payload, { binary: false });
}
