import { randomBytes } from 'node:crypto';
import { createSealer, type Sealer } from '../../core/seal.ts';

/** Seals apps' callback secrets at rest, under a key of its own derived from the gateway's secret. */
export function callbackSecretSealer(secretKey: string): Sealer {
  return createSealer(secretKey, 'app-callback-secrets');
}

/**
 * Seals new secrets for the moment between the console's action and the one page that shows them (they
 * wait in the administrator's session, which the gateway's database holds): never stored in clear.
 */
export function shownSecretsSealer(secretKey: string): Sealer {
  return createSealer(secretKey, 'console-shown-secrets');
}

/** 256 random bits, for client secrets and callback secrets alike. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}
