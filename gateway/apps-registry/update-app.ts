import { ValidationError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { nodesTold, recordChangedApp } from '../oidc/ended-access.ts';
import { inTransaction } from '../transaction.ts';
import { assertCallableUrls } from './callable-urls.ts';
import { assertMayBeFirstParty, checkUnits, findManageableApp, resolveOwnerUnit } from './app-scope.ts';
import { clientMetadataOf, loadClient, saveClient } from './client-metadata.ts';
import { auditedFields, presentApp, type PresentedApp } from './present-app.ts';
import { sameNameProblem } from './same-name.ts';
import { appChangesSchema } from './schemas.ts';

/** Fields whose old and new values differ, for the audit line. */
function changed(before: Record<string, unknown>, after: Record<string, unknown>) {
  const out: Record<string, { from: unknown; to: unknown }> = {};
  for (const key of Object.keys(after)) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) out[key] = { from: before[key], to: after[key] };
  }
  return out;
}

/**
 * Edits an app's settings; its OIDC client follows (redirect and logout URIs, first-party) in the same
 * transaction. The slug and client id stay: the slug is the bot's address in conversations already held.
 * The chat nodes are told to drop what they keep of it (its bot's name, whether its bot may act, whom it
 * may write to, where its card clicks go, which nodes may hold them) before this returns.
 */
export async function updateApp(ctx: GatewayContext, slug: string, input: unknown): Promise<PresentedApp> {
  const changes = parseInput(appChangesSchema, input);
  assertCallableUrls(ctx, changes);
  const presented = await inTransaction(ctx, async (ctx) => {
    const app = await findManageableApp(ctx, slug);
    assertMayBeFirstParty(ctx, app, changes.firstParty ?? app.firstParty);
    const client = await loadClient(ctx, app.clientId);
    const before = auditedFields(presentApp(app, client));
    const ownerUnit = changes.ownerUnit === undefined ? app.ownerUnit : resolveOwnerUnit(ctx, changes.ownerUnit);
    const visibility = changes.visibility ?? { units: app.visibilityUnits, roles: app.visibilityRoles };
    await checkUnits(ctx, ownerUnit, visibility.units);
    // A new name, or new people to show it to, must not make it one of two apps of a name in a workbench
    // (an edit that changes neither is not refused for a pair that was there before the rule).
    const audience = { ownerUnit, visibilityUnits: visibility.units, visibilityRoles: visibility.roles };
    const stored = {
      ownerUnit: app.ownerUnit,
      visibilityUnits: app.visibilityUnits,
      visibilityRoles: app.visibilityRoles,
    };
    if ((changes.name ?? app.name) !== app.name || JSON.stringify(audience) !== JSON.stringify(stored)) {
      const sameName = await sameNameProblem(ctx, changes.name ?? app.name, audience, app.id);
      if (sameName) throw new ValidationError('Some fields are invalid', { name: sameName });
    }

    if (changes.name !== undefined) app.name = changes.name;
    if (changes.icon !== undefined) app.icon = changes.icon;
    if (changes.description !== undefined) app.description = changes.description || null;
    if (changes.homeUrl !== undefined) app.homeUrl = changes.homeUrl;
    if (changes.interactionCallbackUrl !== undefined) app.interactionCallbackUrl = changes.interactionCallbackUrl;
    if (changes.firstParty !== undefined) app.firstParty = changes.firstParty;
    if (changes.botEnabled !== undefined) app.botEnabled = changes.botEnabled;
    app.visibilityUnits = visibility.units;
    app.visibilityRoles = visibility.roles;
    app.ownerUnit = ownerUnit;
    await app.save({ transaction: ctx.tx });

    // The secret stays as it is stored, sealed: an edit never opens it.
    const next = clientMetadataOf(app.clientId, client?.client_secret_sealed ?? '', {
      name: app.name,
      redirectUris: changes.redirectUris ?? client?.redirect_uris ?? [],
      postLogoutRedirectUris: changes.postLogoutRedirectUris ?? client?.post_logout_redirect_uris ?? [],
      backchannelLogoutUri:
        changes.backchannelLogoutUri === undefined ? client?.backchannel_logout_uri : changes.backchannelLogoutUri,
      firstParty: app.firstParty,
    });
    await saveClient(ctx, next);
    await recordChangedApp(ctx, app);
    const presented = presentApp(app, next);
    await audit(ctx, { action: 'app.update', target: app.slug, details: changed(before, auditedFields(presented)) });
    return presented;
  });
  await nodesTold(ctx);
  return presented;
}
