import { createHmac, randomBytes } from 'node:crypto';
import type { Request } from 'express';

/**
 * Portal session ids start with a keyed hash of the gateway session they were signed in from, so a
 * back-channel logout naming that gateway session finds every portal session of it by prefix, without
 * an index of its own. The rest of the id is random, as express-session's own ids are.
 */
export interface SessionTagging {
  /** express-session's genid: a new session id, tagged with the gateway session `next` named for this request, if any. */
  genid(req: Request): string;
  /** Names the gateway session of the sign-in this request completes, before the session is regenerated. */
  next(req: Request, gatewaySid: string | undefined): void;
  /** What the id of every portal session signed in from this gateway session starts with. */
  prefix(gatewaySid: string): string;
}

export function createSessionTagging(secretKey: string): SessionTagging {
  const pending = new WeakMap<Request, string>();
  const tag = (gatewaySid: string) =>
    createHmac('sha256', secretKey).update(`portal-sid:${gatewaySid}`).digest('hex').slice(0, 32);
  return {
    // Called by express-session when a session is created or regenerated (at sign-in).
    genid(req: Request): string {
      const gatewaySid = pending.get(req);
      return `${gatewaySid ? tag(gatewaySid) : 'x'}.${randomBytes(24).toString('base64url')}`;
    },
    next(req: Request, gatewaySid: string | undefined): void {
      if (gatewaySid) pending.set(req, gatewaySid);
    },
    prefix: (gatewaySid: string) => `${tag(gatewaySid)}.`,
  };
}
