import { createHash, randomBytes } from 'node:crypto';

/** 256 random bits, URL-safe: unguessable, so the link alone proves the mail was read. */
export function newResetToken(): { token: string; tokenHash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, tokenHash: hashResetToken(token) };
}

/** What the database keeps of a token. A fast hash is enough: the token has full entropy, nothing to guess. */
export function hashResetToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The shape `newResetToken` makes; anything else is refused before the database is asked. */
export const RESET_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;
