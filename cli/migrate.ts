import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../core/database.ts';
import { NotFoundError } from '../core/errors.ts';
import { migrate } from '../core/migrator.ts';
import { defineGatewayModels } from '../gateway/models/index.ts';
import type { NodeConfig } from '../node/config.ts';
import { UsageError, type Command, type Io, type Output } from './command.ts';
import { readNodeConfig, withNodeDatabase } from './node-session.ts';
import { describeDatabase, withSession } from './session.ts';

function report(what: string, where: string, applied: string[]) {
  return {
    json: { database: where, applied },
    text:
      applied.length === 0
        ? `The ${what} database (${where}) is up to date; no migration applied.`
        : [`Applied ${applied.length} migration(s) to ${where}:`, ...applied.map((name) => `  ${name}`)].join('\n'),
  };
}

/**
 * The domains the gateway beside the node registers, when there is one: a gateway on SQLite in the same
 * data directory (its file name as gateway/config.ts gives it). Null when none can be read here.
 */
async function domainsOfGatewayIn(dataDir: string): Promise<{ file: string; names: string[] } | null> {
  const file = join(dataDir, 'gateway.sqlite');
  if (!existsSync(file)) return null;
  const sequelize = await openDatabase({ url: undefined, sqliteFile: file });
  try {
    const rows = await defineGatewayModels(sequelize).Domain.findAll({
      attributes: ['name'],
      order: [['name', 'ASC']],
    });
    return { file, names: rows.map((row) => row.name) };
  } catch {
    return null; // not migrated yet: it cannot tell
  } finally {
    await sequelize.close();
  }
}

/** The development secret reading the node's configuration made just now (NODE_SECRET_KEY unset), for a refused name. */
function forgetSecretMadeSince(config: NodeConfig, since: number): void {
  const file = join(config.dataDir, `node-${config.domain}.secret`);
  if (existsSync(file) && statSync(file).mtimeMs >= since) rmSync(file);
}

/**
 * A node's SQLite file is named after its domain, so a misspelt name would make a new, empty database:
 * a new file is made only for a domain the gateway here registers, or when --new says the node is new.
 * With DATABASE_URL the URL names the database, which the domain does not choose.
 */
async function migrateNode(io: Io, domain: string, isNew: boolean): Promise<Output> {
  const started = Date.now();
  const config = readNodeConfig(io, domain, '--node');
  const file = config.database.url ? null : config.database.sqliteFile;
  const creating = file !== null && !existsSync(file);
  let unchecked = false;
  if (creating && !isNew) {
    const gateway = await domainsOfGatewayIn(config.dataDir);
    if (gateway && !gateway.names.includes(config.domain)) {
      forgetSecretMadeSince(config, started);
      const known = gateway.names.length > 0 ? gateway.names.join(', ') : 'none';
      throw new NotFoundError(
        `The gateway (${gateway.file}) has no domain ${config.domain} (it has: ${known}), and this node has no database yet. Check the name, or pass --new to create ${file}.`,
      );
    }
    unchecked = gateway === null;
  }
  const applied = await withNodeDatabase(config, (sequelize) => migrate(sequelize, 'node'), { migrated: false });
  const { json, text } = report(`${config.domain} node`, describeDatabase(config), applied);
  if (!creating) return { json: { ...json, created: false }, text };
  const why = unchecked ? ` (no gateway database in ${config.dataDir} to check the name ${config.domain} against)` : '';
  return {
    json: { ...json, created: true },
    text: `Created a new database for ${config.domain}: ${file}${why}.\n${text}`,
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
    new: {
      type: 'boolean',
      help: 'with --node: the node is new, create its SQLite file though the gateway here does not list NAME',
    },
  },
  notes: [
    'A node finds its database like the node does: DATABASE_URL, else node-NAME.sqlite in ATRIUM_DATA_DIR.',
    'A new node-NAME.sqlite is made only for a domain the gateway in ATRIUM_DATA_DIR registers, or with --new',
    '(a misspelt NAME is refused rather than given an empty database); the output says when one was made.',
  ].join('\n'),
  async run(args, io) {
    const domain = args.string('node');
    if (domain !== undefined) return migrateNode(io, domain, args.flag('new'));
    if (args.flag('new')) throw new UsageError('--new goes with --node NAME');
    return withSession(
      io,
      async ({ config, sequelize }) => report('gateway', describeDatabase(config), await migrate(sequelize, 'gateway')),
      { migrated: false },
    );
  },
};
