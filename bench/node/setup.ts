import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { openDatabase } from '../../core/database.ts';
import { defineNodeModels } from '../../node/models.ts';
import {
  MARIADB_ADMIN_URL,
  spawnGeneratorProcess,
  startChild,
  type GeneratorChild,
  type NodeChild,
} from '../shared/setup.ts';

const here = import.meta.dirname;

/** InnoDB buffer pool the run needs: the messages' indexes outgrow MariaDB's default 128 MiB within the run. */
const BUFFER_POOL_BYTES = 2 ** 30;

/**
 * Gives MariaDB's InnoDB buffer pool at least `bytes` (1 GiB) for the run (resized online), as any deployment
 * would; resolves with the server's own size and a function that puts it back.
 */
export async function sizeBufferPool(
  bytes: number = BUFFER_POOL_BYTES,
): Promise<{ own: number; used: number; restore(): Promise<void> }> {
  const admin = await mysql.createConnection(MARIADB_ADMIN_URL);
  const [rows] = await admin.query('SELECT @@innodb_buffer_pool_size AS size');
  const own = Number((rows as { size: string | number }[])[0]?.size ?? 0);
  const used = Math.max(own, bytes);
  if (used !== own) await admin.query(`SET GLOBAL innodb_buffer_pool_size = ${used}`);
  await admin.end();
  return {
    own,
    used,
    async restore() {
      if (used === own) return;
      const conn = await mysql.createConnection(MARIADB_ADMIN_URL);
      await conn.query(`SET GLOBAL innodb_buffer_pool_size = ${own}`);
      await conn.end();
    },
  };
}

/** The stand-in server of the machine's ceiling (bench/node/relay-process.ts), `memory`, `durable` or `indexed`. */
export function spawnRelay(
  mode: 'memory' | 'durable' | 'indexed',
  env: Record<string, string>,
  logFile: string,
): Promise<NodeChild> {
  return startChild<{ url: string; localUrl: string; pid: number }>(join(here, 'relay-process.ts'), `${mode} relay`, {
    env: { ...env, RELAY_MODE: mode },
    logFile,
    startMs: 30_000,
  });
}

/** One of this bench's load generators (bench/node/generator.ts). */
export function spawnGenerator(index: number, localAddress: string): GeneratorChild {
  return spawnGeneratorProcess(join(here, 'generator.ts'), index, localAddress);
}

/**
 * The group written straight into the node's database with the node's own models, for when the
 * `group.create` frame is not available. The conversation is new, so no process has it cached.
 */
export async function createGroupInDatabase(databaseUrl: string, domain: string, addresses: string[]): Promise<string> {
  const sequelize = await openDatabase({ url: databaseUrl, sqliteFile: ':memory:' });
  try {
    const { Conversation, Member } = defineNodeModels(sequelize);
    const id = randomUUID();
    await sequelize.transaction(async (tx) => {
      await Conversation.create(
        { id, kind: 'group', homeDomain: domain, title: 'Bench group', directKey: null, createdBy: addresses[0]! },
        { transaction: tx },
      );
      await Member.bulkCreate(
        addresses.map((address, i) => ({
          conversationId: id,
          address,
          role: i === 0 ? ('owner' as const) : ('member' as const),
          state: 'active' as const,
        })),
        { transaction: tx },
      );
    });
    return id;
  } finally {
    await sequelize.close();
  }
}
