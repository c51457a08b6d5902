import { AppError } from '../core/errors.ts';
import { lastingWarnings } from '../core/lasting-warnings.ts';
import type { Logger } from '../core/logger.ts';
import { gatewayAnswered, gatewayRefusal, warnGatewayFailure, type AskingUnit } from './gateway-refusal.ts';
import {
  AnswerSignatureError,
  SignatureError,
  signatureHeaders,
  signedGatewayRequest,
  verifyAnswer,
  verifyProxyAnswer,
  verifyRequest,
  type PrivateKeyJwk,
  type PublicKeyJwk,
  type SignedRequest,
} from './signature.ts';

export type Registry = {
  version: string;
  /** `partner`: a partner organization's domain, reached through its proxy (it serves none of this campus's units). */
  domains: { name: string; url: string; keys: PublicKeyJwk[]; partner?: boolean }[];
  policy: [string, string][];
  proxies: { name: string; keys: PublicKeyJwk[] }[];
};

/** The gateway's domain registry and federation policy, as a node or proxy sees it. */
export interface RegistryClient {
  /** The registry, fresh within the TTL; a failed refresh keeps serving the last good copy. */
  get(): Promise<Registry>;
  /** Refetches now unless the copy is younger than 5 s (an unknown name or key id was met). */
  refreshSoon(): Promise<Registry>;
  /**
   * The registry as the gateway answers it now (or answered within the last 5 s), never an older copy:
   * rejects when the gateway cannot be asked. For a decision that must not rest on a stale copy.
   */
  fresh(): Promise<Registry>;
  /** The last copy fetched, if any, without asking. */
  cached(): Registry | undefined;
}

const REGISTRY_PATH = '/federation/v1/registry';
/** After a failed fetch, how long the copy held is served without asking the gateway again. */
export const REGISTRY_RETRY_MS = 1_000;

/**
 * The gateway's domain registry and federation policy as a node or proxy sees it: fetched with a signed
 * request, cached for `ttlMs`, refetched early (at most every 5 s) when an unknown domain or key shows up.
 * While the gateway cannot be reached (or refuses), the last copy serves and the gateway is asked again
 * every REGISTRY_RETRY_MS at most, not at each use (without a copy, at each use); the failure is said as it begins (with what to do,
 * for a key the gateway has not pinned) and every few minutes while it lasts (lasting-warnings.ts).
 * `unit`: a node (by default) or a proxy, which is told differently what to do about a refused key.
 */
export function createRegistryClient(options: {
  gatewayIssuer: string;
  origin: string;
  signingKey: () => Promise<PrivateKeyJwk>;
  ttlMs: number;
  logger: Logger;
  unit?: AskingUnit['kind'];
  /** The clock the cache's age is judged by (the machine's by default). */
  now?: () => number;
}): RegistryClient {
  const now = options.now ?? Date.now;
  const unit: AskingUnit = { kind: options.unit ?? 'node', origin: options.origin };
  const warnings = lastingWarnings(options.logger);
  let current: Registry | undefined;
  let fetchedAt = 0;
  let failedAt = Number.NEGATIVE_INFINITY;
  let inFlight: Promise<Registry> | undefined;

  async function fetchRegistry(): Promise<Registry> {
    const response = await fetch(await signedGatewayRequest(options, 'GET', REGISTRY_PATH));
    if (!response.ok) throw await gatewayRefusal(response, 'registry_unavailable', 'registry', unit);
    current = (await response.json()) as Registry;
    fetchedAt = now();
    return current;
  }

  function refresh(): Promise<Registry> {
    inFlight ??= fetchRegistry()
      .then(
        (registry) => {
          gatewayAnswered(warnings, 'registry', "The gateway's registry was fetched again");
          return registry;
        },
        (error: unknown) => {
          failedAt = now();
          const held = current ? { copyFetchedAt: new Date(fetchedAt) } : { copy: 'none' };
          warnGatewayFailure(warnings, 'registry', error, { request: 'registry', ...held });
          throw error;
        },
      )
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  }

  /**
   * The copy held while it is too soon to ask again after a failure. Without a copy there is nothing to
   * serve, so the gateway is asked at once again (uses that come together share one request): a unit
   * whose key is registered, or whose gateway comes back, a moment after a refusal works at its next use.
   */
  function afterFailure(): Promise<Registry> | undefined {
    if (!current || now() - failedAt >= REGISTRY_RETRY_MS) return undefined;
    return Promise.resolve(current);
  }

  return {
    async get(): Promise<Registry> {
      if (current && now() - fetchedAt < options.ttlMs) return current;
      return afterFailure() ?? refresh().catch((error: unknown) => current ?? Promise.reject(error));
    },
    async refreshSoon(): Promise<Registry> {
      if (current && now() - fetchedAt < 5_000) return current;
      return afterFailure() ?? refresh().catch((error: unknown) => current ?? Promise.reject(error));
    },
    async fresh(): Promise<Registry> {
      if (current && now() - fetchedAt < 5_000) return current;
      return refresh();
    },
    cached(): Registry | undefined {
      return current;
    },
  };
}

export function domainEntry(registry: Registry, name: string) {
  return registry.domains.find((d) => d.name === name);
}

/** Whether two domains may exchange messages and see each other's directory entries. */
export function allowed(registry: Registry, a: string, b: string): boolean {
  if (a === b) return true;
  const [x, y] = [a, b].sort();
  return registry.policy.some(([p, q]) => p === x && q === y);
}

/** Pinned keys of a domain or a registered proxy. */
export function keysOf(registry: Registry, name: string): PublicKeyJwk[] | undefined {
  return domainEntry(registry, name)?.keys ?? registry.proxies.find((p) => p.name === name)?.keys;
}

/**
 * Verifies a signed request against the keys the registry pins. A key the copy does not know yet (a
 * rotation, a newly pinned domain) sends it to the gateway once more before the request is refused.
 * Resolves with the request's signed fields and the copy of the registry that verified it.
 */
export async function verifyPinned(
  client: RegistryClient,
  signed: SignedRequest,
  now?: number,
): Promise<{ checked: ReturnType<typeof verifyRequest>; registry: Registry }> {
  let registry = await client.get();
  try {
    return { checked: verifyRequest(signed, (name) => keysOf(registry, name), now), registry };
  } catch (error) {
    if (!(error instanceof SignatureError) || error.code !== 'unknown_key') throw error;
    registry = await client.refreshSoon();
    return { checked: verifyRequest(signed, (name) => keysOf(registry, name), now), registry };
  }
}

/**
 * What can be checked of a signed request before its body is read: its signature headers
 * (signatureHeaders: present, well formed, fresh) and a key of that id pinned for its origin, asking the
 * gateway once more for a key the copy does not know yet, as verifyPinned does. Resolves with the origin
 * and the copy of the registry that pins its key.
 */
export async function pinnedSigner(
  client: RegistryClient,
  headers: SignedRequest['headers'],
  now?: number,
): Promise<{ origin: string; registry: Registry }> {
  const { origin, kid } = signatureHeaders(headers, now);
  const pinned = (registry: Registry) => keysOf(registry, origin)?.some((k) => k.kid === kid) ?? false;
  let registry = await client.get();
  if (!pinned(registry)) registry = await client.refreshSoon();
  if (!pinned(registry)) throw new SignatureError('unknown_key', `No pinned key ${kid} for ${origin}`);
  return { origin, registry };
}

/**
 * Refuses what a signed request's headers alone show, before its body is read (docs/federation.md): what
 * pinnedSigner refuses, an origin that is not a domain (with `notADomain`'s error: a proxy signs only what
 * it asks the gateway), and a Content-Length above `maxBodyBytes`. A receiver that refuses here answers
 * before taking the body in and closes the connection, so whoever is not a registered domain cannot make
 * it read (and hold) one. Resolves as pinnedSigner does.
 */
export async function screenByHeaders(
  client: RegistryClient,
  headers: SignedRequest['headers'],
  limits: { maxBodyBytes: number; notADomain: (origin: string) => Error },
  now?: number,
): Promise<{ origin: string; registry: Registry }> {
  const signer = await pinnedSigner(client, headers, now);
  if (!domainEntry(signer.registry, signer.origin)) throw limits.notADomain(signer.origin);
  if (Number(headers['content-length']) > limits.maxBodyBytes)
    throw new AppError('too_large', 413, 'The request body is too large');
  return signer;
}

/**
 * Verifies a destination's answer against the keys the registry pins for it, asking the gateway once more
 * for a key the copy does not know yet (a rotation the destination finished a moment ago).
 */
export async function verifyPinnedAnswer(
  client: RegistryClient,
  answer: Parameters<typeof verifyAnswer>[0],
  now?: number,
): Promise<ReturnType<typeof verifyAnswer>> {
  const registry = await client.get();
  try {
    return verifyAnswer(answer, (name) => domainEntry(registry, name)?.keys, now);
  } catch (error) {
    if (!(error instanceof AnswerSignatureError) || !error.unknownKey) throw error;
    const fresh = await client.refreshSoon();
    return verifyAnswer(answer, (name) => domainEntry(fresh, name)?.keys, now);
  }
}

/**
 * Verifies a proxy's signature of its own answer against the keys the registry has for the proxies it
 * lists, asking the gateway once more for a proxy or key id the copy does not know yet.
 */
export async function verifyPinnedProxyAnswer(
  client: RegistryClient,
  answer: Parameters<typeof verifyProxyAnswer>[0],
  now?: number,
): Promise<ReturnType<typeof verifyProxyAnswer>> {
  const proxyKeys = (registry: Registry) => (name: string) => registry.proxies.find((p) => p.name === name)?.keys;
  try {
    return verifyProxyAnswer(answer, proxyKeys(await client.get()), now);
  } catch (error) {
    if (!(error instanceof AnswerSignatureError) || !error.unknownKey) throw error;
    return verifyProxyAnswer(answer, proxyKeys(await client.refreshSoon()), now);
  }
}
