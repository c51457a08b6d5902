import { Op } from 'sequelize';
import { containsPattern, like } from '../../core/like.ts';
import type { GatewayContext } from '../context.ts';

/**
 * Deletes what the provider issued to a client (its grants, codes and tokens: stored payloads name their
 * client as `"clientId":"…"`), of one person (`accountId`) or of everyone, and every artefact issued under
 * those grants, so that no refresh brings the access back. The client itself and sessions stay. Returns
 * how many rows went. In the caller's transaction.
 */
export async function revokeIssuedTo(ctx: GatewayContext, clientId: string, accountId?: string): Promise<number> {
  const { OidcPayload } = ctx.models;
  const issued = {
    ...(accountId !== undefined && { accountId }),
    model: { [Op.notIn]: ['Client', 'Session'] },
    payload: like(ctx.sequelize, containsPattern(`"clientId":${JSON.stringify(clientId)}`)),
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
  return revoked + (await OidcPayload.destroy({ where: issued, transaction: ctx.tx }));
}
