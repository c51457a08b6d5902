/**
 * The part of a load generator both benchmarks share (bench/node/generator.ts and
 * bench/federation/generator.ts): authenticated raw `ws` sockets from one 127.0.0.x source address,
 * frame ids and client message ids, the bookkeeping of pending frames and their acks, and the
 * open-loop sender with its phase (rate, window, acks awaited). Each generator keeps what it does with received messages and its own commands.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { Histogram } from './histogram.ts';

export type ConnectResult = { connected: number; failed: number; failures: Record<string, number>; ms: number };
export type GeneratorStats = {
  cpuUserUs: number;
  cpuSystemUs: number;
  rss: number;
  open: number;
  dropped: Record<string, number>;
};

export type BaseSocket = { ws: WebSocket; user: number; ready: boolean; onReady?: () => void };
/** `then`: called once the answer (ack or error) has been recorded, as a closed-loop sender sends its next. */
type Pending = { sentAt: number; phase: string; reply?: (frame: string) => void; then?: () => void };
/** Acks of one phase: counted when they arrive inside `window`, latency for frames sent inside it. */
export type AckRecorder = {
  acks: number;
  inWindow: number;
  latency: Histogram;
  errors: Record<string, number>;
  window: [number, number];
  ids?: string[];
};

export const now = () => performance.timeOrigin + performance.now();
export const ALWAYS: [number, number] = [0, Number.POSITIVE_INFINITY];
export const newAckRecorder = (window: [number, number]): AckRecorder => ({
  acks: 0,
  inWindow: 0,
  latency: new Histogram(),
  errors: {},
  window,
});

export async function waitFor(condition: () => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!condition() && Date.now() - started < timeoutMs) await new Promise((r) => setTimeout(r, 20));
  return Date.now() - started;
}

/** Runs `work` over `list` with at most `concurrency` at once. */
export async function pool<T>(list: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  async function worker() {
    while (next < list.length) await work(list[next++]!);
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, list.length) }, worker));
}

/**
 * Open loop: `rate` sends a second for `durationMs` from `start`, each skipped while `inFlight()` is at
 * `maxInFlight` (given the count sent so far); `send()` returns whether it sent.
 */
export async function openLoop(args: {
  start: number;
  rate: number;
  durationMs: number;
  maxInFlight: number;
  inFlight: (sent: number) => number;
  send: () => boolean;
}) {
  let attempted = 0;
  let skipped = 0;
  let sent = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const t = Math.min(now(), args.start + args.durationMs);
      const due = Math.floor((args.rate * (t - args.start)) / 1000) - attempted;
      for (let i = 0; i < due; i++) {
        attempted += 1;
        if (args.inFlight(sent) >= args.maxInFlight) {
          skipped += 1;
          continue;
        }
        if (args.send()) sent += 1;
      }
      if (t >= args.start + args.durationMs) {
        clearInterval(timer);
        resolve();
      }
    }, 2);
  });
  return { attempted, skipped, sent };
}

export function createGeneratorCore<S extends BaseSocket>(options: {
  clientMsgIdPrefix: string;
  onMessage: (socket: S, text: string) => void;
  onEvent?: (socket: S, text: string) => void;
  /** Sees every frame a socket receives, before anything else does (for counting what reaches a socket). */
  onAnyFrame?: (socket: S, text: string) => void;
}) {
  const runTag = randomBytes(3).toString('hex');
  let frameCounter = 0;
  const sockets = new Map<number, S>();
  const pending = new Map<string, Pending>();
  const ackRecorders = new Map<string, AckRecorder>();
  const dropped: Record<string, number> = {};
  const core = { localAddress: '127.0.0.1', sockets, pending, ackRecorders, dropped };

  const nextId = () => (++frameCounter).toString(36);
  const clientMsgId = () => `${options.clientMsgIdPrefix}${runTag}${frameCounter.toString(36).padStart(8, '0')}`;

  function onFrame(socket: S, text: string) {
    options.onAnyFrame?.(socket, text);
    if (text.startsWith('{"v":1,"type":"message"')) return options.onMessage(socket, text);
    if (text.startsWith('{"v":1,"type":"ack","re":"')) {
      const re = text.slice(26, text.indexOf('"', 26));
      return onReply(re, text, null);
    }
    if (!socket.ready && text.startsWith('{"v":1,"type":"ready"')) {
      socket.ready = true;
      socket.onReady?.();
      return;
    }
    if (!text.includes('"re":"')) return options.onEvent?.(socket, text);
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
    if (rec) recordAnswer(rec, p, text, errorCode);
    p.then?.();
  }

  function recordAnswer(rec: AckRecorder, p: Pending, text: string, errorCode: string | null) {
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

  /**
   * A `send` frame whose ack goes to the phase's ack recorder; `suffix` is appended to the text after the
   * send time; `then` runs once its answer has been recorded.
   */
  function sendText(
    socket: S,
    phase: string,
    target: { conversationId: string } | { to: string },
    suffix = '',
    then?: () => void,
  ): string {
    const id = nextId();
    const t0 = now();
    const where = 'conversationId' in target ? `"conversationId":"${target.conversationId}"` : `"to":"${target.to}"`;
    pending.set(id, then ? { sentAt: t0, phase, then } : { sentAt: t0, phase });
    socket.ws.send(
      `{"v":1,"id":"${id}","type":"send","clientMsgId":"${clientMsgId()}",${where},"text":"bench|${phase}|${t0.toFixed(3)}${suffix}"}`,
    );
    return id;
  }

  /** Sends the frame `build(id)` and resolves with its reply; rejects when none comes within the time. */
  function request(
    socket: S,
    build: (id: string) => string,
    what: string,
    timeoutMs = 60_000,
  ): Promise<Record<string, unknown>> {
    const id = nextId();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`no reply to ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, {
        sentAt: now(),
        phase: '',
        reply: (text) => {
          clearTimeout(timer);
          resolve(JSON.parse(text) as Record<string, unknown>);
        },
      });
      socket.ws.send(build(id));
    });
  }

  /** Opens and authenticates one socket; resolves with null or the reason it failed. */
  function open(url: string, token: string, make: (ws: WebSocket) => S): Promise<string | null> {
    return new Promise((resolve) => {
      const ws = new WebSocket(url, ['atrium.v1', `atrium.token.${token}`], {
        localAddress: core.localAddress,
        perMessageDeflate: false,
        handshakeTimeout: 30_000,
        skipUTF8Validation: true,
      });
      const socket = make(ws);
      const timer = setTimeout(() => finish('ready_timeout'), 30_000);
      let settled = false;
      function finish(failure: string | null) {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (failure) ws.terminate();
        else sockets.set(socket.user, socket);
        resolve(failure);
      }
      socket.onReady = () => finish(null);
      ws.on('message', (data: Buffer) => onFrame(socket, data.toString()));
      ws.on('close', (code) => {
        if (!settled) return finish(`closed_${code}`);
        if (sockets.get(socket.user) === socket) {
          sockets.delete(socket.user);
          dropped[String(code)] = (dropped[String(code)] ?? 0) + 1;
        }
      });
      ws.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? 'error'));
    });
  }

  /** Opens these users' sockets, `concurrency` at a time. */
  async function connect<U>(
    users: U[],
    concurrency: number,
    openOne: (user: U) => Promise<string | null>,
  ): Promise<ConnectResult> {
    const started = Date.now();
    const failures: Record<string, number> = {};
    let connected = 0;
    await pool(users, concurrency, async (user) => {
      const failure = await openOne(user);
      if (failure) failures[failure] = (failures[failure] ?? 0) + 1;
      else connected += 1;
    });
    return { connected, failed: users.length - connected, failures, ms: Date.now() - started };
  }

  /**
   * One open-loop phase: `rate` sends a second from `start` for `durationMs`, round robin over `targets`,
   * with acks recorded under `phase` (counted inside `window`), then up to `ackWaitMs` for the last acks.
   * The ack recorder stays registered; the caller removes it once it stops counting.
   */
  async function sendPhase<T>(
    args: {
      phase: string;
      start: number;
      window: [number, number];
      rate: number;
      durationMs: number;
      maxInFlight: number;
      ackWaitMs: number;
    },
    targets: T[],
    send: (target: T) => boolean,
  ) {
    const ack = newAckRecorder(args.window);
    ackRecorders.set(args.phase, ack);
    let turn = 0;
    const inFlight = (sent: number) => sent - ack.acks - Object.values(ack.errors).reduce((a, b) => a + b, 0);
    const { attempted, skipped, sent } = await openLoop({
      start: args.start,
      rate: args.rate,
      durationMs: args.durationMs,
      maxInFlight: args.maxInFlight,
      inFlight,
      send: () => send(targets[turn++ % targets.length]!),
    });
    const ackWaitMs = await waitFor(() => inFlight(sent) <= 0, args.ackWaitMs);
    return { ack, attempted, skipped, sent, ackWaitMs, unacked: () => inFlight(sent) };
  }

  function stats(): GeneratorStats {
    const cpu = process.cpuUsage();
    return {
      cpuUserUs: cpu.user,
      cpuSystemUs: cpu.system,
      rss: process.memoryUsage().rss,
      open: sockets.size,
      dropped,
    };
  }

  function terminateAll() {
    for (const socket of sockets.values()) socket.ws.terminate();
    sockets.clear();
  }

  /** The IPC commands and exit handler every generator has. */
  const commands = {
    stats,
    async close() {
      terminateAll();
      setImmediate(() => process.exit(0));
    },
  };
  const onExit = () => {
    terminateAll();
    process.exit(0);
  };

  return Object.assign(core, { nextId, clientMsgId, sendText, request, open, connect, sendPhase, commands, onExit });
}
