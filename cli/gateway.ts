import { createLogger, type Logger } from '../core/logger.ts';
import { assertMigrated } from '../core/migrator.ts';
import type { GatewayConfig } from '../gateway/config.ts';
import { startGateway } from '../gateway/main.ts';
import { RuntimeFailure, type Command } from './command.ts';
import { runUntilSignal, shutdownSignal, startUnits, type UnitStarter } from './run-units.ts';
import { openGatewayDatabase, readConfig } from './session.ts';

/** The gateway as a unit to run: it never migrates by itself, so a schema change is always the operator's step. */
export function gatewayUnit(config: GatewayConfig, logger: Logger): UnitStarter {
  return {
    name: 'gateway',
    async start() {
      const sequelize = await openGatewayDatabase(config);
      try {
        await assertMigrated(sequelize, { kind: 'gateway' });
      } finally {
        await sequelize.close();
      }
      const gateway = await startGateway(config, { logger }).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'EADDRINUSE')
          throw new RuntimeFailure(
            'port_in_use',
            `Port ${config.port} is already in use; set GATEWAY_PORT to a free port`,
          );
        throw error;
      });
      return {
        name: 'gateway',
        endpoints: [
          { label: 'web portal (chat and apps)', url: gateway.issuer },
          { label: 'admin console', url: `${gateway.issuer}/admin` },
          { label: 'discovery', url: `${gateway.issuer}/.well-known/openid-configuration` },
        ],
        close: () => gateway.close(),
      };
    },
  };
}

export const gatewayCommand: Command = {
  summary:
    'Runs the gateway unit (OIDC provider, login pages, admin console) until SIGTERM or SIGINT, then closes gracefully.',
  notes:
    'It does not migrate the database: run "atrium migrate" first. Logs are JSON lines (pino) on stdout; LOG_LEVEL sets the level.',
  async run(_args, io) {
    const shutdown = shutdownSignal();
    const config = readConfig(io);
    const logger = createLogger('gateway', config.logLevel);
    const units = await startUnits([gatewayUnit(config, logger)], logger);
    await runUntilSignal(units, logger, shutdown);
  },
};
