/**
 * `npm run bench:gateway`: the gateway's sign-in paths against a bare oidc-provider (in-memory storage,
 * the same settings: bare-provider.ts), in one run. Each server runs alone in a child process
 * (server-process.ts): the bare provider; then on SQLite (a temp folder) and on MariaDB (a database of
 * its own), the durable stand-in (the bare provider over durable-store.ts: one table, one plain statement
 * per adapter call, the least any persisting provider does, so the machine's ceiling for one) and the
 * real gateway. The load runs in this process over keep-alive HTTP (load.ts): every person signs in
 * (with a password on the gateway), then closed loops of refresh grants with a resource indicator and
 * of silent sign-ins (prompt=none → code → token) at each concurrency. Prints the figures and writes the
 * "Gateway" section of BENCHMARKS.md; stops by itself and removes its databases and folders on any way out.
 *
 *   npm run bench:gateway                        the full run (about 10 minutes)
 *   npm run bench:gateway -- --smoke --no-write  5-second steps at one concurrency (about 2 minutes)
 *   options: --seconds=N, --concurrency=8,32, --people=N, --out=<file>,
 *            --only=bare,standin-sqlite,sqlite,standin-mariadb,mariadb (any of them; all by default),
 *            --profile (the gateway's refresh grants) or --profile=silent (its silent sign-ins)
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { hash, verify } from '@node-rs/argon2';
import { PASSWORD_HASHING } from '../../gateway/accounts/passwords.ts';
import { publishSection } from '../shared/benchmarks-file.ts';
import { Histogram } from '../shared/histogram.ts';
import { describeCalibration } from '../shared/calibration.ts';
import { describeMachine, findMariadbPid, loadAverage, processCpuSeconds } from '../shared/machine.ts';
import { gitOutput, installCleanups, stopChild, timestampLog } from '../shared/orchestrator.ts';
import { summariseProfile, type ActivityRule } from '../shared/profile-summary.ts';
import { createDatabase, freePort, startChild } from '../shared/setup.ts';
import { databaseOf, isGateway, isStandin, SERVER_KINDS, type ServerKind } from './ceiling.ts';
import { closedLoop, createAgent, refresh, signIn, silentSignIn, type LoopResult, type Person } from './load.ts';
import {
  renderSection,
  statementTotal,
  type Argon2Figures,
  type Run,
  type ServerRun,
  type StatementCounts,
  type Step,
} from './report.ts';
import type { ServerReady } from './server-process.ts';
import { sqliteVersion } from '../../core/sqlite-driver.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const here = import.meta.dirname;
const args = process.argv.slice(2);
const option = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const smoke = args.includes('--smoke');
const seconds = Number(option('seconds') ?? (smoke ? 5 : 15));
const concurrencies = (option('concurrency') ?? (smoke ? '16' : '4,16,48')).split(',').map(Number);
const people = Number(option('people') ?? Math.max(64, ...concurrencies));
const only = option('only')?.split(',') ?? [...SERVER_KINDS];
const unknown = only.filter((kind) => !(SERVER_KINDS as readonly string[]).includes(kind));
if (unknown.length > 0) throw new Error(`--only: no server ${unknown.join(', ')} (${SERVER_KINDS.join(', ')})`);
const profiled = args.includes('--profile') ? 'refresh' : option('profile') === 'silent' ? 'silent' : null;
const PASSWORD = 'bench-password-correct-horse';

const started = performance.now();
const log = timestampLog(started);
const cleanups = installCleanups(20 * 60_000, 'stopping the servers and dropping the benchmark databases');
const ACTIVITIES: ActivityRule[] = [
  {
    name: 'database: Sequelize, mysql2, node:sqlite',
    test: (f) =>
      /node_modules\/(sequelize|mysql2|lru\.min|sqlstring|denque|wkx|dottie|inflection)\//.test(f.url) ||
      /\/core\/sqlite-driver\.ts$/.test(f.url),
  },
  {
    name: 'signing and crypto (jose, node:crypto)',
    test: (f) => /node_modules\/jose\//.test(f.url) || /^node:(internal\/)?crypto/.test(f.url),
  },
  {
    name: 'oidc-provider and Koa',
    test: (f) =>
      /node_modules\/(oidc-provider|koa|@koa|koa-compose|quick-lru|jsesc|raw-body|cookies|keygrip)\//.test(f.url),
  },
  {
    name: 'Express and the gateway’s middleware',
    test: (f) => /node_modules\/(express|router|body-parser|cookie-parser|prom-client|send|serve-static)\//.test(f.url),
  },
  { name: 'the gateway’s own code', test: (f) => f.url.includes('/gateway/') && !f.url.includes('node_modules') },
];

async function main(): Promise<void> {
  const machine = await describeMachine();
  log(
    `Atrium gateway benchmark: ${seconds}-s steps at concurrency ${concurrencies.join(', ')}, ${people} people; ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.cpuModel}, Node ${machine.node}; ${describeCalibration(machine.calibration)}; load ${loadAverage()}`,
  );
  const argon2 = await measureArgon2();
  log(
    `argon2id m=${PASSWORD_HASHING.memoryCost} KiB t=${PASSWORD_HASHING.timeCost} p=${PASSWORD_HASHING.parallelism}: ${argon2.oneAtATimePerSecond.toFixed(0)} verifications/s one at a time, ${argon2.twoAtATimePerSecond.toFixed(0)}/s two at a time`,
  );
  const servers: ServerRun[] = [];
  for (const kind of SERVER_KINDS) {
    if (only.includes(kind)) servers.push(await runServer(kind));
  }
  const run: Run = {
    date: new Date(),
    commit: gitOutput(root, ['rev-parse', '--short', 'HEAD']),
    seconds: (performance.now() - started) / 1000,
    stepSeconds: seconds,
    concurrencies,
    people,
    machine,
    load: loadAverage(),
    argon2,
    servers,
  };
  publishSection('Gateway', renderSection(run), {
    write: !args.includes('--no-write'),
    file: option('out') ?? join(root, 'BENCHMARKS.md'),
    log,
  });
}

/** The password check alone, at the project's parameters: one at a time, and two at once (two cores). */
async function measureArgon2(): Promise<Argon2Figures> {
  const stored = await hash(PASSWORD, PASSWORD_HASHING);
  const rate = async (parallel: number) => {
    const t0 = performance.now();
    let done = 0;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (performance.now() - t0 < 2000) {
          await verify(stored, PASSWORD);
          done += 1;
        }
      }),
    );
    return done / ((performance.now() - t0) / 1000);
  };
  return { oneAtATimePerSecond: await rate(1), twoAtATimePerSecond: await rate(2) };
}

async function runServer(kind: ServerKind): Promise<ServerRun> {
  const dataDir = mkdtempSync(join(tmpdir(), `atrium-bench-gateway-${kind}-`));
  cleanups.push({ name: `${kind} data folder`, run: () => rmSync(dataDir, { recursive: true, force: true }) });
  const env: Record<string, string> = {
    BENCH_KIND: kind === 'bare' ? 'bare' : isStandin(kind) ? 'standin' : 'gateway',
    BENCH_PORT: String(await freePort()),
    BENCH_NODE_URL: `http://127.0.0.1:${await freePort()}`,
    BENCH_DATA_DIR: dataDir,
    BENCH_PEOPLE: String(people),
    BENCH_PASSWORD: PASSWORD,
  };
  let version = kind === 'bare' ? 'in memory' : `SQLite ${sqliteVersion()}`;
  if (databaseOf(kind) === 'mariadb') {
    const db = await createDatabase();
    cleanups.push({ name: `database ${db.name}`, run: () => db.drop() });
    env.DATABASE_URL = db.url;
    version = `MariaDB ${db.version}`;
  }
  const logFile = join(dataDir, 'server.log');
  const server = await startChild<ServerReady>(join(here, 'server-process.ts'), `${kind} server`, {
    env,
    logFile,
    startMs: 120_000,
  });
  const stop = () => stopChild(server, 'shutdown', 15_000);
  cleanups.push({ name: `${kind} server`, run: stop });
  const label =
    kind === 'bare' ? 'bare oidc-provider' : `${isStandin(kind) ? 'durable stand-in' : 'gateway'} on ${version}`;
  log(`${label}: listening on ${server.url}`);

  const agent = createAgent(Math.max(...concurrencies));
  const measure = async (flow: string, c: number, loop: () => Promise<LoopResult>): Promise<Step> => {
    const mariadb = databaseOf(kind) === 'mariadb' ? findMariadbPid() : null;
    const dbCpu0 = mariadb ? processCpuSeconds(mariadb) : null;
    const load0 = process.cpuUsage();
    await server.call('cpu');
    if (kind !== 'bare') await server.call('count.start');
    const result = await loop();
    const statements = kind !== 'bare' ? await server.call<StatementCounts>('count.stop') : undefined;
    const serverCpu = (await server.call<{ percent: number }>('cpu')).percent;
    const wall = result.seconds + 1;
    const loadUsed = process.cpuUsage(load0);
    const step: Step = {
      flow,
      concurrency: c,
      result,
      serverCpu,
      loadCpu: ((loadUsed.user + loadUsed.system) / 1e6 / wall) * 100,
      databaseCpu:
        mariadb && dbCpu0 !== null ? (((processCpuSeconds(mariadb) ?? dbCpu0) - dbCpu0) / wall) * 100 : undefined,
      statements,
    };
    log(`${label}: ${describeStep(step)}`);
    return step;
  };

  // Every person signs in with their password; the sessions and refresh tokens are the later steps' people.
  const signedIn: Person[] = [];
  const signIns = await timedSignIns(agent, server, signedIn);
  log(`${label}: ${people} password sign-ins, 4 at a time: ${signIns.perSecond.toFixed(1)}/s`);

  const steps: Step[] = [];
  for (const c of concurrencies) {
    steps.push(await measure('refresh', c, () => closedLoop(signedIn, c, seconds, (p) => refresh(agent, server, p))));
  }
  for (const c of concurrencies) {
    steps.push(
      await measure('silent', c, () => closedLoop(signedIn, c, seconds, (p) => silentSignIn(agent, server, p))),
    );
  }
  let profile: ServerRun['profile'];
  if (profiled && isGateway(kind)) {
    mkdirSync(join(root, 'bench/results'), { recursive: true });
    const file = join(root, `bench/results/gateway-${kind}-${profiled}.cpuprofile`);
    const c = Math.max(...concurrencies);
    const flow = profiled === 'silent' ? silentSignIn : refresh;
    await server.call('profile.start');
    await closedLoop(signedIn, c, Math.min(seconds, 10), (p) => flow(agent, server, p));
    await server.call('profile.stop', { file });
    profile = { flow: profiled, file, summary: summariseProfile(file, root, 25, ACTIVITIES) };
    log(
      `${label}: profile of ${profiled === 'silent' ? 'silent sign-ins' : 'refresh grants'} at concurrency ${c} in ${file}`,
    );
  }
  agent.destroy();
  await stop();
  return { kind, label, version, signIns, steps, profile };
}

/** Everyone signs in once through the login form (a fresh browser each), four at a time; timed as a whole. */
async function timedSignIns(agent: ReturnType<typeof createAgent>, server: ServerReady, into: Person[]) {
  const queue = [...server.people];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let username = queue.shift(); username; username = queue.shift()) {
        into.push(await signIn(agent, server, username));
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  return { count: into.length, seconds: s, perSecond: into.length / s };
}

function describeStep(s: Step): string {
  const r = s.result;
  const perOp = s.statements
    ? `; ${(statementTotal(s.statements) / Math.max(1, r.allOps)).toFixed(1)} statements each`
    : '';
  return `${s.flow} ×${s.concurrency}: ${(r.ops / r.seconds).toFixed(0)}/s, p50 ${pct(r, 0.5)} ms, p99 ${pct(r, 0.99)} ms, ${r.errors} errors${r.firstError ? ` (${r.firstError})` : ''}; server CPU ${s.serverCpu.toFixed(0)}%, load ${s.loadCpu.toFixed(0)}%${s.databaseCpu !== undefined ? `, MariaDB ${s.databaseCpu.toFixed(0)}%` : ''}${perOp}`;
}

const pct = (r: LoopResult, q: number) => Histogram.from([r.latency]).percentile(q).toFixed(1);

main()
  .then(() => cleanups.run())
  .then(() => process.exit(0))
  .catch(async (error: unknown) => {
    console.error(error);
    await cleanups.run();
    process.exit(1);
  });
