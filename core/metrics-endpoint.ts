import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { UnauthenticatedError } from './errors.ts';
import { isLoopbackHost } from './loopback.ts';

/** Headers a reverse proxy adds: a request carrying one was relayed for someone else, wherever it came from. */
const RELAYED = ['forwarded', 'x-forwarded-for', 'x-real-ip'];

/**
 * GET /metrics. It names partner domains and how much goes to each, so only these may read it: whoever
 * holds the operator's METRICS_TOKEN (a bearer token), or, where none is set, this machine (a loopback
 * peer that no reverse proxy relayed: a Prometheus beside the unit, a benchmark, a test). Anyone else
 * gets a JSON 401.
 */
export async function serveMetrics(
  req: IncomingMessage,
  res: ServerResponse,
  registry: Registry,
  token: string | undefined,
): Promise<void> {
  const refusal = metricsRefusal(req, token);
  if (refusal) {
    res.writeHead(refusal.status, { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="metrics"' });
    res.end(JSON.stringify({ error: { code: refusal.code, message: refusal.message } }));
    return;
  }
  let text: string;
  try {
    text = await registry.metrics();
  } catch {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'internal_error', message: 'The metrics could not be collected' } }));
    return;
  }
  res.writeHead(200, { 'content-type': registry.contentType }).end(text);
}

function metricsRefusal(req: IncomingMessage, token: string | undefined): UnauthenticatedError | undefined {
  if (token) {
    const given = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')?.[1];
    if (given !== undefined && sameSecret(given, token)) return undefined;
    return new UnauthenticatedError('/metrics needs the bearer token the operator set as METRICS_TOKEN');
  }
  const peer = (req.socket.remoteAddress ?? '').replace(/^::ffff:/i, '');
  if (isLoopbackHost(peer) && !RELAYED.some((name) => name in req.headers)) return undefined;
  return new UnauthenticatedError(
    '/metrics answers only this machine (loopback) unless the operator sets a bearer token (METRICS_TOKEN)',
  );
}

/** Compared in constant time: equal-length digests, so neither the token's bytes nor its length leak by timing. */
function sameSecret(given: string, token: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(given), digest(token));
}
