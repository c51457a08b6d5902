import { createHash } from 'node:crypto';
import { AppError } from '../core/errors.ts';
import { BODY_DIGEST_HEADER } from '../protocol/signature.ts';

/** How long a sender turned away is asked to wait: about as long as a forward usually takes to finish. */
const RETRY_AFTER_SECONDS = 1;

/**
 * Whether a request's signature was verified from its headers, over the body digest its sender states
 * (`verified`), or can be only once its body has come (`unverified`: a node of before that header, or
 * anyone who leaves it out).
 */
export type Standing = 'verified' | 'unverified';

/** The requests the proxy is working on, counted in all and per origin domain, and known by their signature. */
export type InFlight = {
  /**
   * Counts one more request from `origin`, signed `signature` (signatureKey), of that standing, or throws
   * `overloaded` (503, with `retryAfterSeconds`) when a cap it comes under is reached or a request of that
   * signature is in flight already. The function it returns counts the request out; calling it again does
   * nothing.
   */
  enter(origin: string, signature: string, standing: Standing): () => void;
  /** Requests counted now, from all origins. */
  size(): number;
};

/**
 * Which cap turned a request away: the proxy's in all, its origin's (of the request's standing), one
 * request per signature, or the unverified ones' share of the proxy's places.
 */
export type Cap = 'total' | 'origin' | 'signature' | 'unverified';

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
 *
 * Unverified requests are counted apart from verified ones, per origin, and take at most half the places
 * in all (rounded up): anyone can make one up in an origin's name, which holds its place until the body
 * deadline, but fills only the unverified places, so an origin whose node verifies from its headers is
 * never kept out by made-up requests, in its name or in others'.
 */
export function inFlightCaps(
  caps: { total: number; perOrigin: number },
  onTurnedAway: (cap: Cap) => void = () => undefined,
): InFlight {
  const unverifiedShare = Math.ceil(caps.total / 2);
  const counts: Record<Standing, { all: number; byOrigin: Map<string, number> }> = {
    verified: { all: 0, byOrigin: new Map() },
    unverified: { all: 0, byOrigin: new Map() },
  };
  const signatures = new Set<string>();
  const size = () => counts.verified.all + counts.unverified.all;
  const unverifiedOnes = `unverified requests (signed without ${BODY_DIGEST_HEADER})`;
  const why: Record<Cap, (origin: string, standing: Standing) => string> = {
    signature: () => 'The proxy is forwarding a request with this very signature already',
    total: () => `The proxy is forwarding as many requests as it takes (${caps.total})`,
    origin: (origin, standing) =>
      `The proxy is forwarding as many ${standing === 'verified' ? 'requests' : unverifiedOnes} from ${origin} as it takes (${caps.perOrigin})`,
    unverified: () => `The proxy is forwarding as many ${unverifiedOnes} as it takes (${unverifiedShare})`,
  };
  /** The cap a request would go past, if any; a copy of one in flight is that, however few there are. */
  const capMet = (origin: string, signature: string, standing: Standing): Cap | undefined => {
    if (signatures.has(signature)) return 'signature';
    if (size() >= caps.total) return 'total';
    const count = counts[standing];
    if (standing === 'unverified' && count.all >= unverifiedShare) return 'unverified';
    if ((count.byOrigin.get(origin) ?? 0) >= caps.perOrigin) return 'origin';
    return undefined;
  };
  return {
    enter(origin, signature, standing) {
      const cap = capMet(origin, signature, standing);
      if (cap) {
        onTurnedAway(cap);
        throw overloaded(why[cap](origin, standing));
      }
      const count = counts[standing];
      count.all += 1;
      count.byOrigin.set(origin, (count.byOrigin.get(origin) ?? 0) + 1);
      signatures.add(signature);
      let counted = true;
      return () => {
        if (!counted) return;
        counted = false;
        count.all -= 1;
        signatures.delete(signature);
        const left = (count.byOrigin.get(origin) ?? 1) - 1;
        if (left === 0) count.byOrigin.delete(origin);
        else count.byOrigin.set(origin, left);
      };
    },
    size,
  };
}

function overloaded(why: string): AppError {
  return new AppError('overloaded', 503, `${why}; nothing was forwarded; retry in a moment`, {
    retryAfterSeconds: RETRY_AFTER_SECONDS,
  });
}
