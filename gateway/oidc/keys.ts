import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { Op } from 'sequelize';
import { NotFoundError, ValidationError } from '../../core/errors.ts';
import type { Sealer } from '../../core/seal.ts';
import type { GatewayModels, SigningKey } from '../models/index.ts';

const ALG = 'RS256';

export type PresentedKey = {
  kid: string;
  alg: string;
  state: string;
  createdAt: string;
  retiredAt: string | null;
  signing: boolean;
};

/** Creates a new signing key, sealed at rest; being the newest, it signs from the next reload on. */
export async function createSigningKey(models: GatewayModels, sealer: Sealer): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair(ALG, { extractable: true, modulusLength: 2048 });
  const kid = `${new Date().toISOString().slice(0, 10)}-${randomUUID().slice(0, 8)}`;
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: ALG, use: 'sig' };
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = privateJwk;
  return models.SigningKey.create({
    kid,
    alg: ALG,
    publicJwk: JSON.stringify(publicJwk),
    privateJwkSealed: sealer.seal(JSON.stringify(privateJwk)),
    state: 'active',
    createdAt: new Date(),
    retiredAt: null,
  });
}

/** The first start creates a key; there are never built-in development keys. */
export async function ensureSigningKey(models: GatewayModels, sealer: Sealer): Promise<void> {
  if ((await models.SigningKey.count({ where: { state: 'active' } })) === 0) await createSigningKey(models, sealer);
}

/**
 * Rotation: a new key signs from now on; the previous keys stay published (and so keep verifying tokens
 * already issued) until retired, which by default happens to keys superseded more than `retireAfterHours` ago.
 */
export async function rotateSigningKeys(
  models: GatewayModels,
  sealer: Sealer,
  retireAfterHours = 24,
): Promise<{ created: SigningKey; retired: string[] }> {
  const cutoff = new Date(Date.now() - retireAfterHours * 3_600_000);
  const active = await models.SigningKey.findAll({ where: { state: 'active' }, order: [['createdAt', 'DESC']] });
  // A key is retirable when a newer key has existed for longer than the grace period.
  const retirable = active.filter((key, i) => i > 0 && active[i - 1]!.createdAt < cutoff);
  const created = await createSigningKey(models, sealer);
  for (const key of retirable) {
    key.state = 'retired';
    key.retiredAt = new Date();
    await key.save();
  }
  return { created, retired: retirable.map((k) => k.kid) };
}

export async function retireSigningKey(models: GatewayModels, kid: string): Promise<void> {
  const active = await models.SigningKey.findAll({ where: { state: 'active' }, order: [['createdAt', 'DESC']] });
  const key = active.find((k) => k.kid === kid);
  if (!key) throw new NotFoundError(`No active key ${kid}`);
  if (active[0]!.kid === kid)
    throw new ValidationError('The current signing key cannot be retired; rotate first', {
      kid: 'current signing key',
    });
  key.state = 'retired';
  key.retiredAt = new Date();
  await key.save();
}

/** Private JWKs of every active key, newest first: oidc-provider signs with the first one that fits. */
export async function loadPrivateJwks(models: GatewayModels, sealer: Sealer): Promise<JWK[]> {
  const keys = await models.SigningKey.findAll({ where: { state: 'active' }, order: [['createdAt', 'DESC']] });
  return keys.map((k) => JSON.parse(sealer.open(k.privateJwkSealed)) as JWK);
}

/** A cheap fingerprint of the active key set, to notice a rotation made by another process or the CLI. */
export async function activeKeyIds(models: GatewayModels): Promise<string> {
  const keys = await models.SigningKey.findAll({
    where: { state: { [Op.eq]: 'active' } },
    attributes: ['kid'],
    order: [['createdAt', 'DESC']],
  });
  return keys.map((k) => k.kid).join(',');
}

export async function listSigningKeys(models: GatewayModels): Promise<PresentedKey[]> {
  const keys = await models.SigningKey.findAll({ order: [['createdAt', 'DESC']] });
  const current = keys.find((k) => k.state === 'active')?.kid;
  return keys.map((k) => ({
    kid: k.kid,
    alg: k.alg,
    state: k.state,
    createdAt: k.createdAt.toISOString(),
    retiredAt: k.retiredAt?.toISOString() ?? null,
    signing: k.kid === current,
  }));
}
