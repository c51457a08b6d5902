import { Op } from 'sequelize';
import { NotFoundError } from '../../core/errors.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { asPerson } from '../factors/passkeys/person.ts';
import { audiencesFor } from '../apps-registry/app-access.ts';
import { describeResources, describeScopes } from '../interactions/describe-scopes.ts';
import type { User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { recordAppLogouts } from './app-logouts.ts';
import { revokeIssuedTo } from './revoke-issued.ts';
import type { Allowed } from './remembered-consent.ts';

/** The model under which remembered-consent.ts keeps what a person allowed an app. */
const CONSENT = 'Consent';

export type AllowedApp = { clientId: string; name: string; allowed: string[] };

/**
 * The apps a person allowed on a consent page (remembered-consent.ts), named as the registry names them,
 * with what was allowed in the consent page's words (and, like it, only the nodes the app may reach for
 * them). First-party apps, which never ask, are left out, as
 * is a consent whose app is gone.
 */
export async function listAllowedApps(ctx: GatewayContext, accountId: string): Promise<AllowedApp[]> {
  const rows = await ctx.models.OidcPayload.findAll({
    where: { model: CONSENT, accountId },
    attributes: ['payload'],
    transaction: ctx.tx,
  });
  const consents = rows.map((row) => JSON.parse(row.payload) as Allowed & { clientId?: unknown });
  const clientIds = consents.flatMap((c) => (typeof c.clientId === 'string' ? [c.clientId] : []));
  if (clientIds.length === 0) return [];
  const apps = await ctx.models.App.findAll({ where: { clientId: { [Op.in]: clientIds } }, transaction: ctx.tx });
  const byClient = new Map(apps.map((app) => [app.clientId, app]));
  const listed = await Promise.all(
    consents.map(async (consent) => {
      const app = typeof consent.clientId === 'string' ? byClient.get(consent.clientId) : undefined;
      if (!app || app.firstParty) return [];
      const scopes = (consent.openid?.scope ?? '').split(' ').filter(Boolean);
      const nodes = Object.entries(consent.resources ?? {}).flatMap(([url, scope]) => (scope ? [url] : []));
      const allowed = [
        ...describeScopes(scopes).map((line) => line.text),
        // Only the nodes its tokens may really be for, as on the consent page: a grant may name a node
        // (an authorization may name them all) that the app never reaches for this person.
        ...(await describeResources(ctx, nodes, await audiencesFor(ctx, app.clientId, accountId))),
      ];
      return [{ clientId: app.clientId, name: app.name, allowed }];
    }),
  );
  return listed.flat().sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * "Remove access" by the person: what they allowed the app is forgotten, so its next sign-in asks again,
 * and their grants, codes and tokens issued to it go (stored payloads name their client as
 * `"clientId":"…"`), so no refresh brings its access back, and the chat nodes refuse the access tokens
 * it was issued for them (an ended-access entry of that app alone). The app is told over its back-channel
 * logout URI for each gateway session of theirs it was signed in through, as when their access ends.
 * Only the person's own rows are touched: an app they never allowed is not found.
 */
export async function removeAppAccess(ctx: GatewayContext, user: User, clientId: string): Promise<AllowedApp> {
  return inTransaction(asPerson(ctx, user), async (ctx) => {
    const app = (await listAllowedApps(ctx, user.id)).find((allowed) => allowed.clientId === clientId);
    if (!app) throw new NotFoundError('That app is not among the apps you allowed');
    await recordAppLogouts(ctx, user.id, { clientId });
    const revoked = await revokeIssuedTo(ctx, clientId, user.id);
    // The access tokens it holds for the nodes go too, not in an hour: the nodes refuse them from now.
    await ctx.models.EndedAccess.create(
      { kind: 'sub', subject: user.id, endedAt: new Date(), clientId },
      { transaction: ctx.tx },
    );
    await audit(ctx, {
      action: 'consent.revoke',
      target: clientId,
      details: { name: app.name, account: user.id, revoked },
    });
    return app;
  });
}
