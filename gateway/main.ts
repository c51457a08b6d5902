import type { Server } from 'node:http';
import express, { type Request } from 'express';
import cookieParser from 'cookie-parser';
import type Provider from 'oidc-provider';
import type { Sequelize } from 'sequelize';
import { databaseReachable, openDatabase } from '../core/database.ts';
import { healthRoutes } from '../core/health.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { createMetrics } from '../core/metrics.ts';
import { assertMigrated, migrate } from '../core/migrator.ts';
import { createDatabaseRateLimiter } from '../core/database-rate-limit.ts';
import { createSealer, type Sealer } from '../core/seal.ts';
import { createUnitServer, type UnitServer } from '../core/unit-server.ts';
import type { LoginPolicy } from './accounts/authenticate.ts';
import { adminConsole } from './admin/console.ts';
import { webPortal } from './portal/portal.ts';
import type { GatewayConfig } from './config.ts';
import type { GatewayContext } from './context.ts';
import { createCsrf } from './http/csrf.ts';
import { onError } from './http/on-error.ts';
import { securityHeaders } from './http/security-headers.ts';
import { interactionRoutes } from './interactions/routes.ts';
import { totpDeps } from './factors/totp.ts';
import { defineGatewayModels, type GatewayModels } from './models/index.ts';
import { sweepExpiredPayloads } from './oidc/adapter.ts';
import { activeKeyIds, ensureSigningKey, loadPrivateJwks } from './oidc/keys.ts';
import { buildProvider } from './oidc/provider.ts';
import { createViewEngine, viewsDir } from './views.ts';
import { auditProviderEvents } from './oidc/audit-events.ts';
import { createEndedAccessPusher, keepSecondsFor, recordEndedSession, sweepEndedAccess } from './oidc/ended-access.ts';
import { federationRoutes } from './federation/routes.ts';
import { endedAccessRoutes } from './federation/ended-access-routes.ts';
import { refreshPins } from './federation/refresh-pins.ts';
import { appRegistryRoutes } from './apps-registry/routes.ts';
import { callbackSecretSealer } from './apps-registry/secrets.ts';
import { localAccountsOnly } from './recovery/directory-reset.ts';
import { logMailer, smtpMailer, type Mailer } from './recovery/mailer.ts';
import type { RecoveryDeps } from './recovery/request-reset.ts';
import { recoveryRoutes } from './recovery/routes.ts';
import { sweepPasswordResets } from './recovery/sweep-resets.ts';

export type Gateway = {
  issuer: string;
  config: GatewayConfig;
  server: Server;
  sequelize: Sequelize;
  models: GatewayModels;
  logger: Logger;
  sealer: Sealer;
  provider(): Provider;
  /** Picks up a key rotation now (it is otherwise noticed within KEYS_RELOAD_SECONDS). */
  reloadKeys(): Promise<void>;
  context(req: Request | null): GatewayContext;
  close(): Promise<void>;
};

export type StartOptions = { migrate?: boolean; logger?: Logger };

/** Composition root of the gateway: config → database → keys → provider → HTTP; close() undoes it in reverse. */
export async function startGateway(config: GatewayConfig, options: StartOptions = {}): Promise<Gateway> {
  const logger = options.logger ?? createLogger('gateway', config.logLevel);
  const sequelize = await openDatabase(config.database);
  const http = createUnitServer();
  try {
    return await startOn(sequelize, http, config, logger, options);
  } catch (error) {
    // A unit that fails to start must not keep its port or its database pool (and so the process) alive.
    await http.close(0);
    await sequelize.close().catch(() => undefined);
    throw error;
  }
}

async function startOn(sequelize: Sequelize, http: UnitServer, config: GatewayConfig, logger: Logger, options: StartOptions): Promise<Gateway> {
  if (options.migrate) await migrate(sequelize, 'gateway');
  else await assertMigrated(sequelize, { kind: 'gateway' });
  const models = defineGatewayModels(sequelize);
  const sealer = createSealer(config.secretKey, 'signing-keys');
  await ensureSigningKey(models, sealer);

  // Open before the rest is wired, since the issuer may name the port the OS chose; until serve() below,
  // every request is answered 503 "starting" (docs/operations.md, "Starting and stopping").
  // The machine allows a backlog of 4096; Node's default of 511 would drop a reconnect storm's SYNs.
  const port = await http.listen({ port: config.port, host: config.host, backlog: 4096 });
  const issuer = config.issuer ?? `http://localhost:${port}`;

  const views = createViewEngine();
  let keyIds = await activeKeyIds(models);
  let jwks = await loadPrivateJwks(models, sealer);
  let provider = buildProvider({ issuer, config, sequelize, models, jwks, views, logger });
  let providerHandler = provider.callback();
  const context = (req: Request | null): GatewayContext => ({
    sequelize,
    models,
    actor: ((req as { user?: GatewayContext['actor'] } | null)?.user) ?? { kind: 'anonymous' },
    ip: req?.ip ?? null,
  });
  const keepSeconds = keepSecondsFor(config.accessTokenTtlSeconds);
  // Ended sessions and people reach the domain nodes from here, whoever ended them (console, CLI, sign-out).
  const endedAccess = createEndedAccessPusher({ context: () => context(null), issuer, signingKey: () => jwks[0]!, keepSeconds, logger });
  const wireProvider = (p: Provider) => {
    auditProviderEvents(p, context, logger);
    p.on('end_session.success', (ctx) => {
      const session = ctx.oidc.session;
      // Only a full sign-out ends chat; "stay signed in" merely leaves the one app.
      if (!ctx.oidc.params?.logout || !session) return;
      recordEndedSession({ ...context(null), ip: ctx.ip }, session.uid).then(
        () => endedAccess.kick(),
        (err) => logger.error({ err }, 'recording an ended session failed'),
      );
    });
  };
  wireProvider(provider);

  async function reloadKeys() {
    const ids = await activeKeyIds(models);
    if (ids === keyIds) return;
    keyIds = ids;
    jwks = await loadPrivateJwks(models, sealer);
    provider = buildProvider({ issuer, config, sequelize, models, jwks, views, logger });
    providerHandler = provider.callback();
    wireProvider(provider);
    logger.info({ keys: ids }, 'signing keys reloaded');
  }

  const secure = issuer.startsWith('https://');
  const metrics = createMetrics('gateway');
  const csrf = createCsrf(config.secretKey, secure);
  const loginPolicy: LoginPolicy = {
    maxFailures: config.login.maxFailures,
    lockoutMinutes: config.login.lockoutMinutes,
    // In the database, so that every gateway process over it counts together.
    ipLimiter: createDatabaseRateLimiter({ sequelize, name: 'login-ip', limit: config.login.ipLimit, windowSeconds: config.login.ipWindowSeconds }),
    identifierLimiter: createDatabaseRateLimiter({ sequelize, name: 'login-identifier', limit: config.login.maxFailures, windowSeconds: config.login.lockoutMinutes * 60 }),
  };

  const mailer = mailerFor(config, logger);
  const recovery: RecoveryDeps | null = mailer && {
    issuer,
    mailer,
    ttlMinutes: config.passwordReset.ttlMinutes,
    ipLimiter: createDatabaseRateLimiter({ sequelize, name: 'password-reset-ip', limit: config.passwordReset.ipLimit, windowSeconds: 3600 }),
    accountLimiter: createDatabaseRateLimiter({ sequelize, name: 'password-reset-account', limit: config.passwordReset.accountLimit, windowSeconds: 3600 }),
    directoryResetPage: localAccountsOnly,
    logger,
  };

  const app = express();
  // The login page links to "forgot password" only where a mail can reach the person.
  app.locals.passwordRecovery = Boolean(recovery);
  app.set('trust proxy', config.trustProxy);
  app.disable('x-powered-by');
  app.engine('.hbs', views.engine);
  app.set('view engine', '.hbs');
  app.set('views', viewsDir);
  app.use(metrics.httpMiddleware);
  app.use(securityHeaders(secure));
  app.use(healthRoutes({ registry: metrics.registry, ready: async () => ({ database: await databaseReachable(sequelize) }) }));
  app.use('/assets', express.static(`${viewsDir}assets`, { maxAge: '1h' }));
  app.use(cookieParser());
  app.use(federationRoutes((req) => context(req)));
  app.use(endedAccessRoutes((req) => context(req), keepSeconds));
  app.use(appRegistryRoutes({ context, provider: () => provider, secrets: callbackSecretSealer(config.secretKey) }));
  const totp = totpDeps(config.secretKey, issuer);
  app.use(recoveryRoutes({ context, csrf, recovery }));
  app.use(interactionRoutes({ provider: () => provider, context, csrf, loginPolicy, totp }));
  app.use(
    '/admin',
    await adminConsole({ issuer, config, sequelize, models, sealer, csrf, logger, context, provider: () => provider }),
  );
  const portal = await webPortal({ issuer, config, models, logger, context, csrf, totp, loginPolicy });
  app.use('/assets', portal.script);
  app.use(portal.router);
  // The provider parses its own bodies, so nothing above consumes its routes' bodies.
  app.use((req, res) => providerHandler(req, res));
  app.use(onError(logger));
  http.serve(app);

  const timers = [
    setInterval(() => void reloadKeys().catch((err) => logger.error({ err }, 'key reload failed')), config.keysReloadSeconds * 1000),
    setInterval(() => void sweepExpiredPayloads(models).catch((err) => logger.error({ err }, 'sweep failed')), 10 * 60_000),
    setInterval(() => void sweepEndedAccess(context(null), keepSeconds).catch((err) => logger.error({ err }, 'sweep failed')), 10 * 60_000),
    setInterval(() => void sweepPasswordResets(models).catch((err) => logger.error({ err }, 'sweep failed')), 10 * 60_000),
    setInterval(() => void refreshPins(context(null), logger), config.pinRefreshSeconds * 1000),
  ];
  for (const t of timers) t.unref();
  endedAccess.start();
  logger.info({ issuer, port }, 'gateway listening');

  return {
    issuer,
    config,
    server: http.server,
    sequelize,
    models,
    logger,
    sealer,
    provider: () => provider,
    reloadKeys,
    context,
    async close() {
      for (const t of timers) clearInterval(t);
      await endedAccess.stop();
      mailer?.close();
      // Requests already read are answered (for up to 5 s) before the database goes.
      await http.close(5_000);
      await sequelize.close();
    },
  };
}

/**
 * SMTP when configured; otherwise, outside production, the log (the demo shows the mail there). A
 * production gateway without SMTP offers no recovery by mail, since its log would hold working links.
 */
function mailerFor(config: GatewayConfig, logger: Logger): Mailer | null {
  if (config.mail.smtpUrl) return smtpMailer(config.mail.smtpUrl, config.mail.from);
  if (config.mode === 'production') {
    logger.warn('SMTP_URL is not set: "forgot password" is off (set SMTP_URL and MAIL_FROM to offer it)');
    return null;
  }
  return logMailer(logger);
}
