import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Headers of an interaction callback: when it was signed (Unix seconds) and the signature over it and the body. */
export const CALLBACK_HEADERS = { timestamp: 'x-atrium-timestamp', signature: 'x-atrium-signature' } as const;

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

/** The body and headers of a signed callback, as a node sends it. */
export function signCallback(
  secret: string,
  event: Omit<CardCallback, 'timestamp' | 'nonce'>,
  now = Date.now(),
): { body: string; headers: Record<string, string>; nonce: string } {
  const timestamp = Math.floor(now / 1000);
  const nonce = randomBytes(16).toString('base64url');
  const body = JSON.stringify({ ...event, timestamp, nonce } satisfies CardCallback);
  return {
    body,
    nonce,
    headers: {
      'content-type': 'application/json',
      [CALLBACK_HEADERS.timestamp]: String(timestamp),
      [CALLBACK_HEADERS.signature]: callbackSignature(secret, String(timestamp), body),
    },
  };
}

/** Constant-time comparison of two signatures. */
export function sameSignature(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
