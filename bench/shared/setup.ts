import { randomUUID } from 'node:crypto';
import { usernameOf } from './tokens.ts';
/**
 * What both benchmarks set up the same way: free ports, a MariaDB database per run, the real gateway with
 * the bench domain and a first-party client, and their child processes (the domain node, the generators).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { JWK } from 'jose';
import mysql from 'mysql2/promise';
import { registerApp } from '../../gateway/apps-registry/register-app.ts';
import { operator } from '../../gateway/context.ts';
import { createUnit } from '../../gateway/accounts/units.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { addDomain } from '../../gateway/domains/domains.ts';
import { startGateway, type Gateway } from '../../gateway/main.ts';
import { loadPrivateJwks } from '../../gateway/oidc/keys.ts';
import { pinKeysBeforeStart, prepareNode } from '../../cli/node-before-start.ts';
import { loadNodeConfig } from '../../node/config.ts';
import { ipcCaller, type Caller } from './ipc.ts';

const here = import.meta.dirname;
export const MARIADB_ADMIN_URL = 'mysql://root@127.0.0.1:3306/';

/** A port free on 127.0.0.1 now, so the node keeps one URL (the tokens' audience) across restarts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export type BenchGateway = { gateway: Gateway; clientId: string; signingKey: JWK };

/** The real gateway on SQLite in the run's temp folder: a unit, the bench domain at the node's URL, a first-party app. */
export async function startBenchGateway(dataDir: string, domain: string, nodeUrl: string): Promise<BenchGateway> {
  const port = await freePort();
  const config = loadGatewayConfig({
    GATEWAY_PORT: String(port),
    GATEWAY_HOST: '127.0.0.1',
    ATRIUM_ISSUER: `http://127.0.0.1:${port}`,
    ATRIUM_DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
  });
  const gateway = await startGateway(config, { migrate: true });
  const ctx = { ...gateway.context(null), actor: operator('bench') };
  await createUnit(ctx, { path: 'bench', name: 'Benchmark unit' });
  await addDomain(ctx, { name: domain, url: nodeUrl, units: ['bench'] });
  const app = await registerApp(ctx, {
    name: 'Atrium bench client',
    redirectUris: ['http://localhost:9/bench-cb'],
    firstParty: true,
  });
  const [signingKey] = await loadPrivateJwks(gateway.models, gateway.sealer);
  if (!signingKey) throw new Error('the gateway has no active signing key');
  return { gateway, clientId: app.clientId, signingKey };
}

/**
 * The bench's people (u00001…, as bench/shared/tokens.ts names them) as accounts of a unit, so that a
 * node's address check at the gateway finds them, as it finds a campus's people. Written a thousand at a time.
 */
export async function addBenchPeople(bench: BenchGateway, unitPath: string, indexes: number[]): Promise<void> {
  const { User, Membership, OrgUnit } = bench.gateway.models;
  const unit = await OrgUnit.findOne({ where: { path: unitPath } });
  if (!unit) throw new Error(`no unit ${unitPath} at the bench gateway`);
  for (let i = 0; i < indexes.length; i += 1000) {
    const people = indexes.slice(i, i + 1000).map((index) => {
      const username = usernameOf(index);
      return {
        id: randomUUID(),
        username,
        email: `${username}@bench.test`,
        displayName: `Bench person ${index}`,
        passwordHash: null,
        lockedUntil: null,
        lastLoginAt: null,
      };
    });
    await User.bulkCreate(people);
    await Membership.bulkCreate(people.map((p) => ({ userId: p.id, unitId: unit.id, isPrimary: true })));
  }
}

export type BenchDatabase = { name: string; url: string; version: string; drop(): Promise<void> };

export async function createDatabase(): Promise<BenchDatabase> {
  const name = `atrium_bench_${randomBytes(4).toString('hex')}`;
  const admin = await mysql.createConnection(MARIADB_ADMIN_URL);
  const [rows] = await admin.query('SELECT VERSION() AS v');
  const version = String((rows as { v: string }[])[0]?.v ?? '?');
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await admin.end();
  let dropped = false;
  return {
    name,
    url: `${MARIADB_ADMIN_URL}${name}`,
    version,
    async drop() {
      if (dropped) return;
      dropped = true;
      const conn = await mysql.createConnection(MARIADB_ADMIN_URL);
      await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await conn.end();
    },
  };
}

export type NodeChild = {
  child: ChildProcess;
  call: Caller;
  url: string;
  localUrl: string;
  pid: number;
  logFile: string;
};

/**
 * Forks a benchmark child (`file`, its logs appended to `logFile`) and resolves once it reports
 * `{ event: 'ready', … }` over IPC; rejects if it exits first or takes longer than `startMs`.
 */
export async function startChild<R extends object>(
  file: string,
  name: string,
  options: { env: Record<string, string>; logFile: string; execArgv?: string[]; startMs: number },
): Promise<{ child: ChildProcess; call: Caller; logFile: string } & R> {
  const { logFile } = options;
  const log = openSync(logFile, 'a');
  const child = fork(file, [], {
    execPath: process.execPath,
    execArgv: options.execArgv ?? [],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
    stdio: ['ignore', log, log, 'ipc'],
  });
  closeSync(log);
  const call = ipcCaller(child, name);
  const ready = await new Promise<R>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the ${name} did not start within ${options.startMs / 1000} s; see ${logFile}`)),
      options.startMs,
    );
    child.on('message', (m: R & { event?: string }) => {
      if (m.event !== 'ready') return;
      clearTimeout(timer);
      resolve(m);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the ${name} exited with ${code} while starting:\n${tail(logFile)}`));
    });
  });
  return { child, call, ...ready, logFile };
}

/** A bench node's environment: listening on 127.0.0.1 at `port`, its database at `databaseUrl`, warnings and worse logged. */
export function benchNodeEnv(node: {
  domain: string;
  port: number;
  issuer: string;
  databaseUrl: string;
  dataDir: string;
}): Record<string, string> {
  return {
    NODE_DOMAIN: node.domain,
    NODE_PORT: String(node.port),
    NODE_HOST: '127.0.0.1',
    NODE_PUBLIC_URL: `http://127.0.0.1:${node.port}`,
    GATEWAY_ISSUER: node.issuer,
    DATABASE_URL: node.databaseUrl,
    ATRIUM_DATA_DIR: node.dataDir,
    LOG_LEVEL: 'warn',
  };
}

/**
 * Migrates a node's database and pins its keys at the gateway before the node starts, as the demo does
 * (its first key created as the node would at its first start): the node's first requests to the gateway
 * (ended sessions, the registry) are then accepted, not refused with a warning in its log.
 */
export async function pinNodeBeforeStart(bench: BenchGateway, env: Record<string, string>): Promise<void> {
  const { keys } = await prepareNode(loadNodeConfig(env));
  await pinKeysBeforeStart({ ...bench.gateway.context(null), actor: operator('bench') }, [keys]);
}

/** The domain node as a child process of its own, as in production; resolves once it listens. */
export function spawnNode(env: Record<string, string>, logFile: string): Promise<NodeChild> {
  return startChild<{ url: string; localUrl: string; pid: number }>(join(here, 'node-process.ts'), 'node', {
    env,
    logFile,
    execArgv: ['--expose-gc'],
    startMs: 60_000,
  });
}

export type GeneratorChild = { child: ChildProcess; call: Caller; localAddress: string };

/** A load generator (`file`, each bench has its own) as a child process, sending from `localAddress`. */
export function spawnGeneratorProcess(file: string, index: number, localAddress: string): GeneratorChild {
  const child = fork(file, [], {
    execPath: process.execPath,
    execArgv: [],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return { child, call: ipcCaller(child, `generator ${index}`), localAddress };
}

export function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Whether MariaDB answers at `url` (a benchmark skips its MariaDB half, and says so, where not). */
export async function mariadbAnswers(url: string): Promise<boolean> {
  try {
    const c = await mysql.createConnection(url);
    await c.end();
    return true;
  } catch {
    return false;
  }
}
