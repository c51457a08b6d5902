import type { RequestHandler } from 'express';
import type { IncomingMessage } from 'node:http';
import { AppError } from '../../core/errors.ts';
import { screenByHeaders, type RegistryClient } from '../../protocol/registry-client.ts';

/** The most a peer's request body may hold: as much as a proxy forwards (its MAX_BODY_BYTES by default). */
export const PEER_BODY_MAX_BYTES = 8 * 1024 * 1024;

/**
 * Takes in the body of a peer's signed request, as a Buffer in `req.body`, after refusing what its headers
 * already show (screenByHeaders, as the proxy does): unsigned, malformed, out of date, by a key not pinned
 * for its origin, from something that is not a domain, or announcing more than PEER_BODY_MAX_BYTES. A body
 * that grows past that, or has not all come within `timeoutMs` (a peer trickling it), is refused as it
 * happens. A refusal that comes before the whole body closes the connection after its answer, so the rest
 * is never read; it goes unsigned (answer-signer.ts), which its sender takes as not received.
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
      .then(() => bodyWithin(req, options.timeoutMs))
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

/**
 * A request's body, refused once it grows past PEER_BODY_MAX_BYTES or has not all come within `timeoutMs`.
 * Reading stops there without ending the request: its connection stays open for the refusal.
 */
function bodyWithin(req: IncomingMessage, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (error?: Error) => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onBroken).off('close', onBroken);
      if (!error) return resolve(Buffer.concat(chunks));
      req.pause();
      reject(error);
    };
    const timer = setTimeout(
      () =>
        settle(new AppError('invalid_body', 408, `The request body did not all arrive within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > PEER_BODY_MAX_BYTES) return settle(new AppError('too_large', 413, 'The request body is too large'));
      chunks.push(chunk);
    };
    const onEnd = () => settle();
    // Ended by the peer before the whole body came: nobody is left to answer.
    const onBroken = () => settle(new AppError('invalid_body', 400, 'The request body broke off'));
    req.on('data', onData).on('end', onEnd).on('error', onBroken).on('close', onBroken);
  });
}
