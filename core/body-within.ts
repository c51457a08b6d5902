import type { IncomingMessage } from 'node:http';
import { AppError } from './errors.ts';

/**
 * A request's body, refused once it grows past `maxBytes` (413 too_large) or has not all come within
 * `timeoutMs` (408 invalid_body: a sender trickling it). Reading stops there without ending the request,
 * unlike readCapped, whose early exit destroys the request and with it the socket: the refusal can still
 * be written on it. Whoever answers such a refusal closes the connection after it (`connection: close`),
 * so the rest of the body is never read.
 */
export function bodyWithin(req: IncomingMessage, limits: { maxBytes: number; timeoutMs: number }): Promise<Buffer> {
  const { maxBytes, timeoutMs } = limits;
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
      if (size > maxBytes) return settle(new AppError('too_large', 413, 'The request body is too large'));
      chunks.push(chunk);
    };
    const onEnd = () => settle();
    // Ended by the sender before the whole body came: nobody is left to answer.
    const onBroken = () => settle(new AppError('invalid_body', 400, 'The request body broke off'));
    req.on('data', onData).on('end', onEnd).on('error', onBroken).on('close', onBroken);
  });
}
