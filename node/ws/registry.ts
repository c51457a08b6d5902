import type { WebSocket } from 'ws';
import type { PushGate } from '../bots/bot-reads.ts';
import type { Identity } from '../auth/token-verifier.ts';
import { ends, type EndedEntry } from '../auth/ended-access.ts';
import { botHolder } from '../auth/ended-bot-tokens.ts';
import type { BusEvent } from '../bus/bus.ts';
import type { PresenceStatus } from '../presence/presence-store.ts';
import { serverFrame, type ServerFrame } from '../../protocol/frames.ts';
import { CLOSE } from './close-codes.ts';
import { textFrameOf, writeTextFrame } from './text-frame.ts';

export type Connection = {
  id: string;
  socket: WebSocket;
  identity: Identity | null;
  status: PresenceStatus;
  /**
   * Addresses whose presence changes this device asked to hear about, the least recently asked first; at
   * most MAX_WATCHED_PER_SOCKET.
   */
  watching: Set<string>;
};

/**
 * The most addresses one socket hears the presence of: as many as one `presence.query` may name. The
 * portal names the peers of the conversations on its list in one query, and names them all again as the
 * list grows, so a device never loses one it shows; what a socket named less recently than its last 500
 * is dropped, so that queries of ever new addresses cannot grow a socket's share of the node's memory.
 */
export const MAX_WATCHED_PER_SOCKET = 500;

/** This process's open, authenticated sockets, and what reaches them from the bus. */
export interface Registry {
  /** Adds an authenticated socket; true when it is its address's first socket in this process. */
  add(connection: Connection): boolean;
  /** Removes a socket (and what it watched); true when this was the address's last socket in this process. */
  remove(connection: Connection): boolean;
  /**
   * The socket hears of these addresses' presence changes until it closes, or until it has asked about
   * MAX_WATCHED_PER_SOCKET others since (the least recently asked are dropped first).
   */
  watch(connection: Connection, addresses: string[]): void;
  /** This process's sockets of an address. */
  connectionsOf(address: string): Connection[];
  /** The best status among this process's sockets of an address. */
  localStatus(address: string): PresenceStatus;
  /** Hands a bus event to the sockets it concerns: frames delivered, presence told, ended sessions closed. */
  deliver(event: BusEvent): void;
  /** Ends every socket of this process, telling each why (`session.ended`) before the close. */
  endAll(reason: EndedReason): void;
  /** Sends one frame to one socket, if it is still open. */
  sendTo(connection: Connection, frame: ServerFrame): void;
  /** Every socket of this process. */
  all(): Connection[];
  /** How many sockets this process holds. */
  readonly size: number;
}

/**
 * Deliveries go out in order, at most SLICE socket writes per turn of the event loop, so a message to a
 * large group does not hold up the next flush or every other socket while it is written. The targets
 * are read, never changed: a big group's list is shared by its messages (see targetsOf).
 */
function createWriteQueue(toBots: PushGate | undefined) {
  const SLICE = 500;
  const pending: {
    text: string;
    data: Buffer;
    frame: Buffer;
    targets: readonly Connection[];
    next: number;
    except: string | undefined;
  }[] = [];
  let pumping = false;

  function pump() {
    let budget = SLICE;
    while (pending.length > 0 && budget > 0) {
      const job = pending[0]!;
      const end = Math.min(job.targets.length, job.next + budget);
      for (let i = job.next; i < end; i++) {
        const connection = job.targets[i]!;
        if (connection.id === job.except) continue;
        if (toBots && connection.identity?.kind === 'app') {
          const { frame, data } = job;
          toBots(connection, job.text, () => writeTextFrame(connection.socket, frame, data));
        } else writeTextFrame(connection.socket, job.frame, job.data);
      }
      budget -= end - job.next;
      job.next = end;
      if (job.next >= job.targets.length) pending.shift();
    }
    pumping = pending.length > 0;
    if (pumping) setImmediate(pump);
  }

  return function enqueue(text: string, targets: readonly Connection[], except: string | undefined) {
    if (targets.length === 0) return;
    // The WebSocket frame too is built once for all the targets.
    const { frame, payload } = textFrameOf(text);
    pending.push({ text, data: payload, frame, targets, next: 0, except });
    if (!pumping) pump();
  };
}

/**
 * This process's open sockets, by address and by watched presence, and the delivery of bus events to
 * them. Frames are serialized once per event, not once per socket. What is delivered to a bot's sockets
 * goes through `toBots`, which may hold some back (node/bots/bot-reads.ts).
 */
export function createRegistry(options: { toBots?: PushGate } = {}): Registry {
  const byAddress = new Map<string, Set<Connection>>();
  const watchers = new Map<string, Set<Connection>>();

  function unwatch(connection: Connection, address: string) {
    connection.watching.delete(address);
    const set = watchers.get(address);
    if (!set?.delete(connection) || set.size > 0) return;
    watchers.delete(address);
  }

  // One socket's frame (an ack, a reply, a presence change) goes out as one write too, like deliveries.
  function send(connection: Connection, text: string) {
    if (connection.socket.readyState !== connection.socket.OPEN) return;
    const { frame, payload } = textFrameOf(text);
    writeTextFrame(connection.socket, frame, payload);
  }

  /** Tells the socket why its session ended, then closes it with the close that says what to do next. */
  function end(connection: Connection, reason: EndedReason) {
    send(connection, JSON.stringify(serverFrame('session.ended', { reason })));
    const close = ENDED_CLOSES[reason] ?? CLOSE.sessionEnded;
    connection.socket.close(close.code, close.reason);
  }

  const enqueue = createWriteQueue(options.toBots);

  // Fan-out hands every message of a conversation the same recipients array until its membership
  // changes (node/messages/fan-out.ts): a big group's sockets are then looked up once, not for each of
  // its messages (10,000 lookups per message in a 10,000-member group), until a socket comes or goes.
  const BIG_AUDIENCE = 64;
  let socketsChanged = 0;
  const targetsByAudience = new WeakMap<readonly string[], { at: number; targets: readonly Connection[] }>();

  function targetsOf(recipients: readonly string[]): readonly Connection[] {
    const known = targetsByAudience.get(recipients);
    if (known && known.at === socketsChanged) return known.targets;
    const targets: Connection[] = [];
    for (const address of recipients) {
      const set = byAddress.get(address);
      if (set) for (const connection of set) targets.push(connection);
    }
    if (recipients.length >= BIG_AUDIENCE) targetsByAudience.set(recipients, { at: socketsChanged, targets });
    return targets;
  }

  return {
    add(connection: Connection): boolean {
      const address = connection.identity!.address;
      const set = byAddress.get(address) ?? new Set();
      const first = set.size === 0;
      set.add(connection);
      socketsChanged += 1;
      byAddress.set(address, set);
      return first;
    },
    remove(connection: Connection): boolean {
      for (const address of connection.watching) unwatch(connection, address);
      const address = connection.identity?.address;
      if (!address) return false;
      const set = byAddress.get(address);
      if (!set?.delete(connection)) return false;
      socketsChanged += 1;
      if (set.size > 0) return false;
      byAddress.delete(address);
      return true;
    },
    watch(connection: Connection, addresses: string[]) {
      const { watching } = connection;
      for (const address of addresses) {
        // Asked again, an address moves to the end: the set's order is the order of the latest queries.
        if (watching.delete(address)) {
          watching.add(address);
          continue;
        }
        watching.add(address);
        const set = watchers.get(address) ?? new Set();
        set.add(connection);
        watchers.set(address, set);
      }
      for (const oldest of watching) {
        if (watching.size <= MAX_WATCHED_PER_SOCKET) break;
        unwatch(connection, oldest);
      }
    },
    connectionsOf(address: string): Connection[] {
      return [...(byAddress.get(address) ?? [])];
    },
    localStatus(address: string): PresenceStatus {
      const set = byAddress.get(address);
      if (!set || set.size === 0) return 'offline';
      return [...set].some((c) => c.status === 'online') ? 'online' : 'away';
    },
    deliver(event: BusEvent) {
      if (event.kind === 'deliver') {
        const targets = targetsOf(event.recipients);
        if (targets.length > 0)
          enqueue(
            typeof event.frame === 'string' ? event.frame : JSON.stringify(event.frame),
            targets,
            event.exceptConnection,
          );
      } else if (event.kind === 'presence') {
        const { frame, payload } = textFrameOf(
          JSON.stringify(
            serverFrame('presence', { address: event.address, status: event.status, lastSeen: event.lastSeen }),
          ),
        );
        for (const connection of watchers.get(event.address) ?? []) writeTextFrame(connection.socket, frame, payload);
      } else if (event.kind === 'access.ended') {
        for (const set of byAddress.values()) {
          for (const connection of set) {
            const reason = endedReason(connection, event.entries);
            if (reason) end(connection, reason);
          }
        }
      }
    },
    endAll(reason: EndedReason) {
      for (const set of byAddress.values()) for (const connection of set) end(connection, reason);
    },
    sendTo(connection: Connection, frame: ServerFrame) {
      send(connection, JSON.stringify(frame));
    },
    all(): Connection[] {
      return [...byAddress.values()].flatMap((s) => [...s]);
    },
    get size() {
      let n = 0;
      for (const set of byAddress.values()) n += set.size;
      return n;
    },
  };
}

/** Why a socket's session ended, as `session.ended` says it. */
export type EndedReason = Extract<ServerFrame, { type: 'session.ended' }>['reason'];

/**
 * Sessions ended for this domain alone close with `left_domain`: reconnecting here cannot help, and the
 * person's other domains go on. A removed domain closes that way too, so that a client which does not know
 * that newer reason of `session.ended` still does the right thing. The others close with `session_ended`.
 */
const ENDED_CLOSES: Partial<Record<EndedReason, { code: number; reason: string }>> = {
  left_domain: CLOSE.leftDomain,
  domain_removed: CLOSE.leftDomain,
  secret_rotated: CLOSE.secretRotated,
};

/**
 * Why the first of `entries` that ends the connection's token ends it, as `session.ended` says it:
 * `signed_out`, that session was signed out; `access_ended`, all of the person's access was ended;
 * `left_domain`, they were moved off this domain's units; `app_access_removed`, the person took back
 * what they allowed the socket's app; `secret_rotated`, for a bot's socket, its app's client secret was
 * rotated (ended-bot-tokens.ts). Nothing when none does.
 */
function endedReason(connection: Connection, entries: EndedEntry[]) {
  const identity = connection.identity;
  if (!identity) return undefined;
  const bot = botHolder(identity);
  if (bot) return entries.some((e) => ends(e, bot)) ? ('secret_rotated' as const) : undefined;
  if (identity.kind !== 'user' || identity.issuedAt === undefined) return undefined;
  const holder = { ...identity, issuedAt: identity.issuedAt };
  const entry = entries.find((e) => ends(e, holder));
  if (!entry) return undefined;
  if (entry.reason === 'left_domain') return 'left_domain' as const;
  if (entry.kind === 'sid') return 'signed_out' as const;
  return entry.clientId !== undefined ? ('app_access_removed' as const) : ('access_ended' as const);
}
