import type { NextFunction, Request, Response } from 'express';
import { decodeJwt } from 'jose';
import type Provider from 'oidc-provider';
import { ForbiddenError, UnauthenticatedError } from '../../core/errors.ts';
import { canAdminister } from '../accounts/scope.ts';
import { administeredUnitPathsOf } from '../accounts/memberships.ts';
import { CONSOLE_CLIENT_ID } from '../admin/console-client.ts';
import { ADMIN_SCOPE } from '../oidc/admin-scope.ts';
import type { Actor, GatewayContext } from '../context.ts';

type Person = Extract<Actor, { kind: 'user' }>;

/** Who a gateway access token speaks for, and through which client it was issued. */
export type TokenHolder = { actor: Person; clientId: string; firstParty: boolean; scopes: Set<string> };

declare module 'express-serve-static-core' {
  interface Request {
    tokenHolder?: TokenHolder;
  }
}

function bearerOf(req: Request): string | undefined {
  const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(req.get('authorization') ?? '');
  return match?.[1];
}

/**
 * Resolves an opaque gateway access token (as a sign-in without a resource indicator issues) through the
 * provider's own store: unexpired, of an active person, issued to a client that still works (a disabled
 * app's tokens stop here at once).
 */
export async function holderOf(
  ctx: GatewayContext,
  provider: Provider,
  token: string,
): Promise<TokenHolder | undefined> {
  const found = await provider.AccessToken.find(token);
  if (!found?.accountId || !found.clientId) return undefined;
  const client = await provider.Client.find(found.clientId);
  if (!client) return undefined;
  const user = await ctx.models.User.findByPk(found.accountId);
  if (!user || user.status !== 'active') return undefined;
  const actor: Person = {
    kind: 'user',
    id: user.id,
    name: user.username,
    roles: user.roles,
    unitPaths: await administeredUnitPathsOf(ctx, user),
  };
  const scopes = new Set(
    String(found.scope ?? '')
      .split(' ')
      .filter(Boolean),
  );
  return {
    actor,
    clientId: client.clientId,
    firstParty: client['first_party'] === true || client.clientId === CONSOLE_CLIENT_ID,
    scopes,
  };
}

/** Requires `Authorization: Bearer <gateway access token>`; the request then acts as that person. */
export function bearerPerson(context: (req: Request) => GatewayContext, provider: () => Provider) {
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      const token = bearerOf(req);
      const holder = token ? await holderOf(context(req), provider(), token) : undefined;
      if (!holder) {
        res.set('WWW-Authenticate', challenge(req));
        if (!token)
          throw new UnauthenticatedError('A valid gateway access token is required (Authorization: Bearer …)');
        throw new UnauthenticatedError(
          (await otherKindOfToken(provider(), token)) ??
            'This gateway access token is not valid (unknown, expired or revoked): get a new one',
        );
      }
      req.tokenHolder = holder;
      next();
    } catch (error) {
      next(error);
    }
  };
}

const GATEWAY_TOKEN =
  "the gateway's API takes a person's gateway access token: the access token of their sign-in (authorization code flow) asked without resource";

/**
 * What a token the gateway's API does not take is, when it is a token of another kind this gateway issued:
 * one for a chat node (a JWT whose audience is the node, a bot's or a person's), or an app's own
 * client-credentials token. Read, not verified: it only words the refusal, which stands either way.
 */
async function otherKindOfToken(provider: Provider, token: string): Promise<string | null> {
  const claims = jwtClaims(token);
  if (claims && claims.iss === provider.issuer && claims.aud !== undefined) {
    const node = [claims.aud].flat().join(', ');
    return claims.bot === true
      ? `This is a bot's token for the chat node ${node}, not one for the gateway's API: a bot uses it at that node's bot API; ${GATEWAY_TOKEN}`
      : `This is a token for the chat node ${node}, not one for the gateway's API: ${GATEWAY_TOKEN}`;
  }
  if (await provider.ClientCredentials.find(token).catch(() => undefined)) {
    return `This is an app's own client-credentials token, which acts for no person: ${GATEWAY_TOKEN}. A bot gets a token for a chat node with resource=<node URL>&scope=im`;
  }
  return null;
}

/** The claims of a token shaped as a JWT, undecoded where it is not one. */
function jwtClaims(token: string): Record<string, unknown> | null {
  if (token.split('.').length !== 3) return null;
  try {
    return decodeJwt(token);
  } catch {
    return null;
  }
}

/**
 * RFC 6750's challenge: no error when no bearer token came; `invalid_token` for one that was refused (unknown,
 * expired, revoked, of a disabled app or person), so that a client knows to get a new one.
 */
function challenge(req: Request): string {
  if (!/^Bearer\s+\S/i.test(req.get('authorization') ?? '')) return 'Bearer realm="atrium"';
  return 'Bearer realm="atrium", error="invalid_token", error_description="The access token is not valid"';
}

/**
 * The admin API: an administrator or unit admin, through a first-party client, with a token that carries
 * the `atrium:admin` scope the person allowed on the consent page. An app a person merely signed in to
 * (even a first-party one, which gets its other scopes without asking) cannot wield their administrator
 * rights with their token.
 */
export function adminHolder(req: Request, res: Response, next: NextFunction): void {
  const holder = req.tokenHolder;
  if (!holder || !canAdminister(holder.actor))
    return next(new ForbiddenError('Only administrators and unit administrators may use the admin API'));
  if (!holder.firstParty)
    return next(new ForbiddenError('The admin API takes tokens issued to first-party clients only'));
  if (!holder.scopes.has(ADMIN_SCOPE)) {
    // RFC 6750 §3.1: a client learns from the challenge which scope to ask for at its next sign-in.
    res.set('WWW-Authenticate', `Bearer realm="atrium", error="insufficient_scope", scope="${ADMIN_SCOPE}"`);
    return next(
      new ForbiddenError(
        `The admin API takes tokens with the ${ADMIN_SCOPE} scope only: ask for it when signing in, and allow it`,
      ),
    );
  }
  next();
}

/** The use-case context of a request authenticated by bearerPerson. */
export function asHolder(ctx: GatewayContext, req: Request): GatewayContext {
  return { ...ctx, actor: req.tokenHolder!.actor };
}
