import { AppError } from '../../core/errors.ts';
import { domainEntry, type RegistryClient } from '../../protocol/registry-client.ts';
import { signRequest, type PrivateKeyJwk } from '../../protocol/signature.ts';

export type FederationResponse = { status: number; body: Record<string, unknown> };
/** A file another domain served: its bytes and type, or (status other than 200) its error as JSON. */
export type FederationFile = { status: number; contentType: string; bytes: Uint8Array; body: Record<string, unknown> };

export type Transport = {
  /** Signs and sends one request to another domain, through the proxy when one is configured. */
  post(destination: string, path: string, payload: unknown, timeoutMs?: number): Promise<FederationResponse>;
  /** As post, for an answer that is a file rather than JSON. */
  postForFile(destination: string, path: string, payload: unknown, timeoutMs?: number): Promise<FederationFile>;
};

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
      return await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
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
      return { status: response.status, body: parseJson(await response.text(), response.status) };
    },
    async postForFile(destination, path, payload, timeoutMs = 60_000) {
      const response = await send(destination, path, payload, timeoutMs);
      const contentType = response.headers.get('content-type') ?? 'application/octet-stream';
      if (response.status !== 200)
        return {
          status: response.status,
          contentType,
          bytes: new Uint8Array(0),
          body: parseJson(await response.text(), response.status),
        };
      return { status: 200, contentType, bytes: new Uint8Array(await response.arrayBuffer()), body: {} };
    },
  };
}

export function errorOf(response: FederationResponse): { code: string; message: string } {
  const error = response.body.error as { code?: string; message?: string } | undefined;
  return { code: error?.code ?? `http_${response.status}`, message: error?.message ?? `HTTP ${response.status}` };
}
