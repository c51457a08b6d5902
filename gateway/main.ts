import type { Server } from 'node:http';
import type { Request } from 'express';
import type Provider from 'oidc-provider';
import type { Sequelize } from 'sequelize';
import { bindSecretKey } from '../core/bound-secret.ts';
import { openDatabase } from '../core/database.ts';
import { warnIfResealDue } from '../core/reseal.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { assertMigrated, migrate } from '../core/migrator.ts';
import { createSealer, type Sealer } from '../core/seal.ts';
import { createUnitServer, type UnitServer } from '../core/unit-server.ts';
import type { GatewayConfig } from './config.ts';
import type { GatewayContext } from './context.ts';
import { sweepTotpEnrolments } from './factors/totp.ts';
import { refreshPins } from './federation/refresh-pins.ts';
import { gatewayApp } from './http/gateway-app.ts';
import { defineGatewayModels, type GatewayModels } from './models/index.ts';
import { placeOf } from './place.ts';
import { sweepExpiredPayloads } from './oidc/adapter.ts';
import { createAppLogoutSender, type AppLogoutRetry } from './oidc/app-logouts.ts';
import { createEndedAccessPusher, keepSecondsFor, sweepEndedAccess } from './oidc/ended-access.ts';
import { ensureSigningKey } from './oidc/keys.ts';
import { startLiveProvider, type LiveProvider } from './oidc/live-provider.ts';
import { logMailer, smtpMailer, type Mailer } from './recovery/mailer.ts';
import type { NoticeRetry } from './recovery/notice-sender.ts';
import { sweepSecurityNotices } from './recovery/notice-outbox.ts';
import { securityNotices } from './recovery/security-notices.ts';
import { sweepPasswordResets } from './recovery/sweep-resets.ts';
import { startDirectorySchedule } from './directories/scheduler.ts';
import { bindPasswordSealer } from './directories/secrets.ts';
import { createViewEngine } from './views.ts';

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

export type StartOptions = {
  migrate?: boolean;
  logger?: Logger;
  /** How apps that do not take a logout are tried again (tests shorten it). */
  appLogoutRetry?: AppLogoutRetry;
  /** How notices the mail server does not take are tried again (tests shorten it). */
  noticeRetry?: NoticeRetry;
  /** How often the app logouts and notices waiting are read for those due (every second; tests shorten it). */
  outboxIntervalMs?: number;
  /** How long an app's back-channel logout URI is waited for (2.5 s; tests shorten it). */
  appCallTimeoutMs?: number;
};

/**
 * Composition root of the gateway: config → database → keys → provider → HTTP routes → timers; close()
 * undoes it in reverse.
 */
export async function startGateway(config: GatewayConfig, options: StartOptions = {}): Promise<Gateway> {
  const logger = options.logger ?? createLogger('gateway', config.logLevel);
  const sequelize = await openDatabase(config.database);
  // Code handed only the database seals and opens with it: the OIDC store's client secrets (core/bound-secret.ts).
  bindSecretKey(sequelize, config.secretKey);
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

async function startOn(
  sequelize: Sequelize,
  http: UnitServer,
  config: GatewayConfig,
  logger: Logger,
  options: StartOptions,
): Promise<Gateway> {
  const { models, sealer } = await prepareDatabase(sequelize, config, options);
  const sealed = (await models.SigningKey.findAll()).map((k) => k.privateJwkSealed);
  warnIfResealDue(logger, sealer, sealed, { variable: 'ATRIUM_SECRET_KEY', command: 'atrium secrets reseal' });

  // Open before the rest is wired, since the issuer may name the port the OS chose; until serve() below,
  // every request is answered 503 "starting" (docs/operations.md, "Starting and stopping").
  // The machine allows a backlog of 4096; Node's default of 511 would drop a reconnect storm's SYNs.
  const port = await http.listen({ port: config.port, host: config.host, backlog: 4096 });
  const issuer = config.issuer ?? `http://localhost:${port}`;

  const views = createViewEngine({ campusName: config.campusName });
  const mailer = mailerFor(config, logger);
  // Security notices go wherever "forgot password" mail goes (in the demo, the log); nowhere without mail.
  // They wait in the outbox until sent, by this process or another over the database.
  const notices = mailer
    ? securityNotices({
        mailer,
        logger,
        issuer,
        context: () => context(null),
        retry: options.noticeRetry,
        intervalMs: options.outboxIntervalMs,
      })
    : undefined;
  const context = (req: Request | null): GatewayContext => ({
    sequelize,
    models,
    actor: (req as { user?: GatewayContext['actor'] } | null)?.user ?? { kind: 'anonymous' },
    ip: req?.ip ?? null,
    userAgent: req?.headers['user-agent'] ?? null,
    appCalls: config.appCalls,
    notices,
    place: placeOf(config, issuer),
  });
  const keepSeconds = keepSecondsFor(config.accessTokenTtlSeconds);
  // Ended sessions and people reach the domain nodes from here, whoever ended them (console, CLI, sign-out).
  // The pusher signs with the provider's current key, asked for only once it runs (after start() below).
  const endedAccess = createEndedAccessPusher({
    context: () => context(null),
    issuer,
    signingKey: () => oidc.signingKey(),
    keepSeconds,
    logger,
  });
  const oidc = await startLiveProvider({
    issuer,
    config,
    sequelize,
    models,
    views,
    logger,
    sealer,
    context,
    sessionEnded: () => endedAccess.kick(),
    appCallTimeoutMs: options.appCallTimeoutMs,
  });

  // Apps are told of access ended here or by another process (the CLI): gateway/oidc/app-logouts.ts.
  const appLogouts = createAppLogoutSender({
    context: () => context(null),
    provider: () => oidc.provider(),
    logger,
    retry: options.appLogoutRetry,
    intervalMs: options.outboxIntervalMs,
  });

  http.serve(
    await gatewayApp({ issuer, config, sequelize, models, sealer, logger, views, context, keepSeconds, oidc, mailer }),
  );
  const timers = startTimers(config, models, oidc, () => context(null), keepSeconds, logger);
  const directorySchedule =
    config.directorySyncSeconds > 0
      ? startDirectorySchedule({
          context: () => context(null),
          sealer: bindPasswordSealer(config.secretKey),
          logger,
          intervalSeconds: config.directorySyncSeconds,
        })
      : null;
  endedAccess.start();
  appLogouts.start();
  notices?.start();
  logger.info({ issuer, port }, 'gateway listening');

  return {
    issuer,
    config,
    server: http.server,
    sequelize,
    models,
    logger,
    sealer,
    provider: () => oidc.provider(),
    reloadKeys: () => oidc.reloadKeys(),
    context,
    async close() {
      for (const t of timers) clearInterval(t);
      await directorySchedule?.stop();
      await endedAccess.stop();
      await appLogouts.stop();
      // Requests already read are answered (for up to 5 s) before the database goes.
      await http.close(5_000);
      // Mails under way are finished (for up to 5 s more) before the mail server goes; the rest wait in the outbox.
      await notices?.stop(5_000);
      mailer?.close();
      await sequelize.close();
    },
  };
}

/** The schema is current (or, when asked to migrate, brought up to date) and a signing key exists. */
async function prepareDatabase(
  sequelize: Sequelize,
  config: GatewayConfig,
  options: StartOptions,
): Promise<{ models: GatewayModels; sealer: Sealer }> {
  if (options.migrate) await migrate(sequelize, 'gateway');
  else await assertMigrated(sequelize, { kind: 'gateway' });
  const models = defineGatewayModels(sequelize);
  const sealer = createSealer(config.secretKey, 'signing-keys');
  await ensureSigningKey(models, sealer);
  return { models, sealer };
}

/** Key reloads, the sweeps of expired rows, and the refresh of pinned node keys; none keeps the process alive. */
function startTimers(
  config: GatewayConfig,
  models: GatewayModels,
  oidc: LiveProvider,
  system: () => GatewayContext,
  keepSeconds: number,
  logger: Logger,
): NodeJS.Timeout[] {
  const timers = [
    setInterval(
      () => void oidc.reloadKeys().catch((err) => logger.error({ err }, 'key reload failed')),
      config.keysReloadSeconds * 1000,
    ),
    setInterval(
      () => void sweepExpiredPayloads(models).catch((err) => logger.error({ err }, 'sweep failed')),
      10 * 60_000,
    ),
    setInterval(
      () => void sweepEndedAccess(system(), keepSeconds).catch((err) => logger.error({ err }, 'sweep failed')),
      10 * 60_000,
    ),
    setInterval(
      () => void sweepPasswordResets(models).catch((err) => logger.error({ err }, 'sweep failed')),
      10 * 60_000,
    ),
    setInterval(
      () => void sweepSecurityNotices(models).catch((err) => logger.error({ err }, 'sweep failed')),
      10 * 60_000,
    ),
    setInterval(
      () => void sweepTotpEnrolments(models).catch((err) => logger.error({ err }, 'sweep failed')),
      10 * 60_000,
    ),
    setInterval(() => void refreshPins(system(), logger), config.pinRefreshSeconds * 1000),
  ];
  for (const t of timers) t.unref();
  return timers;
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
