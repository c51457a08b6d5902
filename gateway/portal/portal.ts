import { Router, type Request, type RequestHandler, type Response } from 'express';
import session from 'express-session';
import { Op } from 'sequelize';
import { startsWith } from '../../core/like.ts';
import type { Logger } from '../../core/logger.ts';
import { createSealer } from '../../core/seal.ts';
import { DatabaseSessionStore } from '../admin/session-store.ts';
import type { GatewayConfig } from '../config.ts';
import type { GatewayContext } from '../context.ts';
import type { GatewayModels } from '../models/index.ts';
import { createBundler } from './bundle.ts';
import { ensurePortalClient, PORTAL_CLIENT_ID } from './portal-client.ts';
import { apiRoutes } from './routes/api.ts';
import { pageRoutes } from './routes/page.ts';
import { sessionRoutes } from './routes/session.ts';
import { WORKER_PATH, workerRoute } from './routes/worker.ts';
import { createSessionTagging } from './session-ids.ts';
import { withOwnSignOutState } from '../oidc/own-sign-out.ts';
import { createPortalAuth } from './sign-in.ts';
import { createTokenVault } from './token-vault.ts';
import { accountSecurityRoutes } from './routes/account-security.ts';
import type { Csrf } from '../http/csrf.ts';
import type { TotpDeps } from '../factors/totp.ts';
import type { LoginPolicy } from '../accounts/authenticate.ts';
import { accountPageHelpers, accountPasskeyRoutes } from '../factors/passkeys/account-routes.ts';
import { accountPasswordRoutes } from './routes/account-password.ts';
import { accountAppsRoutes } from './routes/account-apps.ts';
import { accountDevicesRoutes } from './routes/account-devices.ts';
import type { PasskeyPageScript } from '../factors/passkeys/page-script.ts';
import type { PasskeyDeps } from '../factors/passkeys/relying-party.ts';
import { saveSessionBeforeRedirect } from '../http/save-session-before-redirect.ts';
import { hostCookieName } from '../http/host-cookies.ts';

/** The portal's session cookie over plain http; over https it is host-only (`portalCookieName`). */
export const PORTAL_COOKIE = 'atrium.portal';
export const portalCookieName = (secure: boolean) => hostCookieName(PORTAL_COOKIE, secure);

declare module 'express-session' {
  interface SessionData {
    /** The portal's ID token, for RP-initiated logout (id_token_hint). */
    portalIdToken?: string;
  }
}

export type PortalDeps = {
  issuer: string;
  config: GatewayConfig;
  models: GatewayModels;
  logger: Logger;
  context: (req: Request | null) => GatewayContext;
  csrf: Csrf;
  totp: TotpDeps;
  loginPolicy: LoginPolicy;
  passkeys: PasskeyDeps;
  passkeyScript: PasskeyPageScript;
};

const destroySession = (req: Request) =>
  new Promise<void>((resolve, reject) => req.session.destroy((err: unknown) => (err ? reject(err) : resolve())));

/**
 * The web portal: the chat and workbench page at `/`, its script, and `/portal/*` (sign-in, its JSON API).
 * A first-party relying party of this gateway with a database-backed session, like the admin console;
 * its refresh token never leaves the server. Returns the router of the page and `/portal`, and
 * the handler of the script (for `/assets/:file`, beside the static assets).
 */
export async function webPortal(deps: PortalDeps): Promise<{ router: Router; script: RequestHandler }> {
  await ensurePortalClient(deps.context(null), deps.issuer, deps.config.secretKey);
  const secure = deps.issuer.startsWith('https://');
  const ttlSeconds = deps.config.sessionTtlHours * 3600;
  const auth = createPortalAuth({
    issuer: deps.issuer,
    secretKey: deps.config.secretKey,
    logger: deps.logger,
    context: deps.context,
  });
  const vault = createTokenVault({
    models: deps.models,
    sealer: createSealer(deps.config.secretKey, 'portal-tokens'),
    auth,
    logger: deps.logger,
  });
  const tagging = createSessionTagging(deps.config.secretKey);
  const bundler = createBundler({ minify: deps.config.mode === 'production' });
  const cookie = { httpOnly: true, sameSite: 'lax' as const, secure, path: '/' };

  const sessions = [
    session({
      name: portalCookieName(secure),
      secret: deps.config.cookieKeys,
      store: new DatabaseSessionStore(deps.models.WebSession, { ttlSeconds }),
      genid: (req) => tagging.genid(req as Request),
      resave: false,
      saveUninitialized: false,
      unset: 'destroy',
      cookie: { ...cookie, maxAge: ttlSeconds * 1000 },
    }),
    auth.passport.initialize(),
    auth.passport.session(),
    saveSessionBeforeRedirect,
  ];

  async function signOut(req: Request, res: Response): Promise<string> {
    const refreshToken = await vault.close(req.sessionID);
    if (refreshToken) await auth.revoke(refreshToken);
    const idToken = req.session.portalIdToken;
    const target = await auth
      .endSessionUrl(idToken)
      .then((url) => withOwnSignOutState(url, idToken, PORTAL_CLIENT_ID, deps.config.secretKey))
      .catch(() => '/portal/signed-out');
    await destroySession(req);
    res.clearCookie(portalCookieName(secure), cookie);
    return target;
  }

  async function endSessions(prefixes: string[]): Promise<number> {
    const refreshTokens = (await Promise.all(prefixes.map((prefix) => vault.closeAll(prefix)))).flat();
    await Promise.all(refreshTokens.map((token) => auth.revoke(token)));
    const { WebSession } = deps.models;
    return WebSession.destroy({
      where: { [Op.or]: prefixes.map((prefix) => ({ sid: startsWith(WebSession.sequelize!, prefix) })) },
    });
  }

  const pages = pageRoutes({ bundler, context: deps.context });
  const portal = Router();
  portal.use(
    sessionRoutes({
      issuer: deps.issuer,
      auth,
      vault,
      tagging,
      logger: deps.logger,
      context: deps.context,
      endSessions,
      sessionExpiresAt: (req) => req.session.cookie.expires ?? new Date(Date.now() + ttlSeconds * 1000),
    }),
  );
  portal.use('/api', apiRoutes({ vault, logger: deps.logger, context: deps.context, signOut }));

  const router = Router();
  router.get('/', ...sessions, pages.page);
  router.get(WORKER_PATH, workerRoute({ minify: deps.config.mode === 'production' }));
  // The portal is the gateway's front page; `/portal` is what people type or were told, so it leads there.
  router.get(['/portal', '/portal/'], (_req, res) => res.redirect(302, '/'));
  router.use('/portal', ...sessions, portal);
  // The account page uses the portal's session: the same sign-in at this gateway, no second login.
  const account = {
    context: deps.context,
    csrf: deps.csrf,
    totp: deps.totp,
    loginPolicy: deps.loginPolicy,
    passkeys: deps.passkeys,
    script: deps.passkeyScript,
  };
  const { person, post } = accountPageHelpers(account);
  router.use(
    '/account',
    ...sessions,
    accountPasskeyRoutes(account),
    accountPasswordRoutes({ context: deps.context, csrf: deps.csrf, loginPolicy: deps.loginPolicy, person, post }),
    accountAppsRoutes({ context: deps.context, csrf: deps.csrf, person, post }),
    accountDevicesRoutes({
      context: deps.context,
      csrf: deps.csrf,
      person,
      post,
      tagging,
      consoleTagging: createSessionTagging(deps.config.secretKey, 'console'),
      sessionTtlSeconds: ttlSeconds,
    }),
    accountSecurityRoutes({ context: deps.context, csrf: deps.csrf, totp: deps.totp, person, post }),
  );
  return { router, script: pages.script };
}
