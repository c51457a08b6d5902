/**
 * `npm run bench:sync`: a new device's first sync, on one domain node process over MariaDB, for a person
 * in 200 conversations of 10,000 messages each (2,000,000 messages) and, in the same database, a person
 * in 200 conversations of 100: the first sync should cost the same for both (issue 15, target 4: p95 ≤
 * 500 ms, and the bytes the node sends). The histories are written in bulk (bench/sync/data.ts); each
 * first sync opens a fresh socket (a new device: no cursors), sends the `sync` frame of docs/protocol.md
 * as the SDK does, and is timed from the frame written to the whole `sync.result` read. Prints the
 * figures and writes the "First sync" section of BENCHMARKS.md. Stops by itself and drops its database.
 *
 *   npm run bench:sync                 the full run (a few minutes, most of it writing the histories)
 *   npm run bench:sync -- --smoke      50 conversations of 2,000 and of 100 messages, 5 syncs each; writes nothing
 *   options: --conversations=N --messages=N --short=N --repeat=N --page=N --no-write --out=<file>
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import mysql from 'mysql2/promise';
import { WebSocket } from 'ws';
import { AtriumClient } from '../../sdk/client.ts';
import { publishSection } from '../shared/benchmarks-file.ts';
import { describeCalibration } from '../shared/calibration.ts';
import { describeMachine, loadAverage } from '../shared/machine.ts';
import { summariseProfile } from '../shared/profile-summary.ts';
import type { NodeStats, QueryCounts } from '../shared/node-process.ts';
import { gitOutput, installCleanups, sleep, stopChild, timestampLog } from '../shared/orchestrator.ts';
import {
  benchNodeEnv,
  createDatabase,
  freePort,
  pinNodeBeforeStart,
  spawnNode,
  startBenchGateway,
} from '../shared/setup.ts';
import { mintAccessTokens } from '../shared/tokens.ts';
import { sizeBufferPool } from '../node/setup.ts';
import { writeHistories, type PersonShape } from './data.ts';
import { renderSection, summarise, type Person, type Run, type SyncSample } from './report.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const DOMAIN = 'sync.bench.test';
const args = process.argv.slice(2);
const option = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const smoke = args.includes('--smoke');
const scale = {
  conversations: Number(option('conversations') ?? (smoke ? 50 : 200)),
  messages: Number(option('messages') ?? (smoke ? 2_000 : 10_000)),
  short: Number(option('short') ?? 100),
  repeat: Number(option('repeat') ?? (smoke ? 5 : 20)),
  /** Entries per conversation a first sync asks for: the SDK's page (sdk/client.ts, `pageSize`). */
  page: Number(option('page') ?? 50),
};
const write = !smoke && !args.includes('--no-write');

const started = performance.now();
const log = timestampLog(started);
const cleanups = installCleanups(10 * 60_000, 'stopping the node and dropping the benchmark database');

async function main(): Promise<void> {
  const machine = await describeMachine();
  log(
    `Atrium first-sync benchmark: ${scale.conversations} conversations of ${scale.messages} and of ${scale.short} messages, ${scale.repeat} first syncs each; ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.cpuModel}, Node ${machine.node}; ${describeCalibration(machine.calibration)}; load ${loadAverage()}`,
  );
  const dataDir = mkdtempSync(join(tmpdir(), 'atrium-bench-sync-'));
  cleanups.push({ name: 'data folder', run: () => rmSync(dataDir, { recursive: true, force: true }) });
  const db = await createDatabase();
  cleanups.push({ name: `database ${db.name}`, run: () => db.drop() });
  const pool = await sizeBufferPool();
  cleanups.push({ name: 'InnoDB buffer pool size', run: () => pool.restore() });
  log(`MariaDB ${db.version}: database ${db.name}; InnoDB buffer pool ${(pool.used / 2 ** 20).toFixed(0)} MiB`);

  const nodePort = await freePort();
  const nodeUrl = `http://127.0.0.1:${nodePort}`;
  const bench = await startBenchGateway(dataDir, DOMAIN, nodeUrl);
  cleanups.push({ name: 'gateway', run: () => bench.gateway.close() });
  const env = benchNodeEnv({
    domain: DOMAIN,
    port: nodePort,
    issuer: bench.gateway.issuer,
    databaseUrl: db.url,
    dataDir,
  });
  await pinNodeBeforeStart(bench, env);
  const node = await spawnNode(env, join(dataDir, 'node.log'));
  cleanups.push({ name: 'node process', run: () => stopChild(node, 'shutdown', 25_000) });
  log(`node process ${node.pid} at ${node.localUrl}, migrated`);

  const shapes: PersonShape[] = [
    { address: `u00001@${DOMAIN}`, conversations: scale.conversations, messagesEach: scale.messages, firstPeer: 3 },
    {
      address: `u00002@${DOMAIN}`,
      conversations: scale.conversations,
      messagesEach: scale.short,
      firstPeer: 3 + scale.conversations * 2,
    },
  ];
  const writeStarted = performance.now();
  let lastLog = 0;
  for (const shape of shapes) {
    await writeHistories(db.url, DOMAIN, shape, (written) => {
      if (performance.now() - lastLog < 10_000) return;
      lastLog = performance.now();
      log(`  ${shape.address}: ${written.toLocaleString('en-US')} messages written`);
    });
  }
  const writeSeconds = (performance.now() - writeStarted) / 1000;
  await analyze(db.url);
  const total = shapes.reduce((sum, s) => sum + s.conversations * s.messagesEach, 0);
  log(
    `${total.toLocaleString('en-US')} messages written in ${writeSeconds.toFixed(0)} s (multi-row INSERTs), tables analyzed`,
  );

  const tokens = await mintAccessTokens(
    bench.signingKey,
    { issuer: bench.gateway.issuer, audience: nodeUrl, clientId: bench.clientId, domain: DOMAIN },
    [1, 2],
  );
  const url = `ws://127.0.0.1:${nodePort}/ws`;
  const people: Person[] = [];
  for (const [i, shape] of shapes.entries())
    people.push({ shape, token: tokens.get(i + 1)!, samples: [], sdk: [], statements: undefined });

  // Warm-up (the node's caches, MariaDB's buffer pool), then one counted sync each, then the measured rounds.
  for (const p of people) for (let i = 0; i < 2; i++) await firstSync(url, p);
  for (const p of people) {
    await node.call('instrument.start');
    await firstSync(url, p);
    p.statements = await node.call<QueryCounts>('instrument.stop');
  }
  const cpuBefore = await node.call<NodeStats>('stats', {});
  for (let round = 0; round < scale.repeat; round++) {
    // Each goes first every other round, so that neither always follows the other's sync.
    for (const p of round % 2 === 0 ? people : [...people].reverse()) p.samples.push(await firstSync(url, p));
  }
  const cpuAfter = await node.call<NodeStats>('stats', {});
  // Where the node's time goes: five more first syncs of the long histories, profiled.
  const profileFile = join(dataDir, 'sync.cpuprofile');
  await node.call('profile.start');
  for (let i = 0; i < 5; i++) await firstSync(url, people[0]!);
  await node.call('profile.stop', { file: profileFile });
  const profile = summariseProfile(profileFile, ROOT, 10);
  for (const p of people) {
    for (let i = 0; i < Math.min(5, scale.repeat); i++) p.sdk.push(await sdkFirstSync(url, p));
    log(`${p.shape.address}: ${describePerson(p)}`);
  }

  const run: Run = {
    date: new Date(),
    commit: gitOutput(ROOT, ['rev-parse', '--short', 'HEAD']),
    seconds: (performance.now() - started) / 1000,
    machine,
    load: loadAverage(),
    mariadb: db.version,
    bufferPoolMiB: pool.used / 2 ** 20,
    scale,
    writeSeconds,
    people,
    profile,
    nodeCpuMsPerSync:
      (cpuAfter.cpuUserUs + cpuAfter.cpuSystemUs - cpuBefore.cpuUserUs - cpuBefore.cpuSystemUs) /
      1000 /
      (scale.repeat * people.length),
  };
  publishSection('First sync', renderSection(run), { write, file: option('out') ?? join(ROOT, 'BENCHMARKS.md'), log });
}

function describePerson(p: Person): string {
  const s = summarise(p);
  return `first sync p50 ${s.sync.p50.toFixed(0)} ms, p95 ${s.sync.p95.toFixed(0)} ms, max ${s.sync.max.toFixed(0)} ms; ${s.messages} messages in ${s.conversations} conversations, ${(s.bytes / 1024).toFixed(0)} KiB sent; through the SDK p50 ${s.sdk.p50.toFixed(0)} ms`;
}

/** Fresh statistics after the bulk load, as a database that grew over a year would have. */
async function analyze(databaseUrl: string): Promise<void> {
  const c = await mysql.createConnection(databaseUrl);
  await c.query('ANALYZE TABLE conversations, members, messages');
  await c.end();
}

/**
 * One new device: a socket authenticated by its token (subprotocol), then the `sync` frame the SDK
 * sends on its first connect (no `since`, no cursors), timed until the whole reply is read.
 */
async function firstSync(url: string, p: Person): Promise<SyncSample> {
  const ws = new WebSocket(url, ['atrium.v1', `atrium.token.${p.token}`], { perMessageDeflate: false });
  try {
    const connectStarted = performance.now();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ready within 30 s')), 30_000);
      ws.on('message', (data: Buffer) => {
        if (!data.toString('utf8', 0, 40).includes('"type":"ready"')) return;
        clearTimeout(timer);
        resolve();
      });
      ws.once('error', reject);
      ws.once('close', (code) => reject(new Error(`closed with ${code} before ready`)));
    });
    const connectMs = performance.now() - connectStarted;
    ws.removeAllListeners('message');
    const reply = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no sync.result within 60 s')), 60_000);
      ws.on('message', (data: Buffer) => {
        if (!data.toString('utf8', 0, 60).includes('"re":"s1"')) return;
        clearTimeout(timer);
        resolve(data);
      });
    });
    const sent = performance.now();
    ws.send(JSON.stringify({ v: 1, id: 's1', type: 'sync', recent: scale.page, gaps: true }));
    const data = await reply;
    const syncMs = performance.now() - sent;
    const result = JSON.parse(data.toString('utf8')) as {
      type: string;
      conversations?: { id: string }[];
      messages?: { conversationId: string; seq: number }[];
      message?: string;
    };
    if (result.type !== 'sync.result') throw new Error(`sync answered with ${result.type}: ${result.message}`);
    const perConversation = new Map<string, number>();
    for (const m of result.messages ?? [])
      perConversation.set(m.conversationId, (perConversation.get(m.conversationId) ?? 0) + 1);
    const expected = Math.min(scale.page, p.shape.messagesEach);
    const complete = (result.conversations ?? []).every((c) => perConversation.get(c.id) === expected);
    return {
      connectMs,
      syncMs,
      bytes: data.length,
      conversations: result.conversations?.length ?? 0,
      messages: result.messages?.length ?? 0,
      complete,
    };
  } finally {
    ws.terminate();
  }
}

/** The same first sync through the SDK, which also validates every frame and places each conversation's cursor. */
async function sdkFirstSync(url: string, p: Person): Promise<number> {
  const client = new AtriumClient({ url, token: () => p.token, pageSize: scale.page, requestTimeoutMs: 60_000 });
  let conversations = 0;
  // The SDK syncs by itself once connected and then tells each conversation.
  const synced = new Promise<void>((resolve) =>
    client.on('conversation', () => {
      conversations += 1;
      if (conversations === p.shape.conversations) resolve();
    }),
  );
  const started = performance.now();
  try {
    await client.connect();
    await Promise.race([synced, sleep(60_000).then(() => Promise.reject(new Error('no SDK sync within 60 s')))]);
    const ms = performance.now() - started;
    const behind = [...client.cursors.values()].filter((seq) => seq !== p.shape.messagesEach).length;
    if (client.cursors.size !== p.shape.conversations || behind > 0)
      throw new Error(`the SDK holds ${client.cursors.size} cursors, ${behind} not at the last message`);
    return ms;
  } finally {
    client.close();
  }
}

main()
  .then(() => cleanups.run())
  .then(() => process.exit(0))
  .catch(async (error: unknown) => {
    console.error(error);
    await cleanups.run();
    process.exit(1);
  });
