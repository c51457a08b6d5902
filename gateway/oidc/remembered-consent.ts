import { createHash } from 'node:crypto';
import type { Adapter, AdapterPayload } from 'oidc-provider';

/** The part of a grant that says what was allowed: OIDC scopes and claims, scopes per resource (node). */
export type Allowed = {
  openid?: { scope?: string; claims?: string[] };
  resources?: Record<string, string>;
};

type GrantLike = Allowed & {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  addResourceScope(resource: string, scope: string): void;
};

/**
 * Kept in the OIDC store under this model name, one row per person and app. The row names the person
 * (`account_id`), so ending their access (accounts/end-access.ts) forgets it with their grants, and its
 * payload names the app as `"clientId":"…"`, so deleting the app (apps-registry/delete-app.ts) forgets it
 * with the grants issued to it. It has no expiry of its own: it lasts until one of those.
 */
const MODEL = 'Consent';

/**
 * What a person allowed an app on its consent page, remembered per person and app rather than per gateway
 * session: oidc-provider keeps a grant in the session that made it (`session.grantIdFor`), so a new browser
 * or a sign-in after the session ended would ask again for what was allowed already. A gateway sign-out
 * ends that session's grant and tokens, not this.
 */
export function rememberedConsents(Store: new (model: string) => Adapter) {
  const store = new Store(MODEL);
  const idOf = (accountId: string, clientId: string) =>
    createHash('sha256')
      .update(JSON.stringify([accountId, clientId]))
      .digest('base64url');

  async function find(accountId: string, clientId: string): Promise<Allowed | undefined> {
    const found = await store.find(idOf(accountId, clientId));
    if (!found || found.accountId !== accountId || found.clientId !== clientId) return undefined;
    return { openid: found.openid as Allowed['openid'], resources: found.resources as Allowed['resources'] };
  }

  /** Adds what `grant` holds to what the person allowed the app before. */
  async function remember(accountId: string, clientId: string, grant: Allowed): Promise<void> {
    const before = await find(accountId, clientId);
    const merged = merge(before ?? {}, grant);
    if (before && sameAllowed(before, merged)) return;
    const payload = { accountId, clientId, ...merged } as AdapterPayload;
    await store.upsert(idOf(accountId, clientId), payload, 0);
  }

  return { find, remember };
}

export type RememberedConsents = ReturnType<typeof rememberedConsents>;

/** Gives `grant` what was allowed; whether that added anything to it. */
export function applyAllowed(grant: GrantLike, allowed: Allowed): boolean {
  const before = JSON.stringify([grant.openid, grant.resources]);
  if (allowed.openid?.scope) grant.addOIDCScope(allowed.openid.scope);
  if (allowed.openid?.claims?.length) grant.addOIDCClaims(allowed.openid.claims);
  for (const [resource, scope] of Object.entries(allowed.resources ?? {})) {
    if (scope) grant.addResourceScope(resource, scope);
  }
  return JSON.stringify([grant.openid, grant.resources]) !== before;
}

function merge(a: Allowed, b: Allowed): Allowed {
  const union = (x?: string, y?: string) => [...new Set(`${x ?? ''} ${y ?? ''}`.split(' ').filter(Boolean))];
  const scope = union(a.openid?.scope, b.openid?.scope).join(' ');
  const claims = [...new Set([...(a.openid?.claims ?? []), ...(b.openid?.claims ?? [])])];
  const resources: Record<string, string> = {};
  for (const resource of new Set([...Object.keys(a.resources ?? {}), ...Object.keys(b.resources ?? {})])) {
    const scopes = union(a.resources?.[resource], b.resources?.[resource]);
    if (scopes.length > 0) resources[resource] = scopes.join(' ');
  }
  return {
    ...(scope || claims.length > 0 ? { openid: { scope, claims } } : {}),
    ...(Object.keys(resources).length > 0 ? { resources } : {}),
  };
}

function sameAllowed(a: Allowed, b: Allowed): boolean {
  const key = (x: Allowed) => {
    const resources = Object.entries(x.resources ?? {}).map(([r, s]) => [r, s.split(' ').sort().join(' ')]);
    return JSON.stringify([
      (x.openid?.scope ?? '').split(' ').filter(Boolean).sort(),
      [...(x.openid?.claims ?? [])].sort(),
      resources.sort(),
    ]);
  };
  return key(a) === key(b);
}
