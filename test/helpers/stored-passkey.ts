import { randomBytes, randomUUID } from 'node:crypto';
import type { GatewayContext } from '../../gateway/context.ts';
import { issueRecoveryCodes } from '../../gateway/factors/recovery-codes.ts';
import type { GatewayModels } from '../../gateway/models/index.ts';

/**
 * A passkey row as if its owner registered it on a device earlier. Its key is random: for tests that count,
 * name, rename or remove passkeys, or that need someone to have one, never for signing in with it.
 */
export function storedPasskey(models: GatewayModels, userId: string, name = 'Laptop') {
  return models.Passkey.create({
    id: randomUUID(),
    userId,
    credentialId: randomBytes(32).toString('base64url'),
    publicKey: randomBytes(77).toString('base64url'),
    counter: 0,
    transports: 'internal',
    name,
    createdAt: new Date(),
    lastUsedAt: null,
  });
}

/** A passkey added earlier (see storedPasskey) with the recovery codes it came with: those codes. */
export async function passkeyWithCodes(ctx: GatewayContext, userId: string): Promise<string[]> {
  await storedPasskey(ctx.models, userId);
  return issueRecoveryCodes(ctx, userId);
}
