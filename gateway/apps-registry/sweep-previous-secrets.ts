import { Op } from 'sequelize';
import type { GatewayModels } from '../models/index.ts';
import { moveReadVersion } from '../shared-reads.ts';
import { stillInGrace } from './grace.ts';

/**
 * Drops the secrets rotations replaced once their grace is over (rotate-secrets.ts): no longer honoured
 * anyway (their end is checked at each use), they are not kept either, sealed or not. Run with the sweep of
 * expired OIDC rows. Returns how many went.
 */
export async function sweepPreviousSecrets(models: GatewayModels): Promise<number> {
  const now = new Date();
  const [callbacks] = await models.App.update(
    { callbackSecretPreviousSealed: null, callbackSecretPreviousUntil: null },
    { where: { callbackSecretPreviousUntil: { [Op.lte]: now } } },
  );
  const clients = await models.OidcPayload.findAll({
    where: { model: 'Client', payload: { [Op.like]: '%"client_secret_previous_until"%' } },
  });
  let swept = 0;
  for (const row of clients) {
    const {
      client_secret_previous_sealed: _sealed,
      client_secret_previous_until: until,
      ...rest
    } = JSON.parse(row.payload) as Record<string, unknown>;
    if (stillInGrace(until, now.getTime())) continue;
    // Only the row as read: a rotation meanwhile wrote what holds now.
    const [changed] = await models.OidcPayload.update(
      { payload: JSON.stringify(rest) },
      { where: { model: 'Client', id: row.id, payload: row.payload } },
    );
    swept += changed;
  }
  if (swept > 0) await moveReadVersion(models.OidcPayload.sequelize!);
  return callbacks + swept;
}
