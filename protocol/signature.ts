import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { AppError } from '../core/errors.ts';

/** An Ed25519 public key as published and pinned: a JWK of kty OKP, crv Ed25519. */
export type PublicKeyJwk = { kty: 'OKP'; crv: 'Ed25519'; x: string; kid: string };
export type PrivateKeyJwk = PublicKeyJwk & { d: string };

export const HEADERS = {
  origin: 'atrium-origin',
  destination: 'atrium-destination',
  timestamp: 'atrium-timestamp',
  signature: 'atrium-signature',
} as const;

/** How far a request's timestamp may be from the receiver's clock. */
export const MAX_SKEW_MS = 60_000;

export class SignatureError extends AppError {
  constructor(code: string, message: string) {
    super(code, 401, message);
  }
}

export function bodyDigest(body: string | Buffer): string {
  return createHash('sha256').update(body).digest('base64url');
}

/** The exact bytes a server-to-server request is signed over. */
export function signingString(parts: {
  method: string;
  path: string;
  origin: string;
  destination: string;
  timestamp: string;
  body: string | Buffer;
}): string {
  return [
    parts.method.toUpperCase(),
    parts.path,
    parts.origin,
    parts.destination,
    parts.timestamp,
    bodyDigest(parts.body),
  ].join('\n');
}

export function privateKeyOf(jwk: PrivateKeyJwk): KeyObject {
  return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d }, format: 'jwk' });
}

export function publicKeyOf(jwk: PublicKeyJwk): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
}

/** Headers that sign a request from `origin` to `destination`. */
export function signRequest(
  key: PrivateKeyJwk,
  request: { method: string; path: string; origin: string; destination: string; body: string | Buffer },
  now = Date.now(),
): Record<string, string> {
  const timestamp = String(now);
  const signature = sign(null, Buffer.from(signingString({ ...request, timestamp })), privateKeyOf(key)).toString(
    'base64url',
  );
  return {
    [HEADERS.origin]: request.origin,
    [HEADERS.destination]: request.destination,
    [HEADERS.timestamp]: timestamp,
    [HEADERS.signature]: `kid=${key.kid},sig=${signature}`,
  };
}

/** A unit that asks its gateway for something, signing as `origin` (a domain or a proxy's name). */
export type GatewayAsker = { gatewayIssuer: string; origin: string; signingKey: () => Promise<PrivateKeyJwk> };

/**
 * A request without a body to the gateway's federation endpoints, signed as the asker and given up after
 * `timeoutMs`; the caller fetches it and reads the answer.
 */
export async function signedGatewayRequest(
  asker: GatewayAsker,
  method: 'GET' | 'POST',
  path: string,
  timeoutMs = 5_000,
): Promise<Request> {
  const headers = signRequest(await asker.signingKey(), {
    method,
    path,
    origin: asker.origin,
    destination: 'gateway',
    body: '',
  });
  return new Request(`${asker.gatewayIssuer}${path}`, { method, headers, signal: AbortSignal.timeout(timeoutMs) });
}

export type SignedRequest = {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string | Buffer;
};

/**
 * Checks a signed request against the origin's pinned keys: a known key, a valid signature over method,
 * path, origin, destination, timestamp and body, and a timestamp within the allowed skew. `digest` names
 * what was signed (not the signature's text, which more than one encoding decodes to), so that a receiver
 * can tell the same request sent again.
 */
export function verifyRequest(
  request: SignedRequest,
  keysOf: (origin: string) => PublicKeyJwk[] | undefined,
  now = Date.now(),
): { origin: string; destination: string; timestamp: number; kid: string; digest: string } {
  const header = (name: string) => {
    const value = request.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const origin = header(HEADERS.origin);
  const destination = header(HEADERS.destination);
  const timestamp = header(HEADERS.timestamp);
  const signature = header(HEADERS.signature);
  if (!origin || !destination || !timestamp || !signature)
    throw new SignatureError('unsigned', 'The request is not signed');
  const match = /^kid=([A-Za-z0-9_.-]{1,64}),sig=([A-Za-z0-9_-]{40,200})$/.exec(signature);
  if (!match) throw new SignatureError('bad_signature', 'The signature header is malformed');
  const [, kid, sig] = match;
  const at = Number(timestamp);
  if (!Number.isFinite(at) || Math.abs(now - at) > MAX_SKEW_MS)
    throw new SignatureError('stale_request', 'The request timestamp is outside the allowed window');
  const key = keysOf(origin)?.find((k) => k.kid === kid);
  if (!key) throw new SignatureError('unknown_key', `No pinned key ${kid} for ${origin}`);
  const signed = signingString({
    method: request.method,
    path: request.path,
    origin,
    destination,
    timestamp,
    body: request.body,
  });
  const valid = verify(null, Buffer.from(signed), publicKeyOf(key), Buffer.from(sig!, 'base64url'));
  if (!valid) throw new SignatureError('bad_signature', 'The signature does not verify');
  return { origin, destination, timestamp: at, kid: kid!, digest: bodyDigest(signed) };
}
