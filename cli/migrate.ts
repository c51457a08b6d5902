import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../core/database.ts';
import { NotFoundError } from '../core/errors.ts';
import { migrate } from '../core/migrator.ts';
import { defineGatewayModels } from '../gateway/models/index.ts';
import { developmentSecretFile, type NodeConfig } from '../node/config.ts';
import { loadEnv } from '../core/config.ts';
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

/**
 * Reading a node's configuration makes its development secret when NODE_SECRET_KEY is unset; for a name
 * that is then refused, the secret made is removed again. Whether it existed is asked before the read:
 * a file's modification time can lag the clock by a tick, so it cannot tell "made just now".
 */
function secretMadeByReading(io: Io, domain: string): { config: NodeConfig; forget: () => void } {
  const file = developmentSecretFile(loadEnv(io.env), domain);
  const existed = existsSync(file);
  const config = readNodeConfig(io, domain, '--node');
  const forget = () => {
    if (!existed && existsSync(file)) rmSync(file);
  };
  return { config, forget };
}

/**
 * A node's SQLite file is named after its domain, so a misspelt name would make a new, empty database:
 * a new file is made only for a domain the gateway here registers, or when --new says the node is new.
 * With DATABASE_URL the URL names the database, which the domain does not choose.
 */
async function migrateNode(io: Io, domain: string, isNew: boolean): Promise<Output> {
  const { config, forget } = secretMadeByReading(io, domain);
  const file = config.database.url ? null : config.database.sqliteFile;
  const creating = file !== null && !existsSync(file);
  let unchecked = false;
  if (creating && !isNew) {
    const gateway = await domainsOfGatewayIn(config.dataDir);
    if (gateway && !gateway.names.includes(config.domain)) {
      forget();
      const known = gateway.names.length > 0 ? gateway.names.join(', ') : 'none';
      throw new NotFoundError(
        `The gateway (${gateway.file}) has no domain ${config.domain} (it has: ${known}), and this node has no database yet. Check the name, or pass --new to create ${file}.`,
      );
    }
    unchecked = gateway === null;
  }
  const applied = await withNodeDatabase(config, (sequelize) => migrate(sequelize, 'node', config.domain), {
    migrated: false,
  });
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
