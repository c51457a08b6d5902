/**
 * The node's own part of send latency, read from its /metrics: the `atrium_im_send_ack_seconds`
 * histogram (a send frame's arrival at the node to its ack, after the commit). Measured in the node, it
 * leaves out the generators' own delays in sending, reading and being scheduled on the shared cores.
 */
export type AckBuckets = Map<number, number>;
export type NodeAckFigures = { count: number; within50ms: number; p99AtMostMs: number | null };

export async function readAckBuckets(nodeUrl: string): Promise<AckBuckets> {
  const text = await (await fetch(`${nodeUrl}/metrics`)).text();
  const buckets: AckBuckets = new Map();
  for (const match of text.matchAll(/^atrium_im_send_ack_seconds_bucket\{le="([^"]+)"[^}]*\} (\d+)$/gm)) {
    buckets.set(match[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(match[1]), Number(match[2]));
  }
  return buckets;
}

/** The acks between two readings: how many, how many within 50 ms, and the bucket bound of their p99. */
export function ackFiguresBetween(a: AckBuckets, b: AckBuckets): NodeAckFigures | null {
  const bounds = [...b.keys()].sort((x, y) => x - y);
  const delta = (le: number) => (b.get(le) ?? 0) - (a.get(le) ?? 0);
  const count = delta(Number.POSITIVE_INFINITY);
  if (count <= 0) return null;
  const p99 = bounds.find((le) => delta(le) >= count * 0.99) ?? Number.POSITIVE_INFINITY;
  return { count, within50ms: delta(0.05), p99AtMostMs: Number.isFinite(p99) ? p99 * 1000 : null };
}

export function describeNodeAck(f: NodeAckFigures | null): string {
  if (!f) return 'no acks counted';
  return `${((100 * f.within50ms) / f.count).toFixed(1)}% within 50 ms, p99 ≤ ${f.p99AtMostMs === null ? '> 5 s' : `${f.p99AtMostMs} ms`}`;
}
