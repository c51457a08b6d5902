import { createHash } from 'node:crypto';
import { pipeline, Readable, Transform } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { AppError } from '../../core/errors.ts';
import { fetchWithDeadlines, RedirectRefusedError } from '../../core/fetch-deadlines.ts';
import type { Logger } from '../../core/logger.ts';
import { readCapped } from '../../core/read-capped.ts';
import {
  allowed,
  domainEntry,
  verifyPinnedAnswer,
  verifyPinnedProxyAnswer,
  type Registry,
  type RegistryClient,
} from '../../protocol/registry-client.ts';
import {
  AnswerSignatureError,
  bodyDigest,
  HEADERS,
  MAX_SKEW_MS,
  requestDigest,
  signRequest,
  type PrivateKeyJwk,
} from '../../protocol/signature.ts';

export type FederationResponse = { status: number; body: Record<string, unknown> };
/**
 * A file another domain serves: its type, its length if it said, and its content as it arrives (passed
 * on so, never held whole here); or, with a status other than 200, its error as JSON.
 */
export type FederationFile = { status: number; body: Record<string, unknown>; file?: ServedFile };
export type ServedFile = { contentType: string; length: number | undefined; content: Readable };

/** The most of a JSON answer read from another domain: as much as a node takes in a request from one (peer-body.ts). */
export const ANSWER_MAX_BYTES = 8 * 1024 * 1024;

/**
 * Every answer it resolves with is the destination's own, signed by it over the request, the status and
 * the body (docs/federation.md, "Signed answers"), with one exception: a `403 policy_denied` that a proxy
 * on the way answered by policy (its own organization's, or a partner organization's it vouches for),
 * signed by a proxy the registry lists (refusedOnTheWay). Any other answer not shown to be the
 * destination's is thrown as an AnswerSignatureError: not received.
 */
export type Transport = {
  /** Signs and sends one request to another domain, through the proxy when one is configured. */
  post(destination: string, path: string, payload: unknown, timeoutMs?: number): Promise<FederationResponse>;
  /**
   * As post, for an answer that is a file rather than JSON. The file's content ends in an error, before its
   * last byte, when it is not the one the destination signed.
   */
  postForFile(destination: string, path: string, payload: unknown, timeoutMs?: number): Promise<FederationFile>;
};

/** A request sent: its answer as it begins, and the digest it is known by, which its answer must name. */
type Sent = { destination: string; path: string; response: Response; request: string };

/** An answer's bytes, read no further than ANSWER_MAX_BYTES: another domain cannot make this node hold more. */
async function answerBytes(response: Response, destination: string): Promise<Buffer> {
  try {
    return await readCapped(
      response.body as ReadableStream<Uint8Array> | null,
      ANSWER_MAX_BYTES,
      () => new AppError('federation_unavailable', 503, `${destination} answered more than ${ANSWER_MAX_BYTES} bytes`),
    );
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError('federation_unavailable', 503, `${destination}'s answer broke off: ${(error as Error).message}`);
  }
}

function parseJson(text: string, status: number): Record<string, unknown> {
  try {
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    return { error: { code: 'bad_response', message: `HTTP ${status}: ${text.slice(0, 200)}` } };
  }
}

/** The one answer taken without its destination's signature, if a proxy signed it: a refusal by policy. */
function policyRefusal(status: number, body: Record<string, unknown>): boolean {
  return status === 403 && (body.error as { code?: unknown } | undefined)?.code === 'policy_denied';
}

/**
 * Why a policy refusal that a proxy on the way answered is not taken, or nothing when it is. It must be
 * signed by a proxy the registry lists, over this request, status and body: a refusal made up on the way
 * (on a path without TLS, by a hop that is not such a proxy) would have the outbox set messages aside.
 * And for a destination of this organization (not a partner's) this node's registry, read again if need
 * be, must keep the pair apart too: the proxy judges that policy by the same registry, so a proxy's
 * refusal against it is its older copy, or a proxy that is not honest, and is retried. A partner's
 * policy only the partner's side knows: there the signing proxy is taken at its word.
 */
async function refusedOnTheWay(
  from: { origin: string; registry: RegistryClient },
  sent: Sent,
  bytes: Buffer,
): Promise<AnswerSignatureError | undefined> {
  const { destination, response } = sent;
  const apart = (registry: Registry) =>
    domainEntry(registry, destination)?.partner === true || !allowed(registry, from.origin, destination);
  try {
    const answer = { status: response.status, headers: response.headers, request: sent.request, body: bytes };
    const { proxy } = await verifyPinnedProxyAnswer(from.registry, answer);
    if (apart(await from.registry.get()) || apart(await from.registry.refreshSoon())) return undefined;
    return new AnswerSignatureError(
      'peer_answer_unfounded',
      `${proxy} refused by policy what the registry lets ${from.origin} and ${destination} exchange`,
    );
  } catch (error) {
    if (error instanceof AnswerSignatureError) return error;
    throw new AppError(
      'federation_unavailable',
      503,
      `A refusal on the way to ${destination} cannot be checked now: ${(error as Error).message}`,
    );
  }
}

/**
 * A file passed on as it arrives, its last byte kept back until the whole is shown to have the digest its
 * destination signed: a file that is not the one signed ends in `forged()`'s error, incomplete to whoever
 * reads it.
 */
function checkedContent(source: Readable, digest: string, forged: () => Error): Readable {
  const hash = createHash('sha256');
  let held: Buffer | undefined;
  const check = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (chunk.length === 0) return done();
      hash.update(chunk);
      if (held) this.push(held);
      if (chunk.length > 1) this.push(chunk.subarray(0, -1));
      held = chunk.subarray(-1);
      done();
    },
    flush(done) {
      if (hash.digest('base64url') !== digest) return done(forged());
      if (held) this.push(held);
      done();
    },
  });
  // Either side's failure ends the other: a broken-off file is an error to its reader too.
  return pipeline(source, check, () => undefined);
}

export function createTransport(options: {
  origin: string;
  proxyUrl: string | undefined;
  registry: RegistryClient;
  signingKey: () => Promise<PrivateKeyJwk>;
  logger: Logger;
}): Transport {
  async function send(destination: string, path: string, payload: unknown, timeoutMs: number): Promise<Sent> {
    let base = options.proxyUrl;
    if (!base) {
      const entry = domainEntry(await options.registry.get(), destination);
      if (!entry) throw new AppError('unknown_destination', 404, `No domain ${destination} in the registry`);
      base = entry.url;
    }
    const body = JSON.stringify(payload);
    const request = { method: 'POST', path, origin: options.origin, destination, body };
    const headers = signRequest(await options.signingKey(), request);
    try {
      const response = await fetchWithDeadlines(
        `${base}${path}`,
        { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body },
        timeoutMs,
      );
      return {
        destination,
        path,
        response,
        request: requestDigest({ ...request, timestamp: headers[HEADERS.timestamp]! }),
      };
    } catch (error) {
      throw new AppError('federation_unavailable', 503, unreachable(destination, options.proxyUrl, error));
    }
  }

  /** The body digest the destination signed its answer with, or why the answer is not shown to be its own. */
  async function signedDigest(sent: Sent): Promise<string | AnswerSignatureError> {
    const { destination, response } = sent;
    try {
      const answer = { status: response.status, headers: response.headers, request: sent.request, destination };
      return (await verifyPinnedAnswer(options.registry, answer)).digest;
    } catch (error) {
      if (error instanceof AnswerSignatureError) return error;
      throw new AppError(
        'federation_unavailable',
        503,
        `${destination}'s answer cannot be checked now: ${(error as Error).message}`,
      );
    }
  }

  /**
   * An unsigned answer, told by what came back: its status and error code, and whether the proxy passed it
   * on. Only the log and the outbox's last error take anything from it (a code not of the protocol's shape
   * is left out); an unsigned 5xx says the destination is away or starting (a proxy's 502
   * `destination_unreachable`, a node's 503 before it serves).
   */
  function told(sent: Sent, error: AnswerSignatureError, body: Record<string, unknown>): AnswerSignatureError {
    if (error.code !== 'peer_answer_unsigned') return error;
    const { status } = sent.response;
    const code = (body.error as { code?: unknown } | undefined)?.code;
    if (status === 401 && code === 'stale_request')
      return new AnswerSignatureError(error.code, stale(sent.destination));
    const what = `${options.proxyUrl ? 'proxy' : 'unsigned answer'}: ${status}${
      typeof code === 'string' && /^[a-z][a-z0-9_]{0,63}$/.test(code) ? ` ${code}` : ''
    }`;
    return new AnswerSignatureError(
      error.code,
      status >= 500 ? `${sent.destination} unreachable (${what})` : `${error.message} (${what})`,
    );
  }

  /**
   * An answer not shown to be the destination's: logged, and thrown as not received. An unsigned 5xx is
   * what the way there says of a destination away or starting (a proxy's 502, a node's 503 before it
   * serves): routine, so logged for debugging only; anything else unsigned, or a signature that does not
   * verify, is worth a warning.
   */
  function notReceived(sent: Sent, error: AnswerSignatureError): AnswerSignatureError {
    const routine = error.code === 'peer_answer_unsigned' && sent.response.status >= 500;
    const where = { destination: sent.destination, path: sent.path, status: sent.response.status, code: error.code };
    // A clock apart is the operator's to fix, said in a line: a stack would only hide it.
    if (error.message === stale(sent.destination)) options.logger.warn(where, error.message);
    else
      options.logger[routine ? 'debug' : 'warn'](
        { ...where, err: error },
        "an answer not shown to be its destination's was taken as not received",
      );
    return error;
  }

  /** A JSON answer, read whole (within ANSWER_MAX_BYTES) and checked against its signature. */
  async function checkedAnswer(sent: Sent): Promise<FederationResponse> {
    const { destination, response } = sent;
    const bytes = await answerBytes(response, destination);
    const answer = { status: response.status, body: parseJson(bytes.toString('utf8'), response.status) };
    const digest = await signedDigest(sent);
    if (typeof digest !== 'string') {
      const doubt =
        digest.code === 'peer_answer_unsigned' && policyRefusal(answer.status, answer.body)
          ? await refusedOnTheWay(options, sent, bytes)
          : digest;
      if (doubt) throw notReceived(sent, told(sent, doubt, answer.body));
      return answer;
    }
    if (bodyDigest(bytes) !== digest)
      throw notReceived(
        sent,
        new AnswerSignatureError('peer_answer_forged', `The answer is not the one ${destination} signed`),
      );
    return answer;
  }

  /** What an unsigned `401 stale_request` says: the refuser's clock and this node's are apart. */
  function stale(destination: string): string {
    const who = options.proxyUrl
      ? `The federation proxy ${options.proxyUrl} refused our request to ${destination}`
      : `${destination} refused our request`;
    return `${who} as stale: its clock or ours is more than ${MAX_SKEW_MS / 1000} s off (check NTP on both)`;
  }

  return {
    async post(destination, path, payload, timeoutMs = 10_000) {
      return checkedAnswer(await send(destination, path, payload, timeoutMs));
    },
    async postForFile(destination, path, payload, timeoutMs = 60_000) {
      const sent = await send(destination, path, payload, timeoutMs);
      const { response } = sent;
      if (response.status !== 200 || !response.body) return checkedAnswer(sent);
      const digest = await signedDigest(sent);
      if (typeof digest !== 'string') {
        await response.body.cancel().catch(() => undefined);
        throw notReceived(sent, told(sent, digest, {}));
      }
      const length = Number(response.headers.get('content-length') ?? Number.NaN);
      const content = Readable.fromWeb(response.body as ReadableStream<Uint8Array>);
      return {
        status: 200,
        body: {},
        file: {
          contentType: response.headers.get('content-type') ?? 'application/octet-stream',
          length: Number.isSafeInteger(length) && length >= 0 ? length : undefined,
          content: checkedContent(content, digest, () =>
            notReceived(
              sent,
              new AnswerSignatureError('peer_answer_forged', `The file is not the one ${destination} signed`),
            ),
          ),
        },
      };
    },
  };
}

/** Why a request could not be sent, with its cause (`ECONNREFUSED …`): a proxy that is down is not the destination's fault. */
function unreachable(destination: string, proxyUrl: string | undefined, error: unknown): string {
  const { message, cause, name } = error as {
    message: string;
    name?: string;
    cause?: { code?: unknown; message?: unknown };
  };
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const said = typeof cause?.message === 'string' && cause.message !== '' ? cause.message : undefined;
  const why = [code && !said?.includes(code) ? code : undefined, said].filter(Boolean).join(': ');
  // As the gateway's are said (`fetch failed: connect ECONNREFUSED …`).
  const full = why ? `${message}: ${why}` : message;
  // Only a connection that failed is the proxy's: a deadline or a redirect may be the destination's, behind it.
  if (proxyUrl && name !== 'TimeoutError' && !(error instanceof RedirectRefusedError))
    return `The federation proxy ${proxyUrl} cannot be reached (${full}) on the way to ${destination}`;
  return `${destination} cannot be reached now (${full})`;
}

/**
 * For what a person waits on (a submission, a file, a card click, an address check): an answer not shown
 * to be the destination's is that domain not confirming now, `federation_unavailable`, retried as the
 * outbox retries it; why is logged (createTransport) and named in the message. A question (`asking`, what
 * was asked for) is said to be unanswered; anything else, that it may not have arrived.
 */
export function unconfirmed(destination: string, asking?: string): (error: unknown) => never {
  return (error) => {
    if (!(error instanceof AnswerSignatureError)) throw error;
    // A question (a file, an address check) changes nothing there: only a request that does may have arrived.
    const message = asking
      ? `${destination} could not be reached to ${asking} (${error.code}); try again`
      : `${destination} did not confirm it (${error.code}); it may not have arrived; try again`;
    throw new AppError('federation_unavailable', 503, message);
  };
}

export function errorOf(response: FederationResponse): { code: string; message: string } {
  const error = response.body.error as { code?: string; message?: string } | undefined;
  return { code: error?.code ?? `http_${response.status}`, message: error?.message ?? `HTTP ${response.status}` };
}
