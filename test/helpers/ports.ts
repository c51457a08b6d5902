import { createServer } from 'node:net';

/**
 * A port the OS just handed out, closed again: free for a server the test starts next. Tests never pick
 * ports themselves, since the demo (`npm start`) may be running beside them on its fixed ports.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * An http URL where nothing listens (a port taken from the OS and closed). Its host is `localhost`, never
 * the `127.0.0.1` of the nodes a test starts: the OS may hand the same port to such a node later, and the
 * gateway refuses two domains at one URL.
 */
export async function unusedUrl(host = 'localhost'): Promise<string> {
  return `http://${host}:${await freePort()}`;
}
