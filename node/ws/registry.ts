import type { WebSocket } from 'ws';
import type { Identity } from '../auth/token-verifier.ts';
import type { BusEvent } from '../bus/bus.ts';
import type { PresenceStatus } from '../presence/presence-store.ts';
import { serverFrame, type ServerFrame } from '../../protocol/frames.ts';
import { CLOSE } from './close-codes.ts';

export type Connection = {
  id: string;
  socket: WebSocket;
  identity: Identity | null;
  status: PresenceStatus;
  /** Addresses whose presence changes this device asked to hear about. */
  watching: Set<string>;
};

/** This process's open, authenticated sockets, and what reaches them from the bus. */
export interface Registry {
  /** Adds an authenticated socket; true when it is its address's first socket in this process. */
  add(connection: Connection): boolean;
  /** Removes a socket (and what it watched); true when this was the address's last socket in this process. */
  remove(connection: Connection): boolean;
  /** The socket hears of these addresses' presence changes until it closes. */
  watch(connection: Connection, addresses: string[]): void;
  /** This process's sockets of an address. */
  connectionsOf(address: string): Connection[];
  /** The best status among this process's sockets of an address. */
  localStatus(address: string): PresenceStatus;
  /** Hands a bus event to the sockets it concerns: frames delivered, presence told, ended sessions closed. */
  deliver(event: BusEvent): void;
  /** Sends one frame to one socket, if it is still open. */
  sendTo(connection: Connection, frame: ServerFrame): void;
  /** Every socket of this process. */
  all(): Connection[];
  /** How many sockets this process holds. */
  readonly size: number;
}

/**
 * This process's open sockets, by address and by watched presence, and the delivery of bus events to
 * them. Frames are serialized once per event, not once per socket.
 */
export function createRegistry(): Registry {
  const byAddress = new Map<string, Set<Connection>>();
  const watchers = new Map<string, Set<Connection>>();

  function send(connection: Connection, data: string | Buffer) {
    // A Buffer is still a text frame: it is the JSON, encoded once for all its targets.
    if (connection.socket.readyState === connection.socket.OPEN) connection.socket.send(data, { binary: false });
  }

  // Deliveries go out in order, at most SLICE socket writes per turn of the event loop, so a message to
  // a large group does not hold up the next flush or every other socket while it is written.
  const SLICE = 500;
  const pending: { data: Buffer; targets: Connection[] }[] = [];
  let pumping = false;

  function pump() {
    let budget = SLICE;
    while (pending.length > 0 && budget > 0) {
      const job = pending[0]!;
      const n = Math.min(budget, job.targets.length);
      for (const connection of job.targets.splice(0, n)) send(connection, job.data);
      budget -= n;
      if (job.targets.length === 0) pending.shift();
    }
    pumping = pending.length > 0;
    if (pumping) setImmediate(pump);
  }

  function enqueue(data: Buffer, targets: Connection[]) {
    if (targets.length === 0) return;
    pending.push({ data, targets });
    if (!pumping) pump();
  }

  return {
    add(connection: Connection): boolean {
      const address = connection.identity!.address;
      const set = byAddress.get(address) ?? new Set();
      const first = set.size === 0;
      set.add(connection);
      byAddress.set(address, set);
      return first;
    },
    remove(connection: Connection): boolean {
      for (const address of connection.watching) watchers.get(address)?.delete(connection);
      const address = connection.identity?.address;
      if (!address) return false;
      const set = byAddress.get(address);
      if (!set?.delete(connection)) return false;
      if (set.size > 0) return false;
      byAddress.delete(address);
      return true;
    },
    watch(connection: Connection, addresses: string[]) {
      for (const address of addresses) {
        connection.watching.add(address);
        const set = watchers.get(address) ?? new Set();
        set.add(connection);
        watchers.set(address, set);
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
        const targets: Connection[] = [];
        for (const address of event.recipients) {
          for (const connection of byAddress.get(address) ?? []) {
            if (connection.id !== event.exceptConnection) targets.push(connection);
          }
        }
        if (targets.length > 0)
          enqueue(Buffer.from(typeof event.frame === 'string' ? event.frame : JSON.stringify(event.frame)), targets);
      } else if (event.kind === 'presence') {
        const data = JSON.stringify(
          serverFrame('presence', { address: event.address, status: event.status, lastSeen: event.lastSeen }),
        );
        for (const connection of watchers.get(event.address) ?? []) send(connection, data);
      } else if (event.kind === 'access.ended') {
        for (const set of byAddress.values()) {
          for (const connection of set) {
            const identity = connection.identity;
            if (identity?.kind !== 'user' || identity.issuedAt === undefined) continue;
            const issuedAt = identity.issuedAt;
            const entry = event.entries.find(
              (e) =>
                issuedAt <= e.endedAt && (e.kind === 'sid' ? e.subject === identity.sid : e.subject === identity.sub),
            );
            if (!entry) continue;
            // `signed_out`: that session was signed out; `access_ended`: an administrator ended all of the person's access.
            send(
              connection,
              JSON.stringify(
                serverFrame('session.ended', { reason: entry.kind === 'sid' ? 'signed_out' : 'access_ended' }),
              ),
            );
            connection.socket.close(CLOSE.sessionEnded.code, CLOSE.sessionEnded.reason);
          }
        }
      }
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
