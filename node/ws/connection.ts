import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { RawData, WebSocket } from 'ws';
import type { ClockTimer } from '../../core/clock.ts';
import { isAppError, RateLimitedError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { Identity, TokenVerifier } from '../auth/token-verifier.ts';
import type { NodeServices } from '../context.ts';
import type { PresenceStatus } from '../presence/presence-store.ts';
import { serverFrame, wireCode, type ClientFrame, type ServerFrame } from '../../protocol/frames.ts';
import { CLOSE } from './close-codes.ts';
import { handlers, isDeferred, UnsupportedFrameError, type SocketSession } from './handlers.ts';
import { FrameError, frameIdOf, parseFrame } from './parse-frame.ts';
import type { Connection, Registry } from './registry.ts';
import { createSocketAllowance, type SocketAllowance } from './socket-allowance.ts';

const AUTH_TIMEOUT_MS = 10_000;
const TOKEN_PROTOCOL_PREFIX = 'atrium.token.';

/** What every socket of the server shares. */
export type ConnectionDeps = {
  services: NodeServices;
  verifier: TokenVerifier;
  registry: Registry;
  /** Told in `ready`, so that a client can pace itself rather than learn the limit from refusals. */
  rateLimit: { framesPerSecond: number; burst: number };
  /** Tells the domain's processes (and through them, watchers) of an address's presence in this process. */
  publishPresence(address: string, status: PresenceStatus): Promise<void>;
  /** Told, for each send acknowledged, the seconds from its frame's arrival to its ack (after the commit). */
  onSendAcked?: (seconds: number) => void;
};

type Reason = { code: number; reason: string };

/** One socket's state, as the pieces below share it. */
type Live = {
  deps: ConnectionDeps;
  connection: Connection;
  session: SocketSession;
  send(frame: ServerFrame): void;
  close(reason: Reason): void;
  authTimer: NodeJS.Timeout;
  expiryTimers: ClockTimer[];
};

/**
 * One chat socket from its upgrade to its close: it authenticates (first frame or subprotocol), then each
 * frame is checked against the socket's allowance, parsed, and handled in arrival order, answered with the
 * client's frame id. Bad input earns an error frame and a strike; enough strikes, faster than they fade,
 * close the socket (socket-allowance.ts).
 */
export function attachConnection(deps: ConnectionDeps, socket: WebSocket, request: IncomingMessage): void {
  const { logger, config } = deps.services;
  const connection: Connection = { id: randomUUID(), socket, identity: null, status: 'online', watching: new Set() };
  const session: SocketSession = {
    ctx: undefined as never,
    connection,
    registry: deps.registry,
    async setStatus(status) {
      connection.status = status;
      const address = connection.identity!.address;
      await deps.publishPresence(address, deps.registry.localStatus(address));
    },
  };
  const live: Live = {
    deps,
    connection,
    session,
    send: (frame) => deps.registry.sendTo(connection, frame),
    close: (reason) => socket.close(reason.code, reason.reason),
    authTimer: setTimeout(() => {
      if (!connection.identity) live.close(CLOSE.authTimeout);
    }, AUTH_TIMEOUT_MS),
    expiryTimers: [],
  };
  const allowance = createSocketAllowance(config, deps.services.clock.now);
  const schedule = frameQueue(logger);

  socket.on('message', (data: RawData, isBinary: boolean) =>
    onMessage(live, allowance, schedule, data as Buffer, isBinary),
  );
  socket.on('close', () => onClose(live));
  socket.on('error', (err) => logger.debug({ err }, 'socket error'));

  // Handed over once and then dropped: a closure still holding it would keep the whole header
  // (the JWT, ~1 KB) alive for as long as the socket.
  let offered = tokenOffered(request);
  if (offered !== undefined) {
    schedule(() => {
      const token = offered!;
      offered = undefined;
      return authenticate(live, token);
    });
  }
}

/**
 * Frames of one socket are handled one after another, in arrival order. A plain list, not a chain of
 * promises: the chain's last link stayed alive until the socket's next frame and was promoted to the
 * old generation by the garbage collector, one per frame (bench/node).
 */
function frameQueue(logger: Logger): (task: () => Promise<void>) => void {
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
  return (task) => {
    tasks.push(task);
    if (!working) void runTasks();
  };
}

type Allowance = SocketAllowance;

/** A bad frame: an error frame, and a strike that may close the socket. */
function strike(
  live: Live,
  allowance: Allowance,
  error: FrameError | { code: string; message: string },
  re?: string,
): void {
  live.send(serverFrame('error', { code: wireCode(error.code), message: error.message, ...fieldsOf(error) }, re));
  if (allowance.strike()) live.close(CLOSE.badFrames);
}

function onMessage(
  live: Live,
  allowance: Allowance,
  schedule: (task: () => Promise<void>) => void,
  data: Buffer,
  isBinary: boolean,
): void {
  if (!acting(live)) return;
  if (isBinary) return strike(live, allowance, { code: 'binary_not_supported', message: 'Frames are JSON text' });
  // The refusal names the frame and says when the whole allowance is back, so a client waiting for its
  // answer learns it may send it again then (the SDK does, pacing what follows).
  const verdict = allowance.frame();
  if (!verdict.allowed) {
    live.send(
      serverFrame(
        'error',
        { code: 'rate_limited', message: 'Too many frames; slow down', retryAfterMs: verdict.retryAfterMs },
        frameIdOf(data),
      ),
    );
    if (verdict.close) live.close(CLOSE.flooding);
    return;
  }
  const arrivedAt = performance.now();
  let frame: ClientFrame;
  try {
    frame = parseFrame(data, live.deps.services.config.maxFrameBytes);
  } catch (error) {
    return strike(live, allowance, error as FrameError, (error as FrameError).re);
  }
  // A send is answered when durable, later, without holding up the socket's next frames.
  schedule(() => handle(live, frame, arrivedAt));
}

/**
 * Whether the socket still acts for its person. Once a close frame is sent (the node's: the token expired,
 * access ended; or the client's), frames still arriving or waiting in the queue are dropped: a client that
 * does not answer the node's close keeps its connection until ws cuts it, and must not send or change
 * groups meanwhile.
 */
function acting(live: Live): boolean {
  const { socket } = live.connection;
  return socket.readyState === socket.OPEN;
}

function onClose(live: Live): void {
  const { connection, deps } = live;
  clearTimeout(live.authTimer);
  for (const t of live.expiryTimers) deps.services.clock.clearTimeout(t);
  if (deps.registry.remove(connection)) {
    void deps
      .publishPresence(connection.identity!.address, 'offline')
      .catch((err) => deps.services.logger.warn({ err }, 'presence update failed'));
  }
}

/** Warns the client before its token expires, and closes the socket when it has. */
function scheduleExpiry(live: Live, identity: Identity): void {
  const { clock } = live.deps.services;
  for (const t of live.expiryTimers) clock.clearTimeout(t);
  const left = identity.expiresAt - clock.now();
  const graceMs = live.deps.services.config.authGraceSeconds * 1000;
  live.expiryTimers = [
    clock.setTimeout(
      () => live.send(serverFrame('auth.expiring', { expiresAt: new Date(identity.expiresAt).toISOString() })),
      Math.max(0, left - graceMs),
    ),
    clock.setTimeout(() => live.close(CLOSE.tokenExpired), Math.max(0, left)),
  ];
}

/** A token offered (first, or renewed): the socket speaks for its holder, and is told `ready`. */
async function authenticate(live: Live, token: string, re?: string): Promise<void> {
  const { connection, deps, send } = live;
  let identity: Identity;
  try {
    identity = await deps.verifier.verify(token);
  } catch (error) {
    const code = isAppError(error) ? error.code : 'unauthenticated';
    const message = isAppError(error) ? error.message : 'The token could not be verified';
    send(serverFrame('error', { code: wireCode(code), message }, re));
    if (!connection.identity) live.close(refusalClose(code));
    return;
  }
  // Closed while the token was checked: it speaks for no one now, and registered after onClose it would
  // stay registered.
  if (!acting(live)) return;
  if (connection.identity && connection.identity.address !== identity.address) {
    send(serverFrame('error', { code: 'identity_mismatch', message: 'A socket cannot change who it speaks for' }, re));
    return;
  }
  const first = !connection.identity;
  if (first && tooManySockets(live, identity, re)) return;
  connection.identity = identity;
  live.session.ctx = { ...deps.services, actor: identity, connectionId: connection.id };
  clearTimeout(live.authTimer);
  scheduleExpiry(live, identity);
  if (first && deps.registry.add(connection)) await deps.publishPresence(identity.address, 'online');
  const { maxFrameBytes, maxTextChars, recallWindowSeconds, attachments } = deps.services.config;
  send(
    serverFrame(
      'ready',
      {
        address: identity.address,
        expiresAt: new Date(identity.expiresAt).toISOString(),
        serverTime: new Date().toISOString(),
        maxFrameBytes,
        maxTextChars,
        recallWindowSeconds,
        attachmentTypes: attachments.types,
        rateLimit: deps.rateLimit,
      },
      re,
    ),
  );
}

/**
 * Whether the address already holds as many sockets to this process as one person may (SOCKETS_PER_PERSON):
 * then the new socket is told why and closed, and those already open go on. Refusing the newcomer rather
 * than closing the oldest keeps what a person is using working, and cannot set two clients closing each
 * other in turn as they reconnect. Counted per process: the sockets are what a process holds.
 */
function tooManySockets(live: Live, identity: Identity, re: string | undefined): boolean {
  const most = live.deps.services.config.personLimits.socketsPerPerson;
  if (live.deps.registry.connectionsOf(identity.address).length < most) return false;
  const message = `You already have ${most} connections open to this node (tabs, devices, apps): close one to connect another`;
  live.send(serverFrame('error', { code: 'too_many_sockets', message }, re));
  live.close(CLOSE.tooManySockets);
  return true;
}

async function handle(live: Live, frame: ClientFrame, arrivedAt: number): Promise<void> {
  const { send } = live;
  if (!acting(live)) return;
  if (frame.type === 'auth') return authenticate(live, frame.token, frame.id);
  if (!live.connection.identity) {
    send(serverFrame('error', { code: 'unauthenticated', message: 'Authenticate first' }, frame.id));
    return live.close(CLOSE.unauthenticated);
  }
  const handler = handlers[frame.type] as
    | ((s: SocketSession, f: ClientFrame) => ReturnType<NonNullable<typeof handlers.ping>>)
    | undefined;
  const logger = live.deps.services.logger;
  try {
    if (!handler) throw new UnsupportedFrameError(frame.type);
    const result = await handler(live.session, frame);
    if (isDeferred(result))
      result.deferred.then(
        (reply) => acked(live, frame, reply, arrivedAt),
        (error: unknown) => send(errorFrame(logger, error, frame.id)),
      );
    else send(result);
  } catch (error) {
    send(errorFrame(logger, error, frame.id));
  }
}

function acked(live: Live, frame: ClientFrame, reply: ServerFrame, arrivedAt: number): void {
  live.send(reply);
  if (frame.type === 'send') live.deps.onSendAcked?.((performance.now() - arrivedAt) / 1000);
}

function errorFrame(logger: Logger, error: unknown, re: string): ServerFrame {
  // A refusal for pace says when to ask again, as the frame limit's does (the SDK waits that long).
  const retry = error instanceof RateLimitedError ? { retryAfterMs: error.retryAfterSeconds * 1000 } : {};
  if (isAppError(error))
    return serverFrame(
      'error',
      { code: wireCode(error.code), message: error.message, ...fieldsOf(error), ...retry },
      re,
    );
  logger.error({ err: error }, 'frame handler failed');
  return serverFrame('error', { code: 'internal_error', message: 'Something went wrong; try again' }, re);
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
const REFUSAL_CLOSES: Record<string, Reason> = {
  forbidden: CLOSE.forbidden,
  client_disabled: CLOSE.clientDisabled,
  token_expired: CLOSE.tokenExpired,
  token_revoked: CLOSE.tokenRevoked,
  gateway_unavailable: CLOSE.gatewayUnavailable,
};
const refusalClose = (code: string) => REFUSAL_CLOSES[code] ?? CLOSE.unauthenticated;

function fieldsOf(error: unknown): { fields?: Record<string, string> } {
  const fields = isAppError(error) ? (error.details?.fields as Record<string, string> | undefined) : undefined;
  return fields ? { fields } : {};
}
