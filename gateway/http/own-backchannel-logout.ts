import express, { type RequestHandler } from 'express';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { Logger } from '../../core/logger.ts';

const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/**
 * The back-channel logout endpoint of one of the gateway's own relying parties (the portal, the admin
 * console): the gateway tells it that a gateway session ended (signed out in that browser, from the portal,
 * the console or an app). A logout token of this gateway for `clientId`, naming the person and the client's
 * sid of that session, has `end` end that client's sessions signed in through it; anything else is refused
 * and ends nothing.
 */
export function ownBackchannelLogout(options: {
  issuer: string;
  clientId: string;
  logger: Logger;
  /** Names the relying party in the log. */
  label: string;
  /** Ends the client's sessions of person `sub` signed in through the gateway session it knows as `sid`; how many. */
  end(sub: string, sid: string): Promise<number>;
}): RequestHandler[] {
  const jwks = createRemoteJWKSet(new URL(`${options.issuer}/jwks`));
  const handler: RequestHandler = async (req, res) => {
    const token = (req.body as Record<string, unknown> | undefined)?.logout_token;
    try {
      if (typeof token !== 'string') throw new Error('logout_token is required');
      const { payload } = await jwtVerify(token, jwks, {
        issuer: options.issuer,
        audience: options.clientId,
        typ: 'logout+jwt',
        maxTokenAge: '5m',
      });
      const events = payload.events as Record<string, unknown> | undefined;
      if (
        !events ||
        typeof events[LOGOUT_EVENT] !== 'object' ||
        typeof payload.sid !== 'string' ||
        typeof payload.sub !== 'string'
      )
        throw new Error('not a logout token with a person and a session id');
      const ended = await options.end(payload.sub, payload.sid);
      options.logger.info({ ended }, `${options.label} sessions ended by single logout`);
      res.status(200).set('Cache-Control', 'no-store').end();
    } catch (err) {
      options.logger.warn({ err }, `${options.label} refused a back-channel logout`);
      res.status(400).set('Cache-Control', 'no-store').json({ error: 'invalid_request' });
    }
  };
  return [express.urlencoded({ extended: false, limit: '16kb' }), handler];
}
