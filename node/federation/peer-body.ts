import type { RequestHandler } from 'express';
import { bodyWithin } from '../../core/body-within.ts';
import { AppError } from '../../core/errors.ts';
import { screenByHeaders, type RegistryClient } from '../../protocol/registry-client.ts';

/** The most a peer's request body may hold: as much as a proxy forwards (its MAX_BODY_BYTES by default). */
export const PEER_BODY_MAX_BYTES = 8 * 1024 * 1024;

/**
 * Takes in the body of a peer's signed request, as a Buffer in `req.body`, after refusing what its headers
 * already show (screenByHeaders, as the proxy does): unsigned, malformed, out of date, by a key not pinned
 * for its origin, from something that is not a domain, or announcing more than PEER_BODY_MAX_BYTES. A body
 * that grows past that, or has not all come within `timeoutMs` (a peer trickling it), is refused as it
 * happens (bodyWithin, as the proxy does). A refusal that comes before the whole body closes the connection
 * after its answer, so the rest is never read; it goes unsigned (answer-signer.ts), which its sender takes
 * as not received.
 */
export function peerBody(options: {
  registry: RegistryClient;
  timeoutMs: number;
  now: () => number;
}): RequestHandler<Record<string, string>> {
  const limits = {
    maxBodyBytes: PEER_BODY_MAX_BYTES,
    notADomain: (origin: string) => new AppError('unknown_origin', 401, `${origin} is not a registered domain`),
  };
  return (req, res, next) => {
    screenByHeaders(options.registry, req.headers, limits, options.now())
      .then(() => bodyWithin(req, { maxBytes: PEER_BODY_MAX_BYTES, timeoutMs: options.timeoutMs }))
      .then(
        (body) => {
          req.body = body;
          next();
        },
        (error: unknown) => {
          if (!req.complete) res.setHeader('connection', 'close');
          next(error);
        },
      );
  };
}
