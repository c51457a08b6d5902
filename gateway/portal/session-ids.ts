import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Request } from 'express';

/**
 * Portal session ids start with a tag of the person, so ending their access (gateway/accounts/end-access.ts)
 * finds their portal sessions, wherever they signed in from, by a prefix of the key that the table's
 * primary key serves. A keyed hash of the gateway session they were signed in from follows, so a
 * back-channel logout, which names the person and that gateway session, finds its portal sessions by a
 * longer prefix. The rest of the id is random, as express-session's own ids are. The admin console's
 * session ids are tagged alike, under tags of their own (`kind`), so that each finds only its sessions.
 */
export interface SessionTagging {
  /** express-session's genid: a new session id, tagged with the gateway session and person `next` named for this request, if any. */
  genid(req: Request): string;
  /** Names the gateway session and the person of the sign-in this request completes, before the session is regenerated. */
  next(req: Request, gatewaySid: string | undefined, userId: string): void;
  /** What the id of every portal session of this person signed in from this gateway session starts with. */
  prefix(userId: string, gatewaySid: string): string;
  /** What the id of a portal session signed in from this gateway session started with before the person's tag came first. */
  formerPrefix(gatewaySid: string): string;
}

/** Whose sessions are tagged: the portal's (and its account page's) or the admin console's. */
export type SessionKind = 'portal' | 'console';

/**
 * What the id of every portal (or console) session of this person starts with. Not keyed: code without the
 * gateway's secret finds the sessions by it, and the random rest of the id is what keeps a session unguessable.
 */
export const personPrefix = (userId: string, kind: SessionKind = 'portal') =>
  `${createHash('sha256').update(`${kind}-person:${userId}`).digest('hex').slice(0, 32)}.`;

export function createSessionTagging(secretKey: string, kind: SessionKind = 'portal'): SessionTagging {
  const pending = new WeakMap<Request, { gatewaySid: string | undefined; userId: string }>();
  const tag = (gatewaySid: string) =>
    createHmac('sha256', secretKey).update(`${kind}-sid:${gatewaySid}`).digest('hex').slice(0, 32);
  return {
    // Called by express-session when a session is created or regenerated (at sign-in).
    genid(req: Request): string {
      const signIn = pending.get(req);
      const random = randomBytes(24).toString('base64url');
      if (!signIn) return `x.${random}`;
      return `${personPrefix(signIn.userId, kind)}${signIn.gatewaySid ? tag(signIn.gatewaySid) : 'x'}.${random}`;
    },
    next(req: Request, gatewaySid: string | undefined, userId: string): void {
      pending.set(req, { gatewaySid, userId });
    },
    prefix: (userId: string, gatewaySid: string) => `${personPrefix(userId, kind)}${tag(gatewaySid)}.`,
    formerPrefix: (gatewaySid: string) => `${tag(gatewaySid)}.`,
  };
}
