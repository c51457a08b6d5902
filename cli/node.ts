import { createLogger, type Logger } from '../core/logger.ts';
import { assertMigrated } from '../core/migrator.ts';
import type { NodeConfig } from '../node/config.ts';
import { startNode, type DomainNode } from '../node/main.ts';
import { RuntimeFailure, type Command } from './command.ts';
import { readNodeConfig, withNodeDatabase } from './node-session.ts';
import { runUntilSignal, shutdownSignal, startUnits, type RunningUnit, type UnitStarter } from './run-units.ts';

export type NodeUnit = RunningUnit & { node: DomainNode };

/** A domain node as a unit to run: like the gateway, it never migrates by itself. */
export function nodeUnit(config: NodeConfig, logger: Logger): UnitStarter<NodeUnit> {
  return {
    name: `node ${config.domain}`,
    async start() {
      await withNodeDatabase(
        config,
        (sequelize) => assertMigrated(sequelize, { kind: 'node', domain: config.domain }),
        { migrated: false },
      );
      const node = await startNode(config, { logger }).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'EADDRINUSE')
          throw new RuntimeFailure(
            'port_in_use',
            `Port ${config.port} is already in use; set NODE_PORT to a free port`,
          );
        throw error;
      });
      return {
        name: `node ${config.domain}`,
        endpoints: [{ label: `chat ${config.domain}`, url: `${node.url.replace(/^http/, 'ws')}/ws` }],
        node,
        close: () => node.close(),
      };
    },
  };
}

export const nodeCommand: Command = {
  summary:
    'Runs one IM domain node (WebSocket chat, history, federation) until SIGTERM or SIGINT, then drains its sockets and closes.',
  options: {
    domain: {
      type: 'string',
      value: 'NAME',
      required: true,
      help: 'the domain this node serves, such as eng.campus.test',
    },
  },
  notes: [
    'It does not migrate its database: run "atrium migrate --node NAME" first.',
    'Configuration comes from the environment: NODE_PORT, NODE_PUBLIC_URL (its URL registered at the gateway), GATEWAY_ISSUER,',
    'DATABASE_URL (else a SQLite file in ATRIUM_DATA_DIR), REDIS_URL (for several processes of one domain), FEDERATION_PROXY_URL,',
    'NODE_SECRET_KEY (required in production). Logs are JSON lines (pino) on stdout.',
  ].join('\n'),
  async run(args, io) {
    const shutdown = shutdownSignal();
    const config = readNodeConfig(io, args.string('domain')!);
    const logger = createLogger(`node:${config.domain}`, config.logLevel);
    const units = await startUnits([nodeUnit(config, logger)], logger);
    await runUntilSignal(units, logger, shutdown);
  },
};
