import { createHash } from 'node:crypto';
import { AppError } from '../core/errors.ts';

/** How long a sender turned away is asked to wait: about as long as a forward usually takes to finish. */
const RETRY_AFTER_SECONDS = 1;

/** The requests the proxy is working on, counted in all and per origin domain, and known by their signature. */
export type InFlight = {
  /**
   * Counts one more request from `origin`, signed `signature` (signatureKey), or throws `overloaded` (503,
   * with `retryAfterSeconds`) when either cap is reached or a request of that signature is in flight
   * already. The function it returns counts the request out; calling it again does nothing.
   */
  enter(origin: string, signature: string): () => void;
  /** Requests counted now, from all origins. */
  size(): number;
};

/** Which cap turned a request away: the proxy's in all, its origin's, or one request per signature. */
export type Cap = 'total' | 'origin' | 'signature';

/**
 * What a request's signature header is known by among those in flight: the SHA-256 of the signature's
 * bytes. Not the header as written, since its key id may name another key of the origin's and the last
 * base64url character has bits nobody reads, and either would let one signature pass for several.
 */
export function signatureKey(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  const sig = /,sig=([A-Za-z0-9_-]+)$/.exec(value ?? '')?.[1] ?? '';
  return createHash('sha256').update(Buffer.from(sig, 'base64url')).digest('base64url');
}

/**
 * Caps what the proxy works on at once, so that however many requests arrive, it holds at most `total`
 * bodies, and one origin (or whoever sends in its name) cannot take more than `perOrigin` of those places
 * from the others. Origins are counted only once their key is known to be pinned, so the counts stay as
 * few as the registry's domains. A signature is in flight once at a time: someone who saw a signed
 * request's headers on their way could otherwise send them again and again while its timestamp passes,
 * each copy holding one of its origin's places until the body deadline, and keep the origin's own
 * requests out. An honest node signs each attempt anew, so its requests never meet this rule.
 */
export function inFlightCaps(
  caps: { total: number; perOrigin: number },
  onTurnedAway: (cap: Cap) => void = () => undefined,
): InFlight {
  let total = 0;
  const byOrigin = new Map<string, number>();
  const signatures = new Set<string>();
  const why: Record<Cap, (origin: string) => string> = {
    signature: () => 'The proxy is forwarding a request with this very signature already',
    total: () => `The proxy is forwarding as many requests as it takes (${caps.total})`,
    origin: (origin) => `The proxy is forwarding as many requests from ${origin} as it takes (${caps.perOrigin})`,
  };
  /** The cap a request would go past, if any; a copy of one in flight is that, however few there are. */
  const capMet = (origin: string, signature: string): Cap | undefined => {
    if (signatures.has(signature)) return 'signature';
    if (total >= caps.total) return 'total';
    if ((byOrigin.get(origin) ?? 0) >= caps.perOrigin) return 'origin';
    return undefined;
  };
  return {
    enter(origin, signature) {
      const cap = capMet(origin, signature);
      if (cap) {
        onTurnedAway(cap);
        throw overloaded(why[cap](origin));
      }
      total += 1;
      byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + 1);
      signatures.add(signature);
      let counted = true;
      return () => {
        if (!counted) return;
        counted = false;
        total -= 1;
        signatures.delete(signature);
        const left = (byOrigin.get(origin) ?? 1) - 1;
        if (left === 0) byOrigin.delete(origin);
        else byOrigin.set(origin, left);
      };
    },
    size: () => total,
  };
}

function overloaded(why: string): AppError {
  return new AppError('overloaded', 503, `${why}; nothing was forwarded; retry in a moment`, {
    retryAfterSeconds: RETRY_AFTER_SECONDS,
  });
}
