import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

/** The scope a domain node (a resource server) grants: reading and writing chat there as the token's holder. */
export const NODE_SCOPE = 'im';

/**
 * Discovery lists `im` among the scopes: the provider lists only its OpenID scopes there, and a resource
 * server's scope does not belong among those (it would then be granted with the sign-in's own tokens too).
 */
export function advertiseNodeScope(provider: Provider): void {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route !== 'discovery') return;
    const body = ctx.body as { scopes_supported?: string[] } | undefined;
    if (body?.scopes_supported && !body.scopes_supported.includes(NODE_SCOPE)) body.scopes_supported.push(NODE_SCOPE);
  });
}

type Scoped = { scopes: Set<string> } | undefined;
type GrantLike = { getResourceScopeFiltered(resource: string, scopes: string[]): string } | undefined;

/**
 * Why a token for the node at `indicator` would carry no scope `im`, and so be refused by every node (null
 * when it carries it): what the request asks (authorization endpoint, client credentials, a refresh that
 * names scopes), else what the sign-in asked (its code or refresh token), and what the person allowed.
 */
export function nodeScopeMissing(ctx: KoaContextWithOIDC, indicator: string): string | null {
  const { oidc } = ctx;
  const asked = `ask for scope ${NODE_SCOPE} along with resource=${indicator}`;
  if (oidc.route !== 'token' || oidc.params?.grant_type === 'client_credentials') {
    return oidc.requestParamScopes.has(NODE_SCOPE)
      ? null
      : `A token for a chat node carries scope ${NODE_SCOPE}, which this request does not ask for: ${asked}`;
  }
  if (oidc.params?.scope && !oidc.requestParamScopes.has(NODE_SCOPE)) {
    return `A token for a chat node carries scope ${NODE_SCOPE}: name it in scope, or leave scope out`;
  }
  const source = (oidc.entities.RefreshToken ?? oidc.entities.AuthorizationCode) as Scoped;
  if (!oidc.params?.scope && source && !source.scopes.has(NODE_SCOPE)) {
    return `A token for a chat node carries scope ${NODE_SCOPE}, which this sign-in did not ask for: sign the person in again and ${asked}`;
  }
  const grant = oidc.entities.Grant as GrantLike;
  if (grant && !grant.getResourceScopeFiltered(indicator, [NODE_SCOPE])) {
    return `The person has not allowed this app scope ${NODE_SCOPE} on ${indicator}: sign them in again and ${asked}`;
  }
  return null;
}

/**
 * Why a bot's token request (client credentials) asking for scope `im` names no node: without `resource`
 * the gateway would issue an opaque token of no scope, which every node refuses ("not valid for this
 * node"). Null for any other request.
 */
export function nodeResourceMissing(ctx: KoaContextWithOIDC): string | null {
  const { oidc } = ctx;
  if (oidc.route !== 'token' || oidc.params?.grant_type !== 'client_credentials') return null;
  const scopes = String(oidc.params?.scope ?? '').split(' ');
  if (!scopes.includes(NODE_SCOPE)) return null;
  return `A token for a chat node names the node: add resource=<the node's URL> (one per request) along with scope=${NODE_SCOPE}`;
}
