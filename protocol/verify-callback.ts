import {
  CALLBACK_HEADERS,
  callbackSignature,
  listedSignatures,
  sameSignature,
  type CardCallback,
} from './callback-signature.ts';

export type { CardCallback } from './callback-signature.ts';

/** Why a callback was refused; apps answer 401 and do nothing. */
export class CallbackRejected extends Error {
  readonly reason: 'unsigned' | 'bad_signature' | 'stale' | 'replayed' | 'malformed';

  constructor(reason: CallbackRejected['reason'], message: string) {
    super(message);
    this.name = 'CallbackRejected';
    this.reason = reason;
  }
}

/** Remembers nonces until they could no longer pass the timestamp check anyway. */
export type NonceStore = {
  /** Records the nonce; false when it was already recorded (a replay). */
  remember(nonce: string, expiresAtMs: number): boolean | Promise<boolean>;
};

/** Nonces in memory, dropped once expired; enough for an app that runs as one process. */
export function memoryNonceStore(now: () => number = Date.now): NonceStore {
  const seen = new Map<string, number>();
  return {
    remember(nonce, expiresAtMs) {
      const t = now();
      for (const [n, until] of seen) if (until <= t) seen.delete(n);
      if (seen.has(nonce)) return false;
      seen.set(nonce, expiresAtMs);
      return true;
    },
  };
}

export type CallbackVerifierOptions = {
  /**
   * The app's callback secret, or several: a click verifies when it is signed with any of them. While a
   * rotation's grace lasts, give the new one and the previous one (`[next, previous]`), and switch when it
   * suits; a function, so a rotated secret can be picked up without a restart.
   */
  secret: Secrets | (() => Secrets);
  /** How far the timestamp may be from this clock; 5 minutes unless told otherwise. */
  toleranceSeconds?: number;
  nonces?: NonceStore;
  now?: () => number;
};

type Secrets = string | readonly string[];

type HeaderBag = Record<string, string | string[] | undefined> | Headers;

function header(headers: HeaderBag, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const value = headers[name] ?? headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** Whether any of the signatures is the one any of the secrets makes (each compared in constant time). */
function signedWithAny(signatures: string[], secrets: readonly string[], timestamp: string, raw: string): boolean {
  let matched = false;
  for (const secret of secrets) {
    const expected = callbackSignature(secret, timestamp, raw);
    for (const signature of signatures) if (sameSignature(signature, expected)) matched = true;
  }
  return matched;
}

/**
 * Verifies a card callback from an Atrium node before an app acts on it: the HMAC signature over the
 * timestamp and the raw body with the app's callback secret (or any of its secrets), a timestamp within the tolerance, and a
 * nonce not seen before (a replayed request is refused even with a valid signature).
 * Give it the raw body exactly as received: re-serialized JSON would not verify.
 */
export function createCallbackVerifier(options: CallbackVerifierOptions) {
  const tolerance = (options.toleranceSeconds ?? 300) * 1000;
  const now = options.now ?? Date.now;
  const nonces = options.nonces ?? memoryNonceStore(now);
  const secretsOf = (): readonly string[] => {
    const secrets = typeof options.secret === 'function' ? options.secret() : options.secret;
    return typeof secrets === 'string' ? [secrets] : secrets;
  };

  return async function verifyCallback(request: { headers: HeaderBag; body: string | Buffer }): Promise<CardCallback> {
    const raw = typeof request.body === 'string' ? request.body : request.body.toString('utf8');
    const timestamp = header(request.headers, CALLBACK_HEADERS.timestamp);
    // Every signature the node made (during a grace, with the new secret and the previous one), or the one
    // a node of before sends.
    const signed =
      header(request.headers, CALLBACK_HEADERS.signatures) ?? header(request.headers, CALLBACK_HEADERS.signature);
    if (!timestamp || !signed) throw new CallbackRejected('unsigned', 'The callback is not signed');
    if (!signedWithAny(listedSignatures(signed), secretsOf(), timestamp, raw))
      throw new CallbackRejected('bad_signature', 'The callback signature does not verify');
    const at = Number(timestamp) * 1000;
    if (!/^\d{1,12}$/.test(timestamp) || Math.abs(now() - at) > tolerance)
      throw new CallbackRejected('stale', 'The callback timestamp is outside the allowed window');
    let event: CardCallback;
    try {
      event = JSON.parse(raw) as CardCallback;
    } catch {
      throw new CallbackRejected('malformed', 'The callback body is not JSON');
    }
    if (String(event.timestamp) !== timestamp || typeof event.nonce !== 'string' || event.nonce.length < 16) {
      throw new CallbackRejected('malformed', 'The callback body does not match its headers');
    }
    if (!(await nonces.remember(event.nonce, at + tolerance)))
      throw new CallbackRejected('replayed', 'This callback was already received');
    return event;
  };
}
