import { Router, type ErrorRequestHandler, type Request } from 'express';
import session from 'express-session';
import type Provider from 'oidc-provider';
import type { Sequelize } from 'sequelize';
import { isAppError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { setRetryAfter } from '../../core/retry-after.ts';
import type { Sealer } from '../../core/seal.ts';
import type { GatewayConfig } from '../config.ts';
import type { GatewayContext } from '../context.ts';
import type { Csrf } from '../http/csrf.ts';
import type { GatewayModels } from '../models/index.ts';
import { CONSOLE_CLIENT_ID, ensureConsoleClient } from './console-client.ts';
import { createKit } from './kit.ts';
import { consoleUserOf, safeReturnTo, sectionBack } from './page.ts';
import { auditRoutes } from './routes/audit.ts';
import { secondFactorRoutes } from './routes/second-factor.ts';
import { appRoutes } from './routes/apps.ts';
import { callbackSecretSealer, shownSecretsSealer } from '../apps-registry/secrets.ts';
import { domainRoutes } from './routes/domains.ts';
import { directoryRoutes } from './routes/directories.ts';
import { bindPasswordSealer } from '../directories/secrets.ts';
import { federationRoutes } from './routes/federation.ts';
import { consoleCookie, sessionRoutes } from './routes/session.ts';
import { unitRoutes } from './routes/units.ts';
import { userRoutes } from './routes/users.ts';
import { DatabaseSessionStore } from './session-store.ts';
import { createConsoleAuth } from './sign-in.ts';
import { saveSessionBeforeRedirect } from '../http/save-session-before-redirect.ts';
import { rememberReturnTo } from '../http/return-to.ts';
import { ownBackchannelLogout } from '../http/own-backchannel-logout.ts';
import { createSessionTagging } from '../portal/session-ids.ts';
import { endConsoleSessions } from '../accounts/end-access.ts';
import type { NewAccountMail } from '../accounts/new-account-link.ts';

export type AdminDeps = {
  issuer: string;
  config: GatewayConfig;
  sequelize: Sequelize;
  models: GatewayModels;
  sealer: Sealer;
  csrf: Csrf;
  logger: Logger;
  context: (req: Request | null) => GatewayContext;
  provider: () => Provider;
  /** Where the gateway has SMTP: new people may be mailed a link to set their password (routes/users.ts). */
  newAccountMail?: NewAccountMail | null;
};

/**
 * The admin console, mounted at /admin: an OIDC relying party of this very gateway (no side door), with
 * its own database-backed session, whose id is tagged with the gateway session it was signed in through
 * (as the portal's are), so that signing that browser out of the gateway ends it. Every page and action
 * goes through the account use-cases with the signed-in administrator as the actor, so a unit admin's
 * limits are enforced where the data is.
 */
export async function adminConsole(deps: AdminDeps): Promise<Router> {
  await ensureConsoleClient(deps.context(null), deps.issuer, deps.config.secretKey);
  const secure = deps.issuer.startsWith('https://');
  const ttlSeconds = deps.config.sessionTtlHours * 3600;
  const auth = createConsoleAuth({
    issuer: deps.issuer,
    secretKey: deps.config.secretKey,
    logger: deps.logger,
    context: deps.context,
  });
  const kit = createKit(deps.context, deps.csrf);
  const tagging = createSessionTagging(deps.config.secretKey, 'console');

  const router = Router();
  router.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });
  // Signing out of the gateway in a browser ends the console sessions signed in through that gateway session.
  router.post(
    '/backchannel-logout',
    ...ownBackchannelLogout({
      issuer: deps.issuer,
      clientId: CONSOLE_CLIENT_ID,
      logger: deps.logger,
      label: 'admin console',
      end: (sub, sid) => endConsoleSessions(deps.context(null), [tagging.prefix(sub, sid)]),
    }),
  );
  router.use(
    session({
      name: consoleCookie(secure).name,
      secret: deps.config.cookieKeys,
      store: new DatabaseSessionStore(deps.models.WebSession, { ttlSeconds }),
      genid: (req) => tagging.genid(req as Request),
      resave: false,
      saveUninitialized: false,
      unset: 'destroy',
      cookie: { httpOnly: true, sameSite: 'lax', secure, path: consoleCookie(secure).path, maxAge: ttlSeconds * 1000 },
    }),
  );
  router.use(auth.passport.initialize());
  router.use(auth.passport.session());
  router.use(saveSessionBeforeRedirect);
  router.use(sessionRoutes(kit, auth, deps.logger, { secure }, deps.config.secretKey, tagging));

  router.use((req, res, next) => {
    if (consoleUserOf(req)) return next();
    rememberReturnTo(req, safeReturnTo);
    res.redirect(303, '/admin/login');
  });
  router.get('/', (_req, res) => res.redirect(303, '/admin/users'));
  // A person's page lists their signed-in devices as their account page does: both tags are the gateway's.
  const devices = {
    portal: createSessionTagging(deps.config.secretKey),
    console: tagging,
    sessionTtlSeconds: ttlSeconds,
  };
  router.use(userRoutes(kit, deps.newAccountMail ?? null, devices));
  router.use(unitRoutes(kit));
  router.use(domainRoutes(kit));
  router.use(
    directoryRoutes(kit, {
      sealer: bindPasswordSealer(deps.config.secretKey),
      logger: deps.logger,
      syncIntervalSeconds: deps.config.directorySyncSeconds,
    }),
  );
  router.use(federationRoutes(kit));
  router.use(
    appRoutes(kit, {
      callbackSecrets: callbackSecretSealer(deps.config.secretKey),
      shownSecrets: shownSecretsSealer(deps.config.secretKey),
    }),
  );
  router.use(auditRoutes(kit));
  router.use(secondFactorRoutes(kit));
  router.use((req, res) => {
    const back = sectionBack(req);
    const message = 'There is no such page in the admin console.';
    kit.render(req, res, 'error', { title: 'Not found', message, back }, 404);
  });

  const onConsoleError: ErrorRequestHandler = (error: unknown, req, res, next) => {
    if (!isAppError(error) || res.headersSent) return next(error);
    setRetryAfter(res, error);
    const title = error.status === 403 ? 'Not allowed' : error.status === 404 ? 'Not found' : 'Something went wrong';
    const back = sectionBack(req);
    kit.render(req, res, 'error', { title, message: error.message, code: error.code, back }, error.status);
  };
  router.use(onConsoleError);
  return router;
}
