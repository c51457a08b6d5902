import { PASSWORD_HASHING } from '../../gateway/accounts/passwords.ts';
import { describeCalibration } from '../shared/calibration.ts';
import { Histogram } from '../shared/histogram.ts';
import type { Machine } from '../shared/machine.ts';
import type { ProfileSummary } from '../shared/profile-summary.ts';
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
  kind: 'bare' | 'sqlite' | 'mariadb';
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
const rate = (s: Step) => s.result.ops / s.result.seconds;

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

const best = (server: ServerRun | undefined, flow: string) =>
  server ? Math.max(0, ...server.steps.filter((s) => s.flow === flow).map(rate)) : Number.NaN;

function verdicts(r: Run): string[][] {
  const bare = r.servers.find((s) => s.kind === 'bare');
  return r.servers
    .filter((s) => s.kind !== 'bare')
    .flatMap((server) =>
      Object.keys(FLOWS).map((flow) => {
        const ratio = best(server, flow) / best(bare, flow);
        return [
          `${FLOWS[flow]}, ${server.label}`,
          `${fmt(best(server, flow))}/s against ${bare ? `${fmt(best(bare, flow))}/s` : 'no bare run'}`,
          Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '–',
          Number.isFinite(ratio) ? (ratio >= TARGET ? '**met**' : '**missed**') : '–',
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

export function renderSection(r: Run): string {
  const m = r.machine;
  const a = PASSWORD_HASHING;
  const out: string[] = [
    '## Gateway',
    '',
    `Measured by \`npm run bench:gateway\` (bench/gateway/run.ts) on ${r.date.toISOString().slice(0, 16).replace('T', ' ')} UTC, commit \`${r.commit}\`; the run took ${r.seconds.toFixed(0)} s.`,
    '',
    `- Machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}; ${describeCalibration(m.calibration)}; load average ${r.load} at the end.`,
    '- Servers, one at a time, each alone in a child process: a bare `oidc-provider` with its in-memory storage and the gateway’s settings (bench/gateway/bare-provider.ts: client_secret_basic, PKCE, rotated refresh tokens, a node as resource server with RS256 JWT access tokens, the same lifetimes), then the real gateway (`startGateway`, every artefact persisted) on SQLite and on MariaDB, each over a fresh database.',
    `- Load: in the orchestrator process, sharing the 2 cores with the server (whose RS256 signatures, run by WebCrypto, and SQLite statements use libuv's worker threads beside its main thread, so it can use more than one core) and MariaDB; HTTP/1.1 keep-alive, closed loops of ${r.stepSeconds} s per step (the first second left out) at ${r.concurrencies.join(', ')} requests in flight, over ${fmt(r.people)} people who each signed in once with their password. A refresh grant names a node (\`resource\`) and gets a JWT for it plus the rotated refresh token; a silent sign-in is authorize with \`prompt=none\` on the session cookie, the redirect's code, and the code exchanged for ID and access tokens.`,
    '- CPU columns: the server process (all its threads) / the load process / MariaDB, in % of one core.',
    '',
    table(
      ['server', 'flow', 'in flight', 'per second', 'p50 / p99 ms', 'errors', 'CPU', 'statements each'],
      r.servers.flatMap((s) => s.steps.map((step) => stepRow(s, step))),
    ),
    '',
    table(['target: ≥ 0.8× the bare provider', 'best rate', 'ratio', 'verdict'], verdicts(r)),
    '',
    '### Password sign-ins',
    '',
    `Passwords are hashed with argon2id, m = ${fmt(a.memoryCost)} KiB (19 MiB), t = ${a.timeCost}, p = ${a.parallelism} (gateway/accounts/passwords.ts): the second of the equally strong settings OWASP's Password Storage Cheat Sheet lists (46 MiB × 1 pass, 19 MiB × 2, 12 MiB × 3, 9 MiB × 4, 7 MiB × 5). It needs less than half the memory of the first for every check in flight, at the same cost per guess to an attacker. One check takes ${ms(1000 / r.argon2.oneAtATimePerSecond)} ms here: ${fmt(r.argon2.oneAtATimePerSecond)} checks/s one at a time, ${fmt(r.argon2.twoAtATimePerSecond)}/s two at a time, which bounds sign-ins on these ${m.cores} cores.`,
    '',
    table(
      ['server', 'sign-ins', 'time', 'sign-ins per second (4 at a time)'],
      r.servers.map((s) => [
        s.label + (s.kind === 'bare' ? ' (no password: its login takes the name alone)' : ''),
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
