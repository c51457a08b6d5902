import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { SetupError } from './errors.ts';

/**
 * Authenticated encryption (AES-256-GCM) for secrets at rest, such as the gateway's private signing keys.
 * The key is derived from the operator's secret per purpose, so one secret can seal several kinds of data.
 */
export interface Sealer {
  seal(plain: string): string;
  open(sealed: string): string;
}

const VERSION = 'v1';

export function createSealer(secret: string, purpose: string): Sealer {
  const key = Buffer.from(hkdfSync('sha256', secret, 'atrium', purpose, 32));
  return {
    seal(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return [
        VERSION,
        iv.toString('base64url'),
        cipher.getAuthTag().toString('base64url'),
        body.toString('base64url'),
      ].join('.');
    },
    open(sealed) {
      const [version, iv, tag, body] = sealed.split('.');
      if (version !== VERSION || !iv || !tag || body === undefined)
        throw new Error('Sealed value has an unknown format');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      try {
        return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
      } catch {
        throw new SetupError(
          'wrong_secret',
          'Cannot open a sealed value: the configured secret (ATRIUM_SECRET_KEY for the gateway, NODE_SECRET_KEY for a node) differs from the one it was sealed with',
        );
      }
    },
  };
}
