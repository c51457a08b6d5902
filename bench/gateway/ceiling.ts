/**
 * The arithmetic of `bench:gateway`'s machine ceiling: a flow's best rate on each server, the gateway's
 * best as a share of the durable stand-in's on the same database (the most any provider that persists
 * its artefacts shows on this machine), the stand-in's own as a share of the bare provider's, and the CPU
 * the whole machine spends per operation.
 */
import type { ServerRun, Step } from './report.ts';

/** In the order they run: each database's stand-in just before its gateway, so both see the same machine. */
export const SERVER_KINDS = ['bare', 'standin-sqlite', 'sqlite', 'standin-mariadb', 'mariadb'] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];
export type Database = 'sqlite' | 'mariadb';

export const databaseOf = (kind: ServerKind): Database | null =>
  kind === 'bare' ? null : kind.endsWith('mariadb') ? 'mariadb' : 'sqlite';
export const isStandin = (kind: ServerKind) => kind.startsWith('standin-');
export const isGateway = (kind: ServerKind) => kind === 'sqlite' || kind === 'mariadb';

export const rate = (s: Step) => s.result.ops / s.result.seconds;

/** The step of `flow` with the highest rate. */
export function bestStep(server: ServerRun | undefined, flow: string): Step | undefined {
  const steps = server?.steps.filter((s) => s.flow === flow) ?? [];
  return steps.reduce<Step | undefined>((a, s) => (a && rate(a) >= rate(s) ? a : s), undefined);
}

/** A flow's best rate on a server; NaN when the server did not run, so any ratio to it is no figure. */
export const best = (server: ServerRun | undefined, flow: string) => {
  const step = bestStep(server, flow);
  return step ? rate(step) : Number.NaN;
};

/** CPU in ms per operation during a step: the server, the load and MariaDB (each in % of one core). */
export function cpuPerOperation(s: Step): { server: number; load: number; database: number; machine: number } {
  const perOp = (percent: number) => (percent / 100) * (1000 / rate(s));
  const server = perOp(s.serverCpu);
  const load = perOp(s.loadCpu);
  const database = perOp(s.databaseCpu ?? 0);
  return { server, load, database, machine: server + load + database };
}

export type Ceiling = {
  flow: string;
  database: Database;
  /** Best rates per second; NaN where that server did not run. */
  gateway: number;
  standin: number;
  bare: number;
  /** The gateway's best over the stand-in's; the stand-in's over the bare provider's. */
  gatewayOfStandin: number;
  standinOfBare: number;
  /** The same two by the machine's CPU per operation at the best steps (the rates that CPU allows). */
  gatewayOfStandinByCpu: number;
  standinOfBareByCpu: number;
};

/** The machine's CPU per operation at a server's best step of `flow`; NaN when it did not run. */
const machineCpu = (server: ServerRun | undefined, flow: string) => {
  const step = bestStep(server, flow);
  return step ? cpuPerOperation(step).machine : Number.NaN;
};

/** For each database whose stand-in or gateway ran, and each flow: the rates and their ratios. */
export function ceilings(servers: ServerRun[], flows: string[]): Ceiling[] {
  const byKind = (kind: ServerKind) => servers.find((s) => s.kind === kind);
  const out: Ceiling[] = [];
  for (const database of ['sqlite', 'mariadb'] as const) {
    const gateway = byKind(database);
    const standin = byKind(`standin-${database}`);
    if (!gateway && !standin) continue;
    for (const flow of flows) {
      const bare = byKind('bare');
      const rates = { gateway: best(gateway, flow), standin: best(standin, flow), bare: best(bare, flow) };
      out.push({
        flow,
        database,
        ...rates,
        gatewayOfStandin: rates.gateway / rates.standin,
        standinOfBare: rates.standin / rates.bare,
        gatewayOfStandinByCpu: machineCpu(standin, flow) / machineCpu(gateway, flow),
        standinOfBareByCpu: machineCpu(bare, flow) / machineCpu(standin, flow),
      });
    }
  }
  return out;
}
