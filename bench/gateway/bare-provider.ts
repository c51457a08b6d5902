/**
 * The yardstick of `bench:gateway`: a bare `oidc-provider` with its in-memory storage (nothing persisted),
 * configured as the gateway configures its own (gateway/oidc/provider.ts): the same client metadata and
 * client authentication (client_secret_basic), PKCE required, refresh tokens issued with offline_access
 * and rotated on every use, the same scopes and claims, a node as a resource server whose tokens are
 * RS256 JWTs with the node's URL as audience, the same lifetimes and cookie settings, and an RSA-2048
 * signing key. What it leaves out is what the gateway looks up in its database: accounts, units, the
 * app registry, the domain registry, ended access. Its one interaction signs in the person named by
 * `login_hint` without a password (the bench measures the password check on the gateway alone).
 * Its store is a parameter: the memory adapter below for the bare provider, a table in a database for
 * the durable stand-in (durable-store.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { type Adapter, type Configuration } from 'oidc-provider';
import { CLAIMS } from '../../gateway/oidc/provider.ts';

export type BareSetup = {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  nodeUrl: string;
  people: string[];
  accessTokenTtlSeconds: number;
};

/** What the gateway's extraTokenClaims and findAccount give for a bench person, without the lookups. */
function claimsOf(sub: string) {
  return {
    sub,
    preferred_username: sub,
    name: `Bench person ${sub}`,
    email: `${sub}@bench.test`,
    email_verified: true,
    roles: ['student'],
    org_units: ['bench'],
    im_home_domain: 'bench.test',
    im_domains: ['bench.test'],
    updated_at: 0,
  };
}

type MemoryAdapterClass = new (model: string, store: Map<string, unknown>) => Adapter;

/**
 * The provider's own memory adapter, over a Map that keeps everything for the run: its default store
 * is an LRU of 1,000 entries, which under this load drops sessions before they are used again.
 */
export async function memoryAdapter(): Promise<(model: string) => Adapter> {
  const path = 'oidc-provider/lib/adapters/memory_adapter.js';
  const { default: MemoryAdapter } = (await import(path)) as { default: MemoryAdapterClass };
  const store = new Map<string, unknown>();
  return (model) => new MemoryAdapter(model, store);
}

async function configuration(setup: BareSetup, adapter: (model: string) => Adapter): Promise<Configuration> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
  const people = new Set(setup.people);
  return {
    adapter,
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'bench', alg: 'RS256', use: 'sig' }] as never },
    cookies: {
      keys: ['bench-cookie-key-bench-cookie-key-0123'],
      long: { signed: true, sameSite: 'lax' },
      short: { signed: true, sameSite: 'lax' },
    },
    claims: CLAIMS,
    scopes: ['openid', 'offline_access', 'profile', 'email', 'atrium'],
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    clients: [
      {
        client_id: setup.clientId,
        client_secret: setup.clientSecret,
        redirect_uris: [setup.redirectUri],
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'RS256',
      },
    ],
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      introspection: { enabled: true },
      revocation: { enabled: true },
      clientCredentials: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf,
        useGrantedResource: async () => false,
        getResourceServerInfo: async () => ({
          scope: 'im',
          audience: setup.nodeUrl,
          accessTokenTTL: setup.accessTokenTtlSeconds,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    async extraTokenClaims(_ctx, token) {
      if (token.kind !== 'AccessToken' || !('accountId' in token) || !token.accountId) return undefined;
      const { preferred_username, name, roles, im_home_domain, im_domains } = claimsOf(String(token.accountId));
      return {
        preferred_username,
        name,
        roles,
        im_home_domain,
        im_domains,
        sid: (token as unknown as { sessionUid?: string }).sessionUid,
      };
    },
    async findAccount(_ctx, sub) {
      if (!people.has(sub)) return undefined;
      return { accountId: sub, claims: async () => claimsOf(sub) };
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    issueRefreshToken: async (_ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    rotateRefreshToken: () => true,
    // As the gateway does for a first-party app: everything asked for is granted without a consent page.
    async loadExistingGrant(ctx) {
      const { oidc } = ctx;
      const grantId = oidc.session!.grantIdFor(oidc.client!.clientId);
      const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
      const grant =
        existing ?? new oidc.provider.Grant({ clientId: oidc.client!.clientId, accountId: oidc.session!.accountId! });
      grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
      for (const [indicator, server] of Object.entries(oidc.resourceServers ?? {})) {
        const wanted = [...oidc.requestParamScopes].filter((s) => server.scopes.has(s));
        if (wanted.length > 0) grant.addResourceScope(indicator, wanted.join(' '));
      }
      await grant.save();
      return grant;
    },
    ttl: {
      AccessToken: setup.accessTokenTtlSeconds,
      AuthorizationCode: 60,
      ClientCredentials: 600,
      IdToken: 3600,
      Interaction: 3600,
      Grant: 14 * 24 * 3600,
      RefreshToken: 14 * 24 * 3600,
      Session: 12 * 3600,
    },
  };
}

/**
 * The bare provider's one interaction: a login names `login_hint` as the person, with no password; a
 * consent (asked for with prompt=consent, which offline_access needs) grants what is missing, as the
 * gateway's interaction routes do for a first-party app.
 */
async function interaction(provider: Provider, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') {
    await provider.interactionFinished(req, res, { login: { accountId: String(details.params.login_hint) } });
    return;
  }
  const missing = details.prompt.details as {
    missingOIDCScope?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  const grant = details.grantId
    ? (await provider.Grant.find(details.grantId))!
    : new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

/** Listens on 127.0.0.1:`port`, storing the provider's artefacts through `adapter`. */
export async function startBareProvider(
  port: number,
  setup: BareSetup,
  adapter: (model: string) => Adapter,
): Promise<{ url: string; server: Server }> {
  const url = `http://127.0.0.1:${port}`;
  const provider = new Provider(url, await configuration(setup, adapter));
  const callback = provider.callback();
  const server = createServer((req, res) => {
    if (!req.url?.startsWith('/interaction/')) return void callback(req, res);
    interaction(provider, req, res).catch((error: unknown) => {
      res.statusCode = 500;
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', 4096, resolve));
  return { url, server };
}
