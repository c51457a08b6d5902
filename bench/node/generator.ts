/**
 * A load generator: holds thousands of authenticated sockets to one domain node from its own 127.0.0.x
 * source address, sends protocol frames on the orchestrator's command and measures what comes back.
 * It speaks raw `ws` with the frames of docs/protocol.md (the SDK's reconnect, outbox and de-duplication
 * are too heavy for 5,000 sockets in one process). Message texts carry their send time, so receivers on
 * the same machine measure send→receive latency on the same clock.
 * Run only by bench/node/run.ts.
 */
import { Histogram, type HistogramData } from '../shared/histogram.ts';
import { serveIpc } from '../shared/ipc.ts';
import type { TrafficCount, TrafficResult } from './traffic.ts';
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
export type { TrafficResult } from './traffic.ts';
export type BenchUser = { index: number; token: string };
export type DmPair = { sender: number; receiver: number; receiverAddress: string };
export type DmRunArgs = {
  phase: string;
  rate: number;
  durationMs: number;
  warmupMs: number;
  maxInFlight: number;
  drainMs: number;
};
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

/** Closed loop: each of the first `pairs` pairs keeps `inFlight` messages unacknowledged, sending the next on each answer. */
export type ClosedLoopArgs = { phase: string; pairs: number; inFlight: number; durationMs: number; warmupMs: number };
export type ClosedLoopResult = Omit<DmRunResult, 'attempted' | 'skipped'>;

type Socket = BaseSocket;
type Recorder = {
  deliveries: number;
  latency: Histogram;
  inWindow: number;
  window: [number, number];
  /** Only messages sent inside the window count towards latency (the warm-up is left out). */
  sentWindow: [number, number];
  /** The latest delivery of each message (by its send time), when asked for: how long until the last member had it. */
  lastBySend?: Map<string, number>;
  /** When set, each receiving socket marks each message delivered as it arrives, and the answers and pushed receipts are counted. */
  receipts?: { answered: number; refused: number; pushed: number };
};

let url = '';
const recorders = new Map<string, Recorder>();
let pairs: (DmPair & { conversationId: string })[] = [];
let traffic: Map<number, TrafficCount> | null = null;

const core = createGeneratorCore<Socket>({
  clientMsgIdPrefix: 'b',
  onMessage: (socket, text) => onMessage(socket, text),
  onEvent: (_socket, text) => onEvent(text),
  onAnyFrame: (socket, text) => traffic && countTraffic(socket.user, text),
});

function trafficOf(counted: Map<number, TrafficCount>, users: number[]): TrafficResult {
  const out: TrafficResult = { users: 0, frames: 0, bytes: 0, maxFrames: 0, maxBytes: 0, byType: {} };
  for (const user of users) {
    if (!sockets.has(user)) continue;
    const c = counted.get(user) ?? { frames: 0, bytes: 0, byType: {} };
    out.users += 1;
    out.frames += c.frames;
    out.bytes += c.bytes;
    out.maxFrames = Math.max(out.maxFrames, c.frames);
    out.maxBytes = Math.max(out.maxBytes, c.bytes);
    for (const [type, t] of Object.entries(c.byType)) {
      const sum = (out.byType[type] ??= { frames: 0, bytes: 0 });
      sum.frames += t.frames;
      sum.bytes += t.bytes;
    }
  }
  return out;
}

function countTraffic(user: number, text: string) {
  const count = traffic!.get(user) ?? { frames: 0, bytes: 0, byType: {} };
  traffic!.set(user, count);
  // The frame's type is its second field: {"v":1,"type":"…"
  const type = text.startsWith('{"v":1,"type":"') ? text.slice(15, text.indexOf('"', 15)) : 'other';
  const bytes = Buffer.byteLength(text);
  count.frames += 1;
  count.bytes += bytes;
  const t = (count.byType[type] ??= { frames: 0, bytes: 0 });
  t.frames += 1;
  t.bytes += bytes;
}
const { sockets, ackRecorders } = core;

function onMessage(socket: Socket, text: string) {
  const at = text.indexOf('"text":"bench|');
  if (at < 0) return;
  const start = at + 14;
  const end = text.indexOf('"', start);
  const [phase, sentAtText] = text.slice(start, end).split('|');
  const rec = recorders.get(phase ?? '');
  if (!rec) return;
  if (rec.receipts) markDelivered(socket, text, rec.receipts);
  const t = now();
  const sentAt = Number(sentAtText);
  rec.deliveries += 1;
  if (t >= rec.window[0] && t < rec.window[1]) rec.inWindow += 1;
  if (sentAt >= rec.sentWindow[0] && sentAt < rec.sentWindow[1]) rec.latency.record(t - sentAt);
  if (rec.lastBySend) rec.lastBySend.set(sentAtText!, Math.max(rec.lastBySend.get(sentAtText!) ?? 0, t - sentAt));
}

/** As the portal does for each message that arrives: marks it delivered (the answer is counted, not awaited). */
function markDelivered(socket: Socket, text: string, counts: NonNullable<Recorder['receipts']>) {
  const { message } = JSON.parse(text) as { message: { conversationId: string; seq: number } };
  const id = core.nextId();
  core.pending.set(id, {
    sentAt: now(),
    phase: '',
    reply: (answer) => {
      if (answer.startsWith('{"v":1,"type":"receipt"')) counts.answered += 1;
      else counts.refused += 1;
    },
  });
  socket.ws.send(
    `{"v":1,"id":"${id}","type":"delivered","conversationId":"${message.conversationId}","seq":${message.seq}}`,
  );
}

/** Receipt frames the node pushes (`receipt`, or `receipts` listing several), counted for every phase that counts them. */
function onEvent(text: string) {
  if (!text.startsWith('{"v":1,"type":"receipt"') && !text.startsWith('{"v":1,"type":"receipts"')) return;
  for (const rec of recorders.values()) if (rec.receipts) rec.receipts.pushed += 1;
}

/**
 * As a chat user sends: each sender keeps `inFlight` messages unacknowledged and sends the next as soon
 * as one is answered, until the time is up; then waits for the last acks and deliveries.
 */
async function closedLoop(args: ClosedLoopArgs): Promise<ClosedLoopResult> {
  const live = pairs.filter((p) => sockets.has(p.sender) && sockets.has(p.receiver)).slice(0, args.pairs);
  if (live.length < args.pairs) throw new Error(`${live.length} live pairs here, ${args.pairs} asked for`);
  const start = now();
  const end = start + args.durationMs;
  const window: [number, number] = [start + args.warmupMs, end];
  const rec: Recorder = { deliveries: 0, latency: new Histogram(), inWindow: 0, window, sentWindow: window };
  const ack = newAckRecorder(window);
  recorders.set(args.phase, rec);
  ackRecorders.set(args.phase, ack);
  let sent = 0;
  let answered = 0;
  const sendNext = (pair: (typeof live)[number]) => {
    const socket = sockets.get(pair.sender);
    if (!socket || now() >= end) return;
    sent += 1;
    core.sendText(socket, args.phase, pair, '', () => {
      answered += 1;
      sendNext(pair);
    });
  };
  for (const pair of live) for (let i = 0; i < args.inFlight; i++) sendNext(pair);
  await new Promise((r) => setTimeout(r, args.durationMs));
  const ackWaitMs = await waitFor(() => answered >= sent, 30_000);
  const drainMs = ackWaitMs + (await waitFor(() => rec.deliveries >= ack.acks, 5_000));
  ackRecorders.delete(args.phase);
  recorders.delete(args.phase);
  return {
    sent,
    acks: ack.acks,
    deliveries: rec.deliveries,
    acksInWindow: ack.inWindow,
    deliveriesInWindow: rec.inWindow,
    windowSeconds: (window[1] - window[0]) / 1000,
    errors: ack.errors,
    ackLatency: ack.latency.toJSON(),
    deliveryLatency: rec.latency.toJSON(),
    unacked: sent - answered,
    drainMs,
  };
}

function request(socket: Socket, frame: Record<string, unknown>, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  return core.request(socket, (id) => JSON.stringify({ v: 1, id, ...frame }), String(frame.type), timeoutMs);
}

function open(user: BenchUser): Promise<string | null> {
  return core.open(url, user.token, (ws) => ({ ws, user: user.index, ready: false }));
}

function socketOf(user: number): Socket {
  const socket = sockets.get(user);
  if (!socket) throw new Error(`user ${user} has no open socket in this generator`);
  return socket;
}

serveIpc(
  {
    init(args: { url: string; localAddress: string }) {
      url = args.url;
      core.localAddress = args.localAddress;
    },

    connect({ users, concurrency }: { users: BenchUser[]; concurrency: number }): Promise<ConnectResult> {
      return core.connect(users, concurrency, open);
    },

    /** Opens each pair's direct conversation the way a client does: a first message sent `to` the peer. */
    async 'dm.setup'({ list, concurrency }: { list: DmPair[]; concurrency: number }) {
      const started = Date.now();
      const failures: Record<string, number> = {};
      pairs = [];
      await pool(list, concurrency, async (pair) => {
        const socket = sockets.get(pair.sender);
        if (!socket) {
          failures.no_socket = (failures.no_socket ?? 0) + 1;
          return;
        }
        const reply: Record<string, unknown> = await request(socket, {
          type: 'send',
          clientMsgId: core.clientMsgId(),
          to: pair.receiverAddress,
          text: 'hello',
        }).catch((e: Error) => ({ type: 'error', code: e.message }));
        if (reply.type === 'ack') pairs.push({ ...pair, conversationId: String(reply.conversationId) });
        else failures[String(reply.code)] = (failures[String(reply.code)] ?? 0) + 1;
      });
      return { opened: pairs.length, failures, ms: Date.now() - started };
    },

    /** Open-loop sends at a fixed rate over this generator's pairs, then waits for acks and deliveries. */
    async 'dm.run'(args: DmRunArgs): Promise<DmRunResult> {
      const start = now();
      const window: [number, number] = [start + args.warmupMs, start + args.durationMs];
      const rec: Recorder = { deliveries: 0, latency: new Histogram(), inWindow: 0, window, sentWindow: window };
      recorders.set(args.phase, rec);
      const live = pairs.filter((p) => sockets.has(p.sender) && sockets.has(p.receiver));
      if (live.length === 0) throw new Error('no live pairs');
      const phase = await core.sendPhase({ ...args, start, window, ackWaitMs: args.drainMs }, live, (pair) => {
        const socket = sockets.get(pair.sender);
        if (!socket) return false;
        core.sendText(socket, args.phase, pair);
        return true;
      });
      const { ack, attempted, skipped, sent } = phase;
      // Every ack first; then deliveries get a few seconds more to catch up (a missing one is reported, not waited for).
      const drainMs = phase.ackWaitMs + (await waitFor(() => rec.deliveries >= ack.acks, 5_000));
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
        unacked: phase.unacked(),
        drainMs,
      };
    },

    'dm.closed': closedLoop,

    /** Sends one raw frame on a user's socket and returns the reply (group.create, group.invite, probes). */
    request({ user, frame }: { user: number; frame: Record<string, unknown> }) {
      return request(socketOf(user), frame);
    },

    'record.start'({ phase, markDelivered }: { phase: string; markDelivered?: boolean }) {
      recorders.set(phase, {
        deliveries: 0,
        latency: new Histogram(),
        inWindow: 0,
        window: ALWAYS,
        sentWindow: ALWAYS,
        lastBySend: new Map(),
        ...(markDelivered ? { receipts: { answered: 0, refused: 0, pushed: 0 } } : {}),
      });
      ackRecorders.set(phase, newAckRecorder(ALWAYS));
    },

    'record.peek'({ phase }: { phase: string }) {
      const rec = recorders.get(phase);
      return {
        deliveries: rec?.deliveries ?? 0,
        answered: (rec?.receipts?.answered ?? 0) + (rec?.receipts?.refused ?? 0),
      };
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
        receipts: rec?.receipts ?? null,
      };
    },

    /** One message into a conversation, timestamped now; its ack and deliveries go to the phase's recorders. */
    send({ user, conversationId, phase }: { user: number; conversationId: string; phase: string }) {
      core.sendText(socketOf(user), phase, { conversationId });
    },

    /** Closes these users' sockets (not counted as dropped). */
    disconnect({ users }: { users: number[] }) {
      for (const user of users) {
        const socket = sockets.get(user);
        sockets.delete(user);
        socket?.ws.terminate();
      }
    },

    /** Counts what every socket of this generator receives from now on, frame by frame. */
    'traffic.start'() {
      traffic = new Map();
    },

    /** What each group of users' sockets received since `traffic.start`: in all, the most one of them got, and by frame type. */
    'traffic.stop'({ groups }: { groups: Record<string, number[]> }): Record<string, TrafficResult> {
      const counted = traffic ?? new Map<number, TrafficCount>();
      traffic = null;
      return Object.fromEntries(Object.entries(groups).map(([name, users]) => [name, trafficOf(counted, users)]));
    },

    /** Sends one raw frame and returns the reply with its size in bytes (for the pages of a member list). */
    async measured({ user, frame }: { user: number; frame: Record<string, unknown> }) {
      const reply = await request(socketOf(user), frame);
      return { reply, bytes: Buffer.byteLength(JSON.stringify(reply)) };
    },

    /** How many of these users hold an open, authenticated socket here. */
    count({ users }: { users: number[] }) {
      return users.filter((u) => sockets.has(u)).length;
    },

    ...core.commands,
  },
  core.onExit,
);
