import { migrate } from '../../core/migrator.ts';
import type { Command } from './command.ts';
import { describeDatabase, withSession } from './session.ts';

export const migrateCommand: Command = {
  summary: 'Applies the gateway database migrations that have not run yet, and lists them.',
  async run(_args, io) {
    return withSession(
      io,
      async ({ config, sequelize }) => {
        const applied = await migrate(sequelize, 'gateway');
        const where = describeDatabase(config);
        return {
          json: { database: where, applied },
          text:
            applied.length === 0
              ? `The gateway database (${where}) is up to date; no migration applied.`
              : [`Applied ${applied.length} migration(s) to ${where}:`, ...applied.map((name) => `  ${name}`)].join('\n'),
        };
      },
      { migrated: false },
    );
  },
};
