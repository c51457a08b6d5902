import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

export type UpgradeListener = (request: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** starting: the port is open, the unit is not yet wired; serving; stopping: no new connections, the rest drains. */
export type Phase = 'starting' | 'serving' | 'stopping';

export type UnitServer = {
  server: Server;
  phase(): Phase;
  /** Opens the port; until serve(), every request is answered 503 (and /readyz says "starting"). */
  listen(options: { port: number; host: string; backlog?: number }): Promise<number>;
  /** Hands the requests (and, for a unit created with upgrades, the upgrade requests) to the unit from now on. */
  serve(handler: RequestListener, upgrade?: UpgradeListener): void;
  /**
   * Stops accepting connections and closes the idle ones; requests already read are still answered, with
   * `connection: close`, and upgrades are refused. Call drain() to wait for them.
   */
  stopAccepting(): void;
  /** Resolves once every connection has ended; after graceMs the ones still open are cut. */
  drain(graceMs: number): Promise<void>;
  /** stopAccepting() and drain(). */
  close(graceMs: number): Promise<void>;
};

/** What a client is told to wait before it retries, while the unit starts or stops. */
const RETRY_AFTER_SECONDS = 1;

/**
 * The HTTP server of a unit, answering every request it reads whatever the unit's phase: the port opens
 * before the unit is wired (its URL may depend on the port the OS chose), so that a request arriving
 * during the start gets a prompt 503 with Retry-After instead of an open connection that nobody answers;
 * on shutdown the requests in flight finish and keep-alive connections are told to close.
 */
export function createUnitServer(options: { upgrades?: boolean } = {}): UnitServer {
  const server = createServer();
  let phase: Phase = 'starting';
  let handler: RequestListener | undefined;
  let upgradeHandler: UpgradeListener | undefined;
  const inFlight = new Set<ServerResponse>();
  let ended: Promise<void> | undefined;

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    inFlight.add(res);
    res.once('close', () => {
      inFlight.delete(res);
      // A keep-alive connection whose response went out as the shutdown began is idle now: close it.
      if (phase === 'stopping') setImmediate(() => server.closeIdleConnections());
    });
    if (phase === 'stopping') res.setHeader('connection', 'close');
    const path = (req.url ?? '/').split('?')[0];
    if (!handler || (phase === 'stopping' && path === '/readyz')) return unavailable(req, res, path, phase);
    handler(req, res);
  });
  if (options.upgrades) {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (phase === 'serving' && upgradeHandler) return upgradeHandler(req, socket, head);
      refuseUpgrade(socket, phase);
    });
  }

  const unit: UnitServer = {
    server,
    phase: () => phase,
    listen({ port, host, backlog }) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port, host, backlog }, () => {
          server.off('error', reject);
          resolve((server.address() as AddressInfo).port);
        });
      });
    },
    serve(next, upgrade) {
      handler = next;
      upgradeHandler = upgrade;
      if (phase === 'starting') phase = 'serving';
    },
    stopAccepting() {
      if (ended) return;
      phase = 'stopping';
      for (const res of inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
      // Resolves at once (with an error we ignore) when the port never opened.
      ended = new Promise((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
    },
    async drain(graceMs) {
      unit.stopAccepting();
      const cut = setTimeout(() => server.closeAllConnections(), graceMs);
      await ended;
      clearTimeout(cut);
    },
    close: (graceMs) => unit.drain(graceMs),
  };
  return unit;
}

function unavailable(req: IncomingMessage, res: ServerResponse, path: string | undefined, phase: Phase): void {
  const word = phase === 'stopping' ? 'stopping' : 'starting';
  // The process is alive: a liveness probe must not restart a unit for taking its time to start.
  if (path === '/healthz' && req.method === 'GET')
    return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
  const body =
    path === '/readyz'
      ? { status: word }
      : { error: { code: 'unavailable', message: `The server is ${word}; retry in a moment` } };
  res.writeHead(503, {
    'content-type': 'application/json',
    'retry-after': String(RETRY_AFTER_SECONDS),
    connection: 'close',
  });
  res.end(JSON.stringify(body));
}

/** A WebSocket upgrade the unit cannot take now: a plain 503, so the client's reconnect logic backs off and retries. */
function refuseUpgrade(socket: Duplex, phase: Phase): void {
  const body = JSON.stringify({
    error: {
      code: 'unavailable',
      message: `The server is ${phase === 'stopping' ? 'stopping' : 'starting'}; retry in a moment`,
    },
  });
  socket.on('error', () => undefined);
  socket.end(
    `HTTP/1.1 503 Service Unavailable\r\nRetry-After: ${RETRY_AFTER_SECONDS}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
