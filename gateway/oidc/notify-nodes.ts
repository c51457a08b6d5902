import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT, type JWK } from 'jose';
import type { Logger } from '../../core/logger.ts';
import { audit } from '../audit.ts';
import { operator, type GatewayContext } from '../context.ts';
import { listDomains } from '../domains/domains.ts';
import { ACCOUNT_DELETED, concerns, LEFT_DOMAIN, type PresentedEndedAccess } from './ended-access.ts';

const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/**
 * Ending access reaches chat as OIDC back-channel logout tokens (audience: the node), one per ended
 * session (`sid`) or person (`sub` alone: every session of theirs). The node closes the matching sockets
 * and refuses the access tokens issued until `atrium_ended_at` (epoch ms) for as long as they could be
 * valid (`atrium_keep_until`, epoch s). Nodes are resource servers, not clients of the session, so the
 * provider does not do this itself. A node that misses this learns it from the list it fetches. An entry
 * of one domain (a person moved off its units) goes to that domain's node alone, with
 * `atrium_reason: "left_domain"`, so that it tells the person's sockets why. An entry of one app (the
 * person removed its access) names it as `atrium_client_id`: only the tokens issued to it end. A deleted
 * person's says `atrium_reason: "account_deleted"` with their chat addresses (`atrium_addresses`): each
 * node takes them out of the groups it hosts. An app's
 * own entry (an administrator changed it) has the app as subject, as its own tokens do (`sub`, its client
 * id), and its slug as `atrium_app`: the node drops what it keeps of that app. Resolves with the domains
 * whose node did not take the entries (each learns them from its next fetch).
 */
export async function notifyNodesOfEndedAccess(options: {
  ctx: GatewayContext;
  issuer: string;
  signingKey: JWK;
  entries: PresentedEndedAccess[];
  logger: Logger;
}): Promise<string[]> {
  const { ctx, issuer, signingKey, entries, logger } = options;
  if (entries.length === 0) return [];
  const key = await importJWK(signingKey, 'RS256');
  // The gateway tells the nodes on its own (a background job), whoever ended the access.
  const system = { ...ctx, actor: operator('gateway') };
  const domains = await listDomains(ctx);
  const untold: string[] = [];
  await Promise.all(
    domains.map(async (domain) => {
      const concerning = entries.filter((entry) => concerns(entry, domain.name));
      if (concerning.length === 0) return;
      try {
        for (const entry of concerning) {
          const token = await new SignJWT({
            ...subjectClaims(entry),
            events: { [LOGOUT_EVENT]: {} },
            atrium_ended_at: entry.endedAt,
            atrium_keep_until: Math.ceil(entry.keepUntil / 1000),
            ...(entry.domain !== null && { atrium_reason: LEFT_DOMAIN }),
            ...(entry.deletedAddresses !== null && {
              atrium_reason: ACCOUNT_DELETED,
              atrium_addresses: entry.deletedAddresses,
            }),
          })
            .setProtectedHeader({ alg: 'RS256', kid: signingKey.kid, typ: 'logout+jwt' })
            .setIssuer(issuer)
            .setAudience(domain.url)
            .setIssuedAt()
            .setJti(randomUUID())
            .setExpirationTime('2m')
            .sign(key);
          const response = await fetch(`${domain.url}/backchannel-logout`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ logout_token: token }),
            signal: AbortSignal.timeout(2_500),
            // Its registered URL alone: a redirect would point the gateway's logout token elsewhere.
            redirect: 'error',
          });
          if (!response.ok) throw new Error(`HTTP ${response.status}`);
        }
        await audit(system, {
          action: 'logout.node',
          target: domain.name,
          details: { ended: concerning.map((e) => `${e.kind}:${e.subject}`) },
        });
      } catch (error) {
        untold.push(domain.name);
        logger.warn({ err: error, domain: domain.name }, 'a domain node did not take the logout; it will fetch it');
        await audit(system, {
          action: 'logout.node',
          target: domain.name,
          outcome: 'failure',
          details: { error: (error as Error).message },
        });
      }
    }),
  );
  return untold.sort();
}

/** Whom an entry's token names: a session, a person (with one app of theirs), or an app itself. */
function subjectClaims(entry: PresentedEndedAccess): Record<string, string> {
  if (entry.kind === 'app') return { sub: entry.clientId ?? '', atrium_app: entry.subject };
  return {
    [entry.kind]: entry.subject,
    ...(entry.clientId !== null && { atrium_client_id: entry.clientId }),
  };
}
