import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { Op, type Sequelize } from 'sequelize';
import { SetupError } from '../../core/errors.ts';
import { createSealer, type Sealer } from '../../core/seal.ts';
import { defineFederationModels, type FederationModels, type NodeKey } from './models.ts';
import { privateKeyOf, type PrivateKeyJwk, type PublicKeyJwk } from '../../protocol/signature.ts';

export type PublishedKey = PublicKeyJwk & { status: 'next' | 'active' | 'retiring'; notAfter?: string };
export type KeysDocument = { domain: string; keys: PublishedKey[]; proof: { kid: string; sig: string }[] };

/** What the node's private keys are sealed under (with its secret key). */
export const NODE_KEY_SEAL = 'node-keys';

/** How long a superseded key keeps verifying, so requests signed just before a rotation still land. */
export const KEY_GRACE_MS = 24 * 3600_000;

function newKid(): string {
  return `k-${new Date().toISOString().slice(0, 10)}-${randomBytes(3).toString('hex')}`;
}

export async function createNodeKey(
  models: FederationModels,
  sealer: Sealer,
  state: 'next' | 'active' = 'active',
): Promise<NodeKey> {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' }) as { x: string; d: string };
  const kid = newKid();
  const publicJwk: PublicKeyJwk = { kty: 'OKP', crv: 'Ed25519', x: jwk.x, kid };
  return models.NodeKey.create({
    kid,
    publicJwk: JSON.stringify(publicJwk),
    privateJwkSealed: sealer.seal(JSON.stringify({ ...publicJwk, d: jwk.d })),
    state,
    createdAt: new Date(),
    retiredAt: null,
  });
}

export async function ensureNodeKey(models: FederationModels, sealer: Sealer): Promise<void> {
  if ((await models.NodeKey.count({ where: { state: 'active' } })) === 0) await createNodeKey(models, sealer);
}

/**
 * Rotation, first half: a new key is published as `next` but does not sign yet, so no peer meets a key
 * the gateway has not pinned. promoteNextKey() finishes once the gateway has pinned it.
 */
export async function rotateNodeKey(models: FederationModels, sealer: Sealer): Promise<NodeKey> {
  const pending = await models.NodeKey.findOne({ where: { state: 'next' } });
  return pending ?? createNodeKey(models, sealer, 'next');
}

/**
 * Rotation, second half: the `next` key signs from now on; the previous one verifies for the grace period.
 * One transaction, and the next key is active before the previous one retires: a reader (signingKey(),
 * the newest active key) finds a key to sign with at every moment, on this connection or any other
 * process's, and two processes promoting at once leave one active key.
 */
export async function promoteNextKey(models: FederationModels): Promise<NodeKey | null> {
  const { NodeKey } = models;
  return NodeKey.sequelize!.transaction(async (transaction) => {
    const next = await NodeKey.findOne({ where: { state: 'next' }, lock: transaction.LOCK.UPDATE, transaction });
    if (!next) return null;
    await NodeKey.update({ state: 'active' }, { where: { kid: next.kid }, transaction });
    await NodeKey.update(
      { state: 'retired', retiredAt: new Date() },
      { where: { state: 'active', kid: { [Op.ne]: next.kid } }, transaction },
    );
    return next.reload({ transaction });
  });
}

export async function pendingKey(models: FederationModels): Promise<NodeKey | null> {
  return models.NodeKey.findOne({ where: { state: 'next' } });
}

export async function signingKey(models: FederationModels, sealer: Sealer): Promise<PrivateKeyJwk> {
  const key = await models.NodeKey.findOne({ where: { state: 'active' }, order: [['createdAt', 'DESC']] });
  if (!key) throw new Error('The node has no signing key');
  return JSON.parse(sealer.open(key.privateJwkSealed)) as PrivateKeyJwk;
}

/**
 * The node's secret opens the key it signs with: checked before it starts, since a node that cannot
 * open its key signs nothing (no request to the gateway or to a peer is accepted) yet would look ready.
 * A node that has no key yet creates its first one at this start.
 */
export async function assertKeyOpens(models: FederationModels, sealer: Sealer, domain: string): Promise<void> {
  if ((await models.NodeKey.count({ where: { state: 'active' } })) === 0) return;
  try {
    await signingKey(models, sealer);
  } catch (error) {
    if (!(error instanceof SetupError)) throw error;
    throw new SetupError(
      'wrong_secret',
      `This is not the secret the ${domain} node's keys are sealed with now (set at its first start or by the last "atrium secrets reseal --node ${domain}"): start the node with that secret as NODE_SECRET_KEY (or, without it, the development secret file in ATRIUM_DATA_DIR), or in NODE_SECRET_KEY_PREVIOUS while a rotation is under way`,
    );
  }
}

/** Keys that verify: the next and active ones, and those retired within the grace period. */
export async function publishedKeys(models: FederationModels, now = Date.now()): Promise<PublishedKey[]> {
  const keys = await models.NodeKey.findAll({
    where: {
      [Op.or]: [{ state: { [Op.in]: ['next', 'active'] } }, { retiredAt: { [Op.gt]: new Date(now - KEY_GRACE_MS) } }],
    },
    order: [['createdAt', 'DESC']],
  });
  return keys.map((k) => ({
    ...(JSON.parse(k.publicJwk) as PublicKeyJwk),
    status: k.state === 'retired' ? 'retiring' : k.state,
    ...(k.retiredAt ? { notAfter: new Date(k.retiredAt.getTime() + KEY_GRACE_MS).toISOString() } : {}),
  }));
}

/** The well-known document, signed by every key it lists, so a pin holder can follow a rotation. */
export async function keysDocument(models: FederationModels, sealer: Sealer, domain: string): Promise<KeysDocument> {
  const keys = await publishedKeys(models);
  const payload = Buffer.from(JSON.stringify({ domain, keys }));
  const rows = await models.NodeKey.findAll({ where: { kid: { [Op.in]: keys.map((k) => k.kid) } } });
  const proof = rows.map((row) => {
    const jwk = JSON.parse(sealer.open(row.privateJwkSealed)) as PrivateKeyJwk;
    return { kid: row.kid, sig: sign(null, payload, privateKeyOf(jwk)).toString('base64url') };
  });
  return { domain, keys, proof };
}

/**
 * The keys document of a node that is not running, from its (migrated) database, its first key created
 * if it has none yet, as the node itself would at its first start: for a composition root that starts
 * the node and pins its keys at the gateway (the demo, the benchmarks: cli/node-before-start.ts), so that
 * the node's first requests are accepted.
 */
export async function keysDocumentBeforeStart(
  sequelize: Sequelize,
  node: { domain: string; secretKey: string },
): Promise<KeysDocument> {
  const models = defineFederationModels(sequelize);
  const sealer = createSealer(node.secretKey, NODE_KEY_SEAL);
  await ensureNodeKey(models, sealer);
  return keysDocument(models, sealer, node.domain);
}
