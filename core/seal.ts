import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { SetupError } from './errors.ts';

/**
 * Authenticated encryption (AES-256-GCM) for secrets at rest, such as the gateway's private signing keys.
 * The key is derived from the operator's secret per purpose, so one secret can seal several kinds of data.
 */
export interface Sealer {
  seal(plain: string): string;
  /** Opens with the current secret, else with a previous one (acceptPreviousSecrets). */
  open(sealed: string): string;
  /** Whether the current secret opens it; one that only a previous secret opens is due for a reseal. */
  opensWithCurrent(sealed: string): boolean;
}

const VERSION = 'v1';

/**
 * Older secrets that still open, but never seal, what a secret's sealers open: the operator's rotation
 * (ATRIUM_SECRET_KEY_PREVIOUS, NODE_SECRET_KEY_PREVIOUS) until `atrium secrets reseal` has sealed
 * everything afresh. Kept beside the secret rather than passed to each of the many places that make a
 * sealer from it, so that none of them can forget them; the configuration loaders set them.
 */
const previousSecrets = new Map<string, readonly string[]>();

export function acceptPreviousSecrets(secret: string, previous: readonly string[]): void {
  const others = previous.filter((p) => p !== secret);
  if (others.length > 0) previousSecrets.set(secret, others);
  else previousSecrets.delete(secret);
}

const keyOf = (secret: string, purpose: string) => Buffer.from(hkdfSync('sha256', secret, 'atrium', purpose, 32));

export function createSealer(secret: string, purpose: string): Sealer {
  const key = keyOf(secret, purpose);
  const olderKeys = () => (previousSecrets.get(secret) ?? []).map((p) => keyOf(p, purpose));
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
      const opened =
        openWith(key, sealed) ?? olderKeys().reduce<string | null>((o, k) => o ?? openWith(k, sealed), null);
      if (opened === null)
        throw new SetupError(
          'wrong_secret',
          'Cannot open a sealed value: the configured secret (ATRIUM_SECRET_KEY for the gateway, NODE_SECRET_KEY for a node) differs from the one it was sealed with',
        );
      return opened;
    },
    opensWithCurrent(sealed) {
      return openWith(key, sealed) !== null;
    },
  };
}

/** The plain text, or null when this key does not open it. */
function openWith(key: Buffer, sealed: string): string | null {
  const [version, iv, tag, body] = sealed.split('.');
  if (version !== VERSION || !iv || !tag || body === undefined) throw new Error('Sealed value has an unknown format');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  try {
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}
