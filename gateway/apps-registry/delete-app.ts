import { Op } from 'sequelize';
import { containsPattern, like } from '../../core/like.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { inTransaction } from '../transaction.ts';
import { findManageableApp } from './app-scope.ts';

/**
 * Deletes an app for good: its registry row, its OIDC client, and every grant, code and token issued to it
 * (stored payloads name their client as `"clientId":"…"`), so nothing it held keeps working.
 */
export async function deleteApp(ctx: GatewayContext, slug: string): Promise<{ slug: string; revoked: number }> {
  return inTransaction(ctx, async (ctx) => {
    const app = await findManageableApp(ctx, slug);
    const { OidcPayload } = ctx.models;
    const issued = {
      model: { [Op.notIn]: ['Client', 'Session'] },
      payload: like(ctx.sequelize, containsPattern(`"clientId":${JSON.stringify(app.clientId)}`)),
    };
    const grants = await OidcPayload.findAll({
      where: { ...issued, model: 'Grant' },
      attributes: ['id'],
      transaction: ctx.tx,
    });
    let revoked = 0;
    if (grants.length > 0) {
      revoked += await OidcPayload.destroy({
        where: { grantId: { [Op.in]: grants.map((g) => g.id) } },
        transaction: ctx.tx,
      });
    }
    revoked += await OidcPayload.destroy({ where: issued, transaction: ctx.tx });
    await OidcPayload.destroy({ where: { model: 'Client', id: app.clientId }, transaction: ctx.tx });
    // Logouts still waiting for it (gateway/oidc/app-logouts.ts) must not reach a client given its id later.
    await ctx.models.AppLogout.destroy({ where: { clientId: app.clientId }, transaction: ctx.tx });
    await app.destroy({ transaction: ctx.tx });
    await audit(ctx, {
      action: 'app.delete',
      target: app.slug,
      details: { clientId: app.clientId, name: app.name, revoked },
    });
    return { slug: app.slug, revoked };
  });
}
