import express, { type Express, type Request } from 'express';
import cookieParser from 'cookie-parser';
import type { ExpressHandlebars } from 'express-handlebars';
import type { Sequelize } from 'sequelize';
import { databaseReachable } from '../../core/database.ts';
import { createDatabaseRateLimiter } from '../../core/database-rate-limit.ts';
import { healthRoutes } from '../../core/health.ts';
import type { Logger } from '../../core/logger.ts';
import { createMetrics } from '../../core/metrics.ts';
import type { Sealer } from '../../core/seal.ts';
import type { LoginPolicy } from '../accounts/authenticate.ts';
import { passwordVerifications } from '../accounts/passwords.ts';
import { adminConsole } from '../admin/console.ts';
import { appRegistryRoutes } from '../apps-registry/routes.ts';
import { nodesRoutes } from '../apps-registry/nodes-routes.ts';
import { callbackSecretSealer } from '../apps-registry/secrets.ts';
import type { GatewayConfig } from '../config.ts';
import type { GatewayContext } from '../context.ts';
import { totpDeps } from '../factors/totp.ts';
import { passkeyDeps } from '../factors/passkeys/relying-party.ts';
import { passkeyPageScript } from '../factors/passkeys/page-script.ts';
import { passkeyInteractionRoutes } from '../factors/passkeys/interaction-routes.ts';
import { directoryPasswordCheck } from '../directories/directory-password.ts';
import { directoryNewcomer, directoryQuestion } from '../directories/newcomer-sign-in.ts';
import { directoryStandingCheck } from '../directories/still-in-directory.ts';
import { directoryResetPages, resetPagesToShow } from '../directories/reset-page.ts';
import { bindPasswordSealer } from '../directories/secrets.ts';
import { endedAccessRoutes } from '../federation/ended-access-routes.ts';
import { federationRoutes } from '../federation/routes.ts';
import { interactionRoutes } from '../interactions/routes.ts';
import type { GatewayModels } from '../models/index.ts';
import type { LiveProvider } from '../oidc/live-provider.ts';
import { webPortal } from '../portal/portal.ts';
import type { Mailer } from '../recovery/mailer.ts';
import { securityNoticeMails, securityNoticesGauge } from '../recovery/notice-metrics.ts';
import type { RecoveryDeps } from '../recovery/request-reset.ts';
import { recoveryRoutes } from '../recovery/routes.ts';
import { viewsDir } from '../views.ts';
import { createCsrf } from './csrf.ts';
import { interactionFormTargets } from './form-targets.ts';
import { knownDeviceCookie } from './known-device-cookie.ts';
import { onError } from './on-error.ts';
import { securityHeaders } from './security-headers.ts';

export type GatewayAppDeps = {
  issuer: string;
  config: GatewayConfig;
  sequelize: Sequelize;
  models: GatewayModels;
  sealer: Sealer;
  logger: Logger;
  views: ExpressHandlebars;
  context(req: Request | null): GatewayContext;
  keepSeconds: number;
  oidc: LiveProvider;
  /** Null where "forgot password" is off (a production gateway without SMTP). */
  mailer: Mailer | null;
};

/**
 * The gateway's HTTP side, in the order requests meet it: metrics, headers, health, assets, the
 * federation and app registry APIs, recovery, sign-in pages, the admin console, the portal, and last
 * the OIDC provider itself.
 */
export async function gatewayApp(deps: GatewayAppDeps): Promise<Express> {
  const { issuer, config, sequelize, models, sealer, logger, views, context } = deps;
  const provider = () => deps.oidc.provider();
  const secure = issuer.startsWith('https://');
  const metrics = createMetrics('gateway');
  metrics.registry.registerMetric(passwordVerifications);
  metrics.registry.registerMetric(securityNoticeMails);
  metrics.registry.registerMetric(securityNoticesGauge(models, logger));
  const csrf = createCsrf(config.secretKey, secure);
  const loginPolicy = loginPolicyFor(config, sequelize, logger);
  const devices = knownDeviceCookie(config.secretKey, secure);
  const recovery = recoveryFor(deps);

  const app = express();
  // The login page links to "forgot password" only where a mail can reach the person.
  app.locals.passwordRecovery = Boolean(recovery);
  // The campus's name (CAMPUS_NAME) heads the gateway's own pages (views/layouts/main.hbs, views/login.hbs).
  app.locals.campusName = config.campusName;
  app.set('trust proxy', config.trustProxy);
  app.disable('x-powered-by');
  app.engine('.hbs', views.engine);
  app.set('view engine', '.hbs');
  app.set('views', viewsDir);
  app.use(metrics.httpMiddleware);
  app.use(securityHeaders(secure));
  app.use(
    healthRoutes({
      registry: metrics.registry,
      metricsToken: config.metricsToken,
      ready: async () => ({ database: await databaseReachable(sequelize) }),
    }),
  );
  app.use('/assets', express.static(`${viewsDir}assets`, { maxAge: '1h' }));
  app.use(cookieParser());
  app.use(federationRoutes((req) => context(req)));
  app.use(endedAccessRoutes((req) => context(req), deps.keepSeconds));
  app.use(appRegistryRoutes({ context, provider, secrets: callbackSecretSealer(config.secretKey) }));
  app.use(nodesRoutes(deps));
  const totp = totpDeps(config.secretKey, issuer, config.campusName);
  app.use(
    recoveryRoutes({ context, csrf, recovery, directoryPages: () => resetPagesToShow(models), provider, secure }),
  );
  // Passkeys: the relying party is the issuer (its host name and origin); their script is bundled like the portal's.
  const passkeys = passkeyDeps(issuer);
  const passkeyScript = passkeyPageScript({ minify: config.mode === 'production' });
  // The sign-in's pages post on, through redirects, to the app they are for: its origins join form-action.
  app.use('/interaction/:uid', interactionFormTargets(provider));
  app.use(
    passkeyInteractionRoutes({ provider, context, csrf, loginPolicy, totp, devices, passkeys, script: passkeyScript }),
  );
  app.use(interactionRoutes({ provider, context, csrf, loginPolicy, totp, devices }));
  // Only real mail: the demo's log "mailer" would tell the administrator a link was mailed that nobody received.
  const newAccountMail = config.mail.smtpUrl && deps.mailer ? { issuer, mailer: deps.mailer } : null;
  app.use(
    '/admin',
    await adminConsole({ issuer, config, sequelize, models, sealer, csrf, logger, context, provider, newAccountMail }),
  );
  const portal = await webPortal({
    issuer,
    config,
    models,
    logger,
    context,
    csrf,
    totp,
    loginPolicy,
    passkeys,
    passkeyScript,
  });
  app.use('/assets', portal.script);
  app.use('/assets', passkeyScript.handler);
  app.use(portal.router);
  // The provider parses its own bodies, so nothing above consumes its routes' bodies.
  app.use((req, res) => deps.oidc.handle(req, res));
  app.use(onError(logger));
  return app;
}

function loginPolicyFor(config: GatewayConfig, sequelize: Sequelize, logger: Logger): LoginPolicy {
  return {
    maxFailures: config.login.maxFailures,
    lockoutMinutes: config.login.lockoutMinutes,
    // In the database, so that every gateway process over it counts together.
    ipLimiter: createDatabaseRateLimiter({
      sequelize,
      name: 'login-ip',
      limit: config.login.ipLimit,
      windowSeconds: config.login.ipWindowSeconds,
    }),
    identifierLimiter: createDatabaseRateLimiter({
      sequelize,
      name: 'login-identifier',
      limit: config.login.maxFailures,
      windowSeconds: config.login.lockoutMinutes * 60,
    }),
    // A browser the person signed in with goes on through their account's lockout until its own failures lock it.
    deviceLimiter: createDatabaseRateLimiter({
      sequelize,
      name: 'login-device',
      limit: config.login.maxFailures,
      windowSeconds: config.login.lockoutMinutes * 60,
    }),
    // A directory person's password is checked by a bind, after the limits above.
    directoryPassword: directoryPasswordCheck({ sealer: bindPasswordSealer(config.secretKey), logger }),
    // Someone new in a directory since its last sync is brought in at their first sign-in, after them too.
    directoryNewcomer: directoryNewcomer({ sealer: bindPasswordSealer(config.secretKey), logger }),
    // A local account's wrong password asks them what a name nobody has asks: the time tells nobody whose it is.
    directoryQuestion: directoryQuestion({ sealer: bindPasswordSealer(config.secretKey), logger }),
    // A passkey alone asks a directory person's directory whether it still has them, as a password would.
    directoryStanding: directoryStandingCheck({ sealer: bindPasswordSealer(config.secretKey), logger }),
  };
}

function recoveryFor({ issuer, config, sequelize, models, mailer, logger }: GatewayAppDeps): RecoveryDeps | null {
  return (
    mailer && {
      issuer,
      mailer,
      ttlMinutes: config.passwordReset.ttlMinutes,
      ipLimiter: createDatabaseRateLimiter({
        sequelize,
        name: 'password-reset-ip',
        limit: config.passwordReset.ipLimit,
        windowSeconds: 3600,
      }),
      accountLimiter: createDatabaseRateLimiter({
        sequelize,
        name: 'password-reset-account',
        limit: config.passwordReset.accountLimit,
        windowSeconds: 3600,
      }),
      directoryResetPage: directoryResetPages(models),
      logger,
    }
  );
}
