import { AppError } from '../core/errors.ts';

/** How long a sender turned away is asked to wait: about as long as a forward usually takes to finish. */
const RETRY_AFTER_SECONDS = 1;

/** The requests the proxy is working on, counted in all and per origin domain. */
export type InFlight = {
  /**
   * Counts one more request from `origin`, or throws `overloaded` (503, with `retryAfterSeconds`) when
   * either cap is reached. The function it returns counts the request out; calling it again does nothing.
   */
  enter(origin: string): () => void;
  /** Requests counted now, from all origins. */
  size(): number;
};

/** Which cap turned a request away: the proxy's in all, or its origin's. */
export type Cap = 'total' | 'origin';

/**
 * Caps what the proxy works on at once, so that however many requests arrive, it holds at most `total`
 * bodies, and one origin (or whoever sends in its name) cannot take more than `perOrigin` of those places
 * from the others. Origins are counted only once their key is known to be pinned, so the counts stay as
 * few as the registry's domains.
 */
export function inFlightCaps(
  caps: { total: number; perOrigin: number },
  onTurnedAway: (cap: Cap) => void = () => undefined,
): InFlight {
  let total = 0;
  const byOrigin = new Map<string, number>();
  return {
    enter(origin) {
      const mine = byOrigin.get(origin) ?? 0;
      const cap: Cap | undefined = total >= caps.total ? 'total' : mine >= caps.perOrigin ? 'origin' : undefined;
      if (cap) {
        onTurnedAway(cap);
        throw overloaded(
          cap === 'total'
            ? `The proxy is forwarding as many requests as it takes (${caps.total})`
            : `The proxy is forwarding as many requests from ${origin} as it takes (${caps.perOrigin})`,
        );
      }
      total += 1;
      byOrigin.set(origin, mine + 1);
      let counted = true;
      return () => {
        if (!counted) return;
        counted = false;
        total -= 1;
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
