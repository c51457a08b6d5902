import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { AppError } from '../../core/errors.ts';
import { fetchWithDeadlines } from '../../core/fetch-deadlines.ts';
import { readCapped } from '../../core/read-capped.ts';
import { domainEntry, type RegistryClient } from '../../protocol/registry-client.ts';
import { signRequest, type PrivateKeyJwk } from '../../protocol/signature.ts';

export type FederationResponse = { status: number; body: Record<string, unknown> };
/**
 * A file another domain serves: its type, its length if it said, and its content as it arrives (passed
 * on so, never held whole here); or, with a status other than 200, its error as JSON.
 */
export type FederationFile = { status: number; body: Record<string, unknown>; file?: ServedFile };
export type ServedFile = { contentType: string; length: number | undefined; content: Readable };

/** The most of a JSON answer read from another domain: as much as a node takes in a request from one (routes.ts). */
export const ANSWER_MAX_BYTES = 8 * 1024 * 1024;

export type Transport = {
  /** Signs and sends one request to another domain, through the proxy when one is configured. */
  post(destination: string, path: string, payload: unknown, timeoutMs?: number): Promise<FederationResponse>;
  /** As post, for an answer that is a file rather than JSON. */
  postForFile(destination: string, path: string, payload: unknown, timeoutMs?: number): Promise<FederationFile>;
};

/** An answer's text, read no further than ANSWER_MAX_BYTES: another domain cannot make this node hold more. */
async function answerText(response: Response, destination: string): Promise<string> {
  try {
    const bytes = await readCapped(
      response.body as ReadableStream<Uint8Array> | null,
      ANSWER_MAX_BYTES,
      () => new AppError('federation_unavailable', 503, `${destination} answered more than ${ANSWER_MAX_BYTES} bytes`),
    );
    return bytes.toString('utf8');
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

export function createTransport(options: {
  origin: string;
  proxyUrl: string | undefined;
  registry: RegistryClient;
  signingKey: () => Promise<PrivateKeyJwk>;
}): Transport {
  async function send(destination: string, path: string, payload: unknown, timeoutMs: number): Promise<Response> {
    let base = options.proxyUrl;
    if (!base) {
      const entry = domainEntry(await options.registry.get(), destination);
      if (!entry) throw new AppError('unknown_destination', 404, `No domain ${destination} in the registry`);
      base = entry.url;
    }
    const body = JSON.stringify(payload);
    const headers = signRequest(await options.signingKey(), {
      method: 'POST',
      path,
      origin: options.origin,
      destination,
      body,
    });
    try {
      return await fetchWithDeadlines(
        `${base}${path}`,
        { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body },
        timeoutMs,
      );
    } catch (error) {
      throw new AppError(
        'federation_unavailable',
        503,
        `${destination} cannot be reached now: ${(error as Error).message}`,
      );
    }
  }

  return {
    async post(destination, path, payload, timeoutMs = 10_000) {
      const response = await send(destination, path, payload, timeoutMs);
      return { status: response.status, body: parseJson(await answerText(response, destination), response.status) };
    },
    async postForFile(destination, path, payload, timeoutMs = 60_000) {
      const response = await send(destination, path, payload, timeoutMs);
      if (response.status !== 200 || !response.body)
        return {
          status: response.status,
          body: parseJson(await answerText(response, destination), response.status),
        };
      const length = Number(response.headers.get('content-length') ?? Number.NaN);
      return {
        status: 200,
        body: {},
        file: {
          contentType: response.headers.get('content-type') ?? 'application/octet-stream',
          length: Number.isSafeInteger(length) && length >= 0 ? length : undefined,
          content: Readable.fromWeb(response.body as ReadableStream<Uint8Array>),
        },
      };
    },
  };
}

export function errorOf(response: FederationResponse): { code: string; message: string } {
  const error = response.body.error as { code?: string; message?: string } | undefined;
  return { code: error?.code ?? `http_${response.status}`, message: error?.message ?? `HTTP ${response.status}` };
}
