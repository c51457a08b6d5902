import { Router } from 'express';
import { z } from 'zod';
import { AppError } from '../../core/errors.ts';
import { parseInput } from '../../core/validate.ts';
import type { TokenVerifier } from '../auth/token-verifier.ts';
import { bearerAuth } from '../http/bearer.ts';
import { signRequest, type PrivateKeyJwk } from './signature.ts';

const querySchema = z.object({ q: z.string().trim().min(2, { message: 'at least 2 characters' }).max(100), limit: z.coerce.number().int().min(1).max(50).default(20) });

export type Person = { name: string; username: string; address: string; addresses: string[]; units: string[] };

/**
 * People search for this domain's users: the gateway answers from the whole campus directory, limited to
 * the domains the federation policy lets this domain see.
 */
export function directoryRoute(options: { domain: string; gatewayIssuer: string; verifier: TokenVerifier; signingKey: () => Promise<PrivateKeyJwk> }): Router {
  const router = Router();
  router.get('/api/v1/directory', bearerAuth(options.verifier), async (req, res) => {
    const { q, limit } = parseInput(querySchema, req.query);
    const path = `/federation/v1/directory?${new URLSearchParams({ q, limit: String(limit) })}`;
    const headers = signRequest(await options.signingKey(), { method: 'GET', path, origin: options.domain, destination: 'gateway', body: '' });
    let response: Response;
    try {
      response = await fetch(`${options.gatewayIssuer}${path}`, { headers, signal: AbortSignal.timeout(5_000) });
    } catch {
      throw new AppError('directory_unavailable', 503, 'The campus directory cannot be reached now');
    }
    if (!response.ok) throw new AppError('directory_unavailable', 503, `The campus directory refused the search (HTTP ${response.status})`);
    const { people } = (await response.json()) as { people: Person[] };
    res.set('Cache-Control', 'no-store').json({ people });
  });
  return router;
}
