import { Router, type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { AppError } from '../../../core/errors.ts';
import { jsonErrors } from '../../../core/json-errors.ts';
import type { Logger } from '../../../core/logger.ts';
import { parseInput } from '../../../core/validate.ts';
import { workbenchFor } from '../../apps-registry/visible-apps.ts';
import type { GatewayContext } from '../../context.ts';
import { MAX_DOMAIN_NAMES, nodeOfUser, portalProfile, titledDomains } from '../profile.ts';
import type { PortalUser } from '../sign-in.ts';
import type { TokenVault } from '../token-vault.ts';
import { MAX_UNIT_PATHS, unitLabels } from '../unit-labels.ts';

export const CSRF_HEADER = 'x-atrium-portal';

class MissingPortalHeaderError extends AppError {
  constructor() {
    super('csrf_header_missing', 403, `Portal API requests must carry the header ${CSRF_HEADER}: 1`);
  }
}

class SignedOutError extends AppError {
  constructor() {
    super('session_expired', 401, 'You are not signed in to the portal');
  }
}

const tokenQuery = z.object({ domain: z.string().trim().min(1).max(253) });

/** The longest unit path: 8 segments of 63 characters and the slashes between them (unitPathSchema). */
const UNIT_PATH_MAX = 8 * 63 + 7;

/** Unit paths, comma-separated, as the directory gives them with each person. */
const unitsQuery = z.object({
  paths: z
    .string()
    .max(MAX_UNIT_PATHS * (UNIT_PATH_MAX + 1))
    .transform((s) => s.split(',').filter(Boolean))
    .pipe(z.array(z.string().max(UNIT_PATH_MAX)).min(1).max(MAX_UNIT_PATHS)),
});

/** Domain names, comma-separated, as conversations name their hosts. */
const domainsQuery = z.object({
  names: z
    .string()
    .max(MAX_DOMAIN_NAMES * 254)
    .transform((s) => s.split(',').filter(Boolean))
    .pipe(z.array(z.string().max(253)).min(1).max(MAX_DOMAIN_NAMES)),
});

export type ApiDeps = {
  vault: TokenVault;
  logger: Logger;
  context: (req: Request | null) => GatewayContext;
  /** Ends the portal session and returns where the browser goes to end the gateway session. */
  signOut(req: Request, res: Response): Promise<string>;
};

const userOf = (req: Request) => req.user as PortalUser;

/**
 * `/portal/api`: what the page asks its own server. JSON only, the session cookie for identity, and a
 * custom header on every request: a cross-site page can neither set it without a CORS preflight (which
 * the gateway never grants) nor read the answers.
 */
export function apiRoutes(deps: ApiDeps): Router {
  const router = Router();
  router.use((req: Request, res: Response, next: NextFunction) => {
    res.set('Cache-Control', 'no-store');
    if (req.get(CSRF_HEADER) !== '1') return next(new MissingPortalHeaderError());
    if (!req.user) return next(new SignedOutError());
    next();
  });

  router.get('/me', async (req, res) => {
    res.json(await portalProfile(deps.context(req), userOf(req).id));
  });

  router.get('/token', async (req, res) => {
    const { domain } = parseInput(tokenQuery, req.query);
    const node = await nodeOfUser(deps.context(req), userOf(req).id, domain);
    const { token, expiresAt } = await deps.vault.accessToken(req.sessionID, node.name, node.url);
    res.json({ domain: node.name, token, expiresAt: new Date(expiresAt).toISOString() });
  });

  // The names of the units the directory gives people by path, for the page to show.
  router.get('/units', async (req, res) => {
    const { paths } = parseInput(unitsQuery, req.query);
    res.json({ units: await unitLabels(deps.context(req), paths) });
  });

  // The titles of the nodes that host the person's groups (theirs come with /me), for the page to show.
  router.get('/domains', async (req, res) => {
    const { names } = parseInput(domainsQuery, req.query);
    res.json({ domains: await titledDomains(deps.context(req), names) });
  });

  router.get('/workbench', async (req, res) => {
    res.json({ apps: await workbenchFor(deps.context(req), userOf(req).id) });
  });

  router.post('/logout', async (req, res) => {
    res.json({ redirect: await deps.signOut(req, res) });
  });

  router.use((_req: Request, _res: Response, next: NextFunction) =>
    next(new AppError('not_found', 404, 'No such portal endpoint')),
  );
  router.use(jsonErrors(deps.logger));
  return router;
}
