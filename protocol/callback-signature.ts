import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Headers of an interaction callback: when it was signed (Unix seconds), and the signature over it and the
 * body. While a rotated callback secret is in its grace the node signs with both secrets:
 * `X-Atrium-Signatures` lists every signature (`v1=<new>,v1=<previous>`), and `X-Atrium-Signature` holds
 * one, by the previous secret, which is what a verifier that takes a single secret and reads only that
 * header (every one written before graces) still holds. Outside a grace both carry the one signature.
 */
export const CALLBACK_HEADERS = {
  timestamp: 'x-atrium-timestamp',
  signature: 'x-atrium-signature',
  signatures: 'x-atrium-signatures',
} as const;

/** More signatures than a verifier reads from one header: a node sends at most two. */
export const MAX_SIGNATURES = 8;

/** What a node POSTs to an app's interaction callback URL when someone clicks a card's button. */
export type CardCallback = {
  messageId: string;
  conversationId: string;
  actionId: string;
  user: { address: string; name: string };
  /** The app's slug (its bot is `app@domain`). */
  app: string;
  /** Unix seconds; the same as the X-Atrium-Timestamp header. */
  timestamp: number;
  /** Unique per callback, so the app can refuse a replay. */
  nonce: string;
};

/** `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>` */
export function callbackSignature(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * The body and headers of a signed callback, as a node sends it: signed with each of `secrets`, the
 * current one first, then the one it replaced while that is in its grace.
 */
export function signCallback(
  secrets: string | readonly string[],
  event: Omit<CardCallback, 'timestamp' | 'nonce'>,
  now = Date.now(),
): { body: string; headers: Record<string, string>; nonce: string } {
  const timestamp = Math.floor(now / 1000);
  const nonce = randomBytes(16).toString('base64url');
  const body = JSON.stringify({ ...event, timestamp, nonce } satisfies CardCallback);
  const signatures = (typeof secrets === 'string' ? [secrets] : secrets).map((secret) =>
    callbackSignature(secret, String(timestamp), body),
  );
  if (signatures.length === 0) throw new Error('a callback is signed with at least one secret');
  return {
    body,
    nonce,
    headers: {
      'content-type': 'application/json',
      [CALLBACK_HEADERS.timestamp]: String(timestamp),
      [CALLBACK_HEADERS.signature]: signatures.at(-1)!,
      [CALLBACK_HEADERS.signatures]: signatures.join(','),
    },
  };
}

/** The signatures a header lists (`v1=…,v1=…`), at most MAX_SIGNATURES of them. */
export function listedSignatures(header: string): string[] {
  return header
    .split(',')
    .slice(0, MAX_SIGNATURES)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Constant-time comparison of two signatures. */
export function sameSignature(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
