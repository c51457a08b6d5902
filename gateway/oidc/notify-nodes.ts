import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT, type JWK } from 'jose';
import type { Logger } from '../../core/logger.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { listDomains } from '../domains/domains.ts';

const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/**
 * Single logout for chat: when a gateway session ends, every registered domain node receives an OIDC
 * back-channel logout token (audience: the node) naming the session, and closes that session's sockets.
 * Nodes are resource servers, not clients of the session, so the provider does not do this itself.
 */
export async function notifyNodesOfLogout(options: {
  ctx: GatewayContext;
  issuer: string;
  signingKey: JWK;
  sessionUid: string;
  accountId: string | undefined;
  logger: Logger;
}): Promise<void> {
  const { ctx, issuer, signingKey, sessionUid, accountId, logger } = options;
  const key = await importJWK(signingKey, 'RS256');
  const domains = await listDomains(ctx);
  await Promise.all(
    domains.map(async (domain) => {
      const token = await new SignJWT({ sid: sessionUid, events: { [LOGOUT_EVENT]: {} }, ...(accountId ? { sub: accountId } : {}) })
        .setProtectedHeader({ alg: 'RS256', kid: signingKey.kid, typ: 'logout+jwt' })
        .setIssuer(issuer)
        .setAudience(domain.url)
        .setIssuedAt()
        .setJti(randomUUID())
        .setExpirationTime('2m')
        .sign(key);
      try {
        const response = await fetch(`${domain.url}/backchannel-logout`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ logout_token: token }),
          signal: AbortSignal.timeout(2_500),
        });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        await audit(ctx, { action: 'logout.node', target: domain.name });
      } catch (error) {
        logger.warn({ err: error, domain: domain.name }, 'a domain node did not take the logout');
        await audit(ctx, { action: 'logout.node', target: domain.name, outcome: 'failure', details: { error: (error as Error).message } });
      }
    }),
  );
}
