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

/**
 * What a destination adds to its answer to a signed request (docs/federation.md, "Signed answers"): the
 * signature, its time, and the digest of the answer's body, which a streamed body (a file) is checked
 * against once it has all arrived.
 */
export const ANSWER_HEADERS = {
  signature: 'atrium-answer-signature',
  timestamp: 'atrium-answer-timestamp',
  digest: 'atrium-answer-digest',
} as const;

/**
 * What a proxy adds to an answer of its own, its refusal by policy (docs/federation.md, "Signed answers"):
 * `proxy=<name>,kid=<kid>,at=<ms>,sig=<signature>`, signed as a destination signs its answer
 * (answerSigningString) with the proxy's name in the destination's place and the digest of the body sent.
 * A header of its own rather than ANSWER_HEADERS, so that a node of before it still sees such a refusal as
 * unsigned and takes it as it did.
 */
export const PROXY_ANSWER_HEADER = 'atrium-proxy-answer';

/**
 * What a sender adds to its signed request: the digest of the body (bodyDigest), the last line of what it
 * signed (signingString). It lets a proxy verify the signature from the headers alone, before it reads the
 * body or holds a place for it, and then check the body against it (docs/federation.md, "Signed
 * requests"). Not among HEADERS: a node of before it sends none, and a receiver need not ask for it.
 */
export const BODY_DIGEST_HEADER = 'atrium-body-digest';

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

/** What a request's signature covers besides its body. */
type SignedFields = { method: string; path: string; origin: string; destination: string; timestamp: string };

/** The exact bytes a server-to-server request is signed over. */
export function signingString(parts: SignedFields & { body: string | Buffer }): string {
  return signingStringOver(parts, bodyDigest(parts.body));
}

/** signingString for a body known by its digest alone (bodyDigest). */
function signingStringOver(parts: SignedFields, digest: string): string {
  return [parts.method.toUpperCase(), parts.path, parts.origin, parts.destination, parts.timestamp, digest].join('\n');
}

/**
 * What a signed request is known by: its signing string, hashed. The receiver computes it from what it
 * received, the sender from what it sent; an answer names the request it answers by it.
 */
export function requestDigest(parts: Parameters<typeof signingString>[0]): string {
  return bodyDigest(signingString(parts));
}

/**
 * The exact bytes an answer is signed over. Its first line, in lower case, is never a request's (whose
 * method is upper case), so no answer's signature can pass as a request's.
 */
export function answerSigningString(parts: {
  request: string;
  destination: string;
  status: number;
  timestamp: string;
  digest: string;
}): string {
  return ['atrium-answer', parts.request, parts.destination, String(parts.status), parts.timestamp, parts.digest].join(
    '\n',
  );
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
    [BODY_DIGEST_HEADER]: bodyDigest(request.body),
  };
}

/**
 * Headers that sign a destination's answer to the request known by `request` (requestDigest): its
 * status and the digest of its body (bodyDigest), as the destination `destination`.
 */
export function signAnswer(
  key: PrivateKeyJwk,
  answer: { request: string; destination: string; status: number; digest: string },
  now = Date.now(),
): Record<string, string> {
  const timestamp = String(now);
  const signed = Buffer.from(answerSigningString({ ...answer, timestamp }));
  const signature = sign(null, signed, privateKeyOf(key)).toString('base64url');
  return {
    [ANSWER_HEADERS.signature]: `kid=${key.kid},sig=${signature}`,
    [ANSWER_HEADERS.timestamp]: timestamp,
    [ANSWER_HEADERS.digest]: answer.digest,
  };
}

/**
 * An answer that is not shown to be its destination's own: without a signature (`peer_answer_unsigned`:
 * someone on the way answered, a proxy that could not reach it, say), or with one that does not verify
 * (`peer_answer_forged`), or a proxy's signed policy refusal that its sender's own registry contradicts
 * (`peer_answer_unfounded`). Either way the request is taken as not answered: its sender tries again.
 */
export class AnswerSignatureError extends AppError {
  /** Whether a refresh of the pinned keys could change the verdict: a key id not pinned yet. */
  readonly unknownKey: boolean;

  constructor(
    code: 'peer_answer_unsigned' | 'peer_answer_forged' | 'peer_answer_unfounded',
    message: string,
    unknownKey = false,
  ) {
    super(code, 502, message);
    this.unknownKey = unknownKey;
  }
}

/**
 * Checks a destination's answer to the request known by `request` against the destination's pinned
 * keys: a known key, a valid signature over that request, the destination's name, the status, the
 * timestamp (within the allowed skew) and the body digest the answer states. Resolves with that digest:
 * the caller checks the body against it, at once or, for a streamed one, when it has all arrived.
 */
export function verifyAnswer(
  answer: { status: number; headers: { get(name: string): string | null }; request: string; destination: string },
  keysOf: (name: string) => PublicKeyJwk[] | undefined,
  now = Date.now(),
): { digest: string; kid: string; timestamp: number } {
  const { destination } = answer;
  const signature = answer.headers.get(ANSWER_HEADERS.signature);
  const timestamp = answer.headers.get(ANSWER_HEADERS.timestamp);
  const digest = answer.headers.get(ANSWER_HEADERS.digest);
  if (!signature && !timestamp && !digest)
    throw new AnswerSignatureError('peer_answer_unsigned', `The answer is not signed by ${destination}`);
  const forged = (why: string, unknownKey = false) =>
    new AnswerSignatureError('peer_answer_forged', `The answer is not ${destination}'s: ${why}`, unknownKey);
  const match = /^kid=([A-Za-z0-9_.-]{1,64}),sig=([A-Za-z0-9_-]{40,200})$/.exec(signature ?? '');
  if (!match || !timestamp || !digest || !/^[A-Za-z0-9_-]{43}$/.test(digest))
    throw forged('its signature headers are missing or malformed');
  const [, kid, sig] = match;
  const at = Number(timestamp);
  if (!Number.isFinite(at) || Math.abs(now - at) > MAX_SKEW_MS)
    throw forged('its timestamp is outside the allowed window');
  const key = keysOf(destination)?.find((k) => k.kid === kid);
  if (!key) throw forged(`no pinned key ${kid}`, true);
  const signed = answerSigningString({
    request: answer.request,
    destination,
    status: answer.status,
    timestamp,
    digest,
  });
  if (!verify(null, Buffer.from(signed), publicKeyOf(key), Buffer.from(sig!, 'base64url')))
    throw forged('its signature does not verify (the answer, or the request it answers, is not the one signed)');
  return { digest, kid: kid!, timestamp: at };
}

/**
 * The PROXY_ANSWER_HEADER value that signs a proxy's own answer (`body`, as sent, with `status`) to the
 * request known by `request` (requestDigest), as the proxy `proxy`.
 */
export function signProxyAnswer(
  key: PrivateKeyJwk,
  answer: { proxy: string; request: string; status: number; body: string | Buffer },
  now = Date.now(),
): string {
  const timestamp = String(now);
  const { proxy: destination, request, status } = answer;
  const signed = answerSigningString({ request, destination, status, timestamp, digest: bodyDigest(answer.body) });
  const signature = sign(null, Buffer.from(signed), privateKeyOf(key)).toString('base64url');
  return `proxy=${answer.proxy},kid=${key.kid},at=${timestamp},sig=${signature}`;
}

const PROXY_ANSWER_FORM =
  /^proxy=([a-z0-9][a-z0-9-]{1,62}),kid=([A-Za-z0-9_.-]{1,64}),at=(\d{1,16}),sig=([A-Za-z0-9_-]{40,200})$/;

/**
 * Checks a proxy's signature of its own answer (PROXY_ANSWER_HEADER) to the request known by `request`,
 * against the keys of the proxy it names: a known key, a valid signature over that request, the proxy's
 * name, the status, the timestamp (within the allowed skew) and the body as it arrived. Resolves with the
 * proxy's name.
 */
export function verifyProxyAnswer(
  answer: { status: number; headers: { get(name: string): string | null }; request: string; body: Buffer },
  proxyKeysOf: (name: string) => PublicKeyJwk[] | undefined,
  now = Date.now(),
): { proxy: string; kid: string } {
  const header = answer.headers.get(PROXY_ANSWER_HEADER);
  if (!header)
    throw new AnswerSignatureError(
      'peer_answer_unsigned',
      'The answer is signed neither by its destination nor by a proxy on the way',
    );
  const forged = (why: string, unknownKey = false) =>
    new AnswerSignatureError('peer_answer_forged', `The answer is no proxy's own: ${why}`, unknownKey);
  const match = PROXY_ANSWER_FORM.exec(header);
  if (!match) throw forged(`its ${PROXY_ANSWER_HEADER} header is malformed`);
  const [proxy, kid, timestamp, sig] = [match[1]!, match[2]!, match[3]!, match[4]!];
  if (Math.abs(now - Number(timestamp)) > MAX_SKEW_MS) throw forged('its timestamp is outside the allowed window');
  const key = proxyKeysOf(proxy)?.find((k) => k.kid === kid);
  if (!key) throw forged(`no registered proxy ${proxy} with a key ${kid}`, true);
  const signed = answerSigningString({
    request: answer.request,
    destination: proxy,
    status: answer.status,
    timestamp,
    digest: bodyDigest(answer.body),
  });
  if (!verify(null, Buffer.from(signed), publicKeyOf(key), Buffer.from(sig, 'base64url')))
    throw forged(
      `its signature does not verify as ${proxy}'s (the answer, or the request it answers, is not the one signed)`,
    );
  return { proxy, kid };
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
  // The gateway's own address alone: a redirect would send the signed request, and take its answer, elsewhere.
  return new Request(`${asker.gatewayIssuer}${path}`, {
    method,
    headers,
    redirect: 'error',
    signal: AbortSignal.timeout(timeoutMs),
  });
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
): VerifiedRequest {
  return verifiedOver(request, bodyDigest(request.body), keysOf, now);
}

/** What verifyRequest resolves with: the request's signed fields, and `digest`, its requestDigest. */
export type VerifiedRequest = { origin: string; destination: string; timestamp: number; kid: string; digest: string };

/**
 * verifyRequest before the body has come, over the body's digest its sender states (BODY_DIGEST_HEADER):
 * resolves as verifyRequest does, with that digest as `body`, which the body must then have; undefined for
 * a request that states none (a node of before it), which only its body can verify. A malformed digest
 * header is refused (`bad_signature`).
 */
export function verifyRequestHeaders(
  request: Omit<SignedRequest, 'body'>,
  keysOf: (origin: string) => PublicKeyJwk[] | undefined,
  now = Date.now(),
): (VerifiedRequest & { body: string }) | undefined {
  const value = request.headers[BODY_DIGEST_HEADER];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(value))
    throw new SignatureError('bad_signature', `The ${BODY_DIGEST_HEADER} header is malformed`);
  return { ...verifiedOver(request, value, keysOf, now), body: value };
}

/** verifyRequest over a body known by its digest. */
function verifiedOver(
  request: Omit<SignedRequest, 'body'>,
  body: string,
  keysOf: (origin: string) => PublicKeyJwk[] | undefined,
  now: number,
): VerifiedRequest {
  const { origin, destination, timestamp, at, kid, sig } = signatureHeaders(request.headers, now);
  const key = keysOf(origin)?.find((k) => k.kid === kid);
  if (!key) throw new SignatureError('unknown_key', `No pinned key ${kid} for ${origin}`);
  const signed = signingStringOver(
    { method: request.method, path: request.path, origin, destination, timestamp },
    body,
  );
  const valid = verify(null, Buffer.from(signed), publicKeyOf(key), Buffer.from(sig, 'base64url'));
  if (!valid) throw new SignatureError('bad_signature', 'The signature does not verify');
  // requestDigest: the same string, hashed.
  return { origin, destination, timestamp: at, kid, digest: bodyDigest(signed) };
}

/**
 * A request's signature headers, checked as far as they can be without its body: all four present, the
 * signature's form, and a timestamp within the allowed skew. A receiver can refuse a request on these
 * before it reads a byte of the body.
 */
export function signatureHeaders(
  headers: SignedRequest['headers'],
  now = Date.now(),
): { origin: string; destination: string; timestamp: string; at: number; kid: string; sig: string } {
  const header = (name: string) => {
    const value = headers[name];
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
  const at = Number(timestamp);
  if (!Number.isFinite(at) || Math.abs(now - at) > MAX_SKEW_MS)
    throw new SignatureError('stale_request', 'The request timestamp is outside the allowed window');
  return { origin, destination, timestamp, at, kid: match[1]!, sig: match[2]! };
}
