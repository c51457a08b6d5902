import { randomBytes } from 'node:crypto';
import { createSealer, type Sealer } from '../../core/seal.ts';

/** Seals apps' callback secrets at rest, under a key of its own derived from the gateway's secret. */
export function callbackSecretSealer(secretKey: string): Sealer {
  return createSealer(secretKey, 'app-callback-secrets');
}

/** 256 random bits, for client secrets and callback secrets alike. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}
