/**
 * The machine's ceiling: a stand-in server that does the least any chat server must do for a direct
 * message, so that the load generators and MariaDB can be measured on this machine without the node.
 * It reads a `send` frame, parses it, answers an `ack` to the sender and pushes a `message` frame to the
 * receiver — the same frames and sockets as the node, and the same load generators.
 *
 * - `RELAY_MODE=memory`: nothing is stored; the ack and the push are written as soon as the frame is read.
 * - `RELAY_MODE=durable`: frames are group-committed as the node does (a 2-ms window, up to 2,000 rows and
 *   3 transactions at once) into a table shaped like the node's `messages` (same keys and indexes), with
 *   mysql2 directly, and acked and pushed after the commit.
 * - `RELAY_MODE=indexed`: as `durable`, and each committed message's text then goes into a FULLTEXT index
 *   as the node's search indexer puts it there (node/messages/search-index.ts): the node's own tokens, the
 *   table of migrations/node/0070-search-index.ts, batches of up to 2,000 in a transaction, started when
 *   20,000 wait or flushes pause for 250 ms. What waits is kept in memory, not queued in a table as the
 *   node does (it costs the node little; the stand-in is the faster for it).
 *
 * It does NOT check tokens (it reads the name in an access token without verifying the signature),
 * membership, rate limits, receipts or federation; it is not a chat server, only a measuring rod.
 * Run only by bench/node/run.ts; it answers the same IPC commands as bench/shared/node-process.ts that
 * the direct-message steps use.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import mysql from 'mysql2/promise';
import { WebSocketServer, type WebSocket } from 'ws';
import { documentTokens } from '../../node/messages/search-tokens.ts';
import { cpuProfilerCommands } from '../shared/cpu-profiler.ts';
import { serveServerProcess } from '../shared/ipc.ts';
import { watchProcess, type NodeStats } from '../shared/process-stats.ts';

const mode =
  process.env.RELAY_MODE === 'indexed' || process.env.RELAY_MODE === 'durable' ? process.env.RELAY_MODE : 'memory';
const domain = process.env.NODE_DOMAIN ?? 'bench.campus.test';
const port = Number(process.env.NODE_PORT ?? 0);
const WINDOW_MS = 2;
const MAX_BATCH = 2_000;
const CONCURRENCY = 3;
/** The node's buckets of `atrium_im_send_ack_seconds`, so the orchestrator reads both the same way. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5];

type Peer = { ws: WebSocket; address: string };
type Pending = {
  from: Peer;
  frameId: string;
  conversationId: string;
  clientMsgId: string;
  text: string;
  arrived: number;
};

const sockets = new Map<string, Set<Peer>>();
const conversations = new Map<string, string[]>();
const conversationOfPair = new Map<string, string>();
const seqs = new Map<string, number>();
const ackCounts = new Array<number>(BUCKETS.length + 1).fill(0);

const pool =
  mode === 'memory'
    ? null
    : mysql.createPool({
        uri: requireEnv('DATABASE_URL'),
        connectionLimit: CONCURRENCY + (mode === 'indexed' ? 1 : 0),
        dateStrings: true,
      });
if (pool) {
  await pool.query(`CREATE TABLE IF NOT EXISTS relay_messages (
    conversation_id VARCHAR(36) NOT NULL, seq BIGINT NOT NULL, id VARCHAR(36) NOT NULL, sender VARCHAR(320) NOT NULL,
    client_msg_id VARCHAR(64) NOT NULL, kind VARCHAR(16) NOT NULL, body TEXT NOT NULL, created_at DATETIME(3) NOT NULL,
    PRIMARY KEY (conversation_id, seq), UNIQUE KEY relay_messages_id (id), UNIQUE KEY relay_messages_sender_client (sender, client_msg_id)
  ) ENGINE=InnoDB`);
}
if (pool && mode === 'indexed') {
  // As the migration makes it; stopwords off while the index is made, as there.
  const connection = await pool.getConnection();
  try {
    await connection.query('SET SESSION innodb_ft_enable_stopword = 0');
    await connection.query(`CREATE TABLE IF NOT EXISTS relay_search (
      message_id VARCHAR(36) NOT NULL PRIMARY KEY, conversation_id VARCHAR(36) NOT NULL, seq BIGINT NOT NULL,
      created_at DATETIME(3) NOT NULL, tokens MEDIUMTEXT CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
      FULLTEXT KEY relay_search_tokens (tokens)
    ) ENGINE=InnoDB`);
  } finally {
    connection.release();
  }
}

const http = createServer((req: IncomingMessage, res: ServerResponse) => {
  if (req.url !== '/metrics') {
    res.writeHead(404).end();
    return;
  }
  let cumulative = 0;
  const lines = BUCKETS.map((le, i) => {
    cumulative += ackCounts[i]!;
    return `atrium_im_send_ack_seconds_bucket{le="${le}"} ${cumulative}`;
  });
  lines.push(`atrium_im_send_ack_seconds_bucket{le="+Inf"} ${cumulative + ackCounts[BUCKETS.length]!}`);
  const memory = process.memoryUsage();
  lines.push(`process_resident_memory_bytes ${memory.rss}`, `nodejs_heap_size_used_bytes ${memory.heapUsed}`);
  res.writeHead(200, { 'content-type': 'text/plain' }).end(`${lines.join('\n')}\n`);
});

const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  maxPayload: 256 * 1024,
  handleProtocols: (p) => (p.has('atrium.v1') ? 'atrium.v1' : false),
});
http.on('upgrade', (req, socket, head) => {
  const token = (req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .find((p) => p.startsWith('atrium.token.'));
  const username = token ? usernameIn(token.slice('atrium.token.'.length)) : null;
  if (!username) {
    socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => accept(ws, `${username}@${domain}`));
});

function accept(ws: WebSocket, address: string): void {
  const peer: Peer = { ws, address };
  let own = sockets.get(address);
  if (!own) sockets.set(address, (own = new Set()));
  own.add(peer);
  ws.on('close', () => {
    own.delete(peer);
    if (own.size === 0) sockets.delete(address);
  });
  ws.on('message', (data: Buffer) => onFrame(peer, data.toString()));
  ws.send(JSON.stringify({ v: 1, type: 'ready', address, serverTime: new Date().toISOString() }));
}

function onFrame(from: Peer, raw: string): void {
  const arrived = performance.now();
  let frame: {
    id?: unknown;
    type?: unknown;
    to?: unknown;
    conversationId?: unknown;
    clientMsgId?: unknown;
    text?: unknown;
  };
  try {
    frame = JSON.parse(raw) as typeof frame;
  } catch {
    return reject(from, null, 'bad_json');
  }
  const frameId = typeof frame.id === 'string' ? frame.id : null;
  if (frame.type !== 'send' || !frameId || typeof frame.clientMsgId !== 'string' || typeof frame.text !== 'string')
    return reject(from, frameId, 'bad_frame');
  const conversationId =
    typeof frame.to === 'string'
      ? directConversation(from.address, frame.to)
      : typeof frame.conversationId === 'string' && conversations.has(frame.conversationId)
        ? frame.conversationId
        : null;
  if (!conversationId) return reject(from, frameId, 'not_member');
  const message: Pending = { from, frameId, conversationId, clientMsgId: frame.clientMsgId, text: frame.text, arrived };
  if (mode === 'memory') return deliver([message], null);
  enqueue(message);
}

function directConversation(a: string, b: string): string {
  const key = a < b ? `${a} ${b}` : `${b} ${a}`;
  let id = conversationOfPair.get(key);
  if (!id) {
    id = randomUUID();
    conversationOfPair.set(key, id);
    conversations.set(id, a === b ? [a] : [a, b]);
  }
  return id;
}

// The group commit of the durable mode: one multi-row INSERT per transaction, acks and pushes after COMMIT.
let queue: Pending[] = [];
let timer: NodeJS.Timeout | null = null;
let running = 0;

function enqueue(message: Pending): void {
  queue.push(message);
  if (queue.length >= MAX_BATCH) flushSoon(0);
  else flushSoon(WINDOW_MS);
}

function flushSoon(delayMs: number): void {
  if (timer && delayMs > 0) return;
  if (timer) clearTimeout(timer);
  timer = setTimeout(flush, delayMs);
}

function flush(): void {
  timer = null;
  if (running >= CONCURRENCY || queue.length === 0) return;
  const batch = queue.splice(0, MAX_BATCH);
  running += 1;
  void commit(batch)
    .then((rows) => {
      deliver(batch, rows);
      if (mode === 'indexed') toIndex(batch, rows);
    })
    .catch((error: unknown) => {
      console.error('relay: flush failed', error);
      for (const m of batch) reject(m.from, m.frameId, 'db_error');
    })
    .finally(() => {
      running -= 1;
      if (queue.length > 0) flushSoon(0);
    });
}

type Row = { id: string; seq: number; at: string };

async function commit(batch: Pending[]): Promise<Row[]> {
  const at = new Date();
  const rows = batch.map((m): Row => ({ id: randomUUID(), seq: nextSeq(m.conversationId), at: at.toISOString() }));
  const connection = await pool!.getConnection();
  try {
    await connection.query('START TRANSACTION');
    await connection.query(
      'INSERT INTO relay_messages (conversation_id, seq, id, sender, client_msg_id, kind, body, created_at) VALUES ?',
      [
        batch.map((m, i) => [
          m.conversationId,
          rows[i]!.seq,
          rows[i]!.id,
          m.from.address,
          m.clientMsgId,
          'text',
          m.text,
          at,
        ]),
      ],
    );
    await connection.query('COMMIT');
    return rows;
  } catch (error) {
    await connection.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    connection.release();
  }
}

// The search index of the indexed mode: the node's indexer's batch, trigger and statement.
const INDEX_BATCH = 2_000;
const INDEX_BACKLOG = 20_000;
const INDEX_QUIET_MS = 250;
let waiting: { m: Pending; row: Row }[] = [];
let quiet: NodeJS.Timeout | null = null;
let indexing: Promise<void> | null = null;

function toIndex(batch: Pending[], rows: Row[]): void {
  for (let i = 0; i < batch.length; i++) waiting.push({ m: batch[i]!, row: rows[i]! });
  if (quiet) clearTimeout(quiet);
  quiet = null;
  if (waiting.length >= INDEX_BACKLOG) void indexAll();
  else quiet = setTimeout(() => void indexAll(), INDEX_QUIET_MS);
}

function indexAll(): Promise<void> {
  indexing ??= (async () => {
    while (waiting.length > 0) {
      const batch = waiting.slice(0, INDEX_BATCH);
      waiting = waiting.slice(INDEX_BATCH);
      const entries = batch.map(({ m, row }) => [
        row.id,
        m.conversationId,
        row.seq,
        new Date(row.at),
        documentTokens(m.text),
      ]);
      const connection = await pool!.getConnection();
      try {
        await connection.query('START TRANSACTION');
        await connection.query(
          `INSERT INTO relay_search (message_id, conversation_id, seq, created_at, tokens) VALUES ?
           ON DUPLICATE KEY UPDATE conversation_id = VALUES(conversation_id), seq = VALUES(seq),
             created_at = VALUES(created_at), tokens = VALUES(tokens)`,
          [entries],
        );
        await connection.query('COMMIT');
      } catch (error) {
        await connection.query('ROLLBACK').catch(() => undefined);
        console.error('relay: indexing failed', error);
      } finally {
        connection.release();
      }
    }
  })().finally(() => {
    indexing = null;
  });
  return indexing;
}

function nextSeq(conversationId: string): number {
  const seq = (seqs.get(conversationId) ?? 0) + 1;
  seqs.set(conversationId, seq);
  return seq;
}

function deliver(batch: Pending[], rows: Row[] | null): void {
  const now = performance.now();
  for (let i = 0; i < batch.length; i++) {
    const m = batch[i]!;
    const row = rows?.[i] ?? { id: randomUUID(), seq: nextSeq(m.conversationId), at: new Date().toISOString() };
    m.from.ws.send(
      `{"v":1,"type":"ack","re":"${m.frameId}","conversationId":"${m.conversationId}","messageId":"${row.id}","seq":${row.seq},"at":"${row.at}"}`,
    );
    const push = JSON.stringify({
      v: 1,
      type: 'message',
      message: {
        id: row.id,
        conversationId: m.conversationId,
        seq: row.seq,
        sender: m.from.address,
        text: m.text,
        at: row.at,
      },
    });
    for (const member of conversations.get(m.conversationId) ?? []) {
      for (const peer of sockets.get(member) ?? []) if (peer !== m.from) peer.ws.send(push);
    }
    const seconds = (now - m.arrived) / 1000;
    const bucket = BUCKETS.findIndex((le) => seconds <= le);
    ackCounts[bucket < 0 ? BUCKETS.length : bucket]! += 1;
  }
}

function reject(peer: Peer, re: string | null, code: string): void {
  peer.ws.send(JSON.stringify({ v: 1, type: 'error', re, code, message: code }));
}

/** The `preferred_username` claim of a JWT, read without verifying it (see the file's comment). */
function usernameIn(jwt: string): string | null {
  try {
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as {
      preferred_username?: unknown;
    };
    return typeof payload.preferred_username === 'string' ? payload.preferred_username : null;
  } catch {
    return null;
  }
}

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

// The figures the orchestrator reads from a node process, read the same way here.
const watched = watchProcess();

await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve));
const localUrl = `http://127.0.0.1:${(http.address() as { port: number }).port}`;

serveServerProcess(
  {
    stats(): NodeStats {
      let open = 0;
      for (const set of sockets.values()) open += set.size;
      return watched.stats(open);
    },
    metrics() {
      const memory = process.memoryUsage();
      return { rss: memory.rss, heapUsed: memory.heapUsed };
    },
    // Statements are not counted here (the orchestrator asks for them around a profiled step).
    'instrument.start'() {},
    'instrument.stop'() {
      return { statements: {}, transactions: { count: 0, ms: 0, maxMs: 0, p99Ms: 0 }, wallMs: 0 };
    },
    ...cpuProfilerCommands(),
  },
  stop,
  { url: localUrl, localUrl, pid: process.pid },
);

async function stop(): Promise<void> {
  // As the node does on shutdown: every socket told "going away", then whatever lingers cut.
  for (const client of wss.clients) client.close(1001, 'going away');
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  for (const client of wss.clients) client.terminate();
  await new Promise<void>((resolve) => http.close(() => resolve()));
  if (quiet) clearTimeout(quiet);
  await indexing;
  await pool?.end();
}
