import type { Sequelize } from 'sequelize';
import { bindSecretKey } from '../core/bound-secret.ts';
import { loadEnv } from '../core/config.ts';
import { openDatabase, type DatabaseOptions } from '../core/database.ts';
import { assertMigrated } from '../core/migrator.ts';
import { loadGatewayConfig, type GatewayConfig } from '../gateway/config.ts';
import { operator, type GatewayContext } from '../gateway/context.ts';
import { defineGatewayModels, type GatewayModels } from '../gateway/models/index.ts';
import type { NoticeOutbox } from '../gateway/recovery/security-notices.ts';
import { RuntimeFailure, type Io } from './command.ts';

export type Session = { config: GatewayConfig; sequelize: Sequelize; models: GatewayModels; ctx: GatewayContext };

/** The CLI is a composition root: it alone turns the environment into configuration. */
export function readConfig(io: Io): GatewayConfig {
  return loadGatewayConfig(loadEnv(io.env));
}

/** Where the data lives, for messages: the SQLite file, or the MariaDB URL without its password. */
export function describeDatabase(config: { database: DatabaseOptions }): string {
  if (!config.database.url) return config.database.sqliteFile;
  const url = new URL(config.database.url);
  url.password = '';
  return url.toString();
}

export async function openGatewayDatabase(config: GatewayConfig): Promise<Sequelize> {
  try {
    return await openDatabase(config.database);
  } catch (error) {
    throw new RuntimeFailure(
      'database_unavailable',
      `Cannot open the database ${describeDatabase(config)}: ${(error as Error).message}`,
    );
  }
}

/**
 * Opens the gateway database for one command, acting as the operator, and closes it afterwards.
 * Unless told otherwise, a database with pending migrations is refused with a clear message.
 */
export async function withSession<T>(
  io: Io,
  work: (session: Session) => Promise<T>,
  options: { migrated?: boolean; config?: GatewayConfig } = {},
): Promise<T> {
  const config = options.config ?? readConfig(io);
  const sequelize = await openGatewayDatabase(config);
  // OIDC clients' secrets are sealed under the gateway's secret, here as in the gateway (core/bound-secret.ts).
  bindSecretKey(sequelize, config.secretKey);
  let notices: { notices: NoticeOutbox; close(): void } | null = null;
  try {
    if (options.migrated !== false) await assertMigrated(sequelize, { kind: 'gateway' });
    const models = defineGatewayModels(sequelize);
    const ctx: GatewayContext = { sequelize, models, actor: operator('cli'), ip: null, appCalls: config.appCalls };
    notices = await noticesFor(config, io, () => ctx);
    if (notices) ctx.notices = notices.notices;
    return await work({ config, sequelize, models, ctx });
  } finally {
    await notices?.notices.settle(10_000);
    await notices?.notices.stop(5_000);
    notices?.close();
    await sequelize.close();
  }
}

/**
 * A reset or a new email made at the command line is told to the person as one made in the console is
 * (gateway/recovery/security-notices.ts): its mails are written to the outbox with the change, wherever a
 * gateway of this configuration would send them (SMTP_URL set, or outside production), for the running
 * gateway to send. Where SMTP_URL is set here, the command also sends them itself, for up to 10 s, so that
 * one run on a machine without a running gateway mails too; whatever is not sent by then waits in the outbox.
 * A mail server's refusal is a warning on stderr, so that stdout stays the command's answer (--json). The
 * mailer is loaded only then: the other commands need not load nodemailer.
 */
async function noticesFor(
  config: GatewayConfig,
  io: Io,
  context: () => GatewayContext,
): Promise<{ notices: NoticeOutbox; close(): void } | null> {
  if (!config.mail.smtpUrl && config.mode === 'production') return null;
  const { securityNotices } = await import('../gateway/recovery/security-notices.ts');
  const { pino } = await import('pino');
  const logger = pino({ name: 'cli', level: config.logLevel }, io.stderr);
  const issuer = config.issuer ?? `http://localhost:${config.port}`;
  if (!config.mail.smtpUrl) return { notices: securityNotices({ logger, issuer, context }), close: () => undefined };
  const { smtpMailer } = await import('../gateway/recovery/mailer.ts');
  const mailer = smtpMailer(config.mail.smtpUrl, config.mail.from);
  return { notices: securityNotices({ mailer, logger, issuer, context }), close: mailer.close };
}
