import { createServer, type Server, type Socket } from 'node:net';

/**
 * TCP servers that stand where a directory should be and misbehave: one accepts connections and never
 * says a word (a hung directory), one answers every request with bytes that are not LDAP. They are not
 * LDAP servers of any kind; they show what the gateway does when the peer is not one.
 */
export type BrokenServer = { url: string; connections: () => number; close(): Promise<void> };

async function listen(onConnection: (socket: Socket) => void): Promise<BrokenServer> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `ldap://127.0.0.1:${port}`,
    connections: () => connections,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Accepts, reads, never answers. */
export const silentServer = () => listen(() => undefined);

/** Answers whatever arrives with a burst of bytes that no LDAP client can parse. */
export const garbageServer = () =>
  listen((socket) =>
    socket.on('data', () =>
      socket.write(
        Buffer.from(
          'HTTP/1.1 200 OK\r\n\r\n\u0000\u00ff\u00fe not ldap at all \u0030\u0084\u00ff\u00ff\u00ff\u00ff',
          'latin1',
        ),
      ),
    ),
  );
