import { createPublicKey, type KeyObject } from 'node:crypto';
import { jwtVerify, type JWK, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type Provider from 'oidc-provider';
import { Op } from 'sequelize';
import type { GatewayContext } from '../context.ts';
import { botClaims } from '../apps-registry/client-gate.ts';
import { findDomainByUrl } from '../domains/domains.ts';
import { servesPerson } from './person-served.ts';

export type NodeTokenIntrospection = {
  issuer: string;
  /** The provider's signing keys (private JWKs): the node tokens it issues are signed with them. */
  jwks: JWK[];
  context(ctx: object): GatewayContext;
};

/**
 * RFC 7662 for the JWT access tokens this gateway issues for the domain nodes. The provider keeps no copy of
 * a structured token and refuses to introspect one (`unsupported_token_type`); the gateway answers instead,
 * after the provider has authenticated the asking client, as it answers for its opaque tokens: active while
 * the node would take the token as far as the gateway knows (its own signature, unexpired, the node still
 * registered, the app's bot still enabled, the person still active with their access not ended since) and
 * the app may still serve the person (a refresh would not be refused: person-served.ts), to the client it
 * was issued to only; `{"active": false}` otherwise.
 */
export function introspectNodeTokens(provider: Provider, deps: NodeTokenIntrospection): void {
  const keys = new Map<string | undefined, KeyObject>(
    deps.jwks.map((jwk) => [jwk.kid, createPublicKey({ key: jwk as never, format: 'jwk' })]),
  );
  const keyOf: JWTVerifyGetKey = (header) => {
    const key = keys.get(header.kid);
    if (!key) throw new Error('not a key of this gateway');
    return key;
  };
  provider.use(async (ctx, next) => {
    await next();
    const { oidc } = ctx;
    const refused = (ctx.body as { error?: unknown } | undefined)?.error === 'unsupported_token_type';
    const token = oidc?.params?.token;
    if (oidc?.route !== 'introspection' || !refused || !oidc.client || typeof token !== 'string') return;
    const payload = await verified(token, keyOf, deps.issuer);
    const active =
      payload?.client_id === oidc.client.clientId && (await stillValid(deps.context(ctx), payload as Claims));
    ctx.status = 200;
    ctx.body = active ? { ...payload, active: true, token_type: 'Bearer' } : { active: false };
  });
}

type Claims = JWTPayload & { sub: string; client_id: string; aud: string; iat: number; sid?: unknown };

async function verified(token: string, keyOf: JWTVerifyGetKey, issuer: string): Promise<JWTPayload | null> {
  try {
    const { payload } = await jwtVerify(token, keyOf, { issuer, typ: 'at+jwt', algorithms: ['RS256'] });
    const complete =
      typeof payload.sub === 'string' && typeof payload.aud === 'string' && typeof payload.iat === 'number';
    return complete ? payload : null;
  } catch {
    return null;
  }
}

/**
 * Whether an entry the nodes refuse tokens by (ended-access.ts) ends this one: a session or all of the
 * person's access ended, or only their tokens of this app (or, for a bot's own token, its app's client
 * secret was rotated), or only on this node, at or after the token was issued.
 */
async function endedFor(ctx: GatewayContext, claims: Claims, domain: string): Promise<boolean> {
  const sid = typeof claims.sid === 'string' ? claims.sid : null;
  const ended = await ctx.models.EndedAccess.findOne({
    attributes: ['id'],
    where: {
      endedAt: { [Op.gte]: new Date(claims.iat * 1000) },
      domain: { [Op.or]: [{ [Op.is]: null }, { [Op.eq]: domain }] },
      [Op.or]: [
        { kind: 'sub', subject: claims.sub, clientId: { [Op.or]: [{ [Op.is]: null }, { [Op.eq]: claims.client_id }] } },
        ...(sid ? [{ kind: 'sid' as const, subject: sid }] : []),
      ],
    },
  });
  return ended !== null;
}

/** Whether what the token stands for still holds: the nodes refuse it otherwise (node/auth/token-verifier.ts). */
async function stillValid(ctx: GatewayContext, claims: Claims): Promise<boolean> {
  const domain = await findDomainByUrl(ctx, claims.aud);
  if (!domain) return false;
  // An app's own token (client credentials) stands for its bot.
  if (claims.sub === claims.client_id)
    return (await botClaims(ctx.models, claims.client_id)) !== undefined && !(await endedFor(ctx, claims, domain.name));
  // A person's: they still active and among the people the app is for, as a refresh would ask.
  if (!(await servesPerson(ctx, claims.client_id, claims.sub))) return false;
  return !(await endedFor(ctx, claims, domain.name));
}
