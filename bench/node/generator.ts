/**
 * A load generator: holds thousands of authenticated sockets to one domain node from its own 127.0.0.x
 * source address, sends protocol frames on the orchestrator's command and measures what comes back.
 * It speaks raw `ws` with the frames of docs/protocol.md (the SDK's reconnect, outbox and de-duplication
 * are too heavy for 5,000 sockets in one process). Message texts carry their send time, so receivers on
 * the same machine measure send→receive latency on the same clock.
 * Run only by bench/node/run.ts.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { Histogram, type HistogramData } from './histogram.ts';
import { serveIpc } from './ipc.ts';

export type BenchUser = { index: number; token: string };
export type ConnectResult = { connected: number; failed: number; failures: Record<string, number>; ms: number };
export type DmPair = { sender: number; receiver: number; receiverAddress: string };
export type DmRunArgs = { phase: string; rate: number; durationMs: number; warmupMs: number; maxInFlight: number; drainMs: number };
export type DmRunResult = {
  attempted: number;
  skipped: number;
  sent: number;
  acks: number;
  deliveries: number;
  acksInWindow: number;
  deliveriesInWindow: number;
  windowSeconds: number;
  errors: Record<string, number>;
  ackLatency: HistogramData;
  deliveryLatency: HistogramData;
  unacked: number;
  drainMs: number;
};
export type GeneratorStats = { cpuUserUs: number; cpuSystemUs: number; rss: number; open: number; dropped: Record<string, number> };

type Socket = { ws: WebSocket; user: number; ready: boolean; onReady?: () => void };
type Pending = { sentAt: number; phase: string; reply?: (frame: string) => void };
type Recorder = {
  deliveries: number;
  latency: Histogram;
  inWindow: number;
  window: [number, number];
  /** Only messages sent inside the window count towards latency (the warm-up is left out). */
  sentWindow: [number, number];
  /** The latest delivery of each message (by its send time), when asked for: how long until the last member had it. */
  lastBySend?: Map<string, number>;
};

const now = () => performance.timeOrigin + performance.now();
const runTag = randomBytes(3).toString('hex');

let url = '';
let localAddress = '127.0.0.1';
let frameCounter = 0;
const sockets = new Map<number, Socket>();
const pending = new Map<string, Pending>();
const recorders = new Map<string, Recorder>();
const ackRecorders = new Map<string, { acks: number; inWindow: number; latency: Histogram; errors: Record<string, number>; window: [number, number]; sentWindow: [number, number] }>();
const dropped: Record<string, number> = {};
let pairs: (DmPair & { conversationId: string })[] = [];

const nextId = () => (++frameCounter).toString(36);
const clientMsgId = () => `b${runTag}${frameCounter.toString(36).padStart(8, '0')}`;

function onFrame(socket: Socket, text: string) {
  if (text.startsWith('{"v":1,"type":"message"')) return onMessage(text);
  if (text.startsWith('{"v":1,"type":"ack","re":"')) {
    const re = text.slice(26, text.indexOf('"', 26));
    return onReply(re, text, null);
  }
  if (!socket.ready && text.startsWith('{"v":1,"type":"ready"')) {
    socket.ready = true;
    socket.onReady?.();
    return;
  }
  let frame: { type?: string; re?: string; code?: string };
  try {
    frame = JSON.parse(text) as typeof frame;
  } catch {
    return;
  }
  if (frame.re) onReply(frame.re, text, frame.type === 'error' ? (frame.code ?? 'error') : null);
}

function onReply(re: string, text: string, errorCode: string | null) {
  const p = pending.get(re);
  if (!p) return;
  pending.delete(re);
  if (p.reply) return p.reply(text);
  const rec = ackRecorders.get(p.phase);
  if (!rec) return;
  if (errorCode) {
    rec.errors[errorCode] = (rec.errors[errorCode] ?? 0) + 1;
    return;
  }
  const t = now();
  rec.acks += 1;
  if (t >= rec.window[0] && t < rec.window[1]) rec.inWindow += 1;
  if (p.sentAt >= rec.sentWindow[0] && p.sentAt < rec.sentWindow[1]) rec.latency.record(t - p.sentAt);
}

function onMessage(text: string) {
  const at = text.indexOf('"text":"bench|');
  if (at < 0) return;
  const start = at + 14;
  const end = text.indexOf('"', start);
  const [phase, sentAtText] = text.slice(start, end).split('|');
  const rec = recorders.get(phase ?? '');
  if (!rec) return;
  const t = now();
  const sentAt = Number(sentAtText);
  rec.deliveries += 1;
  if (t >= rec.window[0] && t < rec.window[1]) rec.inWindow += 1;
  if (sentAt >= rec.sentWindow[0] && sentAt < rec.sentWindow[1]) rec.latency.record(t - sentAt);
  if (rec.lastBySend) rec.lastBySend.set(sentAtText!, Math.max(rec.lastBySend.get(sentAtText!) ?? 0, t - sentAt));
}

function sendText(socket: Socket, phase: string, conversation: { conversationId: string } | { to: string }): string {
  const id = nextId();
  const t0 = now();
  const target = 'conversationId' in conversation ? `"conversationId":"${conversation.conversationId}"` : `"to":"${conversation.to}"`;
  pending.set(id, { sentAt: t0, phase });
  socket.ws.send(`{"v":1,"id":"${id}","type":"send","clientMsgId":"${clientMsgId()}",${target},"text":"bench|${phase}|${t0.toFixed(3)}"}`);
  return id;
}

function request(socket: Socket, frame: Record<string, unknown>, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  const id = nextId();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`no reply to ${String(frame.type)} within ${timeoutMs} ms`));
    }, timeoutMs);
    pending.set(id, {
      sentAt: now(),
      phase: '',
      reply: (text) => {
        clearTimeout(timer);
        resolve(JSON.parse(text) as Record<string, unknown>);
      },
    });
    socket.ws.send(JSON.stringify({ v: 1, id, ...frame }));
  });
}

function open(user: BenchUser): Promise<string | null> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, ['atrium.v1', `atrium.token.${user.token}`], {
      localAddress,
      perMessageDeflate: false,
      handshakeTimeout: 30_000,
      skipUTF8Validation: true,
    });
    const socket: Socket = { ws, user: user.index, ready: false };
    const timer = setTimeout(() => finish('ready_timeout'), 30_000);
    let settled = false;
    function finish(failure: string | null) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (failure) ws.terminate();
      else sockets.set(user.index, socket);
      resolve(failure);
    }
    socket.onReady = () => finish(null);
    ws.on('message', (data: Buffer) => onFrame(socket, data.toString()));
    ws.on('close', (code) => {
      if (!settled) return finish(`closed_${code}`);
      if (sockets.get(user.index) === socket) {
        sockets.delete(user.index);
        dropped[String(code)] = (dropped[String(code)] ?? 0) + 1;
      }
    });
    ws.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? 'error'));
  });
}

function socketOf(user: number): Socket {
  const socket = sockets.get(user);
  if (!socket) throw new Error(`user ${user} has no open socket in this generator`);
  return socket;
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!condition() && Date.now() - started < timeoutMs) await new Promise((r) => setTimeout(r, 20));
  return Date.now() - started;
}

serveIpc(
  {
    init(args: { url: string; localAddress: string }) {
      url = args.url;
      localAddress = args.localAddress;
    },

    async connect({ users, concurrency }: { users: BenchUser[]; concurrency: number }): Promise<ConnectResult> {
      const started = Date.now();
      const failures: Record<string, number> = {};
      let connected = 0;
      let next = 0;
      async function worker() {
        while (next < users.length) {
          const user = users[next++]!;
          const failure = await open(user);
          if (failure) failures[failure] = (failures[failure] ?? 0) + 1;
          else connected += 1;
        }
      }
      await Promise.all(Array.from({ length: Math.min(concurrency, users.length) }, worker));
      return { connected, failed: users.length - connected, failures, ms: Date.now() - started };
    },

    /** Opens each pair's direct conversation the way a client does: a first message sent `to` the peer. */
    async 'dm.setup'({ list, concurrency }: { list: DmPair[]; concurrency: number }) {
      const started = Date.now();
      const failures: Record<string, number> = {};
      pairs = [];
      let next = 0;
      async function worker() {
        while (next < list.length) {
          const pair = list[next++]!;
          const socket = sockets.get(pair.sender);
          if (!socket) {
            failures.no_socket = (failures.no_socket ?? 0) + 1;
            continue;
          }
          const reply: Record<string, unknown> = await request(socket, { type: 'send', clientMsgId: clientMsgId(), to: pair.receiverAddress, text: 'hello' }).catch(
            (e: Error) => ({ type: 'error', code: e.message }),
          );
          if (reply.type === 'ack') pairs.push({ ...pair, conversationId: String(reply.conversationId) });
          else failures[String(reply.code)] = (failures[String(reply.code)] ?? 0) + 1;
        }
      }
      await Promise.all(Array.from({ length: Math.min(concurrency, list.length) }, worker));
      return { opened: pairs.length, failures, ms: Date.now() - started };
    },

    /** Open-loop sends at a fixed rate over this generator's pairs, then waits for acks and deliveries. */
    async 'dm.run'(args: DmRunArgs): Promise<DmRunResult> {
      const start = now();
      const window: [number, number] = [start + args.warmupMs, start + args.durationMs];
      const ack = { acks: 0, inWindow: 0, latency: new Histogram(), errors: {} as Record<string, number>, window, sentWindow: window };
      const rec: Recorder = { deliveries: 0, latency: new Histogram(), inWindow: 0, window, sentWindow: window };
      ackRecorders.set(args.phase, ack);
      recorders.set(args.phase, rec);
      let attempted = 0;
      let skipped = 0;
      let sent = 0;
      let turn = 0;
      const inFlight = () => sent - ack.acks - Object.values(ack.errors).reduce((a, b) => a + b, 0);
      const live = pairs.filter((p) => sockets.has(p.sender) && sockets.has(p.receiver));
      if (live.length === 0) throw new Error('no live pairs');
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          const t = Math.min(now(), start + args.durationMs);
          const due = Math.floor((args.rate * (t - start)) / 1000) - attempted;
          for (let i = 0; i < due; i++) {
            attempted += 1;
            if (inFlight() >= args.maxInFlight) {
              skipped += 1;
              continue;
            }
            const pair = live[turn++ % live.length]!;
            const socket = sockets.get(pair.sender);
            if (!socket) continue;
            sendText(socket, args.phase, pair);
            sent += 1;
          }
          if (t >= start + args.durationMs) {
            clearInterval(timer);
            resolve();
          }
        }, 2);
      });
      // Every ack first; then deliveries get a few seconds more to catch up (a missing one is reported, not waited for).
      const ackedMs = await waitFor(() => inFlight() <= 0, args.drainMs);
      const drainMs = ackedMs + (await waitFor(() => rec.deliveries >= ack.acks, 5_000));
      ackRecorders.delete(args.phase);
      recorders.delete(args.phase);
      return {
        attempted,
        skipped,
        sent,
        acks: ack.acks,
        deliveries: rec.deliveries,
        acksInWindow: ack.inWindow,
        deliveriesInWindow: rec.inWindow,
        windowSeconds: (window[1] - window[0]) / 1000,
        errors: ack.errors,
        ackLatency: ack.latency.toJSON(),
        deliveryLatency: rec.latency.toJSON(),
        unacked: inFlight(),
        drainMs,
      };
    },

    /** Sends one raw frame on a user's socket and returns the reply (group.create, group.invite, probes). */
    request({ user, frame }: { user: number; frame: Record<string, unknown> }) {
      return request(socketOf(user), frame);
    },

    'record.start'({ phase }: { phase: string }) {
      const all: [number, number] = [0, Number.POSITIVE_INFINITY];
      recorders.set(phase, { deliveries: 0, latency: new Histogram(), inWindow: 0, window: all, sentWindow: all, lastBySend: new Map() });
      ackRecorders.set(phase, { acks: 0, inWindow: 0, latency: new Histogram(), errors: {}, window: all, sentWindow: all });
    },

    'record.peek'({ phase }: { phase: string }) {
      return { deliveries: recorders.get(phase)?.deliveries ?? 0 };
    },

    'record.stop'({ phase }: { phase: string }) {
      const rec = recorders.get(phase);
      const ack = ackRecorders.get(phase);
      recorders.delete(phase);
      ackRecorders.delete(phase);
      return {
        deliveries: rec?.deliveries ?? 0,
        latency: (rec?.latency ?? new Histogram()).toJSON(),
        lastBySend: Object.fromEntries(rec?.lastBySend ?? []),
        acks: ack?.acks ?? 0,
        ackLatency: (ack?.latency ?? new Histogram()).toJSON(),
        errors: ack?.errors ?? {},
      };
    },

    /** One message into a conversation, timestamped now; its ack and deliveries go to the phase's recorders. */
    send({ user, conversationId, phase }: { user: number; conversationId: string; phase: string }) {
      sendText(socketOf(user), phase, { conversationId });
    },

    /** Closes these users' sockets (not counted as dropped). */
    disconnect({ users }: { users: number[] }) {
      for (const user of users) {
        const socket = sockets.get(user);
        sockets.delete(user);
        socket?.ws.terminate();
      }
    },

    /** How many of these users hold an open, authenticated socket here. */
    count({ users }: { users: number[] }) {
      return users.filter((u) => sockets.has(u)).length;
    },

    stats(): GeneratorStats {
      const cpu = process.cpuUsage();
      return { cpuUserUs: cpu.user, cpuSystemUs: cpu.system, rss: process.memoryUsage().rss, open: sockets.size, dropped };
    },

    async close() {
      for (const socket of sockets.values()) socket.ws.terminate();
      sockets.clear();
      setImmediate(() => process.exit(0));
    },
  },
  () => {
    for (const socket of sockets.values()) socket.ws.terminate();
    process.exit(0);
  },
);
