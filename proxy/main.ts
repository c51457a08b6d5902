import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { Counter, Gauge } from 'prom-client';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import { systemClock, type Clock } from '../core/clock.ts';
import { AppError, isAppError } from '../core/errors.ts';
import { fetchWithDeadlines } from '../core/fetch-deadlines.ts';
import { bodyWithin } from '../core/body-within.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { createMetrics, type Metrics } from '../core/metrics.ts';
import { serveMetrics } from '../core/metrics-endpoint.ts';
import { createUnitServer } from '../core/unit-server.ts';
import {
  allowed,
  createRegistryClient,
  domainEntry,
  keysOf,
  screenByHeaders,
  verifyPinned,
  type RegistryClient,
} from '../protocol/registry-client.ts';
import {
  ANSWER_HEADERS,
  BODY_DIGEST_HEADER,
  bodyDigest,
  HEADERS,
  verifyRequestHeaders,
  type SignedRequest,
} from '../protocol/signature.ts';
import type { ProxyConfig } from './config.ts';
import { inFlightCaps, signatureKey, type InFlight } from './in-flight.ts';
import { partnerRefusal, refuseByPolicy, type ProxySigner } from './own-answers.ts';
import { loadProxyKey, publicPart } from './proxy-key.ts';
import { registrationReadiness, type Readiness } from './readiness.ts';
import type { PublicKeyJwk } from '../protocol/signature.ts';

export type Proxy = {
  url: string;
  server: Server;
  name: string;
  publicKey: PublicKeyJwk;
  registry: RegistryClient;
  close(): Promise<void>;
};

const FORWARDED =
  /^\/federation\/v1\/(transactions\/[A-Za-z0-9_-]{8,64}|submit|hello|highest-seqs|addresses|typing|card-action|presence|presence\/changed|attachments\/[0-9a-f-]{36})$/;

/** What the proxy's request handling shares. */
type ProxyParts = {
  config: ProxyConfig;
  registry: RegistryClient;
  metrics: Metrics;
  logger: Logger;
  inFlight: InFlight;
  /** Signs the proxy's own refusals by policy. */
  signer: ProxySigner;
  /** What /readyz answers: whether the gateway takes this proxy's key (readiness.ts). */
  readiness: () => Promise<Readiness>;
};

/**
 * The federation proxy: stateless. It checks the origin's signature and the federation policy, then
 * forwards the request unchanged to the destination node and relays the answer. It cannot forge or alter
 * events, because the destination verifies the origin's signature itself.
 */
/** `clock`: what the registry cache's age is judged by; the machine's unless given (tests pass one they move). */
export async function startProxy(
  config: ProxyConfig,
  options: { logger?: Logger; clock?: Clock } = {},
): Promise<Proxy> {
  const logger = options.logger ?? createLogger(`proxy:${config.name}`, config.logLevel);
  const key = loadProxyKey(config);
  const clock = options.clock ?? systemClock;
  const registry = createRegistryClient({
    gatewayIssuer: config.gatewayIssuer,
    origin: config.name,
    signingKey: async () => key,
    ttlMs: config.registryTtlMs,
    logger,
    unit: 'proxy',
    now: clock.now,
  });
  const { ready: readiness } = registrationReadiness({
    registry,
    gatewayIssuer: config.gatewayIssuer,
    name: config.name,
    kid: key.kid,
    recheckMs: config.readyRecheckMs,
    clock,
  });
  const metrics = createMetrics(`proxy:${config.name}`);
  const http = createUnitServer();
  // Wired before the port opens: the proxy serves from its first connection.
  const inFlight = inFlightMetered(config, metrics);
  const signer = { name: config.name, key };
  http.serve(requestHandler({ config, registry, metrics, logger, inFlight, signer, readiness }));
  const port = await http.listen({ port: config.port, host: config.host });
  const url = `http://127.0.0.1:${port}`;
  // The logger's `name` says which proxy; `listen` is where it is bound (all interfaces unless PROXY_HOST says).
  logger.info({ listen: `${config.host}:${port}` }, 'federation proxy listening');
  return {
    url,
    server: http.server,
    name: config.name,
    publicKey: publicPart(key),
    registry,
    async close() {
      // Forwards in flight finish (for up to 2 s) rather than leave their origin to find out by a timeout.
      await http.close(2_000);
    },
  };
}

/** The caps on requests in flight, with how many there are and how many were turned away shown on /metrics. */
function inFlightMetered(config: ProxyConfig, metrics: Metrics): InFlight {
  const turnedAway = new Counter({
    name: 'atrium_proxy_turned_away_total',
    help: 'Requests turned away (503 overloaded) by the cap they met: total, origin, signature (one in flight at a time), or unverified (the share of those whose signature only their body can verify)',
    labelNames: ['cap'],
    registers: [metrics.registry],
  });
  const inFlight = inFlightCaps(config.maxInFlight, (cap) => turnedAway.inc({ cap }));
  new Gauge({
    name: 'atrium_proxy_requests_in_flight',
    help: 'Requests the proxy is forwarding now (PROXY_MAX_IN_FLIGHT caps them)',
    registers: [metrics.registry],
    collect() {
      this.set(inFlight.size());
    },
  });
  return inFlight;
}

/**
 * Checks a signed request against the registry's keys and policy; resolves with where it goes, and whether
 * that is a partner organization's domain (reached through its proxy).
 */
async function checkedTarget(
  registry: RegistryClient,
  signed: SignedRequest,
): Promise<{ origin: string; destination: string; url: string; partner: boolean }> {
  const verified = await verifyPinned(registry, signed);
  let current = verified.registry;
  const { origin, destination } = verified.checked;
  if (!domainEntry(current, origin)) throw new AppError('forbidden', 403, `${origin} is not a domain`);
  const target = domainEntry(current, destination) ?? domainEntry(await registry.refreshSoon(), destination);
  if (!target) throw new AppError('unknown_destination', 404, `No domain ${destination} in the registry`);
  // A denial may come from a copy of the registry older than a policy change: look again before refusing.
  if (!allowed(current, origin, destination)) current = await registry.refreshSoon();
  if (!allowed(current, origin, destination))
    throw new AppError('policy_denied', 403, `The federation policy does not let ${origin} reach ${destination}`);
  return { origin, destination, url: target.url, partner: target.partner === true };
}

/**
 * Refuses what can be refused before the body is read: a request that is unsigned or signed in a form
 * that cannot verify, out of date, by a key nobody pinned or by something that is not a domain, or
 * announcing more than the proxy takes; and one that states its body's digest (BODY_DIGEST_HEADER) but
 * whose signature does not verify over it. Whoever is not a registered domain cannot make the proxy read
 * (and hold) a body, nor can whoever makes up a signature in a domain's name and states a digest.
 * Resolves with the origin the request claims, its key known to be pinned, and the digest its body must
 * have: undefined for a request that states none (a node of before it), whose signature only its body
 * can verify.
 */
async function screened(
  parts: ProxyParts,
  req: IncomingMessage,
  path: string,
): Promise<{ origin: string; claimed: string | undefined }> {
  const { origin, registry } = await screenByHeaders(parts.registry, req.headers, {
    maxBodyBytes: parts.config.maxBodyBytes,
    notADomain: (name) => new AppError('forbidden', 403, `${name} is not a domain`),
  });
  const request = { method: req.method ?? 'POST', path, headers: req.headers };
  const verified = verifyRequestHeaders(request, (name) => keysOf(registry, name));
  return { origin, claimed: verified?.body };
}

/**
 * A request for another node: screened, counted among those in flight while it lasts (by its origin, its
 * signature, and whether that verified from its headers, before its body is read), then forwarded.
 */
async function forward(parts: ProxyParts, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const { origin, claimed } = await screened(parts, req, path);
  const signature = signatureKey(req.headers[HEADERS.signature]);
  const leave = parts.inFlight.enter(origin, signature, claimed === undefined ? 'unverified' : 'verified');
  try {
    await checkedForward(parts, req, res, path, claimed);
  } finally {
    leave();
  }
}

/**
 * Takes in the body (within MAX_BODY_BYTES and PROXY_BODY_TIMEOUT_SECONDS: one that grows past the limit
 * or trickles is refused, its connection closed), checks it has the digest its headers state (`claimed`),
 * if they state one, then the signature and the policy, and forwards. A
 * refusal by policy, this proxy's own or a partner organization's proxy's on the way, is answered signed
 * (own-answers.ts), so that the origin's node takes it and no one else's made-up one.
 */
async function checkedForward(
  parts: ProxyParts,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  claimed: string | undefined,
): Promise<void> {
  const { config, signer } = parts;
  const body = await bodyWithin(req, { maxBytes: config.maxBodyBytes, timeoutMs: config.bodyTimeoutMs });
  if (claimed !== undefined && bodyDigest(body) !== claimed)
    throw new AppError(
      'body_digest_mismatch',
      400,
      `The request body is not the one its ${BODY_DIGEST_HEADER} header names; nothing was forwarded`,
    );
  const signed = { method: req.method ?? 'POST', path, headers: req.headers, body };
  let target: Awaited<ReturnType<typeof checkedTarget>>;
  try {
    target = await checkedTarget(parts.registry, signed);
  } catch (error) {
    if (!isAppError(error) || error.code !== 'policy_denied') throw error;
    return refuseByPolicy(res, signer, signed, error.message);
  }
  const { origin, destination } = target;
  let answer = await forwarded(parts, target.url, signed);
  if (target.partner) {
    const passed = await partnerRefusal(answer).catch((error: unknown) => {
      throw new AppError(
        'destination_unreachable',
        502,
        `${destination}'s answer broke off: ${(error as Error).message}`,
      );
    });
    const refusal = `${destination}'s organization does not let ${origin} reach it (its proxy refused)`;
    if (passed === 'policy_denied') return refuseByPolicy(res, signer, signed, refusal);
    answer = passed;
  }
  await relay(answer, res, answer.headers.get('content-type') ?? 'application/json', destination);
}

/** The request sent on, unchanged, to the destination's URL; the destination's answer as it begins. */
async function forwarded(parts: ProxyParts, url: string, signed: SignedRequest & { body: Buffer }): Promise<Response> {
  const { headers, path } = signed;
  try {
    return await fetchWithDeadlines(
      `${url}${path}`,
      {
        method: 'POST',
        headers: {
          'content-type': String(headers['content-type'] ?? 'application/json'),
          ...Object.fromEntries(Object.values(HEADERS).map((h) => [h, String(headers[h])])),
          // Passed on for a partner organization's proxy on the way, which screens by it as this one does.
          ...(typeof headers[BODY_DIGEST_HEADER] === 'string'
            ? { [BODY_DIGEST_HEADER]: headers[BODY_DIGEST_HEADER] }
            : {}),
        },
        body: new Uint8Array(signed.body),
      },
      parts.config.forwardTimeoutMs,
    );
  } catch (error) {
    const destination = String(headers[HEADERS.destination]);
    throw new AppError('destination_unreachable', 502, `${destination} did not answer: ${(error as Error).message}`);
  }
}

/** Serves a registered domain's signed keys document, so a partner organization can pin it through us. */
async function relayKeys(parts: ProxyParts, domain: string, res: ServerResponse): Promise<void> {
  const { registry } = parts;
  const target = domainEntry(await registry.get(), domain) ?? domainEntry(await registry.refreshSoon(), domain);
  if (!target) throw new AppError('unknown_destination', 404, `No domain ${domain} in the registry`);
  const answer = await fetchWithDeadlines(
    `${target.url}/.well-known/atrium/keys?domain=${encodeURIComponent(domain)}`,
    {},
    parts.config.forwardTimeoutMs,
  ).catch(() => {
    throw new AppError('destination_unreachable', 502, `${domain} did not answer`);
  });
  await relay(answer, res, 'application/json', domain);
}

/** The destination's signature of its answer, passed on as it came: the origin checks it, not the proxy. */
function answerSignature(answer: Response): Record<string, string> {
  return Object.fromEntries(
    Object.values(ANSWER_HEADERS).flatMap((name) => {
      const value = answer.headers.get(name);
      return value === null ? [] : [[name, value]];
    }),
  );
}

/**
 * Passes a destination's answer on as it arrives, so the proxy holds a chunk at a time however long the
 * answer (a file); one that stalls for the forward's timeout is cut off. An answer that breaks off ends
 * the response unfinished, which its origin reads as a failure.
 */
async function relay(answer: Response, res: ServerResponse, contentType: string, destination: string): Promise<void> {
  res.writeHead(answer.status, { 'content-type': contentType, ...answerSignature(answer) });
  if (!answer.body) return void res.end();
  try {
    await pipeline(Readable.fromWeb(answer.body as ReadableStream<Uint8Array>), res);
  } catch (error) {
    throw new AppError(
      'destination_unreachable',
      502,
      `${destination}'s answer broke off: ${(error as Error).message}`,
    );
  }
}

/**
 * Ends a forward or a keys relay: a failure becomes a JSON error (unknown ones logged); each is logged at
 * debug. A refusal that comes before the request's body has all arrived closes the connection, so the
 * rest of the body is never taken in.
 */
function finisher(logger: Logger, req: IncomingMessage, res: ServerResponse, path: string): (error?: unknown) => void {
  const started = Date.now();
  return (error) => {
    if (error) {
      const status = isAppError(error) ? error.status : 500;
      if (!isAppError(error)) logger.error({ err: error }, 'forwarding failed');
      if (!res.headersSent) {
        const retryAfter = isAppError(error) ? error.details?.retryAfterSeconds : undefined;
        res.writeHead(status, {
          'content-type': 'application/json',
          ...(retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) }),
          ...(req.complete ? {} : { connection: 'close' }),
        });
        res.end(
          JSON.stringify({
            error: {
              code: isAppError(error) ? error.code : 'internal_error',
              message: isAppError(error) ? error.message : 'proxy failure',
            },
          }),
        );
      }
    }
    logger.debug({ path, status: res.statusCode, ms: Date.now() - started }, 'proxied');
  };
}

/** /readyz: 200 while the gateway takes this proxy's key (or cannot say, while it holds the registry); else 503 and why. */
function answerReadiness(res: ServerResponse, said: Readiness): void {
  res.writeHead(said.ready ? 200 : 503, { 'content-type': 'application/json' });
  if (said.ready) return void res.end('{"status":"ready"}');
  res.end(JSON.stringify({ status: 'not_ready', checks: { registry: false }, reason: said.reason }));
}

function requestHandler(parts: ProxyParts): (req: IncomingMessage, res: ServerResponse) => void {
  const { metrics } = parts;
  return (req, res) => {
    const path = req.url ?? '/';
    const done = finisher(parts.logger, req, res, path);
    if (req.method === 'GET' && path === '/healthz')
      return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    if (req.method === 'GET' && path === '/readyz')
      return void parts.readiness().then((said) => answerReadiness(res, said), done);
    if (req.method === 'GET' && path === '/metrics')
      return void serveMetrics(req, res, metrics.registry, parts.config.metricsToken);
    if (req.method === 'GET' && path.startsWith('/.well-known/atrium/keys?')) {
      relayKeys(parts, new URL(path, 'http://proxy').searchParams.get('domain') ?? '', res).then(() => done(), done);
      return;
    }
    if (req.method !== 'POST' || !FORWARDED.test(path)) {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"error":{"code":"not_found","message":"No such endpoint"}}');
      return;
    }
    forward(parts, req, res, path).then(() => done(), done);
  };
}
