/**
 * The group committer alone on MariaDB, without sockets or generators: how many entries per second it
 * commits into many busy conversations, for comparing its settings back to back on a busy machine.
 *
 *   node bench/node/committer-alone.ts [--conversations=2000] [--seconds=8] [--in-flight=15000] \
 *     [--lanes=1,3] [--concurrency=3,1] [--rounds=2]
 *
 * Each round runs every (lanes, concurrency) pair given, position by position, on a fresh database each,
 * keeping `in-flight` appends open, round robin over the conversations; it prints entries committed per
 * second after the first second.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Sequelize } from 'sequelize';
import { openDatabase } from '../../core/database.ts';
import { createLogger } from '../../core/logger.ts';
import { migrate } from '../../core/migrator.ts';
import { createGroupCommitter } from '../../node/messages/group-commit.ts';

const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const conversations = Number(arg('conversations', '2000'));
const seconds = Number(arg('seconds', '8'));
const inFlight = Number(arg('in-flight', '15000'));
const rounds = Number(arg('rounds', '2'));
const lanes = arg('lanes', '1,3').split(',').map(Number);
const concurrency = arg('concurrency', '3,1').split(',').map(Number);
const server = process.env.ATRIUM_BENCH_MARIADB_URL ?? 'mysql://root@127.0.0.1:3306';

async function run(laneCount: number, open: number): Promise<number> {
  const name = `atrium_committer_${randomUUID().slice(0, 8)}`;
  const admin = new Sequelize(`${server}/`, { dialect: 'mysql', logging: false });
  await admin.query(`CREATE DATABASE ${name}`);
  const sequelize = await openDatabase({ url: `${server}/${name}`, sqliteFile: '' });
  try {
    await migrate(sequelize, 'node');
    const now = new Date();
    const ids = Array.from({ length: conversations }, () => randomUUID());
    await sequelize.getQueryInterface().bulkInsert(
      'conversations',
      ids.map((id) => ({
        id,
        kind: 'group',
        home_domain: 'bench.campus.test',
        last_seq: 0,
        created_by: 'bench@bench.campus.test',
        created_at: now,
        updated_at: now,
      })),
    );
    const committer = createGroupCommitter({
      sequelize,
      windowMs: 2,
      maxBatch: 2000,
      concurrency: open,
      lanes: laneCount,
      logger: createLogger('committer-alone', 'warn'),
      afterCommit: () => undefined,
    });
    let sent = 0;
    let committed = 0;
    let countFrom = 0;
    const started = performance.now();
    const ends = started + seconds * 1000;
    await new Promise<void>((done) => {
      let pending = 0;
      const next = () => {
        while (pending < inFlight && performance.now() < ends) {
          const n = sent++;
          pending++;
          void committer
            .append({
              conversationId: ids[n % ids.length]!,
              sender: `user${n % 4000}@bench.campus.test`,
              clientMsgId: `c${n}`,
              kind: 'text',
              body: JSON.stringify({ text: `message ${n} sent at ${Date.now()}` }),
            })
            .then(() => {
              pending--;
              if (performance.now() - started >= 1000) committed++;
              if (pending === 0 && performance.now() >= ends) done();
              else setImmediate(next);
            });
        }
      };
      next();
    });
    await committer.drain();
    countFrom = performance.now() - started - 1000;
    return committed / (countFrom / 1000);
  } finally {
    await sequelize.close();
    await admin.query(`DROP DATABASE ${name}`);
    await admin.close();
  }
}

for (let round = 1; round <= rounds; round++) {
  for (let i = 0; i < lanes.length; i++) {
    const rate = await run(lanes[i]!, concurrency[i] ?? 1);
    console.log(
      `round ${round}: lanes ${lanes[i]}, concurrency ${concurrency[i] ?? 1}: ${Math.round(rate).toLocaleString('en')} entries committed/s`,
    );
  }
}
