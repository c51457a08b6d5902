/**
 * The scope a gateway access token needs for the admin API (gateway/apps-registry/routes.ts). A first-party
 * client asks for it and the person allows it on the consent page, which is shown for it even to first-party
 * apps: an app an administrator merely signs in to does not get to wield their administrator rights. Any other
 * client may not ask for it (withAllowedScopes).
 */
export const ADMIN_SCOPE = 'atrium:admin';

/**
 * A client as the provider is to read it, with the scopes it may ask for (RFC 7591 `scope`, which the provider
 * enforces: `invalid_scope` for any other, at once, before anyone signs in): all of `scopes` for a first-party
 * app, all but administering Atrium for any other, since the admin API takes tokens of first-party clients
 * only. Offering it anyway would have a person allow on the consent page what can never work.
 */
export function withAllowedScopes<T extends { first_party?: unknown; scope?: unknown }>(
  metadata: T,
  scopes: readonly string[],
): T {
  if (metadata.first_party === true) return metadata;
  const asked = typeof metadata.scope === 'string' ? metadata.scope.split(' ') : scopes;
  return { ...metadata, scope: asked.filter((scope) => scope && scope !== ADMIN_SCOPE).join(' ') };
}
