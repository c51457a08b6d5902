import Provider, {
  errors,
  interactionPolicy,
  type Configuration,
  type KoaContextWithOIDC,
  type ResourceServer,
} from 'oidc-provider';
import type { ExpressHandlebars } from 'express-handlebars';
import type { JWK } from 'jose';
import { AppCallRefusedError } from '../../core/app-call-policy.ts';
import { fetchAppUrl } from '../../core/app-fetch.ts';
import type { Logger } from '../../core/logger.ts';
import type { GatewayConfig } from '../config.ts';
import type { GatewayModels } from '../models/index.ts';
import type { Sequelize } from 'sequelize';
import { accountClaims } from '../accounts/account-claims.ts';
import { ADMIN_SCOPE, withAllowedScopes } from './admin-scope.ts';
import { advertiseNodeScope, NODE_SCOPE, nodeResourceMissing, nodeScopeMissing } from './node-scope.ts';
import { introspectNodeTokens } from './introspect-node-tokens.ts';
import { PersonNotServedError, servesPerson } from './person-served.ts';
import { createAdapterClass } from './adapter.ts';
import { IN_THE_CLEAR } from './client-secrets.ts';
import { refuseTurnedOffClient } from './turned-off-client.ts';
import { clientAsPresented, notePreviousSecretUsed } from './previous-client-secret.ts';
import { applyAllowed, rememberedConsents, type RememberedConsents } from './remembered-consent.ts';
import { renderPage } from '../views.ts';
import { findDomainByUrl } from '../domains/domains.ts';
import type { GatewayContext } from '../context.ts';
import { remember, withMemo } from '../request-memo.ts';
import { sharedReadsOf } from '../shared-reads.ts';
import { userById } from '../accounts/find-user.ts';
import { appOfClient, botClaims, clientUsable } from '../apps-registry/client-gate.ts';
import { audiencesFor, signInRefusal } from '../apps-registry/app-access.ts';
import { ACR_VALUES, asksForSecondFactor, MFA_ACR } from '../factors/acr.ts';
import { PORTAL_CLIENT_ID, portalBackchannelLogoutUri } from '../portal/portal-client.ts';
import { isOwnSignOutState, sessionBinding } from './own-sign-out.ts';
import { CONSOLE_CLIENT_ID, consoleBackchannelLogoutUri } from '../admin/console-client.ts';
import { hostCookieName } from '../http/host-cookies.ts';
import { providerFormTargets } from './provider-form-targets.ts';

const OWN_CLIENTS = new Set([PORTAL_CLIENT_ID, CONSOLE_CLIENT_ID]);

/** The reason of the consent check that stops a person an app is not for (see interactions/routes.ts). */
export const APP_NOT_FOR_PERSON = 'app_not_for_person';

export type ProviderDeps = {
  issuer: string;
  config: GatewayConfig;
  sequelize: Sequelize;
  models: GatewayModels;
  jwks: JWK[];
  views: ExpressHandlebars;
  logger: Logger;
  /** How long an app's back-channel logout URI is waited for (oidc-provider's 2.5 s unless set; tests shorten it). */
  appCallTimeoutMs?: number;
};

/** Scope `im` is what a domain node (a resource server) grants; `atrium` carries the campus claims. */
export const CLAIMS = {
  // Every ID token says truthfully how the person signed in (acr, and amr after RFC 8176): factors/acr.ts.
  openid: ['sub', 'acr', 'amr'],
  profile: ['name', 'preferred_username', 'updated_at'],
  email: ['email', 'email_verified'],
  atrium: ['roles', 'org_units', 'im_home_domain', 'im_home_node', 'im_domains', 'im_nodes'],
};

/** The OpenID scopes; a domain node's `im` is a resource server's (node-scope.ts). */
const SCOPES = ['openid', 'offline_access', 'profile', 'email', 'atrium', ADMIN_SCOPE] as const;

function systemContext(deps: ProviderDeps): GatewayContext {
  return { sequelize: deps.sequelize, models: deps.models, actor: { kind: 'anonymous' }, ip: null };
}

const contexts = new WeakMap<object, GatewayContext>();

/**
 * The context of one provider request (`ctx`, or the request the provider is serving now): its lookups
 * of people, apps and nodes come from what the process keeps while the read counter has not moved
 * (request-memo.ts, shared-reads.ts). Outside a request, a plain one.
 */
function requestContext(deps: ProviderDeps, ctx: object | undefined = Provider.ctx): GatewayContext {
  if (!ctx) return systemContext(deps);
  let known = contexts.get(ctx);
  if (!known) {
    known = withMemo(systemContext(deps), sharedReadsOf(deps.sequelize));
    contexts.set(ctx, known);
  }
  return known;
}

/**
 * The provider runs inside the gateway's Express app, which knows which proxies to believe
 * (ATRIUM_TRUST_PROXY): its address is the one sign-ins, audit entries and devices note. Koa alone would
 * take the leftmost X-Forwarded-For address, which the client writes itself.
 */
async function sameClientAddress(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  const address = (ctx.req as { ip?: string }).ip;
  if (address) ctx.request.ip = address;
  await next();
}

/**
 * The OIDC provider, configured piece by piece below: cookies, client metadata, features (logout pages,
 * resource servers), the claims tokens carry, interactions and refresh, pages, lifetimes.
 */
export function buildProvider(deps: ProviderDeps): Provider {
  const { config } = deps;
  const Store = registryAwareAdapter(deps);
  const consents = rememberedConsents(Store);
  const configuration: Configuration = {
    adapter: Store,
    jwks: { keys: deps.jwks as never },
    cookies: cookieSettings(config, deps.issuer.startsWith('https://')),
    claims: CLAIMS,
    acrValues: ACR_VALUES,
    scopes: [...SCOPES],
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    ...clientSettings(),
    pkce: { required: () => true },
    features: features(deps),
    ...accountSettings(deps),
    fetch: outgoingFetch(deps),
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
      policy: interactionPolicyWithAccountCheck(deps),
    },
    issueRefreshToken: async (_ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    // Every refresh that issues a token rotates: the presented refresh token is consumed and a reuse is rejected.
    rotateRefreshToken: (ctx) => refreshIssues(deps, ctx),
    loadExistingGrant: (ctx) => loadExistingGrant(ctx, deps, consents),
    async renderError(ctx, out) {
      ctx.type = 'html';
      const turnedOff = out.error === 'invalid_client' ? await turnedOffApp(deps, ctx) : null;
      if (turnedOff) {
        ctx.status = 403;
        ctx.body = await renderPage(deps.views, 'app-turned-off', {
          title: `${turnedOff} is turned off`,
          app: turnedOff,
        });
        return;
      }
      ctx.body = await renderPage(deps.views, 'error', {
        title: 'Something went wrong',
        error: out.error,
        description: out.error_description,
      });
    },
    ttl: lifetimes(config),
  };

  const provider = new Provider(deps.issuer, configuration);
  // Koa reads X-Forwarded-Proto and -Host behind a trusted proxy; the client's address is Express's (below).
  provider.proxy = config.trustProxy !== false;
  provider.use(sameClientAddress);
  provider.use(providerFormTargets);
  advertiseNodeScope(provider);
  introspectNodeTokens(provider, { issuer: deps.issuer, jwks: deps.jwks, context: (ctx) => requestContext(deps, ctx) });
  provider.on('server_error', (_ctx, error) => deps.logger.error({ err: error }, 'oidc provider error'));
  provider.on('backchannel.error', (_ctx, error, client) => {
    if (error instanceof AppCallRefusedError)
      deps.logger.warn({ client: client.clientId, reason: error.message }, 'a back-channel logout was refused');
  });
  return provider;
}

/**
 * The name of the disabled app a browser was sent to sign in to (its client is then not found, and the
 * provider says "client is invalid"); null for any other client. Its name is no secret: the login page of
 * an enabled app shows it to anyone with its authorization link.
 */
async function turnedOffApp(deps: ProviderDeps, ctx: KoaContextWithOIDC): Promise<string | null> {
  // Only where people are sent to sign in: an app's own requests (the token endpoint, which renders its
  // errors as a page too for a caller asking for HTML) learn it only with the right secret (turned-off-client.ts).
  if (ctx.oidc?.route !== 'authorization') return null;
  const params = (ctx.oidc?.params ?? ctx.query) as Record<string, unknown> | undefined;
  const clientId = params?.client_id;
  if (typeof clientId !== 'string' || !clientId) return null;
  const app = await appOfClient(requestContext(deps, ctx), clientId);
  return app?.disabled ? app.name : null;
}

/**
 * The provider's outgoing calls (back-channel logout) go to URIs administrators registered. Campus apps
 * usually live on private addresses, which the provider's own SSRF guard would refuse; they are called
 * under the operator's policy instead, checked at each connection (core/app-fetch.ts). The portal's and
 * the console's own logout URIs are the gateway itself.
 */
function outgoingFetch(deps: ProviderDeps): Configuration['fetch'] {
  const own = new Set([portalBackchannelLogoutUri(deps.issuer), consoleBackchannelLogoutUri(deps.issuer)]);
  const timeoutMs = deps.appCallTimeoutMs;
  return (url, options) => {
    if (own.has(String(url))) return globalThis.fetch(url, { ...options, dispatcher: undefined } as RequestInit);
    const init = timeoutMs === undefined ? (options ?? {}) : { ...options, signal: AbortSignal.timeout(timeoutMs) };
    return fetchAppUrl(url, init, deps.config.appCalls);
  };
}

function cookieSettings(config: GatewayConfig, secure: boolean): Configuration['cookies'] {
  return {
    keys: config.cookieKeys,
    // The sign-in session is host-only over https (http/host-cookies.ts): a sibling host could otherwise
    // plant a session of its own. The interaction cookies live under their own paths, which `__Host-` forbids.
    names: {
      session: hostCookieName('_session', secure),
      interaction: '_interaction',
      resume: '_interaction_resume',
    },
    long: { signed: true, secure, sameSite: 'lax' },
    short: { signed: true, secure, sameSite: 'lax' },
  };
}

/** What a client is unless its registration says otherwise, and the one metadata field Atrium adds. */
function clientSettings(): Pick<Configuration, 'clientDefaults' | 'extraClientMetadata'> {
  return {
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    extraClientMetadata: {
      properties: ['first_party'],
      validator(_ctx, key, value) {
        if (key === 'first_party' && value !== undefined && typeof value !== 'boolean') {
          throw new errors.InvalidClientMetadata('first_party must be a boolean');
        }
      },
    },
  };
}

function features(deps: ProviderDeps): Configuration['features'] {
  return {
    devInteractions: { enabled: false },
    // A client may introspect or revoke only the tokens issued to it; the gateway itself introspects the
    // node tokens (JWTs), which the provider does not (introspect-node-tokens.ts).
    // A token of a person the app may no longer serve is no longer active: a refresh would be refused.
    introspection: {
      enabled: true,
      allowedPolicy: async (ctx, client, token) =>
        token.clientId === client.clientId &&
        (!('accountId' in token) ||
          !token.accountId ||
          (await servesPerson(requestContext(deps, ctx), client.clientId, token.accountId))),
    },
    revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
    clientCredentials: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        const own = ownSignOut(ctx, deps.config.secretKey);
        ctx.type = 'html';
        ctx.body = await renderPage(deps.views, 'logout', { title: 'Sign out', form, host: ctx.host, own });
      },
      async postLogoutSuccessSource(ctx) {
        ctx.type = 'html';
        ctx.body = await renderPage(deps.views, 'logged-out', {
          title: 'Signed out',
          client: ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId,
        });
      },
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, _client, oneOf) => {
        const missing = oneOf === undefined ? nodeResourceMissing(ctx) : null;
        if (missing) throw new errors.InvalidTarget(missing);
        return oneOf;
      },
      useGrantedResource: async () => false,
      getResourceServerInfo: (ctx, indicator, client) => resourceServerInfo(deps, ctx, indicator, client.clientId),
    },
  };
}

/**
 * The Sign out of the gateway's own relying parties (the portal, the admin console) is a CSRF-checked POST
 * on the gateway's own pages, so the person has answered already: its end_session request (the client's ID
 * token for this very session, and the state only its sign-out makes) ends the gateway session without
 * asking again. Any other end_session request, a GET anyone could have sent the browser to, keeps the
 * confirmation.
 */
function ownSignOut(ctx: KoaContextWithOIDC, secretKey: string): boolean {
  const { client, session, params } = ctx.oidc;
  if (!client || !OWN_CLIENTS.has(client.clientId) || !session) return false;
  const hint = ctx.oidc.entities.IdTokenHint as { payload?: { sid?: unknown; sub?: unknown } } | undefined;
  const raw = params?.id_token_hint;
  if (!hint?.payload || typeof raw !== 'string' || hint.payload.sub !== session.accountId) return false;
  // The ID token names this very session when it carries a sid; otherwise it stands for it (own-sign-out.ts).
  if (hint.payload.sid !== undefined && hint.payload.sid !== session.sidFor(client.clientId)) return false;
  return isOwnSignOutState(secretKey, client.clientId, sessionBinding(raw), params?.state);
}

/**
 * Whether a refresh is to issue a token for the resource it names (none named: yes). The provider rotates
 * the refresh token before it checks the resource, so a refresh refused for it (a domain node removed since
 * the sign-in, one the person or app may no longer reach, one the grant never named, one without scope `im`)
 * would use up the client's refresh token, and the client's next refresh with it, taken for a replay, would
 * revoke the whole grant: no more tokens for any node, until the person signs in again. Such a refresh is
 * refused here, before anything rotates, with the reason.
 */
async function refreshIssues(deps: ProviderDeps, ctx: KoaContextWithOIDC): Promise<boolean> {
  const resource: unknown = ctx.oidc.params?.resource;
  const client = ctx.oidc.client;
  if (resource === undefined || !client) return true;
  // Several resources: the provider refuses them (one per token request) just after, saying so.
  if (typeof resource !== 'string') return false;
  await resourceServerInfo(deps, ctx, resource, client.clientId);
  return true;
}

/**
 * The domain nodes are the resource servers: a token for one carries scope `im` and the node's URL as
 * audience. One the app may not reach, or that the sign-in never named, is `invalid_target`; one whose
 * token would lack `im` (which every node refuses) is `invalid_scope`: both say why.
 */
async function resourceServerInfo(
  deps: ProviderDeps,
  ctx: KoaContextWithOIDC,
  indicator: string,
  clientId: string,
): Promise<ResourceServer> {
  const domain = await reachableNode(deps, ctx, indicator, clientId);
  // A refresh names a node its sign-in named; the provider's own refusal of another one says no more.
  const refreshed = ctx.oidc.entities.RefreshToken as { resourceIndicators?: Set<string> } | undefined;
  if (refreshed?.resourceIndicators && !refreshed.resourceIndicators.has(indicator)) {
    throw new errors.InvalidTarget(
      `${indicator} was not named (resource) when the person signed in to this app: sign them in again naming it`,
    );
  }
  const missing = nodeScopeMissing(ctx, indicator);
  if (missing) throw new errors.InvalidScope(missing, NODE_SCOPE);
  return {
    scope: NODE_SCOPE,
    audience: domain.url,
    accessTokenTTL: deps.config.accessTokenTtlSeconds,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  };
}

/** The registered node at `indicator`, if this app may reach it (as its bot, or for the person of the grant). */
async function reachableNode(deps: ProviderDeps, ctx: KoaContextWithOIDC, indicator: string, clientId: string) {
  const system = requestContext(deps, ctx);
  const domain = await findDomainByUrl(system, indicator);
  if (!domain)
    throw new errors.InvalidTarget(
      `${indicator} is not a registered domain node: see GET /api/v1/nodes or the im_home_node claim`,
    );
  // An app reaches a node on its own behalf only as its bot, which an administrator must have enabled.
  const asBot = ctx.oidc.params?.grant_type === 'client_credentials';
  if (asBot && !(await botClaims(deps.models, clientId))) {
    throw new errors.InvalidTarget('this app has no enabled bot, so it cannot get a token for a domain node');
  }
  // On a person's behalf only nodes that hold something of theirs, and for an app owned by a unit only
  // through their units inside it. Checked where tokens are issued (the grant names the person): an
  // authorization may name every node (the portal asks for all of them at once), and the consent
  // page lists only the nodes the app will really reach.
  const accountId = asBot ? null : personOf(ctx);
  if (asBot || accountId) {
    const audiences = await audiencesFor(system, clientId, accountId);
    if (audiences && !audiences.has(domain.name)) {
      if (!asBot)
        throw new errors.InvalidTarget(`${domain.name} is not a chat node this app may reach for this person`);
      const ownerUnit = (await appOfClient(system, clientId))?.ownerUnit;
      throw new errors.InvalidTarget(
        ownerUnit
          ? `${domain.name} serves no unit within ${ownerUnit}, this app's owner unit`
          : `${domain.name} serves no unit of the campus, and a campus-wide app's bot reaches only the nodes that do`,
      );
    }
  }
  return domain;
}

/** Who a token or an ID token speaks for, and what it says about them. */
function accountSettings(deps: ProviderDeps): Pick<Configuration, 'extraTokenClaims' | 'findAccount'> {
  const { models } = deps;
  return {
    // Domain nodes check identity locally from the access token, so it carries the campus claims
    // and the session id that single logout later names.
    async extraTokenClaims(ctx, token) {
      if (token.kind === 'ClientCredentials') return token.clientId ? botClaims(models, token.clientId) : undefined;
      if (token.kind !== 'AccessToken' || !('accountId' in token) || !token.accountId) return undefined;
      const system = requestContext(deps, ctx);
      const user = await userById(system, token.accountId as string);
      if (!user) return undefined;
      const claims = await accountClaims(system, user);
      return {
        preferred_username: claims.preferred_username,
        name: claims.name,
        roles: claims.roles,
        im_home_domain: claims.im_home_domain,
        im_domains: claims.im_domains,
        sid: (token as unknown as { sessionUid?: string }).sessionUid,
      };
    },
    async findAccount(ctx, sub) {
      const system = requestContext(deps, ctx);
      const user = await userById(system, sub);
      // New tokens at the token endpoint (a refresh, a code exchanged) are a sign-in to the app again: a
      // person it is no longer for (its units or roles changed, or theirs, or their account was disabled)
      // gets none; the grant is refused with words the app's developer can act on (person-served.ts).
      // Userinfo answers the app only while it may act for the person: an access token still valid by
      // its time is refused there as introspection calls it inactive (invalid_token, as for a disabled
      // account), so that the app reads nothing more about someone it is no longer for.
      const clientId = ctx.oidc?.client?.clientId;
      const route = ctx.oidc?.route;
      if ((route === 'token' || route === 'userinfo') && clientId && !(await servesPerson(system, clientId, sub))) {
        if (route === 'userinfo') return undefined;
        throw new PersonNotServedError(user ? 'the app may no longer serve this person' : 'no such account');
      }
      if (!user || user.status !== 'active') return undefined;
      return {
        accountId: user.id,
        async claims() {
          return accountClaims(system, user);
        },
      };
    },
  };
}

function lifetimes(config: GatewayConfig): Configuration['ttl'] {
  return {
    AccessToken: config.accessTokenTtlSeconds,
    AuthorizationCode: 60,
    ClientCredentials: 600,
    IdToken: 3600,
    Interaction: 3600,
    Grant: 14 * 24 * 3600,
    RefreshToken: 14 * 24 * 3600,
    Session: config.sessionTtlHours * 3600,
  };
}

const clearSecretsSaid = new Set<string>();

/**
 * A client whose secret a gateway of before sealing stored in the clear (during a rolling upgrade, or by
 * hand): refused, once said in the log per process with what to do.
 */
function clearSecretSeen(logger: Logger, clientId: string): void {
  if (clearSecretsSaid.has(clientId)) return;
  clearSecretsSaid.add(clientId);
  logger.error(
    { clientId },
    `the client ${clientId}'s secret is stored in the clear (by a gateway of before sealed secrets, or by hand), so it is refused ("client_secret is mandatory property"): give the app a new one with "atrium apps rotate-secret" (docs/operations.md, "Signing keys")`,
  );
}

/**
 * The store, except that the client of a disabled app is not found: it can neither sign in nor get tokens.
 * People sent to sign in to it meet a page that says it is turned off (renderError), the app's own
 * requests with its right secret an `error_description` that says so.
 */
function registryAwareAdapter(deps: ProviderDeps) {
  const Store = createAdapterClass(deps.models, () => Provider.ctx);
  return class RegistryAwareAdapter extends Store {
    override async find(id: string) {
      if (this.model !== 'Client') return super.find(id);
      const ctx = requestContext(deps);
      const stored = await remember(ctx, `client:${id}`, () => super.find(id));
      if (!stored) return undefined;
      // A rotated secret still in its grace works where it is presented (previous-client-secret.ts).
      const presented = clientAsPresented(Provider.ctx, id, stored as Record<string | symbol, unknown>);
      const found = presented.client as typeof stored;
      const previousUntil = presented.previousUntil;
      if (!(await clientUsable(ctx, id))) {
        // The app itself, with its right secret, is told why (turned-off-client.ts); anyone else finds nothing.
        refuseTurnedOffClient(Provider.ctx, id, found);
        return undefined;
      }
      if ((found as Record<symbol, unknown>)[IN_THE_CLEAR]) clearSecretSeen(deps.logger, id);
      if (previousUntil) await notePreviousSecretUsed(ctx, deps.logger, id, previousUntil);
      // The provider may add to what it is handed; what is kept stays as read.
      return withAllowedScopes(structuredClone(found), SCOPES);
    }
  };
}

/**
 * A session whose account was disabled or deleted since sign-in must sign in again (and then meets the
 * "account disabled" message) instead of reaching the consent checks with no account.
 */
function interactionPolicyWithAccountCheck(deps: ProviderDeps) {
  const policy = interactionPolicy.base();
  policy
    .get('login')!
    .checks.add(
      new interactionPolicy.Check('account_unavailable', 'the signed-in account is no longer active', (ctx) =>
        ctx.oidc.session?.accountId && !ctx.oidc.account
          ? interactionPolicy.Check.REQUEST_PROMPT
          : interactionPolicy.Check.NO_NEED_TO_PROMPT,
      ),
    );
  // An app asking for a second factor (acr_values) signs in again a person whose session lacks one.
  policy
    .get('login')!
    .checks.add(
      new interactionPolicy.Check('second_factor_asked', 'the app asks for a second factor', (ctx) =>
        ctx.oidc.session?.accountId &&
        asksForSecondFactor(ctx.oidc.params?.acr_values) &&
        ctx.oidc.session.acr !== MFA_ACR
          ? interactionPolicy.Check.REQUEST_PROMPT
          : interactionPolicy.Check.NO_NEED_TO_PROMPT,
      ),
    );
  // First of the consent checks: a person the app is not for (owner unit, visibility) is stopped at a page
  // that says why, and the app gets access_denied, whatever grant or first-party flag it holds.
  policy.get('consent')!.checks.add(
    new interactionPolicy.Check(
      APP_NOT_FOR_PERSON,
      'this app is not available to the signed-in person',
      'access_denied',
      async (ctx) => {
        const accountId = ctx.oidc.session?.accountId;
        if (!accountId || !ctx.oidc.client) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
        const refusal = await signInRefusal(requestContext(deps, ctx), ctx.oidc.client.clientId, accountId);
        return refusal ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
      },
    ),
    0,
  );
  return policy;
}

/** The person a token request is for: the grant's (authorization code and refresh token grants). */
function personOf(ctx: KoaContextWithOIDC): string | null {
  const grant = ctx.oidc.entities?.Grant as { accountId?: string } | undefined;
  return grant?.accountId ?? null;
}

/**
 * A first-party app (marked by an administrator) gets everything it asks for without a consent screen,
 * so opening it from chat is one click. Another app gets, besides the grant of this gateway session, what
 * the person allowed it before in any session (remembered-consent.ts): only what is asked beyond that
 * shows the consent page, and what they allow there is remembered in turn.
 */
async function loadExistingGrant(ctx: KoaContextWithOIDC, deps: ProviderDeps, consents: RememberedConsents) {
  const { oidc } = ctx;
  const client = oidc.client!;
  const consented = oidc.result?.consent?.grantId;
  const grantId = consented ?? oidc.session!.grantIdFor(client.clientId);
  const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  if (client['first_party'] === true) return firstPartyGrant(ctx, deps, existing);
  // Back from the consent page: its grant holds what the person has allowed the app, now included.
  if (consented) {
    if (existing) await consents.remember(oidc.session!.accountId!, client.clientId, existing);
    return existing;
  }
  const allowed = await consents.find(oidc.session!.accountId!, client.clientId);
  if (!allowed) return existing;
  // Nothing is granted unasked to a person the app is (no longer) for; the consent check then stops them.
  if (await signInRefusal(requestContext(deps, ctx), client.clientId, oidc.session!.accountId!)) return existing;
  const grant = existing ?? new oidc.provider.Grant({ clientId: client.clientId, accountId: oidc.session!.accountId! });
  // An unsaved grant must not be handed back: the session and the consent page would name a grant not stored.
  if (!applyAllowed(grant, allowed)) return existing;
  await grant.save();
  return grant;
}

type Grant = InstanceType<Provider['Grant']>;

/** Everything a first-party app asks for but administering Atrium, added to the session's grant. */
async function firstPartyGrant(ctx: KoaContextWithOIDC, deps: ProviderDeps, existing: Grant | undefined) {
  const { oidc } = ctx;
  const client = oidc.client!;
  // Nothing is granted unasked to a person the app is not for; the consent check then stops them.
  if (await signInRefusal(requestContext(deps, ctx), client.clientId, oidc.session!.accountId!)) return existing;

  const grant = existing ?? new oidc.provider.Grant({ clientId: client.clientId, accountId: oidc.session!.accountId! });
  const before = grantedOf(grant);
  // Administering Atrium is never granted unasked, even to a first-party app: the person is asked (consent page).
  grant.addOIDCScope([...oidc.requestParamOIDCScopes].filter((s) => s !== ADMIN_SCOPE).join(' '));
  if (oidc.requestParamClaims.size > 0) grant.addOIDCClaims([...oidc.requestParamClaims]);
  for (const [indicator, server] of Object.entries(oidc.resourceServers ?? {})) {
    const wanted = [...oidc.requestParamScopes].filter((s) => server.scopes.has(s));
    if (wanted.length > 0) grant.addResourceScope(indicator, wanted.join(' '));
  }
  // Opening an app again asks for what the grant holds already: nothing to write (a save would not
  // extend the grant's lifetime either, which runs from its creation).
  if (existing && grantedOf(grant) === before) return grant;
  await grant.save();
  return grant;
}

/** What a grant allows, comparable before and after additions. */
function grantedOf(grant: Grant): string {
  return JSON.stringify([grant.openid, grant.resources, grant.rejected]);
}
