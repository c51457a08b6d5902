import WebSocket from 'ws';

export type RawSocket = {
  socket: WebSocket;
  frames: Record<string, unknown>[];
  closed: Promise<{ code: number; reason: string }>;
  send(frame: unknown): void;
  sendRaw(data: string | Buffer, binary?: boolean): void;
  next(predicate: (frame: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
};

/** A bare WebSocket to a node, for testing what the SDK would never send. */
export async function openRaw(nodeUrl: string, protocols: string[] = ['atrium.v1']): Promise<RawSocket> {
  const socket = new WebSocket(`${nodeUrl.replace(/^http/, 'ws')}/ws`, protocols);
  const frames: Record<string, unknown>[] = [];
  const waiters: { predicate: (f: Record<string, unknown>) => boolean; resolve(f: Record<string, unknown>): void }[] =
    [];
  socket.on('message', (data) => {
    const frame = JSON.parse(String(data)) as Record<string, unknown>;
    frames.push(frame);
    for (const w of [...waiters]) {
      if (w.predicate(frame)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(frame);
      }
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return {
    socket,
    frames,
    closed,
    send: (frame) => socket.send(JSON.stringify(frame)),
    sendRaw: (data, binary = false) => socket.send(data, { binary }),
    next(predicate, timeoutMs = 5_000) {
      const found = frames.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = { predicate, resolve };
        waiters.push(waiter);
        setTimeout(() => {
          const i = waiters.indexOf(waiter);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(frames.slice(-5))}`));
        }, timeoutMs);
      });
    },
  };
}

/** A bare WebSocket to a node that signed in with `token` (in its protocols), once the node said it is ready. */
export async function openSignedIn(nodeUrl: string, token: string): Promise<RawSocket> {
  const socket = await openRaw(nodeUrl, ['atrium.v1', `atrium.token.${token}`]);
  await socket.next((f) => f.type === 'ready');
  return socket;
}

let counter = 0;
export const frameId = () => `f${++counter}`;
