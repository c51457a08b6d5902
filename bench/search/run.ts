/**
 * `npm run bench:search`: a member's message search on a node holding a million messages (100
 * conversations of 10,000; chat-like words, 5% Chinese or Japanese), on SQLite and on MariaDB in one run,
 * against the issue's target (p95 ≤ 100 ms on each). The node's own search code runs in this process on a
 * database filled by bulk inserts (bench/search/load.ts); the scan it replaced runs on a few of the same
 * queries for comparison, and must find the same rows. Prints the figures and writes the "Search"
 * section of BENCHMARKS.md. Stops by itself; drops its databases and folders on any way out.
 *
 *   npm run bench:search                          the full run (several minutes per database)
 *   options: --messages=N (default 1000000), --conversations=N (100), --rounds=N (2), --scan-queries=N (6),
 *            --sqlite-only, --mariadb-only, --no-write, --out=<file>
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import mysql from 'mysql2/promise';
import { closeLongReads, openDatabase, openLongReads } from '../../core/database.ts';
import { migrate } from '../../core/migrator.ts';
import { publishSection } from '../shared/benchmarks-file.ts';
import { mariadbAnswers } from '../shared/setup.ts';
import { describeCalibration } from '../shared/calibration.ts';
import { describeMachine, loadAverage } from '../shared/machine.ts';
import { gitOutput, installCleanups, timestampLog } from '../shared/orchestrator.ts';
import { sizeBufferPool } from '../node/setup.ts';
import { corpus, queries } from './corpus.ts';
import { loadCorpus, type Shape } from './load.ts';
import { measureScan, measureSearches, measureUpkeep, searcher } from './measure.ts';
import { renderSection, type DatabaseRun, type Run } from './report.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const args = process.argv.slice(2);
const option = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const shape: Shape = {
  messages: Number(option('messages') ?? 1_000_000),
  conversations: Number(option('conversations') ?? 100),
};
const rounds = Number(option('rounds') ?? 2);
const scanQueries = Number(option('scan-queries') ?? 6);
const SEED = 20261204;
const UPKEEP_MESSAGES = 20_000;
const MARIADB_ADMIN = 'mysql://root@127.0.0.1:3306/mysql';
/** A million messages, their keys and their index take well over 1 GiB: a node that size gets 2 GiB. */
const BUFFER_POOL_BYTES = 2 * 2 ** 30;

const started = performance.now();
const log = timestampLog(started);
const cleanups = installCleanups(60 * 60_000, 'dropping the benchmark databases');

async function main(): Promise<void> {
  const machine = await describeMachine();
  log(
    `Atrium search benchmark: ${shape.messages} messages in ${shape.conversations} conversations; ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.cpuModel}, Node ${machine.node}; ${describeCalibration(machine.calibration)}; load ${loadAverage()}`,
  );
  const kinds: ('sqlite' | 'mariadb')[] = [];
  if (!args.includes('--mariadb-only')) kinds.push('sqlite');
  if (!args.includes('--sqlite-only')) {
    if (await mariadbAnswers(MARIADB_ADMIN)) kinds.push('mariadb');
    else log('MariaDB does not answer on 127.0.0.1:3306: SQLite only');
  }
  const databases: DatabaseRun[] = [];
  for (const kind of kinds) databases.push(await runOn(kind));
  const run: Run = {
    date: new Date(),
    commit: gitOutput(root, ['rev-parse', '--short', 'HEAD']),
    seconds: (performance.now() - started) / 1000,
    machine,
    load: loadAverage(),
    shape,
    queries: queries(SEED, shape.messages),
    databases,
  };
  publishSection('Search', renderSection(run), {
    write: !args.includes('--no-write'),
    file: option('out') ?? join(root, 'BENCHMARKS.md'),
    log,
  });
}

/** A fresh database of one kind: migrated, loaded, searched, scanned, written to. */
async function runOn(kind: 'sqlite' | 'mariadb'): Promise<DatabaseRun> {
  const dataDir = mkdtempSync(join(tmpdir(), 'atrium-bench-search-'));
  cleanups.push({ name: `${kind} data folder`, run: () => rmSync(dataDir, { recursive: true, force: true }) });
  const { url, version } = kind === 'mariadb' ? await mariadbDatabase() : { url: undefined, version: 'SQLite' };
  const options = { url, sqliteFile: join(dataDir, 'node.sqlite') };
  const sequelize = await openDatabase(options);
  // As the node reads: a search's long reads on their own thread on SQLite (openLongReads).
  const longReads = await openLongReads(options, sequelize);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await closeLongReads(longReads, sequelize);
    await sequelize.close();
  };
  cleanups.push({ name: `${kind} connection`, run: close });
  const sqliteVersion =
    kind === 'sqlite'
      ? `SQLite ${((await sequelize.query('SELECT sqlite_version() AS v', { plain: true })) as { v: string }).v}`
      : version;
  await migrate(sequelize, 'node');
  log(`${sqliteVersion}: migrated; loading ${shape.messages} messages`);
  const text = corpus(SEED);
  let reported = 0;
  const loaded = await loadCorpus(sequelize, shape, text, (done) => {
    if (done - reported >= shape.messages / 10 || done === shape.messages) {
      reported = done;
      log(`${kind}: ${done} messages loaded`);
    }
  });
  log(`${kind}: loaded in ${loaded.seconds.toFixed(0)} s (FULLTEXT build ${loaded.indexSeconds.toFixed(0)} s)`);
  const ctx = searcher(sequelize, longReads);
  const list = queries(SEED, shape.messages);
  const searches = await measureSearches(ctx, list, rounds);
  log(
    `${kind}: ${searches.all.count} searches: p50 ${searches.all.p50.toFixed(1)} ms, p95 ${searches.all.p95.toFixed(1)} ms, max ${searches.all.max.toFixed(0)} ms; main thread held p99 ${searches.held.p99.toFixed(1)} ms, max ${searches.held.max.toFixed(0)} ms`,
  );
  for (const k of searches.byKind)
    log(`  ${k.kind}: p50 ${k.p50.toFixed(1)} ms, max ${k.max.toFixed(0)} ms, ${k.meanHits.toFixed(1)} hits`);
  const scan = await measureScan(ctx, list, scanQueries);
  log(
    `${kind}: scan of ${scan.all.count} queries: p50 ${scan.all.p50.toFixed(0)} ms, p95 ${scan.all.p95.toFixed(0)} ms; same rows as the index: ${scan.same ? 'yes' : `NO (${scan.differing.join(', ')})`}`,
  );
  const upkeep = await measureUpkeep(sequelize, loaded.conversationIds, loaded.lastSeq, text, UPKEEP_MESSAGES);
  log(
    `${kind}: ${upkeep.messages} new messages written (queued) in ${upkeep.writeSeconds.toFixed(1)} s, indexed in ${upkeep.indexSeconds.toFixed(1)} s`,
  );
  await close();
  return { kind, version: sqliteVersion, loaded, searches, scan, upkeep };
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

async function mariadbDatabase(): Promise<{ url: string; version: string }> {
  // As bench:node does and any deployment would: a million messages and their index outgrow the default
  // 128 MiB buffer pool, and a search would then wait for the disk.
  const pool = await sizeBufferPool(BUFFER_POOL_BYTES);
  cleanups.push({ name: 'buffer pool size', run: () => pool.restore() });
  log(
    `MariaDB's InnoDB buffer pool ${mib(pool.used)} for the run (its own setting, ${mib(pool.own)}, is restored afterwards)`,
  );
  const name = `atrium_bench_search_${randomBytes(4).toString('hex')}`;
  const admin = await mysql.createConnection(MARIADB_ADMIN);
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  const [rows] = (await admin.query('SELECT VERSION() AS v')) as unknown as [{ v: string }[]];
  await admin.end();
  cleanups.push({
    name: `database ${name}`,
    run: async () => {
      const c = await mysql.createConnection(MARIADB_ADMIN);
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await c.end();
    },
  });
  return {
    url: `mysql://root@127.0.0.1:3306/${name}`,
    version: `MariaDB ${rows[0]!.v.replace(/-MariaDB.*$/, '')} (buffer pool ${mib(pool.used)})`,
  };
}

main()
  .then(() => cleanups.run())
  .then(() => process.exit(0))
  .catch(async (error: unknown) => {
    console.error(error);
    await cleanups.run();
    process.exit(1);
  });
