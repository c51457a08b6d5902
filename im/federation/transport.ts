import { AppError } from '../../core/errors.ts';
import { domainEntry, type RegistryClient } from './registry-client.ts';
import { signRequest, type PrivateKeyJwk } from './signature.ts';

export type FederationResponse = { status: number; body: Record<string, unknown> };

export type Transport = {
  /** Signs and sends one request to another domain, through the proxy when one is configured. */
  post(destination: string, path: string, payload: unknown, timeoutMs?: number): Promise<FederationResponse>;
};

export function createTransport(options: {
  origin: string;
  proxyUrl: string | undefined;
  registry: RegistryClient;
  signingKey: () => Promise<PrivateKeyJwk>;
}): Transport {
  return {
    async post(destination, path, payload, timeoutMs = 10_000) {
      let base = options.proxyUrl;
      if (!base) {
        const entry = domainEntry(await options.registry.get(), destination);
        if (!entry) throw new AppError('unknown_destination', 404, `No domain ${destination} in the registry`);
        base = entry.url;
      }
      const body = JSON.stringify(payload);
      const headers = signRequest(await options.signingKey(), { method: 'POST', path, origin: options.origin, destination, body });
      let response: Response;
      try {
        response = await fetch(`${base}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body,
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        throw new AppError('federation_unavailable', 503, `${destination} cannot be reached now: ${(error as Error).message}`);
      }
      const text = await response.text();
      let parsed: Record<string, unknown> = {};
      try {
        parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      } catch {
        parsed = { error: { code: 'bad_response', message: text.slice(0, 200) } };
      }
      return { status: response.status, body: parsed };
    },
  };
}

export function errorOf(response: FederationResponse): { code: string; message: string } {
  const error = response.body.error as { code?: string; message?: string } | undefined;
  return { code: error?.code ?? `http_${response.status}`, message: error?.message ?? `HTTP ${response.status}` };
}
