import { createServer } from 'node:net';

/**
 * A port the OS just handed out, closed again: free for a server the test starts next. Tests never pick
 * ports themselves, since the demo (`npm start`) may be running beside them on its fixed ports.
 */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/** Several such ports, all different: each is held until every one is taken, then all are closed. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))));
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/**
 * An http URL where nothing listens (a port taken from the OS and closed). Its host is `localhost`, never
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
