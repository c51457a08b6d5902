import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { isAppError } from '../../core/errors.ts';
import type { Identity, TokenVerifier } from '../auth/token-verifier.ts';
import type { NodeServices } from '../context.ts';
import type { PresenceStatus } from '../presence/presence-store.ts';
import { serverFrame, type ClientFrame, type ServerFrame } from '../../protocol/frames.ts';
import { CLOSE } from './close-codes.ts';
import { handlers, isDeferred, UnsupportedFrameError, type SocketSession } from './handlers.ts';
import { FrameError, frameIdOf, parseFrame } from './parse-frame.ts';
import { createRegistry, type Connection, type Registry } from './registry.ts';
import { createSocketAllowance } from './socket-allowance.ts';

const AUTH_TIMEOUT_MS = 10_000;
const SUBPROTOCOL = 'atrium.v1';
const TOKEN_PROTOCOL_PREFIX = 'atrium.token.';

/** The node's chat sockets: upgrades taken in, and every socket of this process. */
export interface SocketServer {
  /** This process's authenticated sockets. */
  readonly registry: Registry;
  /** Takes an HTTP upgrade request to `/ws` in as a chat socket. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes every socket with "going away" so clients reconnect elsewhere; resolves when all are closed. */
  close(): Promise<void>;
}

/**
 * The node's WebSocket endpoint (`/ws`). A socket authenticates with a gateway access token in its first
 * frame or in the `atrium.token.<jwt>` subprotocol; every frame is validated, rate-limited and answered
 * with the client's frame id. Bad input earns an error frame and a strike; enough strikes, faster than
 * they fade, close the socket (socket-allowance.ts).
 */
/** How often a slice of the sockets is pinged. */
const HEARTBEAT_SLICE_MS = 100;

export type SocketServerOptions = {
  /** Told, for each send acknowledged, the seconds from its frame's arrival to its ack (after the commit). */
  onSendAcked?: (seconds: number) => void;
  /** Whether people's tokens of a client may still be used; open sockets of one that may not are closed. */
  clientActive?: (clientId: string) => Promise<boolean>;
  /** How often the clients of open sockets are checked (default 30 s). */
  clientCheckMs?: number;
};

export function createSocketServer(services: NodeServices, verifier: TokenVerifier, options: SocketServerOptions = {}): SocketServer {
  const { config, logger, bus } = services;
  const registry = createRegistry();
  // Told in `ready`, so that a client can pace itself rather than learn the limit from refusals.
  const rateLimit = { framesPerSecond: config.framesPerSecond, burst: config.framesPerSecond };
  // ws itself refuses frames far beyond the limit (closing with 1009); up to that we answer with an error frame.
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxFrameBytes * 4, perMessageDeflate: false, handleProtocols });

  // A client that vanished without closing (a phone losing its network) is found by a missed pong. Each
  // socket is checked once per heartbeat interval, the sockets spread over the interval in small slices:
  // pinging 15,000 sockets at once held the event loop (and every message) for ~400 ms (bench/node).
  const alive = new WeakSet<WebSocket>();
  const intervalMs = config.heartbeatSeconds * 1000;
  const slices = Math.max(1, Math.round(intervalMs / HEARTBEAT_SLICE_MS));
  let round: WebSocket[] = [];
  let slice = 0;
  let next = 0;
  const heartbeat = setInterval(() => {
    if (slice === 0) {
      round = [...wss.clients];
      next = 0;
    }
    const end = Math.ceil(((slice + 1) * round.length) / slices);
    for (; next < end; next++) {
      const client = round[next]!;
      if (client.readyState !== client.OPEN) continue;
      if (!alive.has(client)) {
        client.terminate();
        continue;
      }
      alive.delete(client);
      client.ping();
    }
    slice = (slice + 1) % slices;
    if (slice === 0) round = [];
  }, intervalMs / slices);
  heartbeat.unref();

  // An app disabled at the gateway: the sockets opened with tokens it was issued close within a check,
  // not when the tokens expire. Few distinct clients hold sockets (the portal, some apps): one question each.
  const clientActive = options.clientActive;
  const clientCheck = clientActive && setInterval(() => {
    const byClient = new Map<string, Connection[]>();
    for (const connection of registry.all()) {
      if (connection.identity?.kind !== 'user') continue;
      const list = byClient.get(connection.identity.clientId);
      // Appended in place: copying the list for each socket made this quadratic, and with 15,000 sockets
      // of one client (the portal's) it held the event loop for ~0.9 s every check (bench/node).
      if (list) list.push(connection);
      else byClient.set(connection.identity.clientId, [connection]);
    }
    for (const [clientId, connections] of byClient) {
      void clientActive(clientId).then((active) => {
        if (active) return;
        logger.info({ clientId, sockets: connections.length }, 'closing the sockets of a disabled client');
        for (const c of connections) c.socket.close(CLOSE.clientDisabled.code, CLOSE.clientDisabled.reason);
      });
    }
  }, options.clientCheckMs ?? 30_000);
  if (clientCheck) clientCheck.unref();

  function handleProtocols(protocols: Set<string>): string | false {
    return protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false;
  }

  async function publishPresence(address: string, status: PresenceStatus) {
    const presence = await services.presence.report(address, status);
    await bus.publish({ kind: 'presence', ...presence });
  }

  function attach(socket: WebSocket, request: IncomingMessage) {
    alive.add(socket);
    socket.on('pong', () => alive.add(socket));
    const connection: Connection = { id: randomUUID(), socket, identity: null, status: 'online', watching: new Set() };
    const allowance = createSocketAllowance(config);
    let expiryTimers: NodeJS.Timeout[] = [];
    // Frames of one socket are handled one after another, in arrival order. A plain list, not a chain of
    // promises: the chain's last link stayed alive until the socket's next frame and was promoted to the
    // old generation by the garbage collector, one per frame (bench/node).
    const tasks: (() => Promise<void>)[] = [];
    let working = false;
    const runTasks = async () => {
      working = true;
      for (let task = tasks.shift(); task; task = tasks.shift()) {
        try {
          await task();
        } catch (err) {
          logger.error({ err }, 'socket queue failed');
        }
      }
      working = false;
    };
    const schedule = (task: () => Promise<void>) => {
      tasks.push(task);
      if (!working) void runTasks();
    };
    const session: SocketSession = {
      ctx: undefined as never,
      connection,
      registry,
      typingAt: new Map(),
      async setStatus(status) {
        connection.status = status;
        const address = connection.identity!.address;
        await publishPresence(address, registry.localStatus(address));
      },
    };
    const send = (frame: ServerFrame) => registry.sendTo(connection, frame);
    const close = (reason: { code: number; reason: string }) => socket.close(reason.code, reason.reason);
    const authTimer = setTimeout(() => {
      if (!connection.identity) close(CLOSE.authTimeout);
    }, AUTH_TIMEOUT_MS);

    function strike(error: FrameError | { code: string; message: string }, re?: string) {
      send(serverFrame('error', { code: error.code, message: error.message, ...fieldsOf(error) }, re));
      if (allowance.strike()) close(CLOSE.badFrames);
    }

    function scheduleExpiry(identity: Identity) {
      for (const t of expiryTimers) clearTimeout(t);
      const left = identity.expiresAt - Date.now();
      expiryTimers = [
        setTimeout(() => send(serverFrame('auth.expiring', { expiresAt: new Date(identity.expiresAt).toISOString() })), Math.max(0, left - config.authGraceSeconds * 1000)),
        setTimeout(() => close(CLOSE.tokenExpired), Math.max(0, left)),
      ];
    }

    async function authenticate(token: string, re?: string) {
      let identity: Identity;
      try {
        identity = await verifier.verify(token);
      } catch (error) {
        const code = isAppError(error) ? error.code : 'unauthenticated';
        const message = isAppError(error) ? error.message : 'The token could not be verified';
        send(serverFrame('error', { code, message }, re));
        if (!connection.identity) close(refusalClose(code));
        return;
      }
      if (connection.identity && connection.identity.address !== identity.address) {
        send(serverFrame('error', { code: 'identity_mismatch', message: 'A socket cannot change who it speaks for' }, re));
        return;
      }
      const first = !connection.identity;
      connection.identity = identity;
      session.ctx = { ...services, actor: identity, connectionId: connection.id };
      clearTimeout(authTimer);
      scheduleExpiry(identity);
      if (first && registry.add(connection)) await publishPresence(identity.address, 'online');
      send(serverFrame('ready', { address: identity.address, expiresAt: new Date(identity.expiresAt).toISOString(), serverTime: new Date().toISOString(), maxFrameBytes: config.maxFrameBytes, rateLimit }, re));
    }

    async function handle(frame: ClientFrame, arrivedAt: number) {
      if (frame.type === 'auth') return authenticate(frame.token, frame.id);
      if (!connection.identity) {
        send(serverFrame('error', { code: 'unauthenticated', message: 'Authenticate first' }, frame.id));
        return close(CLOSE.unauthenticated);
      }
      const handler = handlers[frame.type] as ((s: SocketSession, f: ClientFrame) => ReturnType<NonNullable<typeof handlers.ping>>) | undefined;
      try {
        if (!handler) throw new UnsupportedFrameError(frame.type);
        const result = await handler(session, frame);
        if (isDeferred(result)) result.deferred.then((reply) => acked(frame, reply, arrivedAt), (error: unknown) => send(errorFrame(error, frame.id)));
        else send(result);
      } catch (error) {
        send(errorFrame(error, frame.id));
      }
    }

    function acked(frame: ClientFrame, reply: ServerFrame, arrivedAt: number) {
      send(reply);
      if (frame.type === 'send') options.onSendAcked?.((performance.now() - arrivedAt) / 1000);
    }

    function errorFrame(error: unknown, re: string): ServerFrame {
      if (isAppError(error)) return serverFrame('error', { code: error.code, message: error.message, ...fieldsOf(error) }, re);
      logger.error({ err: error }, 'frame handler failed');
      return serverFrame('error', { code: 'internal_error', message: 'Something went wrong; try again' }, re);
    }

    socket.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return strike({ code: 'binary_not_supported', message: 'Frames are JSON text' });
      // The refusal names the frame and says when the whole allowance is back, so a client waiting for its
      // answer learns it may send it again then (the SDK does, pacing what follows).
      const verdict = allowance.frame();
      if (!verdict.allowed) {
        send(serverFrame('error', { code: 'rate_limited', message: 'Too many frames; slow down', retryAfterMs: verdict.retryAfterMs }, frameIdOf(data as Buffer)));
        if (verdict.close) close(CLOSE.flooding);
        return;
      }
      const arrivedAt = performance.now();
      let frame: ClientFrame;
      try {
        frame = parseFrame(data as Buffer, config.maxFrameBytes);
      } catch (error) {
        return strike(error as FrameError, (error as FrameError).re);
      }
      // A send is answered when durable, later, without holding up the socket's next frames.
      schedule(() => handle(frame, arrivedAt));
    });

    socket.on('close', () => {
      clearTimeout(authTimer);
      for (const t of expiryTimers) clearTimeout(t);
      if (registry.remove(connection)) {
        void publishPresence(connection.identity!.address, 'offline').catch((err) => logger.warn({ err }, 'presence update failed'));
      }
    });
    socket.on('error', (err) => logger.debug({ err }, 'socket error'));

    // Handed over once and then dropped: a closure still holding it would keep the whole header
    // (the JWT, ~1 KB) alive for as long as the socket.
    let offered = tokenOffered(request);
    if (offered !== undefined) {
      schedule(() => {
        const token = offered!;
        offered = undefined;
        return authenticate(token);
      });
    }
  }

  return {
    registry,
    upgrade(request: IncomingMessage, socket: Duplex, head: Buffer) {
      wss.handleUpgrade(request, socket, head, (ws) => attach(ws, request));
    },
    async close() {
      clearInterval(heartbeat);
      if (clientCheck) clearInterval(clientCheck);
      const sockets = new Set(registry.all().map((c) => c.socket));
      for (const client of wss.clients) sockets.add(client);
      await Promise.all(
        [...sockets].map(
          (s) =>
            new Promise<void>((resolve) => {
              if (s.readyState === s.CLOSED) return resolve();
              s.once('close', () => resolve());
              s.close(CLOSE.goingAway.code, CLOSE.goingAway.reason);
              setTimeout(() => {
                s.terminate();
                resolve();
              }, 2_000).unref();
            }),
        ),
      );
      wss.close();
    },
  };
}

/** The access token offered as the `atrium.token.<jwt>` subprotocol, if any. */
function tokenOffered(request: IncomingMessage): string | undefined {
  const offered = String(request.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .find((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX));
  return offered?.slice(TOKEN_PROTOCOL_PREFIX.length);
}

/** How a socket that could not authenticate is closed, by the refusal's code: the reason says what the client should do next. */
const REFUSAL_CLOSES: Record<string, { code: number; reason: string }> = {
  forbidden: CLOSE.forbidden,
  client_disabled: CLOSE.clientDisabled,
  token_expired: CLOSE.tokenExpired,
  token_revoked: CLOSE.tokenRevoked,
};
const refusalClose = (code: string) => REFUSAL_CLOSES[code] ?? CLOSE.unauthenticated;

function fieldsOf(error: unknown): { fields?: Record<string, string> } {
  const fields = isAppError(error) ? (error.details?.fields as Record<string, string> | undefined) : undefined;
  return fields ? { fields } : {};
}

/** The upgrade requests of the node's HTTP server: `/ws` becomes a chat socket, any other path a 404. */
export function socketUpgrades(sockets: SocketServer, path = '/ws'): (request: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (request, socket, head) => {
    const url = new URL(request.url ?? '/', 'http://node');
    if (url.pathname !== path) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    sockets.upgrade(request, socket, head);
  };
}
