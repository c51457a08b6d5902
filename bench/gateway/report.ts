import { PASSWORD_HASHING } from '../../gateway/accounts/passwords.ts';
import { describeCalibration } from '../shared/calibration.ts';
import { Histogram } from '../shared/histogram.ts';
import type { Machine } from '../shared/machine.ts';
import type { ProfileSummary } from '../shared/profile-summary.ts';
import {
  best,
  bestStep,
  ceilings,
  cpuPerOperation,
  databaseOf,
  isGateway,
  rate,
  type Ceiling,
  type Database,
  type ServerKind,
} from './ceiling.ts';
import type { LoopResult } from './load.ts';

/** Statements by verb and table while counting was on (on the provider's store, with the provider's model). */
export type StatementCounts = Record<string, number>;

export const statementTotal = (counts: StatementCounts) => Object.values(counts).reduce((a, b) => a + b, 0);

export type Step = {
  flow: 'refresh' | 'silent' | string;
  concurrency: number;
  result: LoopResult;
  /** CPU in % of one core during the step: the server process, this (load) process, MariaDB. */
  serverCpu: number;
  loadCpu: number;
  databaseCpu?: number;
  statements?: StatementCounts;
};
export type ServerRun = {
  kind: ServerKind;
  label: string;
  version: string;
  signIns: { count: number; seconds: number; perSecond: number };
  steps: Step[];
  profile?: { flow: 'refresh' | 'silent'; file: string; summary: ProfileSummary };
};
export type Argon2Figures = { oneAtATimePerSecond: number; twoAtATimePerSecond: number };
export type Run = {
  date: Date;
  commit: string;
  seconds: number;
  stepSeconds: number;
  concurrencies: number[];
  people: number;
  machine: Machine;
  load: string;
  argon2: Argon2Figures;
  servers: ServerRun[];
};

const TARGET = 0.8;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => (n < 10 ? n.toFixed(1) : fmt(n));
const times = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : '–');
const perSecond = (n: number) => (Number.isFinite(n) ? `${fmt(n)}/s` : 'no run');
const DATABASES: Record<Database, string> = { sqlite: 'SQLite', mariadb: 'MariaDB' };

function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

const FLOWS: Record<string, string> = {
  refresh: 'refresh grant with a resource indicator',
  silent: 'silent sign-in (prompt=none → code → token)',
};
const FLOW_NOUNS: Record<string, string> = { refresh: 'refresh grants', silent: 'silent sign-ins' };

function stepRow(server: ServerRun, s: Step): string[] {
  const h = Histogram.from([s.result.latency]);
  const statements = s.statements ? statementTotal(s.statements) : undefined;
  return [
    server.label,
    FLOWS[s.flow] ?? s.flow,
    String(s.concurrency),
    `**${fmt(rate(s))}**`,
    `${ms(h.percentile(0.5))} / ${ms(h.percentile(0.99))}`,
    s.result.errors > 0 ? `${fmt(s.result.errors)} (${s.result.firstError?.slice(0, 80)})` : '0',
    `${fmt(s.serverCpu)}% / ${fmt(s.loadCpu)}%${s.databaseCpu !== undefined ? ` / ${fmt(s.databaseCpu)}%` : ''}`,
    statements !== undefined ? (statements / Math.max(1, s.result.allOps)).toFixed(1) : '–',
  ];
}

/** The target as issue 15 states it (the gateway against the bare provider), and the stand-in's own ratio beside it. */
function verdicts(r: Run, ceiling: Ceiling[]): string[][] {
  const bare = r.servers.find((s) => s.kind === 'bare');
  return r.servers
    .filter((s) => isGateway(s.kind))
    .flatMap((server) =>
      Object.keys(FLOWS).map((flow) => {
        const share = best(server, flow) / best(bare, flow);
        const standin = ceiling.find((c) => c.flow === flow && c.database === server.kind);
        return [
          `${FLOWS[flow]}, ${server.label}`,
          `${fmt(best(server, flow))}/s against ${bare ? `${fmt(best(bare, flow))}/s` : 'no bare run'}`,
          times(share),
          Number.isFinite(share) ? (share >= TARGET ? '**met**' : '**missed**') : '–',
          standin && Number.isFinite(standin.standin)
            ? `${perSecond(standin.standin)}: ${times(standin.standinOfBare)} (by CPU per operation ${times(standin.standinOfBareByCpu)})`
            : '–',
        ];
      }),
    );
}

/** The statements of one step, by kind, per operation: what the database does for one grant or sign-in. */
function statementsOf(server: ServerRun, flow: string): string {
  const step = server.steps.filter((s) => s.flow === flow && s.statements).at(-1);
  if (!step?.statements) return '–';
  const ops = Math.max(1, step.result.allOps);
  return Object.entries(step.statements)
    .filter(([, n]) => n / ops >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([kind, n]) => `${kind} ${(n / ops).toFixed(1)}`)
    .join(', ');
}

/** What the stand-in's own ratio to the bare provider says of the target, computed from the run. */
function standinReading(ceiling: Ceiling[]): string[] {
  const ran = ceiling.filter((c) => Number.isFinite(c.standinOfBare));
  if (ran.length === 0) return [];
  const list = (cs: Ceiling[]) =>
    cs
      .map(
        (c) =>
          `${times(c.standinOfBare)} for ${FLOW_NOUNS[c.flow]} on ${DATABASES[c.database]} (${times(c.standinOfBareByCpu)} by CPU per operation)`,
      )
      .join(', ');
  const missed = ran.filter((c) => c.standinOfBare < TARGET);
  const met = ran.filter((c) => c.standinOfBare >= TARGET);
  const out: string[] = [];
  if (missed.length > 0) {
    out.push(
      `Against the bare provider, the durable stand-in reaches ${list(missed)}: a target even the stand-in misses cannot be shown on this machine by a server that persists each call of the provider's store with a statement of its own; there the gateway is read against the stand-in (the machine's ceiling, below).`,
    );
  }
  if (met.length > 0) {
    out.push(
      `Against the bare provider, the durable stand-in reaches ${list(met)}: there a server that persists can meet the target on this machine.`,
    );
  }
  return ['', out.join(' ')];
}

/**
 * The machine's ceiling: the gateway's best rate as a share of the durable stand-in's on the same database,
 * and what each server costs the whole machine (server, load, MariaDB) per operation at its best step.
 */
function ceilingSection(r: Run, ceiling: Ceiling[]): string[] {
  const cpu = r.servers.flatMap((server) =>
    Object.keys(FLOWS).flatMap((flow) => {
      const step = bestStep(server, flow);
      if (!step) return [];
      const c = cpuPerOperation(step);
      return [
        [
          server.label,
          FLOW_NOUNS[flow] ?? flow,
          `${fmt(rate(step))}/s at ${step.concurrency}`,
          `${c.server.toFixed(2)} + ${c.load.toFixed(2)}${step.databaseCpu !== undefined ? ` + ${c.database.toFixed(2)}` : ''} = **${c.machine.toFixed(2)}**`,
          `${fmt((r.machine.cores * 1000) / c.machine)}/s`,
        ],
      ];
    }),
  );
  return [
    "### The machine's ceiling",
    '',
    "The durable stand-in is the bare provider with a store any provider that persists its artefacts needs at least: one table in a database of its own, each call of oidc-provider's adapter one plain statement in autocommit (an upsert, a SELECT that honours the expiry, an UPDATE of the consumed mark, a DELETE), nothing cached. It reads no accounts, units, apps or domains. The load and MariaDB share the machine's cores with the server, so the stand-in's rate is about the most this machine shows for a server that persists every artefact; the gateway, which saves a few of those statements (a grant read with its token, an unchanged session not written again), is read against it on the same database. *By CPU per operation* is the ratio of the rates each one's CPU per operation allows (the table after), as if each had the cores alone.",
    '',
    table(
      ['flow', 'database', 'gateway', 'durable stand-in', 'gateway ÷ stand-in', 'by CPU per operation'],
      ceiling.map((c) => [
        FLOW_NOUNS[c.flow] ?? c.flow,
        DATABASES[c.database],
        perSecond(c.gateway),
        perSecond(c.standin),
        `**${times(c.gatewayOfStandin)}**`,
        times(c.gatewayOfStandinByCpu),
      ]),
    ),
    '',
    `CPU the machine spends per operation at each server's best step of a flow, in ms: (server + load${r.servers.some((s) => databaseOf(s.kind) === 'mariadb') ? ' + MariaDB' : ''}) ÷ rate. The last column is what that cost allows were the ${r.machine.cores} cores (${fmt(r.machine.cores * 1000)} ms of CPU a second) the run's alone: it follows the other work on the machine less than a rate does. MariaDB's CPU is what the whole server used, for every client it had meanwhile.`,
    '',
    table(
      [
        'server',
        'flow',
        'best rate, in flight',
        'CPU ms per operation: server + load (+ MariaDB) = machine',
        'cores ÷ CPU per operation',
      ],
      cpu,
    ),
    '',
  ];
}

export function renderSection(r: Run): string {
  const m = r.machine;
  const a = PASSWORD_HASHING;
  const ceiling = ceilings(r.servers, Object.keys(FLOWS));
  const out: string[] = [
    '## Gateway',
    '',
    `Measured by \`npm run bench:gateway\` (bench/gateway/run.ts) on ${r.date.toISOString().slice(0, 16).replace('T', ' ')} UTC, commit \`${r.commit}\`; the run took ${r.seconds.toFixed(0)} s.`,
    '',
    `- Machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}; ${describeCalibration(m.calibration)}; load average ${r.load} at the end.`,
    '- Servers, one at a time, each alone in a child process: a bare `oidc-provider` with its in-memory storage and the gateway’s settings (bench/gateway/bare-provider.ts: client_secret_basic, PKCE, rotated refresh tokens, a node as resource server with RS256 JWT access tokens, the same lifetimes), then, on SQLite and on MariaDB, each over a fresh database: the durable stand-in (the bare provider with every artefact one plain statement on a table of its own: bench/gateway/durable-store.ts) and the real gateway (`startGateway`, every artefact persisted).',
    `- Load: in the orchestrator process, sharing the 2 cores with the server (whose RS256 signatures, run by WebCrypto on libuv's worker threads, and whose SQLite commits, on a thread of their own, run beside its main thread, so it can use more than one core) and MariaDB; HTTP/1.1 keep-alive, closed loops of ${r.stepSeconds} s per step (the first second left out) at ${r.concurrencies.join(', ')} requests in flight, over ${fmt(r.people)} people who each signed in once with their password. A refresh grant names a node (\`resource\`) and gets a JWT for it plus the rotated refresh token; a silent sign-in is authorize with \`prompt=none\` on the session cookie, the redirect's code, and the code exchanged for ID and access tokens.`,
    '- CPU columns: the server process (all its threads) / the load process / MariaDB, in % of one core.',
    '',
    table(
      ['server', 'flow', 'in flight', 'per second', 'p50 / p99 ms', 'errors', 'CPU', 'statements each'],
      r.servers.flatMap((s) => s.steps.map((step) => stepRow(s, step))),
    ),
    '',
    table(
      ['target: ≥ 0.8× the bare provider', 'best rate', 'ratio', 'verdict', 'durable stand-in, same database: ×bare'],
      verdicts(r, ceiling),
    ),
    ...standinReading(ceiling),
    '',
    ...ceilingSection(r, ceiling),
    '### Password sign-ins',
    '',
    `Passwords are hashed with argon2id, m = ${fmt(a.memoryCost)} KiB (19 MiB), t = ${a.timeCost}, p = ${a.parallelism} (gateway/accounts/passwords.ts): the second of the equally strong settings OWASP's Password Storage Cheat Sheet lists (46 MiB × 1 pass, 19 MiB × 2, 12 MiB × 3, 9 MiB × 4, 7 MiB × 5). It needs less than half the memory of the first for every check in flight, at the same cost per guess to an attacker. One check takes ${ms(1000 / r.argon2.oneAtATimePerSecond)} ms here: ${fmt(r.argon2.oneAtATimePerSecond)} checks/s one at a time, ${fmt(r.argon2.twoAtATimePerSecond)}/s two at a time, which bounds sign-ins on these ${m.cores} cores.`,
    '',
    table(
      ['server', 'sign-ins', 'time', 'sign-ins per second (4 at a time)'],
      r.servers.map((s) => [
        s.label + (isGateway(s.kind) ? '' : ' (no password: its login takes the name alone)'),
        fmt(s.signIns.count),
        `${s.signIns.seconds.toFixed(1)} s`,
        `**${s.signIns.perSecond.toFixed(1)}**`,
      ]),
    ),
    '',
    'A sign-in is the whole browser path: authorize, the login page, the form posted (rate limits, argon2id, the audit row), the resumed authorization, and the code exchanged for tokens.',
    '',
    '### Database statements per operation (the last step of each flow)',
    '',
    'What the gateway does beyond the bare provider: it stores every artefact (codes, tokens, sessions, grants) and, per request, reads the client and whether its app is enabled, the person and their units, and the domain nodes serving them, so that a disabled account or app and changed units count from the very next request, in every gateway process. Each statement costs a round trip and its share of the CPU the server spends.',
    '',
    table(
      ['server', 'refresh grant', 'silent sign-in'],
      r.servers
        .filter((s) => s.kind !== 'bare')
        .map((s) => [s.label, statementsOf(s, 'refresh'), statementsOf(s, 'silent')]),
    ),
  ];
  for (const s of r.servers.filter((x) => x.profile)) {
    const p = s.profile!.summary;
    out.push(
      '',
      `Profile of the ${s.label}'s ${s.profile!.flow === 'silent' ? 'silent sign-ins' : 'refresh grants'} (\`${s.profile!.file.replace(/^.*\/bench\//, 'bench/')}\`): busy ${fmt(p.busyMs)} of ${fmt(p.totalMs)} ms; ${p.activities
        .slice(0, 8)
        .map((x) => `${x.name} ${x.percent.toFixed(0)}%`)
        .join(', ')}.`,
    );
  }
  return out.join('\n');
}
