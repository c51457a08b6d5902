import type { Logger } from '../../core/logger.ts';
import type { Sealer } from '../../core/seal.ts';
import type { RegistryClient } from '../../protocol/registry-client.ts';
import { signedGatewayRequest, type PrivateKeyJwk } from '../../protocol/signature.ts';
import type { FederationModels, NodeKey } from './models.ts';
import { pendingKey, promoteNextKey, rotateNodeKey, signingKey } from './node-keys.ts';

/** How long the signing key read from the database is used before it is read (and unsealed) again. */
const SIGNING_KEY_CACHE_MS = 10_000;

/** The node's own Ed25519 keys: the one it signs with, and their rotation. */
export interface NodeKeys {
  /** The key requests are signed with, read at most every 10 s rather than per request. */
  signingKey(): Promise<PrivateKeyJwk>;
  /** The active key, read now: what the published keys document is signed with. */
  documentSigner(): Promise<PrivateKeyJwk>;
  /**
   * Rotates the node's signing key without a moment in which peers would meet an unpinned key: the new
   * key is published first, the gateway is asked to pin it (the current key vouches for it), and only
   * then does it start signing. If the gateway cannot be reached the key waits as `next` and
   * completeRotation() tries again later.
   */
  rotate(): Promise<NodeKey>;
  /** Finishes a pending rotation: re-pin at the gateway, then sign with the new key. True when done. */
  completeRotation(): Promise<boolean>;
}

/**
 * The signing key, read and unsealed at most every 10 s; after a rotation the previous key still verifies
 * during its grace period, so a few seconds of signing with it are harmless.
 */
export function cachedSigningKey(
  models: FederationModels,
  sealer: Sealer,
  now: () => number = Date.now,
): () => Promise<PrivateKeyJwk> {
  let cached: { at: number; key: Promise<PrivateKeyJwk> } | undefined;
  return () => {
    if (!cached || now() - cached.at > SIGNING_KEY_CACHE_MS) cached = { at: now(), key: signingKey(models, sealer) };
    const { key } = cached;
    key.catch(() => (cached = undefined));
    return key;
  };
}

export function createNodeKeys(options: {
  domain: string;
  models: FederationModels;
  sealer: Sealer;
  /** The cached signing key (cachedSigningKey), shared with the registry client and the transport. */
  signingKey: () => Promise<PrivateKeyJwk>;
  registry: RegistryClient;
  gatewayIssuer: string;
  logger: Logger;
}): NodeKeys {
  const { domain, models, sealer, logger } = options;

  async function completeRotation(): Promise<boolean> {
    if (!(await pendingKey(models))) return false;
    const path = '/federation/v1/repin';
    // Signed with the current key, read now: it vouches for the next one.
    const current = await signingKey(models, sealer);
    const request = await signedGatewayRequest(
      { gatewayIssuer: options.gatewayIssuer, origin: domain, signingKey: async () => current },
      'POST',
      path,
    );
    try {
      const response = await fetch(request);
      if (!response.ok) throw new Error(`HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`);
    } catch (error) {
      logger.warn({ err: error }, 'the gateway has not pinned the new key yet; still signing with the current one');
      return false;
    }
    await promoteNextKey(models);
    await options.registry.refreshSoon().catch(() => undefined);
    logger.info('signing with the new key');
    return true;
  }

  return {
    signingKey: options.signingKey,
    documentSigner: () => signingKey(models, sealer),
    async rotate() {
      const next = await rotateNodeKey(models, sealer);
      await completeRotation();
      return next;
    },
    completeRotation,
  };
}
