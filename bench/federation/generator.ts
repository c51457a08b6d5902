/**
 * A load generator for the federation benchmark: holds the sockets of both people of each pair — the
 * eng person on the eng node, the arts person on the arts node — from its own 127.0.0.x source address,
 * sends on the orchestrator's command in either direction, and measures acks at the sender and
 * deliveries at the other domain's receiver. Raw `ws` with the frames of docs/protocol.md. Message
 * texts carry their send time and a number, so the receiver (in this same process) measures
 * send→receive latency and notices a message received twice.
 * Run only by bench/federation/run.ts.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { Histogram, type HistogramData } from '../node/histogram.ts';
import { serveIpc } from '../node/ipc.ts';

export type Side = 'eng' | 'arts';
export type Direction = 'eng→arts' | 'arts→eng';
export type FedUser = { index: number; token: string; side: Side };
export type FedPair = { eng: number; arts: number; artsAddress: string };
export type ConnectResult = { connected: number; failed: number; failures: Record<string, number>; ms: number };
export type OpenResult = { opened: number; failures: Record<string, number>; ms: number };
export type RunArgs = { phase: string; direction: Direction; rate: number; durationMs: number; warmupMs: number; maxInFlight: number; ackWaitMs: number };
export type RunResult = {
  attempted: number;
  skipped: number;
  sent: number;
  acks: number;
  acksInWindow: number;
  windowSeconds: number;
  /** When the window started and ended (epoch ms), for deliveries counted against the same window. */
  window: [number, number];
  errors: Record<string, number>;
  ackLatency: HistogramData;
  unacked: number;
  ackWaitMs: number;
};
export type DeliveryResult = { deliveries: number; inWindow: number; duplicates: number; latency: HistogramData; firstAt: number; lastAt: number };
export type BlastResult = { sent: number; acks: number; errors: Record<string, number>; ids: string[]; ms: number; ackLatency: HistogramData; unacked: number };
export type GeneratorStats = { cpuUserUs: number; cpuSystemUs: number; rss: number; open: number; dropped: Record<string, number> };

type Socket = { ws: WebSocket; user: number; side: Side; ready: boolean; onReady?: () => void };
type Pending = { sentAt: number; phase: string; reply?: (frame: string) => void };
type AckRecorder = { acks: number; inWindow: number; latency: Histogram; errors: Record<string, number>; window: [number, number]; ids?: string[] };
type Recorder = { receiverSide: Side; deliveries: number; inWindow: number; latency: Histogram; window: [number, number]; seen: Set<number>; duplicates: number; firstAt: number; lastAt: number };

const now = () => performance.timeOrigin + performance.now();
const runTag = randomBytes(3).toString('hex');
const ALWAYS: [number, number] = [0, Number.POSITIVE_INFINITY];

const urls: Record<Side, string> = { eng: '', arts: '' };
let localAddress = '127.0.0.1';
let frameCounter = 0;
let messageCounter = 0;
const sockets = new Map<number, Socket>();
const pending = new Map<string, Pending>();
const recorders = new Map<string, Recorder>();
const ackRecorders = new Map<string, AckRecorder>();
const dropped: Record<string, number> = {};
let pairs: (FedPair & { conversationId: string })[] = [];

const nextId = () => (++frameCounter).toString(36);
const clientMsgId = () => `f${runTag}${frameCounter.toString(36).padStart(8, '0')}`;

function onFrame(socket: Socket, text: string) {
  if (text.startsWith('{"v":1,"type":"message"')) return onMessage(socket, text);
  if (text.startsWith('{"v":1,"type":"ack","re":"')) {
    const re = text.slice(26, text.indexOf('"', 26));
    return onReply(re, text, null);
  }
  if (!socket.ready && text.startsWith('{"v":1,"type":"ready"')) {
    socket.ready = true;
    socket.onReady?.();
    return;
  }
  if (!text.includes('"re":"')) return;
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
  if (p.sentAt >= rec.window[0] && p.sentAt < rec.window[1]) rec.latency.record(t - p.sentAt);
  if (rec.ids) {
    const at = text.indexOf('"messageId":"');
    if (at >= 0) rec.ids.push(text.slice(at + 13, text.indexOf('"', at + 13)));
  }
}

function onMessage(socket: Socket, text: string) {
  const at = text.indexOf('"text":"bench|');
  if (at < 0) return;
  const start = at + 14;
  const [phase, sentAtText, numberText] = text.slice(start, text.indexOf('"', start)).split('|');
  const rec = recorders.get(phase ?? '');
  // A remote sender's own copy comes back to its socket through federation; only the other side counts.
  if (!rec || socket.side !== rec.receiverSide) return;
  const t = now();
  const n = Number(numberText);
  if (rec.seen.has(n)) {
    rec.duplicates += 1;
    return;
  }
  rec.seen.add(n);
  const sentAt = Number(sentAtText);
  rec.deliveries += 1;
  rec.firstAt = Math.min(rec.firstAt, t);
  rec.lastAt = Math.max(rec.lastAt, t);
  if (t >= rec.window[0] && t < rec.window[1]) rec.inWindow += 1;
  if (sentAt >= rec.window[0] && sentAt < rec.window[1]) rec.latency.record(t - sentAt);
}

function sendText(socket: Socket, phase: string, target: { conversationId: string } | { to: string }): void {
  const id = nextId();
  const t0 = now();
  const where = 'conversationId' in target ? `"conversationId":"${target.conversationId}"` : `"to":"${target.to}"`;
  pending.set(id, { sentAt: t0, phase });
  socket.ws.send(`{"v":1,"id":"${id}","type":"send","clientMsgId":"${clientMsgId()}",${where},"text":"bench|${phase}|${t0.toFixed(3)}|${++messageCounter}"}`);
}

function open(user: FedUser): Promise<string | null> {
  return new Promise((resolve) => {
    const ws = new WebSocket(urls[user.side], ['atrium.v1', `atrium.token.${user.token}`], {
      localAddress,
      perMessageDeflate: false,
      handshakeTimeout: 30_000,
      skipUTF8Validation: true,
    });
    const socket: Socket = { ws, user: user.index, side: user.side, ready: false };
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

function newRecorder(phase: string, receiverSide: Side, window: [number, number]): void {
  recorders.set(phase, { receiverSide, deliveries: 0, inWindow: 0, latency: new Histogram(), window, seen: new Set(), duplicates: 0, firstAt: Number.POSITIVE_INFINITY, lastAt: 0 });
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!condition() && Date.now() - started < timeoutMs) await new Promise((r) => setTimeout(r, 20));
  return Date.now() - started;
}

const senderOf = (pair: FedPair, direction: Direction) => sockets.get(direction === 'eng→arts' ? pair.eng : pair.arts);

serveIpc(
  {
    init(args: { engUrl: string; artsUrl: string; localAddress: string }) {
      urls.eng = args.engUrl;
      urls.arts = args.artsUrl;
      localAddress = args.localAddress;
    },

    async connect({ users, concurrency }: { users: FedUser[]; concurrency: number }): Promise<ConnectResult> {
      const started = Date.now();
      const failures: Record<string, number> = {};
      let connected = 0;
      let next = 0;
      async function worker() {
        while (next < users.length) {
          const failure = await open(users[next++]!);
          if (failure) failures[failure] = (failures[failure] ?? 0) + 1;
          else connected += 1;
        }
      }
      await Promise.all(Array.from({ length: Math.min(concurrency, users.length) }, worker));
      return { connected, failed: users.length - connected, failures, ms: Date.now() - started };
    },

    /**
     * Opens each pair's direct conversation the way a client does: the eng person's first message sent
     * `to` the arts person (phase "setup"; its deliveries at arts can be awaited with `peek`).
     */
    async 'pairs.open'({ list, concurrency }: { list: FedPair[]; concurrency: number }): Promise<OpenResult> {
      const started = Date.now();
      const failures: Record<string, number> = {};
      pairs = [];
      newRecorder('setup', 'arts', ALWAYS);
      let next = 0;
      async function worker() {
        while (next < list.length) {
          const pair = list[next++]!;
          const socket = sockets.get(pair.eng);
          if (!socket) {
            failures.no_socket = (failures.no_socket ?? 0) + 1;
            continue;
          }
          const reply = await new Promise<Record<string, unknown>>((resolve) => {
            const id = nextId();
            const timer = setTimeout(() => {
              pending.delete(id);
              resolve({ type: 'error', code: 'no_reply_60s' });
            }, 60_000);
            pending.set(id, {
              sentAt: now(),
              phase: '',
              reply: (text) => {
                clearTimeout(timer);
                resolve(JSON.parse(text) as Record<string, unknown>);
              },
            });
            socket.ws.send(`{"v":1,"id":"${id}","type":"send","clientMsgId":"${clientMsgId()}","to":"${pair.artsAddress}","text":"bench|setup|${now().toFixed(3)}|${++messageCounter}"}`);
          });
          if (reply.type === 'ack') pairs.push({ ...pair, conversationId: String(reply.conversationId) });
          else failures[String(reply.code)] = (failures[String(reply.code)] ?? 0) + 1;
        }
      }
      await Promise.all(Array.from({ length: Math.min(concurrency, list.length) }, worker));
      return { opened: pairs.length, failures, ms: Date.now() - started };
    },

    /**
     * Open-loop sends at a fixed rate over this generator's pairs in one direction, then waits for the
     * acks. Deliveries keep being recorded under the phase until `finish`, since a federation backlog
     * may deliver long after the last ack.
     */
    async run(args: RunArgs): Promise<RunResult> {
      const start = now();
      const window: [number, number] = [start + args.warmupMs, start + args.durationMs];
      const ack: AckRecorder = { acks: 0, inWindow: 0, latency: new Histogram(), errors: {}, window };
      ackRecorders.set(args.phase, ack);
      newRecorder(args.phase, args.direction === 'eng→arts' ? 'arts' : 'eng', window);
      let attempted = 0;
      let skipped = 0;
      let sent = 0;
      let turn = 0;
      const inFlight = () => sent - ack.acks - Object.values(ack.errors).reduce((a, b) => a + b, 0);
      const live = pairs.filter((p) => sockets.has(p.eng) && sockets.has(p.arts));
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
            const socket = senderOf(pair, args.direction);
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
      const ackWaitMs = await waitFor(() => inFlight() <= 0, args.ackWaitMs);
      ackRecorders.delete(args.phase);
      return {
        attempted,
        skipped,
        sent,
        acks: ack.acks,
        acksInWindow: ack.inWindow,
        windowSeconds: (window[1] - window[0]) / 1000,
        window,
        errors: ack.errors,
        ackLatency: ack.latency.toJSON(),
        unacked: inFlight(),
        ackWaitMs,
      };
    },

    /**
     * Closed loop: `total` messages from the eng people as fast as the eng node takes them, at most
     * `maxInFlight` unacknowledged; returns the acknowledged message ids.
     */
    async blast({ phase, total, maxInFlight, timeoutMs }: { phase: string; total: number; maxInFlight: number; timeoutMs: number }): Promise<BlastResult> {
      const started = now();
      const ack: AckRecorder = { acks: 0, inWindow: 0, latency: new Histogram(), errors: {}, window: ALWAYS, ids: [] };
      ackRecorders.set(phase, ack);
      const live = pairs.filter((p) => sockets.has(p.eng));
      if (live.length === 0) throw new Error('no live senders');
      let sent = 0;
      let turn = 0;
      const done = () => ack.acks + Object.values(ack.errors).reduce((a, b) => a + b, 0);
      while (sent < total && now() - started < timeoutMs) {
        const room = Math.min(maxInFlight - (sent - done()), total - sent);
        for (let i = 0; i < room; i++) {
          const pair = live[turn++ % live.length]!;
          const socket = sockets.get(pair.eng);
          if (!socket) continue;
          sendText(socket, phase, pair);
          sent += 1;
        }
        await new Promise((r) => setTimeout(r, 2));
      }
      await waitFor(() => done() >= sent, Math.max(0, timeoutMs - (now() - started)));
      ackRecorders.delete(phase);
      return { sent, acks: ack.acks, errors: ack.errors, ids: ack.ids!, ms: now() - started, ackLatency: ack.latency.toJSON(), unacked: sent - done() };
    },

    peek({ phase }: { phase: string }) {
      return { deliveries: recorders.get(phase)?.deliveries ?? 0 };
    },

    finish({ phase }: { phase: string }): DeliveryResult {
      const rec = recorders.get(phase);
      recorders.delete(phase);
      return {
        deliveries: rec?.deliveries ?? 0,
        inWindow: rec?.inWindow ?? 0,
        duplicates: rec?.duplicates ?? 0,
        latency: (rec?.latency ?? new Histogram()).toJSON(),
        firstAt: rec && Number.isFinite(rec.firstAt) ? rec.firstAt : 0,
        lastAt: rec?.lastAt ?? 0,
      };
    },

    /** Closes every socket of one side (not counted as dropped), before that side's node is stopped. */
    disconnect({ side }: { side: Side }) {
      for (const [user, socket] of sockets) {
        if (socket.side !== side) continue;
        sockets.delete(user);
        socket.ws.terminate();
      }
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
