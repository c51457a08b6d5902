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

/** An http URL on 127.0.0.1 where nothing listens (a port taken from the OS and closed). */
export async function unusedUrl(host = '127.0.0.1'): Promise<string> {
  return `http://${host}:${await freePort()}`;
}
