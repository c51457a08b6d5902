import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type ServerOptions, type WebSocket } from 'ws';
import type { Clock } from '../../core/clock.ts';
import { lastingWarnings } from '../../core/lasting-warnings.ts';
import type { Logger } from '../../core/logger.ts';
import { gatewayFailure } from '../../protocol/gateway-refusal.ts';
import type { Identity, TokenVerifier } from '../auth/token-verifier.ts';
import { botPushGate } from '../bots/bot-reads.ts';
import type { NodeServices } from '../context.ts';
import type { PresenceStatus } from '../presence/presence-store.ts';
import { CLOSE } from './close-codes.ts';
import { attachConnection } from './connection.ts';
import { createRegistry, type Connection, type Registry } from './registry.ts';

const SUBPROTOCOL = 'atrium.v1';
/** How often a slice of the sockets is pinged. */
const HEARTBEAT_SLICE_MS = 100;
/**
 * How long a client has to answer a close frame before its connection is cut. ws's default, 30 s, let a
 * client that ignores the node's close (its token expired, its access ended) hold the connection that long.
 */
const CLOSE_ANSWER_MS = 2_000;

/** The node's chat sockets: upgrades taken in, and every socket of this process. */
export interface SocketServer {
  /** This process's authenticated sockets. */
  readonly registry: Registry;
  /**
   * An administrator changed the app `slug` (its client `clientId`) at the gateway: the sockets opened with
   * tokens issued to it (its bot's, its people's) are checked now against the gateway's fresh answer, not
   * at the next regular check, and close as that check closes them if the app may no longer be used here
   * (disabled, its bot turned off, deleted). Call it once what was kept of the app is forgotten.
   */
  appChanged(app: { slug: string; clientId?: string }): void;
  /** Takes an HTTP upgrade request to `/ws` in as a chat socket. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes every socket with "going away" so clients reconnect elsewhere; resolves when all are closed. */
  close(): Promise<void>;
}

export type SocketServerOptions = {
  /** Told, for each send acknowledged, the seconds from its frame's arrival to its ack (after the commit). */
  onSendAcked?: (seconds: number) => void;
  /** Whether the app a token was issued to may still be used here; open sockets of one that may not are closed. */
  clientActive?: (identity: Identity) => Promise<boolean>;
  /** How often the clients of open sockets are checked (default 30 s). */
  clientCheckMs?: number;
};

/**
 * The node's WebSocket endpoint (`/ws`): each socket is a connection of its own (connection.ts); here are
 * what watches all of them, the heartbeat and the check of their clients, and closing them all.
 */
export function createSocketServer(
  services: NodeServices,
  verifier: TokenVerifier,
  options: SocketServerOptions = {},
): SocketServer {
  const { config, logger, bus } = services;
  const registry = createRegistry({ toBots: botPushGate(services) });
  // ws itself refuses frames far beyond the limit (closing with 1009); up to that we answer with an error frame.
  // `closeTimeout` is ws's own option; @types/ws does not list it yet.
  const serverOptions: ServerOptions & { closeTimeout: number } = {
    noServer: true,
    maxPayload: config.maxFrameBytes * 4,
    perMessageDeflate: false,
    handleProtocols,
    closeTimeout: CLOSE_ANSWER_MS,
  };
  const wss = new WebSocketServer(serverOptions);
  const heartbeat = startHeartbeat(wss, config.heartbeatSeconds * 1000, services.clock);
  const checkClients = options.clientActive && clientCheck(options.clientActive, logger);
  const everyMs = options.clientCheckMs ?? 30_000;
  const clientCheckTimer = checkClients && setInterval(() => void checkClients(registry.all(), true), everyMs).unref();
  const deps = {
    services,
    verifier,
    registry,
    rateLimit: { framesPerSecond: config.framesPerSecond, burst: config.framesPerSecond },
    onSendAcked: options.onSendAcked,
    async publishPresence(address: string, status: PresenceStatus) {
      const presence = await services.presence.report(address, status);
      await bus.publish({ kind: 'presence', ...presence });
    },
  };

  return {
    registry,
    appChanged(app) {
      void checkClients?.(registry.all().filter((c) => c.identity && issuedTo(c.identity, app)));
    },
    upgrade(request, socket, head) {
      wss.handleUpgrade(request, socket, head, (ws) => {
        heartbeat.track(ws);
        attachConnection(deps, ws, request);
      });
    },
    async close() {
      heartbeat.stop();
      if (clientCheckTimer) clearInterval(clientCheckTimer);
      const sockets = new Set(registry.all().map((c) => c.socket));
      for (const client of wss.clients) sockets.add(client);
      await Promise.all([...sockets].map(goAway));
      wss.close();
    },
  };
}

function handleProtocols(protocols: Set<string>): string | false {
  return protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false;
}

/** Tells a socket the server is going away; ends it if it has not closed within CLOSE_ANSWER_MS. */
function goAway(s: WebSocket): Promise<void> {
  return new Promise<void>((resolve) => {
    if (s.readyState === s.CLOSED) return resolve();
    s.once('close', () => resolve());
    s.close(CLOSE.goingAway.code, CLOSE.goingAway.reason);
    setTimeout(() => {
      s.terminate();
      resolve();
    }, CLOSE_ANSWER_MS).unref();
  });
}

/**
 * A client that vanished without closing (a phone losing its network) is found by a missed pong. Each
 * socket is checked once per heartbeat interval, the sockets spread over the interval in small slices:
 * pinging 15,000 sockets at once held the event loop (and every message) for ~400 ms (bench/node).
 */
function startHeartbeat(
  wss: WebSocketServer,
  intervalMs: number,
  clock: Clock,
): { track(socket: WebSocket): void; stop(): void } {
  const alive = new WeakSet<WebSocket>();
  const slices = Math.max(1, Math.round(intervalMs / HEARTBEAT_SLICE_MS));
  let round: WebSocket[] = [];
  let slice = 0;
  let next = 0;
  const sliceMs = intervalMs / slices;
  // One slice after another by the node's clock (a timer set again each time, so that a test moving the
  // clock moves the heartbeat with it).
  const tick = () => {
    pingSlice();
    timer = clock.setTimeout(tick, sliceMs).unref();
  };
  const pingSlice = () => {
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
  };
  let timer = clock.setTimeout(tick, sliceMs).unref();
  return {
    track(socket) {
      alive.add(socket);
      socket.on('pong', () => alive.add(socket));
    },
    stop: () => clock.clearTimeout(timer),
  };
}

/**
 * An app disabled at the gateway: the sockets opened with tokens it was issued (its people's, or its bot's)
 * close within a check (every `clientCheckMs`, and at once when the gateway tells of the app's change), not
 * when the tokens expire. Few distinct clients hold sockets (the portal, some apps): one question each.
 * While the gateway cannot say (away, or refusing this node), the sockets stay open: said once a check
 * and as lasting warnings are (lasting-warnings.ts), not once per client at every check; the gateway's own
 * failure is said by the lookups themselves (gateway-lookup.ts). `whole`: a check of every socket, whose
 * success alone tells that checks work again.
 */
export function clientCheck(
  clientActive: (identity: Identity) => Promise<boolean>,
  logger: Logger,
): (connections: Iterable<Connection>, whole?: boolean) => Promise<void> {
  const warnings = lastingWarnings(logger);
  return async (connections, whole = false) => {
    const byClient = new Map<string, { identity: Identity; connections: Connection[] }>();
    for (const connection of connections) {
      const identity = connection.identity;
      if (!identity) continue;
      // A bot's app is asked about by its slug as well: the answer depends on both.
      const key = identity.kind === 'user' ? `user ${identity.clientId}` : `app ${identity.clientId} ${identity.slug}`;
      const group = byClient.get(key);
      // Appended in place: copying the list for each socket made this quadratic, and with 15,000 sockets
      // of one client (the portal's) it held the event loop for ~0.9 s every check (bench/node).
      if (group) group.connections.push(connection);
      else byClient.set(key, { identity, connections: [connection] });
    }
    const unknown = { clients: 0, sockets: 0 };
    const checks = [...byClient.values()].map(async ({ identity, connections }) => {
      const { clientId } = identity;
      try {
        if (await clientActive(identity)) return;
      } catch (error) {
        // The gateway cannot say and nothing is kept of the app: the sockets stay until it can.
        if (!gatewayFailure(error)) logger.warn({ err: error, clientId }, 'client status unknown; sockets left open');
        unknown.clients += 1;
        unknown.sockets += connections.length;
        return;
      }
      logger.info({ clientId, sockets: connections.length }, 'closing the sockets of a disabled client');
      for (const c of connections) c.socket.close(CLOSE.clientDisabled.code, CLOSE.clientDisabled.reason);
    });
    await Promise.all(checks);
    if (unknown.clients > 0)
      warnings.warn(
        'client-check',
        unknown,
        "Some open sockets' apps cannot be checked (the gateway cannot say whether they are still enabled): those sockets stay open until it can",
      );
    else if (whole) warnings.over('client-check', 'The apps of open sockets are checked again');
  };
}

/** Whether a socket's token was issued to the app: its bot's (by its slug too), or a person's through it. */
function issuedTo(identity: Identity, app: { slug: string; clientId?: string }): boolean {
  return identity.clientId === app.clientId || (identity.kind === 'app' && identity.slug === app.slug);
}

/** The upgrade requests of the node's HTTP server: `/ws` becomes a chat socket, any other path a 404. */
export function socketUpgrades(
  sockets: SocketServer,
  path = '/ws',
): (request: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (request, socket, head) => {
    const url = new URL(request.url ?? '/', 'http://node');
    if (url.pathname !== path) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    sockets.upgrade(request, socket, head);
  };
}
