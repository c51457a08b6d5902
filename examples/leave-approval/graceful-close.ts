import type { Server, ServerResponse } from 'node:http';

/**
 * How the app stops without dropping what it already read: no new connections, requests in flight
 * finish and their connections close after them (`connection: close`), idle keep-alive connections close
 * at once, and whatever is still open after graceMs is cut. Install it before the app's request handler.
 */
export function gracefulClose(server: Server): (graceMs: number) => Promise<void> {
  const inFlight = new Set<ServerResponse>();
  let closing = false;
  server.on('request', (_req, res: ServerResponse) => {
    inFlight.add(res);
    if (closing) res.setHeader('connection', 'close');
    res.once('close', () => {
      inFlight.delete(res);
      if (closing) setImmediate(() => server.closeIdleConnections());
    });
  });
  return (graceMs) =>
    new Promise((resolve) => {
      closing = true;
      for (const res of inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
      const cut = setTimeout(() => server.closeAllConnections(), graceMs);
      server.close(() => {
        clearTimeout(cut);
        resolve();
      });
      server.closeIdleConnections();
    });
}
