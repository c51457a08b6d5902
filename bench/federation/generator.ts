/**
 * A load generator for the federation benchmark: holds the sockets of both people of each pair — the
 * eng person on the eng node, the arts person on the arts node — from its own 127.0.0.x source address,
 * sends on the orchestrator's command in either direction, and measures acks at the sender and
 * deliveries at the other domain's receiver. Raw `ws` with the frames of docs/protocol.md. Message
 * texts carry their send time and a number, so the receiver (in this same process) measures
 * send→receive latency and notices a message received twice.
 * Run only by bench/federation/run.ts.
 */
import { Histogram, type HistogramData } from '../shared/histogram.ts';
import { serveIpc } from '../shared/ipc.ts';
import {
  ALWAYS,
  createGeneratorCore,
  newAckRecorder,
  now,
  pool,
  waitFor,
  type BaseSocket,
  type ConnectResult,
} from '../shared/generator-core.ts';

export type { ConnectResult, GeneratorStats } from '../shared/generator-core.ts';
export type Side = 'eng' | 'arts';
export type Direction = 'eng→arts' | 'arts→eng';
export type FedUser = { index: number; token: string; side: Side };
export type FedPair = { eng: number; arts: number; artsAddress: string };
export type OpenResult = { opened: number; failures: Record<string, number>; ms: number };
export type RunArgs = {
  phase: string;
  direction: Direction;
  rate: number;
  durationMs: number;
  warmupMs: number;
  maxInFlight: number;
  ackWaitMs: number;
};
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
export type DeliveryResult = {
  deliveries: number;
  inWindow: number;
  duplicates: number;
  latency: HistogramData;
  firstAt: number;
  lastAt: number;
};
export type BlastResult = {
  sent: number;
  acks: number;
  errors: Record<string, number>;
  ids: string[];
  ms: number;
  ackLatency: HistogramData;
  unacked: number;
};

type Socket = BaseSocket & { side: Side };
type Recorder = {
  receiverSide: Side;
  deliveries: number;
  inWindow: number;
  latency: Histogram;
  window: [number, number];
  seen: Set<number>;
  duplicates: number;
  firstAt: number;
  lastAt: number;
};

const urls: Record<Side, string> = { eng: '', arts: '' };
let messageCounter = 0;
const recorders = new Map<string, Recorder>();
let pairs: (FedPair & { conversationId: string })[] = [];
const core = createGeneratorCore<Socket>({
  clientMsgIdPrefix: 'f',
  onMessage: (socket, text) => onMessage(socket, text),
});
const { sockets, ackRecorders } = core;

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

/** A `send` whose text also carries a number, so the receiver notices a message that comes twice. */
function sendText(socket: Socket, phase: string, target: { conversationId: string } | { to: string }): string {
  return core.sendText(socket, phase, target, `|${++messageCounter}`);
}

function open(user: FedUser): Promise<string | null> {
  return core.open(urls[user.side], user.token, (ws) => ({ ws, user: user.index, side: user.side, ready: false }));
}

function newRecorder(phase: string, receiverSide: Side, window: [number, number]): void {
  recorders.set(phase, {
    receiverSide,
    deliveries: 0,
    inWindow: 0,
    latency: new Histogram(),
    window,
    seen: new Set(),
    duplicates: 0,
    firstAt: Number.POSITIVE_INFINITY,
    lastAt: 0,
  });
}

const senderOf = (pair: FedPair, direction: Direction) => sockets.get(direction === 'eng→arts' ? pair.eng : pair.arts);

serveIpc(
  {
    init(args: { engUrl: string; artsUrl: string; localAddress: string }) {
      urls.eng = args.engUrl;
      urls.arts = args.artsUrl;
      core.localAddress = args.localAddress;
    },

    connect({ users, concurrency }: { users: FedUser[]; concurrency: number }): Promise<ConnectResult> {
      return core.connect(users, concurrency, open);
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
      await pool(list, concurrency, async (pair) => {
        const socket = sockets.get(pair.eng);
        if (!socket) {
          failures.no_socket = (failures.no_socket ?? 0) + 1;
          return;
        }
        const frame = (id: string) =>
          `{"v":1,"id":"${id}","type":"send","clientMsgId":"${core.clientMsgId()}","to":"${pair.artsAddress}","text":"bench|setup|${now().toFixed(3)}|${++messageCounter}"}`;
        const reply: Record<string, unknown> = await core
          .request(socket, frame, 'setup send')
          .catch(() => ({ type: 'error', code: 'no_reply_60s' }));
        if (reply.type === 'ack') pairs.push({ ...pair, conversationId: String(reply.conversationId) });
        else failures[String(reply.code)] = (failures[String(reply.code)] ?? 0) + 1;
      });
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
      newRecorder(args.phase, args.direction === 'eng→arts' ? 'arts' : 'eng', window);
      const live = pairs.filter((p) => sockets.has(p.eng) && sockets.has(p.arts));
      if (live.length === 0) throw new Error('no live pairs');
      const phase = await core.sendPhase({ ...args, start, window }, live, (pair) => {
        const socket = senderOf(pair, args.direction);
        if (!socket) return false;
        sendText(socket, args.phase, pair);
        return true;
      });
      const { ack, attempted, skipped, sent, ackWaitMs } = phase;
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
        unacked: phase.unacked(),
        ackWaitMs,
      };
    },

    /**
     * Closed loop: `total` messages from the eng people as fast as the eng node takes them, at most
     * `maxInFlight` unacknowledged; returns the acknowledged message ids.
     */
    async blast({
      phase,
      total,
      maxInFlight,
      timeoutMs,
    }: {
      phase: string;
      total: number;
      maxInFlight: number;
      timeoutMs: number;
    }): Promise<BlastResult> {
      const started = now();
      const ack = { ...newAckRecorder(ALWAYS), ids: [] as string[] };
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
      return {
        sent,
        acks: ack.acks,
        errors: ack.errors,
        ids: ack.ids!,
        ms: now() - started,
        ackLatency: ack.latency.toJSON(),
        unacked: sent - done(),
      };
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

    ...core.commands,
  },
  core.onExit,
);
