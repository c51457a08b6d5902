import express, { Router } from 'express';
import { jwtVerify, type JWTVerifyGetKey } from 'jose';
import { AppError } from '../../core/errors.ts';
import { endedEntrySchema, type EndedAccess, type EndedEntry } from '../auth/ended-access.ts';

const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** How long an entry is kept when the token does not say: longer than any access token the gateway issues. */
const DEFAULT_KEEP_MS = 24 * 3_600_000;

/**
 * Ended access reaches the node as an OIDC back-channel logout token from the gateway (signed with the
 * gateway's keys, audience this node): `sid` names one ended session, `sub` alone every session of a
 * person. The entry is stored and every process of the domain refuses the tokens issued until then and
 * closes their sockets (gateway/oidc/notify-nodes.ts says what the gateway sends). With `atrium_app`, the
 * `sub` is an app's client and the token says an administrator changed that app: every process drops what
 * it keeps of it.
 */
export function backchannelLogoutRoute(options: {
  issuer: string;
  audience: string;
  keys: () => Promise<JWTVerifyGetKey>;
  ended: EndedAccess;
}): Router {
  const router = Router();
  router.post('/backchannel-logout', express.urlencoded({ extended: false, limit: '16kb' }), async (req, res) => {
    const token = (req.body as Record<string, unknown> | undefined)?.logout_token;
    if (typeof token !== 'string') throw new AppError('invalid_request', 400, 'logout_token is required');
    let payload;
    try {
      ({ payload } = await jwtVerify(token, await options.keys(), {
        issuer: options.issuer,
        audience: options.audience,
        typ: 'logout+jwt',
        algorithms: ['RS256'],
        maxTokenAge: '5m',
      }));
    } catch {
      throw new AppError('invalid_request', 400, 'The logout token is not valid');
    }
    const events = payload.events as Record<string, unknown> | undefined;
    const sid = typeof payload.sid === 'string' && payload.sid ? payload.sid : undefined;
    const sub = typeof payload.sub === 'string' && payload.sub ? payload.sub : undefined;
    if (!events || typeof events[LOGOUT_EVENT] !== 'object' || (!sid && !sub) || 'nonce' in payload) {
      throw new AppError(
        'invalid_request',
        400,
        'The logout token is not a back-channel logout token with a session or subject',
      );
    }
    // Without the gateway's exact time, everything issued up to the end of the token's second counts as before.
    const endedAt =
      typeof payload.atrium_ended_at === 'number' ? payload.atrium_ended_at : Number(payload.iat ?? 0) * 1000 + 999;
    const keepUntil =
      typeof payload.atrium_keep_until === 'number' ? payload.atrium_keep_until * 1000 : endedAt + DEFAULT_KEEP_MS;
    const reason = typeof payload.atrium_reason === 'string' ? payload.atrium_reason.slice(0, 32) : undefined;
    const clientId = typeof payload.atrium_client_id === 'string' ? payload.atrium_client_id : undefined;
    const app = typeof payload.atrium_app === 'string' ? payload.atrium_app : undefined;
    const addresses = Array.isArray(payload.atrium_addresses) ? payload.atrium_addresses : undefined;
    const parsed = endedEntrySchema.safeParse(
      sid
        ? { kind: 'sid', subject: sid, endedAt, keepUntil }
        : app
          ? { kind: 'app', subject: app, clientId: sub, endedAt, keepUntil }
          : {
              kind: 'sub',
              subject: sub,
              endedAt,
              keepUntil,
              ...(reason && { reason }),
              ...(clientId && { clientId }),
              ...(addresses && { addresses }),
            },
    );
    if (!parsed.success) throw new AppError('invalid_request', 400, 'The logout token names no valid session or app');
    const entry: EndedEntry = parsed.data;
    await options.ended.record([entry]);
    res.status(200).set('Cache-Control', 'no-store').end();
  });
  return router;
}
