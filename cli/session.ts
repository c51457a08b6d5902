import type { Sequelize } from 'sequelize';
import { bindSecretKey } from '../core/bound-secret.ts';
import { loadEnv } from '../core/config.ts';
import { openDatabase, type DatabaseOptions } from '../core/database.ts';
import { assertMigrated } from '../core/migrator.ts';
import { loadGatewayConfig, type GatewayConfig } from '../gateway/config.ts';
import { operator, type GatewayContext } from '../gateway/context.ts';
import { defineGatewayModels, type GatewayModels } from '../gateway/models/index.ts';
import type { SecurityNotices } from '../gateway/recovery/security-notices.ts';
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
  const notices = await noticesFor(config, io);
  const sequelize = await openGatewayDatabase(config);
  // OIDC clients' secrets are sealed under the gateway's secret, here as in the gateway (core/bound-secret.ts).
  bindSecretKey(sequelize, config.secretKey);
  try {
    if (options.migrated !== false) await assertMigrated(sequelize, { kind: 'gateway' });
    const models = defineGatewayModels(sequelize);
    return await work({
      config,
      sequelize,
      models,
      ctx: {
        sequelize,
        models,
        actor: operator('cli'),
        ip: null,
        appCalls: config.appCalls,
        notices: notices?.notices,
      },
    });
  } finally {
    await notices?.notices.settle(10_000);
    notices?.close();
    await sequelize.close();
  }
}

/**
 * A reset or a new email made at the command line is mailed to the person as one made in the console is
 * (gateway/recovery/security-notices.ts), where SMTP_URL is set; without it, nothing is mailed or logged.
 * A mail server's refusal is a warning on stderr, so that stdout stays the command's answer (--json). The
 * mailer is loaded only then: the other commands need not load nodemailer.
 */
async function noticesFor(config: GatewayConfig, io: Io): Promise<{ notices: SecurityNotices; close(): void } | null> {
  if (!config.mail.smtpUrl) return null;
  const { smtpMailer } = await import('../gateway/recovery/mailer.ts');
  const { securityNotices } = await import('../gateway/recovery/security-notices.ts');
  const { pino } = await import('pino');
  const mailer = smtpMailer(config.mail.smtpUrl, config.mail.from);
  const issuer = config.issuer ?? `http://localhost:${config.port}`;
  return {
    notices: securityNotices({ mailer, logger: pino({ name: 'cli', level: config.logLevel }, io.stderr), issuer }),
    close: mailer.close,
  };
}
