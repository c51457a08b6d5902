import type { PresenceStatus } from '../presence/presence-store.ts';
import type { ServerFrame } from '../../protocol/frames.ts';
import type { EndedEntry } from '../auth/ended-access.ts';

/**
 * What one process tells every process of the same domain (itself included): a frame to deliver to the
 * connected devices of some addresses, or an instruction about sockets (close a session's sockets).
 */
export type BusEvent =
  /** `frame` may come as JSON text already (frames that share most of their text, built once: see presentConversationFrames). */
  | { kind: 'deliver'; recipients: string[]; frame: ServerFrame | string; exceptConnection?: string }
  /** The gateway ended sessions or people's access: every process refuses their tokens and closes their sockets. */
  | { kind: 'access.ended'; entries: EndedEntry[] }
  /** A conversation's membership changed: every process drops what it cached about it. */
  | { kind: 'membership'; conversationId: string }
  | { kind: 'presence'; address: string; status: PresenceStatus; lastSeen: string | null };

export interface Bus {
  /** Sends to every process of the domain; the caller's own process receives it too, once. */
  publish(event: BusEvent): Promise<void>;
  /** One handler per process; events arrive in publish order per publisher. */
  subscribe(handler: (event: BusEvent) => void): void;
  close(): Promise<void>;
}
