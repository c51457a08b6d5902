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
/** How long each request of a fetch (the discovery document, then the key set) may take before the gateway counts as away. */
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
 * The gateway's key set as jose looks keys up in it, and whether the node can verify the gateway's tokens
 * with it (its /readyz `gateway` check). `held()` fetches the set first when the node holds none, or joins
 * the fetch under way, as a token would (so at most every KEYS_RETRY_MS while the gateway cannot be
 * reached). A set held through an outage counts: tokens signed with its keys still verify. `ready()` is
 * false also while the gateway at GATEWAY_ISSUER calls itself by another issuer (every token it issues is
 * then refused here), asking it again at most every KEYS_RETRY_MS; `whyNotReady()` says why in words.
 */
export type GatewayKeys = JWTVerifyGetKey & {
  held(): Promise<boolean>;
  ready(): Promise<boolean>;
  /** Why the node is not ready as of the last `ready()`, for an operator to act on. */
  whyNotReady(): string;
};

/** Why a fetch failed, in one line: fetch's own message says little without its cause. */
function reasonOf(error: unknown): string {
  const { message, cause } = error as { message?: string; cause?: { message?: string } };
  return cause?.message ? `${message}: ${cause.message}` : String(message ?? error);
}

/** What `url` answered, as JSON; a failure says, as an operator reads it, what answered what (`what`: the document). */
async function fetchJson(url: string, what: string): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (error) {
    const { name } = error as { name?: string };
    if (name === 'TimeoutError') throw new Error(`${url} did not answer within ${FETCH_TIMEOUT_MS / 1000} s`);
    throw new Error(`${url} cannot be reached (${reasonOf(error)})`);
  }
  const location = response.headers.get('location');
  if (response.status >= 300 && response.status < 400 && location)
    throw new Error(
      `${url} answered HTTP ${response.status}, a redirect to ${new URL(location, url)}: GATEWAY_ISSUER must be the gateway's issuer itself`,
    );
  if (!response.ok) throw new Error(`${url} answered HTTP ${response.status}, not the gateway's ${what}`);
  return response.json().catch((error: unknown) => {
    if ((error as { name?: string }).name === 'TimeoutError')
      throw new Error(`${url} did not answer within ${FETCH_TIMEOUT_MS / 1000} s`);
    throw new Error(`${url} answered no JSON, not the gateway's ${what}`);
  });
}

/**
 * One fetch of the discovery document and then of the key set it names: the set, and the issuer the
 * gateway there calls itself (the `iss` of every token it issues).
 */
async function fetchKeySet(issuer: string, heardName: (named: string) => void): Promise<JWTVerifyGetKey> {
  const discoveryUrl = `${issuer}/.well-known/openid-configuration`;
  const discovery = (await fetchJson(discoveryUrl, 'OpenID discovery document')) as {
    issuer?: unknown;
    jwks_uri?: unknown;
  } | null;
  if (typeof discovery?.issuer !== 'string' || typeof discovery.jwks_uri !== 'string')
    throw new Error(`${discoveryUrl} names no issuer and jwks_uri, not the gateway's OpenID discovery document`);
  heardName(discovery.issuer);
  const set = await fetchJson(discovery.jwks_uri, 'key set');
  try {
    return createLocalJWKSet(set as Parameters<typeof createLocalJWKSet>[0]);
  } catch (error) {
    throw new Error(`${discovery.jwks_uri} answered no key set (${reasonOf(error)})`);
  }
}

/** What the fetches of the gateway's keys found, said in the log as it changes. */
type FetchStatus = {
  /** Whether the last fetch failed. */
  failing: boolean;
  /** Why it did, as an operator reads it. */
  failure: string | undefined;
  /** The issuer the gateway at GATEWAY_ISSUER last called itself, where that is not GATEWAY_ISSUER. */
  misnamed: string | undefined;
  named(named: string): void;
  fetched(): void;
  missed(error: unknown, heldSince: Date | undefined): void;
};

function fetchStatus(issuer: string, logger: Logger | undefined): FetchStatus {
  const status: FetchStatus = {
    failing: false,
    failure: undefined,
    misnamed: undefined,
    named(named) {
      if (named === issuer) {
        if (status.misnamed) logger?.info({ issuer }, `the gateway at ${issuer} calls itself ${issuer} now`);
        status.misnamed = undefined;
        return;
      }
      if (status.misnamed !== named)
        logger?.warn({ expected: issuer, received: named, setting: 'GATEWAY_ISSUER' }, misnamedReason(issuer, named));
      status.misnamed = named;
    },
    fetched() {
      if (status.failing) logger?.info({ issuer }, "the gateway's signing keys were fetched again");
      status.failing = false;
      status.failure = undefined;
    },
    missed(error, heldSince) {
      const fields = { issuer, reason: reasonOf(error), heldSince };
      if (status.failing) logger?.debug(fields, "the gateway's signing keys still cannot be fetched");
      else
        logger?.warn(
          fields,
          heldSince
            ? "the gateway's signing keys cannot be fetched: verifying tokens with the keys held, until it answers"
            : "the gateway's signing keys cannot be fetched: no token can be verified until it answers",
        );
      status.failing = true;
      status.failure = reasonOf(error);
    },
  };
  return status;
}

function misnamedReason(issuer: string, named: string): string {
  return `The gateway at ${issuer} (GATEWAY_ISSUER) calls itself ${named} (its discovery document's issuer): its tokens name ${named}, so this node refuses every one of them; set GATEWAY_ISSUER to ${named} if that is this campus's gateway`;
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
 * ends, not at each try. Each fetch reads the discovery document first, so the node learns (and logs, as it
 * changes) the issuer the gateway calls itself, and where its key set is now.
 */
export function createGatewayKeys(options: { issuer: string; now: () => number; logger?: Logger }): GatewayKeys {
  const { issuer, now } = options;
  const status = fetchStatus(issuer, options.logger);
  let held: { lookup: JWTVerifyGetKey; at: number } | undefined;
  let lastTry = Number.NEGATIVE_INFINITY;
  let inFlight: Promise<void> | undefined;
  let scheduled: Promise<void> | undefined;

  /** Fetches the set now, or joins the fetch under way; rejects when the gateway cannot be asked. */
  function refresh(): Promise<void> {
    if (inFlight) return inFlight;
    lastTry = now();
    inFlight = fetchKeySet(issuer, status.named)
      .then(
        (lookup) => {
          // A malformed set failed above, and the one held goes on serving.
          held = { lookup, at: now() };
          status.fetched();
        },
        (error: unknown) => {
          status.missed(error, held && new Date(held.at));
          throw error;
        },
      )
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  }

  /** Whether the gateway may be tried now: always when it answered last; after KEYS_RETRY_MS when it did not. */
  const mayTry = () => !status.failing || now() - lastTry >= KEYS_RETRY_MS;

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
    if (status.failing) throw new GatewayUnavailableError();
    return held?.lookup;
  }

  const holds = async () => (await heldSet().catch(() => null)) !== null;
  /**
   * Held keys, from a gateway that calls itself GATEWAY_ISSUER. One that called itself otherwise is asked
   * again at most every KEYS_RETRY_MS (it may have been set right since); a fetch under way is waited for.
   */
  async function ready(): Promise<boolean> {
    if (inFlight || (status.misnamed && now() - lastTry >= KEYS_RETRY_MS)) await refresh().catch(() => undefined);
    return (await holds()) && !status.misnamed;
  }
  function whyNotReady(): string {
    if (status.misnamed) return misnamedReason(issuer, status.misnamed);
    return `The gateway's signing keys cannot be fetched from ${issuer} (GATEWAY_ISSUER), so this node can verify no token until they can: ${status.failure ?? 'not asked yet'}`;
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
  return Object.assign(keys, { held: holds, ready, whyNotReady });
}
