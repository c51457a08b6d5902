import { migrate } from '../core/migrator.ts';
import type { Command, Output } from './command.ts';
import { readNodeConfig, withNodeDatabase } from './node-session.ts';
import { describeDatabase, withSession } from './session.ts';

function report(what: string, where: string, applied: string[]): Output {
  return {
    json: { database: where, applied },
    text:
      applied.length === 0
        ? `The ${what} database (${where}) is up to date; no migration applied.`
        : [`Applied ${applied.length} migration(s) to ${where}:`, ...applied.map((name) => `  ${name}`)].join('\n'),
  };
}

export const migrateCommand: Command = {
  summary:
    "Applies the database migrations that have not run yet, and lists them: the gateway's, or with --node those of a domain node.",
  options: {
    node: {
      type: 'string',
      value: 'NAME',
      help: 'migrate the database of the domain node NAME (as "atrium node --domain NAME" finds it)',
    },
  },
  notes: 'A node finds its database like the node does: DATABASE_URL, else node-NAME.sqlite in ATRIUM_DATA_DIR.',
  async run(args, io) {
    const domain = args.string('node');
    if (domain !== undefined) {
      const config = readNodeConfig(io, domain, '--node');
      const applied = await withNodeDatabase(config, (sequelize) => migrate(sequelize, 'node'), { migrated: false });
      return report(`${config.domain} node`, describeDatabase(config), applied);
    }
    return withSession(
      io,
      async ({ config, sequelize }) => report('gateway', describeDatabase(config), await migrate(sequelize, 'gateway')),
      { migrated: false },
    );
  },
};
