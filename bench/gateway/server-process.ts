/**
 * One measured server of `bench:gateway`, in a child process of its own (beside the load and the
 * database): BENCH_KIND=gateway runs the real gateway (the composition root, migrations on) over SQLite
 * in BENCH_DATA_DIR or MariaDB at DATABASE_URL, set up with a unit, a domain node as resource server, a
 * first-party app and BENCH_PEOPLE people with a password; BENCH_KIND=bare runs the bare oidc-provider
 * (bare-provider.ts) with the same client and people, its store in memory; BENCH_KIND=standin runs the
 * same provider over the durable stand-in's store (durable-store.ts), a table of its own in SQLite in
 * BENCH_DATA_DIR or in MariaDB at DATABASE_URL. Reports `ready` with what the load needs; counts database
 * statements and takes CPU profiles on request.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Sequelize } from 'sequelize';
import { createUnit } from '../../gateway/accounts/units.ts';
import { hashPassword } from '../../gateway/accounts/passwords.ts';
import { registerApp } from '../../gateway/apps-registry/register-app.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { operator } from '../../gateway/context.ts';
import { addDomain } from '../../gateway/domains/domains.ts';
import { startGateway, type Gateway } from '../../gateway/main.ts';
import { cpuProfilerCommands } from '../shared/cpu-profiler.ts';
import { serveServerProcess } from '../shared/ipc.ts';
import { memoryAdapter, startBareProvider } from './bare-provider.ts';
import { openDurableStore } from './durable-store.ts';
import type { StatementCounts } from './report.ts';

export type ServerReady = {
  url: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  nodeUrl: string;
  people: string[];
  password: string;
  pid: number;
};

const env = process.env;
const port = Number(env.BENCH_PORT);
const nodeUrl = env.BENCH_NODE_URL!;
const password = env.BENCH_PASSWORD!;
const redirectUri = 'http://127.0.0.1:9/bench-callback';
const people = Array.from({ length: Number(env.BENCH_PEOPLE ?? 64) }, (_, i) => `bench${String(i).padStart(4, '0')}`);
const accessTokenTtlSeconds = 3600;

let counts: StatementCounts = {};
let counting = false;
let stop: () => Promise<void>;
let ready: ServerReady;

if (env.BENCH_KIND === 'bare' || env.BENCH_KIND === 'standin') {
  const clientId = 'bench-client';
  const clientSecret = randomUUID();
  const store =
    env.BENCH_KIND === 'standin'
      ? await openDurableStore(
          env.DATABASE_URL ? { url: env.DATABASE_URL } : { file: join(env.BENCH_DATA_DIR!, 'standin.sqlite') },
          countStatement,
        )
      : undefined;
  const { url, server } = await startBareProvider(
    port,
    { clientId, clientSecret, redirectUri, nodeUrl, people, accessTokenTtlSeconds },
    store?.adapter ?? (await memoryAdapter()),
  );
  stop = async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections());
    await store?.close();
  };
  ready = { url, clientId, clientSecret, redirectUri, nodeUrl, people, password, pid: process.pid };
} else {
  const gateway = await startGateway(
    loadGatewayConfig({
      GATEWAY_PORT: String(port),
      GATEWAY_HOST: '127.0.0.1',
      ATRIUM_ISSUER: `http://127.0.0.1:${port}`,
      ATRIUM_DATA_DIR: env.BENCH_DATA_DIR!,
      ...(env.DATABASE_URL ? { DATABASE_URL: env.DATABASE_URL } : {}),
      LOG_LEVEL: 'warn',
      ACCESS_TOKEN_TTL_SECONDS: String(accessTokenTtlSeconds),
      // The load signs everyone in from one address, many times a second.
      LOGIN_IP_LIMIT: '100000000',
    }),
    { migrate: true },
  );
  const app = await prepare(gateway);
  countStatements(gateway.sequelize);
  let stopping: Promise<void> | undefined;
  stop = () => (stopping ??= gateway.close());
  ready = { url: gateway.issuer, ...app, redirectUri, nodeUrl, people, password, pid: process.pid };
}

/** A unit served by the bench node, a first-party app, and the people (one hash at the project's parameters, shared). */
async function prepare(gateway: Gateway): Promise<{ clientId: string; clientSecret: string }> {
  const ctx = { ...gateway.context(null), actor: operator('bench') };
  await createUnit(ctx, { path: 'bench', name: 'Benchmark unit' });
  await addDomain(ctx, { name: 'bench.test', url: nodeUrl, units: ['bench'] });
  const app = await registerApp(ctx, { name: 'Atrium bench app', redirectUris: [redirectUri], firstParty: true });
  const { User, Membership, OrgUnit } = gateway.models;
  const unit = (await OrgUnit.findOne({ where: { path: 'bench' } }))!;
  const passwordHash = await hashPassword(password);
  const rows = people.map((username) => ({
    id: randomUUID(),
    username,
    email: `${username}@bench.test`,
    displayName: `Bench person ${username}`,
    passwordHash,
    lockedUntil: null,
    lastLoginAt: null,
  }));
  await User.bulkCreate(rows);
  await Membership.bulkCreate(rows.map((p) => ({ userId: p.id, unitId: unit.id, isPrimary: true })));
  return { clientId: app.clientId, clientSecret: app.clientSecret };
}

const PROVIDER_MODELS = new Set([
  'Session',
  'Grant',
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'Client',
  'Interaction',
]);

function countStatement(kind: string): void {
  if (counting) counts[kind] = (counts[kind] ?? 0) + 1;
}

/** Statements by verb and table; those on the provider's store also by the provider's model (its first replacement). */
function countStatements(sequelize: Sequelize): void {
  sequelize.addHook('afterQuery', (options, query) => {
    if (!counting) return;
    const sql = String((query as unknown as { sql?: string }).sql ?? '');
    const verb = /^\s*(\w+)/.exec(sql)?.[1]?.toUpperCase() ?? '?';
    const table = /\b(?:FROM|INTO|UPDATE)\s+[`"]?(\w+)[`"]?/i.exec(sql)?.[1];
    const replacements = (options as { replacements?: unknown }).replacements;
    const model = Array.isArray(replacements) ? replacements.find((r) => PROVIDER_MODELS.has(r as string)) : undefined;
    // A request's writes in one anonymous block on MariaDB (gateway/oidc/mariadb-block.ts).
    if (/^\s*BEGIN NOT ATOMIC/.test(sql)) countStatement('writes in one block');
    else countStatement(table ? `${verb} ${table}${model ? ` (${model})` : ''}` : verb);
  });
}

let cpuAt = process.cpuUsage();
let wallAt = performance.now();
serveServerProcess(
  {
    'count.start'() {
      counts = {};
      counting = true;
    },
    'count.stop'(): StatementCounts {
      counting = false;
      return counts;
    },
    /** CPU of this process (in % of one core) since the previous call. */
    cpu() {
      const used = process.cpuUsage(cpuAt);
      const wall = performance.now() - wallAt;
      cpuAt = process.cpuUsage();
      wallAt = performance.now();
      return { percent: ((used.user + used.system) / 1000 / wall) * 100 };
    },
    ...cpuProfilerCommands(),
  },
  () => stop(),
  ready,
);
