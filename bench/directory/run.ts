/**
 * `npm run bench:directory`: a campus directory of 20,000 people synced into a fresh gateway database,
 * against the target (20,000 people within a minute, memory flat). A private slapd of its own
 * (loaded offline with `slapadd -q`, with Active Directory's 1,000-entry page limit on the service
 * account) on 127.0.0.1; the sync runs in this process, as `atrium directories sync` does, on SQLite and,
 * when it answers on 127.0.0.1:3306, on MariaDB; then a second sync that finds nothing to change. RSS is
 * sampled every 100 ms and at every page. Prints the figures and writes the "Directory sync" section of
 * BENCHMARKS.md. Stops by itself, and removes slapd, its folder and the databases on any way out.
 *
 *   npm run bench:directory                       the full run (about a minute or two)
 *   options: --people=N (default 20000), --sqlite-only, --no-write, --out=<file>
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import mysql from 'mysql2/promise';
import { openDatabase } from '../../core/database.ts';
import { migrate } from '../../core/migrator.ts';
import { createSealer } from '../../core/seal.ts';
import { createUnit } from '../../gateway/accounts/units.ts';
import { startPrivateSlapd, slapdInstalled, SLAPD_INSTALL_HINT } from '../../cli/private-slapd.ts';
import { operator, type GatewayContext } from '../../gateway/context.ts';
import { registerDirectory } from '../../gateway/directories/register-directory.ts';
import { syncDirectory } from '../../gateway/directories/sync-directory.ts';
import type { SyncReport } from '../../gateway/directories/sync-report.ts';
import { defineGatewayModels } from '../../gateway/models/index.ts';
import { describeMachine, loadAverage } from '../shared/machine.ts';
import { describeCalibration } from '../shared/calibration.ts';
import { gitOutput, installCleanups, timestampLog } from '../shared/orchestrator.ts';
import { ADMINS_GROUP, benchLdif, PEOPLE, SERVICE_DN, STAFF_GROUP, type Shape } from './ldif.ts';
import { renderSection, type DatabaseRun, type Run, type SyncRun } from './report.ts';
import { publishSection } from '../shared/benchmarks-file.ts';
import { mariadbAnswers } from '../shared/setup.ts';
import { sqliteVersion } from '../../core/sqlite-driver.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const args = process.argv.slice(2);
const option = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const shape: Shape = { people: Number(option('people') ?? 20_000), colleges: 20, departmentsPerCollege: 15 };
const MARIADB_ADMIN = 'mysql://root@127.0.0.1:3306/mysql';

const started = performance.now();
const log = timestampLog(started);
const cleanups = installCleanups(10 * 60_000, 'stopping slapd and dropping the benchmark databases');

async function main(): Promise<void> {
  if (!slapdInstalled()) throw new Error(`slapd is not installed; ${SLAPD_INSTALL_HINT}`);
  const machine = await describeMachine();
  log(
    `Atrium directory sync benchmark: ${shape.people} people; ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.cpuModel}, Node ${machine.node}; ${describeCalibration(machine.calibration)}; load ${loadAverage()}`,
  );

  const servicePassword = randomBytes(18).toString('base64url');
  const { ldif, ous } = benchLdif(shape, servicePassword, 'bench-person-password');
  const loadStarted = performance.now();
  const slapd = await startPrivateSlapd({
    suffix: 'dc=bench,dc=campus,dc=test',
    rootPassword: randomBytes(18).toString('base64url'),
    ldif,
    databaseLines: [
      `limits dn.exact="${SERVICE_DN}" size.soft=1000 size.hard=1000 size.pr=1000 size.prtotal=unlimited`,
    ],
  });
  cleanups.push({ name: 'slapd', run: () => slapd.stop() });
  const slapaddSeconds = (performance.now() - loadStarted) / 1000;
  log(
    `slapd on ${slapd.url}: ${shape.people} people and ${ous} OUs loaded with slapadd -q and started in ${slapaddSeconds.toFixed(1)} s`,
  );

  const databases: DatabaseRun[] = [{ ...(await runOn('sqlite', slapd.url, servicePassword)) }];
  if (!args.includes('--sqlite-only')) {
    if (await mariadbAnswers(MARIADB_ADMIN)) databases.push(await runOn('mariadb', slapd.url, servicePassword));
    else log('MariaDB does not answer on 127.0.0.1:3306: SQLite only');
  }

  const run: Run = {
    date: new Date(),
    commit: gitOutput(root, ['rev-parse', '--short', 'HEAD']),
    seconds: (performance.now() - started) / 1000,
    machine,
    load: loadAverage(),
    shape,
    ous,
    slapaddSeconds,
    slapd:
      (await import('node:child_process'))
        .execFileSync('/usr/sbin/slapd', ['-VV'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
        .split('\n')[0] || 'slapd',
    databases,
  };
  publishSection('Directory sync', renderSection(run), {
    write: !args.includes('--no-write'),
    file: option('out') ?? join(root, 'BENCHMARKS.md'),
    log,
  });
}

/** A fresh gateway database of one kind: migrated, with the unit root, the directory registered; synced twice. */
async function runOn(kind: 'sqlite' | 'mariadb', url: string, servicePassword: string): Promise<DatabaseRun> {
  let databaseUrl: string | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'atrium-bench-directory-'));
  cleanups.push({ name: `${kind} data folder`, run: () => rmSync(dataDir, { recursive: true, force: true }) });
  let version = `SQLite ${sqliteVersion()}`;
  if (kind === 'mariadb') {
    const name = `atrium_bench_dir_${randomBytes(4).toString('hex')}`;
    const admin = await mysql.createConnection(MARIADB_ADMIN);
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    const [rows] = (await admin.query('SELECT VERSION() AS v')) as unknown as [{ v: string }[]];
    version = `MariaDB ${rows[0]!.v}`;
    await admin.end();
    cleanups.push({
      name: `database ${name}`,
      run: async () => {
        const c = await mysql.createConnection(MARIADB_ADMIN);
        await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
        await c.end();
      },
    });
    databaseUrl = `mysql://root@127.0.0.1:3306/${name}`;
  }
  const sequelize = await openDatabase({ url: databaseUrl, sqliteFile: join(dataDir, 'gateway.sqlite') });
  let closed = false;
  const close = async () => {
    if (!closed) await sequelize.close();
    closed = true;
  };
  cleanups.push({ name: `${kind} connection`, run: close });
  await migrate(sequelize, 'gateway');
  const models = defineGatewayModels(sequelize);
  const ctx: GatewayContext = { sequelize, models, actor: operator('bench'), ip: null };
  const sealer = createSealer(randomBytes(32).toString('base64url'), 'directory-bind-passwords');
  await createUnit(ctx, { path: 'campus', name: 'Benchmark University' });
  await registerDirectory(ctx, sealer, {
    name: 'bench',
    url,
    startTls: 'no',
    bindDn: SERVICE_DN,
    bindPassword: servicePassword,
    userBase: PEOPLE,
    unitRoot: 'campus',
    roleGroups: [`staff=${STAFF_GROUP}`, `admin=${ADMINS_GROUP}`],
    resetUrl: 'https://password.bench.campus.test/',
  });
  log(`${version}: fresh gateway database migrated; full sync of ${shape.people} people`);
  const full = await measuredSync(ctx, sealer, 'full');
  log(`${kind}: ${describe(full)}`);
  const again = await measuredSync(ctx, sealer, 'no change');
  log(`${kind}: ${describe(again)}`);
  const [people, units, links] = await Promise.all([
    models.User.count(),
    models.OrgUnit.count(),
    models.DirectoryAccount.count(),
  ]);
  await close();
  return { kind, version, full, again, people, units, links };
}

function describe(s: SyncRun): string {
  const r = s.report;
  return `${s.label} sync ${r.outcome} in ${(r.durationMs / 1000).toFixed(1)} s (${Math.round(r.entries / (r.durationMs / 1000))} entries/s): ${r.added} added, ${r.updated} updated, ${r.unchanged} unchanged, ${r.refused} refused; RSS ${mib(s.baselineRss)} → peak ${mib(s.peakRss)}`;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

const gc = (globalThis as { gc?: () => void }).gc;

/**
 * One sync, with this process's RSS and heap sampled every 100 ms and at every page; when a quarter,
 * half, three quarters and all of the entries are read, a full GC first (node --expose-gc), so that
 * what is left on the heap is what the sync holds, not garbage not yet collected.
 */
async function measuredSync(
  ctx: GatewayContext,
  sealer: ReturnType<typeof createSealer>,
  label: string,
): Promise<SyncRun> {
  const samples: SyncRun['samples'] = [];
  const live: SyncRun['live'] = [];
  let entries = 0;
  let quarter = 1;
  const sample = () => {
    const m = process.memoryUsage();
    samples.push({ ms: performance.now() - t0, entries, rss: m.rss, heapUsed: m.heapUsed });
  };
  const t0 = performance.now();
  const baselineRss = process.memoryUsage().rss;
  const timer = setInterval(sample, 100);
  let report: SyncReport;
  try {
    report = await syncDirectory(
      ctx,
      {
        sealer,
        onProgress: (p) => {
          entries = p.entries;
          sample();
          if (gc && p.phase === 'reading' && entries >= (quarter * shape.people) / 4) {
            gc();
            live.push({ entries, heapUsed: process.memoryUsage().heapUsed, rss: process.memoryUsage().rss });
            quarter += 1;
          }
        },
      },
      'bench',
    );
  } finally {
    clearInterval(timer);
  }
  sample();
  if (report.outcome !== 'success') throw new Error(`the ${label} sync failed: ${report.error}`);
  return { label, report, baselineRss, peakRss: Math.max(...samples.map((s) => s.rss)), samples, live };
}

main()
  .then(() => cleanups.run())
  .then(() => process.exit(0))
  .catch(async (error: unknown) => {
    console.error(error);
    await cleanups.run();
    process.exit(1);
  });
