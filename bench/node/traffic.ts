/** What each socket received while a generator counted (`traffic.start` … `traffic.stop`), by frame type. */
export type TrafficCount = { frames: number; bytes: number; byType: Record<string, { frames: number; bytes: number }> };

/** What some people's sockets received: in all, the most one of them got, and by frame type. */
export type TrafficResult = {
  users: number;
  frames: number;
  bytes: number;
  maxFrames: number;
  maxBytes: number;
  byType: Record<string, { frames: number; bytes: number }>;
};

/** Several generators' counts of the same people, as one. */
export function sumTraffic(parts: TrafficResult[]): TrafficResult {
  const out: TrafficResult = { users: 0, frames: 0, bytes: 0, maxFrames: 0, maxBytes: 0, byType: {} };
  for (const p of parts) {
    out.users += p.users;
    out.frames += p.frames;
    out.bytes += p.bytes;
    out.maxFrames = Math.max(out.maxFrames, p.maxFrames);
    out.maxBytes = Math.max(out.maxBytes, p.maxBytes);
    for (const [type, t] of Object.entries(p.byType)) {
      const sum = (out.byType[type] ??= { frames: 0, bytes: 0 });
      sum.frames += t.frames;
      sum.bytes += t.bytes;
    }
  }
  return out;
}
