import { Histogram, type HistogramData } from './histogram.ts';

export type Percentiles = { count: number; p50: number; p95: number; p99: number; max: number; mean: number };

/** The percentiles both benchmarks report, from one histogram or the merged histograms of several generators. */
export function percentiles(data: HistogramData[] | Histogram): Percentiles {
  const h = data instanceof Histogram ? data : Histogram.from(data);
  return {
    count: h.count,
    p50: h.percentile(0.5),
    p95: h.percentile(0.95),
    p99: h.percentile(0.99),
    max: h.max,
    mean: h.mean,
  };
}
