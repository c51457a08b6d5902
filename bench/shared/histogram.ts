/**
 * A latency histogram with logarithmic buckets (each about 2% wide), so any number of samples costs a
 * few hundred counters, merges across processes and crosses IPC as a plain object. Values are
 * milliseconds; percentiles are accurate to about 1%.
 */
const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
/** Values below this (ms) share the first bucket; sub-10 µs differences do not matter here. */
const FLOOR_MS = 0.01;

export type HistogramData = { counts: Record<string, number>; count: number; max: number; min: number; sum: number };

export class Histogram {
  counts = new Map<number, number>();
  count = 0;
  max = 0;
  min = Number.POSITIVE_INFINITY;
  sum = 0;

  record(ms: number): void {
    const value = Math.max(ms, FLOOR_MS);
    const bucket = Math.floor(Math.log(value / FLOOR_MS) / LOG_GROWTH);
    this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + 1);
    this.count += 1;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
    if (ms < this.min) this.min = ms;
  }

  merge(other: HistogramData): this {
    for (const [bucket, n] of Object.entries(other.counts)) {
      const b = Number(bucket);
      this.counts.set(b, (this.counts.get(b) ?? 0) + n);
    }
    this.count += other.count;
    this.sum += other.sum;
    if (other.count > 0) {
      this.max = Math.max(this.max, other.max);
      this.min = Math.min(this.min, other.min);
    }
    return this;
  }

  /** The value below which a fraction `q` (0–1) of the samples lie; the bucket's midpoint. */
  percentile(q: number): number {
    if (this.count === 0) return Number.NaN;
    if (q >= 1) return this.max;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (const bucket of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(bucket)!;
      if (seen >= rank) return Math.min(this.max, FLOOR_MS * GROWTH ** (bucket + 0.5));
    }
    return this.max;
  }

  get mean(): number {
    return this.count === 0 ? Number.NaN : this.sum / this.count;
  }

  toJSON(): HistogramData {
    return {
      counts: Object.fromEntries(this.counts),
      count: this.count,
      max: this.max,
      min: this.count ? this.min : 0,
      sum: this.sum,
    };
  }

  static from(data: HistogramData[]): Histogram {
    const h = new Histogram();
    for (const d of data) h.merge(d);
    return h;
  }
}
