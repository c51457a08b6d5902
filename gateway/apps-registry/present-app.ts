import type { App } from '../models/index.ts';
import type { ClientMetadata } from './client-metadata.ts';

export type PresentedApp = ReturnType<typeof presentApp>;

/** The one shape of a registered app that leaves the gateway (console, admin API, CLI --json); never a secret. */
export function presentApp(app: App, client: ClientMetadata | null | undefined) {
  return {
    id: app.id,
    slug: app.slug,
    clientId: app.clientId,
    name: app.name,
    icon: app.icon,
    description: app.description,
    homeUrl: app.homeUrl,
    redirectUris: client?.redirect_uris ?? [],
    postLogoutRedirectUris: client?.post_logout_redirect_uris ?? [],
    backchannelLogoutUri: client?.backchannel_logout_uri ?? null,
    interactionCallbackUrl: app.interactionCallbackUrl,
    visibility: { units: app.visibilityUnits, roles: app.visibilityRoles },
    ownerUnit: app.ownerUnit,
    firstParty: app.firstParty,
    botEnabled: app.botEnabled,
    disabled: app.disabled,
    hasCallbackSecret: app.callbackSecretSealed !== null,
    createdAt: app.createdAt.toISOString(),
    updatedAt: app.updatedAt.toISOString(),
  };
}

/** What an audit line keeps of an app: its settings, no secrets, no timestamps. */
export function auditedFields(app: PresentedApp) {
  const { id: _id, createdAt: _c, updatedAt: _u, hasCallbackSecret: _h, ...fields } = app;
  return fields;
}
