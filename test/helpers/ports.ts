import { createServer, type Server } from 'node:net';

/**
 * A port free right now, for a server the test starts next. Tests never pick fixed ports, since the demo
 * (`npm start`) may be running beside them on its own.
 *
 * The port is drawn below the range the OS hands out to outgoing connections (32768 and up on Linux):
 * a port from that range, closed again, may become the local end of any test's next connection before
 * the server that was to have it listens (an `atrium demo` starting up failed so with EADDRINUSE).
 */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

const LOWEST = 20_000;
const SPAN = 12_000;

/** Several such ports, all different: each is held until every one is taken, then all are closed. */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  while (servers.length < count) {
    const server = await listening(LOWEST + Math.floor(Math.random() * SPAN));
    if (server) servers.push(server);
  }
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** A server listening on `port`, or undefined where something else has it. */
function listening(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/**
 * An http URL where nothing listens (a free port, see freePort). Its host is `localhost`, never
 * the `127.0.0.1` of the nodes a test starts: the OS may hand the same port to such a node later, and the
 * gateway refuses two domains at one URL.
 */
export async function unusedUrl(host = 'localhost'): Promise<string> {
  return `http://${host}:${await freePort()}`;
}

/** Several unused URLs at once, never two at one port (two picked one after another may be). */
export async function unusedUrls(count: number, host = 'localhost'): Promise<string[]> {
  return (await freePorts(count)).map((port) => `http://${host}:${port}`);
}
