import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { operator } from '../../gateway/context.ts';
import { createUnit } from '../../gateway/accounts/units.ts';
import { addDomain } from '../../gateway/domains/domains.ts';
import { addProxy, allowPair } from '../../gateway/federation/policy.ts';
import type { PublicKeyJwk } from '../../protocol/signature.ts';
import type { Caller } from '../shared/ipc.ts';
import {
  pinNodeBeforeStart,
  spawnGeneratorProcess,
  startBenchGateway,
  startChild,
  type BenchGateway,
  type GeneratorChild,
} from '../shared/setup.ts';

const here = import.meta.dirname;

/**
 * The real gateway (SQLite in the run's temp folder) with the two bench domains, each serving a unit of
 * its own, and a first-party client for the tokens (bench/shared/setup.ts makes the first domain).
 */
export async function startFederationGateway(
  dataDir: string,
  domains: { name: string; url: string; unit: string }[],
): Promise<BenchGateway> {
  const [first, ...rest] = domains;
  const bench = await startBenchGateway(dataDir, first!.name, first!.url);
  const ctx = adminOf(bench);
  for (const d of rest) {
    await createUnit(ctx, { path: d.unit, name: `Benchmark unit ${d.unit}` });
    await addDomain(ctx, { name: d.name, url: d.url, units: [d.unit] });
  }
  return bench;
}

const adminOf = (bench: BenchGateway) => ({ ...bench.gateway.context(null), actor: operator('bench') });

/** Registers the proxy's public key at the gateway, as `atrium proxies add NAME --key JWK` does. */
export async function registerProxy(bench: BenchGateway, name: string, publicJwk: PublicKeyJwk): Promise<void> {
  await addProxy(adminOf(bench), { name, publicJwk });
}

/**
 * Pins two nodes' keys before they start (given their environments), from the documents their databases
 * give (pinNodeBeforeStart), and allows the pair (as `atrium domains allow DOMAIN OTHER_DOMAIN`): the nodes' first
 * requests to the gateway are accepted, and the registry they cache from the first has the pair.
 */
export async function federate(
  bench: BenchGateway,
  a: Record<string, string>,
  b: Record<string, string>,
): Promise<void> {
  await pinNodeBeforeStart(bench, a);
  await pinNodeBeforeStart(bench, b);
  await allowPair(adminOf(bench), { a: a.NODE_DOMAIN!, b: b.NODE_DOMAIN! });
}

export type ProxyChild = {
  child: ChildProcess;
  call: Caller;
  url: string;
  publicKey: PublicKeyJwk;
  pid: number;
  logFile: string;
};

/** The federation proxy as a child process of its own; resolves once it listens. */
export function spawnProxy(env: Record<string, string>, logFile: string): Promise<ProxyChild> {
  return startChild<{ url: string; publicKey: PublicKeyJwk; pid: number }>(join(here, 'proxy-process.ts'), 'proxy', {
    env,
    logFile,
    startMs: 30_000,
  });
}

/** One of this bench's load generators (bench/federation/generator.ts). */
export function spawnFederationGenerator(index: number, localAddress: string): GeneratorChild {
  return spawnGeneratorProcess(join(here, 'generator.ts'), index, localAddress);
}

/** Read-only queries on a node's database, for counts the benchmark checks (never written to). */
export async function openReader(url: string) {
  // Sequelize stores DATETIMEs in UTC; read them as such.
  const conn = await mysql.createConnection({
    uri: url,
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: false,
  });
  const one = async <T>(sql: string, params: unknown[] = []): Promise<T> => {
    const [rows] = await conn.query(sql, params);
    return (rows as T[])[0]!;
  };
  return {
    async count(sql: string, params: unknown[] = []): Promise<number> {
      return Number((await one<{ n: number | string }>(sql, params)).n);
    },
    one,
    close: () => conn.end(),
  };
}
export type Reader = Awaited<ReturnType<typeof openReader>>;
