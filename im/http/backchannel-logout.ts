import express, { Router } from 'express';
import { jwtVerify, type JWTVerifyGetKey } from 'jose';
import { AppError } from '../../core/errors.ts';
import type { Bus } from '../bus/bus.ts';

const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/**
 * Single logout reaches the node as an OIDC back-channel logout token from the gateway (signed with the
 * gateway's keys, audience this node). Every process of the domain then closes that session's sockets.
 */
export function backchannelLogoutRoute(options: { issuer: string; audience: string; keys: () => Promise<JWTVerifyGetKey>; bus: Bus }): Router {
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
    if (!events || typeof events[LOGOUT_EVENT] !== 'object' || typeof payload.sid !== 'string' || 'nonce' in payload) {
      throw new AppError('invalid_request', 400, 'The logout token is not a back-channel logout token with a session id');
    }
    await options.bus.publish({ kind: 'logout', sid: payload.sid });
    res.status(200).set('Cache-Control', 'no-store').end();
  });
  return router;
}
