import { createHmac, randomBytes } from 'node:crypto';
import type { Request } from 'express';

/**
 * Portal session ids start with a keyed hash of the gateway session they were signed in from, so a
 * back-channel logout naming that gateway session finds every portal session of it by prefix, without
 * an index of its own. The rest of the id is random, as express-session's own ids are.
 */
export function createSessionTagging(secretKey: string) {
  const pending = new WeakMap<Request, string>();
  const tag = (gatewaySid: string) => createHmac('sha256', secretKey).update(`portal-sid:${gatewaySid}`).digest('hex').slice(0, 32);
  return {
    /** express-session's genid: called when a session is created or regenerated (at sign-in). */
    genid(req: Request): string {
      const gatewaySid = pending.get(req);
      return `${gatewaySid ? tag(gatewaySid) : 'x'}.${randomBytes(24).toString('base64url')}`;
    },
    /** Names the gateway session of the sign-in this request completes, before the session is regenerated. */
    next(req: Request, gatewaySid: string | undefined): void {
      if (gatewaySid) pending.set(req, gatewaySid);
    },
    prefix: (gatewaySid: string) => `${tag(gatewaySid)}.`,
  };
}

export type SessionTagging = ReturnType<typeof createSessionTagging>;
