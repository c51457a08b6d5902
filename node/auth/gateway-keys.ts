import { createLocalJWKSet, errors as joseErrors, type JWTVerifyGetKey } from 'jose';
import { AppError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';

/** How long a key set is used before it is asked for again (in the background: the held set serves meanwhile). */
export const KEYS_MAX_AGE_MS = 10 * 60_000;
/** While the gateway cannot be reached, the least time between two tries to fetch its key set. */
export const KEYS_RETRY_MS = 10_000;
/**
 * The least time between two fetches for tokens naming a key the set lacks: a token that comes sooner
 * waits for the next fetch (a rotation is then verified, a made-up key id costs the gateway nothing more).
 */
export const UNKNOWN_KEY_SPACING_MS = 1_000;
/** How long one fetch (the discovery document, then the key set) may take before the gateway counts as away. */
const FETCH_TIMEOUT_MS = 5_000;

export class GatewayUnavailableError extends AppError {
  constructor() {
    super(
      'gateway_unavailable',
      503,
      'The identity gateway cannot be reached to learn the key this token is signed with; try again shortly',
    );
  }
}

/**
 * The gateway's key set as jose looks keys up in it, and whether the node holds one (its /readyz `gateway`
 * check): `held()` fetches the set first when the node holds none, or joins the fetch under way, as a token
 * would (so at most every KEYS_RETRY_MS while the gateway cannot be reached). A set held through an outage
 * counts: tokens signed with its keys still verify.
 */
export type GatewayKeys = JWTVerifyGetKey & { held(): Promise<boolean> };

/** Why a fetch failed, in one line: fetch's own message says little without its cause. */
function reasonOf(error: unknown): string {
  const { message, cause } = error as { message?: string; cause?: { message?: string } };
  return cause?.message ? `${message}: ${cause.message}` : String(message ?? error);
}

/**
 * The gateway's signing keys as this node holds them, to verify its tokens locally (DESIGN: "verified
 * locally against the gateway's JWKS, cached, rotation-aware"). The last set fetched is kept for as long
 * as the gateway cannot be reached, so an outage of the gateway does not end every sign-in: tokens signed
 * with a key the node holds verify (their own expiry still applies). The set is fetched again in the
 * background once it is KEYS_MAX_AGE_MS old (a key the gateway dropped then stops verifying), and for a token
 * that names a key the set lacks (a rotation), at most every UNKNOWN_KEY_SPACING_MS. While the gateway
 * cannot be reached it is tried every KEYS_RETRY_MS at most, and a key the node does not hold is refused
 * as `gateway_unavailable` (retry), never as an invalid token. An outage is logged as it begins and as it
 * ends, not at each try.
 */
export function createGatewayKeys(options: { issuer: string; now: () => number; logger?: Logger }): GatewayKeys {
  const { now, logger } = options;
  let jwksUri: string | undefined;
  let held: { lookup: JWTVerifyGetKey; at: number } | undefined;
  let lastTry = Number.NEGATIVE_INFINITY;
  let failing = false;
  let inFlight: Promise<void> | undefined;
  let scheduled: Promise<void> | undefined;

  async function fetchKeys(): Promise<void> {
    const init = { redirect: 'error', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) } as const;
    if (!jwksUri) {
      const response = await fetch(`${options.issuer}/.well-known/openid-configuration`, init);
      if (!response.ok) throw new Error(`the discovery document answered HTTP ${response.status}`);
      const { jwks_uri } = (await response.json()) as { jwks_uri?: unknown };
      if (typeof jwks_uri !== 'string') throw new Error('the discovery document names no jwks_uri');
      jwksUri = jwks_uri;
    }
    const response = await fetch(jwksUri, init);
    if (!response.ok) throw new Error(`the key set answered HTTP ${response.status}`);
    // A malformed set throws here, and the one held goes on serving.
    held = { lookup: createLocalJWKSet(await response.json()), at: now() };
  }

  function heard(): void {
    if (failing) logger?.info({ issuer: options.issuer }, "the gateway's signing keys were fetched again");
    failing = false;
  }

  function missed(error: unknown): never {
    const fields = { issuer: options.issuer, reason: reasonOf(error), heldSince: held && new Date(held.at) };
    if (failing) logger?.debug(fields, "the gateway's signing keys still cannot be fetched");
    else
      logger?.warn(
        fields,
        held
          ? "the gateway's signing keys cannot be fetched: verifying tokens with the keys held, until it answers"
          : "the gateway's signing keys cannot be fetched: no token can be verified until it answers",
      );
    failing = true;
    throw error;
  }

  /** Fetches the set now, or joins the fetch under way; rejects when the gateway cannot be asked. */
  function refresh(): Promise<void> {
    if (inFlight) return inFlight;
    lastTry = now();
    inFlight = fetchKeys()
      .then(heard, missed)
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  }

  /** Whether the gateway may be tried now: always when it answered last; after KEYS_RETRY_MS when it did not. */
  const mayTry = () => !failing || now() - lastTry >= KEYS_RETRY_MS;

  /** The held set, fetched first if there is none yet; an old one is refreshed in the background. */
  async function heldSet(): Promise<JWTVerifyGetKey> {
    if (!held && (inFlight || mayTry())) await refresh().catch(() => undefined);
    if (!held) throw new GatewayUnavailableError();
    if (now() - held.at >= KEYS_MAX_AGE_MS && !inFlight && mayTry()) void refresh().catch(() => undefined);
    return held.lookup;
  }

  /** A set fetched after `tried`, for a key it lacks; `gateway_unavailable` while the gateway cannot be asked. */
  async function newerSet(tried: JWTVerifyGetKey): Promise<JWTVerifyGetKey | undefined> {
    if (held && held.lookup !== tried) return held.lookup;
    if (!inFlight && !mayTry()) throw new GatewayUnavailableError();
    const wait = lastTry + UNKNOWN_KEY_SPACING_MS - now();
    const fetching =
      inFlight ??
      (wait > 0
        ? (scheduled ??= new Promise((resolve) => setTimeout(resolve, wait)).then(() => {
            scheduled = undefined;
            return refresh();
          }))
        : refresh());
    await fetching.catch(() => undefined);
    if (failing) throw new GatewayUnavailableError();
    return held?.lookup;
  }

  const keys: JWTVerifyGetKey = async (header, token) => {
    const lookup = await heldSet();
    try {
      return await lookup(header, token);
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw error;
      const newer = await newerSet(lookup);
      if (!newer || newer === lookup) throw error;
      return newer(header, token);
    }
  };
  return Object.assign(keys, { held: async () => (await heldSet().catch(() => null)) !== null });
}
