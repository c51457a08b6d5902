import type { Request, RequestHandler, Response } from 'express';
import {
  ANSWER_HEADERS,
  bodyDigest,
  HEADERS,
  requestDigest,
  signAnswer,
  type PrivateKeyJwk,
} from '../../protocol/signature.ts';

/**
 * Signs each of this node's answers to a federation request whose body it read, errors included
 * (docs/federation.md, "Signed answers"): the request it answers, this domain, the status, the time and
 * the body's digest, so that nobody on the way (a proxy, a partner's proxy) can pass off an answer of
 * its own as this node's. A route that streams its body (a file) states the body's digest first, in
 * ANSWER_HEADERS.digest; a body sent whole is digested as it goes. An answer to a request whose body was
 * not read (refused by its headers, too large, too slow to come, an unknown path) goes unsigned: it could
 * not name the request it answers, and its sender takes it as not received.
 */
export function answerSigner(domain: string, signingKey: () => Promise<PrivateKeyJwk>): RequestHandler {
  return (req, res, next) => {
    signingKey().then((key) => {
      signOnHead(req, res, domain, key);
      next();
    }, next);
  };
}

function headerOf(req: Request, name: string): string {
  const value = req.headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? '';
}

/** What the request is known by (requestDigest), from what arrived, as its sender computes it from what it sent. */
function requestOf(req: Request, body: Buffer): string {
  return requestDigest({
    method: req.method,
    path: req.originalUrl,
    origin: headerOf(req, HEADERS.origin),
    destination: headerOf(req, HEADERS.destination),
    timestamp: headerOf(req, HEADERS.timestamp),
    body,
  });
}

function bytesOf(chunk: unknown, encoding: unknown): Buffer {
  if (typeof chunk === 'string')
    return Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.alloc(0);
}

/**
 * Hooks the response so that its head carries the signature: a body ended before the head went out
 * (express's send, an error's JSON, an empty 202) is the whole body, digested there; a streamed one has
 * its digest stated by its route. The status is read as the head is written, so it is the one sent.
 */
function signOnHead(req: Request, res: Response, domain: string, key: PrivateKeyJwk): void {
  const { end, writeHead } = res;
  const body = () => (Buffer.isBuffer(req.body) ? req.body : undefined);
  res.end = function (this: Response, ...args: unknown[]) {
    if (!res.headersSent && body()) res.setHeader(ANSWER_HEADERS.digest, bodyDigest(bytesOf(args[0], args[1])));
    return Reflect.apply(end, this, args);
  } as Response['end'];
  res.writeHead = function (this: Response, ...args: unknown[]) {
    const digest = res.getHeader(ANSWER_HEADERS.digest);
    const read = body();
    if (typeof digest === 'string' && read) {
      const status = typeof args[0] === 'number' ? args[0] : res.statusCode;
      const signed = signAnswer(key, { request: requestOf(req, read), destination: domain, status, digest });
      for (const [name, value] of Object.entries(signed)) res.setHeader(name, value);
    }
    return Reflect.apply(writeHead, this, args);
  } as Response['writeHead'];
}
