import { createHmac } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { UniqueConstraintError } from 'sequelize';
import type { Sealer } from '../../core/seal.ts';
import { audit } from '../audit.ts';
import { operator, type GatewayContext } from '../context.ts';
import { clientSecretSealerOf, openClientSecret, sealClientSecret } from './client-secrets.ts';

/**
 * One of the gateway's own sign-in clients (the admin console, the portal): an OIDC client of its own
 * gateway, stored like any registered app's client but with no row in `apps`, since it is part of the
 * gateway rather than an app people open.
 */
export type FirstPartyClient = {
  clientId: string;
  /** Its client metadata, as the provider reads it from the store. */
  metadata: Record<string, unknown>;
  /** Names it in the audit log's actions: `console` gives `console.client_register`, `console.client_update`. */
  auditAs: string;
};

/**
 * Derived from the gateway's secret, so every process agrees on it without storing or sharing it. The
 * label is the client id followed by `-client`, as it has always been, so existing secrets stay valid.
 */
export function firstPartyClientSecret(clientId: string, secretKey: string): string {
  return createHmac('sha256', secretKey).update(`${clientId}-client`).digest('base64url');
}

/**
 * Registers the client, idempotently, and safely when several processes start at once; a changed issuer
 * or secret rewrites the stored metadata. The audit log records a registration or a rewrite, with the issuer.
 */
export async function ensureFirstPartyClient(
  ctx: GatewayContext,
  client: FirstPartyClient,
  issuer: string,
): Promise<'created' | 'updated' | 'unchanged'> {
  const { OidcPayload } = ctx.models;
  const sealer = clientSecretSealerOf(ctx.sequelize);
  // Stored with its secret sealed, like every client (client-secrets.ts).
  const payload = JSON.stringify(sealClientSecret(client.metadata, sealer));
  const where = { model: 'Client', id: client.clientId };
  const system = { ...ctx, actor: operator('gateway') };
  const existing = await OidcPayload.findOne({ where });
  if (existing) {
    if (storedAs(existing.payload, client.metadata, sealer)) return 'unchanged';
    await OidcPayload.update({ payload }, { where });
    await audit(system, { action: `${client.auditAs}.client_update`, target: client.clientId, details: { issuer } });
    return 'updated';
  }
  try {
    await OidcPayload.create({
      ...where,
      payload,
      grantId: null,
      userCode: null,
      uid: null,
      expiresAt: null,
      consumedAt: null,
    });
  } catch (error) {
    // Another process registered it between our read and our write; its metadata is the same as ours.
    if (error instanceof UniqueConstraintError) return 'unchanged';
    throw error;
  }
  await audit(system, { action: `${client.auditAs}.client_register`, target: client.clientId, details: { issuer } });
  return 'created';
}

/**
 * The stored client is this metadata with its secret sealed (a seal differs each time, so it is opened to
 * compare). One sealed under another secret key does not open, and is rewritten like any changed secret.
 */
function storedAs(stored: string, metadata: Record<string, unknown>, sealer: Sealer): boolean {
  try {
    return isDeepStrictEqual(openClientSecret(JSON.parse(stored) as Record<string, unknown>, sealer), metadata);
  } catch {
    return false;
  }
}
